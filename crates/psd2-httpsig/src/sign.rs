//! Sealing a request under a [`Profile`](crate::profile::Profile): add what is missing, keep what is given, sign.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderName, HeaderValue};
use psd2_eidas::{Certificate, Signer};
use time::OffsetDateTime;

use crate::cavage::{self, SignatureParams};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::profile::{CertificateHeader, Format, KeyIdSource, PisEncoding, Profile, TPP_SIGNATURE_CERTIFICATE};
use crate::rfc9421::{self, Algorithm};

/// Choices for [`sign`] beyond the profile.
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// The time written into `Date` / `created` (default: now).
    pub now: OffsetDateTime,
    /// Overrides the profile's keyId (required for `stet`: the QSealC URL; for `ing` after the
    /// token call: the client id).
    pub key_id: Option<String>,
    /// Further components to cover, appended after the profile's (e.g. `date` for Berlin Group
    /// ASPSPs that want it, `(request-target)`).
    pub extra_covered: Vec<String>,
    /// The X-Request-ID / Request-Id to use when the request has none (default: a UUID v4).
    pub request_id: Option<String>,
    /// Base64 flavour of the Belfius PIS header.
    pub pis_encoding: PisEncoding,
    /// RFC 9421 algorithm (default: from the key, RSA → `rsa-pss-sha512`).
    pub rfc9421_algorithm: Option<Algorithm>,
    /// RFC 9421 signature label (default `sig1`).
    pub rfc9421_label: String,
    /// Signature lifetime: RFC 9421 `expires` = `created` + this, when set; a covered cavage
    /// `(expires)` uses it too (default 5 minutes).
    pub expires_in: Option<time::Duration>,
}

impl Default for SignOptions {
    fn default() -> Self {
        Self {
            now: OffsetDateTime::now_utc(),
            key_id: None,
            extra_covered: Vec::new(),
            request_id: None,
            pis_encoding: PisEncoding::Standard,
            rfc9421_algorithm: None,
            rfc9421_label: "sig1".into(),
            expires_in: None,
        }
    }
}

/// What [`sign`] did: the headers it added and the exact bytes it signed (explain mode).
#[derive(Debug, Clone)]
pub struct Signed {
    /// The headers added to the request, in the order added (given headers are not repeated).
    pub added: Vec<(HeaderName, HeaderValue)>,
    /// The exact signing string / signature base / JWS signing input that was signed.
    pub signing_string: String,
    /// The covered components, in order (empty for Belfius PIS).
    pub covered: Vec<String>,
    /// The keyId written, if any.
    pub key_id: Option<String>,
    /// The algorithm name written (or implied).
    pub algorithm: String,
    /// Things the caller should know, e.g. a given `Digest` that does not match the body (it is
    /// kept verbatim, so the bank will refuse the request).
    pub warnings: Vec<String>,
}

fn value(name: &str, v: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(v).map_err(|_| Error::InvalidHeaderValue {
        header: name.to_owned(),
        why: "contains characters not allowed in an HTTP header".into(),
    })
}

struct Adder<'a> {
    headers: &'a mut http::HeaderMap,
    added: Vec<(HeaderName, HeaderValue)>,
}

impl Adder<'_> {
    /// Adds the header when missing; `replace` overwrites (the signature headers).
    fn put(&mut self, name: &str, v: String, replace: bool) -> Result<()> {
        let hn = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::InvalidHeaderValue { header: name.to_owned(), why: "invalid header name".into() })?;
        if self.headers.contains_key(&hn) && !replace {
            return Ok(());
        }
        let hv = value(name, &v)?;
        self.headers.insert(hn.clone(), hv.clone());
        self.added.retain(|(n, _)| *n != hn);
        self.added.push((hn, hv));
        Ok(())
    }
}

/// The `TPP-Signature-Certificate` value for a certificate.
pub fn certificate_header_value(cert: &Certificate, form: CertificateHeader) -> String {
    let b64 = STANDARD.encode(cert.der());
    match form {
        CertificateHeader::Base64Der => b64,
        CertificateHeader::PemOneLine => format!("-----BEGIN CERTIFICATE-----{b64}-----END CERTIFICATE-----"),
    }
}

