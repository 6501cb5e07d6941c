//! The OCSP responder through the library: statuses from the CA database, `CertID`s of other
//! issuers, the nonce, malformed requests, the signature, delegated signers. The openssl CLI
//! against the served responder is in the end-to-end tests (`tests/integration/ca_serve.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use der::{Decode as _, Encode as _};
use psd2_ca::ocsp::{self, CertStatus, OcspResponder, asn1};
use psd2_ca::{CertKind, CertificateAuthority, EvSubject, InitOptions, IssueRequest, KeyType, Psd2Subject};
use psd2_eidas::{Certificate, Role, SignatureScheme};
use time::macros::datetime;

const NOW: time::OffsetDateTime = datetime!(2026-11-26 10:00 UTC);

fn subject() -> Psd2Subject {
    Psd2Subject {
        organization: "Example TPP NV".into(),
        organization_identifier: "PSDBE-NBB-0999.888.777".into(),
        roles: vec![Role::AccountInformation, Role::PaymentInitiation],
        nca_name: "National Bank of Belgium".into(),
        nca_id: "BE-NBB".into(),
        country: None,
    }
}

fn init(key_type: KeyType) -> (tempfile::TempDir, CertificateAuthority) {
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::init(dir.path(), &InitOptions { key_type, ..Default::default() }).unwrap();
    (dir, ca)
}

fn qwac(ca: &CertificateAuthority) -> Certificate {
    let mut req = IssueRequest::new(CertKind::Qwac, subject());
    req.ev =
        EvSubject { domains: vec!["tpp.example.com".into()], locality: Some("Brussels".into()), ..Default::default() };
    ca.issue(&req).unwrap().certificate
}

fn basic(response: &[u8]) -> asn1::BasicOcspResponse {
    let r = asn1::OcspResponse::from_der(response).unwrap();
    assert_eq!(r.response_status, asn1::OcspResponseStatus::Successful);
    asn1::BasicOcspResponse::from_der(r.response_bytes.unwrap().response.as_bytes()).unwrap()
}

#[test]
fn good_then_revoked_unknown_and_other_issuers_are_unknown() {
    let (_dir, ca) = init(KeyType::P256);
    let cert = qwac(&ca);
    let responder = OcspResponder::new(&ca, CertKind::Qwac).unwrap();
    let issuer = ca.issuing_certificate(CertKind::Qwac);
    let never = [0x4a, 0x01, 0x02];
    let req = ocsp::build_request(issuer, &[cert.serial_bytes(), &never], None).unwrap();
    let statuses = ocsp::read_statuses(&responder.respond(&req, NOW).unwrap()).unwrap();
    assert_eq!(statuses, vec![(cert.serial_bytes().to_vec(), CertStatus::Good), (never.to_vec(), CertStatus::Unknown)]);
    assert_eq!(ca.status(CertKind::Qwac, cert.serial_bytes()).unwrap(), CertStatus::Good);

    // The same serial under another issuer's name and key (the QSealC CA, the root): unknown.
    for other in [ca.issuing_certificate(CertKind::Qseal), ca.root_certificate()] {
        let req = ocsp::build_request(other, &[cert.serial_bytes()], None).unwrap();
        let statuses = ocsp::read_statuses(&responder.respond(&req, NOW).unwrap()).unwrap();
        assert_eq!(statuses[0].1, CertStatus::Unknown, "{}", other.subject());
    }
    // Nor does the QSealC responder vouch for a QWAC.
    let qseal_responder = OcspResponder::new(&ca, CertKind::Qseal).unwrap();
    let req = ocsp::build_request(issuer, &[cert.serial_bytes()], None).unwrap();
    assert_eq!(ocsp::read_statuses(&qseal_responder.respond(&req, NOW).unwrap()).unwrap()[0].1, CertStatus::Unknown);

    ca.revoke(&cert).unwrap();
    let revoked_at = ca.revocations(CertKind::Qwac).unwrap()[0].revoked_at;
    let statuses = ocsp::read_statuses(&responder.respond(&req, NOW).unwrap()).unwrap();
    assert_eq!(statuses[0].1, CertStatus::Revoked { revoked_at });
}

