//! A Rust caller doing consent → token → accounts with `psd2_client::session`, the way a TPP
//! backend keeps its OAuth state between requests: the PKCE verifier and `state` wait in a
//! session file (0600) while the PSU consents; the redirect's code and state complete it.
//! Runs offline against the embedded sandbox bank, with the committed test QWAC.
//!
//! ```sh
//! cargo run --example session_flow
//! ```
#![allow(clippy::print_stdout, reason = "an example prints what it did")]

use psd2_client::session::{self, Session};
use psd2_client::{Bank, Client, ClientOptions, Environment, Scope};
use psd2_eidas::{Identity, Secret, Secrets, load};
use psd2_sandbox::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Sandbox, SandboxConfig, ServerIdentity};

const REDIRECT: &str = "https://tpp.example.com/callback";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let certs = concat!(env!("CARGO_MANIFEST_DIR"), "/test-certs/rsa");
    // The bank: the embedded sandbox, trusting the test TPP root, knowing the demo client.
    let tpp_ca = load::load_certificates(format!("{certs}/ca.pem").as_ref(), None)?;
    let qseal = load::load_certificates(format!("{certs}/qseal.pem").as_ref(), None)?.remove(0);
    let config = SandboxConfig::new(tpp_ca, ServerIdentity::ephemeral()?).with_demo_client(qseal)?;
    let bank = Sandbox::start(config, "127.0.0.1:0".parse()?).await?;
    let url = format!("https://127.0.0.1:{}", bank.local_addr().port());

    // The TPP: its QWAC for mTLS; the sandbox's server CA trusted by name only.
    let qwac = Identity::load(
        &format!("{certs}/qwac.key").parse()?,
        Some(&format!("{certs}/qwac-chain.pem").parse()?),
        &Secrets::none(),
    )?;
    let server_ca = bank.server_ca().cloned().ok_or("the sandbox has no server CA")?;
    let options = ClientOptions::new(Bank::Belfius, Environment::Custom(url), DEMO_CLIENT_ID, REDIRECT)
        .with_client_secret(Secret::new(DEMO_CLIENT_SECRET))
        .with_extra_root(server_ca)
        .without_public_roots();
    let client = Client::new(qwac, None, options)?;

    // Request 1: start the consent; the session file keeps the verifier and state.
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("session.json");
    let mut s = Session::load(&file)?;
    s.bind(&client);
    let (pkce, state) = s.start(Scope::Ais)?;
    let uris = client.consent_uris(Scope::Ais, &pkce).await?;
    let consent = uris.first().ok_or("no consent URI")?;
    s.save(&file)?;
    println!("send the PSU to {}", session::sca_url(&consent.consent_uri, &state));

    // The PSU consents (the sandbox's automated step stands in for the browser) and the bank
    // redirects to REDIRECT?code=…&state=….
    let code = client.psu_authorize(&consent.consent_uri, &state).await?;
    let redirect = format!("{REDIRECT}?code={code}&state={state}");

    // Request 2: the redirect arrives; a fresh process loads the session and completes it.
    let mut s = Session::load(&file)?;
    let callback = session::parse_callback(&redirect)?;
    let token = s.complete(&client, &callback.code, callback.state.as_deref()).await?;
    println!("AIS token: scope {:?}, expires in {:?} s", token.scope, token.expires_in);
    s.save(&file)?;

    // Request 3: any later call reads the token from the session.
    let s = Session::load(&file)?;
    let access = s.access_token(Scope::Ais).ok_or("no AIS token")?;
    for a in client.accounts(access).await?.accounts {
        println!("  account {} {:?}", a.logical_id, a.iban);
    }
    bank.shutdown().await?;
    Ok(())
}
