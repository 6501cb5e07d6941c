//! The library bank client pointed at `psd2-sign proxy` (`Client::through_proxy`), both servers
//! run as CLI processes: `psd2-sign sandbox`, and the proxy holding the QWAC and QSealC in front
//! of it. The client holds no certificate: the whole AIS + PIS + CAF flow goes through the proxy
//! (the PSU's step, a browser at the bank, straight to the sandbox); the proxy's role gate
//! surfaces as `Error::Proxy`; plain http to anything but loopback is refused.

use std::path::Path;
use std::process::Child;

use psd2_client::types::{Amount, FundsRequest, PaymentRequest};
use psd2_client::{
    Bank, Client, ClientOptions, Environment, Error, PaymentProduct, PisAuth, Pkce, ProxyEndpoint, Scope,
};
use psd2_eidas::{Identity, Secret, Secrets, load};
use psd2_sandbox::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};

use crate::cli_proxy::{port_after, proxy_command, root};
use crate::util::{bin, run, spawn_server, stderr};

const REDIRECT: &str = "https://tpp.example.com/callback";

/// A server process, killed when the test ends (also when it fails).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `psd2-sign sandbox` on a free port, its server CA written to `server_ca`.
fn sandbox(server_ca: &Path) -> (Server, u16) {
    let mut cmd = bin();
    cmd.args(["sandbox", "--listen", "127.0.0.1:0", "--test-certs"]).arg(root().join("test-certs"));
    cmd.arg("--server-ca-out").arg(server_ca);
    let (child, _out, lines) = spawn_server(cmd, "sandbox");
    (Server(child), port_after(&lines, "sandbox bank listening on https://127.0.0.1:"))
}

/// `psd2-sign proxy --bank belfius` in front of the sandbox at `port`, with this QWAC and QSealC
/// (file prefixes).
fn proxy(port: u16, server_ca: &Path, qwac: &Path, qseal: &Path) -> (Server, u16) {
    let env = format!("https://127.0.0.1:{port}");
    let (child, _out, lines) =
        spawn_server(proxy_command(&["--bank", "belfius"], &env, qwac, qseal, server_ca), "proxy");
    (Server(child), port_after(&lines, "proxy listening on http://127.0.0.1:"))
}

/// The TPP backend: no certificate, every call through the proxy.
fn through(proxy_port: u16) -> Client {
    let endpoint = ProxyEndpoint::parse(&format!("http://127.0.0.1:{proxy_port}")).unwrap();
    // The environment is the proxy's business: Live here is never contacted.
    let options = ClientOptions::new(Bank::Belfius, Environment::Live, DEMO_CLIENT_ID, REDIRECT)
        .with_client_secret(Secret::new(DEMO_CLIENT_SECRET))
        .without_public_roots();
    Client::through_proxy(endpoint, options).unwrap()
}

/// The PSU's browser at the bank: the sandbox's PSU page wants the QWAC in mTLS.
fn psu(sandbox_port: u16, server_ca: &Path) -> Client {
    let rsa = root().join("test-certs/rsa");
    let qwac = Identity::load(
        &rsa.join("qwac.key").to_str().unwrap().parse().unwrap(),
        Some(&rsa.join("qwac-chain.pem").to_str().unwrap().parse().unwrap()),
        &Secrets::none(),
    )
    .unwrap();
    let env = Environment::Custom(format!("https://127.0.0.1:{sandbox_port}"));
    let mut options = ClientOptions::new(Bank::Belfius, env, DEMO_CLIENT_ID, REDIRECT).without_public_roots();
    for ca in load::load_certificates(server_ca, None).unwrap() {
        options = options.with_extra_root(ca);
    }
    Client::new(qwac, None, options).unwrap()
}

/// Consent through the proxy, the PSU's step at the sandbox, the token through the proxy.
async fn token(client: &Client, psu: &Client, scope: Scope) -> String {
    let pkce = Pkce::generate().unwrap();
    let uris = client.consent_uris(scope, &pkce).await.unwrap();
    let code = psu.psu_authorize(&uris[0].consent_uri, "st").await.unwrap();
    client.token_from_code(&code, pkce.verifier()).await.unwrap().access_token
}

