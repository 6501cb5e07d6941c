//! `psd2-sign ca serve` end to end: the URLs `ca init --base-url` writes into the certificates
//! resolve, answered to independent clients — `openssl ocsp` (good, then revoked after
//! `ca revoke`, with its nonce checked), curl for the CRL (read by `openssl crl`) and the CA
//! certificates (caIssuers), an OCSP GET (RFC 6960 A.1). Also the test profiles: a QWAC without
//! clientAuth and a 2-QWAC, read by `openssl x509 -text`.

use std::io::{BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output};

use crate::util::{bin, run, spawn_server, stderr, stdout};

const TPP: [&str; 14] = [
    "--org",
    "Example TPP NV",
    "--org-id",
    "PSDBE-NBB-0999.888.777",
    "--roles",
    "PSP_AI,PSP_PI",
    "--nca-name",
    "National Bank of Belgium",
    "--nca-id",
    "BE-NBB",
    "--domain",
    "tpp.example.com",
    "--locality",
    "Brussels",
];

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "psd2-sign {args:?} failed: {}", stderr(&o));
    stdout(&o)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A port that was free a moment ago (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A CA in `dir/ca` whose certificates point to `http://127.0.0.1:PORT/pki`.
fn init(dir: &Path, port: u16) -> PathBuf {
    let ca = dir.join("ca");
    ok(&["ca", "init", "--dir", &s(&ca), "--key-type", "p256", "--base-url", &format!("http://127.0.0.1:{port}/pki")]);
    ca
}

fn issue(ca: &Path, out: &Path, extra: &[&str]) {
    let (ca, out) = (s(ca), s(out));
    let mut args = vec!["ca", "issue", "--dir", &ca, "--type", "qwac"];
    args.extend(TPP);
    args.extend(extra);
    args.extend(["--out", &out]);
    ok(&args);
}

/// Starts `ca serve`; returns the child, its stdout and the lines up to "Ctrl-C to stop".
fn serve(ca: &Path, port: u16) -> (Child, BufReader<ChildStdout>, Vec<String>) {
    let mut cmd = bin();
    cmd.args(["ca", "serve", "--dir", &s(ca), "--listen", &format!("127.0.0.1:{port}")]);
    spawn_server(cmd, "ca serve")
}

fn tool(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd).args(args).output().unwrap()
}

/// `openssl ocsp` for `cert` against the URL in the certificate itself; returns stdout+stderr.
fn openssl_ocsp(ca: &Path, cert: &Path) -> String {
    let uri = tool("openssl", &["x509", "-in", &s(cert), "-noout", "-ocsp_uri"]);
    let url = stdout(&uri).trim().to_owned();
    let o = tool(
        "openssl",
        &[
            "ocsp",
            "-issuer",
            &s(&ca.join("qwac-ca.pem")),
            "-cert",
            &s(cert),
            "-url",
            &url,
            "-CAfile",
            &s(&ca.join("ca.pem")),
        ],
    );
    assert!(o.status.success(), "openssl ocsp: {}", stderr(&o));
    format!("{}{}", stdout(&o), stderr(&o))
}

fn curl(url: &str, out: &Path) -> String {
    let o = tool("curl", &["-sS", "-o", &s(out), "-w", "%{http_code}", url]);
    assert!(o.status.success(), "curl {url}: {}", stderr(&o));
    stdout(&o)
}

