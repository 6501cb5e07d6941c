//! Errors: the library's ([`Error`]) and the wire's (`ApiError`, the JSON error body).

use std::net::SocketAddr;

use http::StatusCode;

/// Errors starting or stopping the sandbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A certificate or key could not be read.
    #[error(transparent)]
    Eidas(#[from] psd2_eidas::Error),
    /// The ephemeral server CA or certificate could not be made.
    #[error("ephemeral server certificate: {0}")]
    ServerCa(#[from] psd2_ca::Error),
    /// rustls refused the server configuration.
    #[error("TLS server configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built (e.g. no trust anchor).
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// A TPP trust anchor was refused (the message names it).
    #[error("TPP trust anchor: {0}")]
    TrustAnchor(psd2_client::tls::Error),
    /// The configuration is unusable.
    #[error("sandbox configuration: {0}")]
    Config(String),
    /// An onboarded client is refused (see [`RegisteredClient::check`](crate::RegisteredClient::check)).
    #[error("sandbox configuration: client id {}: {problem}", quoted(client_id))]
    Client {
        /// The client id as given.
        client_id: String,
        /// What is wrong.
        problem: ClientProblem,
    },
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another I/O error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The server task failed.
    #[error("sandbox server task: {0}")]
    Task(String),
}

/// What is wrong with an onboarded client ([`Error::Client`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientProblem {
    /// The client id is empty or only white space.
    #[error("the client id is empty")]
    EmptyId,
    /// The client id is onboarded already.
    #[error("the client id is onboarded twice")]
    DuplicateId,
    /// The client secret is empty or only white space.
    #[error("the client secret is empty")]
    EmptySecret,
    /// The certificate registered as the client's QSealC is a QWAC.
    #[error(
        "the certificate registered as its QSealC, {subject}, is a QWAC ({why}): register the TPP's QSealC (QcType eseal)"
    )]
    QwacAsQseal {
        /// The certificate's subject, readable.
        subject: String,
        /// The evidence: `QcType web`, or the TLS extended key usages without QcType eseal.
        why: String,
    },
    /// The registered QSealC's extensions cannot be decoded.
    #[error("the registered QSealC cannot be read: {0}")]
    UnreadableQseal(String),
}

/// `s` in double quotes with control characters (and quotes, backslashes) escaped.
fn quoted(s: &str) -> String {
    format!("{s:?}")
}

/// An error answer: status and the contract's body
/// `{"error","error_code","error_description"}`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) error: &'static str,
    pub(crate) code: &'static str,
    pub(crate) description: String,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        error: &'static str,
        code: &'static str,
        description: impl Into<String>,
    ) -> Self {
        Self { status, error, code, description: description.into() }
    }

    pub(crate) fn invalid_input(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_input", "10002", description)
    }

    pub(crate) fn missing_input(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "missing_input", "10001", description)
    }

    pub(crate) fn not_acceptable(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_ACCEPTABLE, "not_acceptable", "406", description)
    }

    pub(crate) fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", "401", description)
    }

    pub(crate) fn invalid_token(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", "401", description)
    }

    pub(crate) fn invalid_certificate(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "invalid_certificate", "403", description)
    }

    pub(crate) fn role_missing(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "role_missing", "403", description)
    }

    pub(crate) fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", "400", description)
    }

    pub(crate) fn invalid_signature(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_signature", "400", description)
    }

    pub(crate) fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "404", description)
    }

    pub(crate) fn method_not_allowed(description: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "405", description)
    }

    pub(crate) fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": self.error, "error_code": self.code, "error_description": self.description})
    }
}
