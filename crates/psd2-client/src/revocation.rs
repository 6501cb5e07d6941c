//! Whether a certificate is revoked: OCSP (RFC 6960) and CRLs (RFC 5280), as a TPP checks its
//! own QWAC and QSealC before the bank does, and as a bank checks a seal.
//!
//! - OCSP: [`ocsp_request`] builds the request (SHA-1 CertID, as responders expect, and a
//!   nonce); [`check_ocsp_response`] verifies the answer: status, nonce, the signature of the
//!   issuing CA or of a delegated responder it certified (`id-kp-OCSPSigning`), and that
//!   `thisUpdate`/`nextUpdate` hold at the verifier's clock. ASN.1 through RustCrypto's
//!   `x509-ocsp`.
//! - CRLs: [`check_crl`] lets rustls-webpki's path validation decide (the CRL's signature by the
//!   issuer, its scope, its expiry), then reads the entry for the revocation time.
//! - [`RevocationChecker`] fetches both over HTTP (the URLs from the certificate's
//!   authorityInfoAccess and CRL distribution points, or given), with a time-out, and caches each
//!   answer until its `nextUpdate`.
//!
//! Nothing here trusts a source it was not given: an answer that does not verify is an error,
//! never "good".

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use der::{Decode as _, Encode as _};
use psd2_eidas::{Certificate, SignatureScheme};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer as _, ParsedExtension};

use crate::error::Error;

/// What a revocation source says about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// Not revoked.
    Good,
    /// Revoked, since this time, for this reason when given.
    Revoked {
        /// The revocation time.
        at: OffsetDateTime,
        /// The reason (`keyCompromise`, …), when the source gives one.
        reason: Option<String>,
    },
    /// The source does not know the certificate (OCSP `unknown`, a CRL that does not cover it).
    Unknown,
}

/// One answer, with where it came from and how long it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verdict {
    /// The status.
    pub status: Status,
    /// `OCSP <url>` or `CRL <url or file>`.
    pub source: String,
    /// When the answer was made.
    pub this_update: Option<OffsetDateTime>,
    /// Until when it holds (also how long it is cached).
    pub next_update: Option<OffsetDateTime>,
}

fn err(source: &str, reason: impl std::fmt::Display) -> Error {
    Error::Revocation { via: source.to_owned(), reason: reason.to_string() }
}

fn sha1(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, data).as_ref().to_vec()
}

fn parsed<'a>(c: &'a Certificate, source: &str) -> Result<x509_parser::certificate::X509Certificate<'a>, Error> {
    c.parsed().map_err(|e| err(source, e))
}

/// The OCSP responder URLs of the certificate's authorityInfoAccess.
pub fn ocsp_urls(cert: &Certificate) -> Vec<String> {
    access_urls(cert, "1.3.6.1.5.5.7.48.1")
}

/// The caIssuers URLs of the certificate's authorityInfoAccess (where its issuer is published).
pub fn ca_issuers_urls(cert: &Certificate) -> Vec<String> {
    access_urls(cert, "1.3.6.1.5.5.7.48.2")
}

fn access_urls(cert: &Certificate, method: &str) -> Vec<String> {
    let Ok(x) = cert.parsed() else { return Vec::new() };
    let mut out = Vec::new();
    for ext in x.extensions() {
        if let ParsedExtension::AuthorityInfoAccess(aia) = ext.parsed_extension() {
            for d in &aia.accessdescs {
                if d.access_method.to_id_string() == method
                    && let x509_parser::extensions::GeneralName::URI(u) = &d.access_location
                {
                    out.push((*u).to_owned());
                }
            }
        }
    }
    out
}

/// The URIs of the certificate's CRL distribution points.
pub fn crl_urls(cert: &Certificate) -> Vec<String> {
    let Ok(x) = cert.parsed() else { return Vec::new() };
    let mut out = Vec::new();
    for ext in x.extensions() {
        if let ParsedExtension::CRLDistributionPoints(points) = ext.parsed_extension() {
            for p in points.iter() {
                if let Some(x509_parser::extensions::DistributionPointName::FullName(names)) = &p.distribution_point {
                    for n in names {
                        if let x509_parser::extensions::GeneralName::URI(u) = n {
                            out.push((*u).to_owned());
                        }
                    }
                }
            }
        }
    }
    out
}

