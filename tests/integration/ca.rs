//! `psd2-sign ca` and `psd2-sign csr` end to end, cross-checked with the openssl CLI: the
//! "Must show" list of the test-CA issue.

use psd2_test_support::{openssl, softhsm};

use std::path::{Path, PathBuf};

use crate::util::{bin, run};

const TPP: [&str; 10] = [
    "--org",
    "Example TPP NV",
    "--org-id",
    "PSDBE-NBB-0999.888.777",
    "--roles",
    "PSP_AS,PSP_PI,AI,IC",
    "--nca-name",
    "National Bank of Belgium",
    "--nca-id",
    "BE-NBB",
];

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "psd2-sign {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs and expects exit 2 with exactly one line on stderr; returns that line.
fn input_error(args: &[&str]) -> String {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "psd2-sign {args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line expected: {err}");
    assert!(err.starts_with("psd2-sign: "), "{err}");
    err
}

struct Env {
    tmp: tempfile::TempDir,
}

impl Env {
    fn new(key_type: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let e = Self { tmp };
        ok(&["ca", "init", "--dir", &e.ca(), "--key-type", key_type]);
        e
    }

    fn ca(&self) -> String {
        self.path("ca")
    }

    fn path(&self, name: &str) -> String {
        self.tmp.path().join(name).display().to_string()
    }

    fn issue(&self, kind: &str, out: &str, extra: &[&str]) -> String {
        let out = self.path(out);
        let ca = self.ca();
        let mut args = vec!["ca", "issue", "--dir", &ca, "--type", kind];
        args.extend(TPP);
        if kind == "qwac" {
            args.extend(["--domain", "tpp.example.com", "--locality", "Brussels"]);
        }
        args.extend(extra);
        args.extend(["--out", &out]);
        ok(&args);
        out
    }

    fn verify(&self, prefix: &str, extra: &[&str]) -> (bool, String) {
        let ca = format!("{}/ca.pem", self.ca());
        let chain = format!("{prefix}-chain.pem");
        let leaf = format!("{prefix}.pem");
        let mut args = vec!["verify"];
        args.extend(extra);
        args.extend(["-CAfile", &ca, "-untrusted", &chain, &leaf]);
        openssl::output(&args)
    }
}

#[test]
fn issued_certificates_verify_and_inspect_reports_them() {
    for key_type in ["rsa2048", "p256"] {
        let e = Env::new(key_type);
        let files: Vec<String> =
            std::fs::read_dir(e.ca()).unwrap().map(|d| d.unwrap().file_name().to_string_lossy().into_owned()).collect();
        for f in ["ca.pem", "ca.key", "qwac-ca.pem", "qseal-ca.pem", "README.txt"] {
            assert!(files.iter().any(|x| x == f), "{f} missing in {files:?}");
        }
        for (kind, json_kind) in [("qwac", "qwac"), ("qseal", "qseal")] {
            let prefix = e.issue(kind, kind, &[]);
            let (good, out) = e.verify(&prefix, &[]);
            assert!(good, "{key_type} {kind}: {out}");
            let chain = std::fs::read_to_string(format!("{prefix}-chain.pem")).unwrap();
            assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2, "leaf and issuing CA");
            let json = ok(&["inspect", "--json", &format!("{prefix}.pem")]);
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(v["kind"], json_kind, "{json}");
            assert_eq!(v["organization_identifier"], "PSDBE-NBB-0999.888.777");
            assert_eq!(v["psd2"]["roles"], serde_json::json!(["PSP_AS", "PSP_PI", "PSP_AI", "PSP_IC"]));
            assert_eq!(v["psd2"]["nca_name"], "National Bank of Belgium");
            assert_eq!(v["psd2"]["nca_id"], "BE-NBB");
            assert_eq!(v["warnings"], serde_json::json!([]), "{json}");
            ok(&["inspect", &format!("{prefix}.pem"), "--require-role", "PSP_PI", "--require-role", "AI"]);
        }
        // The QWAC is a TLS client certificate.
        let (good, out) = e.verify(&e.path("qwac"), &["-purpose", "sslclient"]);
        assert!(good, "{out}");
        let (_, text) = openssl::output(&["x509", "-in", &e.path("qwac.pem"), "-noout", "-text"]);
        for needle in [
            "Policy: 2.23.140.1.1",
            "Policy: 0.4.0.194112.1.4",
            "Policy: 0.4.0.19495.3.1",
            "qcStatements",
            "2.23.140.3.1",
            "CA Issuers",
            "OCSP",
            "CRL Distribution Points",
            "CA:FALSE",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
    }
}

