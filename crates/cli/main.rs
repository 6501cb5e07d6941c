//! `psd2-sign`: seal, verify and send PSD2 requests with eIDAS certificates.
//!
//! A thin layer over the library crates: parse arguments, resolve references, call, print.
//! `main` only calls `try_main` and turns its error into one line on stderr and an exit code:
//! 0 success, 1 a verification or role check failed, 2 a usage or input error.
//!
//! Diagnostics go to stderr through `tracing`, only when asked for: `-v` (info), `-vv` (debug),
//! `-vvv` (trace) for the psd2 crates, or a `RUST_LOG` filter, which wins when set. Without
//! either no subscriber is installed and the output is exactly what it always was.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "the CLI is the one place that prints")]
#![allow(rustdoc::invalid_html_tags, reason = "doc comments are clap help text: <CC>, <id> are placeholders")]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod ca;
mod check;
mod common;
mod completions;
mod csr;
mod demo;
mod hsm;
mod httpsig;
mod inspect;
mod output;
mod proxy;
mod sandbox;
mod send;

/// Seal, verify and send PSD2 requests with eIDAS QWAC/QSealC certificates.
#[derive(Debug, Parser)]
#[command(name = "psd2-sign", version, about, propagate_version = true)]
struct Cli {
    /// Diagnostics on stderr: -v info, -vv debug, -vvv trace (a RUST_LOG filter, when set, wins).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the eIDAS/PSD2 content of a certificate (roles, NCA, QcStatements, usages).
    Inspect(inspect::Args),
    /// PKCS#11 tokens: list tokens and objects, import a certificate next to its key.
    #[command(subcommand)]
    Hsm(hsm::Args),
    /// A test CA issuing PSD2 QWACs and QSealCs (init, issue, revoke, crl, serve). Not for production.
    #[command(subcommand)]
    Ca(ca::Args),
    /// Preflight of a QWAC and a QSealC against what a bank checks (or of a renewal): one
    /// PASS/WARN/FAIL line per check, exit 1 on any FAIL.
    Check(Box<check::Args>),
    /// Write a PKCS#10 request for a PSD2 QWAC or QSealC, as a QTSP expects it.
    Csr(csr::Args),
    /// Seal a request under a signature profile: digest, date, request id, certificate, signature.
    Sign(httpsig::SignArgs),
    /// Check a sealed request like a bank: digest, signature, keyId/certificate, clock skew.
    Verify(httpsig::VerifyArgs),
    /// Run the embedded sandbox bank (Belfius-shaped, mTLS) on a local port until Ctrl-C.
    Sandbox(sandbox::Args),
    /// An eIDAS egress proxy: plain HTTP from local callers, mTLS with the QWAC and sealing with
    /// the QSealC towards the bank, the role gate before any upstream I/O; until Ctrl-C.
    Proxy(Box<proxy::Args>),
    /// Call the bank (Belfius, Banx, a sandbox): consent, token, accounts, pay, funds, over mTLS.
    #[command(after_help = send::calls_help())]
    Send(Box<send::Args>),
    /// A full AIS + PIS + CAF round trip against the embedded sandbox bank (no setup needed).
    Demo(demo::Args),
    /// Print a shell completion script (bash, zsh, fish) to stdout.
    Completions(completions::Args),
}

fn main() -> ExitCode {
    quiet_broken_pipe();
    let code = match try_main() {
        Ok(code) => code,
        Err(e) if e.message.is_empty() => ExitCode::from(e.code),
        Err(e) => {
            output::errln!("psd2-sign: {e}");
            ExitCode::from(e.code)
        }
    };
    // A warning or error that could not be written still makes the run fail.
    if output::stderr_lost() && code == ExitCode::SUCCESS { ExitCode::from(2) } else { code }
}

fn try_main() -> Result<ExitCode, common::CliError> {
    check_utf8_args(std::env::args_os())?;
    let cli = Cli::parse();
    let server_logs = match &cli.command {
        Command::Proxy(args) if args.check.is_none() => Some(args.log_format),
        _ => None,
    };
    init_diagnostics(cli.verbose, server_logs);
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Hsm(args) => hsm::run(args),
        Command::Ca(args) => ca::run(args),
        Command::Check(args) => check::run(*args),
        Command::Csr(args) => csr::run(args),
        Command::Sign(args) => httpsig::run_sign(args),
        Command::Verify(args) => httpsig::run_verify(args),
        Command::Sandbox(args) => sandbox::run(args),
        Command::Proxy(args) => proxy::run(*args),
        Command::Send(args) => send::run(*args),
        Command::Demo(args) => demo::run(args),
        Command::Completions(args) => completions::run(&args),
    }
}

/// Every argument must be UTF-8 (paths included: they are also written into messages, JSON and
/// PKCS#11 URIs). clap would refuse "one or more arguments" without saying which; this names it,
/// and the option it belongs to.
fn check_utf8_args(args: impl Iterator<Item = std::ffi::OsString>) -> Result<(), common::CliError> {
    let mut previous: Option<String> = None;
    for (i, arg) in args.enumerate().skip(1) {
        match arg.to_str() {
            Some(a) => previous = Some(a.to_owned()),
            None => {
                let shown = output::escape_controls(&arg.to_string_lossy());
                let owner = match &previous {
                    Some(p) if p.starts_with('-') && !p.contains('=') => format!(" (the value of {p})"),
                    _ => String::new(),
                };
                return Err(common::CliError::input(format!(
                    "argument {i}{owner} is not valid UTF-8: '{shown}' (U+FFFD marks the bytes that are not); rename the file or use a UTF-8 path"
                )));
            }
        }
    }
    Ok(())
}

/// The crates whose events `-v` turns on; other crates (hyper, reqwest, …) stay at `warn`
/// unless `RUST_LOG` says otherwise.
const OUR_CRATES: [&str; 7] =
    ["psd2_sign", "psd2_eidas", "psd2_client", "psd2_httpsig", "psd2_ca", "psd2_sandbox", "psd2_proxy"];

/// Installs the stderr subscriber when `-v` or `RUST_LOG` asks for diagnostics; otherwise none,
/// so that nothing is printed besides the usual output. A server with request logs (`proxy`)
/// always logs, at `info` unless `-v`/`RUST_LOG` say more, in its format.
fn init_diagnostics(verbose: u8, server: Option<proxy::LogFormat>) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => directives,
        _ => {
            let level = match (verbose, server) {
                (0, None) => return,
                // The request logs, and warnings of everything else.
                (0, Some(_)) => "warn,psd2_proxy=info,psd2_sign=info",
                (1, _) => "info",
                (2, _) => "debug",
                _ => "trace",
            };
            if verbose == 0 {
                return install(level, server);
            }
            let ours: Vec<String> = OUR_CRATES.iter().map(|c| format!("{c}={level}")).collect();
            format!("warn,{}", ours.join(","))
        }
    };
    install(&filter, server);
}

/// The stderr subscriber with `filter`, in the server's log format.
fn install(filter: &str, server: Option<proxy::LogFormat>) {
    let filter = tracing_subscriber::EnvFilter::builder().parse_lossy(filter);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match server {
        Some(proxy::LogFormat::Json) => builder.json().flatten_event(true).try_init(),
        _ => builder.try_init(),
    };
}

/// `psd2-sign ... | head` closes stdout early; `print!` then panics with a broken pipe. That is
/// not an error of ours: leave quietly with the usual status of a process killed by SIGPIPE.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
