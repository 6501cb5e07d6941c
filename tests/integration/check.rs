//! `check`: the preflight of a QWAC and a QSealC, and of a renewal, on certificates issued by the
//! test CA (`ca init` / `ca issue` as child processes, and `openssl ca` from the committed CAs for
//! what `ca issue` will not make), each with its verdict; the fields cross-checked with openssl.
//! Every clock is `--now`.

use psd2_test_support::fixtures::{issue_by_test_ca, psd2_config};
use psd2_test_support::{certs, openssl, softhsm};

use crate::util::{bin, run, stderr, stdout};

/// Inside the validity of every certificate used here.
const NOW: &str = "2027-01-15T00:00:00Z";

/// An hour from now: inside the validity of certificates `ca issue` makes during the test (the
/// committed PKI and the fixed-date fixtures use [`NOW`] instead).
fn issued_now() -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

/// `check` at [`NOW`] with the given arguments.
fn check(args: &[&str]) -> (i32, String) {
    check_at(NOW, args)
}

/// `check` at `now`.
fn check_at(now: &str, args: &[&str]) -> (i32, String) {
    let o = run(&[&["check", "--now", now], args].concat());
    assert!(o.status.code() == Some(0) || o.status.code() == Some(1), "{args:?}: {}", stderr(&o));
    assert_eq!(stderr(&o), "", "{args:?}");
    (o.status.code().unwrap(), stdout(&o))
}

/// The line of check `id` on `subject` (`qwac`, `qseal`, `both`, `new`).
fn line<'a>(out: &'a str, id: &str, subject: &str) -> &'a str {
    out.lines()
        .find(|l| {
            let mut f = l.split_whitespace();
            f.nth(1) == Some(id) && f.next() == Some(&format!("{subject}:"))
        })
        .unwrap_or_else(|| panic!("no {id} {subject} in:\n{out}"))
}

fn fails(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with("FAIL"))
        .map(|l| l.split_whitespace().take(3).skip(1).collect::<Vec<_>>().join(" "))
        .collect()
}

fn rsa(name: &str) -> String {
    certs::path("rsa", name)
}