#[test]
fn qwac_days_beyond_the_cabf_maximum_warn() {
    let e = Env::new("p256");
    let mut args = vec!["ca", "issue", "--dir"];
    let ca = e.ca();
    let out = e.path("long");
    args.push(&ca);
    args.extend(["--type", "qwac", "--domain", "tpp.example.com", "--state", "Brussels-Capital"]);
    args.extend(TPP);
    args.extend(["--days", "3650", "--out", &out]);
    let o = run(&args);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("warning") && err.contains("CA/Browser Forum maximum"), "{err}");
    // The default is within it: the CABF maximum on the day of issue (199 days until 2027-03-15,
    // then 99, then 46; the schedule itself is tested with pinned dates in psd2-ca).
    let prefix = e.issue("qwac", "short", &[]);
    let (_, dates) = openssl::output(&["x509", "-in", &format!("{prefix}.pem"), "-noout", "-startdate", "-enddate"]);
    let c = psd2_eidas::load::load_certificates(Path::new(&format!("{prefix}.pem")), None).unwrap().remove(0);
    let days = (c.not_after() - c.not_before() + time::Duration::SECOND).whole_days();
    assert_eq!(days, i64::from(psd2_ca::cabf_max_days(c.not_before())), "{dates}");
    assert!([199, 99, 46].contains(&days), "{dates}");
}

#[test]
fn openssl_csr_is_issued_and_own_csr_verifies() {
    let e = Env::new("rsa2048");
    let key = e.path("openssl.key");
    let csr = e.path("openssl.csr");
    let (good, out) = openssl::output(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &key,
        "-subj",
        "/CN=from-openssl",
        "-out",
        &csr,
    ]);
    assert!(good, "{out}");
    let prefix = e.issue("qwac", "partner", &["--csr", &csr]);
    assert!(!Path::new(&format!("{prefix}.key")).exists(), "no key written with --csr");
    let (good, out) = e.verify(&prefix, &[]);
    assert!(good, "{out}");
    let (_, a) = openssl::output(&["pkey", "-in", &key, "-pubout"]);
    let (_, b) = openssl::output(&["x509", "-in", &format!("{prefix}.pem"), "-noout", "-pubkey"]);
    assert_eq!(a, b, "the certificate holds the CSR's key");

    // psd2-sign csr with a key made by the CA (and with the openssl key).
    for (k, kind, extra) in [
        (format!("{}/qseal-ca.key", e.ca()), "qseal", vec![]),
        (key.clone(), "qwac", vec!["--domain", "tpp.example.com"]),
    ] {
        let out = e.path(&format!("own-{kind}.csr"));
        let mut args = vec![
            "csr",
            "--key",
            &k,
            "--type",
            kind,
            "--org",
            "Example TPP NV",
            "--org-id",
            "PSDBE-NBB-0999.888.777",
            "--out",
            &out,
        ];
        args.extend(extra.iter());
        ok(&args);
        let (good, text) = openssl::output(&["req", "-in", &out, "-noout", "-verify", "-text"]);
        assert!(good, "{text}");
        let cn = if kind == "qwac" { "tpp.example.com" } else { "Example TPP NV" };
        assert!(
            text.contains(&format!(
                "Subject: C = BE, O = Example TPP NV, organizationIdentifier = PSDBE-NBB-0999.888.777, CN = {cn}"
            )),
            "{text}"
        );
        // And the CA issues for it.
        e.issue(kind, &format!("own-{kind}"), &["--csr", &out]);
    }
    let err = input_error(&[
        "csr",
        "--key",
        &key,
        "--type",
        "qwac",
        "--org",
        "X",
        "--org-id",
        "PSDBE-NBB-1",
        "--out",
        &e.path("nodomain.csr"),
    ]);
    assert!(err.contains("domain"), "{err}");
    assert!(!Path::new(&e.path("nodomain.csr")).exists());
}

