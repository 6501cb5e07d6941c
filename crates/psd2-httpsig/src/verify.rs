//! Verifying a sealed request the way a bank does: strictly, and saying exactly why it refuses.
//!
//! Checks, in order: the digest header recomputed from the body; the signature header parsed;
//! the certificate (given, or from `TPP-Signature-Certificate`) and, with trust anchors, that it
//! was issued by one of them and is valid now; keyId against the certificate; that everything
//! the profile requires is covered; the signature over the rebuilt signing string; the `Date`
//! header and `created`/`expires` against the clock-skew window.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::borrow::Cow;

use psd2_eidas::qc::QcType;
use psd2_eidas::{Certificate, KeyKind, KeyPolicy, PreparedPublicKey, Role, SignatureScheme};
use time::{Duration, OffsetDateTime};

use crate::cavage::{self, SignatureParams};
use crate::digest;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::profile::{DigestSpec, Format, KeyIdSource, Profile, SealRule, TPP_SIGNATURE_CERTIFICATE};
use crate::rfc9421::{self, Algorithm, VerifyingKey};

/// Default clock-skew window for `Date` and `created`.
pub const DEFAULT_SKEW: Duration = Duration::minutes(5);

/// Choices for [`verify`].
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The verifier's clock (default: now). Pin it to check old vectors.
    pub now: OffsetDateTime,
    /// Allowed distance between `Date`/`created` and `now` (default 5 minutes).
    pub skew: Duration,
    /// The certificate to verify with; without it the `TPP-Signature-Certificate` header is used.
    /// With both, they must be the same certificate.
    pub certificate: Option<Certificate>,
    /// An exact keyId to expect instead of deriving it from the certificate (STET URL, ING
    /// client id, a custom keyId).
    pub key_id: Option<String>,
    /// Trust anchors / issuing CAs: when non-empty, the certificate must be issued by one of
    /// them and be valid at `now`.
    pub ca: Vec<Certificate>,
    /// Untrusted intermediate CA certificates that may complete the path to `ca`.
    pub intermediates: Vec<Certificate>,
    /// The RFC 9421 label to check (default: the first in `Signature-Input`).
    pub rfc9421_label: Option<String>,
    /// Which signer keys are accepted (default [`KeyPolicy::Strict`]: no RSA below 2048 bits).
    pub key_policy: KeyPolicy,
    /// Development only: a signer that is not what the profile's [`SealRule`] demands (not a
    /// QSealC, no PSD2 role) is accepted, with a warning in [`Verified::warnings`], instead of
    /// refused. A CA certificate is refused even so. Never set this where a seal is trusted.
    pub dangerous_skip_eidas_checks: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            now: OffsetDateTime::now_utc(),
            skew: DEFAULT_SKEW,
            certificate: None,
            key_id: None,
            ca: Vec::new(),
            intermediates: Vec::new(),
            rfc9421_label: None,
            key_policy: KeyPolicy::Strict,
            dangerous_skip_eidas_checks: false,
        }
    }
}

/// What [`verify`] checked.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The rebuilt signing string / signature base that verified.
    pub signing_string: String,
    /// The covered components.
    pub covered: Vec<String>,
    /// The keyId found.
    pub key_id: Option<String>,
    /// The certificate that verified the signature.
    pub certificate: Certificate,
    /// The trust anchor its chain was validated to ([`check_issued_by`]); `None` when no CA was
    /// given, so the chain was not checked.
    pub anchor: Option<Certificate>,
    /// The algorithm used.
    pub algorithm: String,
    /// The digest header checked, if any.
    pub digest_header: Option<&'static str>,
    /// Whether the request was shown to be fresh.
    pub freshness: Freshness,
    /// What was accepted although a strict bank may refuse it (keyId without `CA=`, a signer
    /// that is not a QSealC under a profile that does not demand one, skipped eIDAS checks).
    pub warnings: Vec<String>,
}

/// Whether [`verify`] could tell a fresh request from a replayed one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Freshness {
    /// A signed time (the covered `Date` header, or the `created` parameter) is within the
    /// clock-skew window.
    Checked {
        /// `Date` or `created`.
        signed: &'static str,
    },
    /// Nothing signed carries a time, so freshness could not be checked.
    NotChecked {
        /// Why.
        why: &'static str,
    },
}

impl std::fmt::Display for Freshness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Checked { signed } => write!(f, "checked: the signed {signed} is within the clock-skew window"),
            Self::NotChecked { why } => write!(f, "not checked: {why}"),
        }
    }
}

fn describe(cert: &Certificate) -> String {
    format!("{} (serial {})", cert.subject().to_display(), cert.serial_hex())
}

/// Decodes a `TPP-Signature-Certificate` value: Base64 DER, PEM (one line or several), or
/// Base64 of PEM text.
pub fn decode_certificate_header(value: &str) -> Result<Certificate> {
    parse_sent(&decode_certificate_der(value)?)
}

