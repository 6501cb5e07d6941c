//! The OAuth session of a TPP with one bank, kept between calls: the token pair of each scope,
//! the PKCE verifier and `state` that wait between a consent (or payment) and its `/token`
//! exchange, and the last payment initiated. A CLI keeps it in a file; a service may keep it
//! anywhere (it is `serde`).
//!
//! The file is JSON, written atomically (a temporary file in the same folder, synced, renamed)
//! with mode 0600 on Unix, because it holds tokens and the PKCE verifier. A file that is not a
//! session file is refused, never overwritten.
//!
//! ```no_run
//! # async fn run(client: &psd2_client::Client) -> Result<(), psd2_client::Error> {
//! use psd2_client::Scope;
//! use psd2_client::session::{self, Session};
//!
//! let path = std::path::Path::new("tokens.json");
//! let mut s = Session::load(path)?; // an empty session when the file does not exist yet
//! let (pkce, state) = s.start(Scope::Ais)?;
//! let uris = client.consent_uris(Scope::Ais, &pkce).await?;
//! let sca_url = session::sca_url(&uris[0].consent_uri, &state);
//! s.save(path)?; // the verifier and state wait for the redirect
//! // … the PSU consents at sca_url; the bank redirects to the TPP's redirect URI …
//! let callback = session::parse_callback("https://tpp.example.com/cb?code=C&state=S")?;
//! s.complete(client, &callback.code, callback.state.as_deref()).await?;
//! s.save(path)?;
//! let accounts = client.accounts(s.access_token(Scope::Ais).unwrap_or_default()).await?;
//! # let _ = (sca_url, accounts); Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::types::Token;
use crate::{Client, Error, PaymentProduct, Pkce, Scope};

/// The `format` value of a session file.
const FORMAT: &str = "psd2-sign session 1";
/// A session file is small; anything larger is not one.
const MAX_FILE: u64 = 1024 * 1024;

/// A consent or payment waiting for its authorization code. `Debug` hides the verifier.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    /// `AIS`, `PIS` or `CAF`.
    pub scope: String,
    code_verifier: String,
    /// The `state` sent with the SCA redirect; the callback must bring it back.
    pub state: String,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("scope", &self.scope)
            .field("code_verifier", &"***")
            .field("state", &self.state)
            .finish()
    }
}

impl Pending {
    /// The PKCE verifier for the `/token` call.
    pub fn code_verifier(&self) -> &str {
        &self.code_verifier
    }
}

/// The last payment initiated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastPayment {
    /// The payment product (`sepa-credit-transfers`, …).
    pub product: String,
    /// The bank's payment id.
    pub payment_id: String,
}

/// The session: which bank and client it belongs to, tokens by scope, what is pending.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// Always [`FORMAT`] in a file we wrote.
    #[serde(default)]
    format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bank: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    /// Tokens by scope (`AIS`, `PIS`, `CAF`).
    #[serde(default)]
    tokens: BTreeMap<String, Token>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending: Option<Pending>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payment: Option<LastPayment>,
    /// SCA tokens by account (logical id), for history older than 90 days.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    sca_tokens: BTreeMap<String, ScaToken>,
    /// An SCA step waiting for its redirect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_sca: Option<PendingSca>,
    /// Unattended AIS calls by account (the account list as `*`): Unix times, the last 24 hours.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    unattended: BTreeMap<String, Vec<i64>>,
}

/// An SCA token of one account. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaToken {
    token: String,
    /// When it was obtained (Unix time).
    pub obtained: i64,
}

impl std::fmt::Debug for ScaToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScaToken").field("token", &"***").field("obtained", &self.obtained).finish()
    }
}

impl ScaToken {
    /// The token, for the `SCA-Token` header.
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// An SCA step (history older than 90 days) waiting for the redirect that brings its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingSca {
    /// The account (logical id) the token is for.
    pub account: String,
    /// The `state` sent; the redirect must bring it back.
    pub state: String,
}

/// Unattended AIS calls Belfius allows per account in 24 hours (belfius-api.md §6, §14.3).
pub const UNATTENDED_PER_DAY: usize = 4;
/// The rolling window of [`UNATTENDED_PER_DAY`], in seconds.
const DAY: i64 = 24 * 3600;

/// The budget key of an account: its logical id, or `*` for the account list.
pub fn budget_key(account: Option<&str>) -> &str {
    account.unwrap_or("*")
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::SessionFile { path: path.to_path_buf(), reason: reason.to_string() }
}

