//! The test CA end to end through the library, cross-checked with the openssl CLI: chains verify,
//! every extension is where the profiles say, the qcStatements decode to the exact ASN.1 of
//! TS 119 495 / EN 319 412-5, CSRs, revocation and CRLs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use psd2_ca::csr::{self, CsrRequest};
use psd2_ca::{
    CertKind, CertificateAuthority, Error, EvSubject, InitOptions, IssueRequest, KeyType, Psd2Subject, SubjectKey,
};
use psd2_eidas::inspect::{Kind, Report};
use psd2_eidas::{Certificate, FileKey, Role, Signer};
use time::OffsetDateTime;

use psd2_test_support::openssl::output as openssl;

fn tpp() -> Psd2Subject {
    Psd2Subject {
        organization: "Example TPP NV".into(),
        organization_identifier: "PSDBE-NBB-0999.888.777".into(),
        roles: vec![Role::IssuingCards, Role::AccountInformation, Role::PaymentInitiation, Role::AccountServicing],
        nca_name: "National Bank of Belgium".into(),
        nca_id: "BE-NBB".into(),
        country: None,
    }
}

fn qwac_request() -> IssueRequest {
    let mut req = IssueRequest::new(CertKind::Qwac, tpp());
    req.ev = EvSubject {
        domains: vec!["tpp.example.com".into(), "api.tpp.example.com".into()],
        locality: Some("Brussels".into()),
        ..Default::default()
    };
    req
}

struct Pki {
    dir: tempfile::TempDir,
    ca: CertificateAuthority,
}

impl Pki {
    fn new(key_type: KeyType) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::init(&dir.path().join("ca"), &InitOptions { key_type, ..Default::default() })
            .unwrap();
        Self { dir, ca }
    }

    fn ca_dir(&self) -> PathBuf {
        self.dir.path().join("ca")
    }

    /// Issues and writes PREFIX.pem/-chain.pem/.key; returns PREFIX.
    fn issue(&self, req: &IssueRequest, name: &str) -> PathBuf {
        let prefix = self.dir.path().join(name);
        let issued = self.ca.issue(req).unwrap();
        issued.write(&prefix).unwrap();
        prefix
    }
}

fn with(prefix: &Path, suffix: &str) -> String {
    format!("{}{suffix}", prefix.display())
}

fn verify_chain(pki: &Pki, prefix: &Path) {
    let ca = pki.ca_dir().join("ca.pem");
    let (ok, out) = openssl(&[
        "verify",
        "-CAfile",
        ca.to_str().unwrap(),
        "-untrusted",
        &with(prefix, "-chain.pem"),
        &with(prefix, ".pem"),
    ]);
    assert!(ok, "openssl verify failed: {out}");
    // The QWAC must also verify for its TLS purposes.
    assert!(out.contains(": OK"), "{out}");
}

fn x509_text(path: &str) -> String {
    let (ok, out) = openssl(&["x509", "-in", path, "-noout", "-text"]);
    assert!(ok, "{out}");
    out
}

/// The qcStatements as `depth TYPE :value` lines, decoded by `openssl asn1parse -strparse`.
fn qc_structure(cert: &str) -> Vec<String> {
    let (ok, all) = openssl(&["asn1parse", "-in", cert]);
    assert!(ok, "{all}");
    let lines: Vec<&str> = all.lines().collect();
    let i = lines.iter().position(|l| l.contains("qcStatements")).expect("a qcStatements extension");
    let offset = lines[i + 1].split(':').next().unwrap().trim().to_owned();
    assert!(lines[i + 1].contains("OCTET STRING"), "{}", lines[i + 1]);
    let (ok, parsed) = openssl(&["asn1parse", "-in", cert, "-strparse", &offset]);
    assert!(ok, "{parsed}");
    parsed
        .lines()
        .map(|l| {
            let depth = l.split("d=").nth(1).unwrap().split_whitespace().next().unwrap();
            let body = l.split_once("prim:").or_else(|| l.split_once("cons:")).unwrap().1;
            let (ty, value) = body.split_once(':').unwrap_or((body, ""));
            format!("{depth} {} {}", ty.trim(), value.trim()).trim_end().to_owned()
        })
        .collect()
}

