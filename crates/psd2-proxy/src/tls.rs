//! TLS on both sides: the listener's server configuration (client certificates of internal
//! callers required and verified), and the upstream mTLS client with the QWAC, counting its
//! handshakes.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::config::{ListenerTls, Route};
use crate::error::Error;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn rustls_err(e: impl std::fmt::Display) -> Error {
    Error::Config(format!("TLS: {e}"))
}

/// The listener's rustls configuration: its certificate and key (any signer, an HSM key too),
/// TLS 1.2 and 1.3, ALPN `http/1.1`, and a client certificate required, chaining to one of the
/// internal CAs.
pub(crate) fn listener_config(tls: &ListenerTls) -> Result<Arc<rustls::ServerConfig>, Error> {
    let roots = Arc::new(psd2_client::tls::roots(&tls.client_cas)?);
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider()).build().map_err(rustls_err)?;
    let chain: Vec<CertificateDer<'static>> =
        tls.identity.chain().iter().map(|c| CertificateDer::from(c.der().to_vec())).collect();
    let key = Arc::new(psd2_client::tls::TlsKey::new(tls.identity.signer().clone()));
    let certified = Arc::new(CertifiedKey::new(chain, key));
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(rustls_err)?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The kept-alive mTLS client towards a route's upstream, presenting the QWAC; each new
/// upstream connection (a full handshake) counts in `handshakes`.
pub(crate) fn upstream_client(route: &Route, handshakes: Counter) -> Result<reqwest::Client, Error> {
    let mut roots = psd2_client::tls::roots(&route.extra_roots)?;
    if route.public_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    let inner =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots.clone()), provider()).build().map_err(rustls_err)?;
    let mut tls = psd2_client::tls::client_config(&route.qwac, roots)?;
    tls.dangerous().set_certificate_verifier(Arc::new(Counting { inner, handshakes }));
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(route.connect_timeout)
        .read_timeout(route.read_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
        .map_err(|e| Error::Config(format!("route {}: HTTP client: {e}", route.name)))
}

/// The webpki server verifier, counting the certificates it verifies (one per full handshake).
#[derive(Debug)]
struct Counting {
    inner: Arc<WebPkiServerVerifier>,
    handshakes: Counter,
}

impl ServerCertVerifier for Counting {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.handshakes.inc();
        self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
