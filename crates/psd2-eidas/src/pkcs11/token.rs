//! Modules (loaded and initialised once per process), tokens and the session pool.
//!
//! Diagnostics (`tracing`, target `psd2_eidas::pkcs11::token`): the module loaded, the token
//! opened (label, serial, slot), each login (never the PIN).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::RvError;
use cryptoki::mechanism::MechanismType;
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use super::uri::Pkcs11Uri;
use crate::{Error, Pkcs11Code, Secret};

/// At most this many idle sessions are kept per token.
const MAX_IDLE_SESSIONS: usize = 16;

/// Turns a cryptoki error into ours, naming the PKCS#11 function that failed.
pub(crate) fn ck(e: cryptoki::error::Error) -> Error {
    match e {
        cryptoki::error::Error::Pkcs11(rv, function) => {
            Error::Pkcs11 { function: function.to_string(), code: code(rv) }
        }
        other => Error::Pkcs11 { function: "cryptoki".into(), code: Pkcs11Code::Library(other.to_string()) },
    }
}

/// The typed code of a return value; others by their `CKR_` name.
fn code(rv: RvError) -> Pkcs11Code {
    match rv {
        RvError::ObjectHandleInvalid => Pkcs11Code::ObjectHandleInvalid,
        RvError::SessionHandleInvalid => Pkcs11Code::SessionHandleInvalid,
        RvError::SessionClosed => Pkcs11Code::SessionClosed,
        RvError::UserNotLoggedIn => Pkcs11Code::UserNotLoggedIn,
        RvError::DeviceRemoved => Pkcs11Code::DeviceRemoved,
        RvError::DeviceError => Pkcs11Code::DeviceError,
        RvError::TokenNotPresent => Pkcs11Code::TokenNotPresent,
        RvError::MechanismInvalid => Pkcs11Code::MechanismInvalid,
        // RvError's Debug is the CKR_ name in CamelCase: ObjectHandleInvalid → CKR_OBJECT_HANDLE_INVALID.
        other => Pkcs11Code::Other(ckr_name(&format!("{other:?}"))),
    }
}

fn ckr_name(camel: &str) -> String {
    let mut out = String::from("CKR_");
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The module: the URI's `module-path`, else the one configured in
/// [`Secrets::pkcs11_module`](crate::Secrets).
pub(crate) fn module_path(uri: &Pkcs11Uri, configured: Option<&Path>) -> Result<PathBuf, Error> {
    if let Some(p) = &uri.module_path {
        return Ok(PathBuf::from(p));
    }
    configured.map(Path::to_path_buf).ok_or_else(|| Error::Pkcs11Module {
        path: None,
        reason: "no PKCS#11 module: the URI has no module-path and no module was configured".into(),
    })
}

/// Loads (once per process) and initialises the module at `path`.
pub(crate) fn module(path: &Path) -> Result<Pkcs11, Error> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut map = MODULES.get_or_init(Default::default).lock().map_err(|_| poisoned())?;
    if let Some(m) = map.get(path) {
        return Ok(m.clone());
    }
    if !path.exists() {
        return Err(Error::Pkcs11Module { path: Some(path.into()), reason: "no such file".into() });
    }
    let ctx = Pkcs11::new(path)
        .map_err(|e| Error::Pkcs11Module { path: Some(path.into()), reason: format!("cannot load: {e}") })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(cryptoki::error::Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(Error::Pkcs11Module { path: Some(path.into()), reason: format!("C_Initialize failed: {e}") });
        }
    }
    match ctx.get_library_info() {
        Ok(i) => tracing::info!(
            module = %path.display(),
            manufacturer = i.manufacturer_id(),
            library = i.library_description(),
            version = %i.library_version(),
            "PKCS#11 module loaded"
        ),
        Err(_) => tracing::info!(module = %path.display(), "PKCS#11 module loaded"),
    }
    map.insert(path.into(), ctx.clone());
    Ok(ctx)
}

fn poisoned() -> Error {
    Error::Pkcs11 { function: "session pool".into(), code: Pkcs11Code::Library("lock poisoned".into()) }
}

/// One token: its slot, its PIN, and a pool of open sessions shared by every key on it.
pub struct Token {
    ctx: Pkcs11,
    slot: Slot,
    label: String,
    pin: Option<Secret>,
    idle: Mutex<Vec<Session>>,
    mechanisms: Vec<MechanismType>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({})", self.label)
    }
}