fn expected_qc(qc_type: &str, sscd: bool, base_url_host: &str) -> Vec<String> {
    let mut v = vec![
        "0 SEQUENCE",
        "1 SEQUENCE",
        "2 OBJECT 1.3.6.1.5.5.7.11.2",
        "2 SEQUENCE",
        "3 OBJECT 0.4.0.194121.1.2",
        "1 SEQUENCE",
        "2 OBJECT 0.4.0.1862.1.1",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    if sscd {
        v.extend(["1 SEQUENCE".into(), "2 OBJECT 0.4.0.1862.1.4".into()]);
    }
    v.extend(
        [
            "1 SEQUENCE",
            "2 OBJECT 0.4.0.1862.1.6",
            "2 SEQUENCE",
            &format!("3 OBJECT {qc_type}"),
            "1 SEQUENCE",
            "2 OBJECT 0.4.0.1862.1.5",
            "2 SEQUENCE",
            "3 SEQUENCE",
            &format!("4 IA5STRING https://{base_url_host}/pds/pds-en.pdf"),
            "4 PRINTABLESTRING en",
            "1 SEQUENCE",
            "2 OBJECT 0.4.0.19495.2",
            "2 SEQUENCE",
            "3 SEQUENCE",
        ]
        .map(String::from),
    );
    for (i, name) in ["PSP_AS", "PSP_PI", "PSP_AI", "PSP_IC"].iter().enumerate() {
        v.push("4 SEQUENCE".into());
        v.push(format!("5 OBJECT 0.4.0.19495.1.{}", i + 1));
        v.push(format!("5 UTF8STRING {name}"));
    }
    v.push("3 UTF8STRING National Bank of Belgium".into());
    v.push("3 UTF8STRING BE-NBB".into());
    v
}

#[test]
fn qwac_and_qseal_verify_and_carry_every_extension() {
    for key_type in [KeyType::Rsa2048, KeyType::P256] {
        let pki = Pki::new(key_type);
        let qwac = pki.issue(&qwac_request(), "qwac");
        let mut qseal_req = IssueRequest::new(CertKind::Qseal, tpp());
        qseal_req.qscd = true;
        let qseal = pki.issue(&qseal_req, "qseal");
        verify_chain(&pki, &qwac);
        verify_chain(&pki, &qseal);
        let ca = pki.ca_dir().join("ca.pem");
        let (ok, out) = openssl(&[
            "verify",
            "-purpose",
            "sslclient",
            "-CAfile",
            ca.to_str().unwrap(),
            "-untrusted",
            &with(&qwac, "-chain.pem"),
            &with(&qwac, ".pem"),
        ]);
        assert!(ok, "QWAC not usable as a TLS client certificate: {out}");

        let t = x509_text(&with(&qwac, ".pem"));
        let subject = t.lines().find(|l| l.trim_start().starts_with("Subject:")).unwrap();
        assert!(
            subject.contains(
                "businessCategory = Private Organization, jurisdictionC = BE, serialNumber = 0999.888.777, C = BE, L = Brussels, O = Example TPP NV, organizationIdentifier = PSDBE-NBB-0999.888.777, CN = tpp.example.com"
            ),
            "{subject}"
        );
        for needle in [
            "X509v3 Basic Constraints: critical\n                CA:FALSE",
            "X509v3 Extended Key Usage: \n                TLS Web Server Authentication, TLS Web Client Authentication",
            "DNS:tpp.example.com, DNS:api.tpp.example.com",
            "Policy: 2.23.140.1.1\n                Policy: 0.4.0.194112.1.4\n                Policy: 0.4.0.19495.3.1",
            "OCSP - URI:http://pki.test-qtsp.example.com/ocsp/qwac-ca",
            "CA Issuers - URI:http://pki.test-qtsp.example.com/qwac-ca.cer",
            "URI:http://pki.test-qtsp.example.com/crl/qwac-ca.crl",
            "X509v3 Authority Key Identifier: \n                ",
            "2.23.140.3.1: \n                0...PSD..BE..NBB-0999.888.777",
            "qcStatements",
        ] {
            assert!(t.contains(needle), "QWAC lacks {needle:?}:\n{t}");
        }
        let ku =
            if key_type == KeyType::Rsa2048 { "Digital Signature, Key Encipherment\n" } else { "Digital Signature\n" };
        assert!(t.contains(&format!("X509v3 Key Usage: critical\n                {ku}")), "{t}");
        assert!(!t.contains("Non Repudiation"));
        assert!(!t.contains("Subject Key Identifier"), "the BR do not recommend an SKI in subscriber certificates");
        assert!(!t.contains("DirName") && !t.contains("serial:"), "AKI must hold only the key id");

        let t = x509_text(&with(&qseal, ".pem"));
        let subject = t.lines().find(|l| l.trim_start().starts_with("Subject:")).unwrap();
        assert!(
            subject.contains(
                "C = BE, O = Example TPP NV, organizationIdentifier = PSDBE-NBB-0999.888.777, CN = Example TPP NV"
            ),
            "{subject}"
        );
        for needle in [
            "X509v3 Key Usage: critical\n                Non Repudiation\n",
            "X509v3 Subject Key Identifier",
            "X509v3 Basic Constraints: critical\n                CA:FALSE",
            "Policy: 0.4.0.194112.1.3",
            "CA Issuers - URI:http://pki.test-qtsp.example.com/qseal-ca.cer",
            "URI:http://pki.test-qtsp.example.com/crl/qseal-ca.crl",
            "qcStatements",
        ] {
            assert!(t.contains(needle), "QSealC lacks {needle:?}:\n{t}");
        }
        assert!(!t.contains("Extended Key Usage") && !t.contains("Alternative Name"), "{t}");

        assert_eq!(
            qc_structure(&with(&qwac, ".pem")),
            expected_qc("0.4.0.1862.1.6.3", false, "pki.test-qtsp.example.com")
        );
        assert_eq!(
            qc_structure(&with(&qseal, ".pem")),
            expected_qc("0.4.0.1862.1.6.2", true, "pki.test-qtsp.example.com")
        );

        // The issuing CAs: pathlen 0, their policies, the QWAC CA with TLS EKUs only.
        let t = x509_text(pki.ca_dir().join("qwac-ca.pem").to_str().unwrap());
        assert!(
            t.contains("CA:TRUE, pathlen:0")
                && t.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
            "{t}"
        );
        assert!(t.contains("TEST") && t.contains("Policy: 0.4.0.194112.1.4"));
        let t = x509_text(pki.ca_dir().join("qseal-ca.pem").to_str().unwrap());
        assert!(
            t.contains("CA:TRUE, pathlen:0")
                && !t.contains("Extended Key Usage")
                && t.contains("Policy: 0.4.0.194112.1.1"),
            "{t}"
        );
        let t = x509_text(pki.ca_dir().join("ca.pem").to_str().unwrap());
        assert!(
            t.contains("X509v3 Subject Key Identifier")
                && t.contains("X509v3 Authority Key Identifier")
                && t.contains("NOT FOR PRODUCTION")
        );
    }
}

#[test]
fn inspect_reports_what_was_asked() {
    let pki = Pki::new(KeyType::P256);
    let now = OffsetDateTime::now_utc();
    for (req, kind) in [(qwac_request(), Kind::Qwac), (IssueRequest::new(CertKind::Qseal, tpp()), Kind::Qseal)] {
        let issued = pki.ca.issue(&req).unwrap();
        assert!(issued.warnings.is_empty(), "{:?}", issued.warnings);
        let report = Report::new(&issued.certificate, now).unwrap();
        assert_eq!(report.kind, kind);
        assert_eq!(report.organization_identifier.as_deref(), Some("PSDBE-NBB-0999.888.777"));
        let psd2 = report.psd2.as_ref().unwrap();
        assert_eq!(psd2.roles, vec!["PSP_AS", "PSP_PI", "PSP_AI", "PSP_IC"]);
        assert_eq!((psd2.nca_name.as_str(), psd2.nca_id.as_str()), ("National Bank of Belgium", "BE-NBB"));
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!(issued.chain.len(), 2);
        assert_eq!(issued.chain[1], *pki.ca.issuing_certificate(req.kind));
    }
}

#[test]
fn validity_defaults_and_cabf_warning() {
    let pki = Pki::new(KeyType::P256);
    let issued = pki.ca.issue(&qwac_request()).unwrap();
    let c = &issued.certificate;
    // The validity period counts both ends: notAfter − notBefore + 1 s.
    let period = c.not_after() - c.not_before() + time::Duration::SECOND;
    assert_eq!(period, time::Duration::days(i64::from(psd2_ca::cabf_max_days(c.not_before()))));
    assert!(period <= time::Duration::days(199), "issued after 2026-03-15: at most 199 days, inclusive");
    let mut long = qwac_request();
    long.days = Some(3650);
    let issued = pki.ca.issue(&long).unwrap();
    assert!(issued.warnings.iter().any(|w| w.contains("CA/Browser Forum maximum")), "{:?}", issued.warnings);
    let mut seal = IssueRequest::new(CertKind::Qseal, tpp());
    seal.days = Some(3650);
    assert!(pki.ca.issue(&seal).unwrap().warnings.is_empty());
    // After 2027-03-15 the default drops to 99 days.
    let mut later = qwac_request();
    later.not_before = Some(time::macros::datetime!(2027-06-01 0:00 UTC));
    let c = pki.ca.issue(&later).unwrap().certificate;
    assert_eq!(c.not_after() - c.not_before() + time::Duration::SECOND, time::Duration::days(99));
}

#[test]
fn serials_are_unique_positive_and_long() {
    let pki = Pki::new(KeyType::P256);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..8 {
        let c = pki.ca.issue(&IssueRequest::new(CertKind::Qseal, tpp())).unwrap().certificate;
        let s = c.serial_bytes().to_vec();
        assert!(s.len() <= 20 && s.len() >= 9, "{s:?}");
        assert_eq!(s[0] & 0x80, 0, "positive");
        assert!(seen.insert(s));
    }
}

#[test]
fn issues_for_an_openssl_csr_and_rejects_a_bad_signature() {
    let pki = Pki::new(KeyType::Rsa2048);
    let d = pki.dir.path();
    let key = d.join("partner.key");
    let csr_path = d.join("partner.csr");
    let (ok, out) = openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-subj",
        "/CN=ignored",
        "-out",
        csr_path.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let data = std::fs::read(&csr_path).unwrap();
    let mut req = IssueRequest::new(CertKind::Qseal, tpp());
    req.key = Some(SubjectKey::Csr(data.clone()));
    let issued = pki.ca.issue(&req).unwrap();
    assert!(issued.private_key.is_none());
    let prefix = d.join("partner");
    let paths = issued.write(&prefix).unwrap();
    assert_eq!(paths.len(), 2, "no key file with a CSR");
    verify_chain(&pki, &prefix);
    // The certificate holds the CSR's key.
    let (_, pubkey) = openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]);
    let (_, cert_pub) = openssl(&["x509", "-in", &with(&prefix, ".pem"), "-noout", "-pubkey"]);
    assert_eq!(pubkey, cert_pub);
    // The subject comes from the request, not the CSR.
    assert!(issued.certificate.subject().to_string().contains("organizationIdentifier=PSDBE-NBB-0999.888.777"));

    // Flip a bit in the signature (the last bytes of the DER).
    let mut der = psd2_eidas::pem::parse(&data).unwrap().remove(0).der.to_vec();
    let n = der.len();
    der[n - 3] ^= 0x01;
    req.key = Some(SubjectKey::Csr(der));
    let err = pki.ca.issue(&req).unwrap_err();
    assert!(matches!(err, Error::Csr(ref m) if m.contains("signature")), "{err}");
    req.key = Some(SubjectKey::Csr(b"not a request".to_vec()));
    assert!(matches!(pki.ca.issue(&req).unwrap_err(), Error::Csr(_)));
}

