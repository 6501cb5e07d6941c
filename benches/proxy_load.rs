//! Sealed PIS initiations (`POST /payments/sepa-credit-transfers`, PKCE, sealed `belfius-pis`
//! with the repository's RSA QSealC) to the embedded sandbox (`psd2-sign sandbox --test-certs`,
//! its own process), measured three ways in one run, 1, 2, 4, 8 and 16 concurrent callers:
//!
//! - **proxy**: plain HTTP callers (one kept-alive connection each, no certificates) through
//!   `psd2-sign proxy --bank belfius` (its own process), which adds `Request-ID` and `Accept`,
//!   seals the body and forwards over kept-alive mTLS with the QWAC;
//! - **client**: in-process `psd2_client::Client`s (one each, kept-alive mTLS), sealing and
//!   sending the same call directly;
//! - **curl**: one `curl` process per request with the QWAC for mTLS and a `Signature` sealed
//!   once with `psd2-sign sign` (the sandbox accepts a replayed seal: `belfius-pis` signs the
//!   body only), a fresh `Request-ID` each time; new TLS handshake per request.
//!
//! Then the latency the proxy adds at concurrency 1 (p50, p99 of proxy minus client), and the
//! proxy's VmRSS idle and with 1,000 idle kept-alive caller connections (each made one request).
//!   benches/proxy.sh   (PROXY_REQUESTS per level, default 2000; CURL_REQUESTS, default 100)
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{REDIRECT, demo_client, env_count, ms, quantile};
use psd2_client::types::{Amount, PaymentRequest};
use psd2_client::{Client, PaymentProduct, PisAuth, Pkce};
use psd2_sandbox::DEMO_CLIENT_ID;

const LEVELS: [usize; 5] = [1, 2, 4, 8, 16];
const PATH: &str = "/payments/sepa-credit-transfers";

/// Starts `cmd` and returns it once it printed a line starting with `prefix`, with the port
/// at that line's end; the rest of its output is drained in a thread. The caller waits for it.
#[allow(clippy::zombie_processes)]
fn spawn(mut cmd: Command, prefix: &str) -> (Child, u16) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "{cmd:?} exited before printing {prefix:?}");
        if let Some(rest) = line.trim_end().strip_prefix(prefix) {
            let port = rest.rsplit(':').next().unwrap().trim_end_matches('/').parse().unwrap();
            std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
            return (child, port);
        }
    }
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// One level's result: requests per second and the sorted latencies.
struct Run {
    rps: f64,
    lat: Vec<Duration>,
}

fn body() -> Vec<u8> {
    let mut p = PaymentRequest::new("BE71096123456769", "Payee", Amount::new("12.34", "EUR"));
    p.endtoend_identification = Some("E2E-1".into());
    p.to_body().unwrap()
}

/// `callers` tasks, each with its own connection from `make`, doing `per` calls of `call`
/// after one untimed warm-up call; any failure aborts the run.
async fn run<C, M, F, Fut>(callers: usize, per: usize, make: M, call: F) -> Run
where
    C: Send + Sync + 'static,
    M: Fn() -> C,
    F: Fn(Arc<C>) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let mut conns = Vec::new();
    for _ in 0..callers {
        let c = Arc::new(make());
        call(c.clone()).await.unwrap();
        conns.push(c);
    }
    let start = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|c| {
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per);
                for _ in 0..per {
                    let t = Instant::now();
                    call(c.clone()).await.unwrap();
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let rps = lat.len() as f64 / start.elapsed().as_secs_f64();
    lat.sort();
    Run { rps, lat }
}

async fn via_proxy(http: Arc<(reqwest::Client, String)>) -> Result<(), String> {
    let (client, url) = &*http;
    let r = client
        .post(url)
        .header("Client-ID", DEMO_CLIENT_ID)
        .header("Accept-Language", "en")
        .header("Redirect-URI", REDIRECT)
        .header("Code-Challenge-Method", "S256")
        .header("Code-Challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        .header("Content-Type", "application/json")
        .body(body())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let text = r.text().await.map_err(|e| e.to_string())?;
    if status != 201 || !text.contains("RCVD") {
        return Err(format!("proxy: {status} {text}"));
    }
    Ok(())
}

async fn direct(c: Arc<Client>) -> Result<(), String> {
    let pkce = Pkce::generate().map_err(|e| e.to_string())?;
    c.initiate_payment(PaymentProduct::SepaCreditTransfers, body(), PisAuth::Pkce(&pkce))
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// `cmd` with each flag followed by its file.
fn files<'c>(cmd: &'c mut Command, pairs: &[(&str, PathBuf)]) -> &'c mut Command {
    for (flag, file) in pairs {
        cmd.arg(flag).arg(file);
    }
    cmd
}

