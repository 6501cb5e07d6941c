//! psd2-client against the embedded sandbox, for Belfius as published in December 2026: every
//! error class recognised with its action, the SCA-Token flow for old history, the unattended
//! budget (kept by the session on an injected clock) and the bank's own 429, and retries that are
//! safe under the sandbox's fault mode. Real TLS on 127.0.0.1 throughout; clocks are moved, never
//! slept on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use psd2_client::session::{Session, budget_key};
use psd2_client::types::{Amount, PaymentRequest};
use psd2_client::{
    Action, Bank, BankErrorKind, Client, ClientOptions, Environment, Error, PaymentProduct, PisAuth, Pkce, RetryPolicy,
    Scope,
};
use psd2_eidas::Secret;
use psd2_sandbox::{
    ClientRegistration, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Faults, ManualClock, Sandbox, SandboxConfig, SandboxHandle,
    ServerIdentity,
};
use psd2_test_support::certs::{certificate, identity, tpp_anchors};
use time::macros::datetime;

const REDIRECT: &str = "https://tpp.example.com/callback";
const INACTIVE: &str = "inactive-tpp";
const BELFIUS_IBAN: &str = "BE68539007547034";
const BANX_IBAN: &str = "BE14645123456783";

/// The sandbox on a manual clock, with the demo client and an inactive one.
async fn start() -> (SandboxHandle, ManualClock) {
    let clock = ManualClock::new(datetime!(2026-12-01 09:00 UTC));
    let qseal = certificate("rsa", "qseal.pem");
    let config = SandboxConfig::new(tpp_anchors(), ServerIdentity::ephemeral().unwrap())
        .with_demo_client(qseal.clone())
        .unwrap()
        .with_registration(ClientRegistration::new(INACTIVE, Secret::new("s"), qseal).inactive())
        .unwrap()
        .with_clock(clock.as_fn());
    (Sandbox::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap(), clock)
}

/// A client of `bank` at the sandbox (Banx under `/banx`), without retries unless `retry`.
fn client_with(sandbox: &SandboxHandle, bank: Bank, client_id: &str, retry: RetryPolicy, unattended: bool) -> Client {
    let prefix = if bank == Bank::Banx { "/banx" } else { "" };
    let env = Environment::Custom(format!("https://127.0.0.1:{}{prefix}", sandbox.local_addr().port()));
    let mut options = ClientOptions::new(bank, env, client_id, REDIRECT)
        .with_client_secret(Secret::new(DEMO_CLIENT_SECRET))
        .with_extra_root(sandbox.server_ca().unwrap().clone())
        .without_public_roots();
    options.retry = retry.with_backoff(std::time::Duration::from_millis(10), std::time::Duration::from_millis(50));
    options.unattended = unattended;
    Client::new(identity("rsa", "qwac"), Some(identity("rsa", "qseal")), options).unwrap()
}

fn client(sandbox: &SandboxHandle) -> Client {
    client_with(sandbox, Bank::Belfius, DEMO_CLIENT_ID, RetryPolicy::none(), false)
}

/// An AIS access token through consent, the PSU's step and /token.
async fn ais_token(client: &Client) -> String {
    let pkce = Pkce::generate().unwrap();
    let uris = client.consent_uris(Scope::Ais, &pkce).await.unwrap();
    let code = client.psu_authorize(&uris[0].consent_uri, "st").await.unwrap();
    client.token_from_code(&code, pkce.verifier()).await.unwrap().access_token
}

fn kind(e: &Error) -> &BankErrorKind {
    e.bank_error().unwrap_or_else(|| panic!("not a bank error: {e}"))
}