#[test]
fn ocsp_crl_and_ca_issuers_answer_openssl_and_curl() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let ca = init(tmp.path(), port);
    let qwac = tmp.path().join("qwac");
    issue(&ca, &qwac, &[]);
    let cert = qwac.with_extension("pem");
    let (child, out, lines) = serve(&ca, port);
    let base = format!("http://127.0.0.1:{port}/pki");
    assert!(lines.iter().any(|l| *l == format!("test CA listening on {base}")), "{lines:?}");

    // good; the response verifies up to ca.pem, and its nonce matches (openssl checks it by
    // default and warns when it is missing or different).
    let text = openssl_ocsp(&ca, &cert);
    assert!(text.contains("Response verify OK"), "{text}");
    assert!(text.contains(&format!("{}: good", s(&cert))), "{text}");
    assert!(!text.to_lowercase().contains("nonce"), "{text}");

    // caIssuers: the URL in the certificate serves the issuing CA's DER certificate, and the
    // root's too.
    let aia = stdout(&tool("openssl", &["x509", "-in", &s(&cert), "-noout", "-ext", "authorityInfoAccess"]));
    let ca_issuers = aia.split("CA Issuers - URI:").nth(1).unwrap().lines().next().unwrap().trim();
    assert_eq!(ca_issuers, format!("{base}/qwac-ca.cer"));
    let got = tmp.path().join("got.cer");
    for name in ["qwac-ca", "qseal-ca", "root-ca"] {
        assert_eq!(curl(&format!("{base}/{name}.cer"), &got), "200");
        assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(ca.join(format!("{name}.cer"))).unwrap(), "{name}");
    }
    for other in ["/qwac-ca.cer", "/pki/ca.pem", "/pki/ocsp/root-ca", "/pki/crl/nope.crl", "/pki/"] {
        assert_eq!(curl(&format!("http://127.0.0.1:{port}{other}"), &got), "404", "{other}");
    }

    // Revoked by another process: OCSP and the CRL say so at once.
    ok(&["ca", "revoke", "--dir", &s(&ca), &s(&cert)]);
    let text = openssl_ocsp(&ca, &cert);
    assert!(text.contains(&format!("{}: revoked", s(&cert))), "{text}");
    assert!(text.contains("Revocation Time:"), "{text}");
    let serial = stdout(&tool("openssl", &["x509", "-in", &s(&cert), "-noout", "-serial"]));
    let serial = serial.trim().trim_start_matches("serial=");
    let crl_dp = stdout(&tool("openssl", &["x509", "-in", &s(&cert), "-noout", "-ext", "crlDistributionPoints"]));
    assert!(crl_dp.contains(&format!("URI:{base}/crl/qwac-ca.crl")), "{crl_dp}");
    let crl = tmp.path().join("qwac-ca.crl");
    assert_eq!(curl(&format!("{base}/crl/qwac-ca.crl"), &crl), "200");
    let crl_text = tool("openssl", &["crl", "-inform", "DER", "-in", &s(&crl), "-noout", "-text"]);
    assert!(crl_text.status.success(), "{}", stderr(&crl_text));
    assert!(stdout(&crl_text).contains(&format!("Serial Number: {serial}")), "{}", stdout(&crl_text));

    // OCSP by GET: the base64 of the DER request in the path (percent-encoded).
    let req = tmp.path().join("req.der");
    let o = tool(
        "openssl",
        &["ocsp", "-issuer", &s(&ca.join("qwac-ca.pem")), "-cert", &s(&cert), "-no_nonce", "-reqout", &s(&req)],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let b64 = stdout(&tool("openssl", &["base64", "-A", "-in", &s(&req)]));
    let encoded = b64.trim().replace('/', "%2F").replace('+', "%2B").replace('=', "%3D");
    let resp = tmp.path().join("resp.der");
    assert_eq!(curl(&format!("{base}/ocsp/qwac-ca/{encoded}"), &resp), "200");
    let o = tool(
        "openssl",
        &[
            "ocsp",
            "-respin",
            &s(&resp),
            "-issuer",
            &s(&ca.join("qwac-ca.pem")),
            "-cert",
            &s(&cert),
            "-CAfile",
            &s(&ca.join("ca.pem")),
        ],
    );
    assert!(stdout(&o).contains(": revoked"), "{}{}", stdout(&o), stderr(&o));

    // Ctrl-C: a clean stop.
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let (mut child, mut out) = (child, out);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(rest.contains("test CA server stopped"), "{rest}");
}

