//! PKCE (RFC 7636) with the S256 method, as Belfius wants it in the `Code-Challenge-Method` /
//! `Code-Challenge` request headers; plus the random `state` values of the SCA redirect.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::Error;

/// The only method this client sends.
pub const PKCE_METHOD: &str = "S256";

/// A PKCE verifier and its S256 challenge. `Debug` hides the verifier.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkce {
    verifier: String,
    challenge: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce").field("verifier", &"***").field("challenge", &self.challenge).finish()
    }
}

impl Pkce {
    /// A fresh verifier: base64url (no padding) of 32 random bytes, 43 characters.
    pub fn generate() -> Result<Self, Error> {
        Self::from_verifier(&random_token(32)?)
    }

    /// The pair for a given verifier (e.g. one persisted between `consent` and `token`). The
    /// verifier must be 43–128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.1).
    pub fn from_verifier(verifier: &str) -> Result<Self, Error> {
        let ok_chars = verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if !(43..=128).contains(&verifier.len()) || !ok_chars {
            return Err(Error::Config(
                "PKCE code verifier must be 43-128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)".into(),
            ));
        }
        Ok(Self { verifier: verifier.to_owned(), challenge: s256_challenge(verifier) })
    }

    /// The verifier (sent to `/token` as `code_verifier`; keep it private until then).
    pub fn verifier(&self) -> &str {
        &self.verifier
    }

    /// The S256 challenge (sent in `Code-Challenge`).
    pub fn challenge(&self) -> &str {
        &self.challenge
    }

    /// `S256`.
    pub fn method(&self) -> &'static str {
        PKCE_METHOD
    }
}

/// `BASE64URL-NOPAD(SHA-256(ASCII(verifier)))`.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()))
}

/// `n` random bytes (aws-lc-rs system RNG) as base64url without padding: for `state` values.
pub fn random_token(n: usize) -> Result<String, Error> {
    let mut buf = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut buf).map_err(|_| Error::Config("the system random generator failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        let p = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert_eq!(p.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert_eq!(p.method(), "S256");
    }

    #[test]
    fn generated_verifiers_are_valid_and_fresh() {
        let a = Pkce::generate().unwrap();
        let b = Pkce::generate().unwrap();
        assert_eq!(a.verifier().len(), 43);
        assert_ne!(a.verifier(), b.verifier());
        assert_eq!(Pkce::from_verifier(a.verifier()).unwrap(), a);
        assert!(!format!("{a:?}").contains(a.verifier()));
    }

    #[test]
    fn bad_verifiers_are_refused() {
        assert!(Pkce::from_verifier("short").is_err());
        assert!(Pkce::from_verifier(&"a".repeat(129)).is_err());
        assert!(Pkce::from_verifier(&format!("{}+", "a".repeat(43))).is_err());
        assert!(Pkce::from_verifier(&"a".repeat(128)).is_ok());
    }
}
