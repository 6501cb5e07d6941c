//! `psd2-sign sandbox` end to end: the binary serves until SIGINT, prints its address and the
//! ephemeral server CA path; curl (an independent TLS client) talks to it with the test QWAC.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command};

use crate::util::{bin, spawn_server, stderr};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Starts the sandbox; returns the child, its stdout reader and the lines up to "Ctrl-C to stop".
fn spawn(args: &[&str]) -> (Child, BufReader<ChildStdout>, Vec<String>) {
    spawn_in(args, &std::env::temp_dir())
}

/// [`spawn`] with `TMPDIR` set to `tmp` for the child.
fn spawn_in(args: &[&str], tmp: &Path) -> (Child, BufReader<ChildStdout>, Vec<String>) {
    let mut cmd = bin();
    cmd.env("TMPDIR", tmp)
        .arg("sandbox")
        .args(["--listen", "127.0.0.1:0", "--test-certs"])
        .arg(root().join("test-certs"))
        .args(args);
    spawn_server(cmd, "sandbox")
}

fn port(lines: &[String]) -> u16 {
    let l = lines.iter().find(|l| l.starts_with("sandbox bank listening on https://127.0.0.1:")).unwrap();
    l.rsplit(':').next().unwrap().parse().unwrap()
}

/// `curl` GET /consent-uris?scope=AIS with the EC test QWAC; returns (success, stdout).
fn curl_consent(url_host: &str, port: u16, extra: &[&str], with_cert: bool) -> (bool, String) {
    let ec = root().join("test-certs/ec");
    let mut c = Command::new("curl");
    c.args(["-sS", "-i"]).args(extra);
    if with_cert {
        c.arg("--cert").arg(ec.join("qwac-chain.pem")).arg("--key").arg(ec.join("qwac.key"));
    }
    c.args(["-H", "Request-ID: 1b4e28ba-2fa1-41d2-883f-0016d3cca427"])
        .args(["-H", "Accept: application/vnd.belfius.api+json; version=4"])
        .args(["-H", "Client-ID: psd2-sign-demo"])
        .args(["-H", "Accept-Language: en"])
        .args(["-H", "Code-Challenge-Method: S256"])
        .args(["-H", "Code-Challenge: E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"])
        .args(["-H", "Redirect-URI: https://tpp.example.com/cb"])
        .arg(format!("https://{url_host}:{port}/consent-uris?scope=AIS"));
    let out = c.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// SIGINT, then the exit status and the rest of stdout.
fn interrupt(child: Child, out: BufReader<ChildStdout>) -> (std::process::ExitStatus, String) {
    signal(child, out, "-INT")
}

/// `kill SIGNAL`, then the exit status and the rest of stdout.
fn signal(mut child: Child, mut out: BufReader<ChildStdout>, signal: &str) -> (std::process::ExitStatus, String) {
    let st = Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
    assert!(st.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    (child.wait().unwrap(), rest)
}

#[test]
fn ephemeral_server_ca_demo_client_until_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let ca_out = dir.path().join("server-ca.pem");
    let (child, out, lines) = spawn(&["--server-ca-out", ca_out.to_str().unwrap()]);
    let port = port(&lines);
    assert!(lines.iter().any(|l| l == &format!("server CA (trust it explicitly, e.g. --ca): {}", ca_out.display())));
    assert!(lines.iter().any(|l| l.starts_with("client: psd2-sign-demo (QSealC ")), "{lines:?}");
    let ca = ca_out.to_str().unwrap();
    let (ok, text) = curl_consent("127.0.0.1", port, &["--cacert", ca], true);
    assert!(ok && text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains(&format!("https://127.0.0.1:{port}/sca/authorize?ticket=")), "{text}");
    // the server certificate also names localhost
    let (ok, text) = curl_consent("localhost", port, &["--cacert", ca], true);
    assert!(ok && text.starts_with("HTTP/1.1 200"), "{text}");
    // no client certificate: refused in the handshake
    let (ok, _) = curl_consent("127.0.0.1", port, &["--cacert", ca], false);
    assert!(!ok);
    let (status, rest) = interrupt(child, out);
    assert!(status.success(), "{status}");
    assert!(rest.contains("sandbox stopped"), "{rest}");
}

#[test]
fn given_server_identity_trust_anchor_and_client() {
    // The RSA test QWAC as the server's certificate (serverAuth, tpp.example.com), the EC test CA
    // as the only TPP anchor, the EC QSealC registered for a client id given on the command line.
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let rsa = root().join("test-certs/rsa");
    let ec = root().join("test-certs/ec");
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let (child, out, lines) = spawn(&[
        "--ca",
        &s(&ec.join("ca.pem")),
        "--cert",
        &s(&rsa.join("qwac-chain.pem")),
        "--key",
        &s(&rsa.join("qwac.key")),
        "--client-id",
        "psd2-sign-demo",
        "--client-secret-file",
        &s(&secret),
        "--qseal",
        &s(&ec.join("qseal.pem")),
    ]);
    let port = port(&lines);
    assert!(!lines.iter().any(|l| l.starts_with("server CA")), "{lines:?}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("TPP trust anchor: ")).count(), 1);
    let resolve = format!("tpp.example.com:{port}:127.0.0.1");
    let (ok, text) =
        curl_consent("tpp.example.com", port, &["--resolve", &resolve, "--cacert", &s(&rsa.join("ca.pem"))], true);
    assert!(ok && text.starts_with("HTTP/1.1 200"), "{text}");
    let (status, _) = interrupt(child, out);
    assert!(status.success());
}

/// Runs the sandbox on a free port with `--test-certs` and `args`, expecting it to exit.
fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Output {
    bin()
        .arg("sandbox")
        .args(["--listen", "127.0.0.1:0", "--test-certs"])
        .arg(root().join("test-certs"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn usage_errors_exit_2() {
    let o = run(&["--client-id", "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--client-secret-file"), "{o:?}");
    let o = run(&["--cert", "server.pem"]);
    assert_eq!(o.status.code(), Some(2), "--cert needs --key");
    let o = run(&["--ca", "/nonexistent/ca.pem"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn refused_clients_are_one_line_naming_the_client_id() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let qseal = s(&root().join("test-certs/rsa/qseal.pem"));
    let qwac = s(&root().join("test-certs/rsa/qwac.pem"));
    let client = |id: &str, secret: &Path, qseal: &str| {
        ["--client-id", id, "--client-secret-file", &s(secret), "--qseal", qseal].map(str::to_owned)
    };
    let cases: [(Vec<String>, &str); 4] = [
        (client("", &secret, &qseal).to_vec(), "client id \"\": the client id is empty"),
        (
            [client("tpp", &secret, &qseal), client("tpp", &secret, &qseal)].concat(),
            "client id \"tpp\": the client id is onboarded twice",
        ),
        (client("tpp\u{7}", &empty, &qseal).to_vec(), "client id \"tpp\\u{7}\": the client secret is empty"),
        (client("tpp", &secret, &qwac).to_vec(), "client id \"tpp\": the certificate registered as its QSealC, "),
    ];
    for (args, expected) in cases {
        let o = run(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("psd2-sign: sandbox configuration: "), "{err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains('\u{7}'));
        assert!(o.stdout.is_empty());
    }
}

fn server_ca_path(lines: &[String]) -> PathBuf {
    let l = lines.iter().find_map(|l| l.strip_prefix("server CA (trust it explicitly, e.g. --ca): ")).unwrap();
    PathBuf::from(l)
}

#[test]
fn default_server_ca_is_in_a_private_temporary_directory_removed_at_stop() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let (child, out, lines) = spawn_in(&[], tmp.path());
    let ca = server_ca_path(&lines);
    let dir = ca.parent().unwrap();
    assert_eq!(dir.parent().unwrap(), tmp.path(), "{lines:?}");
    let name = dir.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with("psd2-sign-sandbox-") && name.len() > "psd2-sign-sandbox-".len() + 4, "{name}");
    assert_eq!(std::fs::metadata(dir).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(ca.file_name().unwrap(), "server-ca.pem");
    let (ok, text) = curl_consent("127.0.0.1", port(&lines), &["--cacert", ca.to_str().unwrap()], true);
    assert!(ok && text.starts_with("HTTP/1.1 200"), "{text}");
    // a second sandbox gets another directory, and SIGTERM stops it as Ctrl-C does
    let (child2, out2, lines2) = spawn_in(&[], tmp.path());
    assert_ne!(server_ca_path(&lines2).parent(), Some(dir));
    let (status, rest) = signal(child2, out2, "-TERM");
    assert!(status.success() && rest.contains("sandbox stopped"), "{status} {rest}");
    let (status, rest) = interrupt(child, out);
    assert!(status.success() && rest.contains("sandbox stopped"), "{status} {rest}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "the temporary directories are removed");
}

#[test]
fn server_ca_out_replaces_a_symlink_atomically_and_refuses_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    // A symlink at the path is replaced, not followed: the file it points to is untouched.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep me").unwrap();
    let out_path = dir.path().join("ca.pem");
    std::os::unix::fs::symlink(&victim, &out_path).unwrap();
    let (child, out, lines) = spawn(&["--server-ca-out", out_path.to_str().unwrap()]);
    assert_eq!(server_ca_path(&lines), out_path);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert!(std::fs::symlink_metadata(&out_path).unwrap().file_type().is_file());
    assert!(std::fs::read_to_string(&out_path).unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    let (status, _) = interrupt(child, out);
    assert!(status.success());
    assert!(out_path.exists(), "a file given with --server-ca-out stays");

    // A directory is refused: one line, exit 2, nothing written into it.
    let o = run(&[std::ffi::OsStr::new("--server-ca-out"), dir.path().as_os_str()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--server-ca-out") && err.contains("is a directory"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);

    // With --cert there is no ephemeral CA to write.
    let rsa = root().join("test-certs/rsa");
    let o = bin()
        .arg("sandbox")
        .args(["--listen", "127.0.0.1:0", "--cert"])
        .arg(rsa.join("qwac-chain.pem"))
        .arg("--key")
        .arg(rsa.join("qwac.key"))
        .arg("--server-ca-out")
        .arg(&out_path)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn faults_spec_is_parsed_and_shown_or_refused_in_one_line() {
    for (spec, want) in [
        ("boom=1", "--faults boom=1: unknown fault \"boom\": expected drop-handshakes, lose-responses, fail or delay"),
        ("fail=x", "--faults fail=x: fail=\"x\": not a count (0 to 4294967295)"),
        ("delay=5", "--faults delay=5: delay=\"5\": not a duration like 200ms or 2s"),
        ("fail=1,fail=2", "--faults fail=1,fail=2: fault \"fail\" is given twice"),
        ("fail=1,", "--faults fail=1,: empty fault item"),
        ("fail=\u{1b}[31m", "--faults fail=\\u{1b}[31m: fail=\"\\u{1b}[31m\": not a count"),
    ] {
        let o = run(&["--faults", spec]);
        assert_eq!(o.status.code(), Some(2), "{spec}: {o:?}");
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(&format!("psd2-sign: {want}")), "{spec}: {err}");
        assert!(!err.contains('\u{1b}'));
    }
    let (child, out, lines) = spawn(&["--faults", "fail=2,delay=10ms"]);
    assert!(lines.iter().any(|l| l == "faults: fail=2,delay=10ms"), "{lines:?}");
    let p = port(&lines);
    assert!(lines.iter().any(|l| l == &format!("Banx under https://127.0.0.1:{p}/banx")), "{lines:?}");
    let (status, _) = interrupt(child, out);
    assert!(status.success(), "{status}");
}
