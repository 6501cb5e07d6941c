//! The server's TLS configuration: its own identity, and client certificates required and
//! verified against the TPP trust anchors (aws-lc-rs provider), and against the TPP CAs' CRLs,
//! reloaded when their files change.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use super::config::SandboxConfig;
use super::error::Error;

/// A rustls server configuration (TLS 1.2 and 1.3, ALPN `http/1.1`) that requires a client
/// certificate chaining to one of `config.tpp_trust_anchors` and not listed in
/// `config.crl_files`.
pub(crate) fn server_config(config: &SandboxConfig) -> Result<rustls::ServerConfig, Error> {
    if config.tpp_trust_anchors.is_empty() {
        return Err(Error::Config("no TPP trust anchor: client certificates could not be verified".into()));
    }
    let roots = Arc::new(psd2_client::tls::roots(&config.tpp_trust_anchors).map_err(Error::TrustAnchor)?);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(Reloading::new(roots, provider.clone(), config.crl_files.clone())?);
    let chain: Vec<CertificateDer<'static>> =
        config.server.chain().iter().map(|c| CertificateDer::from(c.der().to_vec())).collect();
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, PrivateKeyDer::Pkcs8(config.server.key()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// The webpki client verifier, rebuilt with the CRLs whenever a CRL file changes (checked at
/// each handshake: the files are small).
#[derive(Debug)]
struct Reloading {
    roots: Arc<RootCertStore>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    files: Vec<PathBuf>,
    /// The trust anchors' names, sent as acceptable client certificate CAs.
    hints: Vec<DistinguishedName>,
    current: RwLock<(Arc<dyn ClientCertVerifier>, Vec<Stamp>)>,
}

/// A file's modification time and content digest (`None`: unreadable).
type Stamp = Option<(SystemTime, Vec<u8>)>;

/// What identifies each file's current content: its modification time and a SHA-256 of it (a
/// file rewritten within the file system's time granularity still counts as changed).
fn stamps(files: &[PathBuf]) -> Vec<Stamp> {
    files
        .iter()
        .map(|f| {
            let modified = std::fs::metadata(f).and_then(|m| m.modified()).ok()?;
            let data = std::fs::read(f).ok()?;
            Some((modified, aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &data).as_ref().to_vec()))
        })
        .collect()
}

fn read_crl(path: &std::path::Path) -> Result<CertificateRevocationListDer<'static>, Error> {
    let data = psd2_eidas::load::read_limited(path, 64 << 20, "CRL file")
        .map_err(|e| Error::Config(format!("CRL {}: {e}", path.display())))?;
    let der = psd2_client::revocation::crl_der(&data)
        .ok_or_else(|| Error::Config(format!("CRL {}: no X509 CRL block", path.display())))?;
    Ok(CertificateRevocationListDer::from(der))
}

impl Reloading {
    fn new(
        roots: Arc<RootCertStore>,
        provider: Arc<rustls::crypto::CryptoProvider>,
        files: Vec<PathBuf>,
    ) -> Result<Self, Error> {
        let inner = build(&roots, &provider, &files)?;
        let now = stamps(&files);
        let hints = roots.subjects();
        Ok(Self { roots, provider, files, hints, current: RwLock::new((inner, now)) })
    }

    /// The verifier for this handshake, rebuilt first when a CRL file changed. A CRL that no
    /// longer loads keeps the previous verifier (and says so in the log).
    fn verifier(&self) -> Arc<dyn ClientCertVerifier> {
        let now = stamps(&self.files);
        {
            let cur = self.current.read().unwrap_or_else(|e| e.into_inner());
            if cur.1 == now {
                return cur.0.clone();
            }
        }
        let mut cur = self.current.write().unwrap_or_else(|e| e.into_inner());
        match build(&self.roots, &self.provider, &self.files) {
            Ok(v) => {
                tracing::info!(files = self.files.len(), "CRLs reloaded");
                *cur = (v, now);
            }
            Err(e) => tracing::warn!(error = %e, "CRLs not reloaded; the previous ones stay in force"),
        }
        cur.0.clone()
    }
}

fn build(
    roots: &Arc<RootCertStore>,
    provider: &Arc<rustls::crypto::CryptoProvider>,
    files: &[PathBuf],
) -> Result<Arc<dyn ClientCertVerifier>, Error> {
    let mut b = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone());
    if !files.is_empty() {
        let crls = files.iter().map(|f| read_crl(f)).collect::<Result<Vec<_>, _>>()?;
        // Only the QWAC itself is checked, and a QWAC of a CA without a CRL here passes.
        b = b.with_crls(crls).only_check_end_entity_revocation().allow_unknown_revocation_status();
    }
    Ok(b.build()?)
}

impl ClientCertVerifier for Reloading {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.verifier().verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.verifier().supported_verify_schemes()
    }
}
