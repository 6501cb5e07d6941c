//! Keys for rcgen: adapters from [`psd2_eidas::Signer`] and [`psd2_eidas::PublicKey`] to rcgen's
//! `SigningKey` / `PublicKeyData`, and the key types the CA generates.
//!
//! Because issuance only ever signs through [`Signer`], a CA key or a subject key held in a
//! PKCS#11 token works exactly like a file key.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use psd2_eidas::{Curve, FileKey, KeyKind, PublicKey, SignatureScheme, Signer, ecdsa_raw_to_der};
use rcgen::{PublicKeyData, SignatureAlgorithm};

use crate::Error;

/// A key type the CA can generate (`--key-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA 2048 bits.
    Rsa2048,
    /// RSA 3072 bits.
    Rsa3072,
    /// RSA 4096 bits.
    Rsa4096,
    /// ECDSA on NIST P-256.
    P256,
    /// ECDSA on NIST P-384.
    P384,
}

impl KeyType {
    /// Every key type, in `--key-type` order.
    pub const ALL: [KeyType; 5] = [Self::Rsa2048, Self::Rsa3072, Self::Rsa4096, Self::P256, Self::P384];

    /// The `--key-type` name: `rsa2048`, `rsa3072`, `rsa4096`, `p256`, `p384`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rsa2048 => "rsa2048",
            Self::Rsa3072 => "rsa3072",
            Self::Rsa4096 => "rsa4096",
            Self::P256 => "p256",
            Self::P384 => "p384",
        }
    }

    /// The key type of an existing key, when it is one the CA generates.
    pub fn of(kind: KeyKind) -> Option<Self> {
        match kind {
            KeyKind::Rsa { bits: 2048 } => Some(Self::Rsa2048),
            KeyKind::Rsa { bits: 3072 } => Some(Self::Rsa3072),
            KeyKind::Rsa { bits: 4096 } => Some(Self::Rsa4096),
            KeyKind::Ec(Curve::P256) => Some(Self::P256),
            KeyKind::Ec(Curve::P384) => Some(Self::P384),
            _ => None,
        }
    }

    /// Generates a fresh software key of this type.
    pub fn generate(self) -> Result<FileKey, Error> {
        Ok(match self {
            Self::Rsa2048 => FileKey::generate_rsa(2048)?,
            Self::Rsa3072 => FileKey::generate_rsa(3072)?,
            Self::Rsa4096 => FileKey::generate_rsa(4096)?,
            Self::P256 => FileKey::generate_ec(Curve::P256)?,
            Self::P384 => FileKey::generate_ec(Curve::P384)?,
        })
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim().to_ascii_lowercase().replace(['-', '_'], "");
        KeyType::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            Error::input("key type", format!("'{s}' (expected rsa2048, rsa3072, rsa4096, p256 or p384)"))
        })
    }
}

/// The rcgen algorithm and our scheme for certificates signed by (or holding) a key of `kind`:
/// RSA → sha256WithRSAEncryption, P-256 → ecdsa-with-SHA256, P-384 → ecdsa-with-SHA384.
fn algorithm(kind: KeyKind) -> Result<(&'static SignatureAlgorithm, SignatureScheme), Error> {
    match kind {
        KeyKind::Rsa { .. } => Ok((&rcgen::PKCS_RSA_SHA256, SignatureScheme::RsaPkcs1Sha256)),
        KeyKind::Ec(Curve::P256) => Ok((&rcgen::PKCS_ECDSA_P256_SHA256, SignatureScheme::EcdsaP256Sha256)),
        KeyKind::Ec(Curve::P384) => Ok((&rcgen::PKCS_ECDSA_P384_SHA384, SignatureScheme::EcdsaP384Sha384)),
        other => {
            Err(Error::input("key", format!("{other} keys are not used for PSD2 certificates (RSA or EC P-256/P-384)")))
        }
    }
}

/// Any [`Signer`] as an rcgen signing key: a CA key, or the subject key of a request.
///
/// ECDSA signatures come from the signer as raw `r‖s` and are converted to DER here.
#[derive(Debug, Clone)]
pub struct RcgenSigner {
    signer: Arc<dyn Signer>,
    alg: &'static SignatureAlgorithm,
    scheme: SignatureScheme,
}

impl RcgenSigner {
    /// Wraps a signer. Fails for key types other than RSA and EC P-256/P-384.
    pub fn new(signer: Arc<dyn Signer>) -> Result<Self, Error> {
        let (alg, scheme) = algorithm(signer.public_key().kind())?;
        Ok(Self { signer, alg, scheme })
    }

