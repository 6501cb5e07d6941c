//! The Belfius / Banx error codes, current and older (docs/belfius-api.md §10.1, §10.2, §14.2),
//! each with the action a TPP takes.
//!
//! ```
//! use psd2_client::{Action, Bank, BankError, BankErrorKind};
//! let body = BankError::new(
//!     Some("NO_ACTIVE_CONSENT".into()),
//!     Some("B14800ZZ-3013-000000".into()),
//!     Some("The consent was withdrawn".into()),
//! );
//! let kind = BankErrorKind::classify(Bank::Belfius, 403, Some(&body), None);
//! assert_eq!(kind, BankErrorKind::NoActiveConsent);
//! assert_eq!(kind.action(), Action::ConsentAgain);
//! assert_eq!(kind.action().as_str(), "consent_again");
//! ```

use std::fmt;

use crate::bank::Bank;
use crate::error::BankError;

/// What a TPP does about a bank error. [`as_str`](Action::as_str) gives the stable names of
/// `psd2-sign send --json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Start the consent again (`/consent-uris`): the PSU or the bank ended it.
    ConsentAgain,
    /// Refresh the tokens (or start again if the refresh token is invalid too).
    Refresh,
    /// Send the PSU to the URL in the error for SCA, then repeat the call.
    ScaRedirect,
    /// The client id is not (or no longer) active at the bank: contact the bank.
    ClientInactive,
    /// The account belongs to the other bank of the group: use its host.
    WrongHost,
    /// An input is missing or invalid: fix the request.
    InvalidInput,
    /// The bank rejected the payment: show the reason to the user.
    PaymentRejected,
    /// Try later (429, 5xx), after `Retry-After` when given.
    RetryLater,
    /// Not a known code: status, code and description are kept verbatim.
    Unknown,
}

impl Action {
    /// `consent_again`, `refresh`, `sca_redirect`, `client_inactive`, `wrong_host`,
    /// `invalid_input`, `payment_rejected`, `retry_later`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ConsentAgain => "consent_again",
            Action::Refresh => "refresh",
            Action::ScaRedirect => "sca_redirect",
            Action::ClientInactive => "client_inactive",
            Action::WrongHost => "wrong_host",
            Action::InvalidInput => "invalid_input",
            Action::PaymentRejected => "payment_rejected",
            Action::RetryLater => "retry_later",
            Action::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One Belfius / Banx error, recognised from the status and the body in either the current or
/// an older form.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BankErrorKind {
    /// `NO_ACTIVE_CONSENT` (`B14800ZZ-3013-000000`, `B14800-3013-000000`, `20005`).
    NoActiveConsent,
    /// An invalid or expired access token (`GEN-1203-100003`, or a 401 saying so).
    InvalidAccessToken,
    /// An invalid refresh token (`GEN-1203-100004`): the consent must start again.
    InvalidRefreshToken,
    /// Another failed security validation (`GEN-1203-…`: client id, "Invalid JWT").
    FailedSecurityValidation {
        /// The code.
        code: String,
    },
    /// SCA required (`SCA_REQUIRED` `B14800ZZ-0PLC-REDRCT`, `SCA_required` `20007`): the URL
    /// to send the PSU to, when the body carries one.
    ScaRequired {
        /// The SCA URL.
        url: Option<String>,
    },
    /// `INVALID_TPP` (`B14663ZZ-2100-000000`): the client id is not active.
    InvalidTpp,
    /// `CHANNEL_NOT_PERMITTED` (`B14800ZZ-3007-000000`): the account is the other bank's.
    ChannelNotPermitted {
        /// The live host of the other bank.
        other_host: &'static str,
    },
    /// `MISSING_INPUT` / `INVALID_INPUT` (`GEN-1201-…`, `GEN-1202-…`, `10001`, `10002`).
    InvalidInput {
        /// The bank's description of which input.
        what: String,
    },
    /// A PIS rejection (`B14821ZZ-…`): the reason, with the code's meaning when known.
    PaymentRejected {
        /// The code.
        code: String,
        /// Why.
        reason: String,
    },
    /// `INVALID_ACCOUNT`, `ACCESS_DENIED`, `ACCOUNT_NOT_SUPPORTED`, `NOT_SUPPORTED`.
    AccountRefused {
        /// The code.
        code: String,
    },
    /// 429 Too Many Requests (the unattended budget): retry after this many seconds, if said.
    TooManyRequests {
        /// `Retry-After` in seconds.
        retry_after: Option<u64>,
    },
    /// A 5xx: the bank's service is unavailable.
    ServiceUnavailable,
    /// Anything else: see the status and body of the error.
    Unknown,
}

