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
        Self::input(with_hint(&e))
    }
}

/// The library's message plus what to do about it on the command line (the libraries' messages
/// name no flags or environment variables).
pub(crate) fn with_hint(e: &psd2_eidas::Error) -> String {
    use psd2_eidas::Error as E;
    let hint = match e.root() {
        E::PasswordRequired { .. } => " (use --password-file FILE or set PSD2_SIGN_PASSWORD)",
        E::PinRequired { .. } => "; set PSD2_SIGN_PKCS11_PIN, or run on a terminal to be asked",
        E::Pkcs11Module { path: None, .. } => {
            ": add '?module-path=/path/to/module.so' to the URI or set PSD2_SIGN_PKCS11_MODULE"
        }
        _ => "",
    };
    format!("{e}{hint}")
}

/// Refuses an output flag naming a directory (`DIR/` or an existing directory): `flag` names the
/// flag and `example` a file path that would do.
pub(crate) fn check_out_file(flag: &str, path: &std::path::Path, example: &str) -> Result<(), CliError> {
    psd2_ca::store::check_file_path(path).map_err(|_| {
        CliError::input(format!(
            "{flag} {}: is a directory; a file path is wanted (e.g. {example})",
            path.display().to_string().escape_debug()
        ))
    })
}

/// `name` inside the directory `dir` names, for [`check_out_file`]'s example.
pub(crate) fn example_path(dir: &std::path::Path, name: &str) -> String {
    dir.join(name).display().to_string()
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
    /// The secrets: the password file if given, else the environment (password, PIN, module);
    /// a PIN the token needs and nothing gave is asked on the terminal, once per process.
    pub(crate) fn secrets(&self) -> Result<Secrets, CliError> {
        let mut secrets = Secrets::from_env();
        if let Some(p) = &self.password_file {
            secrets = secrets.with_password(Secret::from_file(p)?);
        }
        Ok(secrets.with_prompt(std::sync::Arc::new(TerminalPrompt::default())))
    }
}

/// Secrets from the environment, with the terminal prompt (for commands without a password flag).
pub(crate) fn env_secrets() -> Secrets {
    Secrets::from_env().with_prompt(std::sync::Arc::new(TerminalPrompt::default()))
}

/// Asks for a PIN on the terminal (no echo) when a token login needs one; remembers it for the
/// rest of the process, so keys on one token cost one prompt. Passwords are not asked: they come
/// from --password-file or PSD2_SIGN_PASSWORD.
#[derive(Default)]
struct TerminalPrompt {
    pin: std::sync::Mutex<Option<Secret>>,
}

impl psd2_eidas::SecretPrompt for TerminalPrompt {
    fn request_password(&self, _what: &str) -> Option<Secret> {
        None
    }

    fn request_pin(&self, token: &str) -> Option<Secret> {
        let mut cached = self.pin.lock().unwrap_or_else(|e| e.into_inner());
        if cached.is_none() {
            *cached = prompt_secret(&format!("PIN of PKCS#11 {token}: ")).ok().flatten();
        }
        cached.clone()
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
        Ok(Identity::load(&key, cert.as_ref(), &self.password.secrets()?)?)
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