#[test]
fn csr_passes_openssl_and_shows_the_subject() {
    let d = tempfile::tempdir().unwrap();
    for key in [FileKey::generate_rsa(2048).unwrap(), FileKey::generate_ec(psd2_eidas::Curve::P384).unwrap()] {
        let key: Arc<dyn Signer> = Arc::new(key);
        let req = CsrRequest {
            kind: CertKind::Qwac,
            organization: "Example TPP NV".into(),
            organization_identifier: "PSDBE-NBB-0999.888.777".into(),
            domains: vec!["tpp.example.com".into()],
            country: None,
        };
        let pem = csr::create(&req, key.clone()).unwrap();
        let path = d.path().join("req.csr");
        std::fs::write(&path, &pem).unwrap();
        let (ok, out) = openssl(&["req", "-in", path.to_str().unwrap(), "-noout", "-verify", "-text"]);
        assert!(ok, "{out}");
        assert!(out.contains("verify OK") || out.contains("Certificate request self-signature verify OK"), "{out}");
        assert!(
            out.contains("Subject: C = BE, O = Example TPP NV, organizationIdentifier = PSDBE-NBB-0999.888.777, CN = tpp.example.com"),
            "{out}"
        );
        assert!(out.contains("DNS:tpp.example.com"), "{out}");
        let v = csr::verify(pem.as_bytes()).unwrap();
        assert_eq!(v.public_key, *key.public_key());
    }
    let bad = CsrRequest {
        kind: CertKind::Qseal,
        organization: "Example TPP NV".into(),
        organization_identifier: "PSDBE-NBB".into(),
        domains: vec![],
        country: None,
    };
    assert!(csr::create(&bad, Arc::new(FileKey::generate_p256().unwrap())).is_err());
}

