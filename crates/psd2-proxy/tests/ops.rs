//! The proxy as operated: a TLS listener that authenticates internal callers by client
//! certificate (curl as the caller), several routes, `/healthz`, `/metrics`, the concurrency
//! limit, and the drain on shutdown. The embedded sandbox is the bank; real TLS on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use psd2_client::{Bank, BaseUrl, Pkce};
use psd2_eidas::{Identity, KeyRef, Secrets};
use psd2_proxy::{Listener, Mode, Proxy, ProxyConfig, Route};
use psd2_sandbox::{DEMO_CLIENT_ID, Faults, Sandbox, SandboxHandle, ServerIdentity};
use psd2_test_support::certs::{certificate, identity, tpp_anchors};

async fn sandbox() -> SandboxHandle {
    let config = psd2_sandbox::SandboxConfig::new(tpp_anchors(), ServerIdentity::ephemeral().unwrap())
        .with_demo_client(certificate("rsa", "qseal.pem"))
        .unwrap();
    Sandbox::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn bank_route(sandbox: &SandboxHandle) -> Route {
    let upstream = BaseUrl::parse(&format!("https://127.0.0.1:{}", sandbox.local_addr().port())).unwrap();
    Route::new(upstream, Mode::Bank(Bank::Belfius), identity("rsa", "qwac"))
        .with_qseal(identity("rsa", "qseal"))
        .with_extra_root(sandbox.server_ca().unwrap().clone())
        .without_public_roots()
}

fn plain() -> Listener {
    Listener::plain("127.0.0.1:0".parse().unwrap())
}

/// The headers of a consent-uris call the sandbox accepts.
fn consent_headers() -> Vec<(String, String)> {
    let pkce = Pkce::generate().unwrap();
    vec![
        ("Client-ID".into(), DEMO_CLIENT_ID.into()),
        ("Redirect-URI".into(), "https://tpp.example.com/callback".into()),
        ("Code-Challenge-Method".into(), "S256".into()),
        ("Code-Challenge".into(), pkce.challenge().to_owned()),
        ("Accept-Language".into(), "en".into()),
        // Given, so that a profile route (which knows no call table) sends them too.
        ("Request-ID".into(), uuid_like()),
        (
            "Accept".into(),
            format!(
                "application/vnd.belfius.api+json; version={}",
                psd2_client::Call::ConsentUris.spec().accept_version.unwrap()
            ),
        ),
    ]
}

fn uuid_like() -> String {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("00000000-0000-4000-8000-{:012x}", n % (1 << 48))
}

fn http() -> reqwest::Client {
    // The callers speak plain HTTP; reqwest (built without a TLS provider) still wants one.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::new()
}

async fn consent(http: &reqwest::Client, base: &str) -> reqwest::Response {
    let mut req = http.get(format!("{base}/consent-uris?scope=AIS"));
    for (n, v) in consent_headers() {
        req = req.header(n, v);
    }
    req.send().await.unwrap()
}

/// curl over TLS to the proxy, with `client` (a name in `pki`: NAME.pem/NAME.key) or none;
/// returns (curl's exit status, HTTP status, body).
async fn curl_tls(pki: &Path, port: u16, client: Option<&str>, path: &str) -> (i32, u16, String) {
    let (pki, client, path) = (pki.to_owned(), client.map(str::to_owned), path.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut c = Command::new("curl");
        c.args(["-sS", "--max-time", "20", "-w", "\n%{http_code}", "--cacert"]).arg(pki.join("internal-ca.pem"));
        if let Some(name) = &client {
            c.arg("--cert").arg(pki.join(format!("{name}.pem"))).arg("--key").arg(pki.join(format!("{name}.key")));
        }
        for (n, v) in consent_headers() {
            c.arg("-H").arg(format!("{n}: {v}"));
        }
        let out = c.arg(format!("https://127.0.0.1:{port}{path}")).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (out.status.code().unwrap_or(-1), code.trim().parse().unwrap_or(0), body.to_owned())
    })
    .await
    .unwrap()
}

