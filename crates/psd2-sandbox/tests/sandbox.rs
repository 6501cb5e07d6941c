//! The embedded sandbox bank over real TLS on 127.0.0.1: the contract of `docs/sandbox-api.md`
//! driven by a reqwest client presenting the committed test QWAC (`test-certs/ec`), plus QWACs
//! issued here with psd2-ca (a missing role, an untrusted CA), and curl / openssl s_client as
//! independent TLS clients.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use psd2_ca::{CertKind, CertificateAuthority, EvSubject, InitOptions, IssueRequest, KeyType, Psd2Subject};
use psd2_eidas::{Certificate, Identity, Role, Secrets};
use psd2_httpsig::profile::PisEncoding;
use psd2_sandbox::{
    Clock, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, ManualClock, Sandbox, SandboxConfig, SandboxHandle, ServerIdentity,
};
use psd2_test_support::certs as test_certs;
use reqwest::StatusCode;
use serde_json::Value;

const REDIRECT: &str = "https://tpp.example.com/callback";
const IBAN: &str = "BE68539007547034";

fn certs() -> PathBuf {
    test_certs::dir()
}

/// The demo configuration: trusts both test-certs roots, serves an ephemeral server CA, and
/// onboards the demo client with the RSA test QSealC.
fn demo_config() -> SandboxConfig {
    SandboxConfig::new(test_certs::tpp_anchors(), ServerIdentity::ephemeral().unwrap())
        .with_demo_client(test_certs::certificate("rsa", "qseal.pem"))
        .unwrap()
}

fn identity(key: &Path, chain: &Path) -> Identity {
    Identity::load(
        &key.to_str().unwrap().parse().unwrap(),
        Some(&chain.to_str().unwrap().parse().unwrap()),
        &Secrets::none(),
    )
    .unwrap()
}

fn test_qwac() -> Identity {
    identity(&certs().join("ec/qwac.key"), &certs().join("ec/qwac-chain.pem"))
}

/// The date `n` days before the clock's, `YYYY-MM-DD`.
fn days_ago(clock: &ManualClock, n: i64) -> String {
    (clock.now() - time::Duration::days(n)).date().to_string()
}

fn rid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn accept(v: u32) -> String {
    format!("application/vnd.belfius.api+json; version={v}")
}

/// A sandbox with the demo configuration plus `extra` trust anchors.
async fn start(extra: Vec<Certificate>) -> (SandboxHandle, String) {
    start_with(extra, Clock::System).await
}

async fn start_with(extra: Vec<Certificate>, clock: Clock) -> (SandboxHandle, String) {
    let mut config = demo_config();
    config.tpp_trust_anchors.extend(extra);
    config.clock = clock;
    let handle = Sandbox::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("https://127.0.0.1:{}", handle.local_addr().port());
    (handle, base)
}

/// A reqwest client presenting `id`, trusting only the sandbox's server CA, not following
/// redirects.
fn http(id: &Identity, sandbox: &SandboxHandle) -> reqwest::Client {
    let roots = psd2_client::tls::roots(std::slice::from_ref(sandbox.server_ca().unwrap())).unwrap();
    let tls = psd2_client::tls::client_config(id, roots).unwrap();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn body(r: reqwest::Response) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let v = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
    (status, headers, v)
}

fn assert_error(got: &(StatusCode, reqwest::header::HeaderMap, Value), status: u16, error: &str) {
    assert_eq!(got.0.as_u16(), status, "{:?}", got.2);
    assert_eq!(got.2["error"], error, "{:?}", got.2);
    assert!(got.2["error_code"].is_string(), "{:?}", got.2);
    assert!(!got.2["error_description"].as_str().unwrap().is_empty());
}

fn pkce() -> (String, String) {
    let mut b = [0u8; 32];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    let verifier = URL_SAFE_NO_PAD.encode(b);
    let challenge =
        URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref());
    (verifier, challenge)
}

/// The PSU step: `GET consent_uri&state=S` → 302 → the code from `Location`.
async fn psu_step(c: &reqwest::Client, sca_url: &str) -> String {
    let r = c.get(format!("{sca_url}&state=st%20ate-1")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.starts_with(&format!("{REDIRECT}?code=")), "{loc}");
    assert!(loc.ends_with("&state=st%20ate-1"), "{loc}");
    let code = loc.split("code=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    assert_eq!(code.len(), 43);
    code
}

/// `GET url` (a consent-uris URL) with every header the call takes.
fn consent_request(c: &reqwest::Client, url: &str, challenge: &str) -> reqwest::RequestBuilder {
    c.get(url)
        .header("Request-ID", rid())
        .header("Accept", accept(4))
        .header("Client-ID", DEMO_CLIENT_ID)
        .header("Accept-Language", "en")
        .header("Code-Challenge-Method", "S256")
        .header("Code-Challenge", challenge)
        .header("Redirect-URI", REDIRECT)
}

/// consent-uris → PSU step: `(code, verifier)`.
async fn consent(c: &reqwest::Client, base: &str, scope: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let r = consent_request(c, &format!("{base}/consent-uris?scope={scope}"), &challenge).send().await.unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let uris = v.as_array().unwrap();
    assert_eq!(uris.iter().map(|u| u["language"].as_str().unwrap()).collect::<Vec<_>>(), ["fr", "nl"]);
    let uri = uris[0]["consent_uri"].as_str().unwrap();
    assert!(uri.starts_with(&format!("{base}/sca/authorize?ticket=")), "{uri}");
    (psu_step(c, uri).await, verifier)
}

async fn token_call(c: &reqwest::Client, base: &str, form: &[(&str, &str)], secret: &str) -> reqwest::Response {
    c.post(format!("{base}/token"))
        .basic_auth(DEMO_CLIENT_ID, Some(secret))
        .header("Request-ID", rid())
        .header("Accept", accept(3))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn exchange(c: &reqwest::Client, base: &str, code: &str, verifier: &str) -> Value {
    let form =
        [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT), ("code_verifier", verifier)];
    let (status, _, v) = body(token_call(c, base, &form, DEMO_CLIENT_SECRET).await).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], "900", "expires_in is a JSON string");
    assert_eq!(v["access_token"].as_str().unwrap().len(), 43);
    v
}

