//! Profile mode: a Berlin Group route to a local mTLS server that records what it receives; the
//! recorded request verifies like a bank would verify it (digest, signature, the QSealC chain to
//! the test CA), and the server saw the QWAC in the handshake. `POST /v1/seal` gives the same
//! seal to a caller that sends the request itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use psd2_client::BaseUrl;
use psd2_eidas::Certificate;
use psd2_httpsig::VerifyOptions;
use psd2_httpsig::profile::Profile;
use psd2_proxy::{Listener, Mode, Proxy, ProxyConfig, Route};
use psd2_test_support::certs::{certificate, identity, path};

/// What the recording server received, and the serial of the client certificate it saw.
type Recorded = Arc<Mutex<Vec<(http::Request<Vec<u8>>, String)>>>;

/// An HTTPS server on 127.0.0.1 requiring a client certificate of the RSA test PKI; records
/// every request, answers 200 `{"ok":true}`. Returns its port, its CA and the record.
async fn recording_server() -> (u16, Certificate, Recorded) {
    let (config, server_ca) = psd2_test_support::pki::bank_server_config();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let recorded: Recorded = Arc::default();
    let log = recorded.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (acceptor, log) = (acceptor.clone(), log.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let peer = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).unwrap().to_vec();
                let serial = Certificate::from_der(&peer).unwrap().serial_hex();
                let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let (log, serial) = (log.clone(), serial.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.unwrap().to_bytes().to_vec();
                        log.lock().unwrap().push((http::Request::from_parts(parts, body), serial));
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"{\"ok\":true}"))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
            });
        }
    });
    (port, server_ca, recorded)
}

