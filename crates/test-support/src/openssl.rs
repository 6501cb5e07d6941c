//! The openssl CLI for checks whose outcome is the result: `openssl verify` of a revoked
//! certificate must fail, and its message is read either way. ([`crate::fixtures::openssl`]
//! runs it in a directory and panics on failure, for making material.)

use std::process::Command;

/// Runs openssl with `args`; returns whether it succeeded, and its stdout followed by its stderr.
pub fn output(args: &[&str]) -> (bool, String) {
    let o = Command::new("openssl").args(args).output().expect("the openssl CLI");
    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&o.stderr));
    (o.status.success(), text)
}

/// DER (hex) of the qcStatements extension of a PSD2 QSealC, for openssl-made test certificates:
/// QcCompliance, QcType eseal, and the ETSI TS 119 495 statement with role PSP_AI granted by
/// "National Bank of Belgium" (`BE-NBB`). Checked with `openssl asn1parse`.
pub const QSEALC_QC_STATEMENTS: &str = "30623008060604008e4601013013060604008e4601063009060704008e46010602304106060400819827023037\
                                        301330110607040081982701030c065053505f41490c184e6174696f6e616c2042616e6b206f662042656c\
                                        6769756d0c0642452d4e4242";

/// Writes `seal.cnf` in `dir`: an openssl configuration whose section `seal` makes a QSealC
/// (basicConstraints CA:FALSE, nonRepudiation, [`QSEALC_QC_STATEMENTS`]). Use it as
/// `req -x509 -config FILE -extensions seal` or `x509 -req -extfile FILE -extensions seal`.
pub fn seal_config(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("seal.cnf");
    let text = format!(
        "[req]\ndistinguished_name = dn\n[dn]\n[seal]\nbasicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, nonRepudiation\n1.3.6.1.5.5.7.1.3 = DER:{QSEALC_QC_STATEMENTS}\n"
    );
    std::fs::write(&p, text).expect("write seal.cnf");
    p
}
