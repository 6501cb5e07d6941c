//! `psd2-sign`: seal, verify and send PSD2 requests with eIDAS certificates.
//!
//! A thin layer over the library crates: parse arguments, resolve references, call, print.
//! `main` only calls `try_main` and turns its error into one line on stderr and an exit code:
//! 0 success, 1 a verification or role check failed, 2 a usage or input error.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "the CLI is the one place that prints")]
#![allow(rustdoc::invalid_html_tags, reason = "doc comments are clap help text: <CC>, <id> are placeholders")]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod ca;
mod common;
mod csr;
mod demo;
mod hsm;
mod httpsig;
mod inspect;
mod sandbox;
mod send;

/// Seal, verify and send PSD2 requests with eIDAS QWAC/QSealC certificates.
#[derive(Debug, Parser)]
#[command(name = "psd2-sign", version, about, propagate_version = true)]
struct Cli {
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
    /// A test CA issuing PSD2 QWACs and QSealCs (init, issue, revoke, crl). Not for production.
    #[command(subcommand)]
    Ca(ca::Args),
    /// Write a PKCS#10 request for a PSD2 QWAC or QSealC, as a QTSP expects it.
    Csr(csr::Args),
    /// Seal a request under a signature profile: digest, date, request id, certificate, signature.
    Sign(httpsig::SignArgs),
    /// Check a sealed request like a bank: digest, signature, keyId/certificate, clock skew.
    Verify(httpsig::VerifyArgs),
    /// Run the embedded sandbox bank (Belfius-shaped, mTLS) on a local port until Ctrl-C.
    Sandbox(sandbox::Args),
    /// Call the bank (Belfius, Banx, a sandbox): consent, token, accounts, pay, funds, over mTLS.
    Send(Box<send::Args>),
    /// A full AIS + PIS + CAF round trip against the embedded sandbox bank (no setup needed).
    Demo(demo::Args),
}

fn main() -> ExitCode {
    quiet_broken_pipe();
    match try_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("psd2-sign: {e}");
            ExitCode::from(e.code)
        }
    }
}

fn try_main() -> Result<ExitCode, common::CliError> {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Hsm(args) => hsm::run(args),
        Command::Ca(args) => ca::run(args),
        Command::Csr(args) => csr::run(args),
        Command::Sign(args) => httpsig::run_sign(args),
        Command::Verify(args) => httpsig::run_verify(args),
        Command::Sandbox(args) => sandbox::run(args),
        Command::Send(args) => send::run(*args),
        Command::Demo(args) => demo::run(args),
    }
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
