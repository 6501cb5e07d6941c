//! Key references and identities: a certificate chain with the key that belongs to it.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use crate::Error;
use crate::cert::Certificate;
use crate::key::Signer;
use crate::load;
use crate::secret::Secrets;

/// Where a key or certificate lives: a file path or a PKCS#11 URI (RFC 7512).
///
/// Parsed from the strings the command line accepts: `pkcs11:…` is a token object, anything
/// else a path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyRef {
    /// A PEM/DER/PKCS#12 file.
    File(PathBuf),
    /// A PKCS#11 URI, e.g. `pkcs11:token=psd2-test;object=qseal;type=private`.
    Pkcs11(String),
}

impl FromStr for KeyRef {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if s.is_empty() {
            return Err(Error::UnsupportedReference("empty key or certificate reference".into()));
        }
        if s.starts_with("pkcs11:") { Ok(KeyRef::Pkcs11(s.to_owned())) } else { Ok(KeyRef::File(PathBuf::from(s))) }
    }
}

impl std::fmt::Display for KeyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyRef::File(p) => write!(f, "{}", p.display()),
            // A URI may carry pin-value: never show it.
            KeyRef::Pkcs11(uri) => f.write_str(&redact_pin(uri)),
        }
    }
}

/// Removes a `pin-value` attribute from a PKCS#11 URI for display.
pub fn redact_pin(uri: &str) -> String {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let keep = |part: &&str| !part.starts_with("pin-value=");
    let path: Vec<&str> = path.split(';').filter(keep).collect();
    let query: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).filter(keep).collect();
    if query.is_empty() { path.join(";") } else { format!("{}?{}", path.join(";"), query.join("&")) }
}

/// Opens the private key a reference names, as a [`Signer`]: a key file, a PKCS#12 file, or a
/// PKCS#11 token key (feature `pkcs11`). Every consumer that only needs a key (CSRs, a CA's
/// issuing key) goes through here, so HSM keys work everywhere file keys do.
pub fn open_signer(key: &KeyRef, secrets: &Secrets) -> Result<Arc<dyn Signer>, Error> {
    open(key, secrets).map(|(signer, _)| signer)
}

/// Reads the certificates a reference names: every certificate of a PEM/DER/PKCS#12 file, or
/// the certificate objects on a PKCS#11 token with the URI's label/id.
pub fn open_certificates(cert: &KeyRef, secrets: &Secrets) -> Result<Vec<Certificate>, Error> {
    match cert {
        KeyRef::File(p) => with_password(p, secrets, |pw| load::load_certificates(p, pw)),
        KeyRef::Pkcs11(uri) => pkcs11_certificates(uri, secrets),
    }
}

/// Runs `f` with the given password; when the file turns out to need one and none was given,
/// asks the prompt once and runs `f` again.
fn with_password<T>(
    path: &std::path::Path,
    secrets: &Secrets,
    f: impl Fn(Option<&crate::Secret>) -> Result<T, Error>,
) -> Result<T, Error> {
    match f(secrets.password.as_ref()) {
        Err(e) if secrets.password.is_none() && matches!(e.root(), Error::PasswordRequired { .. }) => {
            match secrets.password_for(&path.display().to_string()) {
                Some(p) => f(Some(&p)),
                None => Err(e),
            }
        }
        r => r,
    }
}

/// The signer and the certificates found next to it (in the same file or on the token).
fn open(key: &KeyRef, secrets: &Secrets) -> Result<(Arc<dyn Signer>, Vec<Certificate>), Error> {
    match key {
        KeyRef::File(path) => {
            let loaded = with_password(path, secrets, |pw| load::load_file(path, pw))?;
            let k = loaded.key.ok_or_else(|| Error::NoPrivateKey.in_file(path))?;
            Ok((Arc::new(k), loaded.certificates))
        }
        KeyRef::Pkcs11(uri) => pkcs11_key(uri, secrets),
    }
}