/// The CertID of `cert` under `issuer` (SHA-1 of the issuer's name and key, the serial).
fn cert_id(cert: &Certificate, issuer: &Certificate, source: &str) -> Result<x509_ocsp::CertId, Error> {
    let i = parsed(issuer, source)?;
    let name_hash = sha1(i.tbs_certificate.subject.as_raw());
    let key_hash = sha1(&i.tbs_certificate.subject_pki.subject_public_key.data);
    let bad = |e: der::Error| err(source, format!("building the CertID: {e}"));
    Ok(x509_ocsp::CertId {
        hash_algorithm: spki::AlgorithmIdentifierOwned {
            oid: const_oid09::db::rfc5912::ID_SHA_1,
            parameters: Some(der::asn1::Null.into()),
        },
        issuer_name_hash: der::asn1::OctetString::new(name_hash).map_err(bad)?,
        issuer_key_hash: der::asn1::OctetString::new(key_hash).map_err(bad)?,
        serial_number: x509_cert::serial_number::SerialNumber::new(cert.serial_bytes()).map_err(bad)?,
    })
}

/// A DER `OCSPRequest` for `cert` (issued by `issuer`), with `nonce` as the nonce extension.
pub fn ocsp_request(cert: &Certificate, issuer: &Certificate, nonce: &[u8]) -> Result<Vec<u8>, Error> {
    let source = "OCSP request";
    let bad = |e: der::Error| err(source, e);
    let nonce = x509_ocsp::ext::Nonce::new(nonce.to_vec()).map_err(bad)?;
    let ext = x509_cert::ext::Extension {
        extn_id: const_oid09::db::rfc6960::ID_PKIX_OCSP_NONCE,
        critical: false,
        extn_value: der::asn1::OctetString::new(nonce.to_der().map_err(bad)?).map_err(bad)?,
    };
    let req = x509_ocsp::OcspRequest {
        tbs_request: x509_ocsp::TbsRequest {
            version: x509_ocsp::Version::V1,
            requestor_name: None,
            request_list: vec![x509_ocsp::Request {
                req_cert: cert_id(cert, issuer, source)?,
                single_request_extensions: None,
            }],
            request_extensions: Some(vec![ext]),
        },
        optional_signature: None,
    };
    req.to_der().map_err(bad)
}

fn time_of(t: &x509_ocsp::OcspGeneralizedTime) -> Option<OffsetDateTime> {
    let secs = i64::try_from(t.0.to_unix_duration().as_secs()).ok()?;
    OffsetDateTime::from_unix_timestamp(secs).ok()
}

/// The scheme of a signature algorithm OID, and whether the signature is DER (ECDSA).
fn scheme_of(oid: &str) -> Option<(SignatureScheme, bool)> {
    Some(match oid {
        "1.2.840.113549.1.1.11" => (SignatureScheme::RsaPkcs1Sha256, false),
        "1.2.840.113549.1.1.12" => (SignatureScheme::RsaPkcs1Sha384, false),
        "1.2.840.113549.1.1.13" => (SignatureScheme::RsaPkcs1Sha512, false),
        "1.2.840.10045.4.3.2" => (SignatureScheme::EcdsaP256Sha256, true),
        "1.2.840.10045.4.3.3" => (SignatureScheme::EcdsaP384Sha384, true),
        "1.3.101.112" => (SignatureScheme::Ed25519, false),
        _ => return None,
    })
}

fn verify_signed(signer: &Certificate, oid: &str, data: &[u8], signature: &[u8], source: &str) -> Result<(), Error> {
    let (scheme, der) = scheme_of(oid)
        .ok_or_else(|| err(source, format!("the response is signed with unsupported algorithm {oid}")))?;
    let raw;
    let sig = if der {
        let size = if scheme == SignatureScheme::EcdsaP384Sha384 { 48 } else { 32 };
        raw = psd2_eidas::ecdsa_der_to_raw(signature, size).map_err(|e| err(source, e))?;
        &raw[..]
    } else {
        signature
    };
    signer.public_key().verify(scheme, data, sig).map_err(|e| {
        err(source, format!("the response's signature does not verify with {}: {e}", signer.subject().to_display()))
    })
}

