//! `psd2-sign proxy` end to end: the binary in front of `psd2-sign sandbox`, curl as the
//! internal caller without a certificate; SIGTERM stops it; a non-loopback listener is refused;
//! a Berlin Group route to a recording server, whose record verifies with `psd2-sign verify` and
//! with openssl alone.

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

/// One request as a server received it: request line, header lines in order (names as sent),
/// body; and the DER of the client certificate of its connection.
struct Recorded {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    client_cert: Vec<u8>,
}

impl Recorded {
    /// The values of header `name` (any case), joined by `, ` as HTTP does for repeated fields.
    fn header(&self, name: &str) -> Option<String> {
        let v: Vec<&str> =
            self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect();
        (!v.is_empty()).then(|| v.join(", "))
    }
}

/// A bank stand-in: HTTPS on 127.0.0.1 with a server certificate of a fresh CA (written to
/// `server_ca`), requiring a client certificate of the RSA test PKI; records the first request
/// byte for byte (plain rustls over a std listener, an HTTP/1.1 reader of its own) and answers
/// 200 `{"ok":true}`.
fn recording_server(server_ca: &std::path::Path) -> (u16, std::sync::mpsc::Receiver<Recorded>) {
    use std::io::{BufRead as _, BufReader, Write as _};

    let (config, ca) = psd2_test_support::pki::bank_server_config();
    std::fs::write(server_ca, ca.to_pem()).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { return };
            tcp.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = BufReader::new(rustls::StreamOwned::new(conn, tcp));
            let mut line = String::new();
            if tls.read_line(&mut line).is_err() || line.is_empty() {
                continue; // a handshake that failed, or a connection closed unused
            }
            let mut parts = line.trim_end().splitn(3, ' ');
            let (method, target) = (parts.next().unwrap().to_owned(), parts.next().unwrap().to_owned());
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                tls.read_line(&mut h).unwrap();
                let h = h.trim_end_matches(['\r', '\n']);
                if h.is_empty() {
                    break;
                }
                let (n, v) = h.split_once(':').unwrap();
                headers.push((n.to_owned(), v.trim().to_owned()));
            }
            let mut rec = Recorded { method, target, headers, body: Vec::new(), client_cert: Vec::new() };
            assert!(rec.header("transfer-encoding").is_none(), "the proxy sent a chunked body");
            let len: usize = rec.header("content-length").map_or(0, |v| v.parse().unwrap());
            rec.body = vec![0; len];
            std::io::Read::read_exact(&mut tls, &mut rec.body).unwrap();
            let stream = tls.get_mut();
            rec.client_cert = stream.conn.peer_certificates().unwrap()[0].to_vec();
            let answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}";
            stream.write_all(answer.as_bytes()).unwrap();
            stream.conn.send_close_notify();
            let _ = stream.flush();
            if tx.send(rec).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

