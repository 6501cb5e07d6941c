//! `psd2-sign send` end to end against the embedded sandbox (started in-process on 127.0.0.1):
//! AIS and PIS with the automated PSU step, CAF with the manual consent → `token --callback`
//! round trip through the token file (mode 0600), and the input errors (exit 2) and refusals
//! (exit 1).

use std::path::PathBuf;
use std::process::Output;

use psd2_client::{Bank, Client, ClientOptions, Environment};
use psd2_eidas::{Identity, Secrets};
use psd2_sandbox::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Sandbox, SandboxConfig, SandboxHandle, ServerIdentity};
use psd2_test_support::certs as test_certs;
use serde_json::Value;

use crate::util::bin;

const CERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/test-certs");

/// The sandbox on its own runtime, the server CA file, and a scratch directory.
struct LocalBank {
    _runtime: tokio::runtime::Runtime,
    _handle: SandboxHandle,
    url: String,
    dir: tempfile::TempDir,
}

impl LocalBank {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let handle = runtime.block_on(async {
            let config = SandboxConfig::new(test_certs::tpp_anchors(), ServerIdentity::ephemeral().unwrap())
                .with_demo_client(test_certs::certificate("rsa", "qseal.pem"))
                .unwrap();
            Sandbox::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap()
        });
        let url = format!("https://127.0.0.1:{}", handle.local_addr().port());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("server-ca.pem"), handle.server_ca().unwrap().to_pem()).unwrap();
        std::fs::write(dir.path().join("secret"), format!("{DEMO_CLIENT_SECRET}\n")).unwrap();
        Self { _runtime: runtime, _handle: handle, url, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `psd2-sign send` with the RSA test QWAC and QSealC, the demo client and the token file.
    fn send(&self, extra_global: &[&str], op: &[&str]) -> Output {
        let rsa = format!("{CERTS}/rsa");
        let mut args: Vec<String> = [
            "send",
            "--bank",
            "belfius",
            "--env",
            &self.url,
            "--qwac",
            &format!("{rsa}/qwac-chain.pem"),
            "--qwac-key",
            &format!("{rsa}/qwac.key"),
            "--qseal",
            &format!("{rsa}/qseal-chain.pem"),
            "--qseal-key",
            &format!("{rsa}/qseal.key"),
            "--client-id",
            DEMO_CLIENT_ID,
            "--client-secret-file",
            self.path("secret").to_str().unwrap(),
            "--ca",
            self.path("server-ca.pem").to_str().unwrap(),
            "--token-file",
            self.path("tokens.json").to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra_global.iter().map(|s| s.to_string()));
        args.extend(op.iter().map(|s| s.to_string()));
        bin()
            .args(&args)
            .env_remove("PSD2_SIGN_CLIENT_SECRET")
            .env_remove("PSD2_SIGN_ACCESS_TOKEN")
            .env_remove("PSD2_SIGN_TOKEN_FILE")
            .output()
            .unwrap()
    }
}

