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
    /// Store a certificate on the token next to its key (which must be the certificate's), under
    /// the key's label and id; an identical certificate already there is not stored again.
    ImportCert {
        /// The key it belongs to, e.g. `pkcs11:token=psd2-test;object=qseal;id=%01` (type `cert`
        /// or none; PIN from pin-source or PSD2_SIGN_PKCS11_PIN).
        #[arg(value_name = "URI")]
        uri: String,
        /// The certificate file (PEM or DER; the first certificate is stored).
        #[arg(value_name = "CERT")]
        cert: PathBuf,
    },
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
            // Built, not pasted: a label such as `a;object=b` stays one label.
            let mut uri = pkcs11::Pkcs11Uri::default();
            uri.token = Some(label);
            uri.module_path = module.map(|m| m.display().to_string());
            let objects = pkcs11::list_objects(&uri.to_string(), &secrets)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&objects).map_err(|e| CliError::input(e.to_string()))?)?;
            } else {
                for o in objects {
                    let label = o.label.escape_debug().to_string();
                    let detail = o.detail.escape_debug().to_string();
                    outln!("{:<8} {:<20} id={:<8} {:<30} {}", o.class.as_str(), label, o.id, detail, o.uri)?;
                }
            }
        }
        Args::ImportCert { uri, cert } => {
            let certs = load::load_certificates(&cert, None)?;
            let subject = certs[0].subject().to_display();
            match pkcs11::import_certificate(&uri, &certs[0], &secrets)? {
                pkcs11::Imported::AlreadyPresent => {
                    errln!("{subject} is already there: {}", psd2_eidas::redact_pin(&uri).escape_debug());
                }
                _ => errln!("stored {subject} on {}", psd2_eidas::redact_pin(&uri).escape_debug()),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