fn parse_sent(der: &[u8]) -> Result<Certificate> {
    Certificate::from_der(der)
        .map_err(|e| Error::BadCertificate { header: TPP_SIGNATURE_CERTIFICATE.into(), why: e.to_string() })
}

/// The DER of a `TPP-Signature-Certificate` value ([`decode_certificate_header`]), not parsed.
fn decode_certificate_der(value: &str) -> Result<Vec<u8>> {
    let bad = |why: String| Error::BadCertificate { header: TPP_SIGNATURE_CERTIFICATE.into(), why };
    let v = value.trim();
    if v.contains("-----BEGIN") {
        let inner = v
            .split("-----")
            .filter(|p| !p.is_empty() && !p.starts_with("BEGIN") && !p.starts_with("END"))
            .collect::<String>();
        let b64: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
        STANDARD.decode(b64).map_err(|_| bad("PEM body is not valid Base64".into()))
    } else {
        let b64: String = v.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = STANDARD.decode(b64).map_err(|_| bad("not valid Base64".into()))?;
        if bytes.starts_with(b"-----BEGIN") {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            return decode_certificate_der(&text);
        }
        Ok(bytes)
    }
}

/// The signer's certificate must be valid at the verifier's clock: checked after the signature
/// and the time windows, so that a request failing those reports that first.
fn check_validity(msg: &Message<'_>, cert: &Certificate, opts: &VerifyOptions) -> Result<()> {
    cert.check_valid_at(opts.now).map_err(|e| Error::BadCertificate {
        header: if msg.combined(TPP_SIGNATURE_CERTIFICATE).ok().flatten().is_some() {
            TPP_SIGNATURE_CERTIFICATE.into()
        } else {
            "certificate".into()
        },
        why: e.to_string(),
    })
}

/// The certificate to verify with: `given` (a [`Verifier`]'s or `opts.certificate`) or the one
/// sent in `TPP-Signature-Certificate`; with both, they must be the same (compared as DER, so a
/// sent copy of the given certificate is not parsed again).
fn resolve_certificate<'c>(
    profile: &Profile,
    msg: &Message<'_>,
    given: Option<&'c Certificate>,
) -> Result<Cow<'c, Certificate>> {
    let sent = match msg.single(TPP_SIGNATURE_CERTIFICATE)? {
        Some(v) => Some(decode_certificate_der(&v)?),
        None => None,
    };
    match (given, sent) {
        (Some(given), Some(sent)) => {
            if given.der() != sent.as_slice() {
                return Err(Error::CertificateMismatch {
                    header: TPP_SIGNATURE_CERTIFICATE.into(),
                    sent: describe(&parse_sent(&sent)?),
                    expected: describe(given),
                });
            }
            Ok(Cow::Borrowed(given))
        }
        (Some(given), None) => Ok(Cow::Borrowed(given)),
        (None, Some(sent)) => parse_sent(&sent).map(Cow::Owned),
        (None, None) => Err(Error::MissingCertificate(match profile.certificate_header {
            Some(_) => format!("the request has no {TPP_SIGNATURE_CERTIFICATE} header and no certificate was given"),
            None => format!("profile {} does not send the certificate: give it (--cert)", profile.name),
        })),
    }
}

/// Accepts any extended key usage: whether the signer may seal is an eIDAS question (QcType,
/// PSD2 roles), not a TLS one.
struct AnyEku;

impl webpki::ExtendedKeyUsageValidator for AnyEku {
    fn validate(&self, _: webpki::KeyPurposeIdIter<'_, '_>) -> std::result::Result<(), webpki::Error> {
        Ok(())
    }
}

