//! # psd2-proxy
//!
//! An eIDAS egress proxy: internal callers (any language) speak plain HTTP to it on a loopback
//! address; it forwards each request to one configured upstream bank over kept-alive mutual TLS
//! with the QWAC, seals the requests that need it with the QSealC (any key reference, PKCS#11
//! included), and runs the PSD2 role gate before any upstream I/O.
//!
//! It is a signing oracle for the TPP's identity: whoever can reach the listener can have
//! requests sealed and sent in the TPP's name. This first step therefore listens on loopback
//! addresses only ([`Proxy::start`] refuses any other address); TLS with client-certificate
//! authentication of internal callers is the next step.
//!
//! - [`ProxyConfig`]: the route served at `/` (upstream, bank or signature profile, identities,
//!   trusted server CAs, limits);
//! - [`Proxy::start`] → [`ProxyHandle`]: a hyper HTTP/1.1 server on the caller's tokio runtime,
//!   with graceful shutdown;
//! - `POST /v1/seal`: the headers a caller adds to seal a request it sends itself, the JSON of
//!   `psd2-sign sign --format json`.
//!
//! The library never prints; it emits `tracing` events (never bodies, tokens or secrets).
#![forbid(unsafe_code)]

mod config;
mod error;
mod gate;
mod seal;
mod server;

pub use config::{DEFAULT_MAX_BODY, Mode, ProxyConfig};
pub use error::Error;
pub use server::{Proxy, ProxyHandle};

/// The response header saying what the proxy sealed: `<profile> serial=<hex>` or `none`.
pub const SEALED_HEADER: &str = "X-PSD2-Proxy-Sealed";
