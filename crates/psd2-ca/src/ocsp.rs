//! An OCSP responder (RFC 6960) for the issuing CAs of a [`CertificateAuthority`].
//!
//! [`OcspResponder::respond`] takes a DER `OCSPRequest` and returns a DER `OCSPResponse`:
//! each `CertID` whose issuer name hash and issuer key hash are those of the responder's CA
//! (SHA-1, SHA-256, SHA-384 or SHA-512) gets the status the CA database records for its serial
//! number — `good`, `revoked` with the revocation time, or `unknown` for a serial the CA never
//! issued; a `CertID` of another issuer, or with another hash algorithm, is `unknown`.
//! thisUpdate and producedAt are the time given, nextUpdate is [`DEFAULT_VALIDITY`] later (or
//! [`OcspResponder::with_validity`]); the request's nonce extension is echoed. The response is
//! signed by the issuing CA's key (a file or token key: any [`psd2_eidas::Signer`]), or by a
//! delegated OCSP signer ([`OcspResponder::with_delegated_signer`]), and carries the signer's
//! certificate. A request that does not parse gets a `malformedRequest` response.
//!
//! The ASN.1 types are RustCrypto's `x509-ocsp` (re-exported as [`asn1`]), so a client can
//! build requests and read responses with the same types; [`build_request`] makes a request.
//!
//! ```
//! use psd2_ca::ocsp::{self, CertStatus, OcspResponder};
//! use psd2_ca::{CertKind, CertificateAuthority, InitOptions, KeyType};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let ca = CertificateAuthority::init(dir.path(), &InitOptions { key_type: KeyType::P256, ..Default::default() })?;
//! let responder = OcspResponder::new(&ca, CertKind::Qwac)?;
//! let issuer = ca.issuing_certificate(CertKind::Qwac);
//! let request = ocsp::build_request(issuer, &[&[0x4a, 0x01]], Some(b"0123456789abcdef"))?;
//! let now = time::macros::datetime!(2026-11-26 10:00 UTC);
//! let response = responder.respond(&request, now)?;
//! let statuses = ocsp::read_statuses(&response)?;
//! assert_eq!(statuses, vec![(vec![0x4a, 0x01], CertStatus::Unknown)]); // never issued
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use der::asn1::{BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString};
use der::{Decode as _, Encode as _};
use psd2_eidas::{Certificate, KeyKind, SignatureScheme, Signer};
use spki::AlgorithmIdentifierOwned;
use time::{Duration, OffsetDateTime};
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;
use x509_ocsp::{
    BasicOcspResponse, CertId, OcspGeneralizedTime, OcspRequest, OcspResponse, OcspResponseStatus, Request,
    ResponderId, ResponseData, RevokedInfo, SingleResponse, TbsRequest, Version,
};

use crate::authority::{CaEntry, CertificateAuthority};
use crate::issue::hex;
use crate::profile::CertKind;
use crate::{Error, db};

/// RustCrypto's `x509-ocsp` crate, whose types requests and responses are made of.
pub use x509_ocsp as asn1;

/// The media type of a DER `OCSPRequest` (RFC 6960 appendix C.1).
pub const REQUEST_CONTENT_TYPE: &str = "application/ocsp-request";
/// The media type of a DER `OCSPResponse` (RFC 6960 appendix C.2).
pub const RESPONSE_CONTENT_TYPE: &str = "application/ocsp-response";
/// nextUpdate − thisUpdate of the responses, unless [`OcspResponder::with_validity`] says
/// otherwise: one hour (the responses are made from the database on each request).
pub const DEFAULT_VALIDITY: Duration = Duration::hours(1);
/// The most `CertID`s one request may ask about; more is a `malformedRequest`.
pub const MAX_REQUESTS: usize = 64;
/// RFC 8954 §2.1: a nonce is 1 to 32 octets; a longer one is a `malformedRequest`.
pub const MAX_NONCE: usize = 32;