/// Validates the path from `cert` to one of `anchors` (trusted CA certificates: roots or
/// issuing CAs) through `intermediates` (untrusted, e.g. the rest of a chain file), with
/// rustls-webpki: signatures, names, basicConstraints (CA:TRUE for every issuer, the signer not
/// a CA), pathLenConstraint, name constraints and the validity of every certificate at `now`;
/// then, beyond webpki, the validity of the anchor itself and keyCertSign on every issuer that
/// has a keyUsage. Revocation is not consulted. Returns the anchor the path ends at.
pub fn check_issued_by(
    cert: &Certificate,
    intermediates: &[Certificate],
    anchors: &[Certificate],
    now: OffsetDateTime,
) -> Result<Certificate> {
    use rustls_pki_types::{CertificateDer, UnixTime};
    let bad = |why: String| Error::BadCertificate { header: "certificate".into(), why };
    if cert.parsed().is_ok_and(|x| x.is_ca()) {
        return Err(bad(format!(
            "{} is a CA certificate: a seal is made with an end-entity certificate",
            describe(cert)
        )));
    }
    let ee_der = CertificateDer::from(cert.der());
    let ee = webpki::EndEntityCert::try_from(&ee_der).map_err(|e| bad(path_error(&e, cert, intermediates, now)))?;
    let anchor_ders: Vec<CertificateDer<'_>> = anchors.iter().map(|a| CertificateDer::from(a.der())).collect();
    let mut trust = Vec::new();
    for (d, a) in anchor_ders.iter().zip(anchors) {
        trust.push(
            webpki::anchor_from_trusted_cert(d)
                .map_err(|e| bad(format!("the CA {} cannot be used as a trust anchor: {e}", describe(a))))?,
        );
    }
    let inter: Vec<CertificateDer<'_>> = intermediates.iter().map(|c| CertificateDer::from(c.der())).collect();
    let secs = u64::try_from(now.unix_timestamp()).unwrap_or(0);
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs));
    let path = ee
        .verify_for_usage(webpki::ALL_VERIFICATION_ALGS, &trust, &inter, time, AnyEku, None, None)
        .map_err(|e| bad(path_error(&e, cert, intermediates, now)))?;
    let ta = path.anchor();
    let anchor = anchors
        .iter()
        .zip(&trust)
        .find(|(_, t)| t.subject == ta.subject && t.subject_public_key_info == ta.subject_public_key_info)
        .map(|(a, _)| a.clone())
        .ok_or_else(|| bad("the path ends at an anchor that was not given".into()))?;
    if !anchor.is_valid_at(now) {
        return Err(bad(format!(
            "the CA {} is not valid at {now} (valid {} to {})",
            describe(&anchor),
            anchor.not_before(),
            anchor.not_after()
        )));
    }
    let issuers = path
        .intermediate_certificates()
        .filter_map(|c| Certificate::from_der(&c.der()).ok())
        .chain(std::iter::once(anchor.clone()));
    for issuer in issuers {
        let may_sign =
            issuer.parsed().ok().and_then(|x| x.key_usage().ok().flatten().map(|ku| ku.value.key_cert_sign()));
        if may_sign == Some(false) {
            return Err(bad(format!("the CA {} has a keyUsage without keyCertSign", describe(&issuer))));
        }
    }
    Ok(anchor)
}

/// The chain check of [`verify`]: against `opts.ca` when given.
fn check_chain(cert: &Certificate, opts: &VerifyOptions) -> Result<Option<Certificate>> {
    if opts.ca.is_empty() {
        return Ok(None);
    }
    check_issued_by(cert, &opts.intermediates, &opts.ca, opts.now).map(Some)
}

/// What [`check_signer`] needs to know of a certificate, read once per certificate: an `Err`
/// (why) when the certificate or its qcStatements cannot be decoded.
type SignerFacts = std::result::Result<SignerInfo, String>;

/// The eIDAS view of a signer's certificate.
#[derive(Debug, Clone)]
struct SignerInfo {
    /// basicConstraints CA:TRUE.
    is_ca: bool,
    /// What keeps it from being a PSD2 QSealC (empty: it is one).
    problems: Vec<String>,
    /// Its PSD2 roles.
    roles: Vec<Role>,
}

fn signer_facts(cert: &Certificate) -> SignerFacts {
    if cert.parsed().map_err(|e| e.to_string())?.is_ca() {
        return Ok(SignerInfo { is_ca: true, problems: Vec::new(), roles: Vec::new() });
    }
    let qc = cert.qc_statements().map_err(|e| e.to_string())?.unwrap_or_default();
    let roles = qc.psd2.as_ref().map(|p| p.roles()).unwrap_or_default();
    let mut problems = Vec::new();
    if !qc.types.contains(&QcType::Eseal) {
        problems.push(if qc.types.contains(&QcType::Web) {
            "it is a QWAC (QcType web), which authenticates TLS: a seal needs the QSealC (QcType eseal)".to_owned()
        } else {
            "it is not a QSealC (no QcType eseal, 0.4.0.1862.1.6.2)".to_owned()
        });
    } else if !qc.compliance {
        problems.push("it is not a qualified certificate (no QcCompliance statement)".into());
    }
    if roles.is_empty() {
        problems.push("it carries no PSD2 role (no ETSI TS 119 495 statement)".into());
    }
    Ok(SignerInfo { is_ca: false, problems, roles })
}

/// What the profile demands of the signer ([`SealRule`]); a CA certificate is always refused.
/// Returns the warnings for what was accepted anyway.
fn check_signer(
    profile: &Profile,
    cert: &Certificate,
    facts: &SignerFacts,
    opts: &VerifyOptions,
) -> Result<Vec<String>> {
    let refuse =
        |why: String| Error::NotASealCertificate { certificate: describe(cert), profile: profile.name.into(), why };
    let facts = facts.as_ref().map_err(|e| refuse(e.clone()))?;
    if facts.is_ca {
        return Err(refuse(
            "it is a CA certificate (basicConstraints CA:TRUE): a seal is made with an end-entity certificate".into(),
        ));
    }
    if facts.problems.is_empty() {
        return Ok(Vec::new());
    }
    let why = facts.problems.join("; ");
    match profile.seal {
        SealRule::Psd2QSealC if !opts.dangerous_skip_eidas_checks => Err(refuse(why)),
        SealRule::Psd2QSealC => Ok(vec![format!("eIDAS checks skipped (dangerous): {why}")]),
        _ => Ok(vec![format!("{why}; a PSD2 bank refuses such a seal")]),
    }
}

