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
        E::PinInUri => ", or set PSD2_SIGN_PKCS11_PIN",
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

/// The TPP's identities of the bank-facing commands (`send`, `proxy`): `--qwac-key KEY [--qwac
/// CERT] [--qseal-key KEY [--qseal CERT]]`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TppIdentityArgs {
    /// QWAC certificate (chain, leaf first), for mTLS; optional when --qwac-key is a PKCS#12.
    #[arg(long, value_name = "CERT")]
    pub(crate) qwac: Option<String>,
    /// QWAC private key: a key file, a PKCS#12 file or a PKCS#11 URI (send: not with --proxy,
    /// which holds the keys).
    #[arg(long, value_name = "KEY", required_unless_present = "proxy", conflicts_with = "proxy")]
    pub(crate) qwac_key: Option<String>,
    /// QSealC certificate, for sealing (send: payment initiations, `pay`); optional when
    /// --qseal-key is a PKCS#12.
    #[arg(long, value_name = "CERT", requires = "qseal_key")]
    pub(crate) qseal: Option<String>,
    /// QSealC private key.
    #[arg(long, value_name = "KEY", conflicts_with = "proxy")]
    pub(crate) qseal_key: Option<String>,
}

impl TppIdentityArgs {
    /// The QWAC and, when given, the QSealC, unlocked with `secrets`.
    pub(crate) fn load(&self, secrets: &Secrets) -> Result<(Identity, Option<Identity>), CliError> {
        let load = |key: &str, cert: Option<&str>| -> Result<Identity, CliError> {
            let cert: Option<KeyRef> = cert.map(str::parse).transpose()?;
            Ok(Identity::load(&key.parse()?, cert.as_ref(), secrets)?)
        };
        let key = self.qwac_key.as_deref().ok_or_else(|| CliError::input("give --qwac-key"))?;
        let qwac = load(key, self.qwac.as_deref())?;
        let qseal = self.qseal_key.as_deref().map(|k| load(k, self.qseal.as_deref())).transpose()?;
        Ok((qwac, qseal))
    }
}

/// A multi-threaded tokio runtime for the serving commands (`sandbox`, `proxy`, `ca serve`).
pub(crate) fn server_runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::input(format!("tokio runtime: {e}")))
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

/// Parses a byte size: a number of bytes, or with a unit `K`/`KiB`, `M`/`MiB`, `G`/`GiB` (1024-based).
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return Err(format!("'{s}': unit must be K, M or G (1024-based)")),
    };
    let n: u64 = num.parse().map_err(|_| format!("'{s}' is not a size (e.g. 1048576, 512K, 10M)"))?;
    n.checked_mul(1 << shift).filter(|v| *v > 0).ok_or_else(|| format!("'{s}': a size from 1 byte to 2^63"))
}

/// Reads a request body: `-` is standard input, anything else a regular file (a FIFO or device
/// is refused without blocking); either way at most `max` bytes (`--max-body`). `flag` names the
/// option in errors.
pub(crate) fn read_body(src: &str, max: u64, flag: &str) -> Result<Vec<u8>, CliError> {
    use std::io::Read as _;
    let too_large = || CliError::input(format!("{flag} {src}: the body is larger than {max} bytes (--max-body)"));
    if src == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .lock()
            .take(max + 1)
            .read_to_end(&mut buf)
            .map_err(|e| CliError::input(format!("{flag} -: cannot read standard input: {e}")))?;
        if buf.len() as u64 > max {
            return Err(too_large());
        }
        return Ok(buf);
    }
    match psd2_eidas::load::read_limited(std::path::Path::new(src), max, "request body") {
        Ok(data) => Ok(data.to_vec()),
        Err(psd2_eidas::Error::TooLarge { .. }) => Err(too_large()),
        Err(psd2_eidas::Error::NotRegularFile(kind)) => Err(CliError::input(format!(
            "{flag} {src}: is a {kind}, not a regular file (use {flag} - to read standard input)"
        ))),
        Err(e) => Err(CliError::input(format!("{flag} {src}: {e}"))),
    }
}

