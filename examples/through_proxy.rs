//! The bank client through an eIDAS egress proxy (`psd2-sign proxy`): this process holds no QWAC
//! and no QSealC; the proxy does the mTLS with the bank, seals the payment initiation and runs
//! the role gate. It needs a running proxy, e.g. in front of the embedded sandbox:
//!
//! ```sh
//! psd2-sign sandbox --listen 127.0.0.1:8443 --server-ca-out /tmp/server-ca.pem &
//! psd2-sign proxy --listen 127.0.0.1:8080 --bank belfius --env https://127.0.0.1:8443 \
//!   --qwac test-certs/rsa/qwac-chain.pem --qwac-key test-certs/rsa/qwac.key \
//!   --qseal test-certs/rsa/qseal-chain.pem --qseal-key test-certs/rsa/qseal.key --ca /tmp/server-ca.pem &
//! PSD2_PROXY_URL=http://127.0.0.1:8080 cargo run --example through_proxy
//! # an https proxy: PSD2_PROXY_CA=internal-ca.pem PSD2_PROXY_CERT=caller-chain.pem PSD2_PROXY_KEY=caller.key
//! ```
//!
//! It asks for the AIS consent URL (the PSU opens it), lists the accounts and balances when
//! `PSD2_AIS_TOKEN` holds an access token, and initiates a payment the proxy seals.
#![allow(clippy::print_stdout, reason = "an example prints what it did")]

use psd2_client::types::{Amount, PaymentRequest};
use psd2_client::{Bank, Client, ClientOptions, Environment, PaymentProduct, PisAuth, Pkce, ProxyEndpoint, Scope};
use psd2_eidas::{Identity, Secret, Secrets, load};
use psd2_sandbox::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("PSD2_PROXY_URL")
        .map_err(|_| "set PSD2_PROXY_URL to a running psd2-sign proxy (see the example's header)")?;
    let mut proxy = ProxyEndpoint::parse(&url)?;
    if let Ok(ca) = std::env::var("PSD2_PROXY_CA") {
        for c in load::load_certificates(ca.as_ref(), None)? {
            proxy = proxy.with_extra_root(c);
        }
    }
    if let (Ok(cert), Ok(key)) = (std::env::var("PSD2_PROXY_CERT"), std::env::var("PSD2_PROXY_KEY")) {
        proxy = proxy.with_client_identity(Identity::load(&key.parse()?, Some(&cert.parse()?), &Secrets::none())?);
    }
    let client_id = std::env::var("PSD2_CLIENT_ID").unwrap_or_else(|_| DEMO_CLIENT_ID.to_owned());
    let secret = Secret::from_env("PSD2_SIGN_CLIENT_SECRET").unwrap_or_else(|| Secret::new(DEMO_CLIENT_SECRET));
    // The environment is the proxy's route's business; the bank decides the call table.
    let options = ClientOptions::new(Bank::Belfius, Environment::Live, client_id, "https://tpp.example.com/callback")
        .with_client_secret(secret);
    let client = Client::through_proxy(proxy, options)?;

    let pkce = Pkce::generate()?;
    let uris = client.consent_uris(Scope::Ais, &pkce).await?;
    for u in &uris {
        println!("AIS consent ({}): {}", u.language, u.consent_uri);
    }
    if let Ok(token) = std::env::var("PSD2_AIS_TOKEN") {
        for a in client.accounts(&token).await?.accounts {
            let details = client.account(&token, &a.logical_id).await?;
            println!("  {} {:?}: balance {:?}", a.logical_id, a.iban, details.balance);
        }
    }

    let mut payment = PaymentRequest::new("BE71096123456769", "Example Payee", Amount::new("12.34", "EUR"));
    payment.endtoend_identification = Some("through-proxy-1".into());
    let pkce = Pkce::generate()?;
    let init =
        client.initiate_payment(PaymentProduct::SepaCreditTransfers, payment.to_body()?, PisAuth::Pkce(&pkce)).await?;
    let status = client.payment_status(PaymentProduct::SepaCreditTransfers, &init.payment_id, None).await?;
    println!(
        "payment {} sealed by the proxy: {}; the PSU signs at {:?}",
        init.payment_id, status.payment_status, init.sca_uri
    );
    Ok(())
}