/// Checks a DER `OCSPResponse` for `cert` (issued by `issuer`): a successful basic response,
/// signed by `issuer` or by a responder certificate that `issuer` issued for OCSP signing, with
/// the `nonce` sent (when the response carries one), a `thisUpdate` not in the future and a
/// `nextUpdate` not in the past at `now` (five minutes of clock skew allowed).
pub fn check_ocsp_response(
    der: &[u8],
    cert: &Certificate,
    issuer: &Certificate,
    nonce: Option<&[u8]>,
    now: OffsetDateTime,
    source: &str,
) -> Result<Verdict, Error> {
    let resp = x509_ocsp::OcspResponse::from_der(der).map_err(|e| err(source, format!("not an OCSP response: {e}")))?;
    if resp.response_status != x509_ocsp::OcspResponseStatus::Successful {
        return Err(err(source, format!("the responder answered {:?}", resp.response_status)));
    }
    let bytes = resp.response_bytes.ok_or_else(|| err(source, "a successful response without response bytes"))?;
    if bytes.response_type != const_oid09::db::rfc6960::ID_PKIX_OCSP_BASIC {
        return Err(err(source, format!("response type {} is not id-pkix-ocsp-basic", bytes.response_type)));
    }
    let basic = x509_ocsp::BasicOcspResponse::from_der(bytes.response.as_bytes())
        .map_err(|e| err(source, format!("not a basic OCSP response: {e}")))?;
    let tbs = basic.tbs_response_data.to_der().map_err(|e| err(source, e))?;
    let oid = basic.signature_algorithm.oid.to_string();
    let signature = basic.signature.raw_bytes();
    // The signer: the issuing CA itself, or a delegated responder it certified.
    if let Err(by_issuer) = verify_signed(issuer, &oid, &tbs, signature, source) {
        let delegated = basic.certs.iter().flatten().find_map(|c| {
            let c = Certificate::from_der(&c.to_der().ok()?).ok()?;
            verify_signed(&c, &oid, &tbs, signature, source).ok().map(|()| c)
        });
        let Some(responder) = delegated else { return Err(by_issuer) };
        psd2_httpsig::check_issued_by(&responder, &[], std::slice::from_ref(issuer), now).map_err(|e| {
            err(
                source,
                format!("the responder certificate {} is not the issuer's: {e}", responder.subject().to_display()),
            )
        })?;
        let x = parsed(&responder, source)?;
        let ocsp_signing = x.extended_key_usage().ok().flatten().is_some_and(|e| e.value.ocsp_signing);
        if !ocsp_signing {
            return Err(err(
                source,
                format!("the responder certificate {} lacks id-kp-OCSPSigning", responder.subject().to_display()),
            ));
        }
    }
    if let Some(sent) = nonce {
        let echoed = basic
            .tbs_response_data
            .response_extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == const_oid09::db::rfc6960::ID_PKIX_OCSP_NONCE);
        if let Some(e) = echoed {
            let got = x509_ocsp::ext::Nonce::from_der(e.extn_value.as_bytes())
                .map(|n| n.0.as_bytes().to_vec())
                .or_else(|_| Ok::<_, Error>(e.extn_value.as_bytes().to_vec()))?;
            if got != sent {
                return Err(err(source, "the response's nonce is not the one sent (a replayed answer)"));
            }
        }
    }
    let want = cert_id(cert, issuer, source)?;
    let single = basic
        .tbs_response_data
        .responses
        .iter()
        .find(|r| r.cert_id.serial_number == want.serial_number && r.cert_id.issuer_key_hash == want.issuer_key_hash)
        .ok_or_else(|| err(source, format!("the response has no answer for serial {}", cert.serial_hex())))?;
    let skew = time::Duration::minutes(5);
    let this_update = time_of(&single.this_update);
    let next_update = single.next_update.as_ref().and_then(time_of);
    if this_update.is_some_and(|t| t > now + skew) {
        return Err(err(source, "the response's thisUpdate is in the future"));
    }
    if let Some(n) = next_update
        && n + skew < now
    {
        return Err(err(source, format!("the response expired at {n} (nextUpdate)")));
    }
    let status = match &single.cert_status {
        x509_ocsp::CertStatus::Good(_) => Status::Good,
        x509_ocsp::CertStatus::Revoked(info) => Status::Revoked {
            at: time_of(&info.revocation_time).unwrap_or(OffsetDateTime::UNIX_EPOCH),
            reason: info.revocation_reason.map(|r| format!("{r:?}")),
        },
        x509_ocsp::CertStatus::Unknown(_) => Status::Unknown,
    };
    Ok(Verdict { status, source: source.to_owned(), this_update, next_update })
}

/// Accepts any extended key usage: revocation is the question here, not the purpose.
struct AnyEku;

impl webpki::ExtendedKeyUsageValidator for AnyEku {
    fn validate(&self, _: webpki::KeyPurposeIdIter<'_, '_>) -> std::result::Result<(), webpki::Error> {
        Ok(())
    }
}

