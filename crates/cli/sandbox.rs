//! `psd2-sign sandbox`: run the embedded sandbox bank (docs/sandbox-api.md) until Ctrl-C or
//! SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use psd2_ca::store::{OutFile, write_files};
use psd2_eidas::{Certificate, Secret};
use psd2_sandbox::{Faults, Sandbox, SandboxConfig, ServerIdentity};

use crate::common::{CliError, Interrupt, private_temp_dir};
use crate::output::outln;

/// Arguments of `psd2-sign sandbox`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address to listen on (port 0: any free port).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// TPP trust anchor(s) (PEM/DER; repeatable): client QWAC chains must verify against one.
    /// Default: ca.pem of the ec/ and rsa/ sets of --test-certs.
    #[arg(long, value_name = "FILE")]
    ca: Vec<PathBuf>,
    /// Server certificate chain (leaf first). Default: an ephemeral server CA and a certificate
    /// for localhost and 127.0.0.1, made at start-up.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// Server private key (unencrypted PEM/DER), with --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Onboard a client id (repeatable; the n-th goes with the n-th --client-secret-file and
    /// --qseal). Default: the demo client of --test-certs.
    #[arg(long, value_name = "ID")]
    client_id: Vec<String>,
    /// File whose first line is the client secret of the matching --client-id.
    #[arg(long, value_name = "FILE")]
    client_secret_file: Vec<PathBuf>,
    /// The registered QSealC of the matching --client-id (verifies PIS Signature headers).
    #[arg(long, value_name = "FILE")]
    qseal: Vec<PathBuf>,
    /// The committed test PKI directory the defaults come from.
    #[arg(long, value_name = "DIR", default_value = "test-certs")]
    test_certs: PathBuf,
    /// Where to write the ephemeral server CA (PEM; replaced atomically if it exists). Default:
    /// server-ca.pem in a new private temporary directory, removed when the sandbox stops.
    #[arg(long, value_name = "FILE", conflicts_with = "cert")]
    server_ca_out: Option<PathBuf>,
    /// Fault mode: a comma list of drop-handshakes=N (the next N TLS handshakes are cut),
    /// lose-responses=N (the next N requests are processed, their answers lost), fail=N (the next
    /// N requests get 503) and delay=DURATION (every answer waits, e.g. 200ms).
    #[arg(long, value_name = "SPEC")]
    faults: Option<String>,
    /// A CRL file (PEM or DER) of a TPP CA (repeatable): a client QWAC it lists is refused in
    /// the handshake. Read again whenever the file changes (e.g. after `ca revoke` and `ca crl`).
    #[arg(long, value_name = "FILE")]
    crl: Vec<PathBuf>,
}

fn first_certificate(path: &Path) -> Result<Certificate, CliError> {
    psd2_eidas::load::load_certificates(path, None)?
        .into_iter()
        .next()
        .ok_or_else(|| CliError::input(format!("{}: no certificate", path.display())))
}

fn config(args: &Args) -> Result<SandboxConfig, CliError> {
    let err = |e: psd2_sandbox::Error| CliError::input(e.to_string());
    let server = match (&args.cert, &args.key) {
        (Some(c), Some(k)) => ServerIdentity::from_files(c, k).map_err(err)?,
        _ => ServerIdentity::ephemeral().map_err(err)?,
    };
    let anchors_from = if args.ca.is_empty() {
        ["ec", "rsa"].iter().map(|s| args.test_certs.join(s).join("ca.pem")).collect()
    } else {
        args.ca.clone()
    };
    let mut anchors = Vec::new();
    for p in &anchors_from {
        anchors.extend(psd2_eidas::load::load_certificates(p, None)?);
    }
    let mut config = SandboxConfig::new(anchors, server);
    for crl in &args.crl {
        config = config.with_crl_file(crl);
    }
    if let Some(spec) = &args.faults {
        let faults: Faults =
            spec.parse().map_err(|e| CliError::input(format!("--faults {}: {e}", spec.escape_debug())))?;
        config = config.with_faults(faults);
    }
    if args.client_id.is_empty() {
        if !args.client_secret_file.is_empty() || !args.qseal.is_empty() {
            return Err(CliError::input("--client-secret-file and --qseal go with --client-id"));
        }
        let qseal = first_certificate(&args.test_certs.join("rsa").join("qseal.pem"))?;
        config = config.with_demo_client(qseal).map_err(err)?;
    } else {
        if args.client_secret_file.len() != args.client_id.len() || args.qseal.len() != args.client_id.len() {
            return Err(CliError::input(
                "each --client-id needs one --client-secret-file and one --qseal, in the same order",
            ));
        }
        for ((id, secret), qseal) in args.client_id.iter().zip(&args.client_secret_file).zip(&args.qseal) {
            let secret = Secret::from_file(secret)?;
            config = config.with_client(id, secret, first_certificate(qseal)?).map_err(err)?;
        }
    }
    Ok(config)
}