fn payment() -> Vec<u8> {
    let mut p = PaymentRequest::new("BE71096123456769", "Payee", Amount::new("12.34", "EUR"));
    p.endtoend_identification = Some("E2E-PROXY-1".into());
    p.to_body().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bank_client_runs_ais_pis_and_caf_through_the_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = dir.path().join("server-ca.pem");
    let (_sandbox, sandbox_port) = sandbox(&server_ca);
    let rsa = root().join("test-certs/rsa");
    let (_proxy, proxy_port) = proxy(sandbox_port, &server_ca, &rsa.join("qwac"), &rsa.join("qseal"));
    let client = through(proxy_port);
    let psu = psu(sandbox_port, &server_ca);
    assert_eq!(client.base_url().to_string(), format!("http://127.0.0.1:{proxy_port}"));

    // AIS: consent, token, accounts, an account's balance, its transactions.
    let ais = token(&client, &psu, Scope::Ais).await;
    let accounts = client.accounts(&ais).await.unwrap();
    let account = accounts.accounts.iter().find(|a| a.iban.as_deref() == Some("BE68539007547034")).unwrap();
    let details = client.account(&ais, &account.logical_id).await.unwrap();
    assert!(details.balance.is_some(), "{details:?}");
    let page = client.transactions(&ais, &account.logical_id, None, None, None, None).await.unwrap();
    assert!(!page.embedded.transactions.is_empty());

    // PIS: the initiation leaves unsealed and the proxy seals it (the sandbox verifies the
    // seal against the demo client's registered QSealC, and answers 201); SCA, token, status.
    let pkce = Pkce::generate().unwrap();
    let init =
        client.initiate_payment(PaymentProduct::SepaCreditTransfers, payment(), PisAuth::Pkce(&pkce)).await.unwrap();
    let sca = init.sca_uri.as_deref().unwrap();
    let code = psu.psu_authorize(sca, "st").await.unwrap();
    let pis = client.token_from_code(&code, pkce.verifier()).await.unwrap();
    let status = client.payment_status(PaymentProduct::SepaCreditTransfers, &init.payment_id, None).await.unwrap();
    assert!(!status.payment_status.is_empty());
    let paid = client.payment(&pis.access_token, PaymentProduct::SepaCreditTransfers, &init.payment_id).await.unwrap();
    assert!(format!("{paid:?}").contains("12.34"), "{paid:?}");
    // The PSU's step is not the backend's: the proxied client says so instead of trying.
    let e = client.psu_authorize(sca, "st").await.unwrap_err();
    assert!(matches!(e, Error::Missing { .. }) && e.to_string().contains("eIDAS proxy"), "{e}");

    // CAF: consent, token, a funds confirmation.
    let caf = token(&client, &psu, Scope::Caf).await;
    let request = FundsRequest::new("BE68539007547034", Amount::new("10.00", "EUR"));
    let funds = client.funds_confirmation(&caf, &request).await.unwrap();
    assert!(funds.funds_available);

    // A bank error through the proxy is still the bank's, recognised as such.
    let e = client.accounts("not-a-token").await.unwrap_err();
    assert!(e.bank_error().is_some(), "{e}");
}

/// A proxy whose QWAC and QSealC have PSP_AI only: the payment initiation is refused by the
/// proxy's gate (403 before any upstream I/O) and the client says so, as a missing role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxys_role_gate_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    let ca = ca.to_str().unwrap();
    let ok = |args: &[&str]| {
        let out = run(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    };
    ok(&["ca", "init", "--dir", ca]);
    let ais_only = |kind: &str| {
        let out = dir.path().join(kind);
        let mut args = vec!["ca", "issue", "--dir", ca, "--type", kind, "--org", "Example TPP NV"];
        args.extend(["--org-id", "PSDBE-NBB-0999.888.777", "--roles", "PSP_AI"]);
        args.extend(["--nca-name", "National Bank of Belgium", "--nca-id", "BE-NBB"]);
        if kind == "qwac" {
            args.extend(["--domain", "tpp.example.com", "--locality", "Brussels"]);
        }
        let out_s = out.to_str().unwrap().to_owned();
        args.extend(["--out", &out_s]);
        ok(&args);
        out
    };
    let (qwac, qseal) = (ais_only("qwac"), ais_only("qseal"));
    // The upstream is never contacted: a port where nothing listens, and no server CA.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server_ca = root().join("test-certs/rsa/ca.pem");
    let (_proxy, proxy_port) = proxy(dead, &server_ca, &qwac, &qseal);
    let client = through(proxy_port);

    let pkce = Pkce::generate().unwrap();
    let e = client
        .initiate_payment(PaymentProduct::SepaCreditTransfers, payment(), PisAuth::Pkce(&pkce))
        .await
        .unwrap_err();
    assert!(e.is_role_missing(), "{e}");
    assert!(matches!(&e, Error::Proxy { status: 403, code, .. } if code == "role_missing"), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("PSP_PI") && text.contains("nothing was sent to the bank"), "{text}");
    assert!(e.bank_error().is_none());
}

