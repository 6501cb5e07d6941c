//! `psd2-sign csr`: a PKCS#10 request with the subject a QTSP expects for a PSD2 certificate.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use psd2_ca::csr::CsrRequest;
use psd2_ca::store::{OutFile, write_files};
use psd2_eidas::{KeyRef, Signer};

use crate::common::{CliError, PasswordArgs, example_path};
use crate::output::outln;

/// Arguments of `csr`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The private key: a PEM/DER key file, a PKCS#12 file or a PKCS#11 URI (the key never
    /// leaves the token).
    #[arg(long, value_name = "KEY")]
    key: String,
    /// qwac or qseal.
    #[arg(long = "type", value_name = "TYPE")]
    kind: String,
    /// organizationName.
    #[arg(long, value_name = "NAME")]
    org: String,
    /// organizationIdentifier, e.g. PSDBE-NBB-0999.888.777.
    #[arg(long, value_name = "ID")]
    org_id: String,
    /// QWAC domain: the first is the commonName, all go in the SAN of the extensionRequest. Repeatable.
    #[arg(long, value_name = "DOMAIN")]
    domain: Vec<String>,
    /// countryName (default: the country of --org-id).
    #[arg(long, value_name = "CC")]
    country: Option<String>,
    /// The request file to write (PEM); an existing file is not replaced.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    password: PasswordArgs,
}

/// Runs `csr`.
pub(crate) fn run(a: Args) -> Result<ExitCode, CliError> {
    let err = |e: psd2_ca::Error| CliError::input(e.to_string());
    let kind = a.kind.parse().map_err(err)?;
    crate::common::check_out_file("--out", &a.out, &example_path(&a.out, "request.csr"))?;
    psd2_ca::store::check_absent([a.out.as_path()]).map_err(err)?;
    let key_ref: KeyRef = a.key.parse()?;
    let secrets = a.password.secrets()?;
    let signer: Arc<dyn Signer> = psd2_eidas::open_signer(&key_ref, &secrets)?;
    let req = CsrRequest {
        kind,
        organization: a.org,
        organization_identifier: a.org_id,
        domains: a.domain,
        country: a.country,
    };
    let pem = psd2_ca::csr::create(&req, signer).map_err(err)?;
    write_files(&[OutFile::public(&a.out, pem.into_bytes())], false).map_err(err)?;
    outln!("{}", a.out.display())?;
    Ok(ExitCode::SUCCESS)
}
