//! mTLS client configuration from an eIDAS identity, with the handshake signed by any
//! [`Signer`] (file key or HSM key).
//!
//! TLS 1.3 allows only RSA-PSS (and ECDSA/EdDSA) for client certificates, TLS 1.2 also takes
//! PKCS#1 v1.5; the key offers what its backend can do ([`Signer::schemes`]). ECDSA signatures
//! come from signers as raw `r‖s` and are converted to the DER TLS wants here, at the edge.

use std::sync::Arc;

use psd2_eidas::{Identity, KeyKind, Signer};
use rustls::pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, RootCertStore, SignatureAlgorithm, SignatureScheme};

/// Errors building a TLS configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// A trust anchor could not be added.
    #[error("trust anchor {subject}: {reason}")]
    TrustAnchor {
        /// The certificate's subject.
        subject: String,
        /// Why rustls rejected it.
        reason: String,
    },
}

/// A [`Signer`] seen as a rustls client-authentication key.
#[derive(Debug)]
pub struct TlsKey {
    signer: Arc<dyn Signer>,
}

impl TlsKey {
    /// Wraps a signer.
    pub fn new(signer: Arc<dyn Signer>) -> Self {
        Self { signer }
    }
}

/// Our scheme for a TLS scheme, in the order of preference used when the peer offers several.
const SCHEMES: [(SignatureScheme, psd2_eidas::SignatureScheme); 9] = [
    (SignatureScheme::ECDSA_NISTP256_SHA256, psd2_eidas::SignatureScheme::EcdsaP256Sha256),
    (SignatureScheme::ECDSA_NISTP384_SHA384, psd2_eidas::SignatureScheme::EcdsaP384Sha384),
    (SignatureScheme::ED25519, psd2_eidas::SignatureScheme::Ed25519),
    (SignatureScheme::RSA_PSS_SHA256, psd2_eidas::SignatureScheme::RsaPssSha256),
    (SignatureScheme::RSA_PSS_SHA384, psd2_eidas::SignatureScheme::RsaPssSha384),
    (SignatureScheme::RSA_PSS_SHA512, psd2_eidas::SignatureScheme::RsaPssSha512),
    (SignatureScheme::RSA_PKCS1_SHA256, psd2_eidas::SignatureScheme::RsaPkcs1Sha256),
    (SignatureScheme::RSA_PKCS1_SHA384, psd2_eidas::SignatureScheme::RsaPkcs1Sha384),
    (SignatureScheme::RSA_PKCS1_SHA512, psd2_eidas::SignatureScheme::RsaPkcs1Sha512),
];

impl rustls::sign::SigningKey for TlsKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn rustls::sign::Signer>> {
        let ours = self.signer.schemes();
        SCHEMES.iter().find(|(tls, s)| offered.contains(tls) && ours.contains(s)).map(|&(tls, scheme)| {
            Box::new(TlsSigner { signer: self.signer.clone(), tls, scheme }) as Box<dyn rustls::sign::Signer>
        })
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(SubjectPublicKeyInfoDer::from(self.signer.public_key().spki_der()))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        match self.signer.public_key().kind() {
            KeyKind::Rsa { .. } => SignatureAlgorithm::RSA,
            KeyKind::Ec(_) => SignatureAlgorithm::ECDSA,
            KeyKind::Ed25519 => SignatureAlgorithm::ED25519,
            _ => SignatureAlgorithm::Unknown(0),
        }
    }
}

#[derive(Debug)]
struct TlsSigner {
    signer: Arc<dyn Signer>,
    tls: SignatureScheme,
    scheme: psd2_eidas::SignatureScheme,
}

impl rustls::sign::Signer for TlsSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        let sig = self.signer.sign(self.scheme, message).map_err(|e| rustls::Error::General(e.to_string()))?;
        match self.scheme {
            psd2_eidas::SignatureScheme::EcdsaP256Sha256 | psd2_eidas::SignatureScheme::EcdsaP384Sha384 => {
                psd2_eidas::ecdsa_raw_to_der(&sig).map_err(|e| rustls::Error::General(e.to_string()))
            }
            _ => Ok(sig),
        }
    }

    fn scheme(&self) -> SignatureScheme {
        self.tls
    }
}

/// A rustls client configuration (aws-lc-rs provider, TLS 1.2 and 1.3) that presents the
/// identity's chain and signs with its key. Server verification is always on, against `roots`.
///
/// ```
/// use psd2_client::tls;
/// use psd2_eidas::{Identity, KeyRef, Secrets};
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-certs/ec");
/// let qwac = Identity::load(&format!("{dir}/qwac.key").parse()?, Some(&format!("{dir}/qwac-chain.pem").parse()?), &Secrets::none())?;
/// let roots = tls::roots(&psd2_eidas::load::load_certificates(format!("{dir}/ca.pem").as_ref(), None)?)?;
/// let config = tls::client_config(&qwac, roots)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn client_config(identity: &Identity, roots: RootCertStore) -> Result<ClientConfig, Error> {
    let chain: Vec<CertificateDer<'static>> =
        identity.chain().iter().map(|c| CertificateDer::from(c.der().to_vec())).collect();
    let leaf = identity.certificate();
    tracing::info!(
        client_certificate = %leaf.subject().to_display(),
        serial = %leaf.serial_hex(),
        chain = chain.len(),
        key = %identity.signer().describe(),
        roots = roots.len(),
        "mTLS client identity"
    );
    let key = CertifiedKey::new(chain, Arc::new(TlsKey::new(identity.signer().clone())));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(key))))
}

/// A rustls client configuration like [`client_config`]'s that presents no client certificate:
/// server verification only (a client of an eIDAS proxy without an internal identity).
pub(crate) fn server_auth_config(roots: RootCertStore) -> Result<ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A root store holding exactly these trust anchors (e.g. the test CA, named explicitly).
pub fn roots(anchors: &[psd2_eidas::Certificate]) -> Result<RootCertStore, Error> {
    let mut store = RootCertStore::empty();
    for c in anchors {
        store
            .add(CertificateDer::from(c.der().to_vec()))
            .map_err(|e| Error::TrustAnchor { subject: c.subject().to_display(), reason: e.to_string() })?;
    }
    Ok(store)
}
