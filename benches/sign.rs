//! Signing throughput of file keys (aws-lc-rs) and of a whole Berlin Group seal, for comparison
//! with `openssl speed` in the same run: `benches/compare-openssl.sh`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use psd2_eidas::{FileKey, Identity, Secrets, SignatureScheme, Signer};
use psd2_httpsig::profile::Profile;
use psd2_httpsig::{SignOptions, VerifyOptions, sign, verify};

fn bench(c: &mut Criterion) {
    let msg = [0x5au8; 32];
    let mut g = c.benchmark_group("file-key");
    g.throughput(Throughput::Elements(1));
    for (name, key, scheme) in [
        ("rsa2048 pkcs1-sha256 sign", FileKey::generate_rsa(2048).unwrap(), SignatureScheme::RsaPkcs1Sha256),
        ("ecdsa p256 sign", FileKey::generate_p256().unwrap(), SignatureScheme::EcdsaP256Sha256),
    ] {
        g.bench_function(name, |b| b.iter(|| key.sign(scheme, &msg).unwrap()));
        let sig = key.sign(scheme, &msg).unwrap();
        let verify_name = name.replace("sign", "verify");
        g.bench_function(verify_name, |b| b.iter(|| key.public_key().verify(scheme, &msg, &sig).unwrap()));
    }
    g.finish();

    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/test-certs/rsa");
    let qseal = Identity::load(
        &format!("{dir}/qseal.key").parse().unwrap(),
        Some(&format!("{dir}/qseal.pem").parse().unwrap()),
        &Secrets::none(),
    )
    .unwrap();
    let profile = Profile::by_name("berlin-group").unwrap();
    let body = br#"{"instructedAmount":{"currency":"EUR","amount":"12.34"},"creditorAccount":{"iban":"BE68539007547034"},"creditorName":"Example Shop"}"#;
    let request = || {
        http::Request::post("https://api.bank.example/v1/payments/sepa-credit-transfers")
            .header("Content-Type", "application/json")
            .body(body.to_vec())
            .unwrap()
    };
    let mut g = c.benchmark_group("berlin-group");
    g.throughput(Throughput::Elements(1));
    g.bench_function("seal a PIS request (rsa2048)", |b| {
        b.iter(|| {
            let mut req = request();
            sign(profile, &mut req, qseal.signer().as_ref(), Some(qseal.certificate()), &SignOptions::default())
                .unwrap()
        })
    });
    let mut sealed = request();
    sign(profile, &mut sealed, qseal.signer().as_ref(), Some(qseal.certificate()), &SignOptions::default()).unwrap();
    g.bench_function("verify a sealed PIS request (rsa2048)", |b| {
        b.iter(|| verify(profile, &sealed, &VerifyOptions::default()).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