impl Session {
    /// An empty session.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a session file; a file that does not exist yet is an empty session, but its folder
    /// must exist (so that tokens obtained later can be saved). A file that is not a session
    /// file, or larger than 1 MiB, is refused.
    pub fn load(path: &Path) -> Result<Self, Error> {
        check_folder(path)?;
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(file_error(path, e)),
        };
        if meta.is_dir() {
            return Err(file_error(path, "is a directory"));
        }
        if !meta.is_file() || meta.len() > MAX_FILE {
            return Err(file_error(path, "not a psd2-sign session file (not a regular file of at most 1 MiB)"));
        }
        let data = psd2_eidas::load::read_limited(path, MAX_FILE, "session file").map_err(|e| file_error(path, e))?;
        let s: Session = serde_json::from_slice(&data)
            .map_err(|e| file_error(path, format!("not a psd2-sign session file: {e}")))?;
        if s.format.as_deref() != Some(FORMAT) {
            return Err(file_error(path, format!("not a psd2-sign session file (no \"format\": \"{FORMAT}\")")));
        }
        Ok(s)
    }

    /// Writes the session atomically, mode 0600 (Unix): a temporary file beside `path`,
    /// synced, then renamed over it.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        check_folder(path)?;
        let mut s = self.clone();
        s.format = Some(FORMAT.to_owned());
        let mut data = serde_json::to_vec_pretty(&s).map_err(|e| file_error(path, e))?;
        data.push(b'\n');
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "session".into());
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let write = || -> std::io::Result<()> {
            use std::io::Write as _;
            let mut f = opts.open(&tmp)?;
            f.write_all(&data)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            file_error(path, e)
        })
    }

    /// Records which bank, base URL and client id the session belongs to.
    pub fn bind(&mut self, client: &Client) {
        self.bank = Some(client.options().bank.name().to_owned());
        self.base_url = Some(client.base_url().to_string());
        self.client_id = Some(client.options().client_id.clone());
    }

    /// Starts a consent or payment authorization: a fresh PKCE pair and `state`, kept as the
    /// pending authorization (replacing any earlier one).
    pub fn start(&mut self, scope: Scope) -> Result<(Pkce, String), Error> {
        let pkce = Pkce::generate()?;
        let state = crate::pkce::random_token(16)?;
        self.pending = Some(Pending {
            scope: scope.as_str().to_owned(),
            code_verifier: pkce.verifier().to_owned(),
            state: state.clone(),
        });
        Ok((pkce, state))
    }

    /// The pending authorization, if any.
    pub fn pending(&self) -> Option<&Pending> {
        self.pending.as_ref()
    }

    /// The pending authorization, checked against the `state` the redirect brought back (when
    /// it brought one).
    pub fn pending_for(&self, state: Option<&str>) -> Result<&Pending, Error> {
        let p = self.pending.as_ref().ok_or(Error::NoPendingAuthorization)?;
        match state {
            Some(s) if s != p.state => Err(Error::StateMismatch { got: s.to_owned() }),
            _ => Ok(p),
        }
    }

    /// Removes and returns the pending authorization.
    pub fn take_pending(&mut self) -> Option<Pending> {
        self.pending.take()
    }

    /// Exchanges an authorization code for the pending scope's tokens (checking `state`
    /// first), stores them and clears the pending authorization.
    pub async fn complete(&mut self, client: &Client, code: &str, state: Option<&str>) -> Result<&Token, Error> {
        let pending = self.pending_for(state)?.clone();
        let token = client.token_from_code(code, pending.code_verifier()).await?;
        let scope = token.scope.clone().unwrap_or(pending.scope).to_ascii_uppercase();
        self.pending = None;
        let slot = self.tokens.entry(scope).or_insert_with(|| token.clone());
        *slot = token;
        Ok(slot)
    }

    /// The stored tokens of a scope.
    pub fn token(&self, scope: Scope) -> Option<&Token> {
        self.tokens.get(scope.as_str())
    }

    /// The stored access token of a scope.
    pub fn access_token(&self, scope: Scope) -> Option<&str> {
        self.token(scope).map(|t| t.access_token.as_str())
    }

    /// Stores (replaces) the tokens of a scope, e.g. after a refresh.
    pub fn set_token(&mut self, scope: Scope, token: Token) {
        self.tokens.insert(scope.as_str().to_owned(), token);
    }

    /// The last payment initiated.
    pub fn last_payment(&self) -> Option<&LastPayment> {
        self.payment.as_ref()
    }

    /// Records the last payment initiated.
    pub fn set_last_payment(&mut self, product: PaymentProduct, payment_id: impl Into<String>) {
        self.payment = Some(LastPayment { product: product.as_str().to_owned(), payment_id: payment_id.into() });
    }

    /// Starts an SCA step for `account`: a fresh `state`, kept as the pending SCA (replacing
    /// any earlier one). Send the PSU to [`sca_url`]`(url, &state)`.
    pub fn start_sca(&mut self, account: &str) -> Result<String, Error> {
        let state = crate::pkce::random_token(16)?;
        self.pending_sca = Some(PendingSca { account: account.to_owned(), state: state.clone() });
        Ok(state)
    }

    /// The pending SCA step, if any.
    pub fn pending_sca(&self) -> Option<&PendingSca> {
        self.pending_sca.as_ref()
    }

    /// Stores the SCA token the redirect brought for the pending step (its `state` checked, when
    /// it brought one) and clears the step; returns the account.
    pub fn complete_sca(
        &mut self,
        sca_token: &str,
        state: Option<&str>,
        now: time::OffsetDateTime,
    ) -> Result<String, Error> {
        let p = self.pending_sca.as_ref().ok_or(Error::NoPendingAuthorization)?;
        if let Some(s) = state
            && s != p.state
        {
            return Err(Error::StateMismatch { got: s.to_owned() });
        }
        let account = p.account.clone();
        self.pending_sca = None;
        self.set_sca_token(&account, sca_token, now);
        Ok(account)
    }

    /// The stored SCA token of an account.
    pub fn sca_token(&self, account: &str) -> Option<&ScaToken> {
        self.sca_tokens.get(account)
    }

    /// Stores (replaces) the SCA token of an account.
    pub fn set_sca_token(&mut self, account: &str, token: &str, now: time::OffsetDateTime) {
        self.sca_tokens
            .insert(account.to_owned(), ScaToken { token: token.to_owned(), obtained: now.unix_timestamp() });
    }

    /// Forgets the SCA token of an account (the bank asked for SCA again).
    pub fn drop_sca_token(&mut self, account: &str) {
        self.sca_tokens.remove(account);
    }

    /// Whether one more unattended call for `account` ([`budget_key`]) fits the budget of
    /// [`UNATTENDED_PER_DAY`] per rolling 24 hours at `now`; if not, [`Error::UnattendedBudget`]
    /// says when the next one fits. Check before the call; [`record_unattended`](Self::record_unattended) after sending.
    pub fn check_unattended(&self, account: &str, now: time::OffsetDateTime) -> Result<(), Error> {
        let now = now.unix_timestamp();
        let recent: Vec<i64> = self
            .unattended
            .get(account)
            .map(|v| v.iter().copied().filter(|t| now - t < DAY).collect())
            .unwrap_or_default();
        if recent.len() < UNATTENDED_PER_DAY {
            return Ok(());
        }
        let oldest = recent.iter().copied().min().unwrap_or(now);
        let frees = time::OffsetDateTime::from_unix_timestamp(oldest + DAY).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        Err(Error::UnattendedBudget {
            account: account.to_owned(),
            calls: recent.len(),
            frees_at: frees
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| frees.unix_timestamp().to_string()),
        })
    }

    /// Counts one unattended call for `account` at `now` (and forgets calls older than 24 hours).
    pub fn record_unattended(&mut self, account: &str, now: time::OffsetDateTime) {
        let now = now.unix_timestamp();
        let calls = self.unattended.entry(account.to_owned()).or_default();
        calls.retain(|t| now - t < DAY);
        calls.push(now);
    }
}