/// The certificate a signature is checked with, and its public key prepared per scheme when a
/// [`Verifier`] holds it.
pub(crate) struct SigKey<'a> {
    pub(crate) cert: &'a Certificate,
    prepared: &'a [PreparedPublicKey],
}

impl SigKey<'_> {
    pub(crate) fn kind(&self) -> KeyKind {
        self.cert.public_key().kind()
    }

    fn prepared(&self, scheme: SignatureScheme) -> Option<&PreparedPublicKey> {
        self.prepared.iter().find(|p| p.scheme() == scheme)
    }

    /// [`PublicKey::verify_with`](psd2_eidas::PublicKey::verify_with), with the prepared key when
    /// there is one (it exists only for keys [`KeyPolicy::Strict`] accepts, for which every
    /// policy uses the same algorithm).
    pub(crate) fn verify_with(
        &self,
        policy: KeyPolicy,
        scheme: SignatureScheme,
        message: &[u8],
        signature: &[u8],
    ) -> std::result::Result<(), psd2_eidas::Error> {
        match self.prepared(scheme) {
            Some(p) => p.verify(message, signature),
            None => self.cert.public_key().verify_with(policy, scheme, message, signature),
        }
    }

    pub(crate) fn describe(&self) -> String {
        describe(self.cert)
    }
}

/// A signer's certificate read once, for verifying many requests sealed with it: what a bank
/// keeps per registered TPP. [`verify`] decodes the certificate's extensions (CA flag,
/// qcStatements, PSD2 roles) and parses its public key on every call; a `Verifier` does that
/// once, in [`new`](Self::new), and its [`verify`](Self::verify) is [`verify`] with
/// `opts.certificate` set to this certificate, with the same checks and errors.
///
/// Cached: the decoded extensions and the public key parsed for each scheme it fits. Still
/// checked on every request: everything about the request, the certificate's validity at
/// `opts.now` and, with `opts.ca`, its path to a trusted CA. Revocation is not consulted (as by
/// [`verify`]); a verifier that checks it does so per request, outside.
///
/// ```
/// use psd2_httpsig::profile::Profile;
/// use psd2_httpsig::{SignOptions, Verifier, VerifyOptions, sign};
///
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-certs/rsa");
/// let key = psd2_eidas::load::load_key(format!("{dir}/qseal.key").as_ref(), None)?;
/// let cert = psd2_eidas::load::load_certificates(format!("{dir}/qseal.pem").as_ref(), None)?.remove(0);
/// // At registration: read the TPP's QSealC once.
/// let verifier = Verifier::new(cert.clone());
/// assert!(verifier.psd2_roles().contains(&psd2_eidas::Role::PaymentInitiation));
///
/// let profile = Profile::by_name("belfius-pis")?;
/// for amount in ["1.00", "2.00"] {
///     let mut req = http::Request::post("https://api.bank.example/payments/sepa-credit-transfers")
///         .body(format!(r#"{{"instructed_amount":{{"currency":"EUR","amount":"{amount}"}}}}"#).into_bytes())?;
///     sign(profile, &mut req, &key, Some(&cert), &SignOptions::default())?;
///     // Per request: the same checks as psd2_httpsig::verify.
///     let ok = verifier.verify(profile, &req, &VerifyOptions::default())?;
///     assert_eq!(ok.certificate, cert);
///     *req.body_mut() = b"{}".to_vec();
///     assert!(verifier.verify(profile, &req, &VerifyOptions::default()).is_err());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Verifier {
    certificate: Certificate,
    facts: SignerFacts,
    prepared: Vec<PreparedPublicKey>,
}

impl Verifier {
    /// Reads `certificate` once. Never fails: what cannot be read (an undecodable qcStatements
    /// extension, a key aws-lc-rs refuses) is refused by [`verify`](Self::verify) as
    /// [`verify`] refuses it.
    pub fn new(certificate: Certificate) -> Self {
        let facts = signer_facts(&certificate);
        let prepared = certificate
            .public_key()
            .schemes()
            .into_iter()
            .filter_map(|s| certificate.public_key().prepare(s).ok())
            .collect();
        Self { certificate, facts, prepared }
    }

    /// The certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The PSD2 roles the certificate grants (as [`Certificate::psd2_roles`]); empty without a
    /// PSD2 statement or when its qcStatements cannot be decoded.
    pub fn psd2_roles(&self) -> &[Role] {
        self.facts.as_ref().map(|f| f.roles.as_slice()).unwrap_or_default()
    }

    /// [`verify`] of `req` under `profile` with this certificate in place of
    /// `opts.certificate` (which is ignored): a `TPP-Signature-Certificate` the request carries
    /// must be this certificate.
    pub fn verify<B: AsRef<[u8]>>(
        &self,
        profile: &Profile,
        req: &http::Request<B>,
        opts: &VerifyOptions,
    ) -> Result<Verified> {
        verify_message(profile, &Message::request(req), req.body().as_ref(), opts, Some(self))
    }

