//! No parser of outside input panics: thousands of truncated, bit-flipped and spliced variants of
//! real certificates, keys, PKCS#12 files, qcStatements and PKCS#11 URIs go through every entry
//! point, which must answer Ok or Err. Deterministic (fixed seed), so a failure reproduces.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use psd2_eidas::inspect::Report;
use psd2_eidas::name::Name;
use psd2_eidas::qc::QcStatements;
use psd2_eidas::{Certificate, PublicKey, Secret, load};

/// xorshift64*: a small fixed-seed generator, enough to spread mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    match rng.below(5) {
        0 => v.truncate(rng.below(v.len())),
        1 => {
            for _ in 0..=rng.below(4) {
                let i = rng.below(v.len());
                if let Some(b) = v.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
        }
        2 => {
            // A length byte set to something large.
            let i = rng.below(v.len());
            if let Some(b) = v.get_mut(i) {
                *b = [0x80, 0x81, 0x82, 0x84, 0xff, 0x00][rng.below(6)];
            }
        }
        3 => {
            let at = rng.below(v.len());
            let from = rng.below(input.len());
            let len = rng.below(64);
            let piece: Vec<u8> = input[from..(from + len).min(input.len())].to_vec();
            v.splice(at..at, piece);
        }
        _ => {
            let at = rng.below(v.len());
            v.drain(at..(at + rng.below(16)).min(v.len()));
        }
    }
    v
}

fn corpus() -> Vec<Vec<u8>> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut files = vec![format!("{root}/tests/vectors/psd2-certs/ing-sandbox-example-qsealc.pem")];
    for kind in ["rsa", "ec"] {
        for f in ["qwac.pem", "qseal.pem", "qseal.key", "qwac.p12", "ca.pem", "qwac-ca.cer"] {
            files.push(format!("{root}/test-certs/{kind}/{f}"));
        }
    }
    let mut out: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap_or_else(|e| panic!("{f}: {e}"))).collect();
    // The DER inside the PEM files too, so mutations hit the ASN.1 and not only the Base64.
    let ders: Vec<Vec<u8>> =
        out.iter().flat_map(|d| psd2_eidas::pem::parse(d).unwrap_or_default()).map(|b| b.der.to_vec()).collect();
    out.extend(ders);
    out
}

#[test]
fn loaders_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_9876);
    let pw = Secret::new("test-only-password");
    for input in corpus() {
        for _ in 0..400 {
            let m = mutate(&mut rng, &input);
            let _ = load::load_bytes(&m, "fuzz", None);
            let _ = load::load_bytes(&m, "fuzz", Some(&pw));
            let _ = psd2_eidas::pem::parse(&m);
            if let Ok(c) = Certificate::from_der(&m) {
                let _ = Report::new(&c, time::OffsetDateTime::now_utc());
            }
            let _ = PublicKey::from_spki(&m);
            let _ = Name::from_der(&m);
            let _ = QcStatements::from_der(&m);
        }
    }
}

#[test]
fn qc_statements_never_panic() {
    let mut rng = Rng(42);
    for input in corpus() {
        let Ok(cert) = Certificate::from_der(&input) else { continue };
        let x = cert.parsed().unwrap();
        let Some(ext) = x.extensions().iter().find(|e| e.oid.to_id_string() == psd2_eidas::qc::OID_QC_STATEMENTS)
        else {
            continue;
        };
        for _ in 0..3000 {
            let _ = QcStatements::from_der(&mutate(&mut rng, ext.value));
        }
    }
}

#[cfg(feature = "pkcs11")]
#[test]
fn pkcs11_uris_never_panic() {
    let seeds = [
        "pkcs11:token=psd2-test;object=qseal;id=%01%02;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
        "pkcs11:serial=abc;object=%e2%82%ac",
    ];
    let mut rng = Rng(7);
    for s in seeds {
        for _ in 0..3000 {
            let m = mutate(&mut rng, s.as_bytes());
            let text = String::from_utf8_lossy(&m);
            let _ = psd2_eidas::pkcs11::Pkcs11Uri::parse(&text);
            let _ = psd2_eidas::redact_pin(&text);
        }
    }
}