/// The folder of `path` must exist: a session that cannot be saved loses tokens.
fn check_folder(path: &Path) -> Result<(), Error> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(file_error(path, format!("its folder {} does not exist", parent.display())));
    }
    Ok(())
}

/// The SCA URL with the `state` appended as a query parameter.
pub fn sca_url(uri: &str, state: &str) -> String {
    let sep = if uri.contains('?') { '&' } else { '?' };
    let state: String = url::form_urlencoded::byte_serialize(state.as_bytes()).collect();
    format!("{uri}{sep}state={state}")
}

/// What the bank's redirect to the TPP brought back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Callback {
    /// The authorization code.
    pub code: String,
    /// The `state`, when present.
    pub state: Option<String>,
}

/// What the bank's redirect after an SCA step for old history brought back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScaCallback {
    /// The SCA token.
    pub sca_token: String,
    /// The `state`, when present.
    pub state: Option<String>,
}

/// Reads `sca_token` and `state` from the redirect URL; `None` when it carries no `sca_token`
/// (then it is an authorization-code redirect: [`parse_callback`]).
pub fn parse_sca_callback(redirect: &str) -> Result<Option<ScaCallback>, Error> {
    let url = url::Url::parse(redirect).map_err(|e| {
        Error::Config(format!("the redirect URL {:?} does not parse: {e}", redirect.escape_debug().to_string()))
    })?;
    let get = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    if let Some(error) = get("error") {
        return Err(Error::RedirectError { error, description: get("error_description") });
    }
    Ok(get("sca_token").filter(|t| !t.is_empty()).map(|sca_token| ScaCallback { sca_token, state: get("state") }))
}