/// Where the ephemeral server CA was written; a private temporary directory is removed on drop.
struct ServerCaFile {
    path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

/// Writes the server CA to `out` atomically (a temporary file beside it, renamed over it; never
/// onto a directory), or to `server-ca.pem` in a new private temporary directory (mode 0700, a
/// random name, the file created new in it).
fn write_server_ca(ca: &Certificate, out: Option<&Path>) -> Result<ServerCaFile, CliError> {
    let pem = ca.to_pem();
    if let Some(path) = out {
        let shown = path.display().to_string().escape_debug().to_string();
        if path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/') {
            return Err(CliError::input(format!("--server-ca-out {shown}: is a directory, not a file name")));
        }
        write_files(&[OutFile::public(path, pem)], true).map_err(|e| {
            let why = match e {
                psd2_ca::Error::Io { source, .. } => source.to_string(),
                other => other.to_string(),
            };
            CliError::input(format!("--server-ca-out {shown}: cannot write the server CA: {why}"))
        })?;
        return Ok(ServerCaFile { path: path.to_path_buf(), _dir: None });
    }
    let err = |e: std::io::Error| CliError::input(format!("writing the server CA to a temporary directory: {e}"));
    let dir = private_temp_dir("psd2-sign-sandbox-", false).map_err(err)?;
    let path = dir.path().join("server-ca.pem");
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(err)?;
    std::io::Write::write_all(&mut file, pem.as_bytes()).and_then(|()| file.sync_all()).map_err(err)?;
    Ok(ServerCaFile { path, _dir: Some(dir) })
}

/// Runs the sandbox until Ctrl-C or SIGTERM.
pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let config = config(&args)?;
    let anchors: Vec<String> = config
        .tpp_trust_anchors
        .iter()
        .map(|c| format!("{} (serial {})", c.subject().to_display(), c.serial_hex()))
        .collect();
    let clients: Vec<String> = config
        .clients
        .iter()
        .map(|(id, c)| format!("{id} (QSealC {}, serial {})", c.qseal.subject().to_display(), c.qseal.serial_hex()))
        .collect();
    let faults = config.faults;
    let rt = crate::common::server_runtime()?;
    rt.block_on(async {
        let mut interrupt = Interrupt::listen()?;
        let sandbox =
            Sandbox::start(config, args.listen).await.map_err(|e| CliError::input(format!("sandbox: {e}")))?;
        let server_ca = sandbox.server_ca().map(|ca| write_server_ca(ca, args.server_ca_out.as_deref())).transpose()?;
        outln!("sandbox bank listening on https://{}", sandbox.local_addr())?;
        if let Some(ca) = &server_ca {
            outln!("server CA (trust it explicitly, e.g. --ca): {}", ca.path.display())?;
        }
        for a in &anchors {
            outln!("TPP trust anchor: {a}")?;
        }
        for c in &clients {
            outln!("client: {c}")?;
        }
        outln!("Banx under https://{}/banx", sandbox.local_addr())?;
        if !faults.is_none() {
            outln!("faults: {faults}")?;
        }
        outln!("Ctrl-C to stop")?;
        interrupt.recv().await;
        sandbox.shutdown().await.map_err(|e| CliError::input(format!("sandbox: {e}")))?;
        drop(server_ca);
        outln!("sandbox stopped")?;
        Ok(ExitCode::SUCCESS)
    })
}