/// Checks `cert` against a DER CRL of its `issuer` at `now`: rustls-webpki verifies the CRL's
/// signature by the issuer, that it covers the certificate and has not expired, and finds the
/// serial; the entry gives the revocation time.
pub fn check_crl(
    crl_der: &[u8],
    cert: &Certificate,
    issuer: &Certificate,
    now: OffsetDateTime,
    source: &str,
) -> Result<Verdict, Error> {
    use rustls_pki_types::{CertificateDer, UnixTime};
    let crl = webpki::OwnedCertRevocationList::from_der(crl_der).map_err(|e| err(source, format!("not a CRL: {e}")))?;
    let crl: webpki::CertRevocationList<'_> = crl.into();
    let crls = [&crl];
    let revocation = webpki::RevocationOptionsBuilder::new(&crls)
        .map_err(|_| err(source, "no CRL"))?
        .with_depth(webpki::RevocationCheckDepth::EndEntity)
        .with_status_policy(webpki::UnknownStatusPolicy::Deny)
        .with_expiration_policy(webpki::ExpirationPolicy::Enforce)
        .build();
    let issuer_der = CertificateDer::from(issuer.der());
    let anchor = webpki::anchor_from_trusted_cert(&issuer_der).map_err(|e| err(source, e))?;
    let ee_der = CertificateDer::from(cert.der());
    let ee = webpki::EndEntityCert::try_from(&ee_der).map_err(|e| err(source, e))?;
    let secs = u64::try_from(now.unix_timestamp()).unwrap_or(0);
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs));
    let (_, parsed_crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(crl_der)
        .map_err(|e| err(source, format!("not a CRL: {e}")))?;
    let issuer_name = parsed(issuer, source)?.tbs_certificate.subject.as_raw().to_vec();
    if parsed_crl.issuer().as_raw() != issuer_name.as_slice() {
        return Err(err(
            source,
            format!("the CRL is issued by {}, not by {}", parsed_crl.issuer(), issuer.subject().to_display()),
        ));
    }
    let t = |t: x509_parser::time::ASN1Time| OffsetDateTime::from_unix_timestamp(t.timestamp()).ok();
    let (this_update, next_update) = (t(parsed_crl.last_update()), parsed_crl.next_update().and_then(t));
    let verdict = |status| Verdict { status, source: source.to_owned(), this_update, next_update };
    match ee.verify_for_usage(webpki::ALL_VERIFICATION_ALGS, &[anchor], &[], time, AnyEku, Some(revocation), None) {
        Ok(_) => Ok(verdict(Status::Good)),
        Err(webpki::Error::CertRevoked) => {
            let entry = crl.find_serial(cert.serial_bytes()).ok().flatten();
            let at = entry
                .as_ref()
                .and_then(|e| {
                    OffsetDateTime::from_unix_timestamp(i64::try_from(e.revocation_date.as_secs()).ok()?).ok()
                })
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            let reason = entry.and_then(|e| e.reason_code).map(|r| format!("{r:?}"));
            Ok(verdict(Status::Revoked { at, reason }))
        }
        Err(webpki::Error::UnknownRevocationStatus) => Ok(verdict(Status::Unknown)),
        Err(webpki::Error::CrlExpired { .. }) => Err(err(source, "the CRL has expired (its nextUpdate is past)")),
        Err(webpki::Error::InvalidCrlSignatureForPublicKey) => {
            Err(err(source, format!("the CRL is not signed by {}", issuer.subject().to_display())))
        }
        Err(e) => Err(err(source, format!("the certificate and the CRL's issuer do not fit: {e}"))),
    }
}

/// Fetches OCSP answers and CRLs over HTTP with a time-out and caches each until its
/// `nextUpdate` (at most a day).
///
/// ```no_run
/// # async fn run(cert: psd2_eidas::Certificate, issuer: psd2_eidas::Certificate) -> Result<(), psd2_client::Error> {
/// use psd2_client::revocation::{RevocationChecker, Status};
/// let checker = RevocationChecker::new(std::time::Duration::from_secs(10))?;
/// let now = time::OffsetDateTime::now_utc();
/// let v = checker.ocsp(&cert, &issuer, None, now).await?;
/// assert_eq!(v.status, Status::Good);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RevocationChecker {
    http: reqwest::Client,
    cache: Arc<Mutex<HashMap<String, (Verdict, OffsetDateTime)>>>,
}

impl std::fmt::Debug for RevocationChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationChecker").finish_non_exhaustive()
    }
}