    /// [`verify`](Self::verify) of a request given as its [`Message`] view and body (e.g.
    /// [`Message::from_parts`] of a server's request parts, without rebuilding the request).
    pub fn verify_message(
        &self,
        profile: &Profile,
        msg: &Message<'_>,
        body: &[u8],
        opts: &VerifyOptions,
    ) -> Result<Verified> {
        verify_message(profile, msg, body, opts, Some(self))
    }
}

/// A berlin-group keyId without `CA=`: accepted, with a warning.
fn key_id_warning(profile: &Profile, key_id: &str) -> Option<String> {
    let KeyIdSource::BerlinGroup(_) = profile.key_id else { return None };
    match crate::keyid::parse(key_id) {
        Some(p) if p.ca.is_none() => {
            Some("keyId has no CA= part (issuer name): strict Berlin Group banks refuse it".into())
        }
        _ => None,
    }
}

/// Refuses a second field line of any header a seal carries once (the signature, certificate,
/// digest and `Date` headers), before anything else is checked; for RFC 9421, a label repeated.
fn check_single_headers(profile: &Profile, msg: &Message<'_>) -> Result<()> {
    let signature = match profile.format {
        Format::Rfc9421 => None,
        Format::BelfiusPis => Some("Signature"),
        Format::Cavage(_) => Some(profile.signature_header()),
    };
    let names = [signature, Some(TPP_SIGNATURE_CERTIFICATE), profile.digest.map(DigestSpec::header), Some("Date")];
    for name in names.into_iter().flatten() {
        msg.single(name)?;
    }
    if profile.format == Format::Rfc9421 {
        check_unique_labels(msg)?;
    }
    Ok(())
}

/// Refuses an RFC 9421 label that appears in more than one `Signature-Input` field line.
fn check_unique_labels(msg: &Message<'_>) -> Result<()> {
    let mut seen: Vec<(String, usize)> = Vec::new();
    for line in msg.values(rfc9421::SIGNATURE_INPUT)?.unwrap_or_default() {
        let Ok(dict) = sfv::Parser::new(line).parse::<sfv::Dictionary>() else { continue };
        for (label, _) in &dict {
            match seen.iter_mut().find(|(l, _)| l == label.as_str()) {
                Some((_, n)) => *n += 1,
                None => seen.push((label.as_str().to_owned(), 1)),
            }
        }
    }
    match seen.into_iter().find(|(_, n)| *n > 1) {
        Some((label, count)) => {
            Err(Error::DuplicateHeader { header: format!("{} (label {label})", rfc9421::SIGNATURE_INPUT), count })
        }
        None => Ok(()),
    }
}

/// One sentence for a webpki path error, naming the certificate where it can.
fn path_error(e: &webpki::Error, cert: &Certificate, intermediates: &[Certificate], now: OffsetDateTime) -> String {
    use webpki::Error as W;
    match e {
        W::UnknownIssuer => {
            format!("{} (issuer {}) was not issued by any given CA", describe(cert), cert.issuer().to_display())
        }
        W::CertExpired { .. } | W::CertNotValidYet { .. } => {
            match std::iter::once(cert).chain(intermediates).find(|c| !c.is_valid_at(now)) {
                Some(c) => {
                    format!("{} is not valid at {now} (valid {} to {})", describe(c), c.not_before(), c.not_after())
                }
                None => format!("a certificate on the path is not valid at {now}"),
            }
        }
        W::EndEntityUsedAsCa => {
            "the path needs a certificate that is not a CA (no basicConstraints CA:TRUE) as an issuer".into()
        }
        W::CaUsedAsEndEntity => format!("{} is a CA certificate, not an end-entity certificate", describe(cert)),
        W::PathLenConstraintViolated => "a CA on the path allows no further CAs below it (pathLenConstraint)".into(),
        // A given CA has the issuer's name but another key (or key type): it did not issue it.
        W::InvalidSignatureForPublicKey | W::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => format!(
            "{} (issuer {}) was not issued by any given CA (a CA of that name was given, but its key did not sign it)",
            describe(cert),
            cert.issuer().to_display()
        ),
        W::UnsupportedSignatureAlgorithmContext(_) => {
            "a certificate on the path is signed with an algorithm or key size that is not accepted".into()
        }
        W::UnsupportedCertVersion => {
            format!("{} is not an X.509 v3 certificate (v1/v2 certificates are refused)", describe(cert))
        }
        other => format!("path validation failed: {other}"),
    }
}