/// The `key="value"` parameters of a cavage `Signature` header (values unescaped).
fn signature_params(header: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=').unwrap();
        let after = after.strip_prefix('"').unwrap_or_else(|| panic!("unquoted value: {header}"));
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().unwrap() {
                (_, '\\') => value.push(chars.next().unwrap().1),
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        out.push((key.trim().to_owned(), value));
        rest = after[end + 1..].trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// openssl with `args`, `stdin` fed; its stdout (it must succeed).
fn openssl(args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.unwrap_or_default()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// A Berlin Group route to a recording server: curl POSTs JSON through the proxy, and what the
/// server received verifies with `psd2-sign verify --profile berlin-group --ca` (strict: a
/// PSD2 QSealC chaining to the test root), and with openssl alone: the signing string rebuilt
/// here from the recorded headers per the Berlin Group rule, `openssl dgst -sha256 -verify` with
/// the public key openssl takes from the certificate the request carries, and the `Digest`
/// against `openssl dgst -sha256 -binary` of the body.
#[test]
fn a_berlin_group_route_seals_what_a_recording_server_receives() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name);
    let (port, recorded) = recording_server(&file("server-ca.pem"));
    let rsa = root().join("test-certs/rsa");
    let (qwac, qseal, env) = (rsa.join("qwac"), rsa.join("qseal"), format!("https://127.0.0.1:{port}/v1"));
    let proxy = proxy_command(&["--profile", "berlin-group"], &env, &qwac, &qseal, &file("server-ca.pem"));
    let (mut proxy, _pout, lines) = spawn_server(proxy, "proxy");
    let proxy_port = port_after(&lines, "proxy listening on http://127.0.0.1:");

    let body = r#"{"instructedAmount":{"currency":"EUR","amount":"123.45"},"creditorName":"Payee Ltd"}"#;
    let out = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "20", "-X", "POST"])
        .args(["-H", "Content-Type: application/json", "-H", "PSU-ID: psu-4711"])
        .args(["-H", "TPP-Redirect-URI: https://tpp.example.com/cb", "--data-binary", body])
        .arg(format!("http://127.0.0.1:{proxy_port}/payments/sepa-credit-transfers?x=1"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 200"), "{text} {}", String::from_utf8_lossy(&out.stderr));
    assert!(text.ends_with(r#"{"ok":true}"#), "{text}");
    let rec = recorded.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
    assert!(Command::new("kill").args(["-TERM", &proxy.id().to_string()]).status().unwrap().success());
    proxy.wait().unwrap();

    // What arrived: the method, path and body as curl sent them, mTLS with the QWAC.
    assert_eq!((rec.method.as_str(), rec.target.as_str()), ("POST", "/v1/payments/sepa-credit-transfers?x=1"));
    assert_eq!(rec.body, body.as_bytes());
    let qwac_der = openssl(&["x509", "-in", rsa.join("qwac.pem").to_str().unwrap(), "-outform", "DER"], None);
    assert_eq!(rec.client_cert, qwac_der, "the mTLS client certificate is the QWAC");
    std::fs::write(file("body.json"), &rec.body).unwrap();

    // (a) psd2-sign verify, given the request as recorded.
    let url = format!("https://127.0.0.1:{port}{}", rec.target);
    let mut verify = bin();
    verify.args(["verify", "--profile", "berlin-group", "--method", &rec.method, "--url", &url]);
    for (n, v) in &rec.headers {
        verify.arg("-H").arg(format!("{n}: {v}"));
    }
    verify.arg("--body").arg(file("body.json")).arg("--cert").arg(rsa.join("qseal-chain.pem"));
    let out = verify.arg("--ca").arg(rsa.join("ca.pem")).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said} {}", stderr(&out));
    assert!(said.starts_with("OK: ") && said.contains("chain: validated to"), "{said}");

    // (b) openssl. The Digest header: SHA-256 of the body, base64.
    let digest = rec.header("digest").unwrap();
    let sha = openssl(&["dgst", "-sha256", "-binary", file("body.json").to_str().unwrap()], None);
    let b64 = openssl(&["base64", "-A"], Some(&sha));
    assert_eq!(digest, format!("SHA-256={}", String::from_utf8(b64).unwrap().trim()));
    // The signing string: the `headers` list of Signature, `name: value` lines joined by \n.
    let params = signature_params(&rec.header("signature").unwrap());
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap();
    assert_eq!(param("algorithm"), "rsa-sha256");
    let covered = param("headers");
    assert!(covered.contains("psu-id") && covered.contains("tpp-redirect-uri"), "{covered}");
    let lines: Vec<String> = covered
        .split(' ')
        .map(|name| match name {
            "(request-target)" => format!("(request-target): {} {}", rec.method.to_lowercase(), rec.target),
            _ => format!("{name}: {}", rec.header(name).unwrap_or_else(|| panic!("{name} is covered, not sent"))),
        })
        .collect();
    std::fs::write(file("signing-string.txt"), lines.join("\n")).unwrap();
    let sig = openssl(&["base64", "-d", "-A"], Some(param("signature").as_bytes()));
    std::fs::write(file("signature.bin"), sig).unwrap();
    // The key: from the certificate the request carries (TPP-Signature-Certificate, base64 DER).
    let cert_b64 = rec.header("tpp-signature-certificate").unwrap();
    let cert = openssl(&["base64", "-d", "-A"], Some(cert_b64.as_bytes()));
    let qseal_der = openssl(&["x509", "-in", rsa.join("qseal.pem").to_str().unwrap(), "-outform", "DER"], None);
    assert_eq!(cert, qseal_der, "the request carries the QSealC");
    let pubkey = openssl(&["x509", "-inform", "DER", "-pubkey", "-noout"], Some(&cert));
    std::fs::write(file("qseal-pub.pem"), pubkey).unwrap();
    let dgst_verify = |signed: &str| {
        let pubkey = file("qseal-pub.pem");
        let signature = file("signature.bin");
        Command::new("openssl")
            .args(["dgst", "-sha256", "-verify", pubkey.to_str().unwrap(), "-signature"])
            .args([signature.to_str().unwrap(), file(signed).to_str().unwrap()])
            .output()
            .unwrap()
    };
    let ok = dgst_verify("signing-string.txt");
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "Verified OK");
    // The same check fails on a signing string one character off.
    std::fs::write(file("tampered.txt"), lines.join("\n").replace("psu-4711", "psu-4712")).unwrap();
    assert!(!dgst_verify("tampered.txt").status.success());
}