/// The keyId the profile writes for this certificate, or the override.
pub fn key_id_for(profile: &Profile, certificate: Option<&Certificate>, given: Option<&str>) -> Result<Option<String>> {
    if let Some(k) = given {
        if let KeyIdSource::Url(what) = profile.key_id {
            let uri: Option<http::Uri> = k.parse().ok();
            let ok = uri.is_some_and(|u| u.scheme_str() == Some("https") && u.host().is_some_and(|h| !h.is_empty()));
            if !ok {
                return Err(Error::InvalidOption {
                    option: "key_id",
                    why: format!(
                        "profile {} needs {what}; '{}' is not an absolute https URL",
                        profile.name,
                        k.escape_debug()
                    ),
                });
            }
        }
        return Ok(Some(k.to_owned()));
    }
    let need_cert = || Error::NeedsValue {
        profile: profile.name.into(),
        what: "the certificate (--cert) to build the keyId from".into(),
    };
    Ok(match profile.key_id {
        KeyIdSource::BerlinGroup(style) => Some(style.key_id(certificate.ok_or_else(need_cert)?)),
        KeyIdSource::SerialOnly(style) => Some(style.serial_only(certificate.ok_or_else(need_cert)?)),
        KeyIdSource::Given(what) | KeyIdSource::Url(what) => {
            return Err(Error::NeedsValue { profile: profile.name.into(), what: what.into() });
        }
        KeyIdSource::None => None,
    })
}

/// Seals `req` under `profile` with `key` (and its `certificate`, needed by profiles that build
/// the keyId from it or send it).
///
/// Headers already on the request are kept verbatim (a given `Date`, `X-Request-ID`,
/// `Request-Id`, `Digest`, `TPP-Signature-Certificate` is not replaced); missing ones the profile
/// needs are added; the signature headers are (re)written. The digest is computed over the body
/// bytes as they are.
pub fn sign<B: AsRef<[u8]>>(
    profile: &Profile,
    req: &mut http::Request<B>,
    key: &dyn Signer,
    certificate: Option<&Certificate>,
    opts: &SignOptions,
) -> Result<Signed> {
    if let Some(cert) = certificate
        && cert.public_key() != key.public_key()
    {
        return Err(Error::Key(psd2_eidas::Error::KeyMismatch {
            key: key.describe(),
            cert: cert.subject().to_display(),
        }));
    }
    check_options(profile, req, opts)?;
    // Everything that needs the body is computed before the headers are borrowed mutably.
    let body = req.body().as_ref();
    let digest = profile.digest.map(|d| (d.header(), d.value(body)));
    let mut warnings = Vec::new();
    if let Some(cert) = certificate
        && let Err(e) = cert.check_valid_at(opts.now)
    {
        // A bank refuses it; the caller decides (the CLI refuses unless a time is given).
        warnings.push(format!("{e}: the bank will refuse this signature"));
    }
    if let Some(spec) = profile.digest
        && let Some(given) = Message::request(req).combined(spec.header())?
    {
        let check = match spec {
            crate::profile::DigestSpec::Rfc3230 { .. } => crate::digest::verify_rfc3230(&given, body),
            crate::profile::DigestSpec::ContentDigest(_) => crate::digest::verify_content_digest(&given, body),
        };
        if let Err(e) = check {
            warnings.push(format!("the given {} header is kept as is but does not match the body: {e}", spec.header()));
        }
    }
    let pis = match profile.format {
        Format::BelfiusPis => Some(crate::pis::sign(key, body, opts.pis_encoding)?),
        _ => None,
    };
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let mut signed = sign_headers(profile, &method, &uri, req.headers_mut(), digest, pis, key, certificate, opts)?;
    signed.warnings = warnings;
    Ok(signed)
}