fn check_digest(profile: &Profile, msg: &Message<'_>, body: &[u8]) -> Result<Option<&'static str>> {
    let Some(spec) = profile.digest else { return Ok(None) };
    let header = spec.header();
    let value = msg.single(header)?.ok_or_else(|| Error::MissingHeader {
        header: header.into(),
        why: format!("profile {} requires the body digest", profile.name),
    })?;
    match spec {
        DigestSpec::Rfc3230 { .. } => digest::verify_rfc3230(&value, body)?,
        DigestSpec::ContentDigest(_) => digest::verify_content_digest(&value, body)?,
    };
    Ok(Some(header))
}

fn check_window(what: &str, value: &str, t: OffsetDateTime, opts: &VerifyOptions) -> Result<()> {
    let offset = t - opts.now;
    if offset.abs() > opts.skew {
        let dir = if offset.is_negative() { "in the past" } else { "in the future" };
        return Err(Error::OutsideWindow {
            header: what.to_owned(),
            value: value.to_owned(),
            offset: format!("{} {dir}", crate::date::human(offset)),
            now: crate::date::format(crate::profile::DateForm::Iso8601, opts.now)?,
            skew: crate::date::human(opts.skew),
        });
    }
    Ok(())
}

/// The `Date` header against the window (when present; required when covered) and, with
/// `created`, that parameter; says whether a signed time proved the request fresh.
fn check_fresh(msg: &Message<'_>, covered: &[String], created: Option<i64>, opts: &VerifyOptions) -> Result<Freshness> {
    let date_signed = covered.iter().any(|c| c == "date");
    let value = match msg.values("date")? {
        Some(vs) if vs.len() > 1 => return Err(Error::DuplicateHeader { header: "Date".into(), count: vs.len() }),
        other => other.and_then(|vs| vs.first().map(|v| crate::message::unfold(v))),
    };
    match value {
        Some(v) => check_window("Date", &v, crate::date::parse(&v)?, opts)?,
        None if date_signed => {
            return Err(Error::MissingHeader { header: "Date".into(), why: "it is signed".into() });
        }
        None => {}
    }
    if let Some(c) = created {
        let t = OffsetDateTime::from_unix_timestamp(c).map_err(|_| Error::BadTime {
            header: "created".into(),
            value: c.to_string(),
            expected: "Unix time".into(),
        })?;
        check_window("created", &c.to_string(), t, opts)?;
    }
    Ok(match (date_signed, created) {
        (true, _) => Freshness::Checked { signed: "Date" },
        (false, Some(_)) => Freshness::Checked { signed: "created" },
        (false, None) => Freshness::NotChecked {
            why: "the signature covers neither Date nor created, so a replayed request looks the same",
        },
    })
}

fn check_key_id(profile: &Profile, key_id: &str, cert: &Certificate, header: &str, opts: &VerifyOptions) -> Result<()> {
    if let Some(expected) = &opts.key_id {
        if expected != key_id {
            return Err(Error::KeyIdMismatch {
                header: header.into(),
                key_id: key_id.into(),
                why: format!("expected '{expected}'"),
            });
        }
        return Ok(());
    }
    match profile.key_id {
        KeyIdSource::BerlinGroup(_) | KeyIdSource::SerialOnly(_) => {
            crate::keyid::check_berlin_group(key_id, cert, header)
        }
        KeyIdSource::Given(_) | KeyIdSource::Url(_) => {
            // STET: a URL ending in _<SHA-256 fingerprint> pins the certificate.
            if let Some((_, tail)) = key_id.rsplit_once('_')
                && tail.len() == 64
                && tail.bytes().all(|b| b.is_ascii_hexdigit())
            {
                let fp = cert.fingerprint_sha256();
                if !tail.eq_ignore_ascii_case(&fp) {
                    return Err(Error::KeyIdMismatch {
                        header: header.into(),
                        key_id: key_id.into(),
                        why: format!("its fingerprint suffix is not the certificate's SHA-256 {fp}"),
                    });
                }
            }
            Ok(())
        }
        KeyIdSource::None => Ok(()),
    }
}

fn check_covered(profile: &Profile, msg: &Message<'_>, covered: &[String], header: &str) -> Result<()> {
    let names: Vec<String> = msg.headers.keys().map(|k| k.as_str().to_owned()).collect();
    let required = profile.covered_for(|n| msg.has(n), &names);
    for r in required {
        if !covered.iter().any(|c| c.eq_ignore_ascii_case(&r)) {
            return Err(Error::NotCovered {
                header: header.into(),
                component: r,
                profile: profile.name.into(),
                list: format!("\"{}\"", covered.join(" ")),
            });
        }
    }
    Ok(())
}

/// Verifies `req` (with its body) under `profile`, strictly, the way a bank would.
///
/// Checks, in order: the digest header recomputed from the body; the signature header parsed;
/// the certificate (given in `opts`, or from `TPP-Signature-Certificate`; both must agree) and,
/// with `opts.ca`, its path to a trusted CA; the keyId against the certificate; that everything
/// the profile requires is covered; the signature over the rebuilt signing string; `expires`;
/// the `Date` header and `created` against the clock-skew window; that the certificate is valid
/// at `opts.now`. The first failure is
/// returned as its own [`Error`] variant naming the header and what mismatched.
pub fn verify<B: AsRef<[u8]>>(profile: &Profile, req: &http::Request<B>, opts: &VerifyOptions) -> Result<Verified> {
    verify_message(profile, &Message::request(req), req.body().as_ref(), opts, None)
}

/// The certificate to verify with and what is known of it: the [`Verifier`]'s, or resolved
/// and read for this request.
fn signer<'v>(
    profile: &Profile,
    msg: &Message<'_>,
    opts: &'v VerifyOptions,
    verifier: Option<&'v Verifier>,
) -> Result<(Cow<'v, Certificate>, Cow<'v, SignerFacts>, &'v [PreparedPublicKey])> {
    match verifier {
        Some(v) => {
            let cert = resolve_certificate(profile, msg, Some(&v.certificate))?;
            Ok((cert, Cow::Borrowed(&v.facts), &v.prepared))
        }
        None => {
            let cert = resolve_certificate(profile, msg, opts.certificate.as_ref())?;
            let facts = signer_facts(&cert);
            Ok((cert, Cow::Owned(facts), &[]))
        }
    }
}

