//! The embedded sandbox alone under load: `LOAD_CLIENTS` (default 64) concurrent TPP clients,
//! each a `psd2_client::Client` with its own kept-alive mutual-TLS connection (the repository's
//! RSA QWAC), each sending `LOAD_REQUESTS` (default 10,000) account-list calls
//! (`GET /accounts` with an AIS access token obtained once through consent, the PSU's step and
//! `/token`). Every answer must be a 200 with the accounts: any error fails the run. Prints
//! the throughput and the p50/p99/max latency per request.
//!   cargo bench --bench sandbox_load                       (or benches/load.sh)
//!   LOAD_CLIENTS=8 LOAD_REQUESTS=1000 cargo bench --bench sandbox_load
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod common;

use std::time::Instant;

use common::{demo_client, env_count, ms, quantile};
use psd2_client::{Client, Pkce, Scope};
use psd2_sandbox::{Sandbox, SandboxConfig, SandboxHandle, ServerIdentity};
use psd2_test_support::certs::{certificate, tpp_anchors};

fn client(sandbox: &SandboxHandle) -> Client {
    demo_client(sandbox.local_addr().port(), sandbox.server_ca().unwrap())
}

fn main() {
    // `cargo bench` passes `--bench`; a `cargo test --benches` run passes nothing: do no load then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let clients = env_count("LOAD_CLIENTS", 64);
    let requests = env_count("LOAD_REQUESTS", 10_000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let config = SandboxConfig::new(tpp_anchors(), ServerIdentity::ephemeral().unwrap())
            .with_demo_client(certificate("rsa", "qseal.pem"))
            .unwrap();
        let sandbox = Sandbox::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let first = client(&sandbox);
        let pkce = Pkce::generate().unwrap();
        let uris = first.consent_uris(Scope::Ais, &pkce).await.unwrap();
        let code = first.psu_authorize(&uris[0].consent_uri, "st").await.unwrap();
        let token = first.token_from_code(&code, pkce.verifier()).await.unwrap().access_token;

        // Every client connects (and makes one call) before the clock starts.
        let mut all = Vec::new();
        for _ in 0..clients {
            let c = client(&sandbox);
            assert!(!c.accounts(&token).await.unwrap().accounts.is_empty());
            all.push(c);
        }
        println!(
            "sandbox load: {clients} clients x {requests} GET /accounts over kept-alive mTLS, {} worker threads",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        let start = Instant::now();
        let tasks: Vec<_> = all
            .into_iter()
            .map(|c| {
                let token = token.clone();
                tokio::spawn(async move {
                    let mut lat = Vec::with_capacity(requests);
                    let mut errors = 0usize;
                    for _ in 0..requests {
                        let t = Instant::now();
                        match c.accounts(&token).await {
                            Ok(list) if !list.accounts.is_empty() => {}
                            Ok(_) => errors += 1,
                            Err(e) => {
                                if errors == 0 {
                                    eprintln!("error: {e}");
                                }
                                errors += 1;
                            }
                        }
                        lat.push(t.elapsed());
                    }
                    (lat, errors)
                })
            })
            .collect();
        let mut lat = Vec::with_capacity(clients * requests);
        let mut errors = 0;
        for t in tasks {
            let (l, e) = t.await.unwrap();
            lat.extend(l);
            errors += e;
        }
        let wall = start.elapsed();
        lat.sort();
        let total = lat.len();
        println!(
            "  {total} requests in {:.1} s: {:.0} req/s, {errors} errors; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            wall.as_secs_f64(),
            total as f64 / wall.as_secs_f64(),
            ms(quantile(&lat, 0.50)),
            ms(quantile(&lat, 0.99)),
            ms(lat[total - 1]),
        );
        sandbox.shutdown().await.unwrap();
        assert_eq!(errors, 0, "the sandbox answered {errors} requests with an error");
    });
}
