//! The bank client from Rust: AIS (consent → PSU step → token → accounts → transactions), PIS
//! (a sealed payment → SCA → PIS token → status) and CAF (consent → token → funds) against the
//! embedded sandbox bank, with the committed test QWAC (mTLS) and QSealC (PIS `Signature`).
//!
//! ```sh
//! cargo run --example belfius_sandbox          # starts the embedded sandbox on 127.0.0.1 itself
//! # or against a running one (psd2-sign sandbox ...):
//! PSD2_SANDBOX_URL=https://127.0.0.1:8443 PSD2_SANDBOX_CA=server-ca.pem \
//!   PSD2_SANDBOX_CLIENT_ID=… PSD2_SIGN_CLIENT_SECRET=… cargo run --example belfius_sandbox
//! ```
//!
//! The same code talks to the live banks with `Environment::Live` and the production
//! certificates.
#![allow(clippy::print_stdout, clippy::print_stderr, reason = "an example prints what it did")]

use psd2_client::types::{Amount, FundsRequest, PaymentRequest};
use psd2_client::{Bank, Client, ClientOptions, Environment, PaymentProduct, PisAuth, Pkce, Scope};
use psd2_eidas::{Certificate, Identity, Secret, Secrets, load};
use psd2_sandbox::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Sandbox, SandboxConfig, ServerIdentity};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let test_certs = concat!(env!("CARGO_MANIFEST_DIR"), "/test-certs");
    // A running sandbox named in the environment, or the embedded one started here.
    let mut _embedded = None;
    let (url, client_id, secret, server_ca): (String, String, Secret, Vec<Certificate>) =
        match std::env::var("PSD2_SANDBOX_URL") {
            Ok(url) => {
                let id = std::env::var("PSD2_SANDBOX_CLIENT_ID").map_err(|_| "set PSD2_SANDBOX_CLIENT_ID")?;
                let secret = Secret::from_env("PSD2_SIGN_CLIENT_SECRET").ok_or("set PSD2_SIGN_CLIENT_SECRET")?;
                let ca = match std::env::var("PSD2_SANDBOX_CA") {
                    Ok(ca) => load::load_certificates(ca.as_ref(), None)?,
                    Err(_) => Vec::new(),
                };
                (url, id, secret, ca)
            }
            Err(_) => {
                // The sandbox trusts the test TPP root and knows the demo client's QSealC.
                let tpp_ca = load::load_certificates(format!("{test_certs}/rsa/ca.pem").as_ref(), None)?;
                let qseal = load::load_certificates(format!("{test_certs}/rsa/qseal.pem").as_ref(), None)?.remove(0);
                let config = SandboxConfig::new(tpp_ca, ServerIdentity::ephemeral()?).with_demo_client(qseal)?;
                let sandbox = Sandbox::start(config, "127.0.0.1:0".parse()?).await?;
                let url = format!("https://127.0.0.1:{}", sandbox.local_addr().port());
                let ca = sandbox.server_ca().cloned().into_iter().collect();
                println!("embedded sandbox on {url}");
                _embedded = Some(sandbox);
                (url, DEMO_CLIENT_ID.to_owned(), Secret::new(DEMO_CLIENT_SECRET), ca)
            }
        };
    let dir = format!("{test_certs}/rsa");
    let qwac = Identity::load(
        &format!("{dir}/qwac.key").parse()?,
        Some(&format!("{dir}/qwac-chain.pem").parse()?),
        &Secrets::none(),
    )?;
    let qseal = Identity::load(
        &format!("{dir}/qseal.key").parse()?,
        Some(&format!("{dir}/qseal-chain.pem").parse()?),
        &Secrets::none(),
    )?;
    let mut options =
        ClientOptions::new(Bank::Belfius, Environment::Custom(url), client_id, "https://tpp.example.com/callback")
            .with_client_secret(secret);
    // The sandbox's server CA is trusted only because it is named here.
    for c in server_ca {
        options = options.with_extra_root(c);
    }
    let client = Client::new(qwac, Some(qseal), options)?;

    // AIS.
    let pkce = Pkce::generate()?;
    let state = psd2_client::random_token(16)?;
    let uris = client.consent_uris(Scope::Ais, &pkce).await?;
    let consent = uris.first().ok_or("no consent URI")?;
    let code = client.psu_authorize(&consent.consent_uri, &state).await?;
    let ais = client.token_from_code(&code, pkce.verifier()).await?;
    println!("AIS token: scope {:?}, expires_in {:?}", ais.scope, ais.expires_in);
    let accounts = client.accounts(&ais.access_token).await?;
    for a in &accounts.accounts {
        let details = client.account(&ais.access_token, &a.logical_id).await?;
        let page = client.transactions(&ais.access_token, &a.logical_id, None, None, None, None).await?;
        println!(
            "  {} {:?} balance {:?}, {} transactions",
            a.logical_id,
            a.iban,
            details.balance,
            page.embedded.transactions.len()
        );
    }

    // History older than 90 days: the bank asks for SCA (a typed error with its action and URL);
    // the PSU's step gives an SCA token for that account, sent with the call again.
    if let Some(a) = accounts.accounts.first() {
        let from = "2026-01-01";
        match client.transactions(&ais.access_token, &a.logical_id, Some(from), None, None, None).await {
            Err(e) => match e.bank_error() {
                Some(psd2_client::BankErrorKind::ScaRequired { url: Some(url) }) => {
                    let sca_token = client.psu_sca_token(url, &state).await?;
                    let page = client
                        .transactions(&ais.access_token, &a.logical_id, Some(from), None, None, Some(&sca_token))
                        .await?;
                    println!("  since {from} (with an SCA token): {} transactions", page.embedded.transactions.len());
                }
                Some(kind) => println!("  the bank says: {} ({})", kind.advice(), kind.action()),
                None => return Err(e.into()),
            },
            Ok(page) => println!("  since {from}: {} transactions", page.embedded.transactions.len()),
        }
    }

    // PIS: sealed initiation, the PSU signs, the code becomes a PIS token.
    let mut payment = PaymentRequest::new("BE71096123456769", "Example Payee", Amount::new("12.34", "EUR"));
    payment.endtoend_identification = Some("example-1".into());
    let body = payment.to_body()?;
    let pkce = Pkce::generate()?;
    let init = client.initiate_payment(PaymentProduct::SepaCreditTransfers, body, PisAuth::Pkce(&pkce)).await?;
    let sca = init.sca_uri.as_deref().ok_or("no SCA URL")?;
    let code = client.psu_authorize(sca, &state).await?;
    let pis = client.token_from_code(&code, pkce.verifier()).await?;
    let status = client.payment_status(PaymentProduct::SepaCreditTransfers, &init.payment_id, None).await?;
    let details = client.payment(&pis.access_token, PaymentProduct::SepaCreditTransfers, &init.payment_id).await?;
    println!("payment {}: {} ({:?})", init.payment_id, status.payment_status, details.instructed_amount);

    // CAF.
    let pkce = Pkce::generate()?;
    let uris = client.consent_uris(Scope::Caf, &pkce).await?;
    let code = client.psu_authorize(&uris.first().ok_or("no consent URI")?.consent_uri, &state).await?;
    let caf = client.token_from_code(&code, pkce.verifier()).await?;
    let funds = client
        .funds_confirmation(&caf.access_token, &FundsRequest::new("BE68539007547034", Amount::new("12.34", "EUR")))
        .await?;
    println!("funds available for 12.34 EUR: {}", funds.funds_available);
    Ok(())
}