fn ok(o: &Output) -> Value {
    assert!(o.status.success(), "exit {:?}: {}", o.status.code(), String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn fails(o: &Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "{err}");
    assert!(err.contains(needle), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn ais_and_pis_with_the_automated_psu_step() {
    let bank = LocalBank::start();
    let v = ok(&bank.send(&["--sca", "auto"], &["consent"]));
    assert_eq!(v["scope"], "AIS");
    assert_eq!(v["token"]["expires_in"], "900");
    assert!(v["token"].get("access_token").is_none(), "tokens stay in the token file: {v}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(bank.path("tokens.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let file: Value = serde_json::from_slice(&std::fs::read(bank.path("tokens.json")).unwrap()).unwrap();
    assert!(file["tokens"]["AIS"]["access_token"].is_string());
    assert!(file.get("pending").is_none());

    let v = ok(&bank.send(&[], &["accounts"]));
    let accounts = v["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2);
    let id = accounts[0]["logical_id"].as_str().unwrap().to_owned();
    assert_eq!(ok(&bank.send(&[], &["account", &id]))["balance"], "1234.56");
    // Without --from: the last 90 days (2 of 3); further back needs the PSU's SCA.
    let v = ok(&bank.send(&[], &["transactions", &id]));
    assert_eq!(v["_embedded"]["transactions"].as_array().unwrap().len(), 2);
    // Manual: the SCA URL for the PSU, with a fresh state kept in the token file; the redirect's
    // SCA token is stored by `token --callback`; a forged one is refused by the bank, forgotten,
    // and the call asks again without it.
    let v = ok(&bank.send(&[], &["transactions", &id, "--from", "2000-01-01"]));
    assert_eq!(v["sca_required"], true, "{v}");
    let sca_uri = v["sca_uri"].as_str().unwrap();
    let state = sca_uri.rsplit_once("state=").unwrap().1.to_owned();
    let callback = format!("https://localhost/psd2-sign/callback?sca_token=FORGED&state={state}");
    let v = ok(&bank.send(&[], &["token", "--callback", &callback]));
    assert_eq!((v["account"].as_str(), v["sca_token"].as_str()), (Some(id.as_str()), Some("stored")));
    let v = ok(&bank.send(&[], &["transactions", &id, "--from", "2000-01-01"]));
    assert_eq!(v["sca_required"], true, "{v}");
    let file: Value = serde_json::from_slice(&std::fs::read(bank.path("tokens.json")).unwrap()).unwrap();
    assert!(file.get("sca_tokens").is_none(), "{file}");
    // Auto: the PSU step is performed, the token stored with the account, the call repeated;
    // the next call sends the stored token.
    let v = ok(&bank.send(&["--sca", "auto"], &["transactions", &id, "--from", "2000-01-01"]));
    assert_eq!(v["_embedded"]["transactions"].as_array().unwrap().len(), 3, "{v}");
    let file: Value = serde_json::from_slice(&std::fs::read(bank.path("tokens.json")).unwrap()).unwrap();
    assert!(file["sca_tokens"][id.as_str()]["token"].is_string(), "{file}");
    let v = ok(&bank.send(&[], &["transactions", &id, "--from", "2000-01-01"]));
    assert_eq!(v["_embedded"]["transactions"].as_array().unwrap().len(), 3, "{v}");
    let v = ok(&bank.send(&[], &["refresh"]));
    assert_eq!(v["scope"], "AIS");
    ok(&bank.send(&[], &["accounts"]));

    // PIS, sealed with the QSealC; the PSU signs; the status turns ACSC.
    let v = ok(&bank.send(
        &["--sca", "auto"],
        &[
            "pay",
            "--creditor-iban",
            "BE71096123456769",
            "--creditor-name",
            "Payee",
            "--amount",
            "12.34",
            "--end-to-end-id",
            "E2E-1",
        ],
    ));
    assert_eq!(v["payment_status"], "ACSC");
    let pid = v["payment_id"].as_str().unwrap().to_owned();
    let v = ok(&bank.send(&[], &["payment-status"]));
    assert_eq!(v["payment_id"], pid.as_str());
    assert_eq!(v["payment_status"], "ACSC");
    let v = ok(&bank.send(&[], &["payment"]));
    assert_eq!(v["instructed_amount"]["amount"], "12.34");
    // A second payment with the stored PIS token instead of PKCE.
    let body = bank.path("pay.json");
    std::fs::write(
        &body,
        r#"{"creditor_account":{"iban":"BE71096123456769"},"creditor_name":"Payee","instructed_amount":{"amount":"1.00","currency":"EUR"},"endtoend_identification":"E2E-2"}"#,
    )
    .unwrap();
    let v = ok(&bank.send(&[], &["pay", "--body", body.to_str().unwrap(), "--use-token"]));
    assert_ne!(v["payment_id"], pid.as_str());
}

#[test]
fn caf_with_the_manual_consent_and_callback() {
    let bank = LocalBank::start();
    let v = ok(&bank.send(&[], &["consent", "--scope", "CAF"]));
    assert_eq!(v["scope"], "CAF");
    let state = v["state"].as_str().unwrap().to_owned();
    let sca_uri = v["sca_uri"].as_str().unwrap().to_owned();
    assert!(sca_uri.ends_with(&format!("state={state}")), "{sca_uri}");
    let file: Value = serde_json::from_slice(&std::fs::read(bank.path("tokens.json")).unwrap()).unwrap();
    assert_eq!(file["pending"]["state"], state.as_str());

    // The PSU's browser: the consent URI (mTLS, like every sandbox call), redirect not followed.
    let consent_uri = v["consent_uris"][0]["consent_uri"].as_str().unwrap().to_owned();
    let qwac = Identity::load(
        &format!("{CERTS}/rsa/qwac.key").parse().unwrap(),
        Some(&format!("{CERTS}/rsa/qwac-chain.pem").parse().unwrap()),
        &Secrets::none(),
    )
    .unwrap();
    let ca = psd2_eidas::load::load_certificates(&bank.path("server-ca.pem"), None).unwrap().remove(0);
    let options = ClientOptions::new(
        Bank::Belfius,
        Environment::Custom(bank.url.clone()),
        DEMO_CLIENT_ID,
        "https://localhost/psd2-sign/callback",
    )
    .with_extra_root(ca);
    let client = Client::new(qwac, None, options).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let code = rt.block_on(client.psu_authorize(&consent_uri, &state)).unwrap();

    // A callback with another state is refused (exit 1), the right one gives the CAF token.
    let wrong = format!("https://localhost/psd2-sign/callback?code={code}&state=other");
    fails(&bank.send(&[], &["token", "--callback", &wrong]), 1, "state");
    let callback = format!("https://localhost/psd2-sign/callback?code={code}&state={state}");
    let v = ok(&bank.send(&[], &["token", "--callback", &callback]));
    assert_eq!(v["scope"], "CAF");

    let v = ok(&bank.send(&[], &["funds", "--iban", "BE68539007547034", "--amount", "12.34"]));
    assert_eq!(v["funds_available"], true);
    let v = ok(&bank.send(&[], &["funds", "--iban", "BE71096123456769", "--amount", "10.01"]));
    assert_eq!(v["funds_available"], false);
    // No AIS token in the file: an input error before any call.
    fails(&bank.send(&[], &["accounts"]), 2, "no AIS access token");
}

#[test]
fn refusals_and_input_errors() {
    let bank = LocalBank::start();
    // The bank's error is shown (exit 1): an unknown account after an AIS consent.
    ok(&bank.send(&["--sca", "auto"], &["consent"]));
    fails(&bank.send(&[], &["account", "nope"]), 1, "HTTP 401: FAILED_SECURITY_VALIDATION (GEN-1203-100010)");
    // Unknown bank / environment: usage errors.
    let o = bin()
        .args([
            "send",
            "--bank",
            "ing",
            "--env",
            "live",
            "--qwac",
            "x",
            "--qwac-key",
            "y",
            "--client-id",
            "c",
            "accounts",
        ])
        .output()
        .unwrap();
    fails(&o, 2, "unknown bank");
    let o = bin()
        .args([
            "send",
            "--bank",
            "banx",
            "--env",
            "http://x",
            "--qwac",
            "x",
            "--qwac-key",
            "y",
            "--client-id",
            "c",
            "accounts",
        ])
        .output()
        .unwrap();
    fails(&o, 2, "environment");
}

#[test]
fn pkcs12_identities_without_certificate_flags() {
    let bank = LocalBank::start();
    let rsa = format!("{CERTS}/rsa");
    let o = bin()
        .args(["send", "--bank", "belfius", "--env", &bank.url, "--client-id", DEMO_CLIENT_ID, "--sca", "auto"])
        .args(["--qwac-key", &format!("{rsa}/qwac.p12"), "--qseal-key", &format!("{rsa}/qseal.p12")])
        .args(["--password-file", &format!("{CERTS}/password.txt")])
        .args(["--ca", bank.path("server-ca.pem").to_str().unwrap()])
        .args(["pay", "--creditor-iban", "BE71096123456769", "--creditor-name", "Payee", "--amount", "1.00"])
        .args(["--end-to-end-id", "E2E-3"])
        .env("PSD2_SIGN_CLIENT_SECRET", DEMO_CLIENT_SECRET)
        .env_remove("PSD2_SIGN_TOKEN_FILE")
        .output()
        .unwrap();
    let v = ok(&o);
    assert_eq!(v["payment_status"], "ACSC");
    // No token file: the PIS token is printed, the only place it exists.
    assert!(v["token"]["access_token"].is_string(), "{v}");
}

/// A bank that accepts the connection and never speaks: `--connect-timeout` bounds the wait and
/// the message says which time-out it was.
#[test]
fn a_silent_bank_is_a_connect_time_out() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let rsa = format!("{CERTS}/rsa");
    let o = bin()
        .args(["send", "--bank", "belfius", "--env", &url, "--client-id", DEMO_CLIENT_ID])
        .args(["--qwac", &format!("{rsa}/qwac-chain.pem"), "--qwac-key", &format!("{rsa}/qwac.key")])
        .args(["--connect-timeout", "1s", "--retries", "0", "accounts"])
        .env("PSD2_SIGN_ACCESS_TOKEN", "AT")
        .env_remove("PSD2_SIGN_TOKEN_FILE")
        .output()
        .unwrap();
    fails(&o, 1, "no connection within 1 s (connect time-out): the host does not answer");
    drop(silent);
}

/// `send --help` lists the calls with their Accept versions; `--api-version` takes CALL=VERSION
/// of a call that has a version, and says which exist otherwise.
#[test]
fn api_versions_are_listed_and_checked() {
    let o = bin().args(["send", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("Calls and their Accept versions"), "{help}");
    assert!(help.lines().any(|l| l.trim_start().starts_with("account ") && l.ends_with("version=3")), "{help}");
    assert!(help.lines().any(|l| l.trim_start().starts_with("consent-uris ") && l.ends_with("version=4")), "{help}");
    for (arg, needle) in [
        ("nope=3", "'nope' is not a call with a version (consent-uris, token, accounts, account, transactions"),
        ("account", "expected CALL=VERSION"),
        ("account=", "is not a version"),
        ("account=3;x", "is not a version"),
    ] {
        let o = bin()
            .args(["send", "--bank", "belfius", "--env", "live", "--qwac-key", "k", "--client-id", "c"])
            .args(["--api-version", arg, "accounts"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{arg}: {err}");
        assert!(err.contains(needle), "{arg}: {err}");
    }
}

/// `--unattended`: four calls a day per account from the token file's budget, the fifth refused
/// before anything is sent (our message, not the bank's 429); `--json` prints a bank error as one
/// object with its action.
#[test]
fn unattended_budget_and_json_errors() {
    let bank = LocalBank::start();
    ok(&bank.send(&["--sca", "auto"], &["consent"]));
    for _ in 0..4 {
        ok(&bank.send(&["--unattended"], &["accounts"]));
    }
    let file: Value = serde_json::from_slice(&std::fs::read(bank.path("tokens.json")).unwrap()).unwrap();
    assert_eq!(file["unattended"]["*"].as_array().unwrap().len(), 4, "{file}");
    fails(
        &bank.send(&["--unattended"], &["accounts"]),
        1,
        "the unattended budget of account * is used up: 4 calls in the last 24 hours; the next one is possible at ",
    );
    ok(&bank.send(&[], &["accounts"]));

    let o = bank.send(&["--json"], &["account", "not-an-id"]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stderr.is_empty(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((v["status"].as_u64(), v["error_code"].as_str()), (Some(401), Some("GEN-1203-100010")), "{v}");
    assert_eq!(v["action"], "refresh", "{v}");
    for k in ["error", "description", "advice"] {
        assert!(v[k].is_string(), "{k}: {v}");
    }
    let o = bin()
        .args(["send", "--bank", "belfius", "--env", &bank.url, "--qwac-key", "k", "--client-id", "c"])
        .args(["--unattended", "accounts"])
        .env_remove("PSD2_SIGN_TOKEN_FILE")
        .output()
        .unwrap();
    fails(&o, 2, "--unattended keeps the budget of 4 calls per account and 24 hours in the token file");
}
