//! The preflight of `psd2-sign check` on the committed test PKI (the good case) and on
//! certificates the openssl CLI issues from its CAs (no clientAuth, a 2-QWAC, an NCA that
//! disagrees), each with its verdict; every clock is fixed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use psd2_eidas::preflight::{self, Bank, CertificateInput, Operation, Options, Report, Status, Subject};
use psd2_eidas::{Certificate, FileKey, Signer, load};
use psd2_test_support::certs;
use psd2_test_support::fixtures::{issue_by_test_ca, psd2_config};
use time::OffsetDateTime;
use time::macros::datetime;

/// Inside every test certificate's validity (they start 2026-11-26).
const NOW: OffsetDateTime = datetime!(2027-01-15 12:00 UTC);

fn chain(path: &str) -> Vec<Certificate> {
    load::load_certificates(path.as_ref(), None).unwrap()
}

fn key(path: &str) -> Arc<dyn Signer> {
    Arc::new(load::load_key(path.as_ref(), None).unwrap())
}

fn input(set: &str, kind: &str, with_key: bool) -> CertificateInput {
    let i = CertificateInput::new(chain(&certs::path(set, &format!("{kind}-chain.pem")))).unwrap();
    if with_key { i.with_key(key(&certs::path(set, &format!("{kind}.key")))) } else { i }
}

fn opts(set: &str) -> Options {
    let mut o = Options::default();
    o.operations = Operation::ALL.to_vec();
    o.anchors = chain(&certs::path(set, "ca.pem"));
    o
}

fn status(r: &Report, id: &str, subject: Subject) -> Status {
    find(r, id, subject).status
}

fn find<'a>(r: &'a Report, id: &str, subject: Subject) -> &'a preflight::Check {
    r.checks.iter().find(|c| c.id == id && c.subject == subject).unwrap_or_else(|| panic!("no {id} {subject}: {r:#?}"))
}

fn fails(r: &Report) -> Vec<(String, Subject)> {
    r.checks.iter().filter(|c| c.status == Status::Fail).map(|c| (c.id.clone(), c.subject)).collect()
}

#[test]
fn the_committed_pki_passes_with_the_client_auth_warning() {
    for set in ["rsa", "ec"] {
        let r = preflight::preflight(&input(set, "qwac", true), &input(set, "qseal", true), &opts(set), NOW);
        assert!(fails(&r).is_empty(), "{set}: {r:#?}");
        for subject in [Subject::Qwac, Subject::Qseal] {
            for id in ["key-match", "qc-compliance", "qc-type", "roles", "nca", "key-type", "chain", "validity"] {
                assert_eq!(status(&r, id, subject), Status::Pass, "{set} {id} {subject}: {r:#?}");
            }
        }
        assert_eq!(status(&r, "organisation", Subject::Both), Status::Pass);
        assert_eq!(status(&r, "client-auth", Subject::Qwac), Status::Pass);
        assert_eq!(status(&r, "2-qwac", Subject::Qwac), Status::Pass);
        let sunset = find(&r, "client-auth-sunset", Subject::Qwac);
        assert_eq!(sunset.status, Status::Warn);
        assert!(sunset.message.contains("2026-06-15") && sunset.message.contains("2027-03-15"), "{}", sunset.message);
        assert!(find(&r, "chain", Subject::Qwac).message.contains("QWAC Issuing CA"));
        let info = r.certificate(Subject::Qwac).unwrap();
        assert_eq!(info.days_left, (info.certificate.not_after() - NOW).whole_days());
        assert!(info.issuer.as_ref().unwrap().subject().to_display().contains("QWAC Issuing CA"));
        assert_eq!(r.status(), Status::Warn);
    }
}

