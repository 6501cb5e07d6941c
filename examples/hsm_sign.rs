//! Seal a Berlin Group request with a QSealC key that stays in a PKCS#11 token (an HSM, a smart
//! card, SoftHSM) — the same code as for a file key, only the key reference differs.
//!
//! ```sh
//! export PSD2_SIGN_PKCS11_PIN=1234
//! cargo run --example hsm_sign -- 'pkcs11:token=psd2-test;object=qseal;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so' qseal.pem
//! ```
//! The certificate argument may be omitted when the token holds it next to the key
//! (`psd2-sign hsm import-cert`).
#![allow(clippy::print_stdout, reason = "an example prints what it did")]

use psd2_eidas::{Identity, KeyRef, Secrets};
use psd2_httpsig::profile::Profile;
use psd2_httpsig::{SignOptions, sign};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let Some(key) = args.next() else {
        println!("usage: hsm_sign PKCS11-URI [CERT]   (PIN from PSD2_SIGN_PKCS11_PIN or pin-source= in the URI)");
        return Ok(());
    };
    let key: KeyRef = key.parse()?;
    let cert: Option<KeyRef> = args.next().map(|c| c.parse()).transpose()?;
    // Loads the module once, logs in once; the key is a `Signer` like any other.
    let qseal = Identity::load(&key, cert.as_ref(), &Secrets::from_env())?;
    let mut req = http::Request::get("https://api.bank.example/v1/accounts").body(Vec::new())?;
    let signed = sign(
        Profile::by_name("berlin-group")?,
        &mut req,
        qseal.signer().as_ref(),
        Some(qseal.certificate()),
        &SignOptions::default(),
    )?;
    for (name, value) in req.headers() {
        println!("{name}: {}", value.to_str()?);
    }
    println!("\nsigned by {} ({})", qseal.signer().describe(), signed.algorithm);
    Ok(())
}
