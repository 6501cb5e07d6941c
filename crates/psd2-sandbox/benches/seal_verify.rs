//! What verifying a sealed PIS initiation costs the sandbox, next to a bare RSA-2048 signature
//! verification with aws-lc-rs, in the same run (`cargo bench -p psd2-sandbox --bench
//! seal_verify`):
//!
//! - `bare/…`: RSASSA-PKCS1-v1_5 SHA-256 over the same signing input, the key parsed on every
//!   call (`UnparsedPublicKey`, as `PublicKey::verify` does) and parsed once (`ParsedPublicKey`);
//! - `sandbox/check`: [`PisSealCheck::check`], the code the sandbox runs on every PIS initiation
//!   (the registered QSealC read once at start): role, `Signature` split and Base64, payload
//!   against the body, RS256, the validity window at the clock;
//! - `uncached/…`: `psd2_httpsig::verify` with the certificate (extensions and key read on every
//!   call), the sandbox's check before the cache (that, the roles read, the request rebuilt) and
//!   the pieces that cost: reading the extensions, the
//!   qcStatements, parsing the certificate.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use psd2_eidas::{Certificate, Identity, Secrets};
use psd2_httpsig::profile::BELFIUS_PIS;
use psd2_httpsig::{SignOptions, VerifyOptions, sign, verify};
use psd2_sandbox::PisSealCheck;

fn bench(c: &mut Criterion) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-certs/rsa");
    let qseal = Identity::load(
        &format!("{dir}/qseal.key").parse().unwrap(),
        Some(&format!("{dir}/qseal.pem").parse().unwrap()),
        &Secrets::none(),
    )
    .unwrap();
    let cert = qseal.certificate().clone();
    let body = br#"{"instructed_amount":{"currency":"EUR","amount":"12.34"},"creditor_account":{"iban":"BE71096123456769"},"creditor_name":"Payee","endtoend_identification":"E2E-1"}"#;
    // The headers a PIS initiation carries (PKCE), as the sandbox receives them.
    let mut req = http::Request::post("https://127.0.0.1:8443/payments/sepa-credit-transfers")
        .header("Client-ID", "psd2-sign-demo")
        .header("Request-ID", "8f8c3b2a-1111-4222-8333-444455556666")
        .header("Accept", "application/vnd.belfius.api+json; version=3")
        .header("Accept-Language", "en")
        .header("Redirect-URI", "https://tpp.example.com/callback")
        .header("Code-Challenge-Method", "S256")
        .header("Code-Challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        .header("Content-Type", "application/json")
        .body(body.to_vec())
        .unwrap();
    sign(&BELFIUS_PIS, &mut req, qseal.signer().as_ref(), Some(&cert), &SignOptions::default()).unwrap();
    let value = req.headers()["signature"].to_str().unwrap().to_owned();
    let parts: Vec<&str> = value.split('.').collect();
    let input = format!("{}.{}", parts[0], parts[1]);
    let sig = base64::engine::general_purpose::STANDARD.decode(parts[2]).unwrap();
    let rsa_public_key = cert.public_key().raw().to_vec();
    let now = time::OffsetDateTime::now_utc();

    let mut g = c.benchmark_group("seal-verify");
    g.throughput(Throughput::Elements(1));
    g.bench_function("bare/rsa2048 verify (key parsed per call)", |b| {
        b.iter(|| {
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &rsa_public_key).verify(input.as_bytes(), &sig).unwrap()
        })
    });
    let parsed = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &rsa_public_key).unwrap();
    g.bench_function("bare/rsa2048 verify (key parsed once)", |b| {
        b.iter(|| parsed.verify_sig(input.as_bytes(), &sig).unwrap())
    });
    let check = PisSealCheck::new(cert.clone());
    let (head, body) = req.clone().into_parts();
    g.bench_function("sandbox/check", |b| b.iter(|| check.check(&head, &body, now).unwrap()));
    let opts = VerifyOptions { now, certificate: Some(cert.clone()), ..VerifyOptions::default() };
    // What the sandbox ran before the cache: the roles read, the request rebuilt, verify.
    g.bench_function("uncached/sandbox check before the cache", |b| {
        b.iter(|| {
            assert!(cert.psd2_roles().unwrap().contains(&psd2_eidas::Role::PaymentInitiation));
            let mut r = http::Request::new(body.to_vec());
            *r.method_mut() = head.method.clone();
            *r.uri_mut() = head.uri.clone();
            *r.headers_mut() = head.headers.clone();
            verify(&BELFIUS_PIS, &r, &opts).unwrap()
        })
    });
    g.bench_function("uncached/verify", |b| b.iter(|| verify(&BELFIUS_PIS, &req, &opts).unwrap()));
    g.bench_function("uncached/read extensions", |b| b.iter(|| cert.parsed().unwrap().is_ca()));
    g.bench_function("uncached/qcStatements", |b| b.iter(|| cert.qc_statements().unwrap()));
    g.bench_function("uncached/parse certificate", |b| b.iter(|| Certificate::from_der(cert.der()).unwrap()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
