//! What can go wrong talking to the bank.

use serde::{Deserialize, Serialize};

/// The bank's error body: `{"error","error_code","error_description"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BankError {
    /// Short code, e.g. `invalid_grant`, `NO_ACTIVE_CONSENT`.
    #[serde(default)]
    pub error: Option<String>,
    /// Number or code (`10001`, `B14800-3013-000000`); a JSON string or number on the wire.
    #[serde(default, deserialize_with = "crate::types::opt_string_or_number")]
    pub error_code: Option<String>,
    /// One readable sentence.
    #[serde(default)]
    pub error_description: Option<String>,
    /// The SCA URL of an `SCA_REQUIRED` answer, when the bank sends it as a field of its own
    /// (the embedded sandbox does; otherwise it is in `error_description`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sca_redirect_url: Option<String>,
}

impl BankError {
    /// A body with these three fields.
    pub fn new(error: Option<String>, error_code: Option<String>, error_description: Option<String>) -> Self {
        Self { error, error_code, error_description, sca_redirect_url: None }
    }
}

impl std::fmt::Display for BankError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = self.error.as_deref().unwrap_or("error");
        match &self.error_code {
            Some(c) if c != code => write!(f, "{code} ({c})")?,
            _ => f.write_str(code)?,
        }
        if let Some(d) = &self.error_description {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

/// Errors of the bank client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A bad argument or configuration (bank, environment, URL, id, PKCE verifier).
    #[error("{0}")]
    Config(String),
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] crate::tls::Error),
    /// The connection or TLS handshake failed, or no answer came.
    #[error("{call}: {url}: {reason}")]
    Connection {
        /// The call.
        call: &'static str,
        /// The URL (without query).
        url: String,
        /// What failed (the error chain, innermost last).
        reason: String,
    },
    /// The bank answered with an error status; `kind` says which error it is and
    /// [`BankErrorKind::action`](crate::BankErrorKind::action) what to do.
    #[error("{call}: HTTP {status}{}; {}", match error { Some(e) => format!(": {e}"), None if body.is_empty() => String::new(), None => format!(": {body}") }, kind.advice())]
    Http {
        /// The call.
        call: &'static str,
        /// The HTTP status.
        status: u16,
        /// The bank's error body, when it has the documented shape.
        error: Option<Box<BankError>>,
        /// The raw body (shortened), when it does not.
        body: String,
        /// The error recognised from status and body.
        kind: Box<crate::BankErrorKind>,
    },
    /// A certificate lacks the PSD2 role the call needs; nothing was sent.
    #[error("{certificate} ({subject}) lacks PSD2 role {role} needed for {call} (it has: {has}); nothing was sent")]
    RoleMissing {
        /// `QWAC` or `QSealC`.
        certificate: &'static str,
        /// The certificate's subject.
        subject: String,
        /// The missing role (`PSP_PI`, …).
        role: String,
        /// The roles it has.
        has: String,
        /// The call.
        call: &'static str,
    },
    /// The eIDAS proxy answered itself instead of forwarding the bank's answer
    /// ([`Client::through_proxy`](crate::Client::through_proxy)): its role gate (`role_missing`,
    /// the proxy's QWAC or QSealC lacks the call's PSD2 role), an unknown route, a body over its
    /// limit (4xx: nothing was sent to the bank), or a bank it could not reach (502) or that did
    /// not answer in time (504).
    #[error("{call}: the eIDAS proxy answered HTTP {status} {code}: {message}{}", if *status < 500 { "; nothing was sent to the bank" } else { "" })]
    Proxy {
        /// The call.
        call: &'static str,
        /// The HTTP status.
        status: u16,
        /// The proxy's error code (`role_missing`, `unknown_route`, `upstream_timeout`, …).
        code: String,
        /// The proxy's sentence.
        message: String,
    },
    /// The call needs something the client was not given (a QSealC, the client secret).
    #[error("{call}: {what}")]
    Missing {
        /// The call.
        call: &'static str,
        /// What is missing.
        what: String,
    },
    /// Sealing the request failed.
    #[error("{call}: sealing the request: {source}")]
    Seal {
        /// The call.
        call: &'static str,
        /// The signing error.
        #[source]
        source: Box<psd2_httpsig::Error>,
    },
    /// The answer is not what the contract says (JSON shape, `Response-ID`, `Location`, state).
    #[error("{call}: unexpected response: {reason}")]
    BadResponse {
        /// The call.
        call: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A session file ([`crate::session`]) cannot be read, written, or is not one.
    #[error("{}: {reason}", path.display())]
    SessionFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The unattended budget of an account is used up; nothing was sent.
    #[error(
        "the unattended budget of account {account} is used up: {calls} calls in the last 24 hours; the next one is possible at {frees_at}; nothing was sent"
    )]
    UnattendedBudget {
        /// The account (logical id, `*` for the account list).
        account: String,
        /// The calls counted in the window.
        calls: usize,
        /// When the next call fits (RFC 3339).
        frees_at: String,
    },
    /// A revocation source could not be asked, or its answer does not verify.
    #[error("revocation check via {via}: {reason}")]
    Revocation {
        /// `OCSP <url>`, `CRL <url or file>`.
        via: String,
        /// What went wrong.
        reason: String,
    },
    /// A code arrived but no consent or payment is waiting for one in the session.
    #[error("no pending consent or payment in the session (start a consent or a payment first)")]
    NoPendingAuthorization,
    /// The redirect's `state` is not the pending one: the callback belongs to another consent.
    #[error("the redirect's state {got:?} is not the pending one: the callback belongs to another consent")]
    StateMismatch {
        /// The state the redirect brought.
        got: String,
    },
    /// The bank redirected to the TPP with an OAuth error instead of a code.
    #[error("the bank redirected with error {error:?}{}", description.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    RedirectError {
        /// The `error` parameter.
        error: String,
        /// The `error_description` parameter, when present.
        description: Option<String>,
    },
}

impl Error {
    /// The bank error recognised, for an [`Error::Http`].
    pub fn bank_error(&self) -> Option<&crate::BankErrorKind> {
        match self {
            Error::Http { kind, .. } => Some(kind.as_ref()),
            _ => None,
        }
    }

    /// Whether the error is a missing PSD2 role, found by this client's gate or by the eIDAS
    /// proxy's (the CLI exits 1 for it).
    pub fn is_role_missing(&self) -> bool {
        match self {
            Error::RoleMissing { .. } => true,
            Error::Proxy { code, .. } => code == "role_missing",
            _ => false,
        }
    }
}