/// Checks a request URL before anything is signed or sent: absolute, `https` (plain `http` only to
/// a loopback host, i.e. a local sandbox), with a host and a valid port, no user name or password,
/// no fragment, no whitespace or control characters. `flag` names the option in errors.
pub(crate) fn check_request_url(raw: &str, flag: &str) -> Result<psd2_client::Url, CliError> {
    let shown = crate::output::escape_controls(raw);
    let bad = |why: &str| CliError::input(format!("{flag} '{shown}': {why}"));
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("contains whitespace or control characters (percent-encode them)"));
    }
    let url = psd2_client::Url::parse(raw).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => bad("not an absolute URL: write https://host/path"),
        url::ParseError::InvalidPort => bad("the port is not a number from 1 to 65535"),
        other => bad(&format!("not a valid URL: {other}")),
    })?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(bad(&format!("scheme '{}' is not https", url.scheme())));
    }
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad("has no host"))?;
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if url.scheme() == "http" && !loopback {
        return Err(bad("plain http is allowed only to a loopback host (a local sandbox): use https"));
    }
    if url.port() == Some(0) {
        return Err(bad("the port is not a number from 1 to 65535"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("carries a user name or password: credentials never go into a URL"));
    }
    if url.fragment().is_some() {
        return Err(bad("has a #fragment, which is never sent to the server"));
    }
    Ok(url)
}

/// Parses a duration: seconds, or with a unit (`90s`, `5m`, `1h`).
pub(crate) fn parse_duration(s: &str) -> Result<time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s.find(|c: char| !c.is_ascii_digit()).map_or((s, ""), |i| s.split_at(i));
    let n: i64 = num
        .parse()
        .ok()
        .filter(|n| *n <= 1_000_000_000)
        .ok_or_else(|| format!("'{s}' is not a duration (e.g. 300, 90s, 5m, 1h; at most 10^9 of a unit)"))?;
    match unit {
        "" | "s" => Ok(time::Duration::seconds(n)),
        "m" => Ok(time::Duration::minutes(n)),
        "h" => Ok(time::Duration::hours(n)),
        _ => Err(format!("'{s}': unit must be s, m or h")),
    }
}

/// [`parse_duration`] for time-outs: positive, as a `std` duration.
pub(crate) fn parse_std_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(s)?;
    std::time::Duration::try_from(d)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("'{s}': a time-out must be positive"))
}

/// SIGINT (Ctrl-C) and SIGTERM, listened to from [`Interrupt::listen`] on: a signal that
/// arrives before [`Interrupt::recv`] is awaited is not lost, and none ends the process before
/// the command has cleaned up.
pub(crate) struct Interrupt {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Interrupt {
    /// Starts listening; call it inside the tokio runtime.
    pub(crate) fn listen() -> Result<Self, CliError> {
        use tokio::signal::unix::{SignalKind, signal};
        let err = |e: std::io::Error| CliError::input(format!("cannot listen for Ctrl-C and SIGTERM: {e}"));
        Ok(Self {
            int: signal(SignalKind::interrupt()).map_err(err)?,
            term: signal(SignalKind::terminate()).map_err(err)?,
        })
    }

    /// Waits for the first signal; returns its name and the usual exit status of a process it
    /// ends (128 + the signal number: 130 for SIGINT, 143 for SIGTERM).
    pub(crate) async fn recv(&mut self) -> (&'static str, u8) {
        tokio::select! {
            _ = self.int.recv() => ("SIGINT", 130),
            _ = self.term.recv() => ("SIGTERM", 143),
        }
    }
}

/// A new directory in the temporary directory, mode 0700, named `prefix` plus random
/// characters; removed when the returned value is dropped, unless `keep`.
pub(crate) fn private_temp_dir(prefix: &str, keep: bool) -> std::io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt as _;
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .disable_cleanup(keep)
        .tempdir()
}
