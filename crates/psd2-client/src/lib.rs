//! # psd2-client
//!
//! How a PSD2 request travels:
//!
//! - [`tls`]: the mutual-TLS client configuration built from a QWAC
//!   [`Identity`](psd2_eidas::Identity) — the private key may stay in a PKCS#11 token, since
//!   rustls signs the handshake through the same [`Signer`](psd2_eidas::Signer) trait as
//!   everything else;
//! - [`bank`]: Belfius / Banx hosts, prefixes and the call table (Accept versions, headers, roles);
//! - [`pkce`]: RFC 7636 S256;
//! - [`Client`]: the async bank client (consent, token, AIS, PIS sealed with the QSealC, CAF) with
//!   the role gate before any I/O; [`types`]: the bodies;
//! - [`session`]: the OAuth session kept between calls (tokens, the pending PKCE verifier and
//!   `state`, the last payment) in a private file, and the redirect callback.
#![forbid(unsafe_code)]

pub mod bank;
mod client;
mod error;
pub mod pkce;
pub mod session;
pub mod tls;
pub mod types;

pub use bank::{Bank, Environment, PaymentProduct, Scope};
pub use client::{Client, ClientOptions, PisAuth};
pub use error::{BankError, Error};
pub use pkce::Pkce;
