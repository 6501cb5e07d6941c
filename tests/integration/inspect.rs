//! `psd2-sign inspect` end to end: output, --require-role, and bad input (exit 2, one line).

use psd2_test_support::fixtures;

use std::sync::OnceLock;

use fixtures::{Fixtures, P12_PASSWORD};

use crate::util::{bin, run, stderr};

fn fx() -> &'static Fixtures {
    static FX: OnceLock<Fixtures> = OnceLock::new();
    FX.get_or_init(Fixtures::new)
}

fn path(name: &str) -> String {
    fx().path(name).display().to_string()
}

#[test]
fn json_report_has_the_contract_fields() {
    let o = run(&["inspect", &path("qwac-rsa.pem"), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kind"], "qwac");
    assert_eq!(v["key"]["type"], "rsa");
    assert_eq!(v["key"]["bits"], 2048);
    assert_eq!(v["key"]["curve"], serde_json::Value::Null);
    assert_eq!(v["organization_identifier"], "PSDBE-NBB-0999.888.777");
    assert_eq!(v["psd2"]["roles"], serde_json::json!(["PSP_AS", "PSP_PI", "PSP_AI", "PSP_IC"]));
    assert_eq!(v["psd2"]["nca_id"], "BE-NBB");
    assert_eq!(v["qc"]["types"], serde_json::json!(["web"]));
    assert_eq!(v["qc"]["pds"][0]["language"], "en");
    assert_eq!(v["extended_key_usage"], serde_json::json!(["serverAuth", "clientAuth"]));
    for field in ["subject", "issuer", "serial", "not_before", "not_after", "key_usage", "warnings"] {
        assert!(v.get(field).is_some(), "{field}");
    }
    assert!(v["not_after"].as_str().unwrap().ends_with('Z'));
    let o = run(&["inspect", &path("qseal-ec.pem"), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((v["kind"].as_str(), v["key"]["curve"].as_str()), (Some("qseal"), Some("P-256")));
}

#[test]
fn text_report_and_roles() {
    let o = run(&["inspect", &path("qseal-ec.pem"), "--require-role", "PSP_PI", "--require-role", "ai"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("PSD2 roles:   PSP_AS, PSP_PI, PSP_AI, PSP_IC"), "{text}");
    assert!(text.contains("QSealC"), "{text}");

    let ing = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/psd2-certs/ing-sandbox-example-qsealc.pem");
    let o = run(&["inspect", ing, "--require-role", "PSP_IC"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("missing PSD2 role PSP_IC (it has PSP_AI, PSP_AS, PSP_PI)"), "{err}");
    let o = run(&["inspect", ing, "--require-role", "PSP_XX"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown PSD2 role 'PSP_XX'"));
}

#[test]
fn pkcs12_and_key_match() {
    let dir = tempfile::tempdir().unwrap();
    let pwfile = dir.path().join("pw");
    std::fs::write(&pwfile, format!("{P12_PASSWORD}\n")).unwrap();
    let pw = pwfile.display().to_string();
    let o = run(&["inspect", &path("qseal-legacy.p12"), "--password-file", &pw]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = bin().args(["inspect", &path("qwac.p12")]).env("PSD2_SIGN_PASSWORD", P12_PASSWORD).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["inspect", &path("qwac-rsa.pem"), "--key", &path("rsa.p1.pem")]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn bad_input_exits_2_with_one_line_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let der = std::fs::read(fx().path("qwac-rsa.der")).unwrap();
    let mut pem = std::fs::read_to_string(fx().path("qwac-rsa.pem")).unwrap();
    pem.replace_range(200..204, "@@@@");
    std::fs::write(
        d.join("random.bin"),
        (0..512u32).map(|i| (i.wrapping_mul(2654435761) >> 7) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::write(d.join("truncated.der"), &der[..300]).unwrap();
    std::fs::write(d.join("broken.pem"), pem).unwrap();
    std::fs::write(d.join("empty.pem"), b"").unwrap();
    let wrong_pw = d.join("wrong-pw");
    std::fs::write(&wrong_pw, "not-the-password\n").unwrap();
    let p = |n: &str| d.join(n).display().to_string();
    let wp = wrong_pw.display().to_string();
    let cases: Vec<(Vec<String>, String, &str)> = vec![
        (vec![p("random.bin")], p("random.bin"), "not a PEM or DER certificate"),
        (vec![p("truncated.der")], p("truncated.der"), "truncated"),
        (vec![p("broken.pem")], p("broken.pem"), "broken Base64 body"),
        (vec![p("empty.pem")], p("empty.pem"), "file is empty"),
        (vec![d.display().to_string()], d.display().to_string(), "is a directory"),
        (vec![p("missing.pem")], p("missing.pem"), "no such file"),
        (
            vec![path("qwac.p12"), "--password-file".into(), wp.clone()],
            path("qwac.p12"),
            "wrong password for the PKCS#12 file",
        ),
        (vec![path("qwac.p12")], path("qwac.p12"), "PKCS#12 file is encrypted and no password was given"),
        (
            vec![path("qwac-rsa.pem"), "--key".into(), path("other.p8.pem")],
            path("qwac-rsa.pem"),
            "does not match the certificate",
        ),
        (
            vec![path("qseal-ec.pem"), "--key".into(), path("ec256.enc.pem")],
            path("ec256.enc.pem"),
            "private key is encrypted and no password was given",
        ),
        (vec![path("rsa.p8.pem")], path("rsa.p8.pem"), "contains no certificate"),
    ];
    for (args, file, expect) in cases {
        let mut full = vec!["inspect"];
        full.extend(args.iter().map(String::as_str));
        let o = run(&full);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(&format!("psd2-sign: {file}")), "{err}");
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(!err.contains("panicked") && !err.contains(P12_PASSWORD) && !err.contains("not-the-password"), "{err}");
        assert!(o.stdout.is_empty());
    }
}
