//! `psd2-sign demo`: a full AIS + PIS + CAF round trip against the embedded sandbox bank, with
//! nothing to set up. A fresh test PKI is made in a temporary directory (a QTSP-shaped test CA,
//! a QWAC and a QSealC for a fictitious TPP), the sandbox starts on 127.0.0.1 trusting that CA,
//! and the same bank client that talks to Belfius and Banx runs every flow over mTLS.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use psd2_ca::{CertKind, CertificateAuthority, EvSubject, InitOptions, IssueRequest, KeyType, Psd2Subject};
use psd2_client::types::{Amount, FundsRequest, PaymentRequest};
use psd2_client::{Bank, Client, ClientOptions, Environment, PaymentProduct, PisAuth, Pkce, Scope};
use psd2_eidas::{Identity, Secret, Signer};
use psd2_sandbox::{Sandbox, SandboxConfig, ServerIdentity};

use crate::common::{CliError, Interrupt, private_temp_dir};
use crate::output::outln;

/// Arguments of `demo` (none needed).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Keep the temporary test PKI (its path is printed) instead of deleting it.
    #[arg(long)]
    keep: bool,
    /// Address the embedded sandbox bank listens on (port 0: any free port).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

const CLIENT_ID: &str = "demo-tpp";
const REDIRECT: &str = "https://tpp.example.com/callback";

fn fail(what: &str) -> impl Fn(psd2_client::Error) -> CliError + '_ {
    move |e| CliError::check(format!("demo: {what}: {e}"))
}

fn step(area: &str, text: impl std::fmt::Display) -> Result<(), CliError> {
    outln!("  {area:<4} {text}")
}

/// Runs `demo`. The test PKI (it holds CA private keys) lives in a private temporary directory
/// that is removed on every way out: success, an error, Ctrl-C or SIGTERM (unless `--keep`).
pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::input(format!("cannot start the async runtime: {e}")))?;
    let mut interrupt = runtime.block_on(async { Interrupt::listen() })?;
    let dir = private_temp_dir("psd2-sign-demo-", args.keep)
        .map_err(|e| CliError::input(format!("demo: cannot make a temporary directory: {e}")))?;
    let kept = || if args.keep { format!("; test PKI kept in {}", dir.path().display()) } else { String::new() };

    let result = runtime.block_on(async {
        outln!("psd2-sign demo: AIS + PIS + CAF against the embedded sandbox bank")?;
        let pki_dir = dir.path().to_path_buf();
        let work = async {
            let (qwac, qseal, anchor) = tokio::task::spawn_blocking(move || test_pki(&pki_dir))
                .await
                .map_err(|e| CliError::input(format!("demo: test PKI: {e}")))??;
            round_trip(qwac, qseal, anchor, args.listen).await
        };
        tokio::select! {
            r = work => r,
            (name, code) = interrupt.recv() => Err(CliError { code, message: format!("demo: interrupted ({name})") }),
        }
    });
    // The runtime waits for a test PKI still being made before the directory goes.
    drop(runtime);
    match result {
        Ok(()) => {
            if args.keep {
                outln!("test PKI kept in {}", dir.path().display())?;
            }
            outln!("demo complete: every call succeeded")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(CliError { message: format!("{}{}", e.message, kept()), ..e }),
    }
}

/// A test CA, and a QWAC (all four roles) and a QSealC issued by it, as in-memory identities.
fn test_pki(dir: &Path) -> Result<(Identity, Identity, psd2_eidas::Certificate), CliError> {
    let err = |e: psd2_ca::Error| CliError::input(format!("demo: test PKI: {e}"));
    let ca =
        CertificateAuthority::init(&dir.join("ca"), &InitOptions { key_type: KeyType::P256, ..Default::default() })
            .map_err(err)?;
    let tpp = Psd2Subject::example();
    let mut qwac = IssueRequest::new(CertKind::Qwac, tpp.clone());
    qwac.ev = EvSubject::example();
    let mut qseal = IssueRequest::new(CertKind::Qseal, tpp);
    // Belfius seals payment initiations with RS256: an RSA QSealC.
    qseal.key = Some(psd2_ca::SubjectKey::Generate(KeyType::Rsa2048));
    let mut identities = Vec::new();
    for (name, req) in [("QWAC", qwac), ("QSealC", qseal)] {
        let issued = ca.issue(&req).map_err(err)?;
        let signer: Arc<dyn Signer> =
            issued.private_key.clone().ok_or_else(|| CliError::input("demo: no generated key"))?;
        let id = Identity::new(issued.chain.clone(), signer)?;
        let c = id.certificate();
        let cn = c.subject().get("2.5.4.3").unwrap_or_default();
        step(
            "PKI",
            format!(
                "{name} CN={cn}, {} {}, serial {}",
                c.subject().get("2.5.4.97").unwrap_or_default(),
                c.public_key().kind(),
                c.serial_hex()
            ),
        )?;
        identities.push(id);
    }
    let qseal = identities.pop().ok_or_else(|| CliError::input("demo: no QSealC"))?;
    let qwac = identities.pop().ok_or_else(|| CliError::input("demo: no QWAC"))?;
    Ok((qwac, qseal, ca.root_certificate().clone()))
}

