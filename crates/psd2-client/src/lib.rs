//! # psd2-client
//!
//! How a PSD2 request travels:
//!
//! - [`tls`]: the mutual-TLS client configuration built from a QWAC
//!   [`Identity`](psd2_eidas::Identity) — the private key may stay in a PKCS#11 token, since
//!   rustls signs the handshake through the same [`Signer`](psd2_eidas::Signer) trait as
//!   everything else;
//! - [`Bank`], [`Environment`], [`CALLS`]: Belfius / Banx hosts, prefixes and the call table
//!   (Accept versions, headers, roles);
//! - [`Pkce`]: RFC 7636 S256, and the random `state` values ([`random_token`]);
//! - [`BankErrorKind`], [`Action`]: the bank's error codes, current and older, and what a TPP
//!   does about each;
//! - [`Client`]: the async bank client (consent, token, AIS, PIS sealed with the QSealC, CAF) with
//!   the role gate before any I/O; [`types`]: the bodies;
//! - [`ProxyEndpoint`]: the same client through an eIDAS egress proxy (`psd2-sign proxy`) that
//!   holds the QWAC and QSealC ([`Client::through_proxy`]);
//! - [`revocation`]: OCSP and CRL checks of a certificate, fetched and cached;
//! - [`session`]: the OAuth session kept between calls (tokens, the pending PKCE verifier and
//!   `state`, the last payment) in a private file, and the redirect callback.
#![forbid(unsafe_code)]

mod bank;
mod bank_error;
mod client;
mod error;
mod pkce;
mod proxy;
pub mod revocation;
pub mod session;
pub mod tls;
pub mod types;

/// The URL type of [`BaseUrl::join`].
pub use reqwest::Url;
/// The `rustls` crate of [`tls::client_config`]'s `ClientConfig` and `RootCertStore`.
pub use rustls;

pub use bank::{Auth, Bank, BaseUrl, CALLS, Call, CallSpec, Environment, PaymentProduct, RoleNeed, Scope};
pub use bank_error::{Action, BankErrorKind};
pub use client::{Client, ClientOptions, PisAuth, RetryPolicy};
pub use error::{BankError, Error};
pub use pkce::{PKCE_METHOD, Pkce, random_token, s256_challenge};
pub use proxy::ProxyEndpoint;
