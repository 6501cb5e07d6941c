//! # psd2-proxy
//!
//! An eIDAS egress proxy: internal callers (any language) speak HTTP to it; it forwards each
//! request to the upstream bank its route names, over kept-alive mutual TLS with the route's
//! QWAC, seals the requests that need it with the QSealC (any key reference, PKCS#11
//! included), and runs the PSD2 role gate before any upstream I/O.
//!
//! It is a signing oracle for the TPP's identity: whoever can reach a listener can have
//! requests sealed and sent in the TPP's name. A plain-HTTP listener is therefore allowed on a
//! loopback address only; any other address needs TLS with client-certificate authentication
//! of the internal callers against an internal CA ([`Listener::tls`]).
//!
//! - [`ProxyConfig`]: listeners, [`Route`]s (path prefix → upstream, bank call table or
//!   signature profile, identities, trusted server CAs, limits), the concurrency limit;
//!   [`ConfigFile`] reads it from TOML;
//! - [`Proxy::start`] → [`ProxyHandle`]: hyper HTTP/1.1 servers on the caller's tokio runtime,
//!   [`ProxyHandle::reload`] (new certificates without dropping a connection) and graceful
//!   [`ProxyHandle::shutdown`];
//! - its own endpoints: `POST /v1/seal` (the headers a caller adds to seal a request it sends
//!   itself, the JSON of `psd2-sign sign --format json`), `GET /healthz` (ready when every
//!   identity's key signs), `GET /metrics` (Prometheus text format).
//!
//! The library never prints; it emits `tracing` events, one per request with its id, route,
//! status and latency (never bodies, query strings, `Authorization`, tokens or secrets).
#![forbid(unsafe_code)]

mod config;
mod error;
mod file;
mod forward;
mod gate;
mod metrics;
mod seal;
mod server;
mod tls;

pub use config::{
    DEFAULT_DRAIN_TIMEOUT, DEFAULT_MAX_BODY, DEFAULT_MAX_CONCURRENT, Listener, ListenerTls, Mode, ProxyConfig,
    RESERVED_PATHS, Route, SealRule,
};
pub use error::Error;
pub use file::ConfigFile;
pub use server::{Proxy, ProxyHandle};

/// The response header saying what the proxy sealed: `<profile> serial=<hex>` or `none`.
pub const SEALED_HEADER: &str = "X-PSD2-Proxy-Sealed";
