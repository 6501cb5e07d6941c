//! Body digests: RFC 3230 `Digest` (Berlin Group, STET, ING, cavage) and RFC 9530
//! `Content-Digest`.
//!
//! The digest is always computed over the exact body bytes (never a re-serialised or UTF-8
//! decoded form); a request without a body hashes the empty byte string.
//!
//! ```
//! use psd2_httpsig::digest::{DigestAlgorithm, content_digest, rfc3230_digest};
//! let body = br#"{"hello": "world"}"#;
//! assert_eq!(rfc3230_digest(DigestAlgorithm::Sha256, "SHA-256", body),
//!            "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=");
//! assert_eq!(content_digest(DigestAlgorithm::Sha256, body),
//!            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:");
//! assert!(psd2_httpsig::digest::verify_rfc3230("sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=", body).is_ok());
//! ```

use aws_lc_rs::digest as lc;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::{Error, Result};

/// The `Digest` header name (RFC 3230).
pub const DIGEST: &str = "Digest";
/// The `Content-Digest` header name (RFC 9530).
pub const CONTENT_DIGEST: &str = "Content-Digest";

/// A digest algorithm usable in PSD2 requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl DigestAlgorithm {
    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Self::Sha256 => &lc::SHA256,
            Self::Sha512 => &lc::SHA512,
        };
        lc::digest(alg, data).as_ref().to_vec()
    }

    /// The RFC 9530 key: `sha-256`, `sha-512`.
    pub fn rfc9530_key(self) -> &'static str {
        match self {
            Self::Sha256 => "sha-256",
            Self::Sha512 => "sha-512",
        }
    }

    /// The registered RFC 3230 token: `SHA-256`, `SHA-512`.
    pub fn rfc3230_token(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Sha512 => "SHA-512",
        }
    }

    /// Recognises an RFC 3230 or RFC 9530 token in any case, and the unregistered `SHA256` /
    /// `SHA512` spelling Belfius uses.
    pub fn from_token(token: &str) -> Option<Self> {
        match token.trim().to_ascii_lowercase().as_str() {
            "sha-256" | "sha256" => Some(Self::Sha256),
            "sha-512" | "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }
}

/// The RFC 3230 header value `<token>=<base64>` for `body`; `token` is written as given
/// (`SHA-256` for Berlin Group, `SHA256` for the Belfius fallback interface).
pub fn rfc3230_digest(alg: DigestAlgorithm, token: &str, body: &[u8]) -> String {
    format!("{token}={}", STANDARD.encode(alg.digest(body)))
}

/// The RFC 9530 `Content-Digest` value `sha-256=:<base64>:` for `body`.
pub fn content_digest(alg: DigestAlgorithm, body: &[u8]) -> String {
    format!("{}=:{}:", alg.rfc9530_key(), STANDARD.encode(alg.digest(body)))
}

/// Which digest algorithms a header value held and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestCheck {
    /// The algorithms whose values matched the body.
    pub verified: Vec<DigestAlgorithm>,
}

/// Checks an RFC 3230 `Digest` value (`SHA-256=…`, several comma-separated instances allowed)
/// against `body`. Algorithm tokens are compared case-insensitively (RFC 3230 §4.1.1); unknown
/// algorithms are skipped, but at least one SHA-256/SHA-512 value must be present and every
/// such value must match.
pub fn verify_rfc3230(value: &str, body: &[u8]) -> Result<DigestCheck> {
    let mut verified = Vec::new();
    for part in value.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((token, b64)) = part.split_once('=') else {
            return Err(crate::error::malformed(DIGEST, format!("'{part}' is not <algorithm>=<base64>")));
        };
        let Some(alg) = DigestAlgorithm::from_token(token) else { continue };
        let declared = STANDARD
            .decode(b64.trim())
            .map_err(|_| Error::NotBase64 { header: DIGEST.into(), what: format!("{token} digest") })?;
        check(DIGEST, alg, &declared, body)?;
        verified.push(alg);
    }
    if verified.is_empty() {
        return Err(Error::UnsupportedDigest { header: DIGEST.into(), value: value.to_owned() });
    }
    Ok(DigestCheck { verified })
}

/// Checks an RFC 9530 `Content-Digest` value (a Structured-Field dictionary) against `body`.
/// Unknown keys are skipped; at least one `sha-256`/`sha-512` member must be present and match.
pub fn verify_content_digest(value: &str, body: &[u8]) -> Result<DigestCheck> {
    let dict: sfv::Dictionary = sfv::Parser::new(value)
        .parse()
        .map_err(|e| crate::error::malformed(CONTENT_DIGEST, format!("not a structured-field dictionary: {e}")))?;
    let mut verified = Vec::new();
    for (key, entry) in &dict {
        let Some(alg) = DigestAlgorithm::from_token(key.as_str()) else { continue };
        let bytes = match entry {
            sfv::ListEntry::Item(item) => item.bare_item.as_byte_sequence(),
            sfv::ListEntry::InnerList(_) => None,
        }
        .ok_or_else(|| Error::NotBase64 {
            header: CONTENT_DIGEST.into(),
            what: format!("{} member (expected :base64:)", key.as_str()),
        })?;
        check(CONTENT_DIGEST, alg, bytes, body)?;
        verified.push(alg);
    }
    if verified.is_empty() {
        return Err(Error::UnsupportedDigest { header: CONTENT_DIGEST.into(), value: value.to_owned() });
    }
    Ok(DigestCheck { verified })
}

fn check(header: &str, alg: DigestAlgorithm, declared: &[u8], body: &[u8]) -> Result<()> {
    let computed = alg.digest(body);
    if computed != declared {
        return Err(Error::DigestMismatch {
            header: header.to_owned(),
            algorithm: alg.rfc3230_token().to_owned(),
            computed: STANDARD.encode(computed),
            declared: STANDARD.encode(declared),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn empty_body() {
        assert_eq!(
            rfc3230_digest(DigestAlgorithm::Sha256, "SHA-256", b""),
            "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(
            rfc3230_digest(DigestAlgorithm::Sha512, "SHA-512", b""),
            "SHA-512=z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="
        );
    }

    #[test]
    fn any_case_and_belfius_token() {
        let v = rfc3230_digest(DigestAlgorithm::Sha256, "SHA256", b"x");
        assert!(v.starts_with("SHA256="));
        verify_rfc3230(&v, b"x").unwrap();
        verify_rfc3230(&v.replace("SHA256", "sha-256"), b"x").unwrap();
        assert!(matches!(verify_rfc3230(&v, b"y"), Err(Error::DigestMismatch { .. })));
        assert!(matches!(verify_rfc3230("MD5=abc", b"y"), Err(Error::UnsupportedDigest { .. })));
        assert!(matches!(verify_rfc3230("SHA-256=!!!", b"y"), Err(Error::NotBase64 { .. })));
        assert!(matches!(verify_rfc3230("garbage", b"y"), Err(Error::Malformed { .. })));
    }

    #[test]
    fn content_digest_errors() {
        assert!(matches!(verify_content_digest("sha-256=abc", b""), Err(Error::NotBase64 { .. })));
        assert!(matches!(verify_content_digest("(((", b""), Err(Error::Malformed { .. })));
        assert!(matches!(verify_content_digest("md5=:AAAA:", b""), Err(Error::UnsupportedDigest { .. })));
    }
}
