//! Pieces every subcommand shares: the error type with its exit code, secrets, key loading.

use std::fmt;
use std::path::PathBuf;

use psd2_eidas::{Identity, KeyRef, Secret, Secrets};

/// An error for the user: one line, and the exit code it maps to.
#[derive(Debug)]
pub(crate) struct CliError {
    /// 1: a check failed (verification, role); 2: usage or input error.
    pub(crate) code: u8,
    /// The message, without the `psd2-sign:` prefix.
    pub(crate) message: String,
}

impl CliError {
    /// A usage or input error (exit 2).
    pub(crate) fn input(message: impl Into<String>) -> Self {
        Self { code: 2, message: message.into() }
    }

    /// A failed check (exit 1).
    pub(crate) fn check(message: impl Into<String>) -> Self {
        Self { code: 1, message: message.into() }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<psd2_eidas::Error> for CliError {
    fn from(e: psd2_eidas::Error) -> Self {
        Self::input(e.to_string())
    }
}

/// Where the password of PKCS#12 files and encrypted keys comes from.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct PasswordArgs {
    /// File whose first line is the password of PKCS#12 files and encrypted keys
    /// (else the environment variable PSD2_SIGN_PASSWORD).
    #[arg(long, value_name = "FILE")]
    pub(crate) password_file: Option<PathBuf>,
}

impl PasswordArgs {
    /// The secrets for these key references: the password as [`secrets`](Self::secrets), plus a
    /// PKCS#11 PIN read from the terminal when a `pkcs11:` reference needs one and neither the
    /// URI (`pin-source`) nor PSD2_SIGN_PKCS11_PIN gives it.
    pub(crate) fn secrets_for(&self, refs: &[&str]) -> Result<Secrets, CliError> {
        let secrets = self.secrets()?;
        let needs_pin =
            refs.iter().any(|r| r.starts_with("pkcs11:") && !r.contains("pin-source=") && !r.contains("pin-value="));
        if needs_pin
            && std::env::var_os(psd2_eidas::pkcs11::PIN_ENV).is_none()
            && let Some(pin) = prompt_secret("PKCS#11 token PIN: ")?
        {
            return Ok(secrets.with_pin(pin));
        }
        Ok(secrets)
    }

    /// The secrets: the password file if given, else the environment.
    pub(crate) fn secrets(&self) -> Result<Secrets, CliError> {
        Ok(match &self.password_file {
            Some(p) => Secrets::none().with_password(Secret::from_file(p)?),
            None => Secrets::from_env(),
        })
    }
}

/// `--key KEY [--cert CERT]` plus the password source.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct KeyArgs {
    /// Private key: a PEM/DER key file, a PKCS#12 file, or a PKCS#11 URI.
    #[arg(long, value_name = "KEY")]
    pub(crate) key: String,
    /// Certificate (or chain, leaf first) for the key; optional when KEY is a PKCS#12 file.
    #[arg(long, value_name = "CERT")]
    pub(crate) cert: Option<String>,
    #[command(flatten)]
    pub(crate) password: PasswordArgs,
}

impl KeyArgs {
    /// Resolves the key and certificate into an identity.
    #[allow(dead_code, reason = "used by the signing subcommands")]
    pub(crate) fn identity(&self) -> Result<Identity, CliError> {
        let key: KeyRef = self.key.parse()?;
        let cert: Option<KeyRef> = self.cert.as_deref().map(str::parse).transpose()?;
        let refs: Vec<&str> = [Some(self.key.as_str()), self.cert.as_deref()].into_iter().flatten().collect();
        Ok(Identity::load(&key, cert.as_ref(), &self.password.secrets_for(&refs)?)?)
    }
}

/// Reads a secret from the terminal without echo. `None` when there is no terminal (the caller
/// then reports which environment variable or file to use).
pub(crate) fn prompt_secret(prompt: &str) -> Result<Option<Secret>, CliError> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let tty = |arg: &str| {
        std::fs::File::open("/dev/tty")
            .ok()
            .and_then(|t| std::process::Command::new("stty").arg(arg).stdin(t).status().ok())
            .is_some_and(|s| s.success())
    };
    let mut err = std::io::stderr();
    let _ = write!(err, "{prompt}");
    let _ = err.flush();
    let echo_off = tty("-echo");
    let mut line = zeroize::Zeroizing::new(String::new());
    let read = std::io::stdin().lock().read_line(&mut line);
    if echo_off {
        tty("echo");
    }
    let _ = writeln!(err);
    read.map_err(|e| CliError::input(format!("cannot read the PIN: {e}")))?;
    let pin = Secret::new(line.trim_end_matches(['\n', '\r']));
    Ok(Some(pin))
}