/// The meaning of the PIS rejection codes (belfius-api.md §10.1).
fn pis_reason(code: &str) -> Option<&'static str> {
    let part = code.strip_prefix("B14821ZZ-")?.split('-').next()?;
    Some(match part {
        "1200" => "check endtoend_identification",
        "1227" => "the country is not allowed",
        "1231" => "the amount must be above 0",
        "1232" => "the currency is not accepted",
        "1236" => "a BBAN together with a BIC is not allowed",
        "2101" => "the customer's profile does not allow this payment",
        "2102" => "the BIC is missing or invalid",
        "2121" => "non-SEPA payments are not allowed",
        _ => return None,
    })
}

/// The first `https://` URL in a text.
fn find_url(text: &str) -> Option<String> {
    let start = text.find("https://")?;
    let url: String =
        text[start..].chars().take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '<' | '>')).collect();
    Some(url.trim_end_matches(['.', ',', ')', ';']).to_owned())
}

impl BankErrorKind {
    /// Recognises an error answer of `bank`: its HTTP status, the parsed body when it has the
    /// documented shape, and the `Retry-After` header (seconds) when present.
    pub fn classify(bank: Bank, status: u16, body: Option<&BankError>, retry_after: Option<u64>) -> Self {
        let error = body.and_then(|b| b.error.as_deref()).unwrap_or_default();
        let code = body.and_then(|b| b.error_code.as_deref()).unwrap_or_default();
        let description = body.and_then(|b| b.error_description.as_deref()).unwrap_or_default();
        let upper = error.to_ascii_uppercase();
        let other_host = match bank {
            Bank::Belfius => Bank::Banx.live_url(),
            Bank::Banx => Bank::Belfius.live_url(),
        };
        let other_host = other_host.trim_start_matches("https://");
        if upper == "SCA_REQUIRED" || code == "B14800ZZ-0PLC-REDRCT" || code == "20007" {
            return Self::ScaRequired {
                url: body.and_then(|b| b.sca_redirect_url.clone()).or_else(|| find_url(description)),
            };
        }
        if upper == "NO_ACTIVE_CONSENT" || code.ends_with("-3013-000000") || code == "20005" {
            return Self::NoActiveConsent;
        }
        if upper == "CHANNEL_NOT_PERMITTED" || code.ends_with("-3007-000000") {
            return Self::ChannelNotPermitted { other_host };
        }
        if upper == "INVALID_TPP" || code.starts_with("B14663ZZ-2100") {
            return Self::InvalidTpp;
        }
        if code.starts_with("B14821") {
            let reason = match (pis_reason(code), description) {
                (Some(r), "") => r.to_owned(),
                (Some(r), d) => format!("{r}: {d}"),
                (None, "") => "rejected".to_owned(),
                (None, d) => d.to_owned(),
            };
            return Self::PaymentRejected { code: code.to_owned(), reason };
        }
        if code == "GEN-1203-100003" {
            return Self::InvalidAccessToken;
        }
        if code == "GEN-1203-100004" {
            return Self::InvalidRefreshToken;
        }
        if upper == "FAILED_SECURITY_VALIDATION" || code.starts_with("GEN-1203") {
            return Self::FailedSecurityValidation { code: code.to_owned() };
        }
        if matches!(upper.as_str(), "MISSING_INPUT" | "INVALID_INPUT")
            || code.starts_with("GEN-1201")
            || code.starts_with("GEN-1202")
            || code == "10001"
            || code == "10002"
        {
            return Self::InvalidInput { what: description.to_owned() };
        }
        if matches!(upper.as_str(), "INVALID_ACCOUNT" | "ACCESS_DENIED" | "ACCOUNT_NOT_SUPPORTED" | "NOT_SUPPORTED")
            || code.ends_with("-3002-000000")
            || code.ends_with("-3004-000000")
            || code.ends_with("-3008-000000")
            || code == "20003"
            || code == "20004"
        {
            return Self::AccountRefused { code: if code.is_empty() { error.to_owned() } else { code.to_owned() } };
        }
        let lower = description.to_ascii_lowercase();
        if status == 401 && (lower.contains("access_token is not valid") || lower.contains("access token")) {
            return Self::InvalidAccessToken;
        }
        if lower.contains("refresh token is not valid") {
            return Self::InvalidRefreshToken;
        }
        if status == 401 && upper == "INVALID_TOKEN" {
            return Self::InvalidAccessToken;
        }
        if status == 429 {
            return Self::TooManyRequests { retry_after };
        }
        if (500..600).contains(&status) {
            return Self::ServiceUnavailable;
        }
        Self::Unknown
    }

