//! `psd2-sign proxy`: the eIDAS egress proxy (crates/psd2-proxy) for one route at `/`, until
//! Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use psd2_client::{Bank, BaseUrl, Environment};
use psd2_httpsig::profile::Profile;
use psd2_proxy::{Mode, Proxy, ProxyConfig};

use crate::common::{CliError, Interrupt, PasswordArgs, TppIdentityArgs, server_runtime};
use crate::output::outln;

/// Arguments of `psd2-sign proxy`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["bank", "profile"])))]
pub(crate) struct Args {
    /// Address to listen on, plain HTTP; loopback only (127.0.0.1, ::1); port 0: any free port.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The bank (belfius or banx): its call table decides the role each call needs and which
    /// calls are sealed; Request-ID and the call's Accept version are filled in when absent.
    #[arg(long, value_name = "BANK")]
    bank: Option<String>,
    /// A signature profile (e.g. berlin-group): every request is sealed with it.
    #[arg(long, value_name = "PROFILE")]
    profile: Option<String>,
    /// sandbox, live, or the upstream base URL (https://host, with an optional port and path prefix); with --profile a URL.
    #[arg(long = "env", value_name = "sandbox|live|URL")]
    environment: String,
    #[command(flatten)]
    identities: TppIdentityArgs,
    /// A trusted server CA (repeatable), e.g. the sandbox's test CA; added to the public roots.
    #[arg(long = "ca", value_name = "FILE")]
    ca: Vec<PathBuf>,
    /// The largest request body, in bytes or with a unit (`512K`, `10M`); larger ones get 413.
    #[arg(long, value_name = "SIZE", value_parser = crate::common::parse_size, default_value = "10M")]
    max_body: u64,
    /// Longest wait for a connection to the upstream (TCP and TLS handshake), e.g. `10s`; then 502.
    #[arg(long, value_name = "DURATION", value_parser = crate::common::parse_std_duration, default_value = "10s")]
    connect_timeout: std::time::Duration,
    /// Longest silence of the upstream while answering, e.g. `30s`; then 504.
    #[arg(long, value_name = "DURATION", value_parser = crate::common::parse_std_duration, default_value = "30s")]
    read_timeout: std::time::Duration,
    #[command(flatten)]
    password: PasswordArgs,
}

fn config(args: &Args) -> Result<ProxyConfig, CliError> {
    let input = |e: psd2_client::Error| CliError::input(e.to_string());
    let (mode, upstream) = match (&args.bank, &args.profile) {
        (Some(bank), _) => {
            let bank: Bank = bank.parse().map_err(input)?;
            let env: Environment = args.environment.parse().map_err(input)?;
            (Mode::Bank(bank), env.base_url(bank).map_err(input)?)
        }
        (None, Some(name)) => {
            let profile = Profile::by_name(name).map_err(|e| CliError::input(format!("--profile: {e}")))?;
            if !args.environment.starts_with("https://") {
                return Err(CliError::input(format!(
                    "--env {}: with --profile, give the upstream's https:// base URL",
                    args.environment.escape_debug()
                )));
            }
            (Mode::Profile(profile), BaseUrl::parse(&args.environment).map_err(input)?)
        }
        (None, None) => return Err(CliError::input("give --bank or --profile")),
    };
    let (qwac, qseal) = args.identities.load(&args.password.secrets()?)?;
    let max_body = usize::try_from(args.max_body)
        .map_err(|_| CliError::input(format!("--max-body {}: too large for this machine", args.max_body)))?;
    let mut config = ProxyConfig::new(upstream, mode, qwac)
        .with_max_body(max_body)
        .with_timeouts(args.connect_timeout, args.read_timeout);
    if let Some(q) = qseal {
        config = config.with_qseal(q);
    }
    for ca in &args.ca {
        for c in psd2_eidas::load::load_certificates(ca, None)? {
            config = config.with_extra_root(c);
        }
    }
    Ok(config)
}

/// Runs the proxy until Ctrl-C or SIGTERM.
pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let config = config(&args)?;
    let upstream = config.upstream.to_string();
    let rt = server_runtime()?;
    rt.block_on(async {
        let mut interrupt = Interrupt::listen()?;
        let proxy = Proxy::start(config, args.listen).await.map_err(|e| CliError::input(format!("proxy: {e}")))?;
        outln!("proxy listening on http://{}", proxy.local_addr())?;
        outln!("upstream: {upstream}")?;
        outln!("Ctrl-C to stop")?;
        interrupt.recv().await;
        proxy.shutdown().await.map_err(|e| CliError::input(format!("proxy: {e}")))?;
        outln!("proxy stopped")?;
        Ok(ExitCode::SUCCESS)
    })
}
