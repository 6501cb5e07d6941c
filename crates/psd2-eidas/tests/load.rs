//! Loading certificates, keys and PKCS#12 files made by the openssl CLI, and decoding their
//! eIDAS content, cross-checked against what openssl prints.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use psd2_eidas::inspect::{Kind, Report};
use psd2_eidas::{Curve, Error, Identity, KeyKind, KeyRef, Role, Secret, Secrets, SignatureScheme, Signer, load};
use psd2_test_support::fixtures::{Fixtures, P12_PASSWORD, openssl};
use std::sync::{Arc, OnceLock};

fn fx() -> &'static Fixtures {
    static FX: OnceLock<Fixtures> = OnceLock::new();
    FX.get_or_init(Fixtures::new)
}

fn pw() -> Secret {
    Secret::new(P12_PASSWORD)
}

/// Signs with our key and verifies the signature with `openssl dgst -verify` on the public key.
fn openssl_verifies(key: &dyn Signer, scheme: SignatureScheme, dgst: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("msg"), b"PSD2 payload").unwrap();
    let mut sig = key.sign(scheme, b"PSD2 payload").unwrap();
    if let KeyKind::Ec(c) = key.public_key().kind() {
        assert_eq!(sig.len(), 2 * c.field_len(), "raw r||s");
        sig = psd2_eidas::ecdsa_raw_to_der(&sig).unwrap();
    }
    std::fs::write(d.join("sig"), sig).unwrap();
    std::fs::write(d.join("pub.der"), key.public_key().spki_der()).unwrap();
    let mut args = vec!["dgst", dgst, "-keyform", "DER", "-verify", "pub.der", "-signature", "sig"];
    if matches!(scheme, SignatureScheme::RsaPssSha256 | SignatureScheme::RsaPssSha512) {
        args.extend(["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1"]);
    }
    args.push("msg");
    let out = openssl(d, &args);
    assert!(out.contains("Verified OK"), "{out}");
}

#[test]
fn every_key_form_loads_and_signs_for_openssl() {
    let cases: &[(&str, KeyKind)] = &[
        ("rsa.p8.pem", KeyKind::Rsa { bits: 2048 }),
        ("rsa.p8.der", KeyKind::Rsa { bits: 2048 }),
        ("rsa.p1.pem", KeyKind::Rsa { bits: 2048 }),
        ("rsa.p1.der", KeyKind::Rsa { bits: 2048 }),
        ("ec256.sec1.pem", KeyKind::Ec(Curve::P256)),
        ("ec256.sec1.der", KeyKind::Ec(Curve::P256)),
        ("ec384.p8.pem", KeyKind::Ec(Curve::P384)),
        ("ed25519.p8.pem", KeyKind::Ed25519),
    ];
    for (file, kind) in cases {
        let key = load::load_key(&fx().path(file), None).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(key.public_key().kind(), *kind, "{file}");
        // Our SPKI equals openssl's view of the public key.
        let out = openssl(
            fx().dir.path(),
            &["pkey", "-in", file, "-pubout", "-outform", "DER", "-out", &format!("{file}.spki")],
        );
        assert!(out.is_empty());
        assert_eq!(std::fs::read(fx().path(&format!("{file}.spki"))).unwrap(), key.public_key().spki_der(), "{file}");
    }
    let rsa = load::load_key(&fx().path("rsa.p1.pem"), None).unwrap();
    openssl_verifies(&rsa, SignatureScheme::RsaPkcs1Sha256, "-sha256");
    openssl_verifies(&rsa, SignatureScheme::RsaPkcs1Sha512, "-sha512");
    openssl_verifies(&rsa, SignatureScheme::RsaPssSha256, "-sha256");
    openssl_verifies(&rsa, SignatureScheme::RsaPssSha512, "-sha512");
    let ec = load::load_key(&fx().path("ec256.sec1.pem"), None).unwrap();
    openssl_verifies(&ec, SignatureScheme::EcdsaP256Sha256, "-sha256");
    let ec384 = load::load_key(&fx().path("ec384.p8.pem"), None).unwrap();
    openssl_verifies(&ec384, SignatureScheme::EcdsaP384Sha384, "-sha384");
    assert!(matches!(ec.sign(SignatureScheme::RsaPkcs1Sha256, b"x"), Err(Error::SchemeMismatch { .. })));
}

