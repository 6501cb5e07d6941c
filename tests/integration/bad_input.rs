//! Bad input across subcommands: one clear line and a non-zero exit, never a hang, a panic or
//! unbounded memory. Files are read whole with a cap and only when they are regular files; what
//! is signed is what was given (URLs, header values, Date form, options); control characters are
//! never echoed raw.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::{bin, stderr};

const CERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/test-certs");
const URL: &str = "https://api.bank.example/v1/payments/sepa-credit-transfers";

/// Runs the command with stdin closed, killing it (and failing) if it has not ended after 60 s:
/// a guard against hangs, not a timing assertion.
fn run_guarded(cmd: &mut Command) -> Output {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("the command hung: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Exit 2 with exactly one stderr line containing `needle`, no raw control characters, nothing on stdout.
fn refused(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!err.trim_end().chars().any(char::is_control), "raw control character in: {err:?}");
    assert!(o.stdout.is_empty(), "{}", String::from_utf8_lossy(&o.stdout));
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo");
}

fn sign(extra: &[&str]) -> Command {
    let mut c = bin();
    c.args(["sign", "--profile", "berlin-group", "--key", &format!("{CERTS}/rsa/qseal.key")]);
    c.args(["--cert", &format!("{CERTS}/rsa/qseal.pem"), "--method", "POST"]);
    c.args(extra);
    c
}

#[test]
fn files_are_bounded_and_special_files_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let fifo = fifo.to_str().unwrap();
    let big = dir.path().join("big.pem");
    std::fs::write(&big, vec![b'A'; (1 << 20) + 1]).unwrap();
    let big = big.to_str().unwrap();

    let o = run_guarded(bin().args(["inspect", "/dev/zero"]));
    refused(&o, "/dev/zero: is a character device, not a regular file");
    let o = run_guarded(bin().args(["inspect", fifo]));
    refused(&o, "is a FIFO, not a regular file");
    let o = run_guarded(bin().args(["inspect", big]));
    refused(&o, "is larger than 1048576 bytes, the most a certificate or key file may be");
    let o = run_guarded(bin().args(["inspect", dir.path().to_str().unwrap()]));
    refused(&o, "is a directory, not a file");

    // A key and a password file that are FIFOs: refused, not waited on.
    let o = run_guarded(sign(&["--url", URL]).args(["--password-file", fifo]));
    refused(&o, "is a FIFO, not a regular file");
    let bad_secret = dir.path().join("secret");
    std::fs::write(&bad_secret, [0xff, 0xfe, b'\n']).unwrap();
    let o = run_guarded(bin().args([
        "inspect",
        &format!("{CERTS}/rsa/qseal.p12"),
        "--password-file",
        bad_secret.to_str().unwrap(),
    ]));
    refused(&o, "secret file: not UTF-8 text");

    // Bodies: a FIFO is refused (stdin is `-`); a body over --max-body is refused, from a file
    // and from standard input.
    let o = run_guarded(&mut sign(&["--url", URL, "--body", fifo]));
    refused(&o, &format!("--body {fifo}: is a FIFO, not a regular file (use --body - to read standard input)"));
    let body = dir.path().join("body.json");
    std::fs::write(&body, br#"{"a":"0123456789"}"#).unwrap();
    let o = run_guarded(&mut sign(&["--url", URL, "--body", body.to_str().unwrap(), "--max-body", "10"]));
    refused(&o, "the body is larger than 10 bytes (--max-body)");
    let mut c = sign(&["--url", URL, "--body", "-", "--max-body", "1K"]);
    let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(&vec![b'x'; 4096]);
    }
    let o = child.wait_with_output().unwrap();
    refused(&o, "--body -: the body is larger than 1024 bytes (--max-body)");
    let o = run_guarded(&mut sign(&["--url", URL, "--body", body.to_str().unwrap(), "--max-body", "0"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn what_is_signed_is_what_was_given() {
    for (url, needle) in [
        ("api.bank.example/v1/accounts", "not an absolute URL: write https://host/path"),
        ("javascript:alert(1)", "scheme 'javascript' is not https"),
        ("https://api.bank.example:99999/v1", "the port is not a number from 1 to 65535"),
        ("https://api.bank.example:0/v1", "the port is not a number from 1 to 65535"),
        ("http://api.bank.example/v1", "plain http is allowed only to a loopback host"),
        ("https://user:pw@api.bank.example/v1", "carries a user name or password"),
        ("https://api.bank.example/v1#frag", "has a #fragment"),
        ("https://api.bank.example/a b", "contains whitespace or control characters"),
        ("https://api.bank.example/a\u{1b}[31m", "--url 'https://api.bank.example/a\\u{1b}[31m'"),
    ] {
        let o = run_guarded(&mut sign(&["--url", url]));
        refused(&o, needle);
    }
    // Plain http to a loopback sandbox is fine.
    let o = run_guarded(&mut sign(&["--url", "http://127.0.0.1:8080/v1/accounts"]));
    assert!(o.status.success(), "{}", stderr(&o));

    // Control characters in a header value: refused and shown escaped.
    let o = run_guarded(&mut sign(&["--url", URL, "-H", "PSU-ID: a\u{1b}]0;pwned\u{7}b"]));
    refused(&o, "-H 'PSU-ID: a\\u{1b}]0;pwned\\u{7}b': the value contains a control character");
    let o = run_guarded(&mut sign(&["--url", URL, "-H", "PSU-ID: a\r\nX-Evil: 1"]));
    refused(&o, "-H 'PSU-ID: a\\r\\nX-Evil: 1'");

    // A given Date in the wrong form for the profile, empty --cover, --expires 0, a STET keyId
    // that is not an https URL.
    let o = run_guarded(&mut sign(&["--url", URL, "-H", "Date: 2026-11-26T10:00:00Z"]));
    refused(
        &o,
        "Date: '2026-11-26T10:00:00Z' is not a valid IMF-fixdate, e.g. Sun, 06 Nov 1994 08:49:37 GMT (the form this profile sends)",
    );
    let o = run_guarded(&mut sign(&["--url", URL, "--cover", ""]));
    refused(&o, "--cover: a covered component name is empty");
    let o = run_guarded(&mut sign(&["--url", URL, "--cover", "date", "--expires", "0"]));
    refused(&o, "--expires: the signature lifetime must be positive, not 0s");
    let o = run_guarded(
        bin()
            .args(["sign", "--profile", "stet", "--key", &format!("{CERTS}/rsa/qseal.key"), "--method", "GET"])
            .args(["--url", URL, "--key-id", "tpp.example/qseal.pem"]),
    );
    refused(&o, "--key-id: profile stet needs the https URL where the QSealC is published");

    // Sealing with the QWAC: allowed, with a warning.
    let o = run_guarded(
        bin().args(["sign", "--profile", "berlin-group", "--key", &format!("{CERTS}/rsa/qwac.key")]).args([
            "--cert",
            &format!("{CERTS}/rsa/qwac.pem"),
            "--method",
            "GET",
            "--url",
            URL,
        ]),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is a QWAC (for TLS), not a QSealC: PSD2 banks refuse a seal made with it"),
        "{}",
        stderr(&o)
    );
}

/// A path that is not UTF-8: one line naming the argument and its option (clap alone says "one
/// or more arguments").
#[test]
fn non_utf8_arguments_are_named() {
    use std::os::unix::ffi::OsStrExt as _;
    let bad = std::ffi::OsStr::from_bytes(b"/tmp/\xffkey.pem");
    let o = run_guarded(bin().args(["sign", "--profile", "berlin-group", "--key"]).arg(bad).args(["--method", "GET"]));
    refused(&o, "argument 5 (the value of --key) is not valid UTF-8: '/tmp/\u{fffd}key.pem'");
    let o = run_guarded(bin().arg("inspect").arg(bad));
    refused(&o, "argument 2 is not valid UTF-8");
}