/// A certificate chain (leaf first) and the private key of the leaf.
///
/// Every consumer that needs "who we are" takes an `Identity`: HTTP signing uses the key and the
/// leaf (keyId, `TPP-Signature-Certificate`), mTLS sends the chain.
///
/// ```
/// use psd2_eidas::{Identity, KeyRef, Secrets};
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-certs/ec");
/// let key: KeyRef = format!("{dir}/qseal.key").parse()?;
/// let cert: KeyRef = format!("{dir}/qseal-chain.pem").parse()?;
/// let id = Identity::load(&key, Some(&cert), &Secrets::none())?;
/// assert_eq!(id.chain().len(), 2);
/// # Ok::<(), psd2_eidas::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Identity {
    chain: Vec<Certificate>,
    key: Arc<dyn Signer>,
}

impl Identity {
    /// Bundles certificates and a key. The certificate whose public key is the key's becomes the
    /// leaf (first); the others follow in the given order. Fails when none matches.
    pub fn new(mut certificates: Vec<Certificate>, key: Arc<dyn Signer>) -> Result<Self, Error> {
        let Some(pos) = certificates.iter().position(|c| c.public_key() == key.public_key()) else {
            return Err(match certificates.first() {
                Some(c) => Error::KeyMismatch { key: key.describe(), cert: c.subject().to_display() },
                None => Error::NoCertificate,
            });
        };
        let leaf = certificates.remove(pos);
        certificates.insert(0, leaf);
        Ok(Self { chain: certificates, key })
    }

    /// Resolves key and certificate references. With a PKCS#12 (or a PEM holding both) as `key`,
    /// `cert` may be `None`.
    pub fn load(key: &KeyRef, cert: Option<&KeyRef>, secrets: &Secrets) -> Result<Self, Error> {
        let (signer, mut certs) = open(key, secrets)?;
        if let Some(c) = cert {
            certs = open_certificates(c, secrets)?;
        }
        let cert_path: Option<&Path> = match cert {
            Some(KeyRef::File(p)) => Some(p),
            _ => None,
        };
        if certs.is_empty() {
            let err = Error::UnsupportedReference(format!(
                "{key}: holds no certificate; give the certificate (--cert) as well"
            ));
            return Err(err);
        }
        Self::new(certs, signer).map_err(|e| match cert_path {
            Some(p) => e.in_file(p),
            None => e,
        })
    }

    /// The leaf certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.chain[0]
    }

    /// The chain, leaf first.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// The signer for the leaf's key.
    pub fn signer(&self) -> &Arc<dyn Signer> {
        &self.key
    }
}

#[cfg(feature = "pkcs11")]
fn pkcs11_key(uri: &str, secrets: &Secrets) -> Result<(Arc<dyn Signer>, Vec<Certificate>), Error> {
    let key = crate::pkcs11::open_key(uri, secrets)?;
    // The certificate next to the key, when the token has one.
    let certs = crate::pkcs11::certificates_of_key(uri, secrets).unwrap_or_default();
    Ok((Arc::new(key), certs))
}

#[cfg(feature = "pkcs11")]
fn pkcs11_certificates(uri: &str, secrets: &Secrets) -> Result<Vec<Certificate>, Error> {
    crate::pkcs11::find_certificates(uri, secrets)
}

#[cfg(not(feature = "pkcs11"))]
fn pkcs11_key(_: &str, _: &Secrets) -> Result<(Arc<dyn Signer>, Vec<Certificate>), Error> {
    Err(pkcs11_unsupported())
}

#[cfg(not(feature = "pkcs11"))]
fn pkcs11_certificates(_: &str, _: &Secrets) -> Result<Vec<Certificate>, Error> {
    Err(pkcs11_unsupported())
}

#[cfg_attr(feature = "pkcs11", allow(dead_code))]
fn pkcs11_unsupported() -> Error {
    Error::UnsupportedReference("PKCS#11 key references need the `pkcs11` feature (not built in)".into())
}