const OID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const OID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const OID_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
const OID_SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// id-kp-OCSPSigning (RFC 6960 §4.2.2.2).
pub const OID_KP_OCSP_SIGNING: &str = "1.3.6.1.5.5.7.3.9";

/// The revocation status of one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStatus {
    /// Issued by the CA and not revoked.
    Good,
    /// Revoked.
    Revoked {
        /// When it was revoked.
        revoked_at: OffsetDateTime,
    },
    /// Not issued by this CA (or asked of the wrong responder).
    Unknown,
}

/// Serial number octets without DER sign padding, lower-case hex (the database's form).
fn serial_key(serial: &[u8]) -> String {
    let skip = serial.iter().take_while(|b| **b == 0).count().min(serial.len().saturating_sub(1));
    hex(&serial[skip..])
}

fn generate(reason: impl std::fmt::Display) -> Error {
    Error::Generate { what: "OCSP response", reason: reason.to_string() }
}

impl CertificateAuthority {
    /// The status of the certificate with serial number `serial` (big-endian octets, sign
    /// padding allowed) among those the issuing CA of `kind` issued, from the CA database.
    pub fn status(&self, kind: CertKind, serial: &[u8]) -> Result<CertStatus, Error> {
        status_in(
            &self.layout.issued_db(self.issuing(kind).name),
            &self.layout.revoked_db(self.issuing(kind).name),
            serial,
        )
    }
}

fn status_in(issued: &std::path::Path, revoked: &std::path::Path, serial: &[u8]) -> Result<CertStatus, Error> {
    let key = serial_key(serial);
    if !db::read_issued(issued)?.iter().any(|e| e.serial_hex == key) {
        return Ok(CertStatus::Unknown);
    }
    Ok(match db::read_revoked(revoked)?.into_iter().find(|r| r.serial_hex == key) {
        Some(r) => CertStatus::Revoked { revoked_at: r.revoked_at },
        None => CertStatus::Good,
    })
}

/// The digest of `data` with the hash algorithm `oid`; `None` for an algorithm not supported.
fn digest(oid: &ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    use aws_lc_rs::digest;
    let alg = match *oid {
        OID_SHA1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        OID_SHA256 => &digest::SHA256,
        OID_SHA384 => &digest::SHA384,
        OID_SHA512 => &digest::SHA512,
        _ => return None,
    };
    Some(digest::digest(alg, data).as_ref().to_vec())
}

/// The DER subject name and the subjectPublicKey bits of a certificate: what a `CertID` hashes.
fn name_and_key(cert: &Certificate) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let parsed = cert.parsed()?;
    Ok((parsed.subject().as_raw().to_vec(), cert.public_key().raw().to_vec()))
}

fn ocsp_time(t: OffsetDateTime) -> Result<OcspGeneralizedTime, Error> {
    let secs = u64::try_from(t.unix_timestamp()).map_err(|_| generate("a time before 1970"))?;
    let dt = der::DateTime::from_unix_duration(std::time::Duration::from_secs(secs)).map_err(generate)?;
    Ok(OcspGeneralizedTime(GeneralizedTime::from_date_time(dt)))
}

/// The signature algorithm identifier of what `scheme` signs.
fn signature_algorithm(scheme: SignatureScheme) -> Result<AlgorithmIdentifierOwned, Error> {
    let (oid, parameters) = match scheme {
        SignatureScheme::RsaPkcs1Sha256 => (OID_SHA256_WITH_RSA, Some(Null.into())),
        SignatureScheme::EcdsaP256Sha256 => (OID_ECDSA_SHA256, None),
        SignatureScheme::EcdsaP384Sha384 => (OID_ECDSA_SHA384, None),
        other => return Err(generate(format!("no signature algorithm for {other:?}"))),
    };
    Ok(AlgorithmIdentifierOwned { oid, parameters })
}

/// The key that signs the responses and the certificate that goes with them.
#[derive(Debug, Clone)]
struct ResponseSigner {
    key: Arc<dyn Signer>,
    cert: Certificate,
    scheme: SignatureScheme,
}

