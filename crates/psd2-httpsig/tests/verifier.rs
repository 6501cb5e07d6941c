//! `Verifier` (the certificate read once) answers exactly as `verify` with the certificate
//! given, request after request: the same results and the same refusals, the certificate's
//! validity window checked at each request's clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use psd2_eidas::Certificate;
use psd2_httpsig::profile::Profile;
use psd2_httpsig::{SignOptions, Verifier, VerifyOptions, sign, verify};
use psd2_test_support::certs::{certificate, path};
use time::Duration;

fn key(set: &str) -> psd2_eidas::FileKey {
    psd2_eidas::load::load_key(path(set, "qseal.key").as_ref(), None).unwrap()
}

/// `verify` with the certificate and the `Verifier`'s verify, as text: equal.
fn both(v: &Verifier, profile: &Profile, req: &http::Request<Vec<u8>>, opts: &VerifyOptions) -> String {
    let given = VerifyOptions { certificate: Some(v.certificate().clone()), ..opts.clone() };
    let a = verify(profile, req, &given).map(|ok| ok.signing_string).map_err(|e| e.to_string());
    let b = v.verify(profile, req, opts).map(|ok| ok.signing_string).map_err(|e| e.to_string());
    assert_eq!(a, b, "{}", profile.name);
    match a {
        Ok(s) => format!("ok {s}"),
        Err(e) => e,
    }
}

#[test]
fn a_verifier_answers_as_verify_does() {
    let cert: Certificate = certificate("rsa", "qseal.pem");
    let v = Verifier::new(cert.clone());
    assert_eq!(v.psd2_roles(), cert.psd2_roles().unwrap().as_slice());
    let other = certificate("ec", "qseal.pem");
    for name in ["berlin-group", "belfius-pis", "rfc9421", "stet"] {
        let profile = Profile::by_name(name).unwrap();
        let mut req = http::Request::post("https://api.bank.example/v1/payments/sepa-credit-transfers")
            .header("Content-Type", "application/json")
            .body(br#"{"instructedAmount":{"currency":"EUR","amount":"1.00"}}"#.to_vec())
            .unwrap();
        let stet_key_id = format!("https://tpp.example/qseal_{}", cert.fingerprint_sha256());
        let opts = SignOptions { key_id: (name == "stet").then_some(stet_key_id), ..SignOptions::default() };
        sign(profile, &mut req, &key("rsa"), Some(&cert), &opts).unwrap();
        let now = VerifyOptions::default();
        assert!(both(&v, profile, &req, &now).starts_with("ok "));
        // The validity window, at each request's clock.
        let later =
            VerifyOptions { now: cert.not_after() + Duration::days(1), skew: Duration::days(10_000), ..now.clone() };
        assert!(both(&v, profile, &req, &later).contains("expired"), "{name}");
        assert!(both(&v, profile, &req, &now).starts_with("ok "));
        // Another body.
        let mut tampered = req.clone();
        *tampered.body_mut() = b"{}".to_vec();
        assert!(!both(&v, profile, &tampered, &now).starts_with("ok "));
        // Another certificate in the header.
        if req.headers().contains_key("tpp-signature-certificate") {
            let mut swapped = req.clone();
            let value = psd2_httpsig::certificate_header_value(&other, profile.certificate_header.unwrap());
            swapped.headers_mut().insert("tpp-signature-certificate", value.parse().unwrap());
            let e = both(&v, profile, &swapped, &now);
            assert!(e.contains("TPP-Signature-Certificate"), "{name}: {e}");
        }
    }
}