#[test]
fn revoked_certificate_is_in_the_crl_and_rejected() {
    let e = Env::new("p256");
    let good = e.issue("qseal", "good", &[]);
    let bad = e.issue("qseal", "bad", &[]);
    let out = ok(&["ca", "revoke", "--dir", &e.ca(), &format!("{bad}.pem")]);
    assert!(out.contains("revoked serial"), "{out}");
    let crls = ok(&["ca", "crl", "--dir", &e.ca()]);
    assert!(crls.contains("crl/qseal-ca.crl"), "{crls}");
    let crl_der = format!("{}/crl/qseal-ca.crl", e.ca());
    let crl_pem = format!("{}/crl/qseal-ca.crl.pem", e.ca());
    let serial =
        psd2_eidas::load::load_certificates(Path::new(&format!("{bad}.pem")), None).unwrap().remove(0).serial_hex();
    let (good_crl, text) = openssl::output(&["crl", "-inform", "DER", "-in", &crl_der, "-noout", "-text"]);
    assert!(good_crl, "{text}");
    assert!(text.to_lowercase().contains(&format!("serial number: {serial}")), "{text}");
    let (ok_bad, out) = e.verify(&bad, &["-crl_check", "-CRLfile", &crl_pem]);
    assert!(!ok_bad && out.contains("certificate revoked"), "{out}");
    let (ok_good, out) = e.verify(&good, &["-crl_check", "-CRLfile", &crl_pem]);
    assert!(ok_good, "{out}");
}

