//! `psd2-sign proxy`: the eIDAS egress proxy (crates/psd2-proxy). Quick start from flags for one
//! route at `/`, or `--config FILE` (TOML) for listeners and several routes; `--check FILE`
//! validates a configuration and opens its keys. Runs until Ctrl-C or SIGTERM (drains), and
//! reloads certificates and keys on SIGHUP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use psd2_client::{Bank, BaseUrl, Environment};
use psd2_httpsig::profile::Profile;
use psd2_proxy::{ConfigFile, Listener, Mode, Proxy, ProxyConfig, Route};

use crate::common::{CliError, Interrupt, PasswordArgs, server_runtime};
use crate::output::outln;

/// The format of the request logs on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line (for log collectors).
    Json,
}

/// Arguments of `psd2-sign proxy`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["bank", "profile", "config", "check"])))]
pub(crate) struct Args {
    /// Configuration file (TOML): listeners, identities, routes, limits (see docs/cli.md).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["bank", "profile", "check"])]
    config: Option<PathBuf>,
    /// Validates a configuration file and opens every key (PKCS#11 sessions included), then exits.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["bank", "profile"])]
    pub(crate) check: Option<PathBuf>,
    /// Quick start: the address to listen on, plain HTTP, loopback only (127.0.0.1, ::1); port 0:
    /// any free port.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Quick start: the bank (belfius or banx); its call table decides the role each call needs
    /// and which calls are sealed; Request-ID and the call's Accept version are filled in when
    /// absent.
    #[arg(long, value_name = "BANK", requires = "environment")]
    bank: Option<String>,
    /// Quick start: a signature profile (e.g. berlin-group): every request is sealed with it.
    #[arg(long, value_name = "PROFILE", requires = "environment")]
    profile: Option<String>,
    /// Quick start: sandbox, live, or the upstream base URL (https://host, with an optional port
    /// and path prefix); with --profile a URL.
    #[arg(long = "env", value_name = "sandbox|live|URL")]
    environment: Option<String>,
    /// Quick start: QWAC certificate (chain, leaf first); optional when --qwac-key is a PKCS#12.
    #[arg(long, value_name = "CERT")]
    qwac: Option<String>,
    /// Quick start: QWAC private key: a key file, a PKCS#12 file or a PKCS#11 URI.
    #[arg(long, value_name = "KEY", required_unless_present_any = ["config", "check"])]
    qwac_key: Option<String>,
    /// Quick start: QSealC certificate; optional when --qseal-key is a PKCS#12.
    #[arg(long, value_name = "CERT", requires = "qseal_key")]
    qseal: Option<String>,
    /// Quick start: QSealC private key.
    #[arg(long, value_name = "KEY")]
    qseal_key: Option<String>,
    /// Quick start: a trusted server CA (repeatable), e.g. the sandbox's test CA; added to the
    /// public roots.
    #[arg(long = "ca", value_name = "FILE")]
    ca: Vec<PathBuf>,
    /// Quick start: the largest request body, in bytes or with a unit (`512K`, `10M`); larger
    /// ones get 413.
    #[arg(long, value_name = "SIZE", value_parser = crate::common::parse_size, default_value = "10M")]
    max_body: u64,
    /// Quick start: longest wait for a connection to the upstream (TCP and TLS handshake), e.g.
    /// `10s`; then 502.
    #[arg(long, value_name = "DURATION", value_parser = crate::common::parse_std_duration, default_value = "10s")]
    connect_timeout: std::time::Duration,
    /// Quick start: longest silence of the upstream while answering, e.g. `30s`; then 504.
    #[arg(long, value_name = "DURATION", value_parser = crate::common::parse_std_duration, default_value = "30s")]
    read_timeout: std::time::Duration,
    /// Quick start: requests served at once; more get 503.
    #[arg(long, value_name = "N", default_value_t = psd2_proxy::DEFAULT_MAX_CONCURRENT)]
    max_concurrent: usize,
    /// Request logs on stderr: text or json (one object per line).
    #[arg(long, value_name = "FORMAT", value_enum, default_value = "text")]
    pub(crate) log_format: LogFormat,
    #[command(flatten)]
    password: PasswordArgs,
}