fn good_args() -> Vec<String> {
    [
        "--qwac",
        &rsa("qwac-chain.pem"),
        "--qwac-key",
        &rsa("qwac.key"),
        "--qseal",
        &rsa("qseal-chain.pem"),
        "--qseal-key",
        &rsa("qseal.key"),
        "--ca",
        &rsa("ca.pem"),
    ]
    .map(str::to_owned)
    .to_vec()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn the_committed_pki_passes_and_the_clock_moves_it_out_of_validity() {
    let good = good_args();
    let (code, out) = check(&[refs(&good), vec!["--bank", "belfius"]].concat());
    assert_eq!(code, 0, "{out}");
    assert!(fails(&out).is_empty(), "{out}");
    for subject in ["qwac", "qseal"] {
        for id in ["key-match", "qc-compliance", "qc-type", "roles", "nca", "key-type", "chain", "validity"] {
            assert!(line(&out, id, subject).starts_with("PASS"), "{id} {subject}: {out}");
        }
    }
    assert!(line(&out, "client-auth-sunset", "qwac").starts_with("WARN"));
    // openssl agrees: clientAuth present, and the notAfter.
    let (_, text) = openssl::output(&["x509", "-in", &rsa("qwac.pem"), "-noout", "-text", "-enddate"]);
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(text.contains("notAfter=Nov 23 03:27:25 2036 GMT"), "{text}");
    assert!(line(&out, "validity", "qwac").contains("valid to 2036-11-23T03:27:25Z"));

    // Expired and not yet valid, by the verifier's clock.
    let o = run(&[vec!["check", "--now", "2037-01-01T00:00:00Z"], refs(&good)].concat());
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(fails(&stdout(&o)), ["validity qwac:", "validity qseal:"]);
    assert!(line(&stdout(&o), "validity", "qwac").contains("expired on 2036-11-23T03:27:25Z"));
    let o = run(&[vec!["check", "--now", "2026-01-01T00:00:00Z"], refs(&good)].concat());
    assert_eq!(o.status.code(), Some(1));
    assert!(line(&stdout(&o), "validity", "qseal").contains("not yet valid: valid from 2026-11-26"));
    // Ten days before the end: a WARN, not a failure.
    let o = run(&[vec!["check", "--now", "2036-11-13T03:27:25Z"], refs(&good)].concat());
    assert_eq!(o.status.code(), Some(0));
    assert!(line(&stdout(&o), "validity", "qwac").starts_with("WARN  validity"));
    let o = run(&[vec!["check", "--now", "2036-11-13T03:27:25Z", "--warn-days", "5"], refs(&good)].concat());
    assert!(line(&stdout(&o), "validity", "qwac").starts_with("PASS"));
}

#[test]
fn json_and_prometheus() {
    let good = good_args();
    let (code, out) = check(&[refs(&good), vec!["--json"]].concat());
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "warn");
    let checks = v["checks"].as_array().unwrap();
    assert!(checks.iter().any(|c| c["id"] == "chain" && c["subject"] == "qseal" && c["status"] == "pass"));
    let serial = openssl::output(&["x509", "-in", &rsa("qwac.pem"), "-noout", "-serial"]).1;
    let serial = serial.trim().trim_start_matches("serial=").to_ascii_lowercase();
    assert_eq!(v["certificates"][0]["serial"], serial.trim_start_matches('0'));
    assert_eq!(v["certificates"][0]["days_left"], 3600);

    let (code, out) = check(&[refs(&good), vec!["--format", "prometheus", "--for", "AIS"]].concat());
    assert_eq!(code, 0);
    let days = format!(
        "psd2_sign_certificate_days_left{{certificate=\"qwac\",serial=\"{}\"}} 3600",
        v["certificates"][0]["serial"].as_str().unwrap()
    );
    assert!(out.lines().any(|l| l == days), "{out}");
    assert!(out.contains("psd2_sign_check{id=\"roles\",certificate=\"qseal\",status=\"pass\"} 1\n"), "{out}");
    assert!(out.contains("psd2_sign_check{id=\"roles\",certificate=\"qseal\",status=\"fail\"} 0\n"));
    assert!(out.contains("psd2_sign_checks_failed 0\n"));
    // Every sample line is `name{labels} value`, every series once.
    let samples: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
    for l in &samples {
        let (series, value) = l.rsplit_once(' ').unwrap();
        assert!(value.parse::<i64>().is_ok() && series.starts_with("psd2_sign_"), "{l}");
    }
    let mut series: Vec<&str> = samples.iter().map(|l| l.rsplit_once(' ').unwrap().0).collect();
    series.sort_unstable();
    let n = series.len();
    series.dedup();
    assert_eq!(series.len(), n, "a series twice");
}

/// A test CA made by `ca init`, issuing with `ca issue`.
struct Ca {
    tmp: tempfile::TempDir,
}

impl Ca {
    fn new() -> Self {
        let ca = Self { tmp: tempfile::tempdir().unwrap() };
        let o = run(&["ca", "init", "--dir", &ca.path("ca"), "--key-type", "p256"]);
        assert!(o.status.success(), "{}", stderr(&o));
        ca
    }

    fn path(&self, name: &str) -> String {
        self.tmp.path().join(name).display().to_string()
    }

    fn issue_args(&self, kind: &str, out: &str, org_id: &str, roles: &str) -> Vec<String> {
        let mut a: Vec<String> = ["ca", "issue", "--dir", &self.path("ca"), "--type", kind, "--org", "Example TPP NV"]
            .map(str::to_owned)
            .to_vec();
        a.extend(["--org-id", org_id, "--roles", roles, "--nca-name", "National Bank of Belgium"].map(str::to_owned));
        a.extend(["--nca-id", "BE-NBB", "--out", &self.path(out)].map(str::to_owned));
        if kind == "qwac" {
            a.extend(["--domain", "tpp.example.com", "--locality", "Brussels"].map(str::to_owned));
        }
        a
    }

    /// Issues and returns the chain file.
    fn issue(&self, kind: &str, out: &str, org_id: &str, roles: &str, extra: &[&str]) -> String {
        let mut a = self.issue_args(kind, out, org_id, roles);
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        let o = run(&refs(&a));
        assert!(o.status.success(), "{}", stderr(&o));
        self.path(&format!("{out}-chain.pem"))
    }
}

const ORG: &str = "PSDBE-NBB-0999.888.777";

