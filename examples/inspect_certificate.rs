//! Load a certificate and print its eIDAS/PSD2 content, then check a role — the library side of
//! `psd2-sign inspect`.
//!
//! ```sh
//! cargo run --example inspect_certificate -- tests/vectors/psd2-certs/ing-sandbox-example-qsealc.pem
//! ```
#![allow(clippy::print_stdout, reason = "an example prints its result")]

use psd2_eidas::inspect::Report;
use psd2_eidas::{Role, load};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "test-certs/rsa/qseal.pem".into());
    let certs = load::load_certificates(path.as_ref(), None)?;
    let report = Report::new(&certs[0], time::OffsetDateTime::now_utc())?;
    println!("{} ({:?})", report.subject, report.kind);
    if let Some(psd2) = &report.psd2 {
        println!("roles {} granted by {} ({})", psd2.roles.join(", "), psd2.nca_name, psd2.nca_id);
    }
    for w in &report.warnings {
        println!("warning: {w}");
    }
    println!("may initiate payments: {}", report.has_role(Role::PaymentInitiation));
    Ok(())
}