async fn json(r: reqwest::Response) -> serde_json::Value {
    serde_json::from_str(&r.text().await.unwrap()).unwrap()
}

fn load(pki: &Path, name: &str) -> Identity {
    let key: KeyRef = pki.join(format!("{name}.key")).display().to_string().parse().unwrap();
    let cert: KeyRef = pki.join(format!("{name}.pem")).display().to_string().parse().unwrap();
    Identity::load(&key, Some(&cert), &Secrets::none()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_listener_serves_only_callers_of_the_internal_ca() {
    let dir = tempfile::tempdir().unwrap();
    psd2_test_support::fixtures::internal_pki(dir.path());
    let sandbox = sandbox().await;
    let internal_ca = psd2_eidas::load::load_certificates(&dir.path().join("internal-ca.pem"), None).unwrap();
    // Any address may take a TLS listener with client authentication; 0.0.0.0 included.
    let tls = Listener::tls("0.0.0.0:0".parse().unwrap(), load(dir.path(), "proxy"), internal_ca);
    let config = ProxyConfig::new(tls).with_route(bank_route(&sandbox).at("/belfius"));
    let proxy = Proxy::start(config).await.unwrap();
    let port = proxy.local_addr().port();

    // A caller with a certificate of the internal CA is served.
    let (code, status, body) = curl_tls(dir.path(), port, Some("caller"), "/belfius/consent-uris?scope=AIS").await;
    assert_eq!((code, status), (0, 200), "{body}");
    assert!(body.contains("consent_uri") || body.contains("http"), "{body}");
    // Without a client certificate, or with one of another CA: the handshake fails, nothing
    // reaches a route (curl exit 56: the proxy's alert; 35: handshake failure).
    for client in [None, Some("stranger")] {
        let (code, status, body) = curl_tls(dir.path(), port, client, "/belfius/consent-uris?scope=AIS").await;
        assert!(code != 0 && status == 0, "{client:?}: exit {code}, HTTP {status}: {body}");
    }
    let metrics = proxy.metrics();
    assert!(metrics.contains(r#"psd2_proxy_requests_total{route="/belfius",status="200"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"certificate="listener""#), "{metrics}");
    proxy.shutdown().await.unwrap();

    // TLS without a client CA is refused at start.
    let no_ca = Listener::tls("0.0.0.0:0".parse().unwrap(), load(dir.path(), "proxy"), Vec::new());
    let e = Proxy::start(ProxyConfig::new(no_ca).with_route(bank_route(&sandbox))).await.unwrap_err();
    assert!(e.to_string().contains("client CA"), "{e}");
    sandbox.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_health_and_metrics() {
    let sandbox = sandbox().await;
    let bg = Route::new(
        BaseUrl::parse(&format!("https://127.0.0.1:{}", sandbox.local_addr().port())).unwrap(),
        Mode::Profile(psd2_httpsig::profile::Profile::by_name("berlin-group").unwrap()),
        identity("rsa", "qwac"),
    )
    .with_qseal(identity("rsa", "qseal"))
    .with_extra_root(sandbox.server_ca().unwrap().clone())
    .without_public_roots()
    .at("/bg")
    .named("berlin");
    let config = ProxyConfig::new(plain()).with_route(bank_route(&sandbox).at("/belfius")).with_route(bg);
    let proxy = Proxy::start(config).await.unwrap();
    let base = format!("http://{}", proxy.local_addr());
    let http = http();

    // Each prefix goes to its route, with its own rule: bank mode leaves consent-uris unsealed,
    // the Berlin Group route seals every request.
    let r = consent(&http, &format!("{base}/belfius")).await;
    assert_eq!((r.status().as_u16(), r.headers()["x-psd2-proxy-sealed"].to_str().unwrap()), (200, "none"));
    let r = consent(&http, &format!("{base}/bg")).await;
    let sealed = r.headers()["x-psd2-proxy-sealed"].to_str().unwrap().to_owned();
    assert_eq!(r.status(), 200, "{sealed} {}", r.text().await.unwrap());
    assert!(sealed.starts_with("berlin-group serial="), "{sealed}");
    // Outside every prefix, and a prefix that is only a string prefix: 404.
    for path in ["/other/accounts", "/belfiusx/accounts"] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(json(r).await["error"], "unknown_route");
    }

    // Ready: every identity's key signed the probe.
    let r = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let js = json(r).await;
    assert_eq!(js["status"], "ready", "{js}");
    assert_eq!(js["identities"].as_array().unwrap().len(), 4, "{js}");
    let qwac_serial = identity("rsa", "qwac").certificate().serial_hex();
    assert!(js["identities"].as_array().unwrap().iter().any(|i| i["serial"] == qwac_serial.as_str()), "{js}");

    // The proxy's own endpoints are never forwarded, whatever the method.
    let r = http.post(format!("{base}/healthz")).body("x").send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = http.get(format!("{base}/v1/seal")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert!(json(r).await["message"].as_str().unwrap().starts_with("use POST /v1/seal"));

    // Metrics in the Prometheus text format, checked line by line.
    let r = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = r.text().await.unwrap();
    for want in [
        r#"psd2_proxy_requests_total{route="/belfius",status="200"} 1"#,
        r#"psd2_proxy_requests_total{route="berlin",status="200"} 1"#,
        r#"psd2_proxy_requests_total{route="",status="404"} 2"#,
        r#"psd2_proxy_upstream_connections_opened_total{route="/belfius"} 1"#,
        r#"psd2_proxy_seal_duration_seconds_count{route="berlin"} 1"#,
        r#"psd2_proxy_upstream_duration_seconds_count{route="/belfius"} 1"#,
        "# TYPE psd2_proxy_in_flight_requests gauge",
        "# TYPE psd2_proxy_rejected_busy counter",
        "psd2_proxy_certificate_not_after_timestamp_seconds{",
        "# EOF",
    ] {
        assert!(text.contains(want), "{want}:\n{text}");
    }
    // Kept alive: a second call on the bank route reuses the upstream connection.
    consent(&http, &format!("{base}/belfius")).await;
    assert!(proxy.metrics().contains(r#"psd2_proxy_upstream_connections_opened_total{route="/belfius"} 1"#));
    proxy.shutdown().await.unwrap();
    sandbox.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_concurrency_limit_is_a_503_and_shutdown_drains() {
    let sandbox = sandbox().await;
    // Every answer of the bank takes 1 s.
    sandbox.set_faults(Faults { delay: Duration::from_secs(1), ..Faults::none() });
    let config = ProxyConfig::new(plain()).with_route(bank_route(&sandbox)).with_max_concurrent(1);
    let proxy = Proxy::start(config).await.unwrap();
    let base = format!("http://{}", proxy.local_addr());
    let http = http();
    let slow = tokio::spawn({
        let (http, base) = (http.clone(), base.clone());
        async move { consent(&http, &base).await.status().as_u16() }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The one permit is taken: a second request is refused at once, with Retry-After.
    let r = consent(&reqwest::Client::new(), &base).await;
    assert_eq!((r.status().as_u16(), r.headers()["retry-after"].to_str().unwrap()), (503, "1"));
    assert_eq!(json(r).await["error"], "busy");
    // /healthz is not counted against the limit.
    let r = reqwest::Client::new().get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(slow.await.unwrap(), 200);

    // Shutdown while a request is under way: it finishes (200); new connections are refused.
    let slow = tokio::spawn({
        let (http, base) = (reqwest::Client::new(), base.clone());
        async move { consent(&http, &base).await.status().as_u16() }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let addr = proxy.local_addr();
    let stopping = tokio::spawn(proxy.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still accepting during the drain");
    assert_eq!(slow.await.unwrap(), 200, "the in-flight request was cut");
    stopping.await.unwrap().unwrap();
    sandbox.set_faults(Faults::none());
    sandbox.shutdown().await.unwrap();
}