impl Token {
    /// Finds the token the URI names (shared per process: keys on one token share its sessions).
    pub(crate) fn open(uri: &Pkcs11Uri, pin: Option<Secret>, configured: Option<&Path>) -> Result<Arc<Token>, Error> {
        type Tokens = Mutex<HashMap<(PathBuf, String), Arc<Token>>>;
        static TOKENS: OnceLock<Tokens> = OnceLock::new();
        let path = module_path(uri, configured)?;
        let ctx = module(&path)?;
        let key = (path, format!("{:?}/{:?}", uri.token, uri.serial));
        let mut tokens = TOKENS.get_or_init(Default::default).lock().map_err(|_| poisoned())?;
        if let Some(t) = tokens.get(&key) {
            let same_pin = t.pin.as_ref().map(Secret::expose) == pin.as_ref().map(Secret::expose);
            if same_pin || pin.is_none() {
                tracing::debug!(token = t.label.as_str(), "PKCS#11 token already open in this process");
                return Ok(t.clone());
            }
        }
        let mut seen = Vec::new();
        let mut found = None;
        for slot in ctx.get_slots_with_initialized_token().map_err(ck)? {
            let info = ctx.get_token_info(slot).map_err(ck)?;
            let matches = uri.token.as_deref().is_none_or(|l| l == info.label())
                && uri.serial.as_deref().is_none_or(|s| s == info.serial_number())
                && uri.manufacturer.as_deref().is_none_or(|m| m == info.manufacturer_id())
                && uri.model.as_deref().is_none_or(|m| m == info.model());
            if matches {
                tracing::info!(
                    module = %key.0.display(),
                    token = info.label(),
                    serial = info.serial_number(),
                    manufacturer = info.manufacturer_id(),
                    model = info.model(),
                    slot = slot.id(),
                    "PKCS#11 token opened"
                );
                found = Some((slot, info.label().to_owned()));
                break;
            }
            seen.push(info.label().to_owned());
        }
        let (slot, label) =
            found.ok_or_else(|| Error::TokenNotFound { wanted: uri.describe_token(), available: seen })?;
        let mechanisms = ctx.get_mechanism_list(slot).map_err(ck)?;
        let token = Arc::new(Token { ctx, slot, label, pin, idle: Mutex::new(Vec::new()), mechanisms });
        // Log in now, so a wrong PIN fails here (and is never cached) rather than at first use.
        if token.pin.is_some() {
            let session = token.new_session()?;
            token.put(session);
            tracing::info!(token = token.label.as_str(), "PKCS#11 login done (user PIN)");
        }
        tokens.insert(key, token.clone());
        Ok(token)
    }

    /// The token label.
    pub fn label(&self) -> &str {
        &self.label
    }

    pub(crate) fn supports(&self, m: MechanismType) -> bool {
        self.mechanisms.contains(&m)
    }

    fn new_session(&self) -> Result<Session, Error> {
        let s = self.ctx.open_ro_session(self.slot).map_err(ck)?;
        self.ensure_login(&s)?;
        Ok(s)
    }

    fn ensure_login(&self, s: &Session) -> Result<(), Error> {
        let Some(pin) = &self.pin else { return Ok(()) };
        let state = s.get_session_info().map_err(ck)?.session_state();
        if matches!(state, SessionState::RoUser | SessionState::RwUser) {
            return Ok(());
        }
        match s.login(UserType::User, Some(&AuthPin::from(pin.expose()))) {
            Ok(()) | Err(cryptoki::error::Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {
                tracing::debug!(token = self.label.as_str(), "PKCS#11 user login done");
                Ok(())
            }
            Err(cryptoki::error::Error::Pkcs11(RvError::PinIncorrect, _)) => {
                let info = self.ctx.get_token_info(self.slot).ok();
                let warning = info.map(|i| {
                    if i.user_pin_locked() {
                        " — the PIN is now locked".to_owned()
                    } else if i.user_pin_final_try() {
                        " — one more wrong PIN locks the token".to_owned()
                    } else if i.user_pin_count_low() {
                        " — the token reports few PIN attempts left".to_owned()
                    } else {
                        String::new()
                    }
                });
                Err(Error::PinIncorrect { token: self.label.clone(), warning: warning.unwrap_or_default() })
            }
            Err(cryptoki::error::Error::Pkcs11(RvError::PinLocked, _)) => {
                Err(Error::PinLocked { token: self.label.clone() })
            }
            Err(e) => Err(ck(e)),
        }
    }

    /// Runs `f` on a pooled session. A session that was lost (handle invalid, closed, logged
    /// out) is replaced and `f` retried once after a new login.
    pub(crate) fn with_session<R>(&self, f: impl Fn(&Session) -> cryptoki::error::Result<R>) -> Result<R, Error> {
        let s = match self.idle.lock().map_err(|_| poisoned())?.pop() {
            Some(s) => s,
            None => self.new_session()?,
        };
        match f(&s) {
            Ok(r) => {
                self.put(s);
                Ok(r)
            }
            Err(cryptoki::error::Error::Pkcs11(
                RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::UserNotLoggedIn
                | RvError::DeviceRemoved,
                _,
            )) => {
                drop(s);
                let s = self.new_session()?;
                let r = f(&s).map_err(ck)?;
                self.put(s);
                Ok(r)
            }
            Err(e) => {
                self.put(s);
                Err(ck(e))
            }
        }
    }

    fn put(&self, s: Session) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE_SESSIONS
        {
            idle.push(s);
        }
    }

    /// Opens a read-write session (for importing objects), logged in.
    pub(crate) fn rw_session(&self) -> Result<Session, Error> {
        let s = self.ctx.open_rw_session(self.slot).map_err(ck)?;
        self.ensure_login(&s)?;
        Ok(s)
    }

    /// Drops every pooled session (tests use it to exercise recovery).
    pub fn close_idle_sessions(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ckr_names() {
        assert_eq!(super::ckr_name("KeyTypeInconsistent"), "CKR_KEY_TYPE_INCONSISTENT");
        assert_eq!(super::code(cryptoki::error::RvError::PinExpired).to_string(), "CKR_PIN_EXPIRED");
        assert_eq!(super::code(cryptoki::error::RvError::DeviceRemoved), crate::Pkcs11Code::DeviceRemoved);
    }
}