fn verify_message(
    profile: &Profile,
    msg: &Message<'_>,
    body: &[u8],
    opts: &VerifyOptions,
    verifier: Option<&Verifier>,
) -> Result<Verified> {
    let msg = *msg;
    let header = profile.signature_header();
    check_single_headers(profile, &msg)?;
    if profile.format == Format::BelfiusPis {
        let v = msg.single("Signature")?.ok_or_else(|| Error::MissingHeader {
            header: "Signature".into(),
            why: "profile belfius-pis signs the body".into(),
        })?;
        let (cert, facts, prepared) = signer(profile, &msg, opts, verifier)?;
        let warnings = check_signer(profile, &cert, &facts, opts)?;
        let anchor = check_chain(&cert, opts)?;
        let input = crate::pis::verify(&v, body, &SigKey { cert: &cert, prepared }, opts.key_policy)?;
        check_validity(&msg, &cert, opts)?;
        return Ok(Verified {
            signing_string: input,
            covered: Vec::new(),
            key_id: None,
            certificate: cert.into_owned(),
            anchor,
            algorithm: "RS256".into(),
            digest_header: None,
            freshness: Freshness::NotChecked { why: "profile belfius-pis signs the body only, with no time" },
            warnings,
        });
    }
    let digest_header = check_digest(profile, &msg, body)?;
    match profile.format {
        Format::Cavage(_) => {
            let v = msg.single(header)?.ok_or_else(|| Error::MissingHeader {
                header: header.into(),
                why: format!("profile {} carries the signature there", profile.name),
            })?;
            let params = SignatureParams::parse(&v, header)?;
            let sig = params.signature_bytes(header)?;
            let (cert, facts, prepared) = signer(profile, &msg, opts, verifier)?;
            let key = SigKey { cert: &cert, prepared };
            let mut warnings = check_signer(profile, &cert, &facts, opts)?;
            let anchor = check_chain(&cert, opts)?;
            check_key_id(profile, &params.key_id, &cert, header, opts)?;
            if opts.key_id.is_none() {
                warnings.extend(key_id_warning(profile, &params.key_id));
            }
            let covered = params.covered();
            check_covered(profile, &msg, &covered, header)?;
            let scheme = cavage::scheme_for(params.algorithm.as_deref(), cert.public_key().kind(), header)?;
            let signing_string = cavage::signing_string(&msg, &covered, params.created, params.expires)?;
            let sig = cavage::decode_signature(scheme, sig);
            key.verify_with(opts.key_policy, scheme, signing_string.as_bytes(), &sig).map_err(|e| {
                crate::error::key_refused(e, header, &describe(&cert), || Error::BadSignature {
                    header: header.into(),
                    algorithm: params.algorithm.clone().unwrap_or_else(|| scheme.name().into()),
                    certificate: describe(&cert),
                })
            })?;
            let now = opts.now.unix_timestamp();
            if let Some(e) = params.expires
                && e < now
            {
                return Err(Error::Expired { header: header.into(), expires: e, now });
            }
            let freshness = check_fresh(&msg, &covered, params.created, opts)?;
            check_validity(&msg, &cert, opts)?;
            Ok(Verified {
                signing_string,
                covered,
                key_id: Some(params.key_id),
                algorithm: params.algorithm.unwrap_or_else(|| cavage::algorithm_name(scheme).into()),
                certificate: cert.into_owned(),
                anchor,
                digest_header,
                freshness,
                warnings,
            })
        }
        Format::Rfc9421 => {
            let input = msg.combined(rfc9421::SIGNATURE_INPUT)?.ok_or_else(|| Error::MissingHeader {
                header: rfc9421::SIGNATURE_INPUT.into(),
                why: "profile rfc9421 carries the covered components there".into(),
            })?;
            let sigv = msg.combined(rfc9421::SIGNATURE)?.ok_or_else(|| Error::MissingHeader {
                header: rfc9421::SIGNATURE.into(),
                why: "profile rfc9421 carries the signature there".into(),
            })?;
            let all = rfc9421::parse(&input, &sigv)?;
            let parsed = match &opts.rfc9421_label {
                Some(l) => all.into_iter().find(|s| &s.label == l).ok_or_else(|| Error::MissingParameter {
                    header: rfc9421::SIGNATURE_INPUT.into(),
                    param: l.clone(),
                })?,
                None => all.into_iter().next().ok_or_else(|| Error::MissingParameter {
                    header: rfc9421::SIGNATURE_INPUT.into(),
                    param: "a signature label".into(),
                })?,
            };
            let (cert, facts, prepared) = signer(profile, &msg, opts, verifier)?;
            let key = SigKey { cert: &cert, prepared };
            let warnings = check_signer(profile, &cert, &facts, opts)?;
            let anchor = check_chain(&cert, opts)?;
            let key_id = parsed.params.keyid()?.map(str::to_owned);
            match &key_id {
                Some(k) => check_key_id(profile, k, &cert, rfc9421::SIGNATURE_INPUT, opts)?,
                None if opts.key_id.is_some() => {
                    return Err(Error::MissingParameter {
                        header: rfc9421::SIGNATURE_INPUT.into(),
                        param: "keyid".into(),
                    });
                }
                None => {}
            }
            let covered = parsed.params.component_names();
            check_covered(profile, &msg, &covered, rfc9421::SIGNATURE_INPUT)?;
            let alg = match parsed.params.alg()? {
                Some(name) => Algorithm::from_name(name).ok_or_else(|| Error::UnknownAlgorithm {
                    header: rfc9421::SIGNATURE_INPUT.into(),
                    algorithm: name.into(),
                })?,
                None => Algorithm::for_key(cert.public_key().kind()),
            };
            let base = rfc9421::signature_base(&msg, &parsed.params)?;
            match alg.scheme().and_then(|s| key.prepared(s)) {
                Some(p) => p.verify(base.as_bytes(), &parsed.signature).map_err(|_| Error::BadSignature {
                    header: String::new(),
                    algorithm: String::new(),
                    certificate: String::new(),
                }),
                None => rfc9421::verify_with(
                    opts.key_policy,
                    alg,
                    VerifyingKey::Public(cert.public_key()),
                    &base,
                    &parsed.signature,
                ),
            }
            .map_err(|e| match e {
                Error::BadSignature { .. } => Error::BadSignature {
                    header: rfc9421::SIGNATURE.into(),
                    algorithm: alg.name().into(),
                    certificate: describe(&cert),
                },
                other => other,
            })?;
            let now = opts.now.unix_timestamp();
            if let Some(e) = parsed.params.expires()?
                && e < now
            {
                return Err(Error::Expired { header: rfc9421::SIGNATURE_INPUT.into(), expires: e, now });
            }
            let created = parsed.params.created()?.ok_or_else(|| Error::MissingParameter {
                header: rfc9421::SIGNATURE_INPUT.into(),
                param: "created".into(),
            })?;
            let freshness = check_fresh(&msg, &covered, Some(created), opts)?;
            check_validity(&msg, &cert, opts)?;
            Ok(Verified {
                signing_string: base,
                covered,
                key_id,
                certificate: cert.into_owned(),
                anchor,
                algorithm: alg.name().into(),
                digest_header,
                freshness,
                warnings,
            })
        }
        Format::BelfiusPis => Err(Error::Unsupported("unreachable profile format".into())),
    }
}