#[test]
fn a_busy_port_is_one_error_line() {
    let tmp = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let ca = init(tmp.path(), port);
    let o = run(&["ca", "serve", "--dir", &s(&ca), "--listen", &format!("127.0.0.1:{port}")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with(&format!("psd2-sign: --listen 127.0.0.1:{port}: cannot listen on")), "{err}");
}

/// The EKU and policy lines of `openssl x509 -text`.
fn eku_and_policies(cert: &Path) -> (String, String) {
    let text = stdout(&tool("openssl", &["x509", "-in", &s(cert), "-noout", "-text"]));
    let after = |h: &str| {
        let i = text.find(h).unwrap_or_else(|| panic!("{h} missing: {text}"));
        text[i + h.len()..].lines().nth(1).unwrap().trim().to_owned()
    };
    let policies: Vec<&str> = text.lines().filter_map(|l| l.trim().strip_prefix("Policy: ")).collect();
    (after("X509v3 Extended Key Usage:"), policies.join(","))
}

#[test]
fn a_qwac_without_client_auth_and_a_2_qwac() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = init(tmp.path(), 80);
    let (std_q, no_ca, two) = (tmp.path().join("std"), tmp.path().join("noca"), tmp.path().join("two"));
    issue(&ca, &std_q, &[]);
    issue(&ca, &no_ca, &["--no-client-auth"]);
    let ca_s = s(&ca);
    let two_s = s(&two);
    let mut args = vec!["ca", "issue", "--dir", &ca_s, "--type", "2-qwac"];
    args.extend(TPP);
    args.extend(["--out", &two_s]);
    assert!(ok(&args).starts_with("issued 2-QWAC serial "));

    let ev = "2.23.140.1.1,0.4.0.194112.1.4,0.4.0.19495.3.1";
    assert_eq!(
        eku_and_policies(&std_q.with_extension("pem")),
        ("TLS Web Server Authentication, TLS Web Client Authentication".into(), ev.into())
    );
    assert_eq!(eku_and_policies(&no_ca.with_extension("pem")), ("TLS Web Server Authentication".into(), ev.into()));
    assert_eq!(
        eku_and_policies(&two.with_extension("pem")),
        ("0.4.0.194115.1.0".into(), "0.4.0.194112.1.6,0.4.0.19495.3.1".into())
    );
    // Both still chain to the test root; the one without clientAuth is no TLS client.
    let chain = |p: &Path| s(&p.with_file_name(format!("{}-chain.pem", p.file_name().unwrap().to_str().unwrap())));
    let verify = |p: &Path, purpose: &str| {
        tool(
            "openssl",
            &[
                "verify",
                "-purpose",
                purpose,
                "-CAfile",
                &s(&ca.join("ca.pem")),
                "-untrusted",
                &chain(p),
                &s(&p.with_extension("pem")),
            ],
        )
        .status
        .success()
    };
    assert!(verify(&no_ca, "sslserver"));
    assert!(!verify(&no_ca, "sslclient"));
    assert!(verify(&std_q, "sslclient"));

    for (extra, needle) in [
        (&["--type", "2-qwac", "--no-client-auth"][..], "--no-client-auth: a 2-QWAC"),
        (&["--type", "qseal", "--no-client-auth"][..], "--no-client-auth is for QWACs"),
        (&["--type", "3-qwac"][..], "--type '3-qwac': expected qwac, qseal or 2-qwac"),
    ] {
        let out = s(&tmp.path().join("x"));
        let mut args = vec!["ca", "issue", "--dir", &ca_s];
        args.extend(extra);
        args.extend(&TPP[..10]);
        args.extend(["--out", &out]);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{}", stderr(&o));
        assert_eq!(stderr(&o).trim_end().lines().count(), 1);
    }
}