impl RevocationChecker {
    /// A checker whose every fetch ends after `timeout`. https URLs are verified against the
    /// public web roots.
    pub fn new(timeout: Duration) -> Result<Self, Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("revocation TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::limited(3))
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(concat!("psd2-sign/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("revocation HTTP client: {e}")))?;
        Ok(Self { http, cache: Arc::new(Mutex::new(HashMap::new())) })
    }

    fn cached(&self, key: &str, now: OffsetDateTime) -> Option<Verdict> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(key).filter(|(_, until)| now < *until).map(|(v, _)| v.clone())
    }

    fn remember(&self, key: String, v: &Verdict, now: OffsetDateTime) {
        let until = v.next_update.unwrap_or(now).min(now + time::Duration::days(1));
        if until > now {
            self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(key, (v.clone(), until));
        }
    }

    /// Asks the OCSP responder at `url` (default: the certificate's authorityInfoAccess) about
    /// `cert`, with a fresh nonce, and checks the answer ([`check_ocsp_response`]).
    pub async fn ocsp(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        url: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Verdict, Error> {
        let url = match url {
            Some(u) => u.to_owned(),
            None => ocsp_urls(cert).into_iter().next().ok_or_else(|| {
                err("OCSP", format!("{} names no OCSP responder (authorityInfoAccess)", cert.subject().to_display()))
            })?,
        };
        let source = format!("OCSP {url}");
        let key = format!("{source} {}", cert.fingerprint_sha256());
        if let Some(v) = self.cached(&key, now) {
            return Ok(v);
        }
        let mut nonce = vec![0u8; 16];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| Error::Config("the system random generator failed".into()))?;
        let body = ocsp_request(cert, issuer, &nonce)?;
        let request = self.http.post(&url).header(reqwest::header::CONTENT_TYPE, "application/ocsp-request").body(body);
        let der = fetch(request, &source).await?;
        let v = check_ocsp_response(&der, cert, issuer, Some(&nonce), now, &source)?;
        self.remember(key, &v, now);
        Ok(v)
    }

    /// Fetches the CRL at `url` (default: the certificate's first CRL distribution point) and
    /// checks `cert` against it ([`check_crl`]).
    pub async fn crl(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        url: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Verdict, Error> {
        let url = match url {
            Some(u) => u.to_owned(),
            None => crl_urls(cert).into_iter().next().ok_or_else(|| {
                err("CRL", format!("{} names no CRL distribution point", cert.subject().to_display()))
            })?,
        };
        let source = format!("CRL {url}");
        let key = format!("{source} {}", cert.fingerprint_sha256());
        if let Some(v) = self.cached(&key, now) {
            return Ok(v);
        }
        let data = fetch(self.http.get(&url), &source).await?;
        let der = crl_der(&data).ok_or_else(|| err(&source, "neither a DER CRL nor a PEM X509 CRL block"))?;
        let v = check_crl(&der, cert, issuer, now, &source)?;
        self.remember(key, &v, now);
        Ok(v)
    }
}

impl RevocationChecker {
    /// Fetches the certificate(s) published at a caIssuers URL (DER, or PEM with one or more
    /// certificates), to complete a chain that lacks its issuer.
    pub async fn ca_issuer(&self, url: &str) -> Result<Vec<Certificate>, Error> {
        let source = format!("caIssuers {url}");
        let data = fetch(self.http.get(url), &source).await?;
        Certificate::from_pem_or_der(&data).map_err(|e| err(&source, e))
    }
}

/// The DER of a CRL given as DER, or as PEM with an `X509 CRL` block (files and URLs come in
/// both forms); `None` for PEM without one.
pub fn crl_der(data: &[u8]) -> Option<Vec<u8>> {
    if !psd2_eidas::pem::looks_like_pem(data) {
        return Some(data.to_vec());
    }
    let blocks = psd2_eidas::pem::parse(data).ok()?;
    blocks.into_iter().find(|b| b.label == "X509 CRL").map(|b| b.der.to_vec())
}

/// Sends `request` and reads the whole answer (at most 10 MiB); no answer, or a status other
/// than 2xx, is an error naming `source`.
async fn fetch(request: reqwest::RequestBuilder, source: &str) -> Result<Vec<u8>, Error> {
    let resp = request.send().await.map_err(|e| err(source, format!("no answer: {}", crate::client::chain(&e))))?;
    if !resp.status().is_success() {
        return Err(err(source, format!("HTTP {}", resp.status().as_u16())));
    }
    read_capped(resp, source).await
}

/// The body, at most 10 MiB (a CRL of a large CA is a few MiB).
async fn read_capped(mut resp: reqwest::Response, source: &str) -> Result<Vec<u8>, Error> {
    const MAX: usize = 10 << 20;
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| err(source, format!("reading the answer: {e}")))? {
        out.extend_from_slice(&chunk);
        if out.len() > MAX {
            return Err(err(source, format!("the answer is larger than {MAX} bytes")));
        }
    }
    Ok(out)
}
