//! `psd2-sign ca init|issue|revoke|crl|serve`: the test CA.

use std::path::PathBuf;
use std::process::ExitCode;

use psd2_ca::store::check_absent;
use psd2_ca::{
    CertKind, CertificateAuthority, EvSubject, ExternalKey, InitOptions, IssueRequest, Issued, KeyType, Psd2Subject,
    QwacProfile, SubjectKey,
};
use psd2_eidas::{Role, load};

use crate::common::{CliError, example_path};
use crate::output::{errln, outln};

/// `ca` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Args {
    /// Create a test PKI in DIR: a root CA (DIR/ca.pem, the trust anchor) and one issuing CA for
    /// QWACs and one for QSealCs. Keys are written with mode 0600.
    Init(InitArgs),
    /// Issue a QWAC or QSealC: writes PREFIX.pem, PREFIX-chain.pem (leaf, issuing CA) and
    /// PREFIX.key (PKCS#8 PEM, mode 0600; not with --csr).
    Issue(Box<IssueArgs>),
    /// Revoke a certificate issued by the CA in DIR and rewrite its CRL.
    Revoke(RevokeArgs),
    /// Write the CRLs of all CAs in DIR (DIR/crl/NAME.crl in DER, .crl.pem in PEM), where the
    /// certificates' CRL distribution point URLs point.
    Crl(CrlArgs),
    /// Publish the CA over HTTP at the URLs its certificates name: the CA certificates
    /// (caIssuers), the CRLs (CRL distribution points) and the OCSP responders, until Ctrl-C.
    Serve(ServeArgs),
}

/// Arguments of `ca init`.
#[derive(Debug, clap::Args)]
pub(crate) struct InitArgs {
    /// The CA directory (created if missing).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Key type of the CA keys: rsa2048, rsa3072, rsa4096, p256 or p384.
    #[arg(long, value_name = "TYPE", default_value = "rsa2048")]
    key_type: String,
    /// Validity of the CA certificates in days.
    #[arg(long, value_name = "N", default_value_t = 7300)]
    days: u32,
    /// Base URL the CRL distribution points, caIssuers and OCSP URLs start with.
    #[arg(long, value_name = "URL", default_value = psd2_ca::DEFAULT_BASE_URL)]
    base_url: String,
    /// Replace an existing CA in DIR.
    #[arg(long)]
    force: bool,
    /// Key of the two issuing CAs, held outside DIR: a PKCS#11 URI (an HSM key; PIN from
    /// pin-source, PSD2_SIGN_PKCS11_PIN or a prompt) or a key file. The reference is stored
    /// in DIR/qwac-ca.keyref and DIR/qseal-ca.keyref. Default: generated file keys.
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
}