impl ResponseSigner {
    fn new(key: Arc<dyn Signer>, cert: Certificate) -> Result<Self, Error> {
        let scheme = crate::RcgenSigner::new(key.clone())?.scheme();
        Ok(Self { key, cert, scheme })
    }
}

/// Answers OCSP requests about the certificates one issuing CA issued (see the module
/// documentation). Cheap to clone; holds the CA certificate and key, not the database, which it
/// reads on every request (a revocation made meanwhile by another process is answered).
#[derive(Debug, Clone)]
pub struct OcspResponder {
    ca_name: &'static str,
    issuer: Certificate,
    issuer_name: Vec<u8>,
    issuer_key: Vec<u8>,
    issued_db: PathBuf,
    revoked_db: PathBuf,
    signer: ResponseSigner,
    validity: Duration,
}

impl OcspResponder {
    /// The responder of the issuing CA for `kind`, signing with that CA's key.
    pub fn new(ca: &CertificateAuthority, kind: CertKind) -> Result<Self, Error> {
        let entry: &CaEntry = ca.issuing(kind);
        let (issuer_name, issuer_key) = name_and_key(&entry.cert)?;
        Ok(Self {
            ca_name: entry.name,
            issuer: entry.cert.clone(),
            issuer_name,
            issuer_key,
            issued_db: ca.layout.issued_db(entry.name),
            revoked_db: ca.layout.revoked_db(entry.name),
            signer: ResponseSigner::new(entry.key.clone(), entry.cert.clone())?,
            validity: DEFAULT_VALIDITY,
        })
    }

    /// nextUpdate − thisUpdate of the responses (at least one second).
    pub fn with_validity(mut self, validity: Duration) -> Self {
        self.validity = validity.max(Duration::SECOND);
        self
    }

    /// Signs with a delegated OCSP signer (RFC 6960 §4.2.2.2) instead of the CA key: `cert`
    /// must be issued (and signed) by this responder's CA, carry the extended key usage
    /// id-kp-OCSPSigning, and hold the public key of `key`.
    pub fn with_delegated_signer(mut self, cert: Certificate, key: Arc<dyn Signer>) -> Result<Self, Error> {
        let bad = |why: &str| Error::input("OCSP signer", format!("{}: {why}", cert.subject()));
        if key.public_key() != cert.public_key() {
            return Err(bad("the key does not match the certificate"));
        }
        let parsed = cert.parsed()?;
        let issuer = self.issuer.parsed()?;
        if parsed.issuer().as_raw() != issuer.subject().as_raw()
            || parsed.verify_signature(Some(issuer.public_key())).is_err()
        {
            return Err(bad(&format!("not issued by {}", self.issuer.subject())));
        }
        let ocsp_signing = match parsed.extended_key_usage() {
            Ok(Some(eku)) => eku.value.ocsp_signing,
            _ => false,
        };
        if !ocsp_signing {
            return Err(bad("no extended key usage id-kp-OCSPSigning"));
        }
        self.signer = ResponseSigner::new(key, cert)?;
        Ok(self)
    }