#[test]
fn times_nonce_responder_id_and_signature() {
    for key_type in [KeyType::P256, KeyType::Rsa2048] {
        let (_dir, ca) = init(key_type);
        let cert = qwac(&ca);
        let responder = OcspResponder::new(&ca, CertKind::Qwac).unwrap().with_validity(time::Duration::minutes(10));
        let issuer = ca.issuing_certificate(CertKind::Qwac);
        let nonce = b"0123456789abcdef";
        let req = ocsp::build_request(issuer, &[cert.serial_bytes()], Some(nonce)).unwrap();
        let b = basic(&responder.respond(&req, NOW).unwrap());
        let tbs = &b.tbs_response_data;
        let secs = |t: &asn1::OcspGeneralizedTime| t.0.to_unix_duration().as_secs() as i64;
        assert_eq!(secs(&tbs.produced_at), NOW.unix_timestamp());
        let single = &tbs.responses[0];
        assert_eq!(secs(&single.this_update), NOW.unix_timestamp());
        assert_eq!(secs(single.next_update.as_ref().unwrap()), NOW.unix_timestamp() + 600);
        // The nonce comes back as the request had it: an OCTET STRING holding the octets.
        let echoed = b.nonce().unwrap();
        assert_eq!(echoed.0.as_bytes(), nonce);
        // Signed by the issuing CA, whose certificate comes along; responder id by key hash.
        let certs = b.certs.as_ref().unwrap();
        assert_eq!(certs[0].to_der().unwrap(), issuer.der());
        let key_hash =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, issuer.public_key().raw());
        assert_eq!(tbs.responder_id, asn1::ResponderId::ByKey(der::asn1::OctetString::new(key_hash.as_ref()).unwrap()));
        let sig = b.signature.raw_bytes();
        let tbs_der = tbs.to_der().unwrap();
        match key_type {
            KeyType::P256 => {
                let raw = psd2_eidas::ecdsa_der_to_raw(sig, 32).unwrap();
                issuer.public_key().verify(SignatureScheme::EcdsaP256Sha256, &tbs_der, &raw).unwrap();
            }
            _ => issuer.public_key().verify(SignatureScheme::RsaPkcs1Sha256, &tbs_der, sig).unwrap(),
        }
    }
}

#[test]
fn malformed_requests_get_malformed_request() {
    let (_dir, ca) = init(KeyType::P256);
    let responder = OcspResponder::new(&ca, CertKind::Qwac).unwrap();
    let issuer = ca.issuing_certificate(CertKind::Qwac);
    let serials: Vec<[u8; 2]> = (0..=ocsp::MAX_REQUESTS as u16).map(|i| (0x4000 + i).to_be_bytes()).collect();
    let too_many: Vec<&[u8]> = serials.iter().map(|s| s.as_slice()).collect();
    for bad in
        [b"".to_vec(), b"not DER".to_vec(), vec![0x30, 0x00], ocsp::build_request(issuer, &too_many, None).unwrap()]
    {
        let r = asn1::OcspResponse::from_der(&responder.respond(&bad, NOW).unwrap()).unwrap();
        assert_eq!(r.response_status, asn1::OcspResponseStatus::MalformedRequest);
        assert!(r.response_bytes.is_none());
    }
    assert!(ocsp::build_request(issuer, &[&[1]], Some(&[0; 33])).is_err());
    let r = asn1::OcspResponse::from_der(&ocsp::internal_error_response()).unwrap();
    assert_eq!(r.response_status, asn1::OcspResponseStatus::InternalError);
}

#[test]
fn a_delegated_signer_must_be_an_ocsp_signer_of_the_ca() {
    let (_dir, ca) = init(KeyType::P256);
    let cert = qwac(&ca);
    let signer = ca.issue_ocsp_signer(CertKind::Qwac, 30, None).unwrap();
    let key = signer.private_key.clone().unwrap();
    let responder = OcspResponder::new(&ca, CertKind::Qwac)
        .unwrap()
        .with_delegated_signer(signer.certificate.clone(), key)
        .unwrap();
    let req = ocsp::build_request(ca.issuing_certificate(CertKind::Qwac), &[cert.serial_bytes()], None).unwrap();
    let b = basic(&responder.respond(&req, NOW).unwrap());
    assert_eq!(b.certs.as_ref().unwrap()[0].to_der().unwrap(), signer.certificate.der());
    let raw = psd2_eidas::ecdsa_der_to_raw(b.signature.raw_bytes(), 32).unwrap();
    let tbs = b.tbs_response_data.to_der().unwrap();
    signer.certificate.public_key().verify(SignatureScheme::EcdsaP256Sha256, &tbs, &raw).unwrap();

    // A QWAC is no OCSP signer; the QSealC CA's signer does not sign for the QWAC CA.
    let qwac_key = ca.issue(&{
        let mut r = IssueRequest::new(CertKind::Qwac, subject());
        r.ev = EvSubject { domains: vec!["a.example.com".into()], locality: Some("Gent".into()), ..Default::default() };
        r
    });
    let qwac_issued = qwac_key.unwrap();
    let err = OcspResponder::new(&ca, CertKind::Qwac)
        .unwrap()
        .with_delegated_signer(qwac_issued.certificate.clone(), qwac_issued.private_key.clone().unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("id-kp-OCSPSigning"), "{err}");
    let other = ca.issue_ocsp_signer(CertKind::Qseal, 30, None).unwrap();
    let err = OcspResponder::new(&ca, CertKind::Qwac)
        .unwrap()
        .with_delegated_signer(other.certificate.clone(), other.private_key.clone().unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("not issued by"), "{err}");
}