#[test]
fn revoked_certificates_are_in_the_crl_and_fail_crl_checks() {
    let pki = Pki::new(KeyType::P256);
    let good = pki.issue(&qwac_request(), "good");
    let bad = pki.issue(&qwac_request(), "bad");
    let bad_cert = Certificate::from_pem_or_der(&std::fs::read(with(&bad, ".pem")).unwrap()).unwrap().remove(0);
    let r = pki.ca.revoke(&bad_cert).unwrap();
    assert!(r.newly_revoked);
    assert_eq!(r.ca, "qwac-ca");
    assert!(!pki.ca.revoke(&bad_cert).unwrap().newly_revoked, "revoking twice is a no-op");
    let crl = pki.ca_dir().join("crl/qwac-ca.crl");
    let (ok, text) = openssl(&["crl", "-inform", "DER", "-in", crl.to_str().unwrap(), "-noout", "-text"]);
    assert!(ok, "{text}");
    assert!(text.to_lowercase().contains(&format!("serial number: {}", bad_cert.serial_hex())), "{text}");
    assert!(text.contains("CN = psd2-sign TEST QWAC Issuing CA"), "{text}");
    let crl_pem = pki.ca_dir().join("crl/qwac-ca.crl.pem");
    let ca = pki.ca_dir().join("ca.pem");
    let check = |prefix: &Path| {
        openssl(&[
            "verify",
            "-crl_check",
            "-CRLfile",
            crl_pem.to_str().unwrap(),
            "-CAfile",
            ca.to_str().unwrap(),
            "-untrusted",
            &with(prefix, "-chain.pem"),
            &with(prefix, ".pem"),
        ])
    };
    let (ok, out) = check(&bad);
    assert!(!ok && out.contains("certificate revoked"), "{out}");
    let (ok, out) = check(&good);
    assert!(ok, "{out}");
    // A certificate of another CA cannot be revoked here.
    let other = Pki::new(KeyType::P256);
    let foreign = other.ca.issue(&qwac_request()).unwrap().certificate;
    assert!(matches!(pki.ca.revoke(&foreign).unwrap_err(), Error::NotIssuedHere(_)));
    // The CRLs can be rewritten at any time and stay consistent.
    let files = pki.ca.write_crls().unwrap();
    assert_eq!(files.len(), 6);
    let (ok, out) = check(&bad);
    assert!(!ok && out.contains("certificate revoked"), "{out}");
}

