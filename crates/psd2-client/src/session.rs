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
