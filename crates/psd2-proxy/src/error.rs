//! Errors of starting the proxy.

use std::net::SocketAddr;

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is not usable.
    #[error("proxy configuration: {0}")]
    Config(String),
    /// The listen address is not a loopback address.
    #[error(
        "listen address {addr}: not a loopback address; the proxy seals requests in the TPP's name, so it listens \
         in plain HTTP on loopback (127.0.0.1, ::1) only; TLS with client-certificate authentication of internal \
         callers, needed for other addresses, is not implemented yet"
    )]
    NotLoopback {
        /// The refused address.
        addr: SocketAddr,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The mTLS client configuration could not be built.
    #[error(transparent)]
    Tls(#[from] psd2_client::tls::Error),
    /// The server task failed.
    #[error("proxy task: {0}")]
    Task(String),
}