/// The signing string / signature base a verifier rebuilds from `req` under `profile` (from the
/// signature's own parameters), without checking anything: what to diff against the signer's
/// string when a bank answers "invalid signature".
pub fn rebuilt_signing_string<B: AsRef<[u8]>>(profile: &Profile, req: &http::Request<B>) -> Result<String> {
    let msg = Message::request(req);
    let header = profile.signature_header();
    let missing = |h: &str| Error::MissingHeader { header: h.to_owned(), why: "nothing to explain".into() };
    match profile.format {
        Format::BelfiusPis => {
            let v = msg.combined("signature")?.ok_or_else(|| missing("Signature"))?;
            let parts: Vec<&str> = v.split('.').collect();
            match parts.as_slice() {
                [h, p, _] => Ok(format!("{h}.{p}")),
                _ => Err(crate::error::malformed("Signature", "expected 3 dot-separated parts")),
            }
        }
        Format::Cavage(_) => {
            let v = msg.combined(header)?.ok_or_else(|| missing(header))?;
            let params = SignatureParams::parse(&v, header)?;
            cavage::signing_string(&msg, &params.covered(), params.created, params.expires)
        }
        Format::Rfc9421 => {
            let input = msg.combined(rfc9421::SIGNATURE_INPUT)?.ok_or_else(|| missing(rfc9421::SIGNATURE_INPUT))?;
            let sig = msg.combined(rfc9421::SIGNATURE)?.unwrap_or_default();
            let sig = if sig.is_empty() { "x=:AA==:".to_owned() } else { sig };
            let first = rfc9421::parse(&input, &sig)?.into_iter().next();
            let parsed = first.ok_or_else(|| missing(rfc9421::SIGNATURE_INPUT))?;
            rfc9421::signature_base(&msg, &parsed.params)
        }
    }
}