#[test]
fn keys_roles_anchors_and_banks() {
    // The QSealC's key given for the QWAC.
    let wrong = CertificateInput::new(chain(&certs::path("rsa", "qwac-chain.pem")))
        .unwrap()
        .with_key(key(&certs::path("rsa", "qseal.key")));
    let r = preflight::preflight(&wrong, &input("rsa", "qseal", false), &opts("rsa"), NOW);
    assert_eq!(fails(&r), vec![("key-match".to_owned(), Subject::Qwac)]);
    assert_eq!(status(&r, "key-match", Subject::Qseal), Status::Warn, "no key: not checked, said so");
    // A key that is not on the certificate at all.
    let stranger = CertificateInput::new(chain(&certs::path("ec", "qwac-chain.pem")))
        .unwrap()
        .with_key(Arc::new(FileKey::generate_p256().unwrap()));
    let r = preflight::preflight(&stranger, &input("ec", "qseal", false), &opts("ec"), NOW);
    assert!(find(&r, "key-match", Subject::Qwac).message.contains("public keys differ"));

    // No operations, no anchors: WARN, never a silent PASS.
    let r = preflight::preflight(&input("rsa", "qwac", false), &input("rsa", "qseal", false), &Options::default(), NOW);
    assert_eq!(status(&r, "roles", Subject::Qwac), Status::Warn);
    assert_eq!(status(&r, "chain", Subject::Qwac), Status::Warn);
    assert!(fails(&r).is_empty(), "{r:#?}");

    // The wrong set's root: the names connect, the keys do not.
    let r = preflight::preflight(&input("rsa", "qwac", false), &input("rsa", "qseal", false), &opts("ec"), NOW);
    assert!(find(&r, "chain", Subject::Qwac).message.contains("but its key did not sign"), "{r:#?}");
    // The leaf alone: the issuing CA is missing, named with its caIssuers URL, not fetched.
    let leaf = CertificateInput::new(chain(&certs::path("rsa", "qwac.pem"))).unwrap();
    let r = preflight::preflight(&leaf, &input("rsa", "qseal", false), &opts("rsa"), NOW);
    let c = find(&r, "chain", Subject::Qwac);
    assert_eq!(c.status, Status::Fail);
    assert!(c.message.contains("QWAC Issuing CA") && c.message.contains("qwac-ca.cer (not fetched)"), "{}", c.message);
    // The chain reversed (CA first).
    let mut rev = chain(&certs::path("rsa", "qwac-chain.pem"));
    rev.reverse();
    let r =
        preflight::preflight(&CertificateInput::new(rev).unwrap(), &input("rsa", "qseal", false), &opts("rsa"), NOW);
    assert!(find(&r, "chain", Subject::Qwac).message.contains("leaf first"));

    // Belfius verifies the PIS seal as RS256: an EC QSealC fails there, only with PIS.
    let mut o = opts("ec");
    o.bank = Some(Bank::Belfius);
    let r = preflight::preflight(&input("ec", "qwac", false), &input("ec", "qseal", false), &o, NOW);
    assert_eq!(fails(&r), vec![("key-type".to_owned(), Subject::Qseal)]);
    assert!(find(&r, "key-type", Subject::Qseal).message.contains("RS256"));
    o.operations = vec![Operation::Ais];
    let r = preflight::preflight(&input("ec", "qwac", false), &input("ec", "qseal", false), &o, NOW);
    assert_eq!(status(&r, "key-type", Subject::Qseal), Status::Warn);
    assert_eq!(status(&r, "key-type", Subject::Qwac), Status::Pass);
}

#[test]
fn validity_is_judged_on_the_injected_clock() {
    let (qwac, qseal) = (input("rsa", "qwac", false), input("rsa", "qseal", false));
    let not_after = qwac.leaf().not_after();
    let r = preflight::preflight(&qwac, &qseal, &opts("rsa"), not_after + time::Duration::days(1));
    let v = find(&r, "validity", Subject::Qwac);
    assert_eq!(v.status, Status::Fail);
    assert!(v.message.starts_with("expired on 2036-11-23"), "{}", v.message);
    // The chain is still judged on its own (within the leaf's validity).
    assert_eq!(status(&r, "chain", Subject::Qwac), Status::Pass);
    assert!(r.certificate(Subject::Qwac).unwrap().days_left < 0);

    let r = preflight::preflight(&qwac, &qseal, &opts("rsa"), datetime!(2026-01-01 0:00 UTC));
    assert!(find(&r, "validity", Subject::Qseal).message.starts_with("not yet valid: valid from 2026-11-26"));

    let mut o = opts("rsa");
    let soon = not_after - time::Duration::days(10);
    let r = preflight::preflight(&qwac, &qseal, &o, soon);
    assert_eq!(status(&r, "validity", Subject::Qwac), Status::Warn);
    assert!(find(&r, "validity", Subject::Qwac).message.starts_with("10 days left"));
    o.warn_days = 5;
    let r = preflight::preflight(&qwac, &qseal, &o, soon);
    assert_eq!(status(&r, "validity", Subject::Qwac), Status::Pass);
}