async fn round_trip(
    qwac: Identity,
    qseal: Identity,
    anchor: psd2_eidas::Certificate,
    listen: SocketAddr,
) -> Result<(), CliError> {
    let secret = Secret::new(random_hex()?);
    let server = ServerIdentity::ephemeral().map_err(|e| CliError::input(format!("demo: sandbox: {e}")))?;
    let config = SandboxConfig::new(vec![anchor], server)
        .with_client(CLIENT_ID, secret.clone(), qseal.certificate().clone())
        .map_err(|e| CliError::input(format!("demo: {e}")))?;
    let sandbox = Sandbox::start(config, listen)
        .await
        .map_err(|e| CliError::input(format!("demo: cannot start the sandbox: {e}")))?;
    let url = format!("https://{}", sandbox.local_addr());
    step("BANK", format!("sandbox listening on {url} (mTLS required, server CA trusted by name only)"))?;
    let server_ca = sandbox.server_ca().cloned().ok_or_else(|| CliError::input("demo: sandbox has no server CA"))?;
    let options = ClientOptions::new(Bank::Belfius, Environment::Custom(url), CLIENT_ID, REDIRECT)
        .with_client_secret(secret)
        .with_extra_root(server_ca)
        .without_public_roots();
    let mut unattended = options.clone();
    unattended.unattended = true;
    let unattended_client = Client::new(qwac.clone(), None, unattended).map_err(fail("client"))?;
    let client = Client::new(qwac, Some(qseal), options).map_err(fail("client"))?;

    // AIS: consent, the PSU's SCA, token, accounts, details, transactions.
    let pkce = Pkce::generate().map_err(fail("PKCE"))?;
    let uris = client.consent_uris(Scope::Ais, &pkce).await.map_err(fail("AIS consent-uris"))?;
    let uri = uris.first().ok_or_else(|| CliError::check("demo: no consent URI"))?;
    step("AIS", format!("consent URI ({}) with PKCE S256", uri.language))?;
    let code = client.psu_authorize(&uri.consent_uri, "demo-ais").await.map_err(fail("AIS SCA"))?;
    let token = client.token_from_code(&code, pkce.verifier()).await.map_err(fail("AIS token"))?;
    step(
        "AIS",
        format!(
            "PSU consented; token scope {}, expires in {} s",
            token.scope.as_deref().unwrap_or("?"),
            token.expires_in.as_deref().unwrap_or("?")
        ),
    )?;
    let list = client.accounts(&token.access_token).await.map_err(fail("accounts"))?;
    for a in &list.accounts {
        let details = client.account(&token.access_token, &a.logical_id).await.map_err(fail("account"))?;
        let page = client
            .transactions(&token.access_token, &a.logical_id, None, None, None, None)
            .await
            .map_err(fail("transactions"))?;
        step(
            "AIS",
            format!(
                "{} balance {} {}, {} transactions",
                details.iban.as_deref().unwrap_or("?"),
                details.balance.as_deref().unwrap_or("?"),
                details.currency.as_deref().unwrap_or(""),
                page.embedded.transactions.len()
            ),
        )?;
    }
    let refreshed =
        client.refresh(token.refresh_token.as_deref().unwrap_or_default()).await.map_err(fail("refresh"))?;
    client.accounts(&refreshed.access_token).await.map_err(fail("accounts after refresh"))?;
    step("AIS", "token refreshed; the new pair works")?;

    // History older than 90 days: SCA required, the PSU's step, then the SCA token.
    let first = list.accounts.first().ok_or_else(|| CliError::check("demo: no account"))?;
    let from = (time::OffsetDateTime::now_utc() - time::Duration::days(120)).date().to_string();
    let at = &refreshed.access_token;
    let url = match client.transactions(at, &first.logical_id, Some(&from), None, None, None).await {
        Err(e) => match e.bank_error() {
            Some(psd2_client::BankErrorKind::ScaRequired { url: Some(url) }) => url.clone(),
            _ => return Err(fail("old transactions")(e)),
        },
        Ok(_) => return Err(CliError::check("demo: history from 120 days back came without SCA")),
    };
    let sca_token = client.psu_sca_token(&url, "demo-history").await.map_err(fail("history SCA"))?;
    let page = client
        .transactions(at, &first.logical_id, Some(&from), None, None, Some(&sca_token))
        .await
        .map_err(fail("old transactions with the SCA token"))?;
    step(
        "AIS",
        format!(
            "history since {from}: SCA_REQUIRED, PSU authenticated, SCA-Token sent: {} transactions",
            page.embedded.transactions.len()
        ),
    )?;
    let again = unattended_client.accounts(at).await.map_err(fail("unattended accounts"))?;
    step("AIS", format!("unattended call (psu_involved=false): {} accounts, 1 of the 4 a day", again.accounts.len()))?;

    // PIS: a payment sealed with the QSealC, the PSU's SCA, the PIS token, the status.
    let mut payment = PaymentRequest::new("BE71096123456769", "Demo Shop", Amount::new("12.34", "EUR"));
    // Required for every product (docs/sandbox-api.md, PIS error codes).
    payment.endtoend_identification = Some("psd2-sign-demo".into());
    let pkce = Pkce::generate().map_err(fail("PKCE"))?;
    let body = payment.to_body().map_err(fail("payment body"))?;
    let init = client
        .initiate_payment(PaymentProduct::SepaCreditTransfers, body, PisAuth::Pkce(&pkce))
        .await
        .map_err(fail("payment initiation"))?;
    step(
        "PIS",
        format!(
            "payment {} sealed (RS256 Signature header) and received: {}",
            init.payment_id,
            init.payment_status.as_deref().unwrap_or("?")
        ),
    )?;
    let sca = init.sca_uri.as_deref().ok_or_else(|| CliError::check("demo: no SCA URL in Location"))?;
    let code = client.psu_authorize(sca, "demo-pis").await.map_err(fail("PIS SCA"))?;
    let pis = client.token_from_code(&code, pkce.verifier()).await.map_err(fail("PIS token"))?;
    let status = client
        .payment_status(PaymentProduct::SepaCreditTransfers, &init.payment_id, Some(&pis.access_token))
        .await
        .map_err(fail("payment status"))?;
    step("PIS", format!("PSU signed; status {}", status.payment_status))?;
    if status.payment_status != "ACSC" {
        return Err(CliError::check(format!("demo: payment status {} (expected ACSC)", status.payment_status)));
    }

    // CAF: consent, token, two funds checks.
    let pkce = Pkce::generate().map_err(fail("PKCE"))?;
    let uris = client.consent_uris(Scope::Caf, &pkce).await.map_err(fail("CAF consent-uris"))?;
    let uri = uris.first().ok_or_else(|| CliError::check("demo: no consent URI"))?;
    let code = client.psu_authorize(&uri.consent_uri, "demo-caf").await.map_err(fail("CAF SCA"))?;
    let caf = client.token_from_code(&code, pkce.verifier()).await.map_err(fail("CAF token"))?;
    for (iban, amount, expected) in [("BE68539007547034", "100.00", true), ("BE71096123456769", "500.00", false)] {
        let answer = client
            .funds_confirmation(&caf.access_token, &FundsRequest::new(iban, Amount::new(amount, "EUR")))
            .await
            .map_err(fail("funds confirmation"))?;
        step("CAF", format!("{amount} EUR on {iban}: funds available {}", answer.funds_available))?;
        if answer.funds_available != expected {
            return Err(CliError::check(format!("demo: funds check on {iban} answered {}", answer.funds_available)));
        }
    }
    sandbox.shutdown().await.map_err(|e| CliError::input(format!("demo: sandbox shutdown: {e}")))?;
    Ok(())
}

/// 16 random bytes as hex (the demo client secret).
fn random_hex() -> Result<String, CliError> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| CliError::input("no randomness"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}
