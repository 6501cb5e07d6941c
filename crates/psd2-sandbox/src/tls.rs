//! The server's TLS configuration: its own identity, and client certificates required and
//! verified against the TPP trust anchors (aws-lc-rs provider).

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use super::config::SandboxConfig;
use super::error::Error;

/// A rustls server configuration (TLS 1.2 and 1.3, ALPN `http/1.1`) that requires a client
/// certificate chaining to one of `config.tpp_trust_anchors`.
pub(crate) fn server_config(config: &SandboxConfig) -> Result<rustls::ServerConfig, Error> {
    if config.tpp_trust_anchors.is_empty() {
        return Err(Error::Config("no TPP trust anchor: client certificates could not be verified".into()));
    }
    let roots = psd2_client::tls::roots(&config.tpp_trust_anchors).map_err(Error::TrustAnchor)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?;
    let chain: Vec<CertificateDer<'static>> =
        config.server.chain().iter().map(|c| CertificateDer::from(c.der().to_vec())).collect();
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, PrivateKeyDer::Pkcs8(config.server.key()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}
