//! What the modules share: the `psd2-sign` binary under test, and its output as text.

use std::process::{Command, Output};

/// The binary, with neither a password nor a log filter from the caller's environment (a test
/// sets what it needs with `.env`).
pub(crate) fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_psd2-sign"));
    c.env_remove("PSD2_SIGN_PASSWORD").env_remove("RUST_LOG");
    c
}

/// Runs [`bin`] with `args`.
pub(crate) fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
