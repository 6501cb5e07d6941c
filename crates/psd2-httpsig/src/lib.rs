//! # psd2-httpsig
//!
//! How a PSD2 request is sealed: body digests (RFC 3230 `Digest`, RFC 9530 `Content-Digest`),
//! draft-cavage-10 and RFC 9421 HTTP signatures, and the bank profiles built on them
//! (Berlin Group, STET, ING, Belfius PIS and fallback, RFC 9421). Pure functions over
//! [`http::Request`]s and body bytes: no I/O, no printing. Keys are any
//! [`psd2_eidas::Signer`] (file keys, PKCS#11 tokens).
//!
//! - [`digest`]: digest header values and their verification;
//! - [`cavage`]: signing strings and the `Signature` / `Authorization: Signature` parameters;
//! - [`rfc9421`]: signature bases, `Signature-Input` / `Signature`;
//! - [`keyid`]: Berlin Group `SN=…,CA=…` keyIds with selectable normalisation;
//! - [`profile`]: the declarative [`Profile`](profile::Profile) descriptions;
//! - [`sign()`] / [`verify()`]: seal a request under a profile, or check one like a bank would.
//!
//! ```
//! use psd2_httpsig::profile::Profile;
//! use psd2_httpsig::{SignOptions, VerifyOptions, sign, verify};
//!
//! // The QSealC key and certificate: here the repository's test QSealC (a PSD2 QSealC with
//! // roles, from its test QTSP).
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-certs/rsa");
//! let key = psd2_eidas::load::load_key(format!("{dir}/qseal.key").as_ref(), None)?;
//! let cert = psd2_eidas::load::load_certificates(format!("{dir}/qseal.pem").as_ref(), None)?.remove(0);
//! let profile = Profile::by_name("berlin-group")?;
//! let mut req = http::Request::post("https://api.bank.example/v1/payments/sepa-credit-transfers")
//!     .header("Content-Type", "application/json")
//!     .body(br#"{"instructedAmount":{"currency":"EUR","amount":"1.00"}}"#.to_vec())?;
//! let signed = sign(profile, &mut req, &key, Some(&cert), &SignOptions::default())?;
//! assert!(signed.signing_string.starts_with("digest: SHA-256="));
//! assert!(req.headers().contains_key("Signature"));
//!
//! // The bank's side.
//! let ok = verify(profile, &req, &VerifyOptions::default())?;
//! assert_eq!(ok.signing_string, signed.signing_string);
//! assert!(ok.anchor.is_none()); // no trust anchors given: the chain was not checked
//! println!("freshness: {}", ok.freshness); // berlin-group signs no time: "not checked: …"
//! *req.body_mut() = b"{}".to_vec();
//! assert!(verify(profile, &req, &VerifyOptions::default()).unwrap_err().to_string().contains("Digest"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod cavage;
mod date;
pub mod digest;
mod error;
pub mod keyid;
mod message;
mod pis;
pub mod profile;
pub mod rfc9421;
mod sign;
mod verify;

/// The `http` crate whose `Request` / `Response` the signing and verifying functions take.
pub use http;

pub use date::{format as format_date, parse as parse_date};
pub use error::{Error, Result};
pub use message::{Message, request_target};
pub use sign::{SignOptions, Signed, certificate_header_value, key_id_for, sign};
pub use verify::{
    DEFAULT_SKEW, Freshness, Verified, Verifier, VerifyOptions, check_issued_by, decode_certificate_header,
    rebuilt_signing_string, verify,
};