/// How a bank checks a Berlin Group seal: digest, signature, the QSealC chain to the test root.
fn verify_like_a_bank(profile: &Profile, req: &http::Request<Vec<u8>>) -> String {
    let chain = psd2_eidas::load::load_certificates(path("rsa", "qseal-chain.pem").as_ref(), None).unwrap();
    let opts = VerifyOptions {
        ca: vec![certificate("rsa", "ca.pem")],
        intermediates: chain[1..].to_vec(),
        ..VerifyOptions::default()
    };
    psd2_httpsig::verify(profile, req, &opts).unwrap_or_else(|e| panic!("the seal does not verify: {e}")).signing_string
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn berlin_group_route_seals_every_request() {
    let (port, server_ca, recorded) = recording_server().await;
    let profile = Profile::by_name("berlin-group").unwrap();
    let upstream = BaseUrl::parse(&format!("https://127.0.0.1:{port}/v1")).unwrap();
    let config = Route::new(upstream, Mode::Profile(profile), identity("rsa", "qwac"))
        .with_qseal(identity("rsa", "qseal"))
        .with_extra_root(server_ca)
        .without_public_roots();
    let proxy = Proxy::start(ProxyConfig::new(Listener::plain("127.0.0.1:0".parse().unwrap())).with_route(config))
        .await
        .unwrap();
    let base = format!("http://{}", proxy.local_addr());
    // The caller speaks plain HTTP; reqwest (built without a TLS provider) still wants one.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let http = reqwest::Client::new();

    let body = br#"{"instructedAmount":{"currency":"EUR","amount":"1.00"}}"#.to_vec();
    let resp = http
        .post(format!("{base}/payments/sepa-credit-transfers?x=1"))
        .header("Content-Type", "application/json")
        .header("Connection", "keep-alive, X-Internal")
        .header("X-Internal", "not for the bank")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let qseal_serial = identity("rsa", "qseal").certificate().serial_hex();
    assert_eq!(resp.headers()["x-psd2-proxy-sealed"], format!("berlin-group serial={qseal_serial}").as_str());
    assert_eq!(resp.text().await.unwrap(), r#"{"ok":true}"#);
    // A GET is sealed too (every request, in profile mode).
    let resp = http.get(format!("{base}/accounts")).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    let seen = recorded.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let (post, client_serial) = &seen[0];
    assert_eq!(client_serial, &identity("rsa", "qwac").certificate().serial_hex(), "the QWAC is the mTLS client");
    assert_eq!(post.uri(), "/v1/payments/sepa-credit-transfers?x=1");
    assert_eq!(post.body(), &body);
    assert!(post.headers().get("x-request-id").is_some());
    assert!(post.headers().get("x-internal").is_none(), "a header Connection names is hop-by-hop");
    let signing_string = verify_like_a_bank(profile, post);
    assert!(signing_string.starts_with("digest: SHA-256="), "{signing_string}");
    verify_like_a_bank(profile, &seen[1].0);
    assert!(seen[1].0.headers().get("content-length").is_none(), "a GET without a body goes without one");

    // The seal endpoint: the caller sends the request itself with the headers it is given.
    let ask = serde_json::json!({
        "method": "POST",
        "url": format!("https://127.0.0.1:{port}/v1/payments/sepa-credit-transfers"),
        "headers": { "Content-Type": "application/json", "X-Request-ID": "99391c7e-ad88-49ec-a2ad-99ddcb1f7721" },
        "body_base64": base64::engine::general_purpose::STANDARD.encode(&body),
    });
    let resp = http.post(format!("{base}/v1/seal")).body(ask.to_string()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let js: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    let mut req = http::Request::post("/v1/payments/sepa-credit-transfers").body(body.clone()).unwrap();
    for (name, value) in js["headers"].as_object().unwrap() {
        req.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(value.as_str().unwrap()).unwrap(),
        );
    }
    assert_eq!(req.headers()["x-request-id"], "99391c7e-ad88-49ec-a2ad-99ddcb1f7721", "a given header is kept");
    assert_eq!(verify_like_a_bank(profile, &req), js["signing_string"].as_str().unwrap());
    // A bad seal request is one readable 400.
    let resp = http.post(format!("{base}/v1/seal")).body(r#"{"method":"POST"}"#).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let js: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert!(js["message"].as_str().unwrap().contains("url"), "{js}");

    proxy.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_puts_a_renewed_qwac_in_use_while_requests_run() {
    let (port, server_ca, recorded) = recording_server().await;
    let profile = Profile::by_name("berlin-group").unwrap();
    let upstream = BaseUrl::parse(&format!("https://127.0.0.1:{port}")).unwrap();
    let route = |qwac: psd2_eidas::Identity| {
        Route::new(upstream.clone(), Mode::Profile(profile), qwac)
            .with_qseal(identity("rsa", "qseal"))
            .with_extra_root(server_ca.clone())
            .without_public_roots()
    };
    let listener = Listener::plain("127.0.0.1:0".parse().unwrap());
    let proxy =
        Proxy::start(ProxyConfig::new(listener.clone()).with_route(route(identity("rsa", "qwac")))).await.unwrap();
    let base = format!("http://{}", proxy.local_addr());
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    // The renewed QWAC: a new key and certificate from the same QWAC CA (openssl-made; fixed
    // dates around any day the suite runs).
    let dir = tempfile::tempdir().unwrap();
    let config = psd2_test_support::fixtures::psd2_config("qwac");
    let chain = psd2_test_support::fixtures::issue_by_test_ca(
        dir.path(),
        ("rsa", "qwac-ca"),
        &config,
        "renewed",
        "rsa",
        ("20250101000000Z", "20360101000000Z"),
    );
    let key: psd2_eidas::KeyRef = dir.path().join("renewed.key").display().to_string().parse().unwrap();
    let cert: psd2_eidas::KeyRef = chain.display().to_string().parse().unwrap();
    let renewed = psd2_eidas::Identity::load(&key, Some(&cert), &psd2_eidas::Secrets::none()).unwrap();
    let (old, new) = (identity("rsa", "qwac").certificate().serial_hex(), renewed.certificate().serial_hex());
    assert_ne!(old, new);

    // Four callers on kept-alive connections, without pause, across the reload.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut callers = Vec::new();
    for caller in 0..4 {
        let (stop, base) = (stop.clone(), base.clone());
        callers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let (mut ok, mut failed) = (0, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                match http.post(format!("{base}/payments")).header("X-Caller", caller).body("{}").send().await {
                    Ok(r) if r.status() == 200 => ok += 1,
                    Ok(r) => failed.push(format!("HTTP {}", r.status())),
                    Err(e) => failed.push(e.to_string()),
                }
            }
            (ok, failed)
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    // A reload that changes the listeners is refused, and nothing changes.
    let moved = ProxyConfig::new(Listener::plain("127.0.0.1:1".parse().unwrap())).with_route(route(renewed.clone()));
    let e = proxy.reload(moved).unwrap_err();
    assert!(e.to_string().contains("listeners change only with a restart"), "{e}");
    proxy.reload(ProxyConfig::new(listener).with_route(route(renewed))).unwrap();
    let reloaded_at = recorded.lock().unwrap().len();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut total = 0;
    for c in callers {
        let (ok, failed) = c.await.unwrap();
        assert!(failed.is_empty(), "requests failed across the reload: {failed:?}");
        total += ok;
    }
    let seen = recorded.lock().unwrap().clone();
    assert_eq!(seen.len(), total);
    assert!(seen[..reloaded_at].iter().all(|(_, s)| *s == old));
    // Requests under way at the reload (at most one per caller) finish with the old QWAC; every
    // later one has the new. Each caller sends one request after the other, so its requests
    // reach the bank in order: old ones, then only new ones. (Across callers, a request under
    // way may reach the bank after another caller's first new one.)
    let first_new = seen.iter().position(|(_, s)| *s == new).expect("the renewed QWAC never reached the bank");
    for caller in 0..4 {
        let serials: Vec<&String> = seen
            .iter()
            .filter(|(r, _)| r.headers()["x-caller"] == caller.to_string().as_str())
            .map(|(_, s)| s)
            .collect();
        let turn = serials.iter().position(|s| **s == new).unwrap_or(serials.len());
        assert!(serials[turn..].iter().all(|s| **s == new), "caller {caller}: the old QWAC came back after the reload");
    }
    let late_old = seen[first_new..].iter().filter(|(_, s)| *s == old).count();
    assert!(late_old <= 4, "{late_old} requests with the old QWAC after the first new one: more than were under way");
    assert!(first_new <= reloaded_at + 4 && seen.len() > first_new, "{first_new} {reloaded_at} {}", seen.len());
    assert!(proxy.metrics().contains("psd2_proxy_reloads_total 1"));
    proxy.shutdown().await.unwrap();
}