    /// What a TPP does about it.
    pub fn action(&self) -> Action {
        match self {
            Self::NoActiveConsent | Self::InvalidRefreshToken | Self::AccountRefused { .. } => Action::ConsentAgain,
            Self::InvalidAccessToken => Action::Refresh,
            Self::FailedSecurityValidation { .. } => Action::Refresh,
            Self::ScaRequired { .. } => Action::ScaRedirect,
            Self::InvalidTpp => Action::ClientInactive,
            Self::ChannelNotPermitted { .. } => Action::WrongHost,
            Self::InvalidInput { .. } => Action::InvalidInput,
            Self::PaymentRejected { .. } => Action::PaymentRejected,
            Self::TooManyRequests { .. } | Self::ServiceUnavailable => Action::RetryLater,
            Self::Unknown => Action::Unknown,
        }
    }

    /// One sentence saying what to do, for a person.
    pub fn advice(&self) -> String {
        match self {
            Self::NoActiveConsent => "the consent is no longer active: start a new consent".into(),
            Self::InvalidAccessToken => "the access token is not valid: refresh the tokens".into(),
            Self::InvalidRefreshToken => "the refresh token is not valid: start a new consent".into(),
            Self::FailedSecurityValidation { code } if code == "GEN-1203-100009" => {
                "the client id or client secret is not valid: check them".into()
            }
            Self::FailedSecurityValidation { code } if code == "GEN-1203-100010" => {
                "a logical id, SCA token or PIS token is not valid (Invalid JWT): use the bank's own values, or get new ones".into()
            }
            Self::FailedSecurityValidation { code } => {
                format!("security validation failed ({code}): refresh the tokens, or start a new consent")
            }
            Self::ScaRequired { url: Some(u) } => {
                format!("strong customer authentication is required: send the PSU to {u}")
            }
            Self::ScaRequired { url: None } => "strong customer authentication is required".into(),
            Self::InvalidTpp => "the client id is not active at the bank: contact the bank's onboarding".into(),
            Self::ChannelNotPermitted { other_host } => {
                format!("this account belongs to the other bank: call {other_host} instead")
            }
            Self::InvalidInput { what } if what.is_empty() => "an input is missing or invalid".into(),
            Self::InvalidInput { what } => format!("fix the input: {what}"),
            Self::PaymentRejected { reason, .. } => format!("the bank rejected the payment: {reason}"),
            Self::AccountRefused { code } => format!("the account is refused ({code}): start a consent covering it"),
            Self::TooManyRequests { retry_after: Some(s) } => format!("too many requests: retry after {s} s"),
            Self::TooManyRequests { retry_after: None } => "too many requests: retry later".into(),
            Self::ServiceUnavailable => "the bank's service is unavailable: retry later".into(),
            Self::Unknown => "see the bank's code and description".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn body(error: &str, code: &str, description: &str) -> BankError {
        BankError::new(
            (!error.is_empty()).then(|| error.into()),
            (!code.is_empty()).then(|| code.into()),
            (!description.is_empty()).then(|| description.into()),
        )
    }

    #[test]
    fn current_and_older_codes_have_their_action() {
        let cases: &[(u16, &str, &str, &str, Action)] = &[
            (403, "NO_ACTIVE_CONSENT", "B14800ZZ-3013-000000", "", Action::ConsentAgain),
            (403, "NO_ACTIVE_CONSENT", "B14800-3013-000000", "", Action::ConsentAgain),
            (403, "no_active_consent", "20005", "", Action::ConsentAgain),
            (401, "FAILED_SECURITY_VALIDATION", "GEN-1203-100003", "", Action::Refresh),
            (401, "", "", "the access_token is not valid", Action::Refresh),
            (401, "FAILED_SECURITY_VALIDATION", "GEN-1203-100004", "", Action::ConsentAgain),
            (401, "SCA_REQUIRED", "B14800ZZ-0PLC-REDRCT", "go to https://b.example/sca?t=1", Action::ScaRedirect),
            (400, "SCA_required", "20007", "https://b.example/sca", Action::ScaRedirect),
            (403, "INVALID_TPP", "B14663ZZ-2100-000000", "", Action::ClientInactive),
            (403, "CHANNEL_NOT_PERMITTED", "B14800ZZ-3007-000000", "", Action::WrongHost),
            (403, "CHANNEL_NOT_PERMITTED", "B14800-3007-000000", "", Action::WrongHost),
            (400, "MISSING_INPUT", "GEN-1201-100001", "Request-ID", Action::InvalidInput),
            (400, "INVALID_INPUT", "GEN-1202-100002", "date_from", Action::InvalidInput),
            (400, "missing_input", "10001", "", Action::InvalidInput),
            (400, "invalid_input", "10002", "", Action::InvalidInput),
            (400, "INVALID_INPUT", "B14821ZZ-1231-000000", "", Action::PaymentRejected),
            (429, "", "", "", Action::RetryLater),
            (503, "", "", "", Action::RetryLater),
            (418, "TEAPOT", "X-1", "short and stout", Action::Unknown),
        ];
        for (status, error, code, description, action) in cases {
            let kind = BankErrorKind::classify(Bank::Belfius, *status, Some(&body(error, code, description)), None);
            assert_eq!(kind.action(), *action, "{status} {error} {code}: {kind:?}");
        }
    }

    #[test]
    fn details_are_kept() {
        let k = BankErrorKind::classify(
            Bank::Belfius,
            401,
            Some(&body("SCA_REQUIRED", "", "go to https://b.example/sca?t=1.")),
            None,
        );
        assert_eq!(k, BankErrorKind::ScaRequired { url: Some("https://b.example/sca?t=1".into()) });
        let k = BankErrorKind::classify(Bank::Belfius, 403, Some(&body("CHANNEL_NOT_PERMITTED", "", "")), None);
        assert!(k.advice().contains("psd2.b2b.banx.be:8443"), "{}", k.advice());
        let k = BankErrorKind::classify(Bank::Banx, 403, Some(&body("CHANNEL_NOT_PERMITTED", "", "")), None);
        assert!(k.advice().contains("psd2.b2b.belfius.be:8443"), "{}", k.advice());
        let k = BankErrorKind::classify(Bank::Belfius, 400, Some(&body("", "B14821ZZ-1231-000000", "")), None);
        assert_eq!(k.advice(), "the bank rejected the payment: the amount must be above 0");
        let k = BankErrorKind::classify(Bank::Belfius, 429, None, Some(120));
        assert_eq!(k, BankErrorKind::TooManyRequests { retry_after: Some(120) });
    }
}