/// The configuration the flags describe (quick start: one route at `/`).
fn from_flags(args: &Args) -> Result<ProxyConfig, CliError> {
    let input = |e: psd2_client::Error| CliError::input(e.to_string());
    let environment = args.environment.as_deref().unwrap_or_default();
    let (mode, upstream) = match (&args.bank, &args.profile) {
        (Some(bank), _) => {
            let bank: Bank = bank.parse().map_err(input)?;
            let env: Environment = environment.parse().map_err(input)?;
            (Mode::Bank(bank), env.base_url(bank).map_err(input)?)
        }
        (None, Some(name)) => {
            let profile = Profile::by_name(name).map_err(|e| CliError::input(format!("--profile: {e}")))?;
            if !environment.starts_with("https://") {
                return Err(CliError::input(format!(
                    "--env {}: with --profile, give the upstream's https:// base URL",
                    environment.escape_debug()
                )));
            }
            (Mode::Profile(profile), BaseUrl::parse(environment).map_err(input)?)
        }
        (None, None) => return Err(CliError::input("give --bank or --profile, or --config FILE")),
    };
    // Refused before any key is opened (and any PIN asked).
    let listener = Listener::plain(args.listen);
    listener.validate().map_err(|e| CliError::input(format!("proxy: {e}")))?;
    let identities = crate::common::TppIdentityArgs {
        qwac: args.qwac.clone(),
        qwac_key: args.qwac_key.clone(),
        qseal: args.qseal.clone(),
        qseal_key: args.qseal_key.clone(),
    };
    let (qwac, qseal) = identities.load(&args.password.secrets()?)?;
    let max_body = usize::try_from(args.max_body)
        .map_err(|_| CliError::input(format!("--max-body {}: too large for this machine", args.max_body)))?;
    let mut route =
        Route::new(upstream, mode, qwac).with_max_body(max_body).with_timeouts(args.connect_timeout, args.read_timeout);
    if let Some(q) = qseal {
        route = route.with_qseal(q);
    }
    for ca in &args.ca {
        for c in psd2_eidas::load::load_certificates(ca, None)? {
            route = route.with_extra_root(c);
        }
    }
    Ok(ProxyConfig::new(listener).with_route(route).with_max_concurrent(args.max_concurrent))
}

/// The configuration: from the file, or from the flags; keys opened.
fn load(args: &Args, file: Option<&PathBuf>) -> Result<ProxyConfig, CliError> {
    match file {
        Some(path) => {
            let file = ConfigFile::read(path).map_err(|e| CliError::input(e.to_string()))?;
            file.load(&args.password.secrets()?).map_err(|e| CliError::input(e.to_string()))
        }
        None => from_flags(args),
    }
}

/// Runs the proxy until Ctrl-C or SIGTERM; SIGHUP reloads.
pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    if let Some(path) = &args.check {
        let config = load(&args, Some(path))?;
        config.validate().map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
        outln!("{}: valid", path.display())?;
        for l in &config.listeners {
            outln!(
                "listener {} {}",
                l.addr,
                if l.tls.is_some() { "tls, client certificates required" } else { "plain http (loopback)" }
            )?;
        }
        for r in &config.routes {
            let mode = match r.mode {
                Mode::Bank(b) => format!("bank {b}"),
                Mode::Profile(p) => format!("profile {}", p.name),
                _ => "other".into(),
            };
            let qseal = r
                .qseal
                .as_ref()
                .map(|q| format!(", qseal serial {}", q.certificate().serial_hex()))
                .unwrap_or_default();
            outln!(
                "route {} {} -> {} ({mode}; qwac serial {}{qseal})",
                r.name,
                r.prefix,
                r.upstream,
                r.qwac.certificate().serial_hex()
            )?;
        }
        outln!("keys opened: every key signs with its certificate's public key")?;
        return Ok(ExitCode::SUCCESS);
    }
    let config = load(&args, args.config.as_ref())?;
    let rt = server_runtime()?;
    rt.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = Interrupt::listen()?;
        let mut hangup =
            signal(SignalKind::hangup()).map_err(|e| CliError::input(format!("cannot listen for SIGHUP: {e}")))?;
        let tls: Vec<bool> = config.listeners.iter().map(|l| l.tls.is_some()).collect();
        let routes: Vec<String> = config.routes.iter().map(|r| format!("{} -> {}", r.prefix, r.upstream)).collect();
        let proxy = Proxy::start(config).await.map_err(|e| CliError::input(format!("proxy: {e}")))?;
        for (addr, tls) in proxy.local_addrs().iter().zip(tls) {
            outln!("proxy listening on {}://{addr}", if tls { "https" } else { "http" })?;
        }
        for r in routes {
            outln!("route {r}")?;
        }
        outln!("Ctrl-C to stop (or SIGTERM: drains); SIGHUP reloads certificates and keys")?;
        let signal = loop {
            tokio::select! {
                s = interrupt.recv() => break s,
                _ = hangup.recv() => {
                    // Keys are opened off the async workers: a PKCS#11 login may take a while.
                    let reloaded = tokio::task::block_in_place(|| load(&args, args.config.as_ref()))
                        .and_then(|c| proxy.reload(c).map_err(|e| CliError::input(e.to_string())));
                    match reloaded {
                        Ok(()) => tracing::info!("SIGHUP: certificates and keys reloaded"),
                        Err(e) => tracing::error!(error = %e, "SIGHUP: reload failed; the running configuration stays"),
                    }
                }
            }
        };
        tracing::info!(signal = signal.0, "draining");
        proxy.shutdown().await.map_err(|e| CliError::input(format!("proxy: {e}")))?;
        outln!("proxy stopped")?;
        Ok(ExitCode::SUCCESS)
    })
}