#[test]
fn ed25519_signature_verifies_with_openssl() {
    let key = load::load_key(&fx().path("ed25519.p8.pem"), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("msg"), b"PSD2 payload").unwrap();
    std::fs::write(d.join("sig"), key.sign(SignatureScheme::Ed25519, b"PSD2 payload").unwrap()).unwrap();
    std::fs::write(d.join("pub.der"), key.public_key().spki_der()).unwrap();
    let out = openssl(
        d,
        &[
            "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", "pub.der", "-rawin", "-in", "msg", "-sigfile",
            "sig",
        ],
    );
    assert!(out.contains("Signature Verified Successfully"), "{out}");
}

#[test]
fn encrypted_pkcs8_needs_the_right_password() {
    let path = fx().path("ec256.enc.pem");
    let err = load::load_key(&path, None).unwrap_err();
    assert!(matches!(err.root(), Error::PasswordRequired { .. }), "{err}");
    assert!(err.to_string().starts_with(&path.display().to_string()));
    let err = load::load_key(&path, Some(&Secret::new("wrong"))).unwrap_err();
    assert!(matches!(err.root(), Error::WrongPassword { .. }), "{err}");
    assert!(!err.to_string().contains("wrong\""));
    let key = load::load_key(&path, Some(&pw())).unwrap();
    let plain = load::load_key(&fx().path("ec256.sec1.pem"), None).unwrap();
    assert_eq!(key.public_key(), plain.public_key());
}

#[test]
fn pkcs12_default_and_legacy() {
    for (file, kind) in [("qwac.p12", KeyKind::Rsa { bits: 2048 }), ("qseal-legacy.p12", KeyKind::Ec(Curve::P256))] {
        let loaded = load::load_file(&fx().path(file), Some(&pw())).unwrap_or_else(|e| panic!("{e}"));
        let key = loaded.key.expect("key");
        assert_eq!(key.public_key().kind(), kind);
        assert_eq!(loaded.certificates.len(), 1);
        assert_eq!(loaded.certificates[0].public_key(), key.public_key());
        // Identity from the PKCS#12 alone.
        let id = Identity::load(&KeyRef::File(fx().path(file)), None, &Secrets::none().with_password(pw())).unwrap();
        assert_eq!(id.certificate(), &loaded.certificates[0]);
    }
    let err = load::load_file(&fx().path("qwac.p12"), Some(&Secret::new("nope"))).unwrap_err();
    assert!(matches!(err.root(), Error::WrongPassword { .. }), "{err}");
    let err = load::load_file(&fx().path("qwac.p12"), None).unwrap_err();
    assert!(matches!(err.root(), Error::PasswordRequired { .. }), "{err}");
    // An empty-password PKCS#12 opens without a password.
    assert!(load::load_file(&fx().path("nopass.p12"), None).unwrap().key.is_some());
}