/// The curl loop: `callers` threads, each running `per` curl processes one after the other.
fn curl(callers: usize, per: usize, port: u16, dir: &Path, signature: &str, rsa: &Path) -> Run {
    let url = format!("https://127.0.0.1:{port}{PATH}");
    let one = |url: &str| {
        let id = uuid::Uuid::new_v4().to_string();
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}"]);
        let pairs = [
            ("--cert", rsa.join("qwac-chain.pem")),
            ("--key", rsa.join("qwac.key")),
            ("--cacert", dir.join("server-ca.pem")),
        ];
        let out = files(&mut cmd, &pairs)
            .args(["-H", &format!("Client-ID: {DEMO_CLIENT_ID}"), "-H", "Accept-Language: en"])
            .args(["-H", &format!("Request-ID: {id}"), "-H", "Accept: application/vnd.belfius.api+json; version=3"])
            .args(["-H", &format!("Redirect-URI: {REDIRECT}"), "-H", "Code-Challenge-Method: S256"])
            .args(["-H", "Code-Challenge: E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"])
            .args(["-H", "Content-Type: application/json", "-H", &format!("Signature: {signature}")])
            .arg("--data-binary")
            .arg(format!("@{}", dir.join("body.json").display()))
            .arg(url)
            .output()
            .unwrap();
        let code = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(code, "201", "curl: {}", String::from_utf8_lossy(&out.stderr));
    };
    one(&url);
    let start = Instant::now();
    let lat: Vec<Duration> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..callers)
            .map(|_| {
                s.spawn(|| {
                    (0..per)
                        .map(|_| {
                            let t = Instant::now();
                            one(&url);
                            t.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let rps = lat.len() as f64 / start.elapsed().as_secs_f64();
    let mut lat = lat;
    lat.sort();
    Run { rps, lat }
}

/// One sealed PIS initiation on a raw kept-alive connection; reads the whole answer.
fn raw_request(conn: &mut TcpStream, body: &[u8]) {
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nClient-ID: {DEMO_CLIENT_ID}\r\nAccept-Language: en\r\n\
         Redirect-URI: {REDIRECT}\r\nCode-Challenge-Method: S256\r\n\
         Code-Challenge: E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(body).unwrap();
    let mut r = BufReader::new(conn);
    let (mut length, mut chunked, mut status) = (0usize, false, String::new());
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if status.is_empty() {
            status = line.clone();
        }
        let l = line.trim_end().to_ascii_lowercase();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
        chunked |= l.starts_with("transfer-encoding:") && l.contains("chunked");
    }
    assert!(status.starts_with("HTTP/1.1 201"), "{status}");
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0u8; n + 2];
            r.read_exact(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
        }
    } else {
        let mut rest = vec![0u8; length];
        r.read_exact(&mut rest).unwrap();
    }
    assert!(r.buffer().is_empty(), "bytes after the answer");
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let per_level = env_count("PROXY_REQUESTS", 2000);
    let curl_per_level = env_count("CURL_REQUESTS", 100);
    let idle = env_count("IDLE_CONNECTIONS", 1000);
    let bin = env!("CARGO_BIN_EXE_psd2-sign");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let rsa = root.join("test-certs/rsa");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    let mut cmd = Command::new(bin);
    cmd.args(["sandbox", "--listen", "127.0.0.1:0", "--test-certs"]).arg(root.join("test-certs"));
    cmd.arg("--server-ca-out").arg(dir.join("server-ca.pem"));
    let (mut sandbox, sandbox_port) = spawn(cmd, "sandbox bank listening on https://127.0.0.1:");
    let mut cmd = Command::new(bin);
    cmd.args(["proxy", "--listen", "127.0.0.1:0", "--bank", "belfius"])
        .args(["--env", &format!("https://127.0.0.1:{sandbox_port}")]);
    files(
        &mut cmd,
        &[
            ("--qwac", rsa.join("qwac-chain.pem")),
            ("--qwac-key", rsa.join("qwac.key")),
            ("--qseal", rsa.join("qseal-chain.pem")),
            ("--qseal-key", rsa.join("qseal.key")),
            ("--ca", dir.join("server-ca.pem")),
        ],
    );
    let (mut proxy, proxy_port) = spawn(cmd, "proxy listening on http://127.0.0.1:");
    let rss_start = vm_rss_kib(proxy.id());

    // The curl loop's seal, made once.
    std::fs::write(dir.join("body.json"), body()).unwrap();
    let mut cmd = Command::new(bin);
    cmd.args(["sign", "--profile", "belfius-pis", "--method", "POST", "--format", "headers"])
        .args(["--url", &format!("https://127.0.0.1:{sandbox_port}{PATH}")]);
    let pairs =
        [("--key", rsa.join("qseal.key")), ("--cert", rsa.join("qseal.pem")), ("--body", dir.join("body.json"))];
    let sealed = files(&mut cmd, &pairs).output().unwrap();
    assert!(sealed.status.success(), "{}", String::from_utf8_lossy(&sealed.stderr));
    let headers = String::from_utf8(sealed.stdout).unwrap();
    let signature = headers
        .lines()
        .find_map(|l| l.strip_prefix("Signature: ").or_else(|| l.strip_prefix("signature: ")))
        .unwrap_or_else(|| panic!("no Signature in {headers}"))
        .to_owned();

    let server_ca = psd2_eidas::load::load_certificates(&dir.join("server-ca.pem"), None).unwrap().remove(0);
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let proxy_url = format!("http://127.0.0.1:{proxy_port}{PATH}");
    let mut rows = Vec::new();
    for callers in LEVELS {
        let per = per_level.div_ceil(callers);
        let (p, c) = rt.block_on(async {
            let url = proxy_url.clone();
            let p = run(
                callers,
                per,
                move || (reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap(), url.clone()),
                via_proxy,
            )
            .await;
            let ca = server_ca.clone();
            let c = run(callers, per, move || demo_client(sandbox_port, &ca), direct).await;
            (p, c)
        });
        let k = curl(callers, curl_per_level.div_ceil(callers), sandbox_port, dir, &signature, &rsa);
        rows.push((callers, p, c, k));
    }

    let rss_idle = vm_rss_kib(proxy.id());
    let mut conns = Vec::with_capacity(idle);
    let body = body();
    for _ in 0..idle {
        let mut s = TcpStream::connect(("127.0.0.1", proxy_port)).unwrap();
        raw_request(&mut s, &body);
        conns.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    let rss_conns = vm_rss_kib(proxy.id());
    drop(conns);

    println!(
        "sealed PIS initiations, {} CPUs; proxy = psd2-sign proxy (own process) -> sandbox (own process)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("| callers | proxy req/s | client req/s | curl req/s | proxy/client | proxy/curl |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for (n, p, c, k) in &rows {
        println!("| {n} | {:.0} | {:.0} | {:.1} | {:.2} | {:.0} |", p.rps, c.rps, k.rps, p.rps / c.rps, p.rps / k.rps);
    }
    let (_, p1, c1, k1) = &rows[0];
    println!(
        "latency at 1 caller: proxy p50 {:.2} ms p99 {:.2} ms; client p50 {:.2} ms p99 {:.2} ms; \
         added p50 {:.2} ms p99 {:.2} ms; curl p50 {:.1} ms",
        ms(quantile(&p1.lat, 0.5)),
        ms(quantile(&p1.lat, 0.99)),
        ms(quantile(&c1.lat, 0.5)),
        ms(quantile(&c1.lat, 0.99)),
        ms(quantile(&p1.lat, 0.5)) - ms(quantile(&c1.lat, 0.5)),
        ms(quantile(&p1.lat, 0.99)) - ms(quantile(&c1.lat, 0.99)),
        ms(quantile(&k1.lat, 0.5)),
    );
    println!(
        "proxy VmRSS: {} KiB at start, {} KiB idle after the runs, {} KiB with {idle} idle caller connections \
         ({:.1} KiB per connection)",
        rss_start,
        rss_idle,
        rss_conns,
        (rss_conns as f64 - rss_idle as f64) / idle as f64
    );
    for child in [&mut proxy, &mut sandbox] {
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let _ = child.wait();
    }
}
