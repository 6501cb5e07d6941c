//! The proxy in front of the embedded sandbox, in bank mode: curl as the internal caller (no
//! certificate), the proxy doing the mTLS with the QWAC and sealing PIS initiations with the
//! QSealC; and the refusals. Real TLS and real TCP on 127.0.0.1 throughout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use psd2_client::types::{Amount, FundsRequest, PaymentRequest};
use psd2_client::{Bank, BaseUrl, Client, ClientOptions, Environment, Pkce};
use psd2_eidas::{Identity, Role};
use psd2_proxy::{Error, Listener, Mode, Proxy, ProxyConfig, ProxyHandle, Route};
use psd2_sandbox::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Faults, Sandbox, SandboxHandle, ServerIdentity};
use psd2_test_support::certs::{certificate, identity, tpp_anchors};
use psd2_test_support::pki::issue_with_roles;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const REDIRECT: &str = "https://tpp.example.com/callback";

async fn sandbox() -> SandboxHandle {
    let config = psd2_sandbox::SandboxConfig::new(tpp_anchors(), ServerIdentity::ephemeral().unwrap())
        .with_demo_client(certificate("rsa", "qseal.pem"))
        .unwrap();
    Sandbox::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn config_for(sandbox: &SandboxHandle, qwac: Identity, qseal: Identity) -> Route {
    let upstream = BaseUrl::parse(&format!("https://127.0.0.1:{}", sandbox.local_addr().port())).unwrap();
    Route::new(upstream, Mode::Bank(Bank::Belfius), qwac)
        .with_qseal(qseal)
        .with_extra_root(sandbox.server_ca().unwrap().clone())
        .without_public_roots()
}

async fn proxy(config: Route) -> ProxyHandle {
    Proxy::start(ProxyConfig::new(Listener::plain("127.0.0.1:0".parse().unwrap())).with_route(config)).await.unwrap()
}

/// What curl got: status, headers (lower-case names), body.
struct Got {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// curl as the internal caller: plain HTTP, no certificate.
async fn curl(args: Vec<String>) -> Got {
    tokio::task::spawn_blocking(move || {
        let out = Command::new("curl").args(["-sS", "-i", "--max-time", "20"]).args(&args).output().unwrap();
        assert!(out.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let mut lines = head.lines();
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Got { status, headers, body: body.to_owned() }
    })
    .await
    .unwrap()
}

fn pkce_headers(pkce: &Pkce) -> Vec<String> {
    [
        format!("Client-ID: {DEMO_CLIENT_ID}"),
        format!("Redirect-URI: {REDIRECT}"),
        "Code-Challenge-Method: S256".into(),
        format!("Code-Challenge: {}", pkce.challenge()),
        "Accept-Language: en".into(),
    ]
    .into_iter()
    .flat_map(|h| ["-H".to_owned(), h])
    .collect()
}

fn url(p: &ProxyHandle, path: &str) -> String {
    format!("http://{}{path}", p.local_addr())
}

fn payment_body() -> Vec<u8> {
    let mut p = PaymentRequest::new("BE71096123456769", "Payee", Amount::new("1.00", "EUR"));
    p.endtoend_identification = Some("E2E-1".into());
    p.to_body().unwrap()
}

/// One raw HTTP/1.1 exchange (for what curl will not send as asked).
async fn raw(addr: SocketAddr, request: &str) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_through_the_proxy_reaches_the_sandbox() {
    let sandbox = sandbox().await;
    let p = proxy(config_for(&sandbox, identity("rsa", "qwac"), identity("rsa", "qseal"))).await;
    let pkce = Pkce::generate().unwrap();

    // (a) consent-uris: 200, Request-ID and Accept filled in by the proxy, nothing sealed.
    let mut args = pkce_headers(&pkce);
    args.push(url(&p, "/consent-uris?scope=AIS"));
    let got = curl(args).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.header("x-psd2-proxy-sealed"), Some("none"));
    assert!(got.header("response-id").is_some_and(|id| id.len() == 36), "{:?}", got.headers);
    assert!(got.json().to_string().contains("consent_uri"), "{}", got.body);

    // A Request-ID the caller gives is kept (the sandbox echoes it).
    let mut args = pkce_headers(&pkce);
    args.extend(["-H".into(), "Request-ID: 3c5b1a7e-0000-4000-8000-000000000001".into()]);
    args.push(url(&p, "/consent-uris?scope=AIS"));
    let got = curl(args).await;
    assert_eq!(got.header("response-id"), Some("3c5b1a7e-0000-4000-8000-000000000001"));

    // (c) a PIS initiation is sealed (belfius-pis, the QSealC's serial); the sandbox verifies
    // the seal and accepts it.
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("payment.json");
    std::fs::write(&body, payment_body()).unwrap();
    let mut args = pkce_headers(&pkce);
    args.extend(["-H".into(), "Content-Type: application/json".into()]);
    args.extend(["--data-binary".into(), format!("@{}", body.display())]);
    args.push(url(&p, "/payments/sepa-credit-transfers"));
    let got = curl(args).await;
    assert_eq!(got.status, 201, "{}", got.body);
    let serial = identity("rsa", "qseal").certificate().serial_hex();
    assert_eq!(got.header("x-psd2-proxy-sealed"), Some(format!("belfius-pis serial={serial}").as_str()));
    assert!(got.header("location").is_some(), "{:?}", got.headers);
    assert_eq!(sandbox.payment_ids().len(), 1);

    // The same body unsealed, straight from the sandbox's point of view, is what the seal
    // changes: a caller-supplied bogus Signature is replaced by the proxy's.
    let mut args = pkce_headers(&pkce);
    args.extend(["-H".into(), "Content-Type: application/json".into(), "-H".into(), "Signature: bogus".into()]);
    args.extend(["--data-binary".into(), format!("@{}", body.display())]);
    args.push(url(&p, "/payments/sepa-credit-transfers"));
    assert_eq!(curl(args).await.status, 201);

    // POST /v1/seal: the headers of `psd2-sign sign --format json`.
    let ask = serde_json::json!({
        "method": "POST",
        "url": format!("https://127.0.0.1:{}/payments/sepa-credit-transfers", sandbox.local_addr().port()),
        "headers": { "Content-Type": "application/json" },
        "body_base64": base64_encode(&payment_body()),
    });
    let got = curl(vec![
        "-H".into(),
        "Content-Type: application/json".into(),
        "--data-binary".into(),
        ask.to_string(),
        url(&p, "/v1/seal"),
    ])
    .await;
    assert_eq!(got.status, 200, "{}", got.body);
    let js = got.json();
    assert!(js["headers"]["signature"].as_str().is_some_and(|s| !s.is_empty()), "{js}");
    assert_eq!(js["headers"]["content-type"], "application/json");
    assert!(js["signing_string"].is_string(), "{js}");
    // An unsealed call is not sealed at /v1/seal either.
    let accounts = format!("https://127.0.0.1:{}/accounts", sandbox.local_addr().port());
    let ask = serde_json::json!({ "method": "GET", "url": accounts, "headers": {} });
    let got = curl(vec![
        "--data-binary".into(),
        ask.to_string(),
        "-H".into(),
        "Content-Type: application/json".into(),
        url(&p, "/v1/seal"),
    ])
    .await;
    assert_eq!((got.status, got.json()["error"].as_str()), (400, Some("invalid_request")), "{}", got.body);
    // Nor a URL outside every route's upstream: the proxy seals for its banks only.
    let ask = serde_json::json!({ "method": "POST", "url": "https://bank.example/payments/sepa-credit-transfers" });
    let got = curl(vec!["--data-binary".into(), ask.to_string(), url(&p, "/v1/seal")]).await;
    assert_eq!((got.status, got.json()["error"].as_str()), (404, Some("unknown_route")), "{}", got.body);

    p.shutdown().await.unwrap();
    sandbox.shutdown().await.unwrap();
}

/// The first string under a key `name`, anywhere in `v`.
fn find_str<'a>(v: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    match v {
        serde_json::Value::Object(m) => {
            m.get(name).and_then(|x| x.as_str()).or_else(|| m.values().find_map(|x| find_str(x, name)))
        }
        serde_json::Value::Array(a) => a.iter().find_map(|x| find_str(x, name)),
        _ => None,
    }
}