/// Refuses what would sign something other than what the caller meant: an empty covered
/// component, a signature lifetime that is not positive, a given `Date` not in the profile's form.
fn check_options<B>(profile: &Profile, req: &http::Request<B>, opts: &SignOptions) -> Result<()> {
    if opts.extra_covered.iter().any(|c| c.trim().is_empty()) {
        return Err(Error::InvalidOption { option: "extra_covered", why: "a covered component name is empty".into() });
    }
    if let Some(d) = opts.expires_in
        && !d.is_positive()
    {
        return Err(Error::InvalidOption {
            option: "expires_in",
            why: format!("the signature lifetime must be positive, not {}s", d.whole_seconds()),
        });
    }
    if let Some(form) = profile.date
        && let Some(given) = Message::request(req).single("Date")?
    {
        crate::date::parse_form(form, &given)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn sign_headers(
    profile: &Profile,
    method: &http::Method,
    uri: &http::Uri,
    headers: &mut http::HeaderMap,
    digest: Option<(&'static str, String)>,
    pis: Option<(String, String)>,
    key: &dyn Signer,
    certificate: Option<&Certificate>,
    opts: &SignOptions,
) -> Result<Signed> {
    let mut add = Adder { headers, added: Vec::new() };
    if let Some((v, input)) = pis {
        add.put("Signature", v, true)?;
        return Ok(Signed {
            added: add.added,
            signing_string: input,
            covered: Vec::new(),
            key_id: None,
            algorithm: "RS256".into(),
            warnings: Vec::new(),
        });
    }
    if let Some((name, v)) = digest {
        add.put(name, v, false)?;
    }
    if let Some(form) = profile.date {
        add.put("Date", crate::date::format(form, opts.now)?, false)?;
    }
    if let Some(id) = profile.request_id {
        let v = opts.request_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        add.put(id, v, false)?;
    }
    if let Some(form) = profile.certificate_header
        && !add.headers.contains_key(TPP_SIGNATURE_CERTIFICATE)
    {
        let cert = certificate.ok_or_else(|| Error::NeedsValue {
            profile: profile.name.into(),
            what: "the certificate (--cert) for TPP-Signature-Certificate".into(),
        })?;
        add.put(TPP_SIGNATURE_CERTIFICATE, certificate_header_value(cert, form), false)?;
    }
    let key_id = key_id_for(profile, certificate, opts.key_id.as_deref())?;
    let names: Vec<String> = add.headers.keys().map(|k| k.as_str().to_owned()).collect();
    let headers_now = add.headers.clone();
    let mut covered = profile.covered_for(|n| headers_now.contains_key(n), &names);
    for extra in &opts.extra_covered {
        let e = extra.trim().to_ascii_lowercase();
        if !e.is_empty() && !covered.contains(&e) {
            covered.push(e);
        }
    }
    let msg = Message::from_parts(method, uri, &headers_now);
    match profile.format {
        Format::Cavage(carrier) => {
            let scheme = key.public_key().kind().default_scheme();
            // `(created)` / `(expires)` (cavage -11+, used by some STET banks) get parameters.
            let now = opts.now.unix_timestamp();
            let created = covered.iter().any(|c| c == cavage::CREATED).then_some(now);
            let expires = covered
                .iter()
                .any(|c| c == cavage::EXPIRES)
                .then(|| now.saturating_add(opts.expires_in.unwrap_or(time::Duration::minutes(5)).whole_seconds()));
            let signing_string = cavage::signing_string(&msg, &covered, created, expires)?;
            let sig = cavage::encode_signature(scheme, key.sign(scheme, signing_string.as_bytes())?)?;
            let params = SignatureParams {
                key_id: key_id.clone().unwrap_or_default(),
                algorithm: Some(cavage::algorithm_name(scheme).to_owned()),
                created,
                expires,
                headers: Some(covered.clone()),
                signature: STANDARD.encode(sig),
            };
            add.put(carrier.header(), carrier.value(&params), true)?;
            Ok(Signed {
                added: add.added,
                signing_string,
                covered,
                key_id,
                algorithm: cavage::algorithm_name(scheme).to_owned(),
                warnings: Vec::new(),
            })
        }
        Format::Rfc9421 => {
            let alg = opts.rfc9421_algorithm.unwrap_or_else(|| Algorithm::for_key(key.public_key().kind()));
            let mut params = rfc9421::SignatureParams::new();
            for c in &covered {
                params.component(c)?;
            }
            let created = opts.now.unix_timestamp();
            params.set_created(created)?;
            if let Some(d) = opts.expires_in {
                params.set_expires(created.saturating_add(d.whole_seconds()))?;
            }
            if let Some(k) = &key_id {
                params.set_keyid(k)?;
            }
            params.set_alg(alg)?;
            let base = rfc9421::signature_base(&msg, &params)?;
            let sig = rfc9421::sign(alg, key, &base)?;
            let label = &opts.rfc9421_label;
            add.put(rfc9421::SIGNATURE_INPUT, rfc9421::signature_input_value(label, &params)?, true)?;
            add.put(rfc9421::SIGNATURE, rfc9421::signature_value(label, &sig)?, true)?;
            Ok(Signed {
                added: add.added,
                signing_string: base,
                covered,
                key_id,
                algorithm: alg.name().into(),
                warnings: Vec::new(),
            })
        }
        Format::BelfiusPis => Err(Error::Unsupported("unreachable profile format".into())),
    }
}