    /// The name of the CA it answers for (`qwac-ca`, `qseal-ca`).
    pub fn ca_name(&self) -> &'static str {
        self.ca_name
    }

    /// The CA certificate whose `CertID`s it answers.
    pub fn issuer(&self) -> &Certificate {
        &self.issuer
    }

    /// The certificate of the key that signs the responses (the CA's, or the delegated signer's).
    pub fn signer_certificate(&self) -> &Certificate {
        &self.signer.cert
    }

    /// The DER `OCSPResponse` to the DER `OCSPRequest` `request`, as of `now`: `successful`
    /// with one answer per `CertID`, or `malformedRequest` for a request that does not parse
    /// (too many `CertID`s, a nonce over 32 octets). An error is the responder's own failure
    /// (a damaged database, a key that cannot sign): answer it with [`internal_error_response`].
    pub fn respond(&self, request: &[u8], now: OffsetDateTime) -> Result<Vec<u8>, Error> {
        let Some(req) = parse_request(request) else {
            return OcspResponse::malformed_request().to_der().map_err(generate);
        };
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let this_update = ocsp_time(now)?;
        let next_update = ocsp_time(now + self.validity)?;
        let mut responses = Vec::with_capacity(req.tbs_request.request_list.len());
        for r in &req.tbs_request.request_list {
            let id = &r.req_cert;
            let ours = digest(&id.hash_algorithm.oid, &self.issuer_name)
                .is_some_and(|h| h == id.issuer_name_hash.as_bytes())
                && digest(&id.hash_algorithm.oid, &self.issuer_key).is_some_and(|h| h == id.issuer_key_hash.as_bytes());
            let status = if ours {
                status_in(&self.issued_db, &self.revoked_db, id.serial_number.as_bytes())?
            } else {
                CertStatus::Unknown
            };
            let cert_status = match status {
                CertStatus::Good => x509_ocsp::CertStatus::good(),
                CertStatus::Revoked { revoked_at } => x509_ocsp::CertStatus::revoked(RevokedInfo {
                    revocation_time: ocsp_time(revoked_at)?,
                    revocation_reason: None,
                }),
                CertStatus::Unknown => x509_ocsp::CertStatus::unknown(),
            };
            responses.push(SingleResponse {
                cert_id: id.clone(),
                cert_status,
                this_update,
                next_update: Some(next_update),
                single_extensions: None,
            });
        }
        let nonce =
            req.tbs_request.request_extensions.iter().flatten().find(|e| e.extn_id == OID_NONCE).map(|e| Extension {
                extn_id: OID_NONCE,
                critical: false,
                extn_value: e.extn_value.clone(),
            });
        let key_hash = digest(&OID_SHA1, self.signer.cert.public_key().raw()).unwrap_or_default();
        let tbs = ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(OctetString::new(key_hash).map_err(generate)?),
            produced_at: this_update,
            responses,
            response_extensions: nonce.map(|n| vec![n]),
        };
        let tbs_der = tbs.to_der().map_err(generate)?;
        let mut sig = self
            .signer
            .key
            .sign(self.signer.scheme, &tbs_der)
            .map_err(|source| Error::Sign { what: "OCSP response", source })?;
        if matches!(self.signer.key.public_key().kind(), KeyKind::Ec(_)) {
            sig = psd2_eidas::ecdsa_raw_to_der(&sig).map_err(|source| Error::Sign { what: "OCSP response", source })?;
        }
        let basic = BasicOcspResponse {
            tbs_response_data: tbs,
            signature_algorithm: signature_algorithm(self.signer.scheme)?,
            signature: BitString::from_bytes(&sig).map_err(generate)?,
            certs: Some(vec![x509_cert::Certificate::from_der(self.signer.cert.der()).map_err(generate)?]),
        };
        OcspResponse::successful(basic).and_then(|r| r.to_der()).map_err(generate)
    }
}

/// The request, or `None` when it is not one this responder answers (`malformedRequest`).
fn parse_request(der: &[u8]) -> Option<OcspRequest> {
    let req = OcspRequest::from_der(der).ok()?;
    let n = req.tbs_request.request_list.len();
    if n == 0 || n > MAX_REQUESTS {
        return None;
    }
    let nonce = req.tbs_request.request_extensions.iter().flatten().find(|e| e.extn_id == OID_NONCE);
    if let Some(n) = nonce {
        // The extension value is an OCTET STRING holding the nonce octets (RFC 8954 §2.1).
        let inner = OctetString::from_der(n.extn_value.as_bytes()).ok()?;
        if inner.as_bytes().is_empty() || inner.as_bytes().len() > MAX_NONCE {
            return None;
        }
    }
    Some(req)
}

