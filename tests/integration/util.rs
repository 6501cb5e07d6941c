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

/// Spawns `cmd` (a server: `sandbox`, `ca serve`) with piped stdout and stderr and reads its
/// stdout up to the line "Ctrl-C to stop"; returns the child, the rest of its stdout and the
/// lines read. A child that exits first is a panic naming `what` and what it printed.
pub(crate) fn spawn_server(
    mut cmd: Command,
    what: &str,
) -> (std::process::Child, std::io::BufReader<std::process::ChildStdout>, Vec<String>) {
    use std::io::BufRead as _;
    use std::process::Stdio;
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            let status = child.wait().unwrap();
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            panic!("{what} exited early ({status}): {lines:?} {err}");
        }
        let done = line.starts_with("Ctrl-C to stop");
        lines.push(line.trim_end().to_owned());
        if done {
            // A server's logs (the proxy logs every request) must never fill the pipe and block it.
            let mut err = child.stderr.take().unwrap();
            std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
            return (child, out, lines);
        }
    }
}
