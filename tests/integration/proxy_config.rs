//! `psd2-sign proxy --config FILE` and `--check FILE`: a TOML configuration validated with one
//! readable line per mistake (unknown keys with their line); the proxy run from it in front of
//! `psd2-sign sandbox`, with JSON request logs that carry no secret, a SIGHUP that puts a
//! renewed QWAC in use while curl callers run, and a SIGTERM that lets the request under way
//! finish.

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cli_proxy::{port_after, root};
use crate::util::{bin, spawn_server, stderr, stdout};

/// A configuration: one plain listener, the QWAC/QSealC files under `dir`, a Belfius route at
/// `/belfius` to `upstream`, trusting `ca` (relative to the file's folder).
fn config(upstream: &str) -> String {
    format!(
        r#"# the proxy of the integration tests
[proxy]
max_concurrent = 16
drain_timeout = "10s"

[[listener]]
address = "127.0.0.1:0"

[identity.qwac]
key = "qwac.key"
certificate = "qwac-chain.pem"

[identity.qseal]
key = "qseal.key"
certificate = "qseal-chain.pem"

[[route]]
name = "belfius"
prefix = "/belfius"
bank = "belfius"
upstream = "{upstream}"
qwac = "qwac"
qseal = "qseal"
ca = ["server-ca.pem"]
public_roots = false
read_timeout = "20s"
"#
    )
}

/// Copies the RSA test QWAC and QSealC (key, chain) into `dir`.
fn copy_identities(dir: &Path) {
    let rsa = root().join("test-certs/rsa");
    for f in ["qwac.key", "qwac-chain.pem", "qseal.key", "qseal-chain.pem"] {
        std::fs::copy(rsa.join(f), dir.join(f)).unwrap();
    }
}

fn check(dir: &Path, text: &str) -> std::process::Output {
    let file = dir.join("proxy.toml");
    std::fs::write(&file, text).unwrap();
    bin().args(["proxy", "--check"]).arg(&file).output().unwrap()
}

#[test]
fn check_validates_the_file_and_opens_the_keys() {
    let dir = tempfile::tempdir().unwrap();
    copy_identities(dir.path());
    std::fs::copy(root().join("test-certs/rsa/ca.pem"), dir.path().join("server-ca.pem")).unwrap();
    let good = config("https://127.0.0.1:1");
    let out = check(dir.path(), &good);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("proxy.toml: valid"), "{text}");
    assert!(text.contains("route belfius /belfius -> https://127.0.0.1:1 (bank belfius; qwac serial "), "{text}");
    assert!(text.contains("listener 127.0.0.1:0 plain http (loopback)"), "{text}");

    let line_of = |needle: &str| good.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let cases = [
        (
            good.replace("read_timeout", "read_timout"),
            format!("line {}: unknown field `read_timout`", line_of("read_timeout")),
        ),
        (good.replace("[proxy]", "[proxi]"), format!("line {}: unknown field `proxi`", line_of("[proxy]"))),
        (good.replace("127.0.0.1:0", "0.0.0.0:8080"), "plain HTTP is allowed on loopback addresses only".into()),
        (good.replace("qseal = \"qseal\"", "qseal = \"seal\""), "qseal = \"seal\": no [identity.seal]".into()),
        (
            good.replace("bank = \"belfius\"", "bank = \"belfius\"\nprofile = \"ing\""),
            "give bank or profile, not both".into(),
        ),
        (good.replace("\"qwac.key\"", "\"missing.key\""), "missing.key".into()),
        // The QSealC's key with the QWAC's certificate.
        (good.replace("key = \"qwac.key\"", "key = \"qseal.key\""), "does not match".into()),
        (good.replace("max_concurrent = 16", "max_concurrent = \"many\""), "line 3".into()),
    ];
    for (text, want) in cases {
        let out = check(dir.path(), &text);
        assert!(!out.status.success(), "{want}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{want}: {err}");
        assert!(err.contains(&want), "{want}: {err}");
        assert!(err.contains("proxy.toml"), "the file is named: {err}");
    }
}

/// The proxy from `file`, its stderr (the request logs) into `log`.
fn proxy_from(file: &Path, log: &Path) -> (std::process::Child, u16) {
    let mut cmd = bin();
    cmd.args(["proxy", "--log-format", "json", "--config"]).arg(file);
    let mut child = cmd.stdout(Stdio::piped()).stderr(std::fs::File::create(log).unwrap()).spawn().unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            panic!("proxy exited early: {lines:?} {}", std::fs::read_to_string(log).unwrap());
        }
        let done = line.starts_with("Ctrl-C to stop");
        lines.push(line.trim_end().to_owned());
        if done {
            std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
            return (child, port_after(&lines, "proxy listening on http://127.0.0.1:"));
        }
    }
}

