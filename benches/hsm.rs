//! HSM signing throughput through SoftHSM2: our pooled `Pkcs11Key` with 1 and 2 threads, and
//! raw cryptoki calls on one session, for the overhead of our layer.
//!
//! `cargo bench --bench hsm` (needs softhsm2 and opensc; see crates/test-support/src/softhsm.rs).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use psd2_test_support::softhsm;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use psd2_eidas::{Secret, Secrets, SignatureScheme, Signer, pkcs11};

const MSG: &[u8] = b"POST /payments/sepa-credit-transfers digest: SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

fn parallel(key: &Arc<dyn Signer>, scheme: SignatureScheme, threads: u64, iters: u64) -> Duration {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let key = key.clone();
            std::thread::spawn(move || {
                for _ in 0..iters / threads {
                    key.sign(scheme, MSG).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let Some(h) = softhsm::hsm() else { return };
    let secrets = Secrets::none().with_pin(Secret::new(softhsm::PIN));
    for (label, scheme, mech) in [
        ("qseal-rsa", SignatureScheme::RsaPkcs1Sha256, Mechanism::Sha256RsaPkcs),
        ("qwac-ec", SignatureScheme::EcdsaP256Sha256, Mechanism::Ecdsa),
    ] {
        let key: Arc<dyn Signer> = Arc::new(pkcs11::open_key(&h.uri(label), &secrets).unwrap());
        let mut g = c.benchmark_group(format!("hsm-{label}"));
        g.throughput(Throughput::Elements(1));
        g.sample_size(20);
        g.bench_function("psd2-eidas, 1 thread", |b| b.iter_custom(|n| parallel(&key, scheme, 1, n)));
        g.bench_function("psd2-eidas, 2 threads", |b| b.iter_custom(|n| parallel(&key, scheme, 2, n.max(2))));

        // Raw cryptoki on one session: the floor our layer is compared with. ECDSA hashes on the
        // host in both (SoftHSM has no CKM_ECDSA_SHA256).
        let ctx = Pkcs11::new(&h.module).unwrap();
        let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
        let slot = ctx
            .get_slots_with_initialized_token()
            .unwrap()
            .into_iter()
            .find(|s| ctx.get_token_info(*s).unwrap().label() == "psd2-test")
            .unwrap();
        let session = ctx.open_ro_session(slot).unwrap();
        let _ = session.login(UserType::User, Some(&AuthPin::from(softhsm::PIN)));
        let handle = session
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Label(label.as_bytes().to_vec())])
            .unwrap()[0];
        g.bench_function("raw cryptoki, 1 thread", |b| {
            b.iter(|| {
                let input = if matches!(mech, Mechanism::Ecdsa) {
                    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, MSG).as_ref().to_vec()
                } else {
                    MSG.to_vec()
                };
                session.sign(&mech, handle, &input).unwrap()
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
