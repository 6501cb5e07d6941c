//! The bank's memory: consent tickets, authorization codes, token pairs and payments.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use time::{Duration, OffsetDateTime};

use super::config::SandboxConfig;

/// Access-token lifetime (`expires_in`).
pub(crate) const ACCESS_TTL: Duration = Duration::seconds(900);
/// Refresh-token lifetime.
pub(crate) const REFRESH_TTL: Duration = Duration::days(90);
/// Authorization-code and ticket lifetime.
pub(crate) const CODE_TTL: Duration = Duration::minutes(10);

pub(crate) use psd2_client::Scope;

/// What a consent ticket (and the code made from it) stands for.
#[derive(Debug, Clone)]
pub(crate) struct Authorization {
    pub(crate) client_id: String,
    pub(crate) scope: Scope,
    /// PKCE S256 challenge; `None` when a PIS initiation came with a Bearer token.
    pub(crate) code_challenge: Option<String>,
    pub(crate) redirect_uri: Option<String>,
    pub(crate) payment_id: Option<String>,
    pub(crate) expires: OffsetDateTime,
}

/// An access + refresh token pair.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) client_id: String,
    pub(crate) scope: Scope,
    pub(crate) access_token: String,
    pub(crate) refresh_token: String,
    pub(crate) access_expires: OffsetDateTime,
    pub(crate) refresh_expires: OffsetDateTime,
}

/// A payment initiation.
#[derive(Debug, Clone)]
pub(crate) struct Payment {
    pub(crate) id: String,
    pub(crate) product: String,
    pub(crate) client_id: String,
    pub(crate) status: &'static str,
    pub(crate) creditor_iban: String,
    pub(crate) creditor_name: String,
    pub(crate) amount_cents: i64,
    pub(crate) currency: String,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) tickets: HashMap<String, Authorization>,
    pub(crate) codes: HashMap<String, Authorization>,
    /// access token → grant
    pub(crate) access: HashMap<String, Grant>,
    /// refresh token → access token of the same pair
    pub(crate) refresh: HashMap<String, String>,
    pub(crate) payments: HashMap<String, Payment>,
}

impl State {
    /// Makes and stores a token pair.
    pub(crate) fn grant(&mut self, client_id: &str, scope: Scope, now: OffsetDateTime) -> Result<Grant, String> {
        let g = Grant {
            client_id: client_id.to_owned(),
            scope,
            access_token: random_token()?,
            refresh_token: random_token()?,
            access_expires: now + ACCESS_TTL,
            refresh_expires: now + REFRESH_TTL,
        };
        self.refresh.insert(g.refresh_token.clone(), g.access_token.clone());
        self.access.insert(g.access_token.clone(), g.clone());
        Ok(g)
    }

    /// Drops expired tickets and codes (token pairs stay until refreshed or expired).
    pub(crate) fn sweep(&mut self, now: OffsetDateTime) {
        self.tickets.retain(|_, a| a.expires > now);
        self.codes.retain(|_, a| a.expires > now);
        let expired: Vec<String> =
            self.access.values().filter(|g| g.refresh_expires <= now).map(|g| g.access_token.clone()).collect();
        for a in expired {
            if let Some(g) = self.access.remove(&a) {
                self.refresh.remove(&g.refresh_token);
            }
        }
    }
}

/// Everything the connections share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: SandboxConfig,
    state: Mutex<State>,
}

impl Shared {
    pub(crate) fn new(config: SandboxConfig) -> Self {
        Self { config, state: Mutex::new(State::default()) }
    }

    /// The state, even after a panic in another handler (the data stays consistent per call).
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// 32 random bytes, base64url without padding: tokens, codes, tickets, ids (the client's
/// generator, so both sides make their random values one way).
pub(crate) fn random_token() -> Result<String, String> {
    psd2_client::random_token(32).map_err(|e| e.to_string())
}

/// RFC 7636 S256 of a verifier.
pub(crate) fn s256(verifier: &str) -> String {
    psd2_client::s256_challenge(verifier)
}

/// RFC 7636 §4.1: 43–128 characters from `[A-Za-z0-9-._~]` (the client's own check).
pub(crate) fn valid_verifier(v: &str) -> bool {
    psd2_client::Pkce::from_verifier(v).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(valid_verifier(v));
        assert_eq!(s256(v), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert!(!valid_verifier("short"));
        assert!(!valid_verifier(&"a+".repeat(30)));
    }

    #[test]
    fn tokens_are_32_random_bytes() {
        let (a, b) = (random_token().unwrap_or_default(), random_token().unwrap_or_default());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
