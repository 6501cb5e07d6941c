//! The bank's memory: consent tickets, authorization codes, token pairs and payments.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use psd2_client::Bank;
use time::{Duration, OffsetDateTime};

use super::config::{Account, SandboxConfig};
use super::error::ApiError;
use super::faults::Faults;
use super::pis::PisSealCheck;

/// Access-token lifetime (`expires_in`).
pub(crate) const ACCESS_TTL: Duration = Duration::seconds(900);
/// Refresh-token lifetime.
pub(crate) const REFRESH_TTL: Duration = Duration::days(90);
/// Authorization-code and ticket lifetime.
pub(crate) const CODE_TTL: Duration = Duration::minutes(10);
/// SCA-token lifetime.
pub(crate) const SCA_TOKEN_TTL: Duration = Duration::hours(1);
/// Unattended AIS calls per client and account in [`UNATTENDED_WINDOW`].
pub(crate) const UNATTENDED_BUDGET: usize = 4;
/// The rolling window of the unattended budget.
pub(crate) const UNATTENDED_WINDOW: Duration = Duration::hours(24);

pub(crate) use psd2_client::Scope;

/// What a consent ticket (and the code made from it) stands for.
#[derive(Debug, Clone)]
pub(crate) struct Authorization {
    pub(crate) client_id: String,
    /// The bank whose base path issued it.
    pub(crate) bank: Bank,
    /// An SCA step for the history of this IBAN (beyond 90 days): answers an SCA token, no code.
    pub(crate) sca_iban: Option<String>,
    pub(crate) scope: Scope,
    /// PKCE S256 challenge; `None` when a PIS initiation came with a Bearer token.
    pub(crate) code_challenge: Option<String>,
    pub(crate) redirect_uri: Option<String>,
    pub(crate) payment_id: Option<String>,
    pub(crate) expires: OffsetDateTime,
}

impl Authorization {
    /// A ticket of `client_id` on `bank` for `scope`, valid [`CODE_TTL`] from `now`, without
    /// PKCE, redirect, payment or SCA account.
    pub(crate) fn new(client_id: &str, bank: Bank, scope: Scope, now: OffsetDateTime) -> Self {
        Self {
            client_id: client_id.to_owned(),
            bank,
            sca_iban: None,
            scope,
            code_challenge: None,
            redirect_uri: None,
            payment_id: None,
            expires: now + CODE_TTL,
        }
    }
}

/// An access + refresh token pair.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) client_id: String,
    pub(crate) scope: Scope,
    /// The bank whose `/token` issued it.
    pub(crate) bank: Bank,
    /// The consent's `Redirect-URI` (where the SCA step for old transactions returns).
    pub(crate) redirect_uri: Option<String>,
    /// The PSU withdrew the consent ([`Shared::withdraw_consents`]).
    pub(crate) withdrawn: bool,
    pub(crate) access_token: String,
    pub(crate) refresh_token: String,
    pub(crate) access_expires: OffsetDateTime,
    pub(crate) refresh_expires: OffsetDateTime,
}

/// A payment initiation.
#[derive(Debug, Clone)]
pub(crate) struct Payment {
    pub(crate) id: String,
    pub(crate) bank: Bank,
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
    /// SCA token → what it allows.
    pub(crate) sca_tokens: HashMap<String, ScaToken>,
    /// (client id, IBAN or `*`) → times of the unattended calls in the window.
    pub(crate) unattended: HashMap<(String, String), VecDeque<OffsetDateTime>>,
}

/// An SCA token: the history of one account for one client, for an hour.
#[derive(Debug, Clone)]
pub(crate) struct ScaToken {
    pub(crate) client_id: String,
    pub(crate) iban: String,
    pub(crate) expires: OffsetDateTime,
}

