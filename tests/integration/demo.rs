//! `psd2-sign demo`: the main job, end to end (test PKI, sandbox, AIS + PIS + CAF over mTLS),
//! and its temporary test PKI (it holds CA private keys) gone on every way out.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::{bin, stderr, stdout};

/// What is left in `tmp` (the child's TMPDIR).
fn left_in(tmp: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(tmp).unwrap().map(|e| e.unwrap().path()).collect()
}

#[test]
fn demo_round_trip_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bin().env("TMPDIR", tmp.path()).arg("demo").output().unwrap();
    let stdout = stdout(&out);
    assert!(out.status.success(), "{stdout}{}", stderr(&out));
    for expected in [
        "token scope AIS",
        "BE68539007547034 balance 1234.56 EUR, 2 transactions",
        "PSU signed; status ACSC",
        "funds available true",
        "funds available false",
        "demo complete",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    assert_eq!(left_in(tmp.path()), Vec::<PathBuf>::new(), "the test PKI is removed");
}

#[test]
fn demo_failing_midway_removes_its_pki_unless_kept() {
    // The sandbox cannot listen: the port is taken. The test PKI is made by then.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let out = bin().env("TMPDIR", tmp.path()).args(["demo", "--listen", &addr]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{}{err}", stdout(&out));
    assert!(stdout(&out).contains("PKI  QSealC"), "{}", stdout(&out));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("demo: cannot start the sandbox: cannot listen on {addr}")), "{err}");
    assert_eq!(left_in(tmp.path()), Vec::<PathBuf>::new(), "the test PKI is removed");

    // --keep keeps it, and the error says where.
    let out = bin().env("TMPDIR", tmp.path()).args(["demo", "--keep", "--listen", &addr]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let kept = left_in(tmp.path());
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(err.trim_end().ends_with(&format!("; test PKI kept in {}", kept[0].display())), "{err}");
    assert!(kept[0].join("ca").is_dir());
}

#[test]
fn demo_interrupted_removes_its_pki() {
    use std::os::unix::fs::PermissionsExt as _;
    use std::os::unix::process::ExitStatusExt as _;
    let kill =
        |sig: &str, pid: u32| assert!(Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success());
    let tmp = tempfile::tempdir().unwrap();
    let mut child =
        bin().env("TMPDIR", tmp.path()).arg("demo").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    // Stopped while it makes the PKI: the directory is there, private.
    kill("-STOP", child.id());
    assert!(first.starts_with("psd2-sign demo:"), "{first}");
    let during = left_in(tmp.path());
    assert_eq!(during.len(), 1, "{during:?}");
    assert!(during[0].file_name().unwrap().to_str().unwrap().starts_with("psd2-sign-demo-"));
    assert_eq!(std::fs::metadata(&during[0]).unwrap().permissions().mode() & 0o777, 0o700);
    kill("-TERM", child.id());
    kill("-CONT", child.id());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.signal(), None, "the demo handles SIGTERM itself");
    assert_eq!(status.code(), Some(143), "{rest}{err}");
    assert_eq!(err, "psd2-sign: demo: interrupted (SIGTERM)\n");
    assert_eq!(left_in(tmp.path()), Vec::<PathBuf>::new(), "the test PKI is removed");
}