#[test]
fn test_ca_fixtures_roles_organisations_and_renewal() {
    let ca = Ca::new();
    let now = issued_now();
    let anchor = ca.path("ca/ca.pem");
    let qwac = ca.issue("qwac", "qwac", ORG, "PSP_AI,PSP_PI", &["--days", "200"]);
    let seal_ai = ca.issue("qseal", "qseal-ai", ORG, "PSP_AI", &[]);
    // openssl agrees the QSealC has no PSP_PI (0.4.0.19495.1.2) but PSP_AI.
    let (_, text) = openssl::output(&["x509", "-in", &ca.path("qseal-ai.pem"), "-noout", "-text"]);
    assert!(text.contains("PSP_AI") && !text.contains("PSP_PI"), "{text}");

    let (code, out) = check_at(&now, &["--qwac", &qwac, "--qseal", &seal_ai, "--ca", &anchor, "--for", "PIS"]);
    assert_eq!(code, 1);
    assert_eq!(fails(&out), ["roles qseal:"]);
    assert!(line(&out, "roles", "qseal").contains("lacks PSP_PI (for PIS); it has PSP_AI"), "{out}");
    let (code, out) = check_at(&now, &["--qwac", &qwac, "--qseal", &seal_ai, "--ca", &anchor, "--for", "AIS"]);
    assert_eq!(code, 0, "{out}");
    // CAF needs PSP_IC in the QWAC.
    let (_, out) = check_at(&now, &["--qwac", &qwac, "--qseal", &seal_ai, "--ca", &anchor, "--for", "ais,caf"]);
    assert_eq!(fails(&out), ["roles qwac:"]);
    assert!(line(&out, "roles", "qwac").contains("lacks PSP_IC (for CAF)"));

    // Another organisation in the QSealC.
    let other = ca.issue("qseal", "other", "PSDBE-NBB-0111.222.333", "PSP_AI,PSP_PI", &[]);
    let (code, out) = check_at(&now, &["--qwac", &qwac, "--qseal", &other, "--ca", &anchor, "--for", "AIS,PIS"]);
    assert_eq!(code, 1);
    assert_eq!(fails(&out), ["organisation both:"]);
    assert!(line(&out, "organisation", "both").contains("PSDBE-NBB-0111.222.333"));

    // Without the anchor of this CA: the chain stops at its root, named.
    let (_, out) = check_at(&now, &["--qwac", &qwac, "--qseal", &seal_ai, "--ca", &rsa("ca.pem"), "--for", "AIS"]);
    assert!(line(&out, "chain", "qwac").starts_with("FAIL"), "{out}");
    // The leaf alone: the issuing CA is missing, with its caIssuers URL (not fetched).
    let (_, out) =
        check_at(&now, &["--qwac", &ca.path("qwac.pem"), "--qseal", &seal_ai, "--ca", &anchor, "--for", "AIS"]);
    let chain = line(&out, "chain", "qwac");
    let (_, aia) = openssl::output(&["x509", "-in", &ca.path("qwac.pem"), "-noout", "-ext", "authorityInfoAccess"]);
    let url = aia.lines().find_map(|l| l.trim().strip_prefix("CA Issuers - URI:")).unwrap();
    assert!(chain.starts_with("FAIL") && chain.contains(&format!("caIssuers {url} (not fetched)")), "{chain}");

    // The NCA must agree with the organizationIdentifier: ca issue refuses otherwise.
    let mut a = ca.issue_args("qseal", "nca", ORG, "PSP_AI");
    let i = a.iter().position(|x| x == "BE-NBB").unwrap();
    a[i] = "NL-DNB".into();
    let o = run(&refs(&a));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // Renewal: the committed QWAC by this CA's, narrower one.
    let o = run(&["check", "--now", &now, "--renewal", &qwac, "--current", &rsa("qwac-chain.pem")]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert_eq!(fails(&out), ["roles both:"], "{out}");
    assert!(line(&out, "roles", "both").contains("drops PSP_AS, PSP_IC"));
    assert!(line(&out, "issuer", "both").starts_with("WARN"));
    assert!(line(&out, "overlap", "both").starts_with("PASS"));
    assert!(line(&out, "validity", "new").starts_with("PASS"));
    // A renewal by the same CA with all the roles, in JSON.
    let same = ca.issue("qwac", "qwac2", ORG, "PSP_AI,PSP_PI", &["--days", "200"]);
    let o = run(&["check", "--now", &now, "--renewal", &same, "--current", &qwac, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["checks"].as_array().unwrap().iter().any(|c| c["id"] == "issuer" && c["status"] == "pass"));
}

#[test]
fn openssl_made_qwacs_without_client_auth_and_2_qwacs_and_a_disagreeing_nca_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let dates = ("20261201000000Z", "20270601000000Z");
    let eku = "extendedKeyUsage = serverAuth, clientAuth";
    let make = |kind: &str, name: &str, edit: &[(&str, &str)]| {
        let mut config = psd2_config(kind);
        for (from, to) in edit {
            config = config.replace(from, to);
        }
        let ca = if kind == "qwac" { "qwac-ca" } else { "qseal-ca" };
        issue_by_test_ca(d, ("rsa", ca), &config, name, "rsa", dates).display().to_string()
    };
    let server_only = make("qwac", "server-only", &[(eku, "extendedKeyUsage = serverAuth")]);
    let two = make(
        "qwac",
        "two",
        &[
            (eku, "extendedKeyUsage = 0.4.0.194115.1.0"),
            ("certificatePolicies = 0.4.0.194112.1.4", "certificatePolicies = 0.4.0.194112.1.6"),
        ],
    );
    let nca = make("qseal", "nca", &[("nca_id = UTF8String:BE-NBB", "nca_id = UTF8String:NL-DNB")]);
    let leaf = |name: &str| d.join(format!("{name}.pem")).display().to_string();
    // openssl sees what check judges.
    let (_, t) = openssl::output(&["x509", "-in", &leaf("server-only"), "-noout", "-text"]);
    assert!(t.contains("TLS Web Server Authentication") && !t.contains("Client Authentication"), "{t}");
    let (_, t) = openssl::output(&["x509", "-in", &leaf("two"), "-noout", "-text"]);
    assert!(t.contains("0.4.0.194115.1.0") && t.contains("Policy: 0.4.0.194112.1.6"), "{t}");
    let at = time::OffsetDateTime::parse(NOW, &time::format_description::well_known::Rfc3339).unwrap();
    let at = at.unix_timestamp().to_string();
    let (good, t) =
        openssl::output(&["verify", "-attime", &at, "-CAfile", &rsa("ca.pem"), "-untrusted", &nca, &leaf("nca")]);
    assert!(good, "{t}");

    let seal = rsa("qseal-chain.pem");
    let ca = rsa("ca.pem");
    let (code, out) = check(&["--qwac", &server_only, "--qseal", &seal, "--ca", &ca]);
    assert_eq!(code, 1);
    assert_eq!(fails(&out), ["client-auth qwac:"]);
    let (code, out) = check(&["--qwac", &two, "--qseal", &seal, "--ca", &ca]);
    assert_eq!(code, 1);
    assert_eq!(fails(&out), ["client-auth qwac:", "2-qwac qwac:"]);
    assert!(line(&out, "2-qwac", "qwac").contains("cannot authenticate the TPP in mutual TLS"));
    let (code, out) = check(&["--qwac", &rsa("qwac-chain.pem"), "--qseal", &nca, "--ca", &ca]);
    assert_eq!(code, 1);
    assert_eq!(fails(&out), ["nca qseal:"]);
    assert!(
        line(&out, "nca", "qseal")
            .contains("NCAId NL-DNB disagrees with organizationIdentifier PSDBE-NBB-0999.888.777")
    );
    // Its own key matches; the other certificate's key does not.
    let key = d.join("nca.key").display().to_string();
    let (_, out) = check(&["--qwac", &rsa("qwac-chain.pem"), "--qseal", &nca, "--qseal-key", &key]);
    assert!(line(&out, "key-match", "qseal").starts_with("PASS"));
    let (_, out) = check(&["--qwac", &rsa("qwac-chain.pem"), "--qwac-key", &key, "--qseal", &nca]);
    assert!(line(&out, "key-match", "qwac").contains("public keys differ"));
}

#[test]
fn a_pkcs11_key_is_checked_against_its_certificate() {
    let _serial = softhsm::serial();
    let Some(h) = softhsm::hsm() else { return };
    let ca = Ca::new();
    let csr = ca.path("qseal.csr");
    let uri = h.uri("qseal-rsa");
    let o = bin()
        .args(["csr", "--key", &uri, "--type", "qseal", "--org", "Example TPP NV", "--org-id", ORG, "--out", &csr])
        .env(psd2_eidas::PIN_ENV, softhsm::PIN)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let seal = ca.issue("qseal", "qseal", ORG, "PSP_AI,PSP_PI", &["--csr", &csr]);
    let (qwac, own_ca, rsa_ca) = (rsa("qwac-chain.pem"), ca.path("ca/ca.pem"), rsa("ca.pem"));
    let anchors = ["--ca", &own_ca, "--ca", &rsa_ca];
    let now = issued_now();
    let args =
        [&["check", "--now", &now, "--qwac", &qwac, "--qseal", &seal, "--qseal-key", &uri][..], &anchors].concat();
    let o = bin().args(&args).env(psd2_eidas::PIN_ENV, softhsm::PIN).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(line(&stdout(&o), "key-match", "qseal").starts_with("PASS"), "{}", stdout(&o));
    // The token key given for the committed QSealC.
    let o = bin()
        .args([
            "check",
            "--now",
            NOW,
            "--qwac",
            &rsa("qwac-chain.pem"),
            "--qseal",
            &rsa("qseal.pem"),
            "--qseal-key",
            &uri,
        ])
        .env(psd2_eidas::PIN_ENV, softhsm::PIN)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(line(&stdout(&o), "key-match", "qseal").contains("public keys differ"));
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let q = rsa("qwac.pem");
    for (args, want) in [
        (
            vec!["check", "--qwac", "/nonexistent.pem", "--qseal", &q],
            "psd2-sign: --qwac: /nonexistent.pem: no such file",
        ),
        (
            vec!["check", "--qwac", &q, "--qseal", &q, "--ca", "/dev/null"],
            "psd2-sign: --ca: /dev/null: is a character device",
        ),
        (vec!["check", "--qwac", &q, "--qseal", &q, "--qseal-key", &q], "psd2-sign: --qseal-key: "),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(want), "{err}");
        assert_eq!(stdout(&o), "");
    }
    for args in [
        vec!["check", "--qwac", &q],
        vec!["check", "--qwac", &q, "--qseal", &q, "--for", "XS2A"],
        vec!["check", "--qwac", &q, "--qseal", &q, "--warn-days", "-1"],
        vec!["check", "--qwac", &q, "--qseal", &q, "--bank", "ing"],
        vec!["check", "--qwac", &q, "--qseal", &q, "--now", "yesterday"],
        vec!["check", "--renewal", &q],
        vec!["check", "--renewal", &q, "--current", &q, "--qwac", &q],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "");
    }
}

