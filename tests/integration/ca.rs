//! `psd2-sign ca` and `psd2-sign csr` end to end, cross-checked with the openssl CLI: the
//! "Must show" list of the test-CA issue.

use psd2_test_support::{openssl, softhsm};

use std::path::{Path, PathBuf};
use std::process::Stdio;

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
    let nodomain = e.path("nodomain.csr");
    let err = input_error(&csr_args(&key, "qwac", &nodomain, &[]));
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

    // Our verifier, bank side: a seal by the revoked QSealC fails with --crl, the good one passes.
    let root = format!("{}/ca.pem", e.ca());
    let url = "https://api.bank.example/v1/accounts";
    for (who, revoked) in [(&good, false), (&bad, true)] {
        let signed = ok(&[
            "sign",
            "--profile",
            "berlin-group",
            "--key",
            &format!("{who}.key"),
            "--cert",
            &format!("{who}.pem"),
            "--method",
            "GET",
            "--url",
            url,
            "--format",
            "headers",
        ]);
        let mut args: Vec<String> =
            ["verify", "--profile", "berlin-group", "--method", "GET", "--url", url].map(String::from).to_vec();
        for line in signed.lines() {
            args.extend(["-H".to_owned(), line.to_owned()]);
        }
        args.extend(["--cert", &format!("{who}-chain.pem"), "--ca", &root, "--crl", &crl_der].map(String::from));
        let o = crate::util::bin().args(&args).output().unwrap();
        let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        if revoked {
            assert_eq!(o.status.code(), Some(1), "{out}{err}");
            assert!(err.contains(&format!("(serial {serial}) is revoked since ")), "{err}");
        } else {
            assert!(o.status.success(), "{err}");
            assert!(out.contains("revocation: good (CRL "), "{out}");
        }
    }
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
    check(base(&[("--type", "qsig")]), "--type 'qsig': expected qwac, qseal or 2-qwac");

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

/// `psd2-sign csr` for organisation `X`, `PSDBE-NBB-1`, then `extra` flags.
fn csr_args<'a>(key: &'a str, kind: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["csr", "--key", key, "--type", kind, "--org", "X", "--org-id", "PSDBE-NBB-1", "--out", out];
    v.extend(extra);
    v
}

/// The serial numbers `openssl crl -text` lists in the DER CRL `crl`, lower case.
fn crl_serials(crl: &str) -> Vec<String> {
    let (good, text) = openssl::output(&["crl", "-inform", "DER", "-in", crl, "-noout", "-text"]);
    assert!(good, "{text}");
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect()
}

fn serial(cert: &str) -> String {
    psd2_eidas::load::load_certificates(Path::new(cert), None).unwrap().remove(0).serial_hex()
}

