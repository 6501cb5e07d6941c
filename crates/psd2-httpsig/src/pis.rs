//! Belfius PIS initiation `Signature` header: `B64(header).B64(body).B64(RS256 signature)`.
//!
//! Construction as in the only known client (docs/belfius-api.md §9.2): header
//! `{"typ":"JWT","alg":"RS256"}`, the payload is the exact body sent (attached), the signature is
//! RSASSA-PKCS1-v1_5 SHA-256 over `B64(header) + "." + B64(body)` with the QSealC key, and `B64`
//! is **standard Base64 with padding**. Whether Belfius wants base64url (RFC 7515) instead is an
//! open question: [`PisEncoding::Url`] produces it, and verification accepts both.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use psd2_eidas::{KeyKind, KeyPolicy, SignatureScheme, Signer};

use crate::error::{Error, Result, malformed};
use crate::profile::PisEncoding;
use crate::verify::SigKey;

/// The protected header.
pub(crate) const HEADER_JSON: &str = r#"{"typ":"JWT","alg":"RS256"}"#;

fn enc(e: PisEncoding, data: &[u8]) -> String {
    match e {
        PisEncoding::Standard => STANDARD.encode(data),
        PisEncoding::Url => URL_SAFE_NO_PAD.encode(data),
    }
}

fn dec(part: &str, what: &str) -> Result<Vec<u8>> {
    STANDARD
        .decode(part)
        .or_else(|_| URL_SAFE_NO_PAD.decode(part))
        .or_else(|_| URL_SAFE.decode(part))
        .map_err(|_| Error::NotBase64 { header: "Signature".into(), what: what.into() })
}

/// The signing input `B64(header).B64(body)`.
pub(crate) fn signing_input(body: &[u8], encoding: PisEncoding) -> String {
    format!("{}.{}", enc(encoding, HEADER_JSON.as_bytes()), enc(encoding, body))
}

/// Signs: returns `(header value, signing input)`. The key must be RSA (RS256).
pub(crate) fn sign(key: &dyn Signer, body: &[u8], encoding: PisEncoding) -> Result<(String, String)> {
    if !matches!(key.public_key().kind(), KeyKind::Rsa { .. }) {
        return Err(Error::AlgorithmMismatch {
            header: "Signature".into(),
            algorithm: "RS256".into(),
            key: key.public_key().kind().to_string(),
        });
    }
    let input = signing_input(body, encoding);
    let sig = key.sign(SignatureScheme::RsaPkcs1Sha256, input.as_bytes())?;
    Ok((format!("{input}.{}", enc(encoding, &sig)), input))
}

/// Verifies a header value against the body with the given key; returns the signing input.
pub(crate) fn verify(value: &str, body: &[u8], key: &SigKey<'_>, policy: KeyPolicy) -> Result<String> {
    let parts: Vec<&str> = value.trim().split('.').collect();
    let [h, p, s] = parts.as_slice() else {
        return Err(malformed("Signature", format!("expected 3 dot-separated parts, found {}", parts.len())));
    };
    let header = dec(h, "header part")?;
    let header_text: String = String::from_utf8_lossy(&header).chars().filter(|c| !c.is_whitespace()).collect();
    if !header_text.contains(r#""alg":"RS256""#) {
        return Err(Error::UnknownAlgorithm {
            header: "Signature".into(),
            algorithm: String::from_utf8_lossy(&header).into_owned(),
        });
    }
    let payload = dec(p, "payload part")?;
    if payload != body {
        return Err(Error::PayloadMismatch { signed: payload.len(), body: body.len() });
    }
    let sig = dec(s, "signature part")?;
    let input = format!("{h}.{p}");
    if !SignatureScheme::RsaPkcs1Sha256.fits(key.kind()) {
        return Err(Error::AlgorithmMismatch {
            header: "Signature".into(),
            algorithm: "RS256".into(),
            key: key.kind().to_string(),
        });
    }
    key.verify_with(policy, SignatureScheme::RsaPkcs1Sha256, input.as_bytes(), &sig).map_err(|e| {
        crate::error::key_refused(e, "Signature", &key.describe(), || Error::BadSignature {
            header: "Signature".into(),
            algorithm: "RS256".into(),
            certificate: key.describe(),
        })
    })?;
    Ok(input)
}
