//! What the load generators share: counts from the environment, quantiles of sorted latencies.

use std::time::Duration;

/// The count in environment variable `name`, or `default`.
pub(crate) fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a count")))
}

/// The latency at quantile `q` (0 to 1) of sorted `d`.
pub(crate) fn quantile(d: &[Duration], q: f64) -> Duration {
    d[((d.len() as f64 * q).ceil() as usize).clamp(1, d.len()) - 1]
}

/// `d` in milliseconds.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The redirect URI of the demo client's calls.
pub(crate) const REDIRECT: &str = "https://tpp.example.com/callback";

/// A Belfius client of the demo TPP (the repository's RSA QWAC and QSealC) for the sandbox on
/// 127.0.0.1:`port`, trusting its `server_ca`: its own connection pool.
pub(crate) fn demo_client(port: u16, server_ca: &psd2_eidas::Certificate) -> psd2_client::Client {
    use psd2_client::{Bank, Client, ClientOptions, Environment};
    use psd2_test_support::certs::identity;
    let env = Environment::Custom(format!("https://127.0.0.1:{port}"));
    let options = ClientOptions::new(Bank::Belfius, env, psd2_sandbox::DEMO_CLIENT_ID, REDIRECT)
        .with_client_secret(psd2_eidas::Secret::new(psd2_sandbox::DEMO_CLIENT_SECRET))
        .with_extra_root(server_ca.clone())
        .without_public_roots();
    Client::new(identity("rsa", "qwac"), Some(identity("rsa", "qseal")), options).unwrap()
}
