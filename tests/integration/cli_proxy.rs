//! `psd2-sign proxy` end to end: the binary in front of `psd2-sign sandbox`, curl as the
//! internal caller without a certificate; SIGTERM stops it; a non-loopback listener is refused.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{bin, spawn_server, stderr};

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The port at the end of the line starting with `prefix`.
pub(crate) fn port_after(lines: &[String], prefix: &str) -> u16 {
    let l = lines.iter().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix}: {lines:?}"));
    l.rsplit(':').next().unwrap().parse().unwrap()
}

/// `psd2-sign proxy --listen 127.0.0.1:0 MODE… --env ENV` with the QWAC and QSealC of these file
/// prefixes (`P-chain.pem`, `P.key`) and `server_ca` trusted for the upstream.
pub(crate) fn proxy_command(mode: &[&str], env: &str, qwac: &Path, qseal: &Path, server_ca: &Path) -> Command {
    let with = |p: &Path, ext: &str| PathBuf::from(format!("{}{ext}", p.display()));
    let mut cmd = bin();
    cmd.args(["proxy", "--listen", "127.0.0.1:0"]).args(mode).args(["--env", env]);
    cmd.arg("--qwac").arg(with(qwac, "-chain.pem")).arg("--qwac-key").arg(with(qwac, ".key"));
    cmd.arg("--qseal").arg(with(qseal, "-chain.pem")).arg("--qseal-key").arg(with(qseal, ".key"));
    cmd.arg("--ca").arg(server_ca);
    cmd
}

#[test]
fn proxy_forwards_curl_to_the_sandbox_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = dir.path().join("server-ca.pem");
    let mut sandbox = bin();
    sandbox.args(["sandbox", "--listen", "127.0.0.1:0", "--test-certs"]).arg(root().join("test-certs"));
    sandbox.arg("--server-ca-out").arg(&server_ca);
    let (mut sandbox, _sout, lines) = spawn_server(sandbox, "sandbox");
    let sandbox_port = port_after(&lines, "sandbox bank listening on https://127.0.0.1:");

    let rsa = root().join("test-certs/rsa");
    let env = format!("https://127.0.0.1:{sandbox_port}");
    let proxy = proxy_command(&["--bank", "belfius"], &env, &rsa.join("qwac"), &rsa.join("qseal"), &server_ca);
    let (mut proxy, mut pout, lines) = spawn_server(proxy, "proxy");
    let proxy_port = port_after(&lines, "proxy listening on http://127.0.0.1:");

    let out = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "20"])
        .args(["-H", "Client-ID: psd2-sign-demo", "-H", "Accept-Language: en"])
        .args(["-H", "Redirect-URI: https://tpp.example.com/callback", "-H", "Code-Challenge-Method: S256"])
        .args(["-H", "Code-Challenge: E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"])
        .arg(format!("http://127.0.0.1:{proxy_port}/consent-uris?scope=AIS"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.to_ascii_lowercase().contains("x-psd2-proxy-sealed: none"), "{text}");

    for child in [&mut proxy, &mut sandbox] {
        assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    }
    assert!(proxy.wait().unwrap().success());
    let mut rest = String::new();
    pout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("proxy stopped"), "{rest}");
    sandbox.wait().unwrap();
}

#[test]
fn a_non_loopback_listener_is_refused() {
    let rsa = root().join("test-certs/rsa");
    let out = bin()
        .args(["proxy", "--listen", "0.0.0.0:0", "--bank", "belfius", "--env", "https://127.0.0.1:1"])
        .arg("--qwac")
        .arg(rsa.join("qwac-chain.pem"))
        .arg("--qwac-key")
        .arg(rsa.join("qwac.key"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("0.0.0.0:0") && err.contains("loopback") && err.contains("client-certificate"), "{err}");
}
