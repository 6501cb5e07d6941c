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