fn payment(amount: &str) -> Vec<u8> {
    let mut p = PaymentRequest::new("BE71096123456769", "Payee", Amount::new(amount, "EUR"));
    p.endtoend_identification = Some("E2E-1".into());
    p.to_body().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_class_has_its_action() {
    let (sandbox, _clock) = start().await;
    let c = client(&sandbox);
    let at = ais_token(&c).await;
    let belfius_id = sandbox.logical_id(BELFIUS_IBAN).unwrap();
    let banx_id = sandbox.logical_id(BANX_IBAN).unwrap();

    // refresh: an access token the bank does not know.
    let e = c.accounts("not-a-token").await.unwrap_err();
    assert_eq!((kind(&e), kind(&e).action()), (&BankErrorKind::InvalidAccessToken, Action::Refresh), "{e}");
    // consent_again: an invalid refresh token.
    let e = c.refresh("not-a-refresh-token").await.unwrap_err();
    assert_eq!(kind(&e).action(), Action::ConsentAgain, "{e}");
    // wrong_host: a Banx account on the Belfius host; the advice names the Banx host.
    let e = c.account(&at, &banx_id).await.unwrap_err();
    assert_eq!(kind(&e).action(), Action::WrongHost, "{e}");
    assert!(e.to_string().contains("call psd2.b2b.banx.be:8443 instead"), "{e}");
    // invalid_input: a date that is not one.
    let e = c.transactions(&at, &belfius_id, Some("2026-13-45"), None, None, None).await.unwrap_err();
    assert!(matches!(kind(&e), BankErrorKind::InvalidInput { what } if what.contains("date_from")), "{e}");
    // sca_redirect: history older than 90 days, with the URL.
    let e = c.transactions(&at, &belfius_id, Some("2026-07-01"), None, None, None).await.unwrap_err();
    assert!(
        matches!(kind(&e), BankErrorKind::ScaRequired { url: Some(u) } if u.starts_with("https://127.0.0.1:")),
        "{e}"
    );
    assert_eq!(kind(&e).action(), Action::ScaRedirect);
    // payment_rejected: an amount that is not above 0, with the code's meaning.
    let pkce = Pkce::generate().unwrap();
    let e = c
        .initiate_payment(PaymentProduct::SepaCreditTransfers, payment("0.00"), PisAuth::Pkce(&pkce))
        .await
        .unwrap_err();
    assert_eq!(kind(&e).action(), Action::PaymentRejected, "{e}");
    assert!(e.to_string().contains("the amount must be above 0"), "{e}");
    // client_inactive: a registered client id that is not active.
    let inactive = client_with(&sandbox, Bank::Belfius, INACTIVE, RetryPolicy::none(), false);
    let e = inactive.consent_uris(Scope::Ais, &Pkce::generate().unwrap()).await.unwrap_err();
    assert_eq!((kind(&e), kind(&e).action()), (&BankErrorKind::InvalidTpp, Action::ClientInactive), "{e}");
    // retry_later: a 503 (fault mode), not retried with retries off.
    sandbox.set_faults(Faults { fail: 1, ..Faults::none() });
    let e = c.accounts(&at).await.unwrap_err();
    assert_eq!((kind(&e), kind(&e).action()), (&BankErrorKind::ServiceUnavailable, Action::RetryLater), "{e}");
    // consent_again: the PSU withdrew the consent.
    sandbox.withdraw_consents();
    let e = c.accounts(&at).await.unwrap_err();
    assert_eq!((kind(&e), kind(&e).action()), (&BankErrorKind::NoActiveConsent, Action::ConsentAgain), "{e}");
    sandbox.shutdown().await.unwrap();
}

/// History older than 90 days: SCA_REQUIRED with the URL, the PSU's step gives the SCA token,
/// the call repeated with it succeeds; the token is kept per account in the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sca_token_flow_for_old_history() {
    let (sandbox, clock) = start().await;
    let c = client(&sandbox);
    let at = ais_token(&c).await;
    let id = sandbox.logical_id(BELFIUS_IBAN).unwrap();
    let recent = c.transactions(&at, &id, None, None, None, None).await.unwrap();
    let e = c.transactions(&at, &id, Some("2026-07-01"), None, None, None).await.unwrap_err();
    let Some(BankErrorKind::ScaRequired { url: Some(url) }) = e.bank_error() else { panic!("{e}") };
    let mut session = Session::new();
    let state = session.start_sca(&id).unwrap();
    let token = c.psu_sca_token(url, &state).await.unwrap();
    assert_eq!(session.complete_sca(&token, Some(&state), clock.now()).unwrap(), id);
    let sca = session.sca_token(&id).unwrap().token().to_owned();
    let old = c.transactions(&at, &id, Some("2026-07-01"), None, None, Some(&sca)).await.unwrap();
    assert!(old.embedded.transactions.len() > recent.embedded.transactions.len());
    // The token is the bank's for one hour: after that SCA is asked for again.
    clock.advance(time::Duration::hours(2));
    let e = c.transactions(&at, &id, Some("2026-07-01"), None, None, Some(&sca)).await.unwrap_err();
    assert_eq!(kind(&e).action(), Action::Refresh, "{e}");
    sandbox.shutdown().await.unwrap();
}