/// Revocation through a CRL file: after `ca revoke` and `ca crl`, the revoked QWAC is FAIL, the
/// QSealC passes; without any reachable source the checks are WARNs that say so. Judged at the
/// time the CA and its CRL are made (not the fixed NOW, when the CRL has expired).
#[test]
fn a_revoked_qwac_fails_through_the_crl() {
    let ca = Ca::new();
    let anchor = ca.path("ca/ca.pem");
    let qwac = ca.issue("qwac", "qwac", ORG, "PSP_AI,PSP_PI", &["--days", "100"]);
    let qseal = ca.issue("qseal", "qseal", ORG, "PSP_AI,PSP_PI", &[]);
    let o = run(&["ca", "revoke", "--dir", &ca.path("ca"), &ca.path("qwac.pem")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(run(&["ca", "crl", "--dir", &ca.path("ca")]).status.success());
    let (qwac_crl, qseal_crl) = (ca.path("ca/crl/qwac-ca.crl"), ca.path("ca/crl/qseal-ca.crl.pem"));
    let base = ["check", "--qwac", &qwac, "--qseal", &qseal, "--ca", &anchor, "--for", "AIS,PIS"];
    let o = run(&[&base[..], &["--crl", &qwac_crl, "--crl", &qseal_crl]].concat());
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    assert_eq!(fails(&out), ["crl qwac:"], "{out}");
    assert!(line(&out, "crl", "qwac").contains("REVOKED since "), "{out}");
    assert!(line(&out, "crl", "qseal").starts_with("PASS"), "{out}");
    // The OCSP responder named in the certificates does not answer here: a WARN, not a PASS.
    assert!(
        line(&out, "ocsp", "qwac").starts_with("WARN") && line(&out, "ocsp", "qwac").contains("could not check"),
        "{out}"
    );
    let o = run(&[&base[..], &["--no-revocation"]].concat());
    assert!(line(&stdout(&o), "revocation", "qwac").contains("not checked (--no-revocation)"));
}
