//! `psd2-sign hsm list` and `psd2-sign hsm import-cert`: find what is on a PKCS#11 token, and
//! put an issued certificate next to its key.

use std::path::PathBuf;
use std::process::ExitCode;

use psd2_eidas::{load, pkcs11};

use crate::common::CliError;
use crate::output::{errln, outln};

/// `hsm` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Args {
    /// List the tokens of a module, or the keys and certificates on one token.
    List {
        /// The PKCS#11 module (else PSD2_SIGN_PKCS11_MODULE).
        #[arg(long, value_name = "PATH")]
        module: Option<PathBuf>,
        /// List the objects on the token with this label (private keys only with a PIN from
        /// PSD2_SIGN_PKCS11_PIN).
        #[arg(long, value_name = "LABEL")]
        token: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Store a certificate on the token under the URI's object label and id (next to its key).
    ImportCert {
        /// Where to store it, e.g. `pkcs11:token=psd2-test;object=qseal;id=%01` (PIN from
        /// pin-source or PSD2_SIGN_PKCS11_PIN).
        #[arg(value_name = "URI")]
        uri: String,
        /// The certificate file (PEM or DER; the first certificate is stored).
        #[arg(value_name = "CERT")]
        cert: PathBuf,
    },
}

fn with_module(uri: String, module: &Option<PathBuf>) -> String {
    match module {
        Some(m) if !uri.contains("module-path=") => format!("{uri}?module-path={}", m.display()),
        _ => uri,
    }
}

/// Runs `hsm`.
pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let secrets = crate::common::env_secrets();
    match args {
        Args::List { module, token: None, json } => {
            let module = module.or_else(|| secrets.pkcs11_module.clone()).ok_or_else(|| {
                CliError::input("no PKCS#11 module: give --module PATH or set PSD2_SIGN_PKCS11_MODULE")
            })?;
            let tokens = pkcs11::list_tokens(&module)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&tokens).map_err(|e| CliError::input(e.to_string()))?)?;
            } else {
                for t in tokens {
                    outln!(
                        "token={}  manufacturer={}  model={}  serial={}",
                        t.label,
                        t.manufacturer,
                        t.model,
                        t.serial
                    )?;
                }
            }
        }
        Args::List { module, token: Some(label), json } => {
            let uri = with_module(format!("pkcs11:token={label}"), &module);
            let objects = pkcs11::list_objects(&uri, &secrets)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&objects).map_err(|e| CliError::input(e.to_string()))?)?;
            } else {
                for o in objects {
                    outln!("{:<8} {:<20} id={:<8} {:<30} {}", o.class, o.label, o.id, o.detail, o.uri)?;
                }
            }
        }
        Args::ImportCert { uri, cert } => {
            let certs = load::load_certificates(&cert, None)?;
            let secrets = crate::common::env_secrets();
            pkcs11::import_certificate(&uri, &certs[0], &secrets)?;
            errln!("stored {} on {}", certs[0].subject(), psd2_eidas::redact_pin(&uri));
        }
    }
    Ok(ExitCode::SUCCESS)
}