/// Issue 12 end to end: against `ca serve`, `check` passes an unrevoked QWAC through OCSP and the
/// CRL; after `ca revoke` it is FAIL through both, and the sandbox (reading the CA's CRL) refuses
/// it in the TLS handshake, while the QSealC of the same TPP still passes.
#[test]
fn a_revoked_qwac_fails_check_through_ocsp_and_crl_and_the_sandbox_handshake() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let ca = init(tmp.path(), port);
    let qwac = tmp.path().join("qwac");
    issue(&ca, &qwac, &[]);
    let qseal = tmp.path().join("qseal");
    let mut args = vec!["ca", "issue", "--dir", ca.to_str().unwrap(), "--type", "qseal"];
    // The TPP without the QWAC's domain and locality.
    args.extend(TPP.iter().take_while(|a| **a != "--domain"));
    let qseal_s = s(&qseal);
    args.extend(["--out", &qseal_s]);
    ok(&args);
    let (mut server, _out, _lines) = serve(&ca, port);
    let chain = |p: &Path| s(&p.with_file_name(format!("{}-chain.pem", p.file_name().unwrap().to_str().unwrap())));
    let check = || {
        let o = run(&[
            "check",
            "--qwac",
            &chain(&qwac),
            "--qseal",
            &chain(&qseal),
            "--ca",
            &s(&ca.join("ca.pem")),
            "--for",
            "AIS,PIS",
        ]);
        (o.status.code(), stdout(&o))
    };
    let status = |out: &str, id: &str, who: &str| -> String {
        out.lines()
            .find(|l| {
                l.split_whitespace().nth(1) == Some(id) && l.split_whitespace().nth(2) == Some(&format!("{who}:"))
            })
            .unwrap_or_else(|| panic!("no {id} {who} in {out}"))
            .to_owned()
    };
    let (code, out) = check();
    for who in ["qwac", "qseal"] {
        assert!(status(&out, "ocsp", who).starts_with("PASS"), "{out}");
        assert!(status(&out, "crl", who).starts_with("PASS"), "{out}");
    }
    assert_eq!(code, Some(0), "{out}");
    // The leaf alone: its issuing CA is fetched from the caIssuers URL ca serve publishes.
    let o = run(&[
        "check",
        "--qwac",
        &s(&qwac.with_extension("pem")),
        "--qseal",
        &chain(&qseal),
        "--ca",
        &s(&ca.join("ca.pem")),
        "--for",
        "AIS,PIS",
    ]);
    let out = stdout(&o);
    let line = status(&out, "chain", "qwac");
    assert!(line.starts_with("PASS") && line.contains("(issuer fetched from http://127.0.0.1:"), "{out}");
    assert!(status(&out, "ocsp", "qwac").starts_with("PASS"), "{out}");

    ok(&["ca", "revoke", "--dir", &s(&ca), &s(&qwac.with_extension("pem"))]);
    let (code, out) = check();
    assert_eq!(code, Some(1), "{out}");
    assert!(
        status(&out, "ocsp", "qwac").starts_with("FAIL") && status(&out, "ocsp", "qwac").contains("REVOKED"),
        "{out}"
    );
    assert!(
        status(&out, "crl", "qwac").starts_with("FAIL") && status(&out, "crl", "qwac").contains("REVOKED"),
        "{out}"
    );
    assert!(
        status(&out, "ocsp", "qseal").starts_with("PASS") && status(&out, "crl", "qseal").starts_with("PASS"),
        "{out}"
    );
    let _ = Command::new("kill").args(["-INT", &server.id().to_string()]).status();
    let _ = server.wait();

    // The sandbox trusts this CA and reads its CRL: the revoked QWAC is refused in the handshake.
    ok(&["ca", "crl", "--dir", &s(&ca)]);
    let secret = tmp.path().join("secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let sport = free_port();
    let mut cmd = bin();
    cmd.args(["sandbox", "--listen", &format!("127.0.0.1:{sport}"), "--ca", &s(&ca.join("ca.pem"))])
        .args([
            "--crl",
            &s(&ca.join("crl").join("qwac-ca.crl")),
            "--client-id",
            "tpp",
            "--client-secret-file",
            &s(&secret),
        ])
        .args(["--qseal", &s(&qseal.with_extension("pem")), "--server-ca-out", &s(&tmp.path().join("server-ca.pem"))]);
    let (mut sandbox, _o, _l) = spawn_server(cmd, "sandbox");
    let o = tool(
        "curl",
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--cacert",
            &s(&tmp.path().join("server-ca.pem")),
            "--cert",
            &chain(&qwac),
            "--key",
            &s(&qwac.with_extension("key")),
            &format!("https://127.0.0.1:{sport}/accounts"),
        ],
    );
    let _ = Command::new("kill").args(["-INT", &sandbox.id().to_string()]).status();
    let _ = sandbox.wait();
    assert!(!o.status.success(), "curl got through: {} {}", stdout(&o), stderr(&o));
    let err = stderr(&o).to_lowercase();
    assert!(err.contains("revoked") || err.contains("alert") || err.contains("ssl"), "{err}");
}