#[test]
fn certificate_fields_match_openssl() {
    for (file, kind, key) in
        [("qwac-rsa.pem", Kind::Qwac, "rsa"), ("qwac-rsa.der", Kind::Qwac, "rsa"), ("qseal-ec.pem", Kind::Qseal, "ec")]
    {
        let certs = load::load_certificates(&fx().path(file), None).unwrap();
        let c = &certs[0];
        let serial = openssl(fx().dir.path(), &["x509", "-in", "qwac-rsa.pem", "-noout", "-serial"]);
        if file.starts_with("qwac") {
            let hex = serial.trim().trim_start_matches("serial=").to_ascii_lowercase();
            assert_eq!(c.serial_hex(), hex.trim_start_matches('0'));
        }
        let subject = openssl(
            fx().dir.path(),
            &["x509", "-in", &file.replace(".der", ".pem"), "-noout", "-subject", "-nameopt", "RFC2253"],
        );
        let rfc2253 = subject.trim().trim_start_matches("subject=");
        assert_eq!(rfc2253, "CN=tpp.example.com,organizationIdentifier=PSDBE-NBB-0999.888.777,O=Example TPP NV,C=BE");
        assert_eq!(
            c.subject().to_display(),
            "C=BE, O=Example TPP NV, organizationIdentifier=PSDBE-NBB-0999.888.777, CN=tpp.example.com"
        );
        let end = openssl(
            fx().dir.path(),
            &["x509", "-in", &file.replace(".der", ".pem"), "-noout", "-enddate", "-dateopt", "iso_8601"],
        );
        let end = end.trim().trim_start_matches("notAfter=").replace(' ', "T");
        let r = Report::new(c, time::OffsetDateTime::now_utc()).unwrap();
        assert_eq!(r.not_after, end);
        assert_eq!(r.kind, kind);
        assert_eq!(r.key.kind, key);
        assert_eq!(r.organization_identifier.as_deref(), Some("PSDBE-NBB-0999.888.777"));
        let parts = r.organization_identifier_parts.as_ref().unwrap();
        assert_eq!(
            (parts.scheme.as_str(), parts.country.as_str(), parts.nca.as_deref(), parts.reference.as_str()),
            ("PSD", "BE", Some("NBB"), "0999.888.777")
        );
        let p = r.psd2.as_ref().unwrap();
        assert_eq!(p.roles, ["PSP_AS", "PSP_PI", "PSP_AI", "PSP_IC"]);
        assert_eq!((p.nca_name.as_str(), p.nca_id.as_str()), ("National Bank of Belgium", "BE-NBB"));
        let qc = r.qc.as_ref().unwrap();
        assert!(qc.compliance && qc.sscd);
        assert_eq!(qc.retention_years, Some(15));
        assert_eq!(qc.semantics_id.as_deref(), Some("0.4.0.194121.1.2"));
        let lv = qc.limit_value.as_ref().unwrap();
        assert_eq!((lv.currency.as_str(), lv.amount, lv.exponent), ("EUR", 1000, 3));
        assert_eq!(qc.pds.len(), 2);
        assert_eq!((qc.pds[1].url.as_str(), qc.pds[1].language.as_str()), ("https://pds.example.com/fr.pdf", "fr"));
        assert_eq!(r.certificate_policies, ["0.4.0.194112.1.4", "0.4.0.19495.3.1"]);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        match kind {
            Kind::Qwac => {
                assert_eq!(r.key_usage, ["digitalSignature"]);
                assert_eq!(r.extended_key_usage, ["serverAuth", "clientAuth"]);
                assert_eq!(r.subject_alt_names, ["DNS:tpp.example.com"]);
            }
            _ => assert_eq!(r.key_usage, ["nonRepudiation"]),
        }
        assert!(r.has_role(Role::IssuingCards));
    }
}

#[test]
fn qcstatements_bytes_match_openssl_asn1parse() {
    // Locate the qcStatements OCTET STRING with asn1parse, as an operator would, and check that
    // openssl decodes the same roles we do.
    let d = fx().dir.path();
    let dump = openssl(d, &["asn1parse", "-in", "qwac-rsa.pem"]);
    let mut lines = dump.lines();
    lines.find(|l| l.contains("qcStatements")).expect("qcStatements in asn1parse");
    let octet = lines.next().unwrap();
    let offset = octet.split(':').next().unwrap().trim();
    let inner = openssl(d, &["asn1parse", "-in", "qwac-rsa.pem", "-strparse", offset]);
    for s in [
        "0.4.0.19495.2",
        "PSP_AS",
        "PSP_PI",
        "PSP_AI",
        "PSP_IC",
        "National Bank of Belgium",
        "BE-NBB",
        "0.4.0.1862.1.6.3",
    ] {
        assert!(inner.contains(s), "{s} missing in:\n{inner}");
    }
}