/// The unattended budget, both sides: the session refuses the fifth call of a day before any
/// I/O (on the clock it is given), and a client that ignores it gets the bank's 429 with
/// Retry-After. Moving the clocks a day frees the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unattended_budget_and_429() {
    let (sandbox, clock) = start().await;
    let attended = client(&sandbox);
    let at = ais_token(&attended).await;
    let c = client_with(&sandbox, Bank::Belfius, DEMO_CLIENT_ID, RetryPolicy::none(), true);
    let mut session = Session::new();
    let key = budget_key(None);
    for _ in 0..4 {
        session.check_unattended(key, clock.now()).unwrap();
        c.accounts(&at).await.unwrap();
        session.record_unattended(key, clock.now());
    }
    let e = session.check_unattended(key, clock.now()).unwrap_err();
    assert!(matches!(e, Error::UnattendedBudget { calls: 4, .. }), "{e}");
    assert!(e.to_string().contains("the next one is possible at 2026-12-02T09:00:00Z; nothing was sent"), "{e}");
    // The bank counts too: a fifth unattended call is 429 with Retry-After.
    let e = c.accounts(&at).await.unwrap_err();
    assert!(
        matches!(kind(&e), BankErrorKind::TooManyRequests { retry_after: Some(s) } if *s > 0 && *s <= 86_400),
        "{e}"
    );
    assert_eq!(kind(&e).action(), Action::RetryLater);
    // Attended calls are not counted.
    attended.accounts(&at).await.unwrap();
    clock.advance(time::Duration::hours(24));
    session.check_unattended(key, clock.now()).unwrap();
    let at = ais_token(&attended).await; // the access token expired meanwhile
    c.accounts(&at).await.unwrap();
    sandbox.shutdown().await.unwrap();
}

/// Retries under the fault mode: dropped handshakes are retried for any call; a GET whose answer
/// was lost is retried; a payment initiation whose answer was lost is not (one payment exists),
/// and neither is one whose connection could not be set up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_safe() {
    let (sandbox, _clock) = start().await;
    let fresh = || client_with(&sandbox, Bank::Belfius, DEMO_CLIENT_ID, RetryPolicy::default(), false);
    let c = fresh();
    let at = ais_token(&c).await;
    // A new client opens a new connection (an open one is reused and needs no handshake).
    sandbox.set_faults(Faults { drop_handshakes: 2, ..Faults::none() });
    fresh().accounts(&at).await.unwrap();
    assert_eq!(sandbox.faults().drop_handshakes, 0, "both drops were used up by retries");
    sandbox.set_faults(Faults { lose_responses: 1, ..Faults::none() });
    c.accounts(&at).await.unwrap();
    sandbox.set_faults(Faults { fail: 2, ..Faults::none() });
    c.accounts(&at).await.unwrap();

    let before = sandbox.payment_ids().len();
    sandbox.set_faults(Faults { lose_responses: 1, ..Faults::none() });
    let pkce = Pkce::generate().unwrap();
    let e = c
        .initiate_payment(PaymentProduct::SepaCreditTransfers, payment("1.00"), PisAuth::Pkce(&pkce))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Connection { .. }), "{e}");
    assert_eq!(sandbox.payment_ids().len(), before + 1, "the payment was made once and not retried");
    sandbox.set_faults(Faults { drop_handshakes: 1, ..Faults::none() });
    let e = fresh()
        .initiate_payment(PaymentProduct::SepaCreditTransfers, payment("1.00"), PisAuth::Pkce(&pkce))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Connection { .. }), "{e}");
    assert_eq!(sandbox.payment_ids().len(), before + 1);
    assert_eq!(sandbox.faults().drop_handshakes, 0);
    sandbox.shutdown().await.unwrap();
}

