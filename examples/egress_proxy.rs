//! The eIDAS egress proxy from Rust: the embedded sandbox as the bank, and a proxy in front of it
//! configured from TOML (a Belfius route at `/belfius` with the committed test QWAC and QSealC).
//! A plain HTTP caller, holding no certificate, asks for a consent URL through it; then the
//! example prints `/healthz` and a few `/metrics` lines and drains.
//!
//! ```sh
//! cargo run --example egress_proxy
//! ```
//!
//! In production the same [`psd2_proxy::ConfigFile`] names PKCS#11 keys, TLS listeners and the
//! live banks; `psd2-sign proxy --config FILE` runs it (docs/deploy.md).
#![allow(clippy::print_stdout, reason = "an example prints what it did")]

use psd2_client::Pkce;
use psd2_eidas::{Secrets, load};
use psd2_proxy::{ConfigFile, Proxy};
use psd2_sandbox::{DEMO_CLIENT_ID, Sandbox, SandboxConfig, ServerIdentity};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let test_certs = concat!(env!("CARGO_MANIFEST_DIR"), "/test-certs/rsa");
    // The bank: trusts the test TPP root, knows the demo client's QSealC.
    let tpp_ca = load::load_certificates(format!("{test_certs}/ca.pem").as_ref(), None)?;
    let qseal = load::load_certificates(format!("{test_certs}/qseal.pem").as_ref(), None)?.remove(0);
    let bank = Sandbox::start(
        SandboxConfig::new(tpp_ca, ServerIdentity::ephemeral()?).with_demo_client(qseal)?,
        "127.0.0.1:0".parse()?,
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let server_ca = dir.path().join("bank-server-ca.pem");
    std::fs::write(&server_ca, bank.server_ca().ok_or("the sandbox has no server CA")?.to_pem())?;

    // The proxy's configuration, as an operator writes it.
    let toml = format!(
        r#"
[[listener]]
address = "127.0.0.1:0"

[identity.qwac]
key = "{test_certs}/qwac.key"
certificate = "{test_certs}/qwac-chain.pem"

[identity.qseal]
key = "{test_certs}/qseal.key"
certificate = "{test_certs}/qseal-chain.pem"

[[route]]
name = "belfius"
prefix = "/belfius"
bank = "belfius"
upstream = "https://127.0.0.1:{port}"
qwac = "qwac"
qseal = "qseal"
ca = ["bank-server-ca.pem"]
public_roots = false
"#,
        port = bank.local_addr().port()
    );
    let file = ConfigFile::parse(&toml, &dir.path().join("proxy.toml"))?;
    let proxy = Proxy::start(file.load(&Secrets::none())?).await?;
    let base = format!("http://{}", proxy.local_addr());
    println!("proxy on {base}, bank on https://{}", bank.local_addr());

    // Any backend: plain HTTP to the proxy, no certificate.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let http = reqwest::Client::new();
    let pkce = Pkce::generate()?;
    let resp = http
        .get(format!("{base}/belfius/consent-uris?scope=AIS"))
        .header("Client-ID", DEMO_CLIENT_ID)
        .header("Redirect-URI", "https://tpp.example.com/callback")
        .header("Code-Challenge-Method", "S256")
        .header("Code-Challenge", pkce.challenge())
        .header("Accept-Language", "en")
        .send()
        .await?;
    println!("consent-uris: HTTP {} (sealed: {:?})", resp.status(), resp.headers().get(psd2_proxy::SEALED_HEADER));
    println!("{}", resp.text().await?);
    println!("healthz: {}", http.get(format!("{base}/healthz")).send().await?.text().await?);
    for line in proxy.metrics().lines().filter(|l| l.starts_with("psd2_proxy_requests_total")) {
        println!("{line}");
    }
    proxy.shutdown().await?;
    bank.shutdown().await?;
    Ok(())
}