#[test]
fn a_damaged_database_line_is_an_error_and_no_revocation_is_lost() {
    let e = Env::new("p256");
    let ca = e.ca();
    let first = e.issue("qseal", "first", &[]);
    let second = e.issue("qseal", "second", &[]);
    let third = e.issue("qseal", "third", &[]);
    ok(&["ca", "revoke", "--dir", &ca, &format!("{first}.pem")]);
    ok(&["ca", "revoke", "--dir", &ca, &format!("{second}.pem")]);
    let crl = format!("{ca}/crl/qseal-ca.crl");
    let both = vec![serial(&format!("{first}.pem")), serial(&format!("{second}.pem"))];
    assert_eq!(crl_serials(&crl), both, "both revocations survive in the CRL");
    // Rewriting the CRLs (a new process reading the database again) keeps them.
    ok(&["ca", "crl", "--dir", &ca]);
    assert_eq!(crl_serials(&crl), both);

    // A bad timestamp on the second line: every command using the database names it.
    let db = format!("{ca}/db/qseal-ca.revoked");
    let good_db = std::fs::read_to_string(&db).unwrap();
    let mut lines: Vec<String> = good_db.lines().map(String::from).collect();
    lines[1] = lines[1].replacen(' ', " 17x", 1);
    let damaged = lines.join("\n") + "\n";
    std::fs::write(&db, &damaged).unwrap();
    let crl_before = std::fs::read(&crl).unwrap();
    for args in [vec!["ca", "crl", "--dir", &ca], vec!["ca", "revoke", "--dir", &ca, &format!("{third}.pem")]] {
        let err = input_error(&args);
        assert!(err.contains(&format!("{db}: line 2: bad revocation time '17x")), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&db).unwrap(), damaged, "the damaged database is not rewritten");
    assert_eq!(std::fs::read(&crl).unwrap(), crl_before, "the CRL still lists both");
    assert_eq!(crl_serials(&crl), both);

    // Other damage: control characters (escaped in the message), a wrong field count, a bad
    // serial; and an unknown kind in the issued database.
    for (line, needle) in [
        ("4a01 1780000000 CN=\u{1b}[2J", "line 3: contains control characters: '4a01 1780000000 CN=\\u{1b}[2J'"),
        ("4a01 1780000000", "line 3: expected 3 fields"),
        ("4g01 1780000000 CN=x", "line 3: bad serial number '4g01'"),
    ] {
        std::fs::write(&db, format!("{good_db}{line}\n")).unwrap();
        let err = input_error(&["ca", "crl", "--dir", &ca]);
        assert!(err.contains(&format!("{db}: {needle}")), "{err}");
        assert!(!err.contains('\u{1b}'), "{err}");
    }
    std::fs::write(&db, &good_db).unwrap();
    let issued = format!("{ca}/db/qseal-ca.issued");
    let issued_before = std::fs::read_to_string(&issued).unwrap();
    std::fs::write(&issued, format!("{issued_before}4a01 qsig 1780000000 CN=x\n")).unwrap();
    let out = e.path("fourth");
    let mut args = vec!["ca", "issue", "--dir", &ca, "--type", "qseal", "--out", &out];
    args.extend(TPP);
    let err = input_error(&args);
    assert!(err.contains(&format!("{issued}: line 4: unknown certificate kind 'qsig'")), "{err}");
    assert!(!Path::new(&format!("{out}.pem")).exists());

    // Repaired, the third revocation joins the other two.
    std::fs::write(&issued, &issued_before).unwrap();
    ok(&["ca", "revoke", "--dir", &ca, &format!("{third}.pem")]);
    let mut all = both.clone();
    all.push(serial(&format!("{third}.pem")));
    assert_eq!(crl_serials(&crl), all);
    let leftovers: Vec<_> = std::fs::read_dir(format!("{ca}/db"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|d| d.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn revoke_refuses_the_root() {
    let e = Env::new("p256");
    let ca = e.ca();
    let err = input_error(&["ca", "revoke", "--dir", &ca, &format!("{ca}/ca.pem")]);
    assert!(err.contains("refusing to revoke the root CA certificate"), "{err}");
    assert!(err.contains(&serial(&format!("{ca}/ca.pem"))), "{err}");
    assert!(!Path::new(&format!("{ca}/db/root-ca.revoked")).exists(), "nothing recorded");
    // An issuing CA can be revoked: it is listed in the root's CRL (the ARL).
    ok(&["ca", "revoke", "--dir", &ca, &format!("{ca}/qwac-ca.pem")]);
    assert_eq!(crl_serials(&format!("{ca}/crl/root-ca.crl")), vec![serial(&format!("{ca}/qwac-ca.pem"))]);
}

#[test]
fn issue_refuses_a_certificate_outliving_its_issuing_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca").display().to_string();
    ok(&["ca", "init", "--dir", &ca, "--key-type", "p256", "--days", "30"]);
    let ca_cert = psd2_eidas::load::load_certificates(Path::new(&format!("{ca}/qseal-ca.pem")), None).unwrap();
    let na = ca_cert[0].not_after();
    let ca_date = format!("{} {:02}:{:02}:{:02} UTC", na.date(), na.hour(), na.minute(), na.second());
    let out = tmp.path().join("seal").display().to_string();
    for (days, needle) in [(Some("31"), "--days 31: a certificate valid for 31 days would expire "), (None, "365 days")]
    {
        let mut args = vec!["ca", "issue", "--dir", &ca, "--type", "qseal", "--out", &out];
        args.extend(TPP);
        if let Some(d) = days {
            args.extend(["--days", d]);
        }
        let err = input_error(&args);
        assert!(err.contains(needle), "{err}");
        assert!(err.contains(&format!("after its issuing CA qseal-ca expires ({ca_date})")), "{err}");
        // 30 days from the CA's notBefore; 29 once a second has passed since `ca init`.
        assert!(
            ["at most 30 days are possible", "at most 29 days are possible"].iter().any(|m| err.contains(m)),
            "{err}"
        );
        assert!(!Path::new(&format!("{out}.pem")).exists(), "nothing issued");
    }
    // Within the CA's lifetime it is issued.
    let mut args = vec!["ca", "issue", "--dir", &ca, "--type", "qseal", "--out", &out, "--days", "20"];
    args.extend(TPP);
    ok(&args);
}

#[test]
fn out_naming_a_directory_is_refused() {
    let e = Env::new("p256");
    let ca = e.ca();
    let dir = e.path("outdir");
    std::fs::create_dir(&dir).unwrap();
    let key = format!("{ca}/qseal-ca.key");
    for out in [format!("{dir}/"), dir.clone(), e.path("missing/")] {
        let mut args = vec!["ca", "issue", "--dir", &ca, "--type", "qseal", "--out", &out];
        args.extend(TPP);
        let err = input_error(&args);
        assert!(err.contains(&format!("--out {out}: is a directory; a file path is wanted")), "{err}");
        let err = input_error(&csr_args(&key, "qseal", &out, &[]));
        assert!(err.contains(&format!("--out {out}: is a directory; a file path is wanted")), "{err}");
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing written into the directory");
    assert!(!Path::new(&e.path("missing")).exists());
}

#[test]
fn csr_refuses_control_characters_like_ca_issue() {
    let e = Env::new("p256");
    let ca = e.ca();
    let key = format!("{ca}/qseal-ca.key");
    let csr_out = e.path("r.csr");
    let issue_out = e.path("r");
    for (flag, value, shown) in [
        (
            "--org",
            "Example\u{1b}[31m TPP",
            "invalid organization name: 'Example\\u{1b}[31m TPP' contains control characters",
        ),
        ("--org-id", "PSDBE-NBB-1\n2", "invalid organizationIdentifier: 'PSDBE-NBB-1\\n2' contains control characters"),
        ("--org", "Example TPP\n", "invalid organization name: 'Example TPP\\n' contains control characters"),
        ("--country", "B\u{7}", "invalid country: 'B\\u{7}' contains control characters"),
    ] {
        let mut csr = csr_args(&key, "qseal", &csr_out, &[]);
        let i = csr.iter().position(|a| *a == flag).map(|i| i + 1);
        match i {
            Some(i) => csr[i] = value,
            None => csr.extend([flag, value]),
        }
        let csr_err = input_error(&csr);
        assert!(csr_err.contains(shown), "{csr_err}");
        assert!(!csr_err.chars().any(|c| c.is_control() && c != '\n'), "{csr_err:?}");
        assert!(!Path::new(&csr_out).exists());
        // ca issue says the same about the same value.
        let mut issue = vec!["ca", "issue", "--dir", &ca, "--type", "qseal", "--out", &issue_out];
        let mut tpp: Vec<&str> = TPP.to_vec();
        match tpp.iter().position(|a| *a == flag) {
            Some(i) => tpp[i + 1] = value,
            None => tpp.extend([flag, value]),
        }
        issue.extend(tpp);
        let issue_err = input_error(&issue);
        assert!(issue_err.contains(shown), "{issue_err}");
    }
    // A domain with a control character, escaped too.
    let err = input_error(&csr_args(&key, "qwac", &csr_out, &["--domain", "tpp\t.example.com"]));
    assert!(err.contains("'tpp\\t.example.com'"), "{err}");
}

#[test]
fn a_corrupted_ca_folder_is_one_line_naming_the_file() {
    let e = Env::new("p256");
    let ca = e.ca();
    let read = |f: &str| std::fs::read(format!("{ca}/{f}")).unwrap();
    let key = read("qseal-ca.key");
    let cert = read("qseal-ca.pem");
    let copy = e.path("copy");
    type Damage = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Damage, &str)> = vec![
        ("missing key", Box::new(|d| std::fs::remove_file(d.join("qwac-ca.key")).unwrap()), "qwac-ca.key is missing"),
        ("missing root", Box::new(|d| std::fs::remove_file(d.join("ca.pem")).unwrap()), "ca.pem is missing"),
        ("missing base-url", Box::new(|d| std::fs::remove_file(d.join("base-url")).unwrap()), "base-url is missing"),
        (
            "truncated key",
            Box::new(move |d| std::fs::write(d.join("qseal-ca.key"), &key[..key.len() / 2]).unwrap()),
            "qseal-ca.key: ",
        ),
        (
            "truncated certificate",
            Box::new(move |d| std::fs::write(d.join("qseal-ca.pem"), &cert[..cert.len() / 2]).unwrap()),
            "qseal-ca.pem: ",
        ),
        (
            "key where the certificate belongs",
            Box::new(|d| std::fs::copy(d.join("ca.key"), d.join("qwac-ca.pem")).map(drop).unwrap()),
            "qwac-ca.pem: contains no certificate",
        ),
        (
            "certificate where the key belongs",
            Box::new(|d| std::fs::copy(d.join("ca.pem"), d.join("ca.key")).map(drop).unwrap()),
            "ca.key: contains no private key",
        ),
        (
            "a directory where the key belongs",
            Box::new(|d| {
                std::fs::remove_file(d.join("ca.key")).unwrap();
                std::fs::create_dir(d.join("ca.key")).unwrap();
            }),
            "ca.key: is a directory",
        ),
        (
            "a file where the database directory belongs",
            Box::new(|d| {
                std::fs::remove_dir_all(d.join("db")).unwrap();
                std::fs::write(d.join("db"), "x").unwrap();
            }),
            "db: not a directory",
        ),
        (
            "a directory where a database file belongs",
            Box::new(|d| std::fs::create_dir_all(d.join("db/qseal-ca.revoked")).unwrap()),
            "qseal-ca.revoked: ",
        ),
        (
            "another CA's certificate",
            Box::new(|d| std::fs::copy(d.join("qwac-ca.pem"), d.join("qseal-ca.pem")).map(drop).unwrap()),
            "the qseal-ca key does not match its certificate",
        ),
    ];
    for (what, damage, needle) in cases {
        let _ = std::fs::remove_dir_all(&copy);
        let o = std::process::Command::new("cp").args(["-a", &ca, &copy]).output().unwrap();
        assert!(o.status.success());
        damage(Path::new(&copy));
        let err = input_error(&["ca", "crl", "--dir", &copy]);
        assert!(err.contains(needle), "{what}: {err}");
        assert!(err.contains(&copy), "{what}: names the CA directory's file: {err}");
        assert!(!err.contains("ca init"), "{what}: a damaged CA is not a missing one: {err}");
    }
}

#[test]
fn concurrent_revocations_are_all_kept() {
    let e = Env::new("p256");
    let ca = e.ca();
    let certs: Vec<String> = (0..6).map(|i| format!("{}.pem", e.issue("qseal", &format!("c{i}"), &[]))).collect();
    let children: Vec<_> = certs
        .iter()
        .map(|c| bin().args(["ca", "revoke", "--dir", &ca, c]).stdout(Stdio::null()).spawn().unwrap())
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let mut expected: Vec<String> = certs.iter().map(|c| serial(c)).collect();
    expected.sort();
    let mut listed = crl_serials(&format!("{ca}/crl/qseal-ca.crl"));
    listed.sort();
    assert_eq!(listed, expected, "every revocation is in the last CRL written");
}