impl State {
    /// Makes and stores a token pair.
    pub(crate) fn grant(
        &mut self,
        client_id: &str,
        scope: Scope,
        bank: Bank,
        redirect_uri: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Grant, String> {
        let g = Grant {
            client_id: client_id.to_owned(),
            scope,
            bank,
            redirect_uri,
            withdrawn: false,
            access_token: random_token()?,
            refresh_token: random_token()?,
            access_expires: now + ACCESS_TTL,
            refresh_expires: now + REFRESH_TTL,
        };
        self.refresh.insert(g.refresh_token.clone(), g.access_token.clone());
        self.access.insert(g.access_token.clone(), g.clone());
        Ok(g)
    }

    /// Counts an unattended call of `client_id` on `account` (an IBAN, or `*` for the list)
    /// at `now`; the fifth within 24 hours is refused with the seconds until the oldest of the
    /// four leaves the window.
    pub(crate) fn unattended_call(&mut self, client_id: &str, account: &str, now: OffsetDateTime) -> Result<(), u64> {
        let calls = self.unattended.entry((client_id.to_owned(), account.to_owned())).or_default();
        while calls.front().is_some_and(|t| *t + UNATTENDED_WINDOW <= now) {
            calls.pop_front();
        }
        if calls.len() >= UNATTENDED_BUDGET {
            let oldest = calls.front().copied().unwrap_or(now);
            let left = (oldest + UNATTENDED_WINDOW - now).as_seconds_f64().ceil();
            return Err((left as u64).max(1));
        }
        calls.push_back(now);
        Ok(())
    }

    /// Drops expired tickets and codes (token pairs stay until refreshed or expired).
    pub(crate) fn sweep(&mut self, now: OffsetDateTime) {
        self.tickets.retain(|_, a| a.expires > now);
        self.codes.retain(|_, a| a.expires > now);
        self.sca_tokens.retain(|_, t| t.expires > now);
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
    /// The logical id of `config.accounts[i]`, random per start.
    logical_ids: Vec<String>,
    /// The JWE header part all our logical ids share (its `kid` random per start).
    id_header: String,
    state: Mutex<State>,
    faults: Mutex<Faults>,
    /// The seal check of each registered client's QSealC, by client id: read once here.
    seal_checks: HashMap<String, PisSealCheck>,
}

/// What a logical id names.
pub(crate) enum LogicalId<'a> {
    /// One of ours: the account.
    Account(&'a Account),
    /// JWE-shaped with our header, but no account of this PSU.
    Unknown,
    /// Not JWE-shaped, or another issuer's.
    Invalid,
}

impl Shared {
    pub(crate) fn new(config: SandboxConfig) -> Result<Self, String> {
        let b64 = |n: usize| -> Result<String, String> {
            let mut b = vec![0u8; n];
            aws_lc_rs::rand::fill(&mut b).map_err(|_| "the random generator failed".to_owned())?;
            Ok(URL_SAFE_NO_PAD.encode(b))
        };
        let header = serde_json::json!({"alg": "dir", "enc": "A256GCM", "kid": b64(12)?});
        let id_header = URL_SAFE_NO_PAD.encode(header.to_string());
        // `<header>..<iv>.<ciphertext>.<tag>`, as a `dir` JWE.
        let logical_ids = config
            .accounts
            .iter()
            .map(|_| Ok(format!("{id_header}..{}.{}.{}", b64(12)?, b64(48)?, b64(16)?)))
            .collect::<Result<_, String>>()?;
        let faults = Mutex::new(config.faults);
        let seal_checks =
            config.clients.iter().map(|(id, c)| (id.clone(), PisSealCheck::new(c.qseal.clone()))).collect();
        Ok(Self { config, logical_ids, id_header, state: Mutex::new(State::default()), faults, seal_checks })
    }

    /// The seal check of registered client `client_id`.
    pub(crate) fn seal_check(&self, client_id: &str) -> Option<&PisSealCheck> {
        self.seal_checks.get(client_id)
    }

    /// The state, even after a panic in another handler (the data stays consistent per call).
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The faults left to play.
    pub(crate) fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The accounts with their logical ids.
    pub(crate) fn accounts(&self) -> impl Iterator<Item = (&Account, &str)> {
        self.config.accounts.iter().zip(self.logical_ids.iter().map(String::as_str))
    }

    /// The logical id of `iban`.
    pub(crate) fn logical_id(&self, iban: &str) -> Option<&str> {
        self.accounts().find(|(a, _)| a.iban == iban).map(|(_, id)| id)
    }

    /// Resolves a logical id.
    pub(crate) fn resolve(&self, id: &str) -> LogicalId<'_> {
        if let Some((a, _)) = self.accounts().find(|(_, l)| *l == id) {
            return LogicalId::Account(a);
        }
        let parts: Vec<&str> = id.split('.').collect();
        let b64url = |p: &str| p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if parts.len() == 5
            && parts[0] == self.id_header
            && parts[1].is_empty()
            && parts[2..].iter().all(|p| !p.is_empty() && b64url(p))
        {
            LogicalId::Unknown
        } else {
            LogicalId::Invalid
        }
    }

    /// The PSU withdraws every consent: existing token pairs answer `NO_ACTIVE_CONSENT`, SCA
    /// tokens are dropped.
    pub(crate) fn withdraw_consents(&self) {
        let mut state = self.state();
        for g in state.access.values_mut() {
            g.withdrawn = true;
        }
        state.sca_tokens.clear();
    }
}

/// An internal failure (the random generator) as a 500.
pub(crate) fn internal(e: String) -> ApiError {
    ApiError::internal(e)
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
