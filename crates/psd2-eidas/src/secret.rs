//! Passwords and PINs: read from a file or the environment, zeroized on drop, never printed;
//! asked for through a [`SecretPrompt`] only when a decryption or a token login needs one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::Error;

/// Environment variable holding the password of PKCS#12 files and encrypted keys
/// (read by [`Secrets::from_env`] only).
pub const PASSWORD_ENV: &str = "PSD2_SIGN_PASSWORD";
/// Environment variable holding the PIN of PKCS#11 tokens (read by [`Secrets::from_env`] only).
pub const PIN_ENV: &str = "PSD2_SIGN_PKCS11_PIN";
/// Environment variable naming the PKCS#11 module for URIs without `module-path` (read by
/// [`Secrets::from_env`] only).
pub const MODULE_ENV: &str = "PSD2_SIGN_PKCS11_MODULE";

/// A secret string (password or PIN). `Debug` prints `Secret(***)`; the memory is zeroized on drop.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Secret {
    /// Wraps a string.
    pub fn new(s: impl Into<String>) -> Self {
        Self(Zeroizing::new(s.into()))
    }

    /// Reads a secret from a file: its first line, without the line end.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let data = crate::load::read_limited(path, 64 * 1024, "secret file").map_err(|e| e.in_file(path))?;
        let text = std::str::from_utf8(&data).map_err(|_| Error::SecretFile("not UTF-8 text".into()).in_file(path))?;
        let line = text.split(['\n', '\r']).next().unwrap_or_default();
        Ok(Self::new(line))
    }

    /// Reads a secret from an environment variable, if set.
    pub fn from_env(var: &str) -> Option<Self> {
        std::env::var(var).ok().map(Self::new)
    }

    /// The secret itself. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Asks for a secret at the moment one is needed, like age's `Callbacks::request_passphrase`:
/// a CLI prompts on the terminal, a service may fetch it from a vault. Returning `None` means
/// "none available"; the operation then fails with its own error (PIN or password required).
pub trait SecretPrompt: Send + Sync {
    /// The password that opens `what` (a PKCS#12 file or an encrypted key, named by its file).
    fn request_password(&self, what: &str) -> Option<Secret>;
    /// The PIN to log in to `token` (a description of the token, never a PIN).
    fn request_pin(&self, token: &str) -> Option<Secret>;
}

/// The secrets a key reference may need, and where they come from: given values first, then
/// the prompt. Nothing is read from the environment unless [`Secrets::from_env`] is used.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct Secrets {
    /// Password for PKCS#12 files and encrypted PKCS#8 keys.
    pub password: Option<Secret>,
    /// PIN of PKCS#11 tokens (a `pin-source` in the URI comes first).
    pub pin: Option<Secret>,
    /// The PKCS#11 module for URIs without `module-path`.
    pub pkcs11_module: Option<PathBuf>,
    prompt: Option<Arc<dyn SecretPrompt>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("password", &self.password)
            .field("pin", &self.pin)
            .field("pkcs11_module", &self.pkcs11_module)
            .field("prompt", &self.prompt.is_some())
            .finish()
    }
}

impl Secrets {
    /// No secrets.
    pub fn none() -> Self {
        Self::default()
    }

    /// With a password.
    pub fn with_password(mut self, password: Secret) -> Self {
        self.password = Some(password);
        self
    }

    /// With a PKCS#11 PIN.
    pub fn with_pin(mut self, pin: Secret) -> Self {
        self.pin = Some(pin);
        self
    }

    /// With the PKCS#11 module used when a URI has no `module-path`.
    pub fn with_pkcs11_module(mut self, module: impl Into<PathBuf>) -> Self {
        self.pkcs11_module = Some(module.into());
        self
    }

    /// With a prompt, asked only when a password or PIN is needed and none was given.
    pub fn with_prompt(mut self, prompt: Arc<dyn SecretPrompt>) -> Self {
        self.prompt = Some(prompt);
        self
    }

    /// Secrets from the environment: [`PASSWORD_ENV`], [`PIN_ENV`] and [`MODULE_ENV`]. The one
    /// place the library reads the environment, and only when the caller asks.
    pub fn from_env() -> Self {
        Self {
            password: Secret::from_env(PASSWORD_ENV),
            pin: Secret::from_env(PIN_ENV),
            pkcs11_module: std::env::var_os(MODULE_ENV).map(PathBuf::from),
            prompt: None,
        }
    }

    /// The password for `what`: the given one, else the prompt's.
    pub(crate) fn password_for(&self, what: &str) -> Option<Secret> {
        self.password.clone().or_else(|| self.prompt.as_ref().and_then(|p| p.request_password(what)))
    }

    /// The PIN for `token`: the given one, else the prompt's (when `ask`).
    #[cfg_attr(not(feature = "pkcs11"), allow(dead_code))]
    pub(crate) fn pin_for(&self, token: &str, ask: bool) -> Option<Secret> {
        self.pin.clone().or_else(|| if ask { self.prompt.as_ref().and_then(|p| p.request_pin(token)) } else { None })
    }
}