/// Arguments of `ca issue`.
#[derive(Debug, clap::Args)]
pub(crate) struct IssueArgs {
    /// The CA directory (made by `ca init`).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// qwac, qseal, or 2-qwac (a 2-QWAC, ETSI TS 119 411-5: policy QNCP-w-gen and
    /// id-kp-tls-binding as its only extended key usage; for tests, it cannot do mutual TLS).
    #[arg(long = "type", value_name = "TYPE")]
    kind: String,
    /// QWAC with extended key usage serverAuth only, without clientAuth (as public CAs issue
    /// them from 2026; for tests: it cannot authenticate a TPP in mutual TLS).
    #[arg(long)]
    no_client_auth: bool,
    /// organizationName, e.g. "Example TPP NV".
    #[arg(long, value_name = "NAME")]
    org: String,
    /// organizationIdentifier PSD<CC>-<NCA>-<authorisation number>, e.g. PSDBE-NBB-0999.888.777.
    #[arg(long, value_name = "ID")]
    org_id: String,
    /// PSD2 roles, comma-separated: PSP_AS, PSP_PI, PSP_AI, PSP_IC (or AS, PI, AI, IC).
    #[arg(long, value_name = "ROLES", value_delimiter = ',', required = true)]
    roles: Vec<String>,
    /// NCAName, e.g. "National Bank of Belgium".
    #[arg(long, value_name = "NAME")]
    nca_name: String,
    /// NCAId, e.g. BE-NBB (must agree with --org-id).
    #[arg(long, value_name = "ID")]
    nca_id: String,
    /// QWAC domain (public DNS name): the first is the commonName, all are SAN dNSNames. Repeatable.
    #[arg(long, value_name = "DOMAIN")]
    domain: Vec<String>,
    /// QWAC localityName (this or --state is required for a QWAC).
    #[arg(long, value_name = "CITY")]
    locality: Option<String>,
    /// QWAC stateOrProvinceName.
    #[arg(long, value_name = "STATE")]
    state: Option<String>,
    /// QWAC businessCategory (default "Private Organization").
    #[arg(long, value_name = "CATEGORY")]
    business_category: Option<String>,
    /// QWAC jurisdictionCountryName (default: the country of --org-id).
    #[arg(long, value_name = "CC")]
    jurisdiction_country: Option<String>,
    /// QWAC subject serialNumber, the registration number (default: the number in --org-id).
    #[arg(long, value_name = "NUMBER")]
    registration_number: Option<String>,
    /// countryName (default: the country of --org-id).
    #[arg(long, value_name = "CC")]
    country: Option<String>,
    /// Generate a key of this type (default: the issuing CA's key type).
    #[arg(long, value_name = "TYPE", conflicts_with = "csr")]
    key_type: Option<String>,
    /// Issue for the key of this PKCS#10 request (PEM or DER); its signature is verified. The
    /// subject and roles come from the flags.
    #[arg(long, value_name = "FILE")]
    csr: Option<PathBuf>,
    /// QSealC with the key in a QSCD: policy QCP-l-qscd and the QcSSCD statement.
    #[arg(long)]
    qscd: bool,
    /// Validity in days (default: the CA/Browser Forum maximum for a QWAC, 365 for a QSealC).
    /// A QWAC beyond the maximum is issued with a warning.
    #[arg(long, value_name = "N")]
    days: Option<u32>,
    /// Output prefix: PREFIX.pem, PREFIX-chain.pem, PREFIX.key. Existing files are not replaced.
    #[arg(long, value_name = "PREFIX")]
    out: PathBuf,
}

/// Arguments of `ca revoke`.
#[derive(Debug, clap::Args)]
pub(crate) struct RevokeArgs {
    /// The CA directory.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// The certificate to revoke (PEM or DER; the first certificate of a chain file).
    #[arg(value_name = "CERT")]
    cert: PathBuf,
}

/// Arguments of `ca serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// The CA directory.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Address to listen on; the host and port of the CA's base URL (`ca init --base-url`)
    /// for the URLs in its certificates to resolve (port 0: any free port).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
}

/// Arguments of `ca crl`.
#[derive(Debug, clap::Args)]
pub(crate) struct CrlArgs {
    /// The CA directory.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
}

fn err(e: psd2_ca::Error) -> CliError {
    match e {
        // A missing or empty directory wants `ca init`; a damaged CA is only reported.
        psd2_ca::Error::NotACa { ref path, .. }
            if std::fs::read_dir(path).map_or(!path.exists(), |mut entries| entries.next().is_none()) =>
        {
            CliError::input(format!("{e}; create one with `psd2-sign ca init --dir DIR`"))
        }
        psd2_ca::Error::Eidas(e) => CliError::from(e),
        other => CliError::input(other.to_string()),
    }
}

/// Parses comma-separated role names, one error line naming the bad value.
pub(crate) fn parse_roles(values: &[String]) -> Result<Vec<Role>, CliError> {
    values
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(|v| v.parse::<Role>().map_err(CliError::from))
        .collect()
}

