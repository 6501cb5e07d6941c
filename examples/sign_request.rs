//! Seal a Berlin Group payment initiation with a QSealC from Rust, without the CLI, then check it
//! the way the bank would.
//!
//! ```sh
//! cargo run --example sign_request -- test-certs/rsa/qseal.key test-certs/rsa/qseal.pem
//! ```
//! (defaults to those two paths). Any key reference works: a PEM/DER key, a PKCS#12 file, or a
//! PKCS#11 URI in a build with the `pkcs11` feature.
#![allow(clippy::print_stdout, reason = "an example prints what it did")]

use psd2_eidas::{Identity, KeyRef, Secrets};
use psd2_httpsig::profile::Profile;
use psd2_httpsig::{SignOptions, VerifyOptions, sign, verify};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let key: KeyRef = args.next().unwrap_or_else(|| "test-certs/rsa/qseal.key".into()).parse()?;
    let cert: KeyRef = args.next().unwrap_or_else(|| "test-certs/rsa/qseal.pem".into()).parse()?;
    let qseal = Identity::load(&key, Some(&cert), &Secrets::from_env())?;

    // The request exactly as it will be sent: the body bytes are what the digest covers.
    let body = br#"{"instructedAmount":{"currency":"EUR","amount":"12.34"},"creditorAccount":{"iban":"BE68539007547034"},"creditorName":"Example Shop"}"#;
    let mut req = http::Request::post("https://api.bank.example/v1/payments/sepa-credit-transfers")
        .header("Content-Type", "application/json")
        .header("PSU-ID", "PSU-1234")
        .header("TPP-Redirect-URI", "https://tpp.example/callback")
        .body(body.to_vec())?;

    // Add Digest, Date, X-Request-ID, TPP-Signature-Certificate and Signature.
    let profile = Profile::by_name("berlin-group")?;
    let signed = sign(profile, &mut req, qseal.signer().as_ref(), Some(qseal.certificate()), &SignOptions::default())?;
    for (name, value) in req.headers() {
        println!("{name}: {}", value.to_str()?);
    }
    println!(
        "\nsigned ({}, keyId {}):\n{}\n",
        signed.algorithm,
        signed.key_id.unwrap_or_default(),
        signed.signing_string
    );

    // The bank's side: digest, signature, keyId vs certificate, Date window.
    let ok = verify(profile, &req, &VerifyOptions::default())?;
    println!("verified: covered {}", ok.covered.join(" "));

    // One changed byte in the body is refused, and the error says where.
    req.body_mut()[0] = b' ';
    if let Err(e) = verify(profile, &req, &VerifyOptions::default()) {
        println!("tampered body refused: {e}");
    }
    Ok(())
}