#[test]
fn plain_http_to_a_non_loopback_proxy_is_refused() {
    for url in ["http://192.0.2.10:8080", "http://proxy.internal:8080/belfius", "http://localhost:8080"] {
        let e = ProxyEndpoint::parse(url).unwrap_err().to_string();
        assert!(e.contains(url) && e.contains("plain http is refused except to a loopback"), "{e}");
    }
    ProxyEndpoint::parse("https://proxy.internal:8443/belfius").unwrap();
    ProxyEndpoint::parse("http://[::1]:8080").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_goes_through_the_proxy_without_keys() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = dir.path().join("server-ca.pem");
    let (_sandbox, sandbox_port) = sandbox(&server_ca);
    let rsa = root().join("test-certs/rsa");
    let (_proxy, proxy_port) = proxy(sandbox_port, &server_ca, &rsa.join("qwac"), &rsa.join("qseal"));
    let secret = dir.path().join("secret");
    std::fs::write(&secret, DEMO_CLIENT_SECRET).unwrap();
    let tokens = dir.path().join("tokens.json");
    let proxy_url = format!("http://127.0.0.1:{proxy_port}");
    let send = |extra: &[&str], op: &[&str]| {
        let mut cmd = bin();
        cmd.args(["send", "--bank", "belfius", "--proxy", &proxy_url, "--client-id", DEMO_CLIENT_ID]);
        cmd.args(["--redirect-uri", REDIRECT]).arg("--client-secret-file").arg(&secret);
        cmd.arg("--token-file").arg(&tokens).args(extra).args(op);
        cmd.output().unwrap()
    };
    let json = |o: &std::process::Output| -> serde_json::Value {
        assert!(o.status.success(), "{}", stderr(o));
        serde_json::from_slice(&o.stdout).unwrap()
    };

    // CAF with no key on this side: consent, the PSU's step at the bank, token, funds.
    let v = json(&send(&[], &["consent", "--scope", "CAF"]));
    let state = v["state"].as_str().unwrap().to_owned();
    let consent_uri = v["consent_uris"][0]["consent_uri"].as_str().unwrap().to_owned();
    let code = psu(sandbox_port, &server_ca).psu_authorize(&consent_uri, &state).await.unwrap();
    let callback = format!("{REDIRECT}?code={code}&state={state}");
    assert_eq!(json(&send(&[], &["token", "--callback", &callback]))["scope"], "CAF");
    let v = json(&send(&[], &["funds", "--iban", "BE68539007547034", "--amount", "12.34"]));
    assert_eq!(v["funds_available"], true);

    // Refused before any I/O, each in one line (exit 2).
    let one_line = |o: std::process::Output, needle: &str| {
        let err = stderr(&o);
        assert_eq!((o.status.code(), err.trim_end().lines().count()), (Some(2), 1), "{err}");
        assert!(err.contains(needle), "{needle}: {err}");
    };
    one_line(send(&["--sca", "auto"], &["consent"]), "through --proxy use --sca manual");
    let mut cmd = bin();
    cmd.args(["send", "--bank", "belfius", "--proxy", "http://10.1.2.3:8080", "--client-id", "x", "consent"]);
    one_line(cmd.output().unwrap(), "loopback");
    // Keys and a proxy together: clap's usage error.
    let o = send(&["--qwac-key", "k.pem"], &["consent"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("'--proxy <URL>' cannot be used with '--qwac-key <KEY>'"), "{}", stderr(&o));
}
