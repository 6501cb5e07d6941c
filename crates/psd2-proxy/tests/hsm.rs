//! The proxy with its QWAC and QSealC keys on a SoftHSM2 token (PKCS#11), in front of the
//! embedded sandbox: the mTLS handshake and the PIS seal are signed by the token. Skipped (with a
//! note on stderr) where no PKCS#11 module is installed; never skipped on CI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use psd2_ca::{CertKind, CertificateAuthority, EvSubject, InitOptions, IssueRequest, KeyType, Psd2Subject, SubjectKey};
use psd2_client::types::{Amount, PaymentRequest};
use psd2_client::{Bank, BaseUrl, Pkce};
use psd2_eidas::{Identity, Secret, Secrets};
use psd2_proxy::{Listener, Mode, Proxy, ProxyConfig, Route};
use psd2_sandbox::{DEMO_CLIENT_ID, Sandbox, SandboxConfig, ServerIdentity};
use psd2_test_support::certs::tpp_anchors;
use psd2_test_support::softhsm;

/// curl as the internal caller; returns (status, headers and body as text).
fn curl(args: &[String]) -> (u16, String) {
    let out = std::process::Command::new("curl").args(["-sS", "-i", "--max-time", "20"]).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    (status, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsm_keys_do_the_mtls_and_the_seal() {
    let Some(h) = softhsm::hsm() else { return };
    // The only test of this binary: the token (made per process) is not shared, no lock needed.
    let secrets = Secrets::none().with_pin(Secret::new(softhsm::PIN));
    let open = |label: &str| psd2_eidas::open_signer(&h.uri(label).parse().unwrap(), &secrets).unwrap();
    let (qwac_key, qseal_key) = (open("qwac-ec"), open("qseal-rsa"));

    // A test CA issues a QWAC and a QSealC for the token's public keys.
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::init(
        &dir.path().join("ca"),
        &InitOptions { key_type: KeyType::Rsa2048, ..Default::default() },
    )
    .unwrap();
    let issue = |kind: CertKind, key: &std::sync::Arc<dyn psd2_eidas::Signer>| {
        let mut req = IssueRequest::new(kind, Psd2Subject::example());
        if kind == CertKind::Qwac {
            req.ev = EvSubject::example();
        }
        req.key = Some(SubjectKey::PublicKey(key.public_key().clone()));
        Identity::new(ca.issue(&req).unwrap().chain, key.clone()).unwrap()
    };
    let (qwac, qseal) = (issue(CertKind::Qwac, &qwac_key), issue(CertKind::Qseal, &qseal_key));
    let qseal_serial = qseal.certificate().serial_hex();

    let mut anchors = tpp_anchors();
    anchors.push(ca.root_certificate().clone());
    let config = SandboxConfig::new(anchors, ServerIdentity::ephemeral().unwrap())
        .with_demo_client(qseal.certificate().clone())
        .unwrap();
    let sandbox = Sandbox::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let upstream = BaseUrl::parse(&format!("https://127.0.0.1:{}", sandbox.local_addr().port())).unwrap();
    let config = Route::new(upstream, Mode::Bank(Bank::Belfius), qwac)
        .with_qseal(qseal)
        .with_extra_root(sandbox.server_ca().unwrap().clone())
        .without_public_roots();
    let proxy = Proxy::start(ProxyConfig::new(Listener::plain("127.0.0.1:0".parse().unwrap())).with_route(config))
        .await
        .unwrap();

    let pkce = Pkce::generate().unwrap();
    let mut payment = PaymentRequest::new("BE71096123456769", "Payee", Amount::new("2.50", "EUR"));
    payment.endtoend_identification = Some("E2E-HSM".into());
    let body = String::from_utf8(payment.to_body().unwrap()).unwrap();
    let args: Vec<String> = [
        "-H",
        &format!("Client-ID: {DEMO_CLIENT_ID}"),
        "-H",
        "Redirect-URI: https://tpp.example.com/callback",
        "-H",
        "Code-Challenge-Method: S256",
        "-H",
        &format!("Code-Challenge: {}", pkce.challenge()),
        "-H",
        "Accept-Language: en",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &body,
        &format!("http://{}/payments/sepa-credit-transfers", proxy.local_addr()),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (status, text) = tokio::task::spawn_blocking(move || curl(&args)).await.unwrap();
    assert_eq!(status, 201, "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains(&format!("x-psd2-proxy-sealed: belfius-pis serial={qseal_serial}").to_ascii_lowercase()),
        "{text}"
    );
    assert_eq!(sandbox.payment_ids().len(), 1);

    proxy.shutdown().await.unwrap();
    sandbox.shutdown().await.unwrap();
}