/// An access token of `scope`, the TPP backend's calls (consent-uris, token) through the proxy
/// with curl; the PSU's step (a browser at the bank, not the backend) straight to the sandbox.
async fn token_through_proxy(p: &ProxyHandle, psu: &Client, scope: &str) -> String {
    let pkce = Pkce::generate().unwrap();
    let mut args = pkce_headers(&pkce);
    args.push(url(p, &format!("/consent-uris?scope={scope}")));
    let got = curl(args).await;
    assert_eq!(got.status, 200, "{}", got.body);
    let consent_uri = find_str(&got.json(), "consent_uri").unwrap().to_owned();
    let code = psu.psu_authorize(&consent_uri, "st").await.unwrap();
    let got = curl(vec![
        "-u".into(),
        format!("{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}"),
        "-H".into(),
        "Accept-Language: en".into(),
        "--data-urlencode".into(),
        "grant_type=authorization_code".into(),
        "--data-urlencode".into(),
        format!("code={code}"),
        "--data-urlencode".into(),
        format!("redirect_uri={REDIRECT}"),
        "--data-urlencode".into(),
        format!("code_verifier={}", pkce.verifier()),
        url(p, "/token"),
    ])
    .await;
    assert_eq!(got.status, 200, "{}", got.body);
    got.json()["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ais_and_caf_flows_with_curl_through_the_proxy() {
    let sandbox = sandbox().await;
    let p = proxy(config_for(&sandbox, identity("rsa", "qwac"), identity("rsa", "qseal"))).await;
    let env = Environment::Custom(format!("https://127.0.0.1:{}", sandbox.local_addr().port()));
    let options = ClientOptions::new(Bank::Belfius, env, DEMO_CLIENT_ID, REDIRECT)
        .with_extra_root(sandbox.server_ca().unwrap().clone())
        .without_public_roots();
    let psu = Client::new(identity("rsa", "qwac"), None, options).unwrap();
    let bearer = |t: &str| vec!["-H".to_owned(), format!("Authorization: Bearer {t}")];
    let common = || -> Vec<String> {
        ["-H", &format!("Client-ID: {DEMO_CLIENT_ID}"), "-H", "Accept-Language: en"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };

    // AIS: the account list.
    let ais = token_through_proxy(&p, &psu, "AIS").await;
    let mut args = common();
    args.extend(bearer(&ais));
    args.push(url(&p, "/accounts"));
    let got = curl(args).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert!(got.body.contains("BE68539007547034"), "{}", got.body);
    assert_eq!(got.header("x-psd2-proxy-sealed"), Some("none"));

    // CAF: a funds confirmation.
    let caf = token_through_proxy(&p, &psu, "CAF").await;
    let request = FundsRequest::new("BE68539007547034", Amount::new("10.00", "EUR"));
    let mut args = common();
    args.extend(bearer(&caf));
    args.extend(["-H".into(), "Content-Type: application/json".into()]);
    args.extend(["--data-binary".into(), serde_json::to_string(&request).unwrap()]);
    args.push(url(&p, "/funds-confirmations"));
    let got = curl(args).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert!(got.json()["funds_available"].is_boolean(), "{}", got.body);

    p.shutdown().await.unwrap();
    sandbox.shutdown().await.unwrap();
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals() {
    let sandbox = sandbox().await;
    let config = config_for(&sandbox, identity("rsa", "qwac"), identity("rsa", "qseal")).with_max_body(1024);
    let p = proxy(config).await;

    // Unknown route: 404 JSON, before any upstream I/O.
    let got = curl(vec![url(&p, "/admin")]).await;
    assert_eq!((got.status, got.json()["error"].as_str()), (404, Some("unknown_route")), "{}", got.body);

    // CONNECT and an absolute-URI request target: 400 JSON (no open proxy).
    let out =
        raw(p.local_addr(), "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n")
            .await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.contains("connect_refused"), "{out}");
    let out = raw(
        p.local_addr(),
        "GET http://example.com/accounts HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.contains("absolute_uri_refused"), "{out}");

    // A body over the limit: 413 JSON.
    let pkce = Pkce::generate().unwrap();
    let mut args = pkce_headers(&pkce);
    args.extend(["--data-binary".into(), "x".repeat(2048), url(&p, "/payments/sepa-credit-transfers")]);
    let got = curl(args).await;
    assert_eq!((got.status, got.json()["error"].as_str()), (413, Some("body_too_large")), "{}", got.body);

    // A QWAC lacking PSP_PI: 403 naming the role, and the upstream is never contacted (it is
    // a port where nothing listens: a contact would be a 502).
    let dir = tempfile::tempdir().unwrap();
    let (qwac, qseal) = issue_with_roles(&dir.path().join("ca"), &[Role::AccountInformation]);
    let dead = dead_port();
    let upstream = BaseUrl::parse(&format!("https://127.0.0.1:{dead}")).unwrap();
    let ai_only = proxy(Route::new(upstream, Mode::Bank(Bank::Belfius), qwac).with_qseal(qseal)).await;
    let mut args = pkce_headers(&pkce);
    args.extend(["--data-binary".into(), "{}".into(), url(&ai_only, "/payments/sepa-credit-transfers")]);
    let got = curl(args).await;
    assert_eq!(got.status, 403, "{}", got.body);
    let js = got.json();
    assert_eq!((js["error"].as_str(), js["role"].as_str()), (Some("role_missing"), Some("PSP_PI")), "{js}");

    // The same proxy for a call its QWAC may make: the upstream is down, 502 naming it.
    let got = curl(vec![url(&ai_only, "/accounts")]).await;
    assert_eq!(got.status, 502, "{}", got.body);
    let js = got.json();
    assert_eq!(js["error"], "upstream_unreachable", "{js}");
    assert_eq!(js["upstream"], format!("https://127.0.0.1:{dead}/accounts"), "{js}");
    assert!(js["cause"].as_str().is_some_and(|c| !c.is_empty()), "{js}");

    ai_only.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
    sandbox.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_upstream_is_a_504() {
    let sandbox = sandbox().await;
    // The sandbox holds every answer for 3 s; the proxy waits 300 ms.
    sandbox.set_faults(Faults { delay: Duration::from_secs(3), ..Faults::none() });
    let config = config_for(&sandbox, identity("rsa", "qwac"), identity("rsa", "qseal"))
        .with_timeouts(Duration::from_secs(5), Duration::from_millis(300));
    let p = proxy(config).await;
    let mut args = pkce_headers(&Pkce::generate().unwrap());
    args.push(url(&p, "/consent-uris?scope=AIS"));
    let got = curl(args).await;
    assert_eq!(got.status, 504, "{}", got.body);
    let js = got.json();
    assert_eq!(js["error"], "upstream_timeout", "{js}");
    assert_eq!(js["upstream"], format!("https://127.0.0.1:{}/consent-uris", sandbox.local_addr().port()), "{js}");
    p.shutdown().await.unwrap();
    sandbox.set_faults(Faults::none());
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_non_loopback_listener_is_refused() {
    let config =
        Route::new(BaseUrl::parse("https://127.0.0.1:1").unwrap(), Mode::Bank(Bank::Belfius), identity("rsa", "qwac"));
    let e = Proxy::start(ProxyConfig::new(Listener::plain("0.0.0.0:0".parse().unwrap())).with_route(config))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotLoopback { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("0.0.0.0:0") && msg.contains("client-certificate"), "{msg}");
}

#[tokio::test]
async fn profile_mode_needs_a_qseal() {
    let profile = psd2_httpsig::profile::Profile::by_name("berlin-group").unwrap();
    let config =
        Route::new(BaseUrl::parse("https://127.0.0.1:1").unwrap(), Mode::Profile(profile), identity("rsa", "qwac"));
    let e = Proxy::start(ProxyConfig::new(Listener::plain("127.0.0.1:0".parse().unwrap())).with_route(config))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("QSealC"), "{e}");
}

/// A port where nothing listens.
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