/// The `internalError` response (RFC 6960 §4.2.1), for a responder that failed.
pub fn internal_error_response() -> Vec<u8> {
    // Two fixed bytes of a SEQUENCE holding ENUMERATED 2; encoding it cannot fail.
    OcspResponse::internal_error().to_der().unwrap_or_else(|_| vec![0x30, 0x03, 0x0a, 0x01, 0x02])
}

/// The `malformedRequest` response (RFC 6960 §4.2.1), e.g. for an HTTP request that carries no
/// OCSP request at all.
pub fn malformed_request_response() -> Vec<u8> {
    OcspResponse::malformed_request().to_der().unwrap_or_else(|_| vec![0x30, 0x03, 0x0a, 0x01, 0x01])
}

/// A DER `OCSPRequest` for the certificates with these serial numbers (big-endian octets)
/// issued by `issuer`, with SHA-1 `CertID`s (what responders universally accept) and, when
/// given, a nonce extension (1 to 32 octets).
pub fn build_request(issuer: &Certificate, serials: &[&[u8]], nonce: Option<&[u8]>) -> Result<Vec<u8>, Error> {
    let bad = |e: der::Error| Error::Generate { what: "OCSP request", reason: e.to_string() };
    let (name, key) = name_and_key(issuer)?;
    let hash = |data: &[u8]| OctetString::new(digest(&OID_SHA1, data).unwrap_or_default()).map_err(bad);
    let mut request_list = Vec::with_capacity(serials.len());
    for serial in serials {
        request_list.push(Request {
            req_cert: CertId {
                hash_algorithm: AlgorithmIdentifierOwned { oid: OID_SHA1, parameters: Some(Null.into()) },
                issuer_name_hash: hash(&name)?,
                issuer_key_hash: hash(&key)?,
                serial_number: SerialNumber::new(serial).map_err(bad)?,
            },
            single_request_extensions: None,
        });
    }
    let request_extensions = match nonce {
        Some(n) if n.is_empty() || n.len() > MAX_NONCE => {
            return Err(Error::input("OCSP nonce", format!("{} octets (expected 1 to {MAX_NONCE})", n.len())));
        }
        Some(n) => {
            let value = OctetString::new(n).and_then(|o| o.to_der()).and_then(OctetString::new).map_err(bad)?;
            Some(vec![Extension { extn_id: OID_NONCE, critical: false, extn_value: value }])
        }
        None => None,
    };
    let req = OcspRequest {
        tbs_request: TbsRequest { version: Version::V1, requestor_name: None, request_list, request_extensions },
        optional_signature: None,
    };
    req.to_der().map_err(bad)
}

/// The statuses in a DER `OCSPResponse`, in order: the serial number (as encoded, sign padding
/// included) and its status. Reads the structure only: it does **not** check the signature,
/// the responder or the times (a client must). An unsuccessful response is an error naming
/// its status.
pub fn read_statuses(response: &[u8]) -> Result<Vec<(Vec<u8>, CertStatus)>, Error> {
    let bad = |reason: String| Error::Generate { what: "OCSP response reading", reason };
    let resp = OcspResponse::from_der(response).map_err(|e| bad(e.to_string()))?;
    if resp.response_status != OcspResponseStatus::Successful {
        return Err(bad(format!("status {:?}", resp.response_status)));
    }
    let bytes = resp.response_bytes.ok_or_else(|| bad("no responseBytes".into()))?;
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    for r in basic.tbs_response_data.responses {
        let status = match r.cert_status {
            x509_ocsp::CertStatus::Good(_) => CertStatus::Good,
            x509_ocsp::CertStatus::Unknown(_) => CertStatus::Unknown,
            x509_ocsp::CertStatus::Revoked(info) => {
                let t = info.revocation_time.0.to_unix_duration().as_secs();
                let revoked_at = i64::try_from(t)
                    .ok()
                    .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                    .ok_or_else(|| bad("revocation time out of range".into()))?;
                CertStatus::Revoked { revoked_at }
            }
        };
        out.push((r.cert_id.serial_number.as_bytes().to_vec(), status));
    }
    Ok(out)
}