async fn get(
    c: &reqwest::Client,
    url: &str,
    version: u32,
    token: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = c
        .get(url)
        .header("Request-ID", rid())
        .header("Accept", accept(version))
        .header("Client-ID", DEMO_CLIENT_ID)
        .header("Accept-Language", "en");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    body(req.send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn ais_consent_sca_token_accounts_transactions_refresh() {
    let clock = ManualClock::new(time::OffsetDateTime::now_utc());
    let (sandbox, base) = start_with(Vec::new(), Clock::Manual(clock.clone())).await;
    let c = http(&test_qwac(), &sandbox);
    let (code, verifier) = consent(&c, &base, "AIS").await;
    let tok = exchange(&c, &base, &code, &verifier).await;
    assert_eq!(tok["scope"], "AIS");
    let access = tok["access_token"].as_str().unwrap().to_owned();

    // the code is single-use
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    assert_error(&body(token_call(&c, &base, &form, DEMO_CLIENT_SECRET).await).await, 400, "invalid_grant");

    let (status, headers, v) = get(&c, &format!("{base}/accounts"), 1, Some(&access)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(headers["content-type"], "application/json");
    let accounts = v["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2);
    assert_eq!(accounts[0]["iban"], IBAN);
    let id = accounts[0]["logical_id"].as_str().unwrap().to_owned();
    assert_eq!(tok["logical_id"], id);

    let (status, _, v) = get(&c, &format!("{base}/accounts/{id}"), 3, Some(&access)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["balance"], "1234.56");
    assert_eq!(v["multicurrency"], false);
    assert_eq!(v["_links"]["transactions"]["href"], format!("/accounts/{id}/transactions"));
    assert_error(&get(&c, &format!("{base}/accounts/nope"), 3, Some(&access)).await, 401, "FAILED_SECURITY_VALIDATION");

    let (status, _, v) = get(&c, &format!("{base}/accounts/{id}/transactions"), 2, Some(&access)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let txs = v["_embedded"]["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 2, "without date_from: the last 90 days");
    assert_eq!(txs[0]["amount"], "-12.34");
    assert!(v["_embedded"]["next_page_key"].is_null());
    let (_, _, v) = get(
        &c,
        &format!(
            "{base}/accounts/{id}/transactions?date_from={}&date_to={}",
            days_ago(&clock, 10),
            days_ago(&clock, 1)
        ),
        2,
        Some(&access),
    )
    .await;
    assert_eq!(v["_embedded"]["transactions"].as_array().unwrap().len(), 1);
    // transactions take version 2, not 1
    assert_error(
        &get(&c, &format!("{base}/accounts/{id}/transactions"), 1, Some(&access)).await,
        406,
        "NOT_ACCEPTABLE",
    );
    // no or a wrong token
    assert_error(&get(&c, &format!("{base}/accounts"), 1, None).await, 401, "FAILED_SECURITY_VALIDATION");
    assert_error(&get(&c, &format!("{base}/accounts"), 1, Some("forged")).await, 401, "FAILED_SECURITY_VALIDATION");

    // refresh: a new pair, the old pair stops working
    let refresh = tok["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let (status, _, new) = body(token_call(&c, &base, &form, DEMO_CLIENT_SECRET).await).await;
    assert_eq!(status, StatusCode::OK, "{new}");
    assert_eq!(new["expires_in"], "900");
    assert_ne!(new["access_token"], tok["access_token"]);
    assert_error(&get(&c, &format!("{base}/accounts"), 1, Some(&access)).await, 401, "FAILED_SECURITY_VALIDATION");
    let (status, _, _) = get(&c, &format!("{base}/accounts"), 1, new["access_token"].as_str()).await;
    assert_eq!(status, StatusCode::OK);
    let got = body(token_call(&c, &base, &form, DEMO_CLIENT_SECRET).await).await;
    assert_error(&got, 401, "FAILED_SECURITY_VALIDATION");
    assert_eq!(got.2["error_code"], "GEN-1203-100004");
    sandbox.shutdown().await.unwrap();
}

fn payment_body(amount: &str) -> Vec<u8> {
    payment_body_to("BE71096123456769", amount)
}

fn payment_body_to(iban: &str, amount: &str) -> Vec<u8> {
    serde_json::json!({
        "creditor_account": {"iban": iban},
        "creditor_name": "Jan Peeters",
        "instructed_amount": {"amount": amount, "currency": "EUR"},
        "endtoend_identification": "E2E-0001",
        "remittance_information_unstructured": "sandbox test",
    })
    .to_string()
    .into_bytes()
}

fn seal(body: &[u8], key: &str) -> String {
    let key = psd2_eidas::load::load_key(&certs().join(key), None).unwrap();
    let mut req = http::Request::post("https://sandbox.invalid/payments").body(body.to_vec()).unwrap();
    let o = psd2_httpsig::SignOptions { pis_encoding: PisEncoding::Standard, ..Default::default() };
    psd2_httpsig::sign(&psd2_httpsig::profile::BELFIUS_PIS, &mut req, &key, None, &o).unwrap();
    req.headers()["Signature"].to_str().unwrap().to_owned()
}

fn initiate(
    c: &reqwest::Client,
    base: &str,
    body: Vec<u8>,
    signature: Option<String>,
    challenge: &str,
) -> reqwest::RequestBuilder {
    let mut req = c
        .post(format!("{base}/payments/sepa-credit-transfers"))
        .header("Request-ID", rid())
        .header("Accept", accept(3))
        .header("Content-Type", "application/json")
        .header("Client-ID", DEMO_CLIENT_ID)
        .header("Accept-Language", "en")
        .header("Code-Challenge-Method", "S256")
        .header("Code-Challenge", challenge)
        .header("Redirect-URI", REDIRECT)
        .body(body);
    if let Some(s) = signature {
        req = req.header("Signature", s);
    }
    req
}

#[tokio::test(flavor = "multi_thread")]
async fn pis_initiate_sca_token_status_acsc() {
    let (sandbox, base) = start(Vec::new()).await;
    let c = http(&test_qwac(), &sandbox);
    let (verifier, challenge) = pkce();
    let b = payment_body("12.34");
    let sig = seal(&b, "rsa/qseal.key");
    let (status, headers, v) = body(initiate(&c, &base, b, Some(sig), &challenge).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["payment_status"], "RCVD");
    let pid = v["payment_id"].as_str().unwrap().to_owned();
    let sca = headers["location"].to_str().unwrap().to_owned();
    assert!(sca.starts_with(&format!("{base}/sca/authorize?ticket=")), "{sca}");

    let status_url = format!("{base}/payments/sepa-credit-transfers/{pid}/status");
    let (_, _, v) = get(&c, &status_url, 1, None).await;
    assert_eq!(v, serde_json::json!({"payment_id": pid, "payment_status": "RCVD"}));

    let code = psu_step(&c, &sca).await;
    let (_, _, v) = get(&c, &status_url, 1, None).await;
    assert_eq!(v["payment_status"], "ACSC");

    let tok = exchange(&c, &base, &code, &verifier).await;
    assert_eq!(tok["scope"], "PIS");
    let access = tok["access_token"].as_str().unwrap();
    let details = format!("{base}/payments/sepa-credit-transfers/{pid}");
    let (status, _, v) = get(&c, &details, 1, Some(access)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["payment_status"], "ACSC");
    assert_eq!(v["instructed_amount"], serde_json::json!({"amount": "12.34", "currency": "EUR"}));
    assert_eq!(v["creditor_account"]["iban"], "BE71096123456769");
    // details need the PIS Bearer; another product does not know this id
    assert_error(&get(&c, &details, 1, None).await, 401, "FAILED_SECURITY_VALIDATION");
    assert_error(
        &get(&c, &format!("{base}/payments/instant-sepa-credit-transfers/{pid}"), 1, Some(access)).await,
        404,
        "not_found",
    );
    sandbox.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn pis_signature_missing_or_invalid_is_400_invalid_signature() {
    let (sandbox, base) = start(Vec::new()).await;
    let c = http(&test_qwac(), &sandbox);
    let (_, challenge) = pkce();
    let b = payment_body("12.34");
    // missing
    let got = body(initiate(&c, &base, b.clone(), None, &challenge).send().await.unwrap()).await;
    assert_error(&got, 400, "invalid_signature");
    assert!(got.2["error_description"].as_str().unwrap().contains("Signature"), "{}", got.2);
    // made over another body
    let other = seal(&payment_body("99.99"), "rsa/qseal.key");
    let got = body(initiate(&c, &base, b.clone(), Some(other), &challenge).send().await.unwrap()).await;
    assert_error(&got, 400, "invalid_signature");
    // made with a key that is not the registered QSealC's (the RSA QWAC key)
    let wrong = seal(&b, "rsa/qwac.key");
    let got = body(initiate(&c, &base, b.clone(), Some(wrong), &challenge).send().await.unwrap()).await;
    assert_error(&got, 400, "invalid_signature");
    // garbage
    let got = body(initiate(&c, &base, b, Some("test".into()), &challenge).send().await.unwrap()).await;
    assert_error(&got, 400, "invalid_signature");
    sandbox.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn pis_creditor_iban_failing_mod_97_is_400_invalid_input() {
    let (sandbox, base) = start(Vec::new()).await;
    let c = http(&test_qwac(), &sandbox);
    let (_, challenge) = pkce();
    // one digit of BE71096123456769 changed; then a foreign valid IBAN, accepted
    for (iban, expected) in [("BE71096123456768", 400), ("BE71 0961 2345 6769", 400), ("DE89370400440532013000", 201)] {
        let b = payment_body_to(iban, "1.00");
        let sig = seal(&b, "rsa/qseal.key");
        let got = body(initiate(&c, &base, b, Some(sig), &challenge).send().await.unwrap()).await;
        if expected == 201 {
            assert_eq!(got.0, StatusCode::CREATED, "{iban}: {}", got.2);
            continue;
        }
        assert_error(&got, 400, "INVALID_INPUT");
        assert_eq!(got.2["error_code"], "GEN-1202-100002");
        let d = got.2["error_description"].as_str().unwrap();
        assert!(d.starts_with(&format!("creditor_account.iban {iban:?} is not an IBAN: ")), "{d}");
    }
    sandbox.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn caf_consent_token_funds_true_false() {
    let (sandbox, base) = start(Vec::new()).await;
    let c = http(&test_qwac(), &sandbox);
    let (code, verifier) = consent(&c, &base, "CAF").await;
    let tok = exchange(&c, &base, &code, &verifier).await;
    assert_eq!(tok["scope"], "CAF");
    let access = tok["access_token"].as_str().unwrap();
    let funds = |iban: &str, amount: &str, token: &str| {
        c.post(format!("{base}/funds-confirmations"))
            .header("Request-ID", rid())
            .header("Accept", accept(1))
            .header("Client-ID", DEMO_CLIENT_ID)
        .header("Accept-Language", "en")
            .header("Content-Type", "application/json")
            .bearer_auth(token)
            .body(
                serde_json::json!({"account": {"iban": iban}, "instructed_amount": {"currency": "EUR", "amount": amount}})
                    .to_string(),
            )
            .send()
    };
    let (status, _, v) = body(funds(IBAN, "12.34", access).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v, serde_json::json!({"funds_available": true}));
    let (_, _, v) = body(funds(IBAN, "1234.56", access).await.unwrap()).await;
    assert_eq!(v["funds_available"], true, "the whole balance is available");
    let (_, _, v) = body(funds(IBAN, "1234.57", access).await.unwrap()).await;
    assert_eq!(v["funds_available"], false);
    let (_, _, v) = body(funds("BE71096123456769", "12.34", access).await.unwrap()).await;
    assert_eq!(v["funds_available"], false);
    assert_error(&body(funds("BE00000000000000", "1.00", access).await.unwrap()).await, 404, "not_found");
    // an AIS token is not a CAF token
    let (code, verifier) = consent(&c, &base, "AIS").await;
    let ais = exchange(&c, &base, &code, &verifier).await;
    assert_error(
        &body(funds(IBAN, "1.00", ais["access_token"].as_str().unwrap()).await.unwrap()).await,
        401,
        "FAILED_SECURITY_VALIDATION",
    );
    sandbox.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn request_id_accept_pkce_and_client_checks() {
    let (sandbox, base) = start(Vec::new()).await;
    let c = http(&test_qwac(), &sandbox);
    let (_, challenge) = pkce();
    let consent_req = |request_id: &str, accept_value: Option<&str>| {
        let mut r = c
            .get(format!("{base}/consent-uris?scope=AIS"))
            .header("Request-ID", request_id)
            .header("Client-ID", DEMO_CLIENT_ID)
            .header("Accept-Language", "en")
            .header("Code-Challenge-Method", "S256")
            .header("Code-Challenge", &challenge)
            .header("Redirect-URI", REDIRECT);
        if let Some(a) = accept_value {
            r = r.header("Accept", a);
        }
        r.send()
    };
    let v4 = rid();
    let (status, headers, _) = body(consent_req(&v4, Some(&accept(4))).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["response-id"], v4.as_str(), "Response-ID echoes Request-ID");
    let upper = rid().to_uppercase();
    assert_eq!(body(consent_req(&upper, Some(&accept(4))).await.unwrap()).await.0, StatusCode::OK);

    // bad Request-ID: not a UUID, a UUID v1
    for bad in ["12345", "3f2c1e8a-9b7d-1c6e-8f1a-2b3c4d5e6f70"] {
        let got = body(consent_req(bad, Some(&accept(4))).await.unwrap()).await;
        assert_error(&got, 400, "INVALID_INPUT");
        assert_eq!(got.1["response-id"], bad);
    }
    // wrong Accept version, other media type, none
    assert_error(&body(consent_req(&rid(), Some(&accept(3))).await.unwrap()).await, 406, "NOT_ACCEPTABLE");
    assert_error(&body(consent_req(&rid(), Some("application/json")).await.unwrap()).await, 406, "NOT_ACCEPTABLE");
    assert_error(&body(consent_req(&rid(), None).await.unwrap()).await, 406, "NOT_ACCEPTABLE");

    // unknown Client-ID
    let r = c
        .get(format!("{base}/consent-uris?scope=AIS"))
        .header("Request-ID", rid())
        .header("Accept", accept(4))
        .header("Client-ID", "nobody")
        .header("Accept-Language", "en")
        .header("Code-Challenge-Method", "S256")
        .header("Code-Challenge", &challenge)
        .header("Redirect-URI", REDIRECT)
        .send()
        .await
        .unwrap();
    assert_error(&body(r).await, 401, "FAILED_SECURITY_VALIDATION");

    // wrong PKCE verifier → invalid_grant; then the right one still works
    let (code, verifier) = consent(&c, &base, "AIS").await;
    let (wrong, _) = pkce();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", wrong.as_str()),
    ];
    let got = body(token_call(&c, &base, &form, DEMO_CLIENT_SECRET).await).await;
    assert_error(&got, 400, "invalid_grant");
    assert!(got.2["error_description"].as_str().unwrap().contains("PKCE"));
    // wrong redirect_uri, wrong client secret
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://evil.example.com/cb"),
        ("code_verifier", verifier.as_str()),
    ];
    assert_error(&body(token_call(&c, &base, &form, DEMO_CLIENT_SECRET).await).await, 400, "invalid_grant");
    assert_error(&body(token_call(&c, &base, &form, "wrong-secret").await).await, 401, "FAILED_SECURITY_VALIDATION");
    exchange(&c, &base, &code, &verifier).await;
    // unknown path
    assert_error(&get(&c, &format!("{base}/nope"), 1, None).await, 404, "not_found");
    sandbox.shutdown().await.unwrap();
}

/// A fresh test CA in `dir` and a QWAC of the test TPP with `roles`.
fn issue_qwac(dir: &Path, roles: Vec<Role>) -> (Certificate, Identity) {
    issue_qwac_for(dir, roles, "PSDBE-NBB-0999.888.777")
}

/// A fresh test CA in `dir` and a QWAC of the TPP `organization_identifier` with `roles`.
fn issue_qwac_for(dir: &Path, roles: Vec<Role>, organization_identifier: &str) -> (Certificate, Identity) {
    let ca = CertificateAuthority::init(dir, &InitOptions { key_type: KeyType::P256, ..Default::default() }).unwrap();
    let subject =
        Psd2Subject { organization_identifier: organization_identifier.into(), roles, ..Psd2Subject::example() };
    let mut req = IssueRequest::new(CertKind::Qwac, subject);
    req.ev = EvSubject::example();
    let issued = ca.issue(&req).unwrap();
    issued.write(&dir.join("qwac")).unwrap();
    let root = psd2_eidas::load::load_certificates(&dir.join("ca.pem"), None).unwrap().remove(0);
    (root, identity(&dir.join("qwac.key"), &dir.join("qwac-chain.pem")))
}

#[tokio::test(flavor = "multi_thread")]
async fn qwac_without_the_role_gets_403_role_missing() {
    let dir = tempfile::tempdir().unwrap();
    let (root, ai_only) = issue_qwac(dir.path(), vec![Role::AccountInformation]);
    let (sandbox, base) = start(vec![root]).await;
    let c = http(&ai_only, &sandbox);
    let (_, challenge) = pkce();
    let b = payment_body("1.00");
    let sig = seal(&b, "rsa/qseal.key");
    let got = body(initiate(&c, &base, b, Some(sig), &challenge).send().await.unwrap()).await;
    assert_error(&got, 403, "role_missing");
    assert!(got.2["error_description"].as_str().unwrap().contains("PSP_PI"), "{}", got.2);
    // CAF consent needs PSP_IC too; AIS works with this QWAC
    let r = c
        .get(format!("{base}/consent-uris?scope=CAF"))
        .header("Request-ID", rid())
        .header("Accept", accept(4))
        .header("Client-ID", DEMO_CLIENT_ID)
        .header("Accept-Language", "en")
        .header("Code-Challenge-Method", "S256")
        .header("Code-Challenge", &challenge)
        .header("Redirect-URI", REDIRECT)
        .send()
        .await
        .unwrap();
    assert_error(&body(r).await, 403, "role_missing");
    let (code, verifier) = consent(&c, &base, "AIS").await;
    exchange(&c, &base, &code, &verifier).await;
    sandbox.shutdown().await.unwrap();
}

/// `GET /consent-uris?scope=AIS` with the demo client id.
async fn consent_status(c: &reqwest::Client, base: &str) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let (_, challenge) = pkce();
    body(consent_request(c, &format!("{base}/consent-uris?scope=AIS"), &challenge).send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn not_a_qwac_or_another_tpp_gets_403_invalid_certificate() {
    // a QSealC (QcType eseal, no extendedKeyUsage) passes TLS but is not a QWAC
    let (sandbox, base) = start(Vec::new()).await;
    let qseal = identity(&certs().join("ec/qseal.key"), &certs().join("ec/qseal-chain.pem"));
    let got = consent_status(&http(&qseal, &sandbox), &base).await;
    assert_error(&got, 403, "invalid_certificate");
    assert!(got.2["error_description"].as_str().unwrap().contains("QcType web"), "{}", got.2);
    sandbox.shutdown().await.unwrap();

    // a QWAC of another TPP (organizationIdentifier) than the client id's registered QSealC
    let dir = tempfile::tempdir().unwrap();
    let (root, other) = issue_qwac_for(dir.path(), Role::ALL.to_vec(), "PSDBE-NBB-0111.222.333");
    let (sandbox, base) = start(vec![root]).await;
    let got = consent_status(&http(&other, &sandbox), &base).await;
    assert_error(&got, 403, "invalid_certificate");
    assert!(got.2["error_description"].as_str().unwrap().contains("PSDBE-NBB-0111.222.333"), "{}", got.2);
    sandbox.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn client_certificate_from_an_untrusted_ca_is_refused_in_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let (_untrusted_root, stranger) = issue_qwac(dir.path(), Role::ALL.to_vec());
    let (sandbox, base) = start(Vec::new()).await;
    let c = http(&stranger, &sandbox);
    let err = c
        .get(format!("{base}/accounts"))
        .header("Request-ID", rid())
        .header("Accept", accept(1))
        .send()
        .await
        .expect_err("the TLS layer refuses the client certificate");
    let chain = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ");
    // With TLS 1.3 the client has finished its side of the handshake when the server refuses
    // the certificate: it reads the alert, or (a race) only sees the connection closed before
    // the request could be written. Either way no HTTP answer came.
    let lower = chain.to_lowercase();
    assert!(
        ["certificate", "alert", "connection was not ready", "connection closed", "reset"]
            .iter()
            .any(|m| lower.contains(m)),
        "{chain}"
    );
    // the trusted QWAC still gets through
    let ok = http(&test_qwac(), &sandbox);
    assert_error(&get(&ok, &format!("{base}/accounts"), 1, None).await, 401, "FAILED_SECURITY_VALIDATION");
    sandbox.shutdown().await.unwrap();
}

/// curl and openssl s_client as independent TLS clients: the QWAC is accepted (HTTP 200 on
/// consent-uris), no client certificate is refused in the handshake.
#[tokio::test(flavor = "multi_thread")]
async fn curl_and_openssl_cross_check() {
    let (sandbox, base) = start(Vec::new()).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("server-ca.pem");
    std::fs::write(&ca, sandbox.server_ca().unwrap().to_pem()).unwrap();
    let (_, challenge) = pkce();
    let ec = certs().join("ec");
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(args[0].clone()).args(&args[1..]).output().unwrap()
        })
    };
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let curl = |with_cert: bool| {
        let mut a = vec!["curl".to_owned(), "-sS".into(), "-i".into(), "--cacert".into(), s(&ca)];
        if with_cert {
            a.extend(["--cert".into(), s(&ec.join("qwac-chain.pem")), "--key".into(), s(&ec.join("qwac.key"))]);
        }
        for h in [
            format!("Request-ID: {}", rid()),
            format!("Accept: {}", accept(4)),
            format!("Client-ID: {DEMO_CLIENT_ID}"),
            "Accept-Language: en".into(),
            "Code-Challenge-Method: S256".into(),
            format!("Code-Challenge: {challenge}"),
            format!("Redirect-URI: {REDIRECT}"),
        ] {
            a.extend(["-H".into(), h]);
        }
        a.push(format!("{base}/consent-uris?scope=AIS"));
        a
    };
    let out = run(curl(true)).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text} {}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.to_lowercase().contains("response-id:"), "{text}");
    assert!(text.contains("/sca/authorize?ticket="), "{text}");

    let out = run(curl(false)).await.unwrap();
    assert!(
        !out.status.success(),
        "without a client certificate curl must fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    // openssl s_client: the server asks for a certificate from the TPP CA and verifies the
    // chain the client sends: the leaf alone (issued by an intermediate) is an unknown CA.
    let port = sandbox.local_addr().port();
    let s_client = |chain: bool| {
        let chain = if chain { format!("-cert_chain {}", s(&ec.join("qwac-chain.pem"))) } else { String::new() };
        vec![
            "sh".to_owned(),
            "-c".into(),
            format!(
                "printf 'GET /nope HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n' | openssl s_client -connect 127.0.0.1:{port} -CAfile {} -cert {} -key {} {chain} -verify_return_error -ign_eof 2>&1",
                s(&ca),
                s(&ec.join("qwac.pem")),
                s(&ec.join("qwac.key"))
            ),
        ]
    };
    let out = run(s_client(true)).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    assert!(text.contains("Acceptable client certificate CA names"), "{text}");
    assert!(text.contains("HTTP/1.1 404"), "{text}");
    let out = run(s_client(false)).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("alert unknown ca"), "{text}");
    assert!(!text.contains("HTTP/1.1"), "{text}");
    sandbox.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_is_graceful_and_bounded() {
    let (sandbox, base) = start(Vec::new()).await;
    let c = http(&test_qwac(), &sandbox);
    // an idle keep-alive connection stays open
    assert_eq!(get(&c, &format!("{base}/nope"), 1, None).await.0, StatusCode::NOT_FOUND);
    let addr = sandbox.local_addr();
    let t = std::time::Instant::now();
    sandbox.shutdown().await.unwrap();
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no longer listening");
}

#[tokio::test(flavor = "multi_thread")]
async fn access_tokens_expire_after_900_s_codes_after_10_min() {
    let clock = ManualClock::new(time::OffsetDateTime::now_utc());
    let (sandbox, base) = start_with(Vec::new(), Clock::Manual(clock.clone())).await;
    let c = http(&test_qwac(), &sandbox);
    let (code, verifier) = consent(&c, &base, "AIS").await;
    let tok = exchange(&c, &base, &code, &verifier).await;
    let access = tok["access_token"].as_str().unwrap();
    clock.advance(time::Duration::seconds(899));
    assert_eq!(get(&c, &format!("{base}/accounts"), 1, Some(access)).await.0, StatusCode::OK);
    clock.advance(time::Duration::seconds(1));
    let got = get(&c, &format!("{base}/accounts"), 1, Some(access)).await;
    assert_error(&got, 401, "FAILED_SECURITY_VALIDATION");
    assert!(got.2["error_description"].as_str().unwrap().contains("expired"), "{}", got.2);
    // the refresh token still works
    let form = [("grant_type", "refresh_token"), ("refresh_token", tok["refresh_token"].as_str().unwrap())];
    let (status, _, new) = body(token_call(&c, &base, &form, DEMO_CLIENT_SECRET).await).await;
    assert_eq!(status, StatusCode::OK, "{new}");
    assert_eq!(get(&c, &format!("{base}/accounts"), 1, new["access_token"].as_str()).await.0, StatusCode::OK);
    // an authorization code is good for 10 minutes
    let (code, verifier) = consent(&c, &base, "AIS").await;
    clock.advance(time::Duration::minutes(10));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    assert_error(&body(token_call(&c, &base, &form, DEMO_CLIENT_SECRET).await).await, 400, "invalid_grant");
    sandbox.shutdown().await.unwrap();
}

/// The bank client against the embedded sandbox: the same code as for the live banks, over
/// real mTLS, every flow of docs/sandbox-api.md.
mod bank_client {
    use psd2_client::types::{Amount, FundsRequest, PaymentRequest};
    use psd2_client::{Bank, Client, ClientOptions, Environment, Error, PaymentProduct, PisAuth, Pkce, Scope};
    use psd2_eidas::Secret;
    use psd2_test_support::certs::identity;

    use super::*;

    async fn start() -> (SandboxHandle, Client) {
        let sandbox = Sandbox::start(demo_config(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let env = Environment::Custom(format!("https://127.0.0.1:{}", sandbox.local_addr().port()));
        let options = ClientOptions::new(Bank::Belfius, env, DEMO_CLIENT_ID, REDIRECT)
            .with_client_secret(Secret::new(DEMO_CLIENT_SECRET))
            .with_extra_root(sandbox.server_ca().unwrap().clone())
            .without_public_roots();
        let client = Client::new(identity("rsa", "qwac"), Some(identity("rsa", "qseal")), options).unwrap();
        (sandbox, client)
    }

    /// `psd2_client::session` across "requests": the session file carries the verifier and
    /// state from the consent to the redirect, then the token to the next call.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn session_file_carries_the_consent_to_the_token() {
        use psd2_client::session::{self, Session};
        let (sandbox, client) = start().await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.json");
        let mut s = Session::load(&file).unwrap();
        let (pkce, state) = s.start(Scope::Caf).unwrap();
        let uris = client.consent_uris(Scope::Caf, &pkce).await.unwrap();
        s.save(&file).unwrap();
        let code = client.psu_authorize(&uris[0].consent_uri, &state).await.unwrap();
        // A redirect with another consent's state is refused; the pending consent stays.
        let mut s = Session::load(&file).unwrap();
        let wrong = session::parse_callback(&format!("{REDIRECT}?code={code}&state=other")).unwrap();
        let e = s.complete(&client, &wrong.code, wrong.state.as_deref()).await.unwrap_err();
        assert!(matches!(e, Error::StateMismatch { .. }), "{e}");
        let cb = session::parse_callback(&format!("{REDIRECT}?code={code}&state={state}")).unwrap();
        assert_eq!(s.complete(&client, &cb.code, cb.state.as_deref()).await.unwrap().scope.as_deref(), Some("CAF"));
        assert!(s.pending().is_none());
        s.save(&file).unwrap();
        let s = Session::load(&file).unwrap();
        let req = FundsRequest::new(IBAN, Amount::new("1.00", "EUR"));
        let yes = client.funds_confirmation(s.access_token(Scope::Caf).unwrap(), &req).await.unwrap();
        assert!(yes.funds_available);
        let e = s.pending_for(None).unwrap_err();
        assert!(matches!(e, Error::NoPendingAuthorization), "{e}");
        sandbox.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ais_consent_token_accounts_transactions_refresh() {
        let (sandbox, client) = start().await;
        let pkce = Pkce::generate().unwrap();
        let uris = client.consent_uris(Scope::Ais, &pkce).await.unwrap();
        assert_eq!(uris.iter().map(|u| u.language.as_str()).collect::<Vec<_>>(), ["fr", "nl"]);
        let code = client.psu_authorize(&uris[0].consent_uri, "s-ais").await.unwrap();
        let token = client.token_from_code(&code, pkce.verifier()).await.unwrap();
        assert_eq!(token.scope.as_deref(), Some("AIS"));
        assert_eq!(token.expires_in.as_deref(), Some("900"));
        // A code works once.
        let again = client.token_from_code(&code, pkce.verifier()).await.unwrap_err();
        assert!(matches!(again, Error::Http { status: 400, .. }), "{again:?}");

        let list = client.accounts(&token.access_token).await.unwrap();
        let ibans: Vec<_> = list.accounts.iter().map(|a| a.iban.clone().unwrap()).collect();
        assert_eq!(ibans, ["BE68539007547034", "BE71096123456769"]);
        let first = &list.accounts[0].logical_id;
        assert_eq!(token.logical_id.as_ref(), Some(first));
        let details = client.account(&token.access_token, first).await.unwrap();
        assert_eq!(details.balance.as_deref(), Some("1234.56"));
        let page = client.transactions(&token.access_token, first, None, None, None, None).await.unwrap();
        assert_eq!(page.embedded.transactions.len(), 2);
        let e = client.account(&token.access_token, "no-such-account").await.unwrap_err();
        assert!(
            matches!(&e, Error::Http { status: 401, error: Some(b), .. } if b.error_code.as_deref() == Some("GEN-1203-100010")),
            "{e:?}"
        );

        // Refresh: the new pair works, the old one stops.
        let fresh = client.refresh(token.refresh_token.as_deref().unwrap()).await.unwrap();
        client.accounts(&fresh.access_token).await.unwrap();
        let old = client.accounts(&token.access_token).await.unwrap_err();
        assert!(matches!(old, Error::Http { status: 401, .. }), "{old:?}");
        sandbox.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pis_sealed_sca_token_status_and_caf() {
        let (sandbox, client) = start().await;
        let mut payment = PaymentRequest::new("BE71096123456769", "Payee", Amount::new("12.34", "EUR"));
        payment.remittance_information_unstructured = Some("invoice 42".into());
        payment.endtoend_identification = Some("E2E-42".into());
        let pkce = Pkce::generate().unwrap();
        let init = client
            .initiate_payment(PaymentProduct::SepaCreditTransfers, payment.to_body().unwrap(), PisAuth::Pkce(&pkce))
            .await
            .unwrap();
        assert_eq!(init.payment_status.as_deref(), Some("RCVD"));
        let before = client.payment_status(PaymentProduct::SepaCreditTransfers, &init.payment_id, None).await.unwrap();
        assert_eq!(before.payment_status, "RCVD");
        let code = client.psu_authorize(init.sca_uri.as_deref().unwrap(), "s-pis").await.unwrap();
        let pis = client.token_from_code(&code, pkce.verifier()).await.unwrap();
        assert_eq!(pis.scope.as_deref(), Some("PIS"));
        let status = client.payment_status(PaymentProduct::SepaCreditTransfers, &init.payment_id, None).await.unwrap();
        assert_eq!(status.payment_status, "ACSC");
        let details =
            client.payment(&pis.access_token, PaymentProduct::SepaCreditTransfers, &init.payment_id).await.unwrap();
        assert_eq!(details.instructed_amount, Some(Amount::new("12.34", "EUR")));
        // A later payment with the PIS token instead of PKCE.
        let second = client
            .initiate_payment(
                PaymentProduct::SepaCreditTransfers,
                payment.to_body().unwrap(),
                PisAuth::Bearer(&pis.access_token),
            )
            .await
            .unwrap();
        assert_ne!(second.payment_id, init.payment_id);
        // An AIS token is not a PIS token.
        let wrong = client.payment("not-a-token", PaymentProduct::SepaCreditTransfers, &init.payment_id).await;
        assert!(matches!(wrong, Err(Error::Http { status: 401, .. })), "{wrong:?}");

        // CAF.
        let pkce = Pkce::generate().unwrap();
        let uris = client.consent_uris(Scope::Caf, &pkce).await.unwrap();
        let code = client.psu_authorize(&uris[0].consent_uri, "s-caf").await.unwrap();
        let caf = client.token_from_code(&code, pkce.verifier()).await.unwrap();
        assert_eq!(caf.scope.as_deref(), Some("CAF"));
        let yes = FundsRequest::new("BE68539007547034", Amount::new("1234.56", "EUR"));
        assert!(client.funds_confirmation(&caf.access_token, &yes).await.unwrap().funds_available);
        let no = FundsRequest::new("BE71096123456769", Amount::new("10.01", "EUR"));
        assert!(!client.funds_confirmation(&caf.access_token, &no).await.unwrap().funds_available);
        sandbox.shutdown().await.unwrap();
    }
}

/// Belfius as published (December 2026): error codes, two banks, SCA token, unattended calls,
/// faults (docs/sandbox-api.md).
mod december_2026 {
    use std::sync::Arc;

    use psd2_eidas::Secret;
    use psd2_sandbox::{ClientRegistration, Faults};

    use super::*;

    /// A sandbox on a clock the test moves (through `SandboxConfig::with_clock`).
    async fn start_at(config: SandboxConfig) -> (SandboxHandle, String, ManualClock) {
        let clock = ManualClock::new(time::macros::datetime!(2026-12-15 10:00 UTC));
        let config = config.with_clock(clock.as_fn());
        let handle = Sandbox::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let base = format!("https://127.0.0.1:{}", handle.local_addr().port());
        (handle, base, clock)
    }

    /// An AIS access token (and the whole token answer) on `base`.
    async fn ais_token(c: &reqwest::Client, base: &str) -> Value {
        let (code, verifier) = consent(c, base, "AIS").await;
        exchange(c, base, &code, &verifier).await
    }

    /// [`start_at`] with the demo configuration and a client with the test QWAC.
    async fn start_demo() -> (SandboxHandle, String, ManualClock, reqwest::Client) {
        let (sandbox, base, clock) = start_at(demo_config()).await;
        let c = http(&test_qwac(), &sandbox);
        (sandbox, base, clock, c)
    }

    /// [`start_demo`] and an AIS token.
    async fn start_with_ais() -> (SandboxHandle, String, ManualClock, reqwest::Client, Value) {
        let (sandbox, base, clock, c) = start_demo().await;
        let tok = ais_token(&c, &base).await;
        (sandbox, base, clock, c, tok)
    }

    fn access(tok: &Value) -> &str {
        tok["access_token"].as_str().unwrap()
    }

    fn assert_code(got: &(StatusCode, reqwest::header::HeaderMap, Value), status: u16, error: &str, code: &str) {
        assert_error(got, status, error);
        assert_eq!(got.2["error_code"], code, "{}", got.2);
    }

    /// A GET with the given headers only (besides the client certificate).
    async fn get_with(
        c: &reqwest::Client,
        url: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = c.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        body(req.send().await.unwrap()).await
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn error_bodies_carry_the_current_codes() {
        let (sandbox, base, _, c, tok) = start_with_ais().await;
        let url = format!("{base}/accounts");
        let (id, a1, l) = (rid(), accept(1), "en");
        let bearer = format!("Bearer {}", access(&tok));
        let full = [
            ("Request-ID", id.as_str()),
            ("Accept", a1.as_str()),
            ("Accept-Language", l),
            ("Client-ID", DEMO_CLIENT_ID),
            ("Authorization", bearer.as_str()),
        ];
        assert_eq!(get_with(&c, &url, &full).await.0, StatusCode::OK);
        // a header missing, a header invalid
        assert_code(&get_with(&c, &url, &full[1..]).await, 400, "MISSING_INPUT", "GEN-1201-100001");
        let mut bad = full;
        bad[0].1 = "not-a-uuid";
        assert_code(&get_with(&c, &url, &bad).await, 400, "INVALID_INPUT", "GEN-1202-100001");
        // Accept-Language missing or another language: 406
        let no_lang = [full[0], full[1], full[3], full[4]];
        let got = get_with(&c, &url, &no_lang).await;
        assert_code(&got, 406, "NOT_ACCEPTABLE", "406");
        assert!(got.2["error_description"].as_str().unwrap().contains("Accept-Language"), "{}", got.2);
        let mut de = full;
        de[2].1 = "de";
        assert_code(&get_with(&c, &url, &de).await, 406, "NOT_ACCEPTABLE", "406");
        let mut nl_be = full;
        nl_be[2].1 = "nl-BE, en;q=0.5";
        assert_eq!(get_with(&c, &url, &nl_be).await.0, StatusCode::OK);
        // security validation: access token, Client-ID, refresh token
        let mut forged = full;
        forged[4].1 = "Bearer forged";
        assert_code(&get_with(&c, &url, &forged).await, 401, "FAILED_SECURITY_VALIDATION", "GEN-1203-100003");
        let mut nobody = full;
        nobody[3].1 = "nobody";
        assert_code(&get_with(&c, &url, &nobody).await, 401, "FAILED_SECURITY_VALIDATION", "GEN-1203-100009");
        let form = [("grant_type", "refresh_token"), ("refresh_token", "unknown")];
        let got = body(token_call(&c, &base, &form, DEMO_CLIENT_SECRET).await).await;
        assert_code(&got, 401, "FAILED_SECURITY_VALIDATION", "GEN-1203-100004");
        let got = body(token_call(&c, &base, &[("grant_type", "authorization_code")], "wrong").await).await;
        assert_code(&got, 401, "FAILED_SECURITY_VALIDATION", "GEN-1203-100009");
        // body/query inputs: a missing query parameter, a malformed date
        let (_, challenge) = pkce();
        let r = consent_request(&c, &format!("{base}/consent-uris"), &challenge).send().await.unwrap();
        assert_code(&body(r).await, 400, "MISSING_INPUT", "GEN-1201-100002");
        let logical = sandbox.logical_id(IBAN).unwrap();
        let got =
            get(&c, &format!("{base}/accounts/{logical}/transactions?date_from=yesterday"), 2, Some(access(&tok)))
                .await;
        assert_code(&got, 400, "INVALID_INPUT", "GEN-1202-100002");
        // logical ids: not ours → Invalid JWT; well-formed but not in the consent → INVALID_ACCOUNT
        let got = get(&c, &format!("{base}/accounts/nope"), 3, Some(access(&tok))).await;
        assert_code(&got, 401, "FAILED_SECURITY_VALIDATION", "GEN-1203-100010");
        let mut parts: Vec<String> = logical.split('.').map(str::to_owned).collect();
        parts[3] = URL_SAFE_NO_PAD.encode([7u8; 48]);
        let got = get(&c, &format!("{base}/accounts/{}", parts.join(".")), 3, Some(access(&tok))).await;
        assert_code(&got, 403, "INVALID_ACCOUNT", "B14800ZZ-3002-000000");
        // unchanged forms
        assert_code(&get(&c, &format!("{base}/nope"), 1, None).await, 404, "not_found", "404");
        let got = body(c.delete(format!("{base}/accounts")).send().await.unwrap()).await;
        assert_code(&got, 405, "method_not_allowed", "405");
        let got = body(token_call(&c, &base, &[("grant_type", "password")], DEMO_CLIENT_SECRET).await).await;
        assert_code(&got, 400, "unsupported_grant_type", "400");
        sandbox.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn pis_codes_endtoend_amount_currency_bic() {
        let (sandbox, base, _, c) = start_demo().await;
        let (_, challenge) = pkce();
        let pay = |body: Value| {
            let b = body.to_string().into_bytes();
            let sig = seal(&b, "rsa/qseal.key");
            initiate(&c, &base, b, Some(sig), &challenge).send()
        };
        let good = || -> Value { serde_json::from_slice(&payment_body("1.00")).unwrap() };
        let mut no_e2e = good();
        no_e2e.as_object_mut().unwrap().remove("endtoend_identification");
        let mut long_e2e = good();
        long_e2e["endtoend_identification"] = "x".repeat(36).into();
        let mut zero = good();
        zero["instructed_amount"]["amount"] = "0.00".into();
        let mut negative = good();
        negative["instructed_amount"]["amount"] = "-5.00".into();
        let mut usd = good();
        usd["instructed_amount"]["currency"] = "USD".into();
        let mut bic = good();
        bic["creditor_account"]["bic"] = "GKCC".into();
        for (b, code, needle) in [
            (no_e2e, "B14821ZZ-1200-000000", "endtoend_identification is missing"),
            (long_e2e, "B14821ZZ-1200-000000", "endtoend_identification"),
            (zero, "B14821ZZ-1231-000000", "above 0"),
            (negative, "B14821ZZ-1231-000000", "above 0"),
            (usd, "B14821ZZ-1232-000000", "EUR"),
            (bic, "B14821ZZ-2102-000000", "BIC"),
        ] {
            let got = body(pay(b).await.unwrap()).await;
            assert_code(&got, 400, "INVALID_INPUT", code);
            assert!(got.2["error_description"].as_str().unwrap().contains(needle), "{}", got.2);
        }
        let mut ok_bic = good();
        ok_bic["creditor_account"]["bic"] = "GKCCBEBB".into();
        assert_eq!(body(pay(ok_bic).await.unwrap()).await.0, StatusCode::CREATED);
        let mut no_name = good();
        no_name.as_object_mut().unwrap().remove("creditor_name");
        assert_code(&body(pay(no_name).await.unwrap()).await, 400, "MISSING_INPUT", "GEN-1201-100002");
        // PIS calls carry Client-ID: Accept-Language required
        let b = payment_body("1.00");
        let sig = seal(&b, "rsa/qseal.key");
        let mut req = initiate(&c, &base, b, Some(sig), &challenge).build().unwrap();
        req.headers_mut().remove("accept-language");
        assert_code(&body(c.execute(req).await.unwrap()).await, 406, "NOT_ACCEPTABLE", "406");
        sandbox.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn logical_ids_are_jwe_shaped_random_per_start_and_stable() {
        let (a, base, _) = start_at(demo_config()).await;
        let (b, _, _) = start_at(demo_config()).await;
        let id = a.logical_id(IBAN).unwrap();
        let parts: Vec<&str> = id.split('.').collect();
        assert_eq!(parts.len(), 5, "{id}");
        assert!(parts[1].is_empty(), "{id}");
        assert!(parts.iter().enumerate().all(|(i, p)| i == 1 || (!p.is_empty() && !p.contains(['+', '/', '=']))));
        assert!(uuid::Uuid::try_parse(&id).is_err());
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "dir");
        assert!(!id.contains(IBAN) && !id.contains("7034"));
        assert_ne!(b.logical_id(IBAN).unwrap(), id, "random per start");
        assert_eq!(a.logical_id(IBAN).unwrap(), id, "stable while running");
        assert!(a.logical_id("BE00000000000000").is_none());
        // the API hands out the same ids; the other start's ids are not ours
        let c = http(&test_qwac(), &a);
        let tok = ais_token(&c, &base).await;
        let (_, _, v) = get(&c, &format!("{base}/accounts"), 1, Some(access(&tok))).await;
        assert_eq!(v["accounts"][0]["logical_id"], id.as_str());
        assert_eq!(tok["logical_id"], id.as_str());
        let other = b.logical_id(IBAN).unwrap();
        let got = get(&c, &format!("{base}/accounts/{other}"), 3, Some(access(&tok))).await;
        assert_code(&got, 401, "FAILED_SECURITY_VALIDATION", "GEN-1203-100010");
        a.shutdown().await.unwrap();
        b.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn belfius_at_the_root_banx_under_banx() {
        let (sandbox, root, _) = start_at(demo_config()).await;
        let banx = format!("{root}/banx");
        let c = http(&test_qwac(), &sandbox);
        let bel_tok = ais_token(&c, &root).await;
        let banx_tok = ais_token(&c, &banx).await;
        let banx_id = sandbox.logical_id("BE14645123456783").unwrap();
        let bel_id = sandbox.logical_id(IBAN).unwrap();
        assert_eq!(banx_tok["logical_id"], banx_id.as_str());
        // each bank lists its own accounts
        let (_, _, v) = get(&c, &format!("{banx}/accounts"), 1, Some(access(&banx_tok))).await;
        let ibans: Vec<&str> = v["accounts"].as_array().unwrap().iter().map(|a| a["iban"].as_str().unwrap()).collect();
        assert_eq!(ibans, ["BE14645123456783"]);
        let (_, _, v) = get(&c, &format!("{root}/accounts"), 1, Some(access(&bel_tok))).await;
        assert_eq!(v["accounts"].as_array().unwrap().len(), 2);
        let (status, _, v) = get(&c, &format!("{banx}/accounts/{banx_id}"), 3, Some(access(&banx_tok))).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["balance"], "500.00");
        assert_eq!(v["_links"]["self"]["href"], format!("/banx/accounts/{banx_id}"));
        let (_, _, v) = get(&c, &format!("{banx}/accounts/{banx_id}/transactions"), 2, Some(access(&banx_tok))).await;
        assert_eq!(v["_embedded"]["transactions"].as_array().unwrap().len(), 1);
        // the other bank's account: CHANNEL_NOT_PERMITTED naming it
        let got = get(&c, &format!("{banx}/accounts/{bel_id}"), 3, Some(access(&banx_tok))).await;
        assert_code(&got, 403, "CHANNEL_NOT_PERMITTED", "B14800ZZ-3007-000000");
        assert!(got.2["error_description"].as_str().unwrap().contains("Belfius"), "{}", got.2);
        let got = get(&c, &format!("{root}/accounts/{banx_id}/transactions"), 2, Some(access(&bel_tok))).await;
        assert_code(&got, 403, "CHANNEL_NOT_PERMITTED", "B14800ZZ-3007-000000");
        assert!(got.2["error_description"].as_str().unwrap().contains("Banx"), "{}", got.2);
        // a token of one bank is not one of the other's
        let got = get(&c, &format!("{banx}/accounts"), 1, Some(access(&bel_tok))).await;
        assert_code(&got, 401, "FAILED_SECURITY_VALIDATION", "GEN-1203-100003");
        // PIS under /banx: initiation, the SCA step, the token, the status
        let (verifier, challenge) = pkce();
        let b = payment_body("3.00");
        let sig = seal(&b, "rsa/qseal.key");
        let (status, headers, v) = body(initiate(&c, &banx, b, Some(sig), &challenge).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        let pid = v["payment_id"].as_str().unwrap().to_owned();
        let sca = headers["location"].to_str().unwrap().to_owned();
        assert!(sca.starts_with(&format!("{banx}/sca/authorize?ticket=")), "{sca}");
        let code = psu_step(&c, &sca).await;
        assert_eq!(exchange(&c, &banx, &code, &verifier).await["scope"], "PIS");
        let (_, _, v) = get(&c, &format!("{banx}/payments/sepa-credit-transfers/{pid}/status"), 1, None).await;
        assert_eq!(v["payment_status"], "ACSC");
        let got = get(&c, &format!("{root}/payments/sepa-credit-transfers/{pid}/status"), 1, None).await;
        assert_code(&got, 404, "not_found", "404");
        // CAF under /banx: its own IBAN, and the other bank's
        let (code, verifier) = consent(&c, &banx, "CAF").await;
        let caf = exchange(&c, &banx, &code, &verifier).await;
        let funds = |iban: &str| {
            c.post(format!("{banx}/funds-confirmations"))
                .header("Request-ID", rid())
                .header("Accept", accept(1))
                .header("Accept-Language", "nl")
                .header("Client-ID", DEMO_CLIENT_ID)
                .header("Content-Type", "application/json")
                .bearer_auth(access(&caf))
                .body(serde_json::json!({"account": {"iban": iban}, "instructed_amount": {"currency": "EUR", "amount": "500.00"}}).to_string())
                .send()
        };
        let (status, _, v) = body(funds("BE14645123456783").await.unwrap()).await;
        assert_eq!((status, v), (StatusCode::OK, serde_json::json!({"funds_available": true})));
        assert_code(&body(funds(IBAN).await.unwrap()).await, 403, "CHANNEL_NOT_PERMITTED", "B14800ZZ-3007-000000");
        sandbox.shutdown().await.unwrap();
    }

    /// The PSU step for an SCA token: `GET url&state=S` → 302 → `sca_token` from `Location`.
    async fn sca_step(c: &reqwest::Client, url: &str) -> String {
        let r = c.get(format!("{url}&state=sca-1")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FOUND);
        let loc = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(loc.starts_with(&format!("{REDIRECT}?sca_token=")), "{loc}");
        assert!(loc.ends_with("&state=sca-1"), "{loc}");
        loc.split("sca_token=").nth(1).unwrap().split('&').next().unwrap().to_owned()
    }

    async fn transactions(
        c: &reqwest::Client,
        url: &str,
        token: &str,
        sca: Option<&str>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let (id, version, bearer) = (rid(), accept(2), format!("Bearer {token}"));
        let mut headers = vec![
            ("Request-ID", id.as_str()),
            ("Accept", version.as_str()),
            ("Accept-Language", "en"),
            ("Client-ID", DEMO_CLIENT_ID),
            ("Authorization", bearer.as_str()),
        ];
        headers.extend(sca.map(|t| ("SCA-Token", t)));
        get_with(c, url, &headers).await
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn history_beyond_90_days_needs_the_sca_token() {
        let (sandbox, base, clock, c, tok) = start_with_ais().await;
        let id = sandbox.logical_id(IBAN).unwrap();
        let url = |days: i64| format!("{base}/accounts/{id}/transactions?date_from={}", days_ago(&clock, days));
        // 90 days back is fine; 91 needs SCA
        assert_eq!(transactions(&c, &url(90), access(&tok), None).await.0, StatusCode::OK);
        let got = transactions(&c, &url(200), access(&tok), None).await;
        assert_code(&got, 401, "SCA_REQUIRED", "B14800ZZ-0PLC-REDRCT");
        let sca_url = got.2["sca_redirect_url"].as_str().unwrap().to_owned();
        assert!(sca_url.starts_with(&format!("{base}/sca/authorize?ticket=")), "{sca_url}");
        assert!(got.2["error_description"].as_str().unwrap().ends_with(&sca_url), "{}", got.2);
        // an unknown token
        let got = transactions(&c, &url(200), access(&tok), Some("forged")).await;
        assert_code(&got, 401, "FAILED_SECURITY_VALIDATION", "GEN-1203-100010");
        // the SCA step, then the call again with the token: all three, one 120 days old, two
        // sharing a transaction_id
        let sca = sca_step(&c, &sca_url).await;
        let (status, _, v) = transactions(&c, &url(200), access(&tok), Some(&sca)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let txs = v["_embedded"]["transactions"].as_array().unwrap();
        assert_eq!(txs.len(), 3);
        assert_eq!(txs[2]["execution_date"], days_ago(&clock, 120));
        assert_eq!(txs[0]["execution_date"], days_ago(&clock, 3));
        assert_eq!(txs[0]["transaction_id"], txs[1]["transaction_id"], "transaction ids repeat");
        assert_ne!(txs[0]["transaction_ref"], txs[1]["transaction_ref"]);
        // the token is for this account only
        let other = sandbox.logical_id("BE71096123456769").unwrap();
        let got = transactions(
            &c,
            &format!("{base}/accounts/{other}/transactions?date_from={}", days_ago(&clock, 200)),
            access(&tok),
            Some(&sca),
        )
        .await;
        assert_code(&got, 401, "FAILED_SECURITY_VALIDATION", "GEN-1203-100010");
        // and for an hour (a fresh access token: the first one lives 900 s)
        clock.advance(time::Duration::minutes(59));
        let tok = ais_token(&c, &base).await;
        assert_eq!(transactions(&c, &url(200), access(&tok), Some(&sca)).await.0, StatusCode::OK);
        clock.advance(time::Duration::minutes(1));
        let got = transactions(&c, &url(200), access(&tok), Some(&sca)).await;
        assert_code(&got, 401, "FAILED_SECURITY_VALIDATION", "GEN-1203-100010");
        sandbox.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn unattended_budget_is_4_per_account_per_rolling_24_hours() {
        let (sandbox, base, clock, c) = start_demo().await;
        let id = sandbox.logical_id(IBAN).unwrap();
        let details = format!("{base}/accounts/{id}?psu_involved=false");
        let mut tok = ais_token(&c, &base).await;
        for i in 0..4 {
            assert_eq!(get(&c, &details, 3, Some(access(&tok))).await.0, StatusCode::OK, "call {i}");
            // an hour on (access tokens live 900 s: a fresh one)
            clock.advance(time::Duration::hours(1));
            tok = ais_token(&c, &base).await;
        }
        // the fifth: 429 until the first of the four leaves the window (24 h after it: 20 h on)
        let got = get(&c, &details, 3, Some(access(&tok))).await;
        assert_code(&got, 429, "TOO_MANY_REQUESTS", "429");
        assert_eq!(got.1["retry-after"], (20 * 3600).to_string().as_str());
        // with the PSU present, and on another account or the list: not counted here
        assert_eq!(get(&c, &format!("{base}/accounts/{id}"), 3, Some(access(&tok))).await.0, StatusCode::OK);
        let list = format!("{base}/accounts?psu_involved=false");
        assert_eq!(get(&c, &list, 1, Some(access(&tok))).await.0, StatusCode::OK);
        let got = get(&c, &format!("{base}/accounts/{id}?psu_involved=maybe"), 3, Some(access(&tok))).await;
        assert_code(&got, 400, "INVALID_INPUT", "GEN-1202-100002");
        // 24 hours after the first call the window has room for one more
        clock.advance(time::Duration::hours(20));
        tok = ais_token(&c, &base).await;
        assert_eq!(get(&c, &details, 3, Some(access(&tok))).await.0, StatusCode::OK);
        let got = get(&c, &details, 3, Some(access(&tok))).await;
        assert_code(&got, 429, "TOO_MANY_REQUESTS", "429");
        assert_eq!(got.1["retry-after"], "3600");
        // a day later all four are back
        clock.advance(time::Duration::hours(24));
        tok = ais_token(&c, &base).await;
        for _ in 0..4 {
            assert_eq!(get(&c, &details, 3, Some(access(&tok))).await.0, StatusCode::OK);
        }
        sandbox.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn inactive_client_is_invalid_tpp() {
        let qseal = test_certs::certificate("rsa", "qseal.pem");
        let config = SandboxConfig::new(test_certs::tpp_anchors(), ServerIdentity::ephemeral().unwrap())
            .with_registration(
                ClientRegistration::new(DEMO_CLIENT_ID, Secret::new(DEMO_CLIENT_SECRET), qseal).inactive(),
            )
            .unwrap();
        let (sandbox, base, _) = start_at(config).await;
        let c = http(&test_qwac(), &sandbox);
        let got = consent_status(&c, &base).await;
        assert_code(&got, 403, "INVALID_TPP", "B14663ZZ-2100-000000");
        let got = body(
            token_call(&c, &base, &[("grant_type", "refresh_token"), ("refresh_token", "x")], DEMO_CLIENT_SECRET).await,
        )
        .await;
        assert_code(&got, 403, "INVALID_TPP", "B14663ZZ-2100-000000");
        sandbox.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn withdrawn_consent_is_no_active_consent() {
        let (sandbox, base, _, c, tok) = start_with_ais().await;
        assert_eq!(get(&c, &format!("{base}/accounts"), 1, Some(access(&tok))).await.0, StatusCode::OK);
        sandbox.withdraw_consents();
        let got = get(&c, &format!("{base}/accounts"), 1, Some(access(&tok))).await;
        assert_code(&got, 403, "NO_ACTIVE_CONSENT", "B14800ZZ-3013-000000");
        let form = [("grant_type", "refresh_token"), ("refresh_token", tok["refresh_token"].as_str().unwrap())];
        let got = body(token_call(&c, &base, &form, DEMO_CLIENT_SECRET).await).await;
        assert_code(&got, 403, "NO_ACTIVE_CONSENT", "B14800ZZ-3013-000000");
        // a new consent works
        let tok = ais_token(&c, &base).await;
        assert_eq!(get(&c, &format!("{base}/accounts"), 1, Some(access(&tok))).await.0, StatusCode::OK);
        sandbox.shutdown().await.unwrap();
    }

    /// The error chain of a reqwest error, one line.
    fn chain(e: &reqwest::Error) -> String {
        std::iter::successors(Some(e as &dyn std::error::Error), |e| e.source())
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(": ")
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn faults_fail_drop_handshakes_lose_responses_delay() {
        let faults = Faults { fail: 1, ..Faults::default() };
        let (sandbox, base, _) = start_at(demo_config().with_faults(faults)).await;
        let c = http(&test_qwac(), &sandbox);
        // fail=1: one 503, unprocessed; then normal
        assert_code(&consent_status(&c, &base).await, 503, "SERVICE_UNAVAILABLE", "503");
        assert_eq!(consent_status(&c, &base).await.0, StatusCode::OK);
        assert!(sandbox.faults().is_none());

        // drop-handshakes=1: a fresh connection fails in the handshake, the next one works
        sandbox.set_faults(Faults { drop_handshakes: 1, ..Faults::default() });
        let fresh = http(&test_qwac(), &sandbox);
        let e = fresh.get(format!("{base}/nope")).send().await.expect_err("the handshake is cut");
        assert!(e.is_connect(), "{}", chain(&e));
        assert_eq!(get(&fresh, &format!("{base}/nope"), 1, None).await.0, StatusCode::NOT_FOUND);

        // lose-responses=1: the payment is made, the answer never comes
        sandbox.set_faults(Faults { lose_responses: 1, ..Faults::default() });
        let (_, challenge) = pkce();
        let b = payment_body("7.00");
        let sig = seal(&b, "rsa/qseal.key");
        let fresh = http(&test_qwac(), &sandbox);
        let e = initiate(&fresh, &base, b, Some(sig), &challenge).send().await.expect_err("no answer");
        assert!(!e.is_connect(), "the request was sent: {}", chain(&e));
        let ids = sandbox.payment_ids();
        assert_eq!(ids.len(), 1);
        let (status, _, v) =
            get(&fresh, &format!("{base}/payments/sepa-credit-transfers/{}/status", ids[0]), 1, None).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["payment_status"], "RCVD");

        // delay: every answer waits
        sandbox.set_faults(Faults { delay: std::time::Duration::from_millis(200), ..Faults::default() });
        let t = std::time::Instant::now();
        assert_eq!(get(&c, &format!("{base}/nope"), 1, None).await.0, StatusCode::NOT_FOUND);
        assert!(t.elapsed() >= std::time::Duration::from_millis(200));
        sandbox.set_faults(Faults::default());
        sandbox.shutdown().await.unwrap();
    }

    #[test]
    fn with_clock_takes_any_time_source() {
        let at = time::macros::datetime!(2030-01-01 0:00 UTC);
        let config = demo_config().with_clock(Arc::new(move || at));
        assert_eq!(config.clock.now(), at);
    }
}