#[test]
fn bad_input_exits_2_with_one_line_and_writes_nothing() {
    let e = Env::new("p256");
    let ca = e.ca();
    let out = e.path("x");
    let base = |over: &[(&str, &str)]| -> Vec<String> {
        let mut v: Vec<String> =
            ["ca", "issue", "--dir", &ca, "--type", "qseal", "--out", &out].iter().map(|s| s.to_string()).collect();
        let mut tpp: Vec<String> = TPP.iter().map(|s| s.to_string()).collect();
        for (flag, value) in over {
            if let Some(i) = tpp.iter().position(|a| a == flag) {
                tpp[i + 1] = value.to_string();
            } else if let Some(i) = v.iter().position(|a| a == flag) {
                v[i + 1] = value.to_string();
            } else {
                v.extend([flag.to_string(), value.to_string()]);
            }
        }
        v.extend(tpp);
        v
    };
    let check = |args: Vec<String>, needle: &str| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = input_error(&refs);
        assert!(err.contains(needle), "{err} should mention {needle}");
        for f in ["x.pem", "x-chain.pem", "x.key"] {
            assert!(!e.tmp.path().join(f).exists(), "{f} written after: {err}");
        }
    };
    check(base(&[("--org-id", "PSDBE-NBB")]), "organizationIdentifier");
    check(base(&[("--org-id", "PSD-BE-NBB-1")]), "organizationIdentifier");
    check(base(&[("--roles", "PSP_AI,PSP_XX")]), "unknown PSD2 role 'PSP_XX'");
    check(base(&[("--nca-id", "NL-DNB")]), "does not agree");
    check(base(&[("--type", "qwac"), ("--domain", "tpp.local"), ("--locality", "Brussels")]), "public DNS name");
    check(base(&[("--type", "qwac"), ("--domain", "tpp.example.com")]), "locality or a state");
    check(base(&[("--key-type", "rsa1024")]), "key type");
    check(base(&[("--type", "qsig")]), "qwac or qseal");

    // A CSR with a bad signature.
    let key = e.path("k.key");
    let csr = e.path("k.csr");
    let (good, o) = openssl::output(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &key,
        "-subj",
        "/CN=x",
        "-outform",
        "DER",
        "-out",
        &csr,
    ]);
    assert!(good, "{o}");
    let mut der = std::fs::read(&csr).unwrap();
    let n = der.len();
    der[n - 2] ^= 0x40;
    std::fs::write(&csr, der).unwrap();
    check(base(&[("--csr", &csr)]), "signature does not verify");

    // A missing CA directory.
    let missing = e.path("no-such-ca");
    let mut args = base(&[]);
    args[3] = missing.clone();
    check(args, "not a test CA directory");

    // Existing output files: nothing replaced.
    let prefix = e.issue("qseal", "exists", &[]);
    let before = std::fs::read(format!("{prefix}.pem")).unwrap();
    std::fs::remove_file(format!("{prefix}-chain.pem")).unwrap();
    let mut args = vec!["ca", "issue", "--dir", &ca, "--type", "qseal", "--out", &prefix];
    args.extend(TPP);
    let err = input_error(&args);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(format!("{prefix}.pem")).unwrap(), before);
    assert!(!Path::new(&format!("{prefix}-chain.pem")).exists(), "nothing half-written");

    // ca init on an existing CA, and revoke with a foreign certificate.
    let err = input_error(&["ca", "init", "--dir", &ca]);
    assert!(err.contains("--force"), "{err}");
    let other = Env::new("p256");
    let foreign = other.issue("qseal", "foreign", &[]);
    let err = input_error(&["ca", "revoke", "--dir", &ca, &format!("{foreign}.pem")]);
    assert!(err.contains("not issued by this CA"), "{err}");
    let err = input_error(&[
        "csr",
        "--key",
        &e.path("none.key"),
        "--type",
        "qseal",
        "--org",
        "X",
        "--org-id",
        "PSDBE-NBB-1",
        "--out",
        &e.path("n.csr"),
    ]);
    assert!(err.contains("none.key"), "{err}");
    let err =
        input_error(&["csr", "--key", &key, "--type", "qseal", "--org", "X", "--org-id", "PSDBE-NBB-1", "--out", &csr]);
    assert!(err.contains("already exists"), "{err}");
}

#[cfg(unix)]
#[test]
fn key_files_are_mode_0600() {
    use std::os::unix::fs::PermissionsExt as _;
    let e = Env::new("p256");
    let prefix = e.issue("qwac", "tls", &[]);
    let keys: Vec<PathBuf> = ["ca.key", "qwac-ca.key", "qseal-ca.key"]
        .iter()
        .map(|k| Path::new(&e.ca()).join(k))
        .chain([PathBuf::from(format!("{prefix}.key"))])
        .collect();
    for k in keys {
        assert_eq!(std::fs::metadata(&k).unwrap().permissions().mode() & 0o777, 0o600, "{}", k.display());
    }
    let (good, out) = openssl::output(&["pkey", "-in", &format!("{prefix}.key"), "-noout", "-check"]);
    assert!(good, "{out}");
}