/// Runs `ca`.
pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    match args {
        Args::Init(a) => init(a),
        Args::Issue(a) => issue(*a),
        Args::Revoke(a) => revoke(a),
        Args::Crl(a) => crl(a),
        Args::Serve(a) => serve(a),
    }
}

/// Opens the CA in `dir`, asking for a PIN when an issuing key is on a token.
fn open_ca(dir: &std::path::Path) -> Result<CertificateAuthority, CliError> {
    CertificateAuthority::open_with(dir, &crate::common::env_secrets()).map_err(err)
}

fn init(a: InitArgs) -> Result<ExitCode, CliError> {
    let issuing_key = match &a.key {
        Some(reference) => {
            let secrets = crate::common::env_secrets();
            let signer = psd2_eidas::open_signer(&reference.parse()?, &secrets)?;
            Some(ExternalKey { reference: reference.clone(), signer })
        }
        None => None,
    };
    let options = InitOptions {
        key_type: a.key_type.parse().map_err(err)?,
        days: a.days,
        base_url: a.base_url,
        overwrite: a.force,
        not_before: None,
        issuing_key,
    };
    let ca = CertificateAuthority::init(&a.dir, &options).map_err(|e| match e {
        psd2_ca::Error::Exists(p) => CliError::input(format!(
            "{}: already exists: {} holds a CA (use --force to replace it)",
            p.display(),
            a.dir.display()
        )),
        other => err(other),
    })?;
    outln!(
        "test CA created in {} (trust anchor {})",
        a.dir.display(),
        ca.layout().cert(psd2_ca::store::ROOT).display()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn issue(a: IssueArgs) -> Result<ExitCode, CliError> {
    let (kind, profile) = match a.kind.trim().to_ascii_lowercase().as_str() {
        "2-qwac" | "2qwac" => (CertKind::Qwac, QwacProfile::TwoQwac),
        _ => (
            a.kind.parse::<CertKind>().map_err(|e| match e {
                psd2_ca::Error::InvalidInput { .. } => CliError::input(format!(
                    "--type '{}': expected qwac, qseal or 2-qwac",
                    crate::output::escape_controls(a.kind.trim())
                )),
                other => err(other),
            })?,
            QwacProfile::Standard,
        ),
    };
    let profile = match (profile, a.no_client_auth, kind) {
        (QwacProfile::TwoQwac, true, _) => {
            return Err(CliError::input(
                "--no-client-auth: a 2-QWAC has no TLS extended key usage anyway; drop the flag",
            ));
        }
        (_, true, CertKind::Qseal) => return Err(CliError::input("--no-client-auth is for QWACs (--type qwac)")),
        (_, true, CertKind::Qwac) => QwacProfile::NoClientAuth,
        (p, false, _) => p,
    };
    crate::common::check_out_file("--out", &a.out, &example_path(&a.out, kind.name()))?;
    let roles = parse_roles(&a.roles)?;
    let key = match (&a.key_type, &a.csr) {
        (Some(kt), _) => Some(SubjectKey::Generate(kt.parse::<KeyType>().map_err(err)?)),
        (None, Some(_)) => None,
        (None, None) => None,
    };
    let ca = open_ca(&a.dir)?;
    let paths = Issued::output_paths(&a.out, a.csr.is_none());
    check_absent(paths.iter().map(PathBuf::as_path)).map_err(err)?;
    let key = match &a.csr {
        Some(path) => {
            let data = psd2_eidas::load::read_limited(path, psd2_eidas::load::MAX_FILE_SIZE, "CSR file")
                .map_err(|e| CliError::input(format!("--csr {}: {e}", path.display())))?;
            Some(SubjectKey::Csr(data.to_vec()))
        }
        None => key,
    };
    let subject = Psd2Subject {
        organization: a.org,
        organization_identifier: a.org_id,
        roles,
        nca_name: a.nca_name,
        nca_id: a.nca_id,
        country: a.country,
    };
    let mut req = IssueRequest::new(kind, subject);
    req.ev = EvSubject {
        domains: a.domain,
        locality: a.locality,
        state: a.state,
        business_category: a.business_category,
        jurisdiction_country: a.jurisdiction_country,
        registration_number: a.registration_number,
    };
    req.qscd = a.qscd;
    req.qwac_profile = profile;
    req.days = a.days;
    req.key = key;
    let issued = ca.issue(&req).map_err(|e| match (&a.csr, e) {
        (Some(p), psd2_ca::Error::Csr(m)) => CliError::input(format!("{}: certificate request: {m}", p.display())),
        (_, e @ psd2_ca::Error::OutlivesIssuer { .. }) => match a.days {
            Some(days) => CliError::input(format!("--days {days}: {e}")),
            None => CliError::input(format!("{e} (give a shorter --days)")),
        },
        (_, other) => err(other),
    })?;
    for w in &issued.warnings {
        errln!("psd2-sign: warning: {w}");
    }
    let written = issued.write(&a.out).map_err(err)?;
    let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    outln!(
        "issued {} serial {} for {}: {}",
        match (kind, profile) {
            (CertKind::Qwac, QwacProfile::TwoQwac) => "2-QWAC",
            (CertKind::Qwac, QwacProfile::NoClientAuth) => "QWAC (no clientAuth)",
            (CertKind::Qwac, _) => "QWAC",
            (CertKind::Qseal, _) => "QSealC",
        },
        issued.certificate.serial_hex(),
        issued.certificate.subject(),
        names.join(", ")
    )?;
    Ok(ExitCode::SUCCESS)
}

fn revoke(a: RevokeArgs) -> Result<ExitCode, CliError> {
    let ca = open_ca(&a.dir)?;
    let cert = load::load_certificates(&a.cert, None)?.remove(0);
    let r = ca.revoke(&cert).map_err(err)?;
    let crl = r.crl_files.first().map(|p| p.display().to_string()).unwrap_or_default();
    if r.newly_revoked {
        outln!("revoked serial {} (issued by {}); CRL written to {crl}", r.serial_hex, r.ca)?;
    } else {
        outln!("serial {} was already revoked (issued by {}); CRL rewritten to {crl}", r.serial_hex, r.ca)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn crl(a: CrlArgs) -> Result<ExitCode, CliError> {
    let ca = open_ca(&a.dir)?;
    for p in ca.write_crls().map_err(err)? {
        outln!("{}", p.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the publication server until Ctrl-C or SIGTERM.
fn serve(a: ServeArgs) -> Result<ExitCode, CliError> {
    use psd2_ca::serve::{CaServer, ServeOptions};
    let ca = open_ca(&a.dir)?;
    let rt = crate::common::server_runtime()?;
    rt.block_on(async {
        let mut interrupt = crate::common::Interrupt::listen()?;
        let server = CaServer::start(&ca, a.listen, ServeOptions::default())
            .await
            .map_err(|e| CliError::input(format!("--listen {}: {e}", a.listen)))?;
        let url = server.url();
        outln!("test CA listening on {url}")?;
        outln!("certificates name {} (CA certificates NAME.cer, CRLs crl/NAME.crl, OCSP ocsp/CA)", ca.base_url())?;
        let base_host = ca.base_url().split_once("://").map_or("", |(_, r)| r).split('/').next().unwrap_or("");
        if base_host != server.local_addr().to_string() {
            errln!(
                "psd2-sign: warning: the certificates point to {}, not to this server ({}); clients following their URLs will not reach it",
                ca.base_url(),
                server.local_addr()
            );
        }
        outln!("Ctrl-C to stop")?;
        interrupt.recv().await;
        server.shutdown().await.map_err(|e| CliError::input(format!("CA server: {e}")))?;
        outln!("test CA server stopped")?;
        Ok(ExitCode::SUCCESS)
    })
}
