//! `psd2-sign sign` / `psd2-sign verify` end to end: the JSON contract, sign → verify round trips
//! for every profile, tampering (exit 1 naming the header), bad input (exit 2), openssl checks.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use psd2_test_support::fixtures;

use crate::util::{bin, run, stderr as err};

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        let d = Self(tempfile::tempdir().unwrap());
        let seal = psd2_test_support::openssl::seal_config(d.0.path()).display().to_string();
        for (name, alg) in [("rsa", "rsa:2048"), ("other", "rsa:2048")] {
            fixtures::openssl(
                d.0.path(),
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    alg,
                    "-nodes",
                    "-keyout",
                    &d.p(&format!("{name}.key")),
                    "-out",
                    &d.p(&format!("{name}.pem")),
                    "-days",
                    "5",
                    "-set_serial",
                    "0x00E1D2",
                    "-subj",
                    "/C=BE/O=Test TPP SA/organizationIdentifier=PSDBE-NBB-0999.888.777/CN=Test TPP Seal",
                    "-config",
                    &seal,
                    "-extensions",
                    "seal",
                ],
            );
        }
        fixtures::openssl(d.0.path(), &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &d.p("ec.key")]);
        fixtures::openssl(
            d.0.path(),
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                &d.p("ec.key"),
                "-out",
                &d.p("ec.pem"),
                "-days",
                "5",
                "-subj",
                "/C=BE/O=Test TPP SA/CN=Test EC Seal",
                "-config",
                &seal,
                "-extensions",
                "seal",
            ],
        );
        fixtures::openssl(d.0.path(), &["x509", "-in", &d.p("rsa.pem"), "-pubkey", "-noout", "-out", &d.p("rsa.pub")]);
        std::fs::write(d.path("body.json"), br#"{"instructedAmount":{"currency":"EUR","amount":"12.34"}}"#).unwrap();
        std::fs::write(d.path("tampered.json"), br#"{"instructedAmount":{"currency":"EUR","amount":"99.99"}}"#)
            .unwrap();
        d
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

const URL: &str = "https://api.bank.example/v1/payments/sepa-credit-transfers?lang=en&x=A%20B";

/// Runs `sign --format json` and returns the parsed output.
fn sign_json(d: &Dir, profile: &str, key: &str, extra: &[&str]) -> serde_json::Value {
    let (k, c) = (d.p(&format!("{key}.key")), d.p(&format!("{key}.pem")));
    let body = d.p("body.json");
    let mut args = vec!["sign", "--profile", profile, "--key", &k, "--cert", &c, "--method", "POST", "--url", URL];
    args.extend_from_slice(&["-H", "Content-Type: application/json", "-H", "PSU-ID: PSU-42", "--body", &body]);
    args.extend_from_slice(&["--format", "json"]);
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(o.status.success(), "sign {profile}: {}", err(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

/// Runs `verify` with the headers of a `sign --format json` output.
fn verify_with(d: &Dir, profile: &str, signed: &serde_json::Value, body: &str, extra: &[&str]) -> Output {
    let body = d.p(body);
    let mut args: Vec<String> =
        ["verify", "--profile", profile, "--method", "POST", "--url", URL, "--body", &body].map(String::from).to_vec();
    for (n, v) in signed["headers"].as_object().unwrap() {
        args.push("-H".into());
        args.push(format!("{n}: {}", v.as_str().unwrap()));
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    bin().args(&args).output().unwrap()
}

#[test]
fn sign_json_contract() {
    let d = Dir::new();
    let v = sign_json(&d, "berlin-group", "rsa", &["-H", "X-Request-ID: 3f6c4d3e-0000-4000-8000-000000000001"]);
    let h = v["headers"].as_object().unwrap();
    // Given headers verbatim, added ones present.
    assert_eq!(h["Content-Type"], "application/json");
    assert_eq!(h["PSU-ID"], "PSU-42");
    assert_eq!(h["X-Request-ID"], "3f6c4d3e-0000-4000-8000-000000000001");
    for name in ["Digest", "Date", "TPP-Signature-Certificate", "Signature"] {
        assert!(h.contains_key(name), "{name} missing: {v}");
    }
    assert!(h["Date"].as_str().unwrap().ends_with(" GMT"));
    let ss = v["signing_string"].as_str().unwrap();
    assert_eq!(
        ss,
        format!(
            "digest: {}\nx-request-id: 3f6c4d3e-0000-4000-8000-000000000001\npsu-id: PSU-42",
            h["Digest"].as_str().unwrap()
        )
    );
    let sig = h["Signature"].as_str().unwrap();
    assert!(sig.starts_with(r#"keyId="SN=e1d2,CA=CN=Test%20TPP%20Seal,2.5.4.97=#"#), "{sig}");
    assert!(sig.contains(r#",algorithm="rsa-sha256",headers="digest x-request-id psu-id",signature=""#), "{sig}");
}

#[test]
fn sign_then_verify_every_profile() {
    let d = Dir::new();
    let fp = {
        let o = Command::new("openssl")
            .args(["x509", "-in", &d.p("rsa.pem"), "-noout", "-fingerprint", "-sha256"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().rsplit('=').next().unwrap().replace(':', "").to_lowercase()
    };
    let stet_url = format!("https://tpp.example/qseal_{fp}");
    let rsa_cert = d.p("rsa.pem");
    let cases: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        ("berlin-group", vec![], vec![]),
        ("berlin-group", vec!["--sign-date", "--cover", "(request-target)"], vec![]),
        ("belfius-fallback", vec!["-H", "Client-Id: my-client"], vec!["--cert", &rsa_cert]),
        ("belfius-pis", vec![], vec!["--cert", &rsa_cert]),
        ("belfius-pis", vec!["--base64url"], vec!["--cert", &rsa_cert]),
        ("stet", vec!["--key-id", &stet_url], vec!["--cert", &rsa_cert]),
        ("ing", vec![], vec![]),
        ("ing", vec!["--key-id", "my-client-id"], vec!["--key-id", "my-client-id", "--cert", &rsa_cert]),
        ("rfc9421", vec![], vec![]),
        ("rfc9421", vec!["--alg", "rsa-v1_5-sha256"], vec![]),
    ];
    for (profile, sign_extra, verify_extra) in cases {
        let v = sign_json(&d, profile, "rsa", &sign_extra);
        let o = verify_with(&d, profile, &v, "body.json", &verify_extra);
        assert!(o.status.success(), "{profile} {sign_extra:?}: {}", err(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.starts_with("OK: "), "{out}");
    }
    for profile in ["berlin-group", "rfc9421", "stet"] {
        let extra: &[&str] = if profile == "stet" { &["--key-id", "https://tpp.example/qseal.pem"] } else { &[] };
        let v = sign_json(&d, profile, "ec", extra);
        let ec_cert = d.p("ec.pem");
        let vx: &[&str] = if profile == "stet" { &["--cert", &ec_cert] } else { &[] };
        let o = verify_with(&d, profile, &v, "body.json", vx);
        assert!(o.status.success(), "EC {profile}: {}", err(&o));
    }
}

#[test]
fn tampering_exits_1_naming_the_header() {
    let d = Dir::new();
    let v = sign_json(&d, "berlin-group", "rsa", &[]);
    // Changed body.
    let o = verify_with(&d, "berlin-group", &v, "tampered.json", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let e = err(&o);
    assert!(
        e.starts_with("psd2-sign: verification failed (berlin-group): Digest header: SHA-256 digest mismatch"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
    // Changed signed header; --explain shows the string the verifier rebuilt.
    let mut t = v.clone();
    t["headers"]["PSU-ID"] = "PSU-43".into();
    let o = verify_with(&d, "berlin-group", &t, "body.json", &["--explain"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("Signature header: signature does not verify"), "{}", err(&o));
    assert!(err(&o).contains("\npsu-id: PSU-43\n-----\n"), "{}", err(&o));
    // Removed signed header.
    let mut t = v.clone();
    t["headers"].as_object_mut().unwrap().remove("X-Request-ID");
    let o = verify_with(&d, "berlin-group", &t, "body.json", &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("missing header x-request-id"), "{}", err(&o));
    // Another certificate expected.
    let other = d.p("other.pem");
    let o = verify_with(&d, "berlin-group", &v, "body.json", &["--cert", &other]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("TPP-Signature-Certificate header: the certificate sent"), "{}", err(&o));
    // An upper-case keyId is accepted, with a note about exact-string verifiers.
    let u = sign_json(&d, "berlin-group", "rsa", &["--key-id", "SN=E1D2"]);
    let o = verify_with(&d, "berlin-group", &u, "body.json", &[]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(err(&o).contains("would refuse it; it expects SN=e1d2,CA=CN=Test%20TPP%20Seal"), "{}", err(&o));
    // Wrong keyId serial.
    let w = sign_json(&d, "berlin-group", "rsa", &["--key-id", "SN=e1d3,CA=CN=Test TPP Seal"]);
    let o = verify_with(&d, "berlin-group", &w, "body.json", &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("keyId serial e1d3 does not match the certificate serial e1d2"), "{}", err(&o));
    // The verifier's clock is far from Date.
    let hour_later = (time::OffsetDateTime::now_utc() + time::Duration::hours(1)).unix_timestamp().to_string();
    let o = verify_with(&d, "berlin-group", &v, "body.json", &["--now", &hour_later]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("Date "), "{}", err(&o));
    assert!(err(&o).contains("more than the allowed 5m 0s"), "{}", err(&o));
    // RFC 9421: body change is reported on Content-Digest.
    let r = sign_json(&d, "rfc9421", "rsa", &[]);
    let o = verify_with(&d, "rfc9421", &r, "tampered.json", &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("Content-Digest header"), "{}", err(&o));
}

#[test]
fn pinned_time_and_old_dates() {
    let d = Dir::new();
    let v = sign_json(&d, "belfius-fallback", "rsa", &["--now", "2018-08-04T12:23:34Z"]);
    assert_eq!(v["headers"]["Date"], "2018-08-04T12:23:34Z");
    assert!(v["headers"]["Digest"].as_str().unwrap().starts_with("SHA256="));
    let rsa_cert = d.p("rsa.pem");
    let o = verify_with(&d, "belfius-fallback", &v, "body.json", &["--cert", &rsa_cert]);
    assert_eq!(o.status.code(), Some(1), "a 2018 Date is outside the window today");
    // At the pinned time the Date fits, but the certificate (made today) was not valid in 2018:
    // the verifier refuses, naming the certificate.
    let o =
        verify_with(&d, "belfius-fallback", &v, "body.json", &["--cert", &rsa_cert, "--now", "2018-08-04T12:25:00Z"]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("is not valid before"), "{}", err(&o));
    let o = verify_with(&d, "belfius-fallback", &v, "body.json", &["--cert", &rsa_cert, "--skew", "100000h"]);
    assert!(o.status.success(), "{}", err(&o));
}

#[test]
fn bad_input_exits_2() {
    let d = Dir::new();
    let (k, c) = (d.p("rsa.key"), d.p("rsa.pem"));
    let base = ["sign", "--key", &k, "--cert", &c, "--method", "GET", "--url", URL];
    for (extra, want) in [
        (vec!["--profile", "nordea"], "unknown profile 'nordea'"),
        (vec!["--profile", "berlin-group", "-H", "no colon"], "expected 'Name: value'"),
        (vec!["--profile", "stet"], "profile stet needs the https URL"),
        (vec!["--profile", "berlin-group", "--body", "/nonexistent/body"], "--body /nonexistent/body"),
    ] {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(&extra);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", err(&o));
        assert!(err(&o).contains(want), "{extra:?}: {}", err(&o));
    }
    let o =
        run(&["verify", "--profile", "berlin-group", "--method", "GET", "--url", URL, "--cert", "/nonexistent.pem"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    // Verifying a request without a signature is a failed check, not a crash.
    let o = run(&["verify", "--profile", "berlin-group", "--method", "GET", "--url", URL]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("missing header Digest"), "{}", err(&o));
    let o = run(&[
        "verify",
        "--profile",
        "berlin-group",
        "--method",
        "GET",
        "--url",
        URL,
        "-H",
        "Digest: SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        "-H",
        "Signature: keyId=\"x",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("malformed Signature header"), "{}", err(&o));
}

#[test]
fn headers_and_curl_formats_with_explain() {
    let d = Dir::new();
    let (k, c, body) = (d.p("rsa.key"), d.p("rsa.pem"), d.p("body.json"));
    let common =
        ["sign", "--profile", "ing", "--key", &k, "--cert", &c, "--method", "POST", "--url", URL, "--body", &body];
    let mut args = common.to_vec();
    args.extend_from_slice(&["--format", "headers", "--explain"]);
    let o = run(&args);
    assert!(o.status.success(), "{}", err(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.lines().any(|l| l.starts_with("Authorization: Signature keyId=\"SN=E1D2\"")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("TPP-Signature-Certificate: -----BEGIN CERTIFICATE-----")), "{out}");
    let explain = err(&o);
    assert!(explain.contains("(request-target): post /v1/payments/sepa-credit-transfers?lang=en&x=A%20B\ndate: "));
    let mut args = common.to_vec();
    args.extend_from_slice(&["--format", "curl"]);
    let o = run(&args);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with(&format!("curl -X POST '{URL}'")), "{out}");
    assert!(out.contains(&format!("--data-binary '@{body}'")), "{out}");
}

#[test]
fn openssl_verifies_the_printed_signing_string() {
    let d = Dir::new();
    let v = sign_json(&d, "berlin-group", "rsa", &[]);
    std::fs::write(d.path("ss.txt"), v["signing_string"].as_str().unwrap()).unwrap();
    let sig = v["headers"]["Signature"].as_str().unwrap();
    let b64 = sig.split("signature=\"").nth(1).unwrap().trim_end_matches('"');
    std::fs::write(d.path("sig.b64"), b64).unwrap();
    fixtures::openssl(d.0.path(), &["base64", "-d", "-A", "-in", &d.p("sig.b64"), "-out", &d.p("sig.bin")]);
    let o = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify", &d.p("rsa.pub"), "-signature", &d.p("sig.bin"), &d.p("ss.txt")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "Verified OK");
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("openssl dgst -sha256 -binary {} | openssl base64 -A", d.p("body.json")))
        .output()
        .unwrap();
    assert_eq!(v["headers"]["Digest"].as_str().unwrap(), format!("SHA-256={}", String::from_utf8_lossy(&o.stdout)));
    let _ = Path::new("");
}

/// The committed test PKI (test-certs/): a QSealC under an issuing CA under a root.
#[test]
fn committed_test_pki_chain_and_pkcs12() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/test-certs");
    if !Path::new(&format!("{root}/rsa/qseal.p12")).exists() {
        return;
    }
    let d = Dir::new();
    let (p12, pw) = (format!("{root}/rsa/qseal.p12"), format!("{root}/password.txt"));
    let body = d.p("body.json");
    let o = run(&[
        "sign",
        "--profile",
        "berlin-group",
        "--key",
        &p12,
        "--password-file",
        &pw,
        "--method",
        "POST",
        "--url",
        URL,
        "--body",
        &body,
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let chain = format!("{root}/rsa/qseal-chain.pem");
    let (rsa_root, ec_root) = (format!("{root}/rsa/ca.pem"), format!("{root}/ec/ca.pem"));
    // Root as trust anchor, issuing CA from the chain file.
    let o = verify_with(&d, "berlin-group", &v, "body.json", &["--cert", &chain, "--ca", &rsa_root]);
    assert!(o.status.success(), "{}", err(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.lines().any(|l| l.starts_with("chain: validated to ") && l.contains("Root")), "{out}");
    let o = verify_with(&d, "berlin-group", &v, "body.json", &["--cert", &chain]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("chain: not checked (no --ca given)"), "{}", err(&o));
    // Issuing CA itself as trust anchor, certificate from the header.
    let issuing = format!("{root}/rsa/qseal-ca.pem");
    let o = verify_with(&d, "berlin-group", &v, "body.json", &["--ca", &issuing]);
    assert!(o.status.success(), "{}", err(&o));
    // Another PKI's root: refused.
    let o = verify_with(&d, "berlin-group", &v, "body.json", &["--cert", &chain, "--ca", &ec_root]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("was not issued by any given CA"), "{}", err(&o));
    // The EC QSealC with its PEM key.
    let (k, c) = (format!("{root}/ec/qseal.key"), format!("{root}/ec/qseal.pem"));
    let o = run(&[
        "sign",
        "--profile",
        "rfc9421",
        "--key",
        &k,
        "--cert",
        &c,
        "--method",
        "POST",
        "--url",
        URL,
        "--body",
        &body,
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["headers"]["Signature-Input"].as_str().unwrap().contains(r#"alg="ecdsa-p256-sha256""#));
    let ec_chain = format!("{root}/ec/qseal-chain.pem");
    let o = verify_with(&d, "rfc9421", &v, "body.json", &["--cert", &ec_chain, "--ca", &ec_root]);
    assert!(o.status.success(), "{}", err(&o));
}

#[test]
fn an_expired_certificate_is_refused_by_name() {
    // A QSealC from a test CA that expired 300 days ago.
    let d = Dir::new();
    let ca_dir = d.p("ca");
    let ca = psd2_ca::CertificateAuthority::init(
        ca_dir.as_ref(),
        &psd2_ca::InitOptions { key_type: psd2_ca::KeyType::P256, ..Default::default() },
    )
    .unwrap();
    let subject = psd2_ca::Psd2Subject {
        organization: "Expired TPP".into(),
        organization_identifier: "PSDBE-NBB-0999.888.777".into(),
        roles: vec![psd2_eidas::Role::PaymentInitiation],
        nca_name: "National Bank of Belgium".into(),
        nca_id: "BE-NBB".into(),
        country: None,
    };
    let mut req = psd2_ca::IssueRequest::new(psd2_ca::CertKind::Qseal, subject);
    let issued_at = time::OffsetDateTime::now_utc() - time::Duration::days(330);
    req.not_before = Some(issued_at);
    req.days = Some(30);
    ca.issue(&req).unwrap().write(d.path("old").as_ref()).unwrap();
    let (k, c) = (d.p("old.key"), d.p("old.pem"));
    // Signing now is refused before anything is signed, naming the certificate and the date.
    let o = run(&["sign", "--profile", "berlin-group", "--key", &k, "--cert", &c, "--method", "GET", "--url", URL]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("CN=Expired TPP") && err(&o).contains("expired on"), "{}", err(&o));
    // Sealed at a time it was valid (--now), the bank refuses it today for the same reason.
    let when = (issued_at + time::Duration::days(1)).unix_timestamp().to_string();
    let body = d.p("body.json");
    let o = run(&[
        "sign",
        "--profile",
        "berlin-group",
        "--key",
        &k,
        "--cert",
        &c,
        "--method",
        "POST",
        "--url",
        URL,
        "--body",
        &body,
        "--now",
        &when,
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let o = verify_with(&d, "berlin-group", &v, "body.json", &["--skew", "100000h"]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("TPP-Signature-Certificate") && err(&o).contains("expired on"), "{}", err(&o));
}

/// The verifier is strict like a bank: a non-QSealC signer is refused under berlin-group unless
/// the development flag is given (then a warning); the output says whether freshness was checked;
/// a duplicate Signature header is refused naming it.
#[test]
fn verify_is_strict_and_says_what_it_checked() {
    let d = Dir::new();
    let cnf = d.path("plain.cnf");
    std::fs::write(&cnf, "[req]\ndistinguished_name = dn\n[dn]\n[x]\nbasicConstraints = critical, CA:FALSE\n").unwrap();
    fixtures::openssl(
        d.0.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &d.p("plain.key"),
            "-out",
            &d.p("plain.pem"),
            "-days",
            "5",
            "-subj",
            "/C=BE/O=Plain SA/CN=Not a seal",
            "-config",
            &d.p("plain.cnf"),
            "-extensions",
            "x",
        ],
    );
    let v = sign_json(&d, "berlin-group", "plain", &[]);
    let o = verify_with(&d, "berlin-group", &v, "body.json", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(
        err(&o).contains("cannot seal under profile berlin-group: it is not a QSealC (no QcType eseal, 0.4.0.1862.1.6.2); it carries no PSD2 role"),
        "{}",
        err(&o)
    );
    let o = verify_with(&d, "berlin-group", &v, "body.json", &["--dangerous-skip-eidas-checks"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("psd2-sign: warning: eIDAS checks skipped (dangerous): it is not a QSealC"),
        "{}",
        err(&o)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("\nfreshness: not checked: the signature covers neither Date nor created"), "{out}");

    // The QSealC under stet: Date is signed and checked.
    let fp = psd2_eidas::load::load_certificates(&d.path("rsa.pem"), None).unwrap()[0].fingerprint_sha256();
    let url = format!("https://tpp.example/qseal_{fp}");
    let v = sign_json(&d, "stet", "rsa", &["--key-id", &url]);
    let o = verify_with(&d, "stet", &v, "body.json", &["--cert", &d.p("rsa.pem")]);
    assert!(o.status.success(), "{}", err(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("freshness: checked: the signed Date is within the clock-skew window"), "{out}");

    // A second Signature header line.
    let v = sign_json(&d, "berlin-group", "rsa", &[]);
    let sig = format!("Signature: {}", v["headers"]["Signature"].as_str().unwrap());
    let o = verify_with(&d, "berlin-group", &v, "body.json", &["-H", &sig]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("header Signature appears 2 times: a sealed request carries it once"), "{}", err(&o));
}