/// Issues a QWAC or QSealC with openssl from the committed rsa CA, its config edited.
fn issued(dir: &std::path::Path, kind: &str, name: &str, edit: &[(&str, &str)]) -> CertificateInput {
    let mut config = psd2_config(kind);
    for (from, to) in edit {
        assert!(config.contains(from), "{from}");
        config = config.replace(from, to);
    }
    let ca = if kind == "qwac" { "qwac-ca" } else { "qseal-ca" };
    let path = issue_by_test_ca(dir, ("rsa", ca), &config, name, "ec", ("20261201000000Z", "20271201000000Z"));
    CertificateInput::new(chain(&path.display().to_string())).unwrap()
}

#[test]
fn openssl_issued_qwacs_without_client_auth_and_2_qwacs_fail() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let qseal = input("rsa", "qseal", false);
    let eku = "extendedKeyUsage = serverAuth, clientAuth";

    let good = issued(d, "qwac", "good", &[]);
    let r = preflight::preflight(&good, &qseal, &opts("rsa"), NOW);
    assert!(fails(&r).is_empty(), "{r:#?}");

    let server_only = issued(d, "qwac", "server-only", &[(eku, "extendedKeyUsage = serverAuth")]);
    let r = preflight::preflight(&server_only, &qseal, &opts("rsa"), NOW);
    assert_eq!(fails(&r), vec![("client-auth".to_owned(), Subject::Qwac)]);
    assert!(find(&r, "client-auth", Subject::Qwac).message.contains("lacks clientAuth (serverAuth)"));

    let two = issued(
        d,
        "qwac",
        "2-qwac",
        &[
            (eku, "extendedKeyUsage = 0.4.0.194115.1.0"),
            ("certificatePolicies = 0.4.0.194112.1.4", "certificatePolicies = 0.4.0.194112.1.6"),
        ],
    );
    let r = preflight::preflight(&two, &qseal, &opts("rsa"), NOW);
    assert_eq!(fails(&r), vec![("client-auth".to_owned(), Subject::Qwac), ("2-qwac".to_owned(), Subject::Qwac)]);
    let m = &find(&r, "2-qwac", Subject::Qwac).message;
    assert!(m.contains("0.4.0.194112.1.6") && m.contains("0.4.0.194115.1.0") && m.contains("mutual TLS"), "{m}");

    // The NCA of the QSealC disagrees with its organizationIdentifier.
    let nca = issued(d, "qseal", "nca", &[("nca_id = UTF8String:BE-NBB", "nca_id = UTF8String:NL-DNB")]);
    let r = preflight::preflight(&good, &nca, &opts("rsa"), NOW);
    assert_eq!(fails(&r), vec![("nca".to_owned(), Subject::Qseal)]);
    assert!(
        find(&r, "nca", Subject::Qseal)
            .message
            .contains("NCAId NL-DNB disagrees with organizationIdentifier PSDBE-NBB-0999.888.777")
    );
    // A name that is not the NBB's: a WARN.
    let name = issued(d, "qseal", "nca-name", &[("National Bank of Belgium", "Banque de France")]);
    let r = preflight::preflight(&good, &name, &opts("rsa"), NOW);
    assert_eq!(status(&r, "nca", Subject::Qseal), Status::Warn);

    // Another organisation in the QSealC.
    let other = issued(
        d,
        "qseal",
        "other-org",
        &[("organizationIdentifier = PSDBE-NBB-0999.888.777", "organizationIdentifier = PSDBE-NBB-0111.222.333")],
    );
    let r = preflight::preflight(&good, &other, &opts("rsa"), NOW);
    assert_eq!(fails(&r), vec![("organisation".to_owned(), Subject::Both)]);

    // The renewal of the committed QWAC by the openssl-made one: same issuer name and key.
    let current = chain(&certs::path("rsa", "qwac-chain.pem"));
    let r = preflight::renewal(good.chain(), &current, 30, NOW);
    assert!(fails(&r).is_empty(), "{r:#?}");
    assert_eq!(status(&r, "issuer", Subject::Both), Status::Pass);
    assert_eq!(status(&r, "overlap", Subject::Both), Status::Pass);
    // ... by a 2-QWAC: the new certificate cannot do mTLS.
    let r = preflight::renewal(two.chain(), &current, 30, NOW);
    assert_eq!(status(&r, "2-qwac", Subject::New), Status::Fail);
}