#[test]
fn bundles_and_identities() {
    let certs = load::load_certificates(&fx().path("bundle.pem"), None).unwrap();
    assert_eq!(certs.len(), 2);
    // The EC key matches the first certificate; the RSA key the second, which becomes the leaf.
    let id = Identity::load(
        &KeyRef::File(fx().path("rsa.p1.pem")),
        Some(&KeyRef::File(fx().path("bundle.pem"))),
        &Secrets::none(),
    )
    .unwrap();
    assert_eq!(id.certificate(), &certs[1]);
    assert_eq!(id.chain().len(), 2);
    let err = Identity::load(
        &KeyRef::File(fx().path("other.p8.pem")),
        Some(&KeyRef::File(fx().path("qwac-rsa.pem"))),
        &Secrets::none(),
    )
    .unwrap_err();
    assert!(matches!(err.root(), Error::KeyMismatch { .. }), "{err}");
    assert!(err.to_string().contains("does not match the certificate"), "{err}");
    let signer: Arc<dyn Signer> = Arc::new(load::load_key(&fx().path("ec256.sec1.pem"), None).unwrap());
    assert!(Identity::new(certs, signer).is_ok());
}

#[test]
fn bad_input_is_a_clear_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let der = std::fs::read(fx().path("qwac-rsa.der")).unwrap();
    let pem = std::fs::read_to_string(fx().path("qwac-rsa.pem")).unwrap();
    let mut broken_pem = pem.clone();
    broken_pem.replace_range(100..104, "!!!!");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("random.bin", (0..400u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect(), "not a PEM or DER"),
        ("truncated.der", der[..der.len() / 2].to_vec(), "truncated"),
        ("broken.pem", broken_pem.into_bytes(), "broken Base64"),
        ("empty.pem", vec![], "empty"),
        ("blank.pem", b"\n \n".to_vec(), "empty"),
        ("1024.pem", std::fs::read(fx().path("rsa1024.pem")).unwrap(), "under 2048 bits"),
        ("trailing.der", [der.clone(), vec![0]].concat(), "trailing"),
    ];
    for (name, content, expect) in cases {
        let p = d.join(name);
        std::fs::write(&p, content).unwrap();
        let err = load::load_file(&p, None).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with(&p.display().to_string()), "{msg}");
        assert!(msg.contains(expect), "{name}: {msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }
    let err = load::load_file(d, None).unwrap_err();
    assert!(err.to_string().contains("is a directory"), "{err}");
    let err = load::load_file(&d.join("missing.pem"), None).unwrap_err();
    assert!(err.to_string().ends_with("no such file"), "{err}");
    let err = load::load_certificates(&fx().path("rsa.p8.pem"), None).unwrap_err();
    assert!(err.to_string().contains("contains no certificate"), "{err}");
    let err = load::load_key(&fx().path("qwac-rsa.pem"), None).unwrap_err();
    assert!(err.to_string().contains("contains no private key"), "{err}");
}

#[test]
fn ing_sandbox_qsealc_quirks_are_tolerated_and_reported() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/psd2-certs/ing-sandbox-example-qsealc.pem");
    let certs = load::load_certificates(path.as_ref(), None).unwrap();
    let c = &certs[0];
    assert_eq!(c.serial_hex(), "5e4299be");
    let at = time::macros::datetime!(2021-01-01 0:00 UTC);
    let r = Report::new(c, at).unwrap();
    assert_eq!(r.kind, Kind::Qseal);
    assert_eq!(r.psd2.as_ref().unwrap().roles, ["PSP_AI", "PSP_AS", "PSP_PI"]);
    assert_eq!(r.psd2.as_ref().unwrap().nca_id, "NL-XWG");
    assert_eq!(r.organization_identifier.as_deref(), Some("PSDNL-SBX-1234512345"));
    assert!(r.key_usage.is_empty() && r.extended_key_usage.is_empty());
    let w = r.warnings.join("\n");
    for expected in ["QcCompliance carries a statementInfo (UTF8String \"\")", "not in OID order", "no keyUsage"] {
        assert!(w.contains(expected), "missing warning {expected:?} in {w}");
    }
    assert!(!w.contains("expired"), "{w}");
    assert!(
        Report::new(c, time::macros::datetime!(2024-01-01 0:00 UTC)).unwrap().warnings[0]
            .starts_with("expired on 2023-02-11")
    );
    // What openssl's asn1parse shows in the vector file is what we decoded.
    let asn1 = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/psd2-certs/ing-sandbox-example-qsealc.qcstatements.asn1.txt"
    ))
    .unwrap();
    for s in ["PSP_AI", "PSP_AS", "PSP_PI", "X-WING", "NL-XWG"] {
        assert!(asn1.contains(s));
    }
}