/// A strict bank refuses a revoked QWAC in the handshake: the sandbox reads the TPP CA's CRL,
/// again when the file changes (after a revocation), and refuses the revoked certificate then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_qwac_is_refused_in_the_handshake() {
    use psd2_ca::{CertKind, CertificateAuthority, EvSubject, InitOptions, IssueRequest, KeyType, Psd2Subject};
    use psd2_eidas::{Identity, Secrets};
    let dir = tempfile::tempdir().unwrap();
    let ca =
        CertificateAuthority::init(dir.path(), &InitOptions { key_type: KeyType::P256, ..Default::default() }).unwrap();
    let mut qwac = IssueRequest::new(CertKind::Qwac, Psd2Subject::example());
    qwac.ev = EvSubject::example();
    ca.issue(&qwac).unwrap().write(&dir.path().join("qwac")).unwrap();
    ca.issue(&IssueRequest::new(CertKind::Qseal, Psd2Subject::example()))
        .unwrap()
        .write(&dir.path().join("qseal"))
        .unwrap();
    ca.write_crls().unwrap();
    let load = |name: &str| {
        let p = |s: &str| dir.path().join(format!("{name}{s}")).to_str().unwrap().parse().unwrap();
        Identity::load(&p(".key"), Some(&p("-chain.pem")), &Secrets::none()).unwrap()
    };
    let (qwac, qseal) = (load("qwac"), load("qseal"));
    let root = psd2_eidas::load::load_certificates(&dir.path().join("ca.pem"), None).unwrap();
    let crl = dir.path().join("crl").join("qwac-ca.crl");
    assert!(crl.is_file());
    let config = SandboxConfig::new(root, ServerIdentity::ephemeral().unwrap())
        .with_demo_client(qseal.certificate().clone())
        .unwrap()
        .with_crl_file(&crl);
    let sandbox = Sandbox::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let client = || {
        let env = Environment::Custom(format!("https://127.0.0.1:{}", sandbox.local_addr().port()));
        let mut o = ClientOptions::new(Bank::Belfius, env, DEMO_CLIENT_ID, REDIRECT)
            .with_client_secret(Secret::new(DEMO_CLIENT_SECRET))
            .with_extra_root(sandbox.server_ca().unwrap().clone())
            .without_public_roots();
        o.retry = RetryPolicy::none();
        Client::new(qwac.clone(), Some(qseal.clone()), o).unwrap()
    };
    // Not revoked: the handshake passes and the bank answers.
    client().consent_uris(Scope::Ais, &Pkce::generate().unwrap()).await.unwrap();
    ca.revoke(qwac.certificate()).unwrap();
    ca.write_crls().unwrap();
    let e = client().consent_uris(Scope::Ais, &Pkce::generate().unwrap()).await.unwrap_err();
    assert!(matches!(e, Error::Connection { .. }), "{e}");
    sandbox.shutdown().await.unwrap();
}
