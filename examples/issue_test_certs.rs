//! Issue a PSD2 QWAC and QSealC from a fresh test CA with the library (no command line).
//!
//! ```sh
//! cargo run --example issue_test_certs -- /tmp/pki     # writes /tmp/pki/{ca.pem,qwac.*,qseal.*}
//! ```
//!
//! Everything it makes is a TEST certificate: never trust it for anything real.
#![allow(clippy::print_stdout, clippy::print_stderr, reason = "an example prints its result")]

use std::path::PathBuf;

use psd2_ca::{CertKind, CertificateAuthority, EvSubject, InitOptions, IssueRequest, KeyType, Psd2Subject};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = match std::env::args().nth(1) {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("psd2-sign-example-pki-{}", std::process::id())),
    };
    let ca = CertificateAuthority::init(&dir, &InitOptions { key_type: KeyType::P256, ..Default::default() })?;
    // The fictitious TPP (Example TPP NV, PSDBE-NBB-0999.888.777, all four roles).
    let tpp = Psd2Subject::example();

    let mut qwac = IssueRequest::new(CertKind::Qwac, tpp.clone());
    qwac.ev = EvSubject::example();
    let qseal = IssueRequest::new(CertKind::Qseal, tpp);

    for (name, req) in [("qwac", qwac), ("qseal", qseal)] {
        let issued = ca.issue(&req)?;
        for w in &issued.warnings {
            eprintln!("warning: {w}");
        }
        let files = issued.write(&dir.join(name))?;
        let psd2 = issued.certificate.qc_statements()?.and_then(|q| q.psd2).ok_or("no PSD2 statement")?;
        println!("{name}: serial {}, roles {:?}, NCA {}", issued.certificate.serial_hex(), psd2.roles(), psd2.nca_id);
        for f in files {
            println!("  {}", f.display());
        }
    }
    println!("trust anchor: {}", dir.join("ca.pem").display());
    Ok(())
}
