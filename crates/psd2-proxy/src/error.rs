//! Errors of configuring, starting and reloading the proxy.

use std::net::SocketAddr;

/// Why the proxy could not start or reload.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is not usable.
    #[error("proxy configuration: {0}")]
    Config(String),
    /// The configuration file is not valid: `file line N: message`.
    #[error("{file}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    ConfigFile {
        /// The file.
        file: String,
        /// The line, when the error is about one.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A plain-HTTP listen address that is not a loopback address.
    #[error(
        "listen address {addr}: plain HTTP is allowed on loopback addresses only (127.0.0.1, ::1); the proxy seals \
         requests in the TPP's name, so any other address needs TLS with client-certificate authentication of the \
         internal callers (a listener with certificate, key and client_ca)"
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
    /// A TLS configuration (upstream client or listener) could not be built.
    #[error(transparent)]
    Tls(#[from] psd2_client::tls::Error),
    /// A reload asked for other listeners than the running ones.
    #[error("reload: the listeners changed ({0}); listeners change only with a restart")]
    ListenersChanged(String),
    /// The server task failed.
    #[error("proxy task: {0}")]
    Task(String),
}