#[test]
fn init_refuses_to_overwrite_and_open_checks_the_directory() {
    let pki = Pki::new(KeyType::P256);
    let before = std::fs::read(pki.ca_dir().join("ca.pem")).unwrap();
    let err = CertificateAuthority::init(&pki.ca_dir(), &InitOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Exists(_)), "{err}");
    assert_eq!(std::fs::read(pki.ca_dir().join("ca.pem")).unwrap(), before);
    let again =
        CertificateAuthority::init(&pki.ca_dir(), &InitOptions { overwrite: true, ..Default::default() }).unwrap();
    assert_ne!(again.root_certificate().der(), before.as_slice());
    let reopened = CertificateAuthority::open(&pki.ca_dir()).unwrap();
    assert_eq!(reopened.root_certificate(), again.root_certificate());
    assert_eq!(reopened.issuing_key_type(CertKind::Qwac), Some(KeyType::Rsa2048));
    let missing = pki.dir.path().join("nope");
    assert!(matches!(CertificateAuthority::open(&missing).unwrap_err(), Error::NotACa { .. }));
    let empty = pki.dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = CertificateAuthority::open(&empty).unwrap_err();
    assert!(err.to_string().contains("ca.pem is missing"), "{err}");
}

#[cfg(unix)]
#[test]
fn keys_are_mode_0600() {
    use std::os::unix::fs::PermissionsExt as _;
    let pki = Pki::new(KeyType::P256);
    let prefix = pki.issue(&IssueRequest::new(CertKind::Qseal, tpp()), "seal");
    for key in [
        pki.ca_dir().join("ca.key"),
        pki.ca_dir().join("qwac-ca.key"),
        pki.ca_dir().join("qseal-ca.key"),
        PathBuf::from(with(&prefix, ".key")),
    ] {
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", key.display());
    }
    // The key file is PKCS#8 PEM that loads and matches the certificate.
    let key = psd2_eidas::load::load_key(Path::new(&with(&prefix, ".key")), None).unwrap();
    let cert = psd2_eidas::load::load_certificates(Path::new(&with(&prefix, ".pem")), None).unwrap().remove(0);
    assert_eq!(key.public_key(), cert.public_key());
    assert!(std::fs::read_to_string(with(&prefix, ".key")).unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
}

#[test]
fn bad_input_is_rejected_before_anything_is_issued() {
    let pki = Pki::new(KeyType::P256);
    let issued_db = pki.ca_dir().join("db/qwac-ca.issued");
    let cases: Vec<(IssueRequest, &str)> = vec![
        (
            {
                let mut r = qwac_request();
                r.subject.organization_identifier = "PSDBE-NBB".into();
                r
            },
            "organizationIdentifier",
        ),
        (
            {
                let mut r = qwac_request();
                r.subject.nca_id = "FR-ACPR".into();
                r
            },
            "does not agree",
        ),
        (
            {
                let mut r = qwac_request();
                r.subject.roles.clear();
                r
            },
            "role",
        ),
        (
            {
                let mut r = qwac_request();
                r.ev.domains = vec!["tpp.test".into()];
                r
            },
            "public DNS name",
        ),
        (
            {
                let mut r = qwac_request();
                r.ev.locality = None;
                r
            },
            "locality or a state",
        ),
        (
            {
                let mut r = qwac_request();
                r.ev.business_category = Some("Startup".into());
                r
            },
            "business category",
        ),
        (
            {
                let mut r = qwac_request();
                r.days = Some(0);
                r
            },
            "--days",
        ),
        (
            {
                let mut r = qwac_request();
                r.qscd = true;
                r
            },
            "QSealCs only",
        ),
        (
            {
                let mut r = IssueRequest::new(CertKind::Qseal, tpp());
                r.ev.domains = vec!["tpp.example.com".into()];
                r
            },
            "no domain",
        ),
    ];
    for (req, needle) in cases {
        let err = pki.ca.issue(&req).unwrap_err().to_string();
        assert!(err.contains(needle), "{err} should mention {needle}");
        assert!(!err.contains('\n'));
    }
    assert!(!issued_db.exists(), "nothing issued");
}

/// An independent linter: pkilint (DigiCert; `pip install pkilint`) checks the ETSI EN 319 412
/// and CA/Browser Forum profiles. Skipped when it is not installed.
#[test]
fn pkilint_finds_no_errors() {
    if Command::new("lint_etsi_cert").arg("--help").output().is_err() {
        eprintln!("SKIPPED: pkilint is not installed (pip install pkilint)");
        return;
    }
    let lint = |tool: &str, args: &[&str], path: &str, allowed: &[&str]| {
        let o = Command::new(tool).args(["lint", "-s", "WARNING"]).args(args).arg(path).output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        for line in out.lines().filter(|l| l.contains("(WARNING)") || l.contains("(ERROR)") || l.contains("(FATAL)")) {
            assert!(allowed.iter().any(|a| line.contains(a)), "{tool} {path}: {line}\n{out}");
        }
    };
    // Expected for a PSD2 QWAC: the CN the profile requires, the ETSI/CABF extensions a plain
    // BR linter does not know, and keyEncipherment next to digitalSignature for RSA keys.
    let qwac_allowed = [
        "common_name_attribute_present",
        "unknown_extension_present",
        "subscriber_rsa_digitalsignature_and_keyencipherment_present",
    ];
    for key_type in [KeyType::Rsa2048, KeyType::P256] {
        let pki = Pki::new(key_type);
        let qwac = with(&pki.issue(&qwac_request(), "qwac"), ".pem");
        lint("lint_etsi_cert", &["-t", "QEVCP-W-PSD2-EIDAS-FINAL-CERTIFICATE"], &qwac, &qwac_allowed);
        lint("lint_cabf_serverauth_cert", &["-t", "EV-FINAL-CERTIFICATE"], &qwac, &qwac_allowed);
        let qseal = with(&pki.issue(&IssueRequest::new(CertKind::Qseal, tpp()), "qseal"), ".pem");
        lint("lint_etsi_cert", &["-d"], &qseal, &[]);
        let ca = |f: &str| pki.ca_dir().join(f).display().to_string();
        lint("lint_cabf_serverauth_cert", &["-t", "ROOT-CA"], &ca("ca.pem"), &[]);
        lint("lint_cabf_serverauth_cert", &["-t", "EXTERNAL-UNCONSTRAINED-EV-TLS-CA"], &ca("qwac-ca.pem"), &[]);
        lint("lint_pkix_cert", &[], &ca("qseal-ca.pem"), &[]);
        let der = Certificate::from_pem_or_der(&std::fs::read(&qwac).unwrap()).unwrap().remove(0);
        pki.ca.revoke(&der).unwrap();
        lint("lint_crl", &["-t", "CRL", "-p", "BR"], &ca("crl/qwac-ca.crl"), &[]);
        lint("lint_crl", &["-t", "ARL", "-p", "BR"], &ca("crl/root-ca.crl"), &[]);
    }
}

#[test]
fn revocations_survive_reopening_and_a_damaged_database_stops_the_crl() {
    let pki = Pki::new(KeyType::P256);
    let cert = pki.ca.issue(&IssueRequest::new(CertKind::Qseal, tpp())).unwrap().certificate;
    pki.ca.revoke(&cert).unwrap();
    let reopened = CertificateAuthority::open(&pki.ca_dir()).unwrap();
    let revoked = reopened.revocations(CertKind::Qseal).unwrap();
    assert_eq!(revoked.iter().map(|r| r.serial_hex.as_str()).collect::<Vec<_>>(), vec![cert.serial_hex()]);
    assert!(!reopened.revoke(&cert).unwrap().newly_revoked);
    // The root cannot revoke itself.
    assert!(matches!(reopened.revoke(reopened.root_certificate()).unwrap_err(), Error::RevokeRoot(_)));
    // A bad timestamp stops the CRL instead of dropping the revocation from it.
    let db = pki.ca_dir().join("db/qseal-ca.revoked");
    let line = std::fs::read_to_string(&db).unwrap();
    std::fs::write(&db, format!("{line}{} 1e9 CN=x\n", "7f".repeat(16))).unwrap();
    let err = reopened.write_crls().unwrap_err();
    assert!(matches!(&err, Error::Database { path, line: 2, .. } if *path == db), "{err}");
    // A certificate outliving its issuing CA is refused, naming both dates.
    let mut req = IssueRequest::new(CertKind::Qseal, tpp());
    req.days = Some(7301);
    let err = reopened.issue(&req).unwrap_err();
    assert!(matches!(err, Error::OutlivesIssuer { ca: "qseal-ca", days: 7301, .. }), "{err}");
}