#[test]
fn committed_test_pki_is_consistent() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-certs");
    for set in ["rsa", "ec"] {
        let dir = root.join(set);
        for kind in ["qwac", "qseal"] {
            let leaf = dir.join(format!("{kind}.pem"));
            let chain = dir.join(format!("{kind}-chain.pem"));
            let (good, out) = openssl::output(&[
                "verify",
                "-CAfile",
                dir.join("ca.pem").to_str().unwrap(),
                "-untrusted",
                chain.to_str().unwrap(),
                leaf.to_str().unwrap(),
            ]);
            assert!(good, "{set}/{kind}: {out}");
            let json = ok(&["inspect", "--json", leaf.to_str().unwrap()]);
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(v["kind"], kind);
            assert_eq!(v["psd2"]["roles"], serde_json::json!(["PSP_AS", "PSP_PI", "PSP_AI", "PSP_IC"]));
            let password = std::fs::read_to_string(root.join("password.txt")).unwrap();
            let (good, out) = openssl::output(&[
                "pkcs12",
                "-in",
                dir.join(format!("{kind}.p12")).to_str().unwrap(),
                "-noout",
                "-passin",
                &format!("pass:{}", password.trim()),
            ]);
            assert!(good, "{set}/{kind}.p12: {out}");
        }
        assert!(std::fs::read_to_string(dir.join("README.txt")).unwrap().contains("NOT FOR PRODUCTION"));
    }
}

#[test]
fn csr_for_a_pkcs11_key_is_verified_and_issued() {
    let _serial = softhsm::serial();
    let Some(h) = softhsm::hsm() else { return };
    let e = Env::new("p256");
    for (object, kind, extra) in
        [("qseal-rsa", "qseal", vec![]), ("qwac-ec", "qwac", vec!["--domain", "tpp.example.com"])]
    {
        let out = e.path(&format!("{object}.csr"));
        let uri = h.uri(object);
        let mut args = vec![
            "csr",
            "--key",
            &uri,
            "--type",
            kind,
            "--org",
            "Example TPP NV",
            "--org-id",
            "PSDBE-NBB-0999.888.777",
            "--out",
            &out,
        ];
        args.extend(extra.iter());
        let o = bin().args(&args).env(psd2_eidas::PIN_ENV, softhsm::PIN).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let (good, text) = openssl::output(&["req", "-in", &out, "-noout", "-verify", "-subject"]);
        assert!(good, "{text}");
        assert!(text.contains("organizationIdentifier = PSDBE-NBB-0999.888.777"), "{text}");
        let prefix = e.issue(kind, object, &["--csr", &out]);
        let (good, text) = e.verify(&prefix, &[]);
        assert!(good, "{text}");
        // The certificate holds the token's public key.
        let token_pub = h.dir.path().join(format!("{object}.pub.der"));
        let (_, a) = openssl::output(&["pkey", "-pubin", "-inform", "DER", "-in", token_pub.to_str().unwrap()]);
        let (_, b) = openssl::output(&["x509", "-in", &format!("{prefix}.pem"), "-noout", "-pubkey"]);
        assert_eq!(a, b);
    }
}

#[test]
fn init_force_replaces_the_ca_and_its_database() {
    let e = Env::new("p256");
    let before = std::fs::read(format!("{}/ca.pem", e.ca())).unwrap();
    let prefix = e.issue("qseal", "old", &[]);
    ok(&["ca", "revoke", "--dir", &e.ca(), &format!("{prefix}.pem")]);
    ok(&["ca", "init", "--dir", &e.ca(), "--key-type", "p384", "--force"]);
    assert_ne!(std::fs::read(format!("{}/ca.pem", e.ca())).unwrap(), before);
    let (_, text) = openssl::output(&["x509", "-in", &format!("{}/ca.pem", e.ca()), "-noout", "-text"]);
    assert!(text.contains("secp384r1") || text.contains("P-384"), "{text}");
    assert!(!Path::new(&format!("{}/db/qseal-ca.revoked", e.ca())).exists(), "old revocations are gone");
    // The old certificate no longer chains to the new root.
    let (good, _) = e.verify(&prefix, &[]);
    assert!(!good);
    let fresh = e.issue("qseal", "new", &[]);
    let (good, out) = e.verify(&fresh, &[]);
    assert!(good, "{out}");
}
