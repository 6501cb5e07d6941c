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

/// An error answer: status, the contract's body `{"error","error_code","error_description"}`
/// (plus `sca_redirect_url` on `SCA_REQUIRED`) and `Retry-After` on 429.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) error: &'static str,
    pub(crate) code: &'static str,
    pub(crate) description: String,
    /// `sca_redirect_url` (SCA_REQUIRED).
    pub(crate) sca_redirect_url: Option<String>,
    /// `Retry-After` seconds (TOO_MANY_REQUESTS).
    pub(crate) retry_after: Option<u64>,
}

/// The PIS `error_code`s of belfius-api.md §10.1 the sandbox answers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PisCode {
    /// `endtoend_identification` missing or invalid.
    EndToEnd,
    /// The amount is not above 0.
    Amount,
    /// The currency is not EUR.
    Currency,
    /// The BIC is invalid.
    Bic,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        error: &'static str,
        code: &'static str,
        description: impl Into<String>,
    ) -> Self {
        Self { status, error, code, description: description.into(), sca_redirect_url: None, retry_after: None }
    }

    /// A required header is absent.
    pub(crate) fn missing_header(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MISSING_INPUT", "GEN-1201-100001", description)
    }

    /// A required body, path or query input is absent.
    pub(crate) fn missing_input(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MISSING_INPUT", "GEN-1201-100002", description)
    }

    /// A header value is invalid.
    pub(crate) fn invalid_header(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_INPUT", "GEN-1202-100001", description)
    }

    /// A body, path or query value is invalid.
    pub(crate) fn invalid_input(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_INPUT", "GEN-1202-100002", description)
    }

    /// A PIS body check of belfius-api.md §10.1 failed.
    pub(crate) fn pis(code: PisCode, description: impl Into<String>) -> Self {
        let code = match code {
            PisCode::EndToEnd => "B14821ZZ-1200-000000",
            PisCode::Amount => "B14821ZZ-1231-000000",
            PisCode::Currency => "B14821ZZ-1232-000000",
            PisCode::Bic => "B14821ZZ-2102-000000",
        };
        Self::new(StatusCode::BAD_REQUEST, "INVALID_INPUT", code, description)
    }

    pub(crate) fn not_acceptable(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_ACCEPTABLE, "NOT_ACCEPTABLE", "406", description)
    }

    /// `Client-ID` missing or unknown, Basic credentials wrong.
    pub(crate) fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "FAILED_SECURITY_VALIDATION", "GEN-1203-100009", description)
    }

    /// The Bearer access token is missing or not valid.
    pub(crate) fn invalid_token(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "FAILED_SECURITY_VALIDATION", "GEN-1203-100003", description)
    }

    /// The refresh token is unknown, used or expired.
    pub(crate) fn invalid_refresh(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "FAILED_SECURITY_VALIDATION", "GEN-1203-100004", description)
    }

    /// "Invalid JWT": a logical id or SCA token that is not one of ours.
    pub(crate) fn invalid_jwt(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "FAILED_SECURITY_VALIDATION", "GEN-1203-100010", description)
    }

    /// History beyond 90 days without a valid SCA token: the SCA URL ends the description and
    /// is `sca_redirect_url`.
    pub(crate) fn sca_required(url: String) -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "SCA_REQUIRED",
            "B14800ZZ-0PLC-REDRCT",
            format!("transactions older than 90 days need the PSU's SCA: send the PSU to {url}"),
        );
        e.sca_redirect_url = Some(url);
        e
    }

    /// The client id is registered but not active.
    pub(crate) fn invalid_tpp(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "INVALID_TPP", "B14663ZZ-2100-000000", description)
    }

    /// A well-formed logical id that is not in this consent.
    pub(crate) fn invalid_account(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "INVALID_ACCOUNT", "B14800ZZ-3002-000000", description)
    }

    /// An account of the other bank asked for on this bank's base path.
    pub(crate) fn channel_not_permitted(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "CHANNEL_NOT_PERMITTED", "B14800ZZ-3007-000000", description)
    }

    /// The PSU withdrew the consent.
    pub(crate) fn no_active_consent(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "NO_ACTIVE_CONSENT", "B14800ZZ-3013-000000", description)
    }

    /// The unattended budget is used up; `Retry-After: retry_after`.
    pub(crate) fn too_many_requests(retry_after: u64, description: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS", "429", description);
        e.retry_after = Some(retry_after);
        e
    }

    /// Fault mode: the request was not processed.
    pub(crate) fn service_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "503",
            "the service is temporarily unavailable (sandbox fault mode); the request was not processed",
        )
    }

    pub(crate) fn internal(description: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_server_error", "500", description)
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

    pub(crate) fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", "400", description)
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
        let mut v =
            serde_json::json!({"error": self.error, "error_code": self.code, "error_description": self.description});
        if let (Some(url), Some(o)) = (&self.sca_redirect_url, v.as_object_mut()) {
            o.insert("sca_redirect_url".into(), url.clone().into());
        }
        v
    }
}