    /// The signature scheme used for what this key signs.
    pub fn scheme(&self) -> SignatureScheme {
        self.scheme
    }

    /// The wrapped signer.
    pub fn signer(&self) -> &Arc<dyn Signer> {
        &self.signer
    }
}

impl PublicKeyData for RcgenSigner {
    fn der_bytes(&self) -> &[u8] {
        self.signer.public_key().raw()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

thread_local! {
    /// The signer's own error behind the last `rcgen::Error::RemoteKeyError` on this thread
    /// (rcgen's error cannot carry it; rcgen signs on the caller's thread).
    static SIGNER_ERROR: std::cell::RefCell<Option<psd2_eidas::Error>> = const { std::cell::RefCell::new(None) };
}

/// Takes the signer error kept for the last `RemoteKeyError` on this thread.
pub(crate) fn take_signer_error() -> Option<psd2_eidas::Error> {
    SIGNER_ERROR.with(|e| e.borrow_mut().take())
}

fn keep(e: psd2_eidas::Error) -> rcgen::Error {
    SIGNER_ERROR.with(|slot| *slot.borrow_mut() = Some(e));
    rcgen::Error::RemoteKeyError
}

impl rcgen::SigningKey for RcgenSigner {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let sig = self.signer.sign(self.scheme, msg).map_err(keep)?;
        match self.signer.public_key().kind() {
            KeyKind::Ec(_) => ecdsa_raw_to_der(&sig).map_err(keep),
            _ => Ok(sig),
        }
    }
}

/// A public key (from a request, or any certificate) as the subject key of a certificate.
#[derive(Debug, Clone)]
pub struct RcgenPublicKey {
    key: PublicKey,
    alg: &'static SignatureAlgorithm,
}

impl RcgenPublicKey {
    /// Wraps a public key. Fails for key types other than RSA and EC P-256/P-384.
    pub fn new(key: PublicKey) -> Result<Self, Error> {
        let (alg, _) = algorithm(key.kind())?;
        Ok(Self { key, alg })
    }

    /// The wrapped key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }
}

impl PublicKeyData for RcgenPublicKey {
    fn der_bytes(&self) -> &[u8] {
        self.key.raw()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_types_parse() {
        assert_eq!("p256".parse::<KeyType>().unwrap(), KeyType::P256);
        assert_eq!("RSA-2048".parse::<KeyType>().unwrap(), KeyType::Rsa2048);
        assert!("rsa1024".parse::<KeyType>().is_err());
        assert!("ed25519".parse::<KeyType>().is_err());
    }

    #[test]
    fn spki_matches_the_signer() {
        use rcgen::PublicKeyData as _;
        for kt in [KeyType::P256, KeyType::P384] {
            let key: Arc<dyn Signer> = Arc::new(kt.generate().unwrap());
            let spki = key.public_key().spki_der().to_vec();
            let adapter = RcgenSigner::new(key).unwrap();
            assert_eq!(adapter.subject_public_key_info(), spki);
        }
    }

    /// A key that stops working (a token unplugged): its own error reaches the caller.
    #[derive(Debug)]
    struct Broken(psd2_eidas::FileKey);

    impl Signer for Broken {
        fn public_key(&self) -> &psd2_eidas::PublicKey {
            self.0.public_key()
        }
        fn sign(&self, _: SignatureScheme, _: &[u8]) -> Result<Vec<u8>, psd2_eidas::Error> {
            Err(psd2_eidas::Error::Pkcs11 { function: "C_Sign".into(), code: psd2_eidas::Pkcs11Code::DeviceRemoved })
        }
        fn describe(&self) -> String {
            "broken".into()
        }
    }

    #[test]
    fn signer_errors_are_kept_as_the_cause() {
        let key: Arc<dyn Signer> = Arc::new(Broken(KeyType::P256.generate().unwrap()));
        let req = crate::csr::CsrRequest {
            kind: crate::CertKind::Qseal,
            organization: "Example TPP NV".into(),
            organization_identifier: "PSDBE-NBB-0999.888.777".into(),
            domains: vec![],
            country: None,
        };
        let e = crate::csr::create(&req, key).unwrap_err();
        assert!(matches!(e, Error::Sign { .. }), "{e:?}");
        let source = std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default();
        assert!(source.contains("CKR_DEVICE_REMOVED"), "{source}");
    }
}