/// Reads `code` and `state` from the redirect URL (query form-decoded). A redirect carrying
/// `error` is [`Error::RedirectError`]; one without a code is [`Error::Config`].
pub fn parse_callback(redirect: &str) -> Result<Callback, Error> {
    let url = url::Url::parse(redirect).map_err(|e| {
        Error::Config(format!("the redirect URL {:?} does not parse: {e}", redirect.escape_debug().to_string()))
    })?;
    let (mut code, mut state, mut error, mut description) = (None, None, None, None);
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "code" => code = Some(v.into_owned()),
            "state" => state = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            "error_description" => description = Some(v.into_owned()),
            _ => {}
        }
    }
    if let Some(error) = error {
        return Err(Error::RedirectError { error, description });
    }
    let code = code.filter(|c| !c.is_empty()).ok_or_else(|| Error::Config("the redirect URL has no code".into()))?;
    Ok(Callback { code, state })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn callback_code_and_state() {
        let c = parse_callback("https://tpp.example/cb?code=a%2Bb&state=xyz").unwrap();
        assert_eq!((c.code.as_str(), c.state.as_deref()), ("a+b", Some("xyz")));
        let e = parse_callback("https://tpp.example/cb?error=access_denied&error_description=PSU+cancelled");
        assert!(matches!(e, Err(Error::RedirectError { ref error, .. }) if error == "access_denied"), "{e:?}");
        assert!(matches!(parse_callback("https://tpp.example/cb?state=1"), Err(Error::Config(_))));
        assert!(matches!(parse_callback("not a url"), Err(Error::Config(_))));
        assert_eq!(parse_callback("https://t/cb?code=%zz%4").unwrap().code, "%zz%4");
    }

    #[test]
    fn unattended_budget_is_four_per_rolling_day() {
        let t0 = time::macros::datetime!(2026-12-01 08:00 UTC);
        let mut s = Session::new();
        for i in 0..4 {
            s.check_unattended("acc", t0 + time::Duration::hours(i)).unwrap();
            s.record_unattended("acc", t0 + time::Duration::hours(i));
        }
        let e = s.check_unattended("acc", t0 + time::Duration::hours(5)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the unattended budget of account acc is used up: 4 calls in the last 24 hours; the next one is possible at 2026-12-02T08:00:00Z; nothing was sent"
        );
        s.check_unattended("other", t0).unwrap();
        s.check_unattended("acc", t0 + time::Duration::hours(24)).unwrap();
    }

    #[test]
    fn sca_tokens_by_account() {
        let now = time::macros::datetime!(2026-12-01 08:00 UTC);
        let mut s = Session::new();
        let state = s.start_sca("acc1").unwrap();
        assert!(matches!(s.complete_sca("T", Some("other"), now), Err(Error::StateMismatch { .. })));
        assert_eq!(s.complete_sca("T", Some(&state), now).unwrap(), "acc1");
        assert_eq!(s.sca_token("acc1").unwrap().token(), "T");
        assert!(!format!("{s:?}").contains("\"T\""));
        let cb = parse_sca_callback(&format!("https://t/cb?sca_token=T&state={state}")).unwrap().unwrap();
        assert_eq!(cb.sca_token, "T");
        assert!(parse_sca_callback("https://t/cb?code=C").unwrap().is_none());
    }

    #[test]
    fn sca_url_appends_state() {
        assert_eq!(sca_url("https://b/sca?x=1", "s t"), "https://b/sca?x=1&state=s+t");
        assert_eq!(sca_url("https://b/sca", "s"), "https://b/sca?state=s");
    }

    #[test]
    fn files_round_trip_private_and_refuse_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let mut s = Session::load(&path).unwrap();
        let (pkce, state) = s.start(Scope::Ais).unwrap();
        s.save(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let back = Session::load(&path).unwrap();
        assert_eq!(back.pending_for(Some(&state)).unwrap().code_verifier(), pkce.verifier());
        assert!(matches!(back.pending_for(Some("other")), Err(Error::StateMismatch { .. })));
        assert!(!format!("{back:?}").contains(pkce.verifier()));
        for (name, text) in [("other.json", "{\"tokens\":{}}"), ("junk.json", "[1,2]"), ("extra.json", "{\"x\":1}")] {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            let e = Session::load(&p).unwrap_err().to_string();
            assert!(e.contains(name) && e.contains("not a psd2-sign session file"), "{e}");
        }
        let e = Session::load(&dir.path().join("missing/tokens.json")).unwrap_err().to_string();
        assert!(e.contains("does not exist"), "{e}");
        assert!(Session::load(dir.path()).unwrap_err().to_string().contains("is a directory"));
    }
}
