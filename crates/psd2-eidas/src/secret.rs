//! Passwords and PINs: read from a file or the environment, zeroized on drop, never printed.

use std::path::Path;

use zeroize::Zeroizing;

use crate::Error;

/// Environment variable holding the password of PKCS#12 files and encrypted keys.
pub const PASSWORD_ENV: &str = "PSD2_SIGN_PASSWORD";

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
        let data = Zeroizing::new(std::fs::read(path).map_err(|e| crate::load::io_error(e).in_file(path))?);
        let text = std::str::from_utf8(&data)
            .map_err(|_| Error::Certificate("secret file is not UTF-8 text".into()).in_file(path))?;
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

/// The secrets a key reference may need.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Secrets {
    /// Password for PKCS#12 files and encrypted PKCS#8 keys.
    pub password: Option<Secret>,
    /// PIN of PKCS#11 tokens (else `pin-source` in the URI or `PSD2_SIGN_PKCS11_PIN`).
    pub pin: Option<Secret>,
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

    /// Secrets from the environment (`PSD2_SIGN_PASSWORD`).
    pub fn from_env() -> Self {
        Self { password: Secret::from_env(PASSWORD_ENV), pin: None }
    }
}
