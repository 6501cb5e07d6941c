//! The bank client against a minimal local bank: a rustls server on 127.0.0.1 that requires the
//! QWAC (client certificate) and records every request, so the headers the client sends can be
//! checked (Request-ID UUID v4, Accept versions, Client-ID, PKCE, Basic auth, Bearer, the PIS
//! `Signature` verified with psd2-httpsig); plus the role gate, which refuses before any I/O.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use psd2_ca::{CertKind, CertificateAuthority, EvSubject, InitOptions, IssueRequest, KeyType, Psd2Subject};
use psd2_client::types::{Amount, FundsRequest, PaymentRequest};
use psd2_client::{Bank, Client, ClientOptions, Environment, Error, PaymentProduct, PisAuth, Pkce, Scope};
use psd2_eidas::{Certificate, Identity, Role, Secret, Secrets};
use psd2_test_support::pki::issue_with_roles;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const CERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-certs");
const CLIENT_ID: &str = "tpp-client-1";
const SECRET: &str = "s3cret";
const REDIRECT: &str = "https://tpp.example.com/callback";

fn identity(kind: &str, name: &str) -> Identity {
    Identity::load(
        &format!("{CERTS}/{kind}/{name}.key").parse().unwrap(),
        Some(&format!("{CERTS}/{kind}/{name}-chain.pem").parse().unwrap()),
        &Secrets::none(),
    )
    .unwrap()
}

/// One request as the bank saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
    peer: Vec<u8>,
}

impl Seen {
    fn h(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap()
    }
}

/// The server's own CA and certificate for 127.0.0.1.
struct ServerPki {
    ca: Certificate,
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

fn server_pki() -> ServerPki {
    let ca = psd2_ca::ServerCa::generate("local bank test CA").unwrap();
    let server = ca.issue(&[], &[IpAddr::V4(Ipv4Addr::LOCALHOST)]).unwrap();
    ServerPki {
        ca: ca.certificate().clone(),
        chain: vec![CertificateDer::from(server.chain[0].der().to_vec())],
        key: server.pkcs8_key.to_vec(),
    }
}

/// A bank on 127.0.0.1 requiring a client certificate from the RSA test PKI. Answers per path;
/// every request is recorded.
fn start_bank(pki: &ServerPki) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let tpp_ca = psd2_eidas::load::load_certificates(format!("{CERTS}/rsa/ca.pem").as_ref(), None).unwrap();
    start_bank_with(pki, &tpp_ca, false)
}

const TLS12_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];

/// [`start_bank`] trusting `tpp_ca` for client certificates, TLS 1.2 only when `tls12`.
fn start_bank_with(pki: &ServerPki, tpp_ca: &[Certificate], tls12: bool) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(psd2_client::tls::roots(tpp_ca).unwrap()),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(if tls12 { TLS12_ONLY } else { rustls::DEFAULT_VERSIONS })
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(pki.chain.clone(), PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key.clone())))
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let config = config.clone();
            let log = log.clone();
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                // Finish the handshake so the peer certificate is known (errors: client refused us).
                while tls.conn.is_handshaking() {
                    if tls.conn.complete_io(&mut tls.sock).is_err() {
                        return;
                    }
                }
                let peer = tls.conn.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec()).unwrap_or_default();
                let mut reader = BufReader::new(tls);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let (method, target) =
                        (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
                    let mut headers = HashMap::new();
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).unwrap();
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (n, v) = h.split_once(':').unwrap();
                        headers.insert(n.trim().to_ascii_lowercase(), v.trim().to_owned());
                    }
                    let len: usize = headers.get("content-length").map(|v| v.parse().unwrap()).unwrap_or(0);
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).unwrap();
                    let req = Seen { method, target, headers, body, peer: peer.clone() };
                    let (status, extra, resp_body, response_id) = answer(&req, port);
                    log.lock().unwrap().push(req);
                    let mut out = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", resp_body.len());
                    if let Some(id) = response_id {
                        out.push_str(&format!("Response-ID: {id}\r\n"));
                    }
                    if !resp_body.is_empty() {
                        out.push_str("Content-Type: application/json\r\n");
                    }
                    for (n, v) in extra {
                        out.push_str(&format!("{n}: {v}\r\n"));
                    }
                    out.push_str("\r\n");
                    out.push_str(&resp_body);
                    let tls = reader.get_mut();
                    tls.write_all(out.as_bytes()).unwrap();
                    tls.flush().unwrap();
                }
            });
        }
    });
    (port, seen)
}