#[test]
fn renewal_compares_organisation_roles_issuer_and_overlap() {
    let rsa = chain(&certs::path("rsa", "qwac-chain.pem"));
    let ec = chain(&certs::path("ec", "qwac-chain.pem"));
    // Same CA names, other keys: another CA.
    let r = preflight::renewal(&ec, &rsa, 30, NOW);
    assert_eq!(status(&r, "organisation", Subject::Both), Status::Pass);
    assert_eq!(status(&r, "roles", Subject::Both), Status::Pass);
    let issuer = find(&r, "issuer", Subject::Both);
    assert_eq!(issuer.status, Status::Warn, "{r:#?}");
    assert!(issuer.message.contains("install the new chain"), "{}", issuer.message);
    assert_eq!(r.certificates.len(), 2);

    // A QSealC is no renewal of a QWAC.
    let seal = chain(&certs::path("rsa", "qseal-chain.pem"));
    let r = preflight::renewal(&seal, &rsa, 30, NOW);
    assert_eq!(status(&r, "qc-type", Subject::Both), Status::Fail);

    // Roles narrowed, and periods that do not overlap (openssl-made, fixed dates).
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut config = psd2_config("qwac");
    config = config.replace("r1 = SEQUENCE:role_as\nr2 = SEQUENCE:role_pi\n", "");
    let late = issue_by_test_ca(d, ("rsa", "qwac-ca"), &config, "late", "ec", ("20370101000000Z", "20370701000000Z"));
    let late = chain(&late.display().to_string());
    let r = preflight::renewal(&late, &rsa, 30, NOW);
    let roles = find(&r, "roles", Subject::Both);
    assert_eq!(roles.status, Status::Fail);
    assert!(roles.message.starts_with("the new certificate drops PSP_AS, PSP_PI"), "{}", roles.message);
    assert_eq!(status(&r, "overlap", Subject::Both), Status::Fail);
    assert_eq!(status(&r, "validity", Subject::New), Status::Fail, "not yet valid");
    let short = issue_by_test_ca(
        d,
        ("rsa", "qwac-ca"),
        &psd2_config("qwac"),
        "short",
        "ec",
        ("20361110000000Z", "20370501000000Z"),
    );
    let r = preflight::renewal(&chain(&short.display().to_string()), &rsa, 30, NOW);
    let o = find(&r, "overlap", Subject::Both);
    assert_eq!(o.status, Status::Warn);
    assert!(o.message.starts_with("the validity periods overlap 13 days"), "{}", o.message);
}

#[test]
fn operations_and_banks_parse() {
    assert_eq!("pis".parse::<Operation>().unwrap(), Operation::Pis);
    assert_eq!("PIIS".parse::<Operation>().unwrap(), Operation::Caf);
    assert!("XS2A".parse::<Operation>().unwrap_err().contains("expected AIS, PIS or CAF"));
    assert_eq!("Banx".parse::<Bank>().unwrap(), Bank::Banx);
    assert!(CertificateInput::new(Vec::new()).is_err());
}