/// curl to the proxy's consent-uris; the HTTP status (0: no answer).
fn consent(port: u16, extra: &[&str]) -> u16 {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20"])
        .args(["-H", "Client-ID: psd2-sign-demo", "-H", "Accept-Language: en"])
        .args(["-H", "Redirect-URI: https://tpp.example.com/callback", "-H", "Code-Challenge-Method: S256"])
        .args(["-H", "Code-Challenge: E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"])
        .args(extra)
        .arg(format!("http://127.0.0.1:{port}/belfius/consent-uris?scope=AIS"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
}

fn health(port: u16) -> serde_json::Value {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "20"])
        .arg(format!("http://127.0.0.1:{port}/healthz"))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

fn signal(child: &std::process::Child, sig: &str) {
    assert!(Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap().success());
}

#[test]
fn sighup_puts_a_renewed_qwac_in_use_and_sigterm_drains() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy_identities(d);
    // The bank holds every answer 300 ms, so that requests are under way at each signal.
    let mut sandbox = bin();
    sandbox.args(["sandbox", "--listen", "127.0.0.1:0", "--faults", "delay=300ms", "--test-certs"]);
    sandbox.arg(root().join("test-certs")).arg("--server-ca-out").arg(d.join("server-ca.pem"));
    let (mut sandbox, _sout, lines) = spawn_server(sandbox, "sandbox");
    let sandbox_port = port_after(&lines, "sandbox bank listening on https://127.0.0.1:");
    let file = d.join("proxy.toml");
    std::fs::write(&file, config(&format!("https://127.0.0.1:{sandbox_port}"))).unwrap();
    let log = d.join("proxy.log");
    let (mut proxy, port) = proxy_from(&file, &log);
    let old_serial = health(port)["identities"][0]["serial"].as_str().unwrap().to_owned();

    // Three curl callers without pause across the reload.
    let stop = Arc::new(AtomicBool::new(false));
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let callers: Vec<_> = (0..3)
        .map(|_| {
            let (stop, statuses) = (stop.clone(), statuses.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let s = consent(port, &["-H", "Authorization: Bearer SECRET-TOKEN-42"]);
                    statuses.lock().unwrap().push(s);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    // The renewed QWAC replaces the files (atomically, as a deployment tool would), then SIGHUP.
    let renewal = d.join("renewal");
    std::fs::create_dir(&renewal).unwrap();
    let chain = psd2_test_support::fixtures::issue_by_test_ca(
        &renewal,
        ("rsa", "qwac-ca"),
        &psd2_test_support::fixtures::psd2_config("qwac"),
        "qwac",
        "rsa",
        ("20250101000000Z", "20360101000000Z"),
    );
    std::fs::rename(renewal.join("qwac.key"), d.join("qwac.key")).unwrap();
    std::fs::rename(&chain, d.join("qwac-chain.pem")).unwrap();
    signal(&proxy, "-HUP");
    let mut new_serial = old_serial.clone();
    for _ in 0..50 {
        new_serial = health(port)["identities"][0]["serial"].as_str().unwrap().to_owned();
        if new_serial != old_serial {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_ne!(new_serial, old_serial, "the renewed QWAC is not in use after SIGHUP");
    std::thread::sleep(Duration::from_millis(800));
    stop.store(true, Ordering::SeqCst);
    for c in callers {
        c.join().unwrap();
    }
    let statuses = statuses.lock().unwrap().clone();
    assert!(statuses.len() >= 6, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200), "a request failed across the reload: {statuses:?}");

    // SIGTERM while a request is under way: it is answered, then the proxy exits 0.
    let under_way = std::thread::spawn(move || consent(port, &[]));
    std::thread::sleep(Duration::from_millis(100));
    signal(&proxy, "-TERM");
    assert_eq!(under_way.join().unwrap(), 200, "the request under way was cut by SIGTERM");
    assert!(proxy.wait().unwrap().success());
    signal(&sandbox, "-TERM");
    sandbox.wait().unwrap();

    // The request logs: one JSON object per line, with the request id, route, status and
    // latency, and never the caller's Authorization.
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(!logs.contains("SECRET-TOKEN-42"), "a secret reached the logs");
    let requests: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|j| j["message"] == "request")
        .collect();
    assert!(requests.len() > statuses.len(), "{logs}");
    let r = requests.iter().find(|r| r["path"] == "/belfius/consent-uris").unwrap();
    assert_eq!((r["route"].as_str(), r["status"].as_u64()), (Some("belfius"), Some(200)), "{r}");
    assert!(r["request_id"].as_str().is_some_and(|id| id.len() == 36) && r["latency_ms"].is_number(), "{r}");
    assert!(logs.contains("reloaded") && logs.contains("draining"), "{logs}");
}