/// (status line, extra headers, body, Response-ID).
fn answer(req: &Seen, port: u16) -> (&'static str, Vec<(&'static str, String)>, String, Option<String>) {
    let rid = req.h("request-id").map(str::to_owned);
    let query: HashMap<String, String> = req
        .target
        .split_once('?')
        .map(|(_, q)| {
            q.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
        })
        .unwrap_or_default();
    let sca = format!("https://127.0.0.1:{port}/sca/authorize?ticket=T1");
    match (req.method.as_str(), req.path()) {
        ("GET", "/consent-uris") => (
            "200 OK",
            vec![],
            format!(r#"[{{"language":"fr","consent_uri":"{sca}"}},{{"language":"nl","consent_uri":"{sca}"}}]"#),
            rid,
        ),
        ("GET", "/sca/authorize") => {
            let state = if query.get("ticket").map(String::as_str) == Some("EVIL") {
                "other".to_owned()
            } else {
                query.get("state").cloned().unwrap_or_default()
            };
            ("302 Found", vec![("Location", format!("{REDIRECT}?code=C0DE&state={state}"))], String::new(), rid)
        }
        ("POST", "/token") => (
            "200 OK",
            vec![],
            r#"{"access_token":"AT","token_type":"Bearer","expires_in":"900","refresh_token":"RT","scope":"AIS","logical_id":"acc1"}"#.into(),
            rid,
        ),
        ("GET", "/accounts") => (
            "200 OK",
            vec![],
            r#"{"accounts":[{"logical_id":"acc1","iban":"BE68539007547034","currency":"EUR","account_name":"Main"}]}"#.into(),
            rid,
        ),
        ("GET", "/accounts/missing") => (
            "404 Not Found",
            vec![],
            r#"{"error":"not_found","error_code":"404","error_description":"No such account."}"#.into(),
            rid,
        ),
        ("GET", "/accounts/wrong-id") => ("200 OK", vec![], "{}".into(), Some(uuid::Uuid::new_v4().to_string())),
        ("GET", "/accounts/acc1/transactions") => (
            "200 OK",
            vec![],
            r#"{"_embedded":{"transactions":[{"transaction_ref":"t1","amount":"-12.34","currency":"EUR","execution_date":"2026-11-01"}],"next_page_key":null},"_links":{"self":{"href":"/accounts/acc1/transactions"}}}"#.into(),
            rid,
        ),
        ("POST", "/payments/sepa-credit-transfers") => (
            "201 Created",
            vec![("Location", sca)],
            r#"{"payment_id":"PAY1","payment_status":"RCVD"}"#.into(),
            rid,
        ),
        ("GET", "/payments/sepa-credit-transfers/PAY1/status") => {
            ("200 OK", vec![], r#"{"payment_id":"PAY1","payment_status":"ACSC"}"#.into(), rid)
        }
        ("POST", "/funds-confirmations") => ("200 OK", vec![], r#"{"funds_available":true}"#.into(), rid),
        _ => ("500 Internal Server Error", vec![], r#"{"error":"unexpected"}"#.into(), rid),
    }
}

/// Options for the local bank; no retries (this bank answers 500 to what it does not know).
fn options(port: u16, server_ca: &Certificate) -> ClientOptions {
    let mut o = ClientOptions::new(
        Bank::Belfius,
        Environment::Custom(format!("https://127.0.0.1:{port}")),
        CLIENT_ID,
        REDIRECT,
    )
    .with_client_secret(Secret::new(SECRET))
    .with_extra_root(server_ca.clone());
    o.retry = psd2_client::RetryPolicy::none();
    o
}

fn assert_request_id(r: &Seen) {
    let id = r.h("request-id").unwrap_or_else(|| panic!("no Request-ID on {}", r.target));
    let uuid = uuid::Uuid::parse_str(id).unwrap();
    assert_eq!(uuid.get_version_num(), 4, "{id}");
}

#[tokio::test]
async fn headers_on_the_wire_over_mtls() {
    let pki = server_pki();
    let (port, seen) = start_bank(&pki);
    let qwac = identity("rsa", "qwac");
    let qseal = identity("rsa", "qseal");
    let qwac_der = qwac.certificate().der().to_vec();
    let client = Client::new(qwac, Some(qseal.clone()), options(port, &pki.ca)).unwrap();

    // AIS: consent, PSU step, token, accounts, transactions.
    let pkce = Pkce::generate().unwrap();
    let uris = client.consent_uris(Scope::Ais, &pkce).await.unwrap();
    assert_eq!(uris.len(), 2);
    let code = client.psu_authorize(&uris[0].consent_uri, "st4te").await.unwrap();
    assert_eq!(code, "C0DE");
    let token = client.token_from_code(&code, pkce.verifier()).await.unwrap();
    assert_eq!(token.expires_in.as_deref(), Some("900"));
    let accounts = client.accounts(&token.access_token).await.unwrap();
    assert_eq!(accounts.accounts[0].logical_id, "acc1");
    let page = client
        .transactions(&token.access_token, "acc1", Some("2026-10-01"), Some("2026-11-26"), None, None)
        .await
        .unwrap();
    assert_eq!(page.embedded.transactions[0].amount.as_deref(), Some("-12.34"));
    let refreshed = client.refresh("RT").await.unwrap();
    assert_eq!(refreshed.access_token, "AT");

    // PIS with PKCE, sealed.
    let body = PaymentRequest::new("BE71096123456769", "Payee", Amount::new("12.34", "EUR")).to_body().unwrap();
    let pis_pkce = Pkce::generate().unwrap();
    let init = client
        .initiate_payment(PaymentProduct::SepaCreditTransfers, body.clone(), PisAuth::Pkce(&pis_pkce))
        .await
        .unwrap();
    assert_eq!(init.payment_id, "PAY1");
    assert_eq!(init.sca_uri.as_deref(), Some(format!("https://127.0.0.1:{port}/sca/authorize?ticket=T1").as_str()));
    let status = client.payment_status(PaymentProduct::SepaCreditTransfers, "PAY1", None).await.unwrap();
    assert_eq!(status.payment_status, "ACSC");

    // CAF.
    let funds = FundsRequest::new("BE68539007547034", Amount::new("1.00", "EUR"));
    assert!(client.funds_confirmation("CAFTOKEN", &funds).await.unwrap().funds_available);

    let seen = seen.lock().unwrap().clone();
    let by = |m: &str, p: &str| seen.iter().find(|r| r.method == m && r.path() == p).unwrap().clone();
    let mut ids: Vec<&str> = seen.iter().map(|r| r.h("request-id").unwrap()).collect();
    for r in &seen {
        assert_request_id(r);
        assert_eq!(r.peer, qwac_der, "the QWAC is the client certificate");
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), seen.len(), "a fresh Request-ID per call");

    let accept = |r: &Seen| r.h("accept").unwrap().to_owned();
    let consent = by("GET", "/consent-uris");
    assert_eq!(consent.target, "/consent-uris?scope=AIS");
    assert_eq!(accept(&consent), "application/vnd.belfius.api+json; version=4");
    assert_eq!(consent.h("client-id"), Some(CLIENT_ID));
    assert_eq!(consent.h("redirect-uri"), Some(REDIRECT));
    assert_eq!(consent.h("code-challenge-method"), Some("S256"));
    assert_eq!(consent.h("code-challenge"), Some(psd2_client::s256_challenge(pkce.verifier()).as_str()));
    assert!(consent.h("authorization").is_none());

    let sca = by("GET", "/sca/authorize");
    assert!(sca.target.ends_with("&state=st4te"), "{}", sca.target);

    let tokens: Vec<&Seen> = seen.iter().filter(|r| r.path() == "/token").collect();
    assert_eq!(tokens.len(), 2);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{SECRET}"));
    for t in &tokens {
        assert_eq!(t.h("authorization"), Some(format!("Basic {basic}").as_str()));
        assert_eq!(accept(t), "application/vnd.belfius.api+json; version=3");
        assert_eq!(t.h("content-type"), Some("application/x-www-form-urlencoded"));
        assert!(t.h("client-id").is_none());
    }
    let form = String::from_utf8(tokens[0].body.clone()).unwrap();
    assert_eq!(
        form,
        format!(
            "grant_type=authorization_code&code=C0DE&redirect_uri=https%3A%2F%2Ftpp.example.com%2Fcallback&code_verifier={}",
            pkce.verifier()
        )
    );
    assert_eq!(String::from_utf8(tokens[1].body.clone()).unwrap(), "grant_type=refresh_token&refresh_token=RT");

    let acc = by("GET", "/accounts");
    assert_eq!(acc.h("authorization"), Some("Bearer AT"));
    assert_eq!(acc.h("client-id"), Some(CLIENT_ID));
    assert_eq!(accept(&acc), "application/vnd.belfius.api+json; version=1");
    let tx = by("GET", "/accounts/acc1/transactions");
    assert_eq!(tx.target, "/accounts/acc1/transactions?date_from=2026-10-01&date_to=2026-11-26");
    assert_eq!(accept(&tx), "application/vnd.belfius.api+json; version=2");

    let pay = by("POST", "/payments/sepa-credit-transfers");
    assert_eq!(pay.body, body);
    assert_eq!(accept(&pay), "application/vnd.belfius.api+json; version=3");
    assert_eq!(pay.h("client-id"), Some(CLIENT_ID));
    assert_eq!(pay.h("redirect-uri"), Some(REDIRECT));
    assert_eq!(pay.h("code-challenge"), Some(pis_pkce.challenge()));
    assert_eq!(pay.h("content-type"), Some("application/json"));
    // The bank's check of the seal: psd2-httpsig verify, profile belfius-pis, the registered QSealC.
    let req = http::Request::post(format!("https://127.0.0.1:{port}{}", pay.target))
        .header("Content-Type", "application/json")
        .header("Signature", pay.h("signature").expect("PIS Signature header"))
        .body(pay.body.clone())
        .unwrap();
    let opts = psd2_httpsig::VerifyOptions { certificate: Some(qseal.certificate().clone()), ..Default::default() };
    psd2_httpsig::verify(&psd2_httpsig::profile::BELFIUS_PIS, &req, &opts).unwrap();

    let st = by("GET", "/payments/sepa-credit-transfers/PAY1/status");
    assert_eq!(accept(&st), "application/vnd.belfius.api+json; version=1");
    assert!(st.h("authorization").is_none());
    assert!(st.h("signature").is_none());

    let caf = by("POST", "/funds-confirmations");
    assert_eq!(caf.h("authorization"), Some("Bearer CAFTOKEN"));
    let v: serde_json::Value = serde_json::from_slice(&caf.body).unwrap();
    assert_eq!(v["account"]["iban"], "BE68539007547034");
    assert_eq!(v["instructed_amount"]["amount"], "1.00");
}

#[tokio::test]
async fn bank_errors_response_id_and_state_are_checked() {
    let pki = server_pki();
    let (port, _) = start_bank(&pki);
    let client = Client::new(identity("rsa", "qwac"), None, options(port, &pki.ca)).unwrap();

    let e = client.account("AT", "missing").await.unwrap_err();
    match &e {
        Error::Http { status: 404, error: Some(b), .. } => {
            assert_eq!(b.error.as_deref(), Some("not_found"));
            assert_eq!(b.error_description.as_deref(), Some("No such account."));
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("HTTP 404: not_found (404): No such account."), "{e}");

    let e = client.account("AT", "wrong-id").await.unwrap_err();
    assert!(matches!(e, Error::BadResponse { .. }) && e.to_string().contains("Response-ID"), "{e}");

    let evil = format!("https://127.0.0.1:{port}/sca/authorize?ticket=EVIL");
    let e = client.psu_authorize(&evil, "mine").await.unwrap_err();
    assert!(e.to_string().contains("state"), "{e}");

    // PIS without a QSealC: refused before sending.
    let pkce = Pkce::generate().unwrap();
    let e = client.initiate_payment(PaymentProduct::SepaCreditTransfers, b"{}".to_vec(), PisAuth::Pkce(&pkce)).await;
    assert!(matches!(e, Err(Error::Missing { .. })), "{e:?}");
}

#[tokio::test]
async fn the_server_ca_is_trusted_only_when_named() {
    let pki = server_pki();
    let (port, seen) = start_bank(&pki);
    let opts = ClientOptions::new(
        Bank::Belfius,
        Environment::Custom(format!("https://127.0.0.1:{port}")),
        CLIENT_ID,
        REDIRECT,
    );
    let client = Client::new(identity("rsa", "qwac"), None, opts).unwrap();
    let e = client.accounts("AT").await.unwrap_err();
    assert!(matches!(e, Error::Connection { .. }), "{e:?}");
    assert!(e.to_string().contains("the bank's server certificate is not issued by a trusted CA"), "{e:?}");
    assert!(seen.lock().unwrap().is_empty());
}

/// Transport failures in a TPP's words: the bank's TLS alert about our QWAC (TLS 1.2, where the
/// server's verdict on the client certificate arrives during the handshake), and a server that
/// accepts the connection but never speaks (connect time-out, set to 1 s here).
#[tokio::test]
async fn transport_failures_are_explained() {
    let pki = server_pki();
    // The bank trusts only an unrelated CA (its own server CA) for client certificates.
    let (port, seen) = start_bank_with(&pki, std::slice::from_ref(&pki.ca), true);
    let client = Client::new(identity("rsa", "qwac"), None, options(port, &pki.ca)).unwrap();
    let e = client.accounts("AT").await.unwrap_err();
    assert!(matches!(e, Error::Connection { .. }), "{e:?}");
    assert!(
        e.to_string().contains(
            "the bank refused our QWAC: it does not trust the QWAC's issuer, or the certificate is not a QWAC"
        ),
        "{e}"
    );
    assert!(seen.lock().unwrap().is_empty());

    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut opts = options(port, &pki.ca);
    opts.connect_timeout = std::time::Duration::from_secs(1);
    opts.retry = psd2_client::RetryPolicy::none();
    let e = Client::new(identity("rsa", "qwac"), None, opts).unwrap().accounts("AT").await.unwrap_err();
    assert!(e.to_string().contains("no connection within 1 s (connect time-out): the host does not answer"), "{e}");
    drop(silent);
}

/// An address where nothing listens.
fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn role_gate_refuses_before_any_io() {
    let dir = tempfile::tempdir().unwrap();
    let (qwac, qseal) = issue_with_roles(&dir.path().join("ca"), &[Role::AccountInformation]);
    let port = dead_port();
    let env = Environment::Custom(format!("https://127.0.0.1:{port}"));
    let opts = ClientOptions::new(Bank::Belfius, env, CLIENT_ID, REDIRECT).with_client_secret(Secret::new(SECRET));
    let client = Client::new(qwac.clone(), Some(qseal), opts.clone()).unwrap();
    let pkce = Pkce::generate().unwrap();

    // PIS with a PSP_AI-only QWAC: the role error, not a connection error.
    let body = PaymentRequest::new("BE71096123456769", "Payee", Amount::new("1.00", "EUR")).to_body().unwrap();
    let e = client.initiate_payment(PaymentProduct::SepaCreditTransfers, body, PisAuth::Pkce(&pkce)).await.unwrap_err();
    assert!(e.is_role_missing(), "{e:?}");
    let msg = e.to_string();
    assert!(msg.starts_with("QWAC ("), "{msg}");
    assert!(msg.contains("lacks PSD2 role PSP_PI") && msg.contains("has: PSP_AI"), "{msg}");
    assert!(msg.contains("Example TPP NV"), "{msg}");

    // CAF consent and funds: PSP_IC missing.
    let e = client.consent_uris(Scope::Caf, &pkce).await.unwrap_err();
    assert!(e.to_string().contains("PSP_IC"), "{e}");
    let funds = FundsRequest::new("BE1", Amount::new("1", "EUR"));
    assert!(client.funds_confirmation("T", &funds).await.unwrap_err().is_role_missing());

    // What the QWAC may do passes the gate and then meets the dead port.
    let e = client.consent_uris(Scope::Ais, &pkce).await.unwrap_err();
    assert!(matches!(e, Error::Connection { .. }), "{e:?}");
    let e = client.token_from_code("c", pkce.verifier()).await.unwrap_err();
    assert!(matches!(e, Error::Connection { .. }), "{e:?}");

    // A QWAC with PSP_PI but a QSealC without it: the QSealC is named.
    let full_qwac = identity("rsa", "qwac");
    let (_, ai_qseal) = issue_with_roles(&dir.path().join("ca2"), &[Role::AccountInformation]);
    let client = Client::new(full_qwac, Some(ai_qseal), opts).unwrap();
    let e = client.initiate_payment(PaymentProduct::SepaCreditTransfers, b"{}".to_vec(), PisAuth::Bearer("T")).await;
    let msg = e.unwrap_err().to_string();
    assert!(msg.starts_with("QSealC (") && msg.contains("PSP_PI"), "{msg}");
}

#[tokio::test]
async fn an_expired_qwac_is_refused_before_any_io() {
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::init(
        &dir.path().join("ca"),
        &InitOptions { key_type: KeyType::P256, ..Default::default() },
    )
    .unwrap();
    let mut req = IssueRequest::new(CertKind::Qwac, Psd2Subject::example());
    req.ev = EvSubject::example();
    req.not_before = Some(time::OffsetDateTime::now_utc() - time::Duration::days(200));
    req.days = Some(100);
    ca.issue(&req).unwrap().write(&dir.path().join("old")).unwrap();
    let qwac = Identity::load(
        &dir.path().join("old.key").to_str().unwrap().parse().unwrap(),
        Some(&dir.path().join("old-chain.pem").to_str().unwrap().parse().unwrap()),
        &Secrets::none(),
    )
    .unwrap();
    let env = Environment::Custom(format!("https://127.0.0.1:{}", dead_port()));
    let client = Client::new(qwac, None, ClientOptions::new(Bank::Belfius, env, CLIENT_ID, REDIRECT)).unwrap();
    let e = client.accounts("T").await.unwrap_err();
    let msg = e.to_string();
    assert!(!matches!(e, Error::Connection { .. }), "{e:?}");
    assert!(msg.contains("QWAC") && msg.contains("expired on"), "{msg}");
}

/// Versions as data, unattended calls and the SCA token, as sent: a per-call `Accept` override,
/// `psu_involved=false` on AIS calls, `Accept-Language` by default, `SCA-Token` on transactions.
#[tokio::test]
async fn versions_unattended_and_sca_token_on_the_wire() {
    let pki = server_pki();
    let (port, seen) = start_bank(&pki);
    let mut o = options(port, &pki.ca).with_api_version(psd2_client::Call::Accounts, "7");
    o.unattended = true;
    let client = Client::new(identity("rsa", "qwac"), None, o).unwrap();
    assert_eq!(client.accept_version(psd2_client::Call::Accounts), Some("7"));
    assert_eq!(client.accept_version(psd2_client::Call::Account), Some("3"));
    client.accounts("AT").await.unwrap();
    client.transactions("AT", "acc1", Some("2026-01-01"), None, None, Some("SCA1")).await.unwrap();
    let seen = seen.lock().unwrap();
    let accept = |r: &Seen| r.h("accept").unwrap().to_owned();
    let acc = seen.iter().find(|r| r.path() == "/accounts").unwrap();
    assert_eq!(accept(acc), "application/vnd.belfius.api+json; version=7");
    assert_eq!(acc.target, "/accounts?psu_involved=false");
    assert_eq!(acc.h("accept-language"), Some("en"));
    assert_eq!(acc.h("sca-token"), None);
    let tx = seen.iter().find(|r| r.path() == "/accounts/acc1/transactions").unwrap();
    assert_eq!(tx.target, "/accounts/acc1/transactions?date_from=2026-01-01&psu_involved=false");
    assert_eq!(accept(tx), "application/vnd.belfius.api+json; version=2");
    assert_eq!(tx.h("sca-token"), Some("SCA1"));
}
