//! Software keys (read from files or generated) on aws-lc-rs.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use zeroize::Zeroizing;

use crate::Error;
use crate::der::{Reader, Tlv, tag};
use crate::key::{Curve, OID_EC, OID_ED25519, OID_RSA, OID_RSA_PSS, PublicKey, SignatureScheme, Signer};

/// A private key held in process memory, signing with aws-lc-rs.
///
/// Loaded from PKCS#8, PKCS#1 (RSA) or SEC1 (EC) DER — see [`crate::load`] for files — or
/// generated. aws-lc frees (and cleanses) the key material when the key is dropped; the DER
/// buffers this crate reads keys from are zeroized.
///
/// ```
/// use psd2_eidas::{FileKey, KeyKind, Signer, SignatureScheme};
/// let key = FileKey::generate_rsa(2048)?;
/// assert_eq!(key.public_key().kind(), KeyKind::Rsa { bits: 2048 });
/// let sig = key.sign(SignatureScheme::RsaPssSha256, b"payload")?;
/// key.public_key().verify(SignatureScheme::RsaPssSha256, b"payload", &sig)?;
/// # Ok::<(), psd2_eidas::Error>(())
/// ```
pub struct FileKey {
    inner: Inner,
    public: PublicKey,
    origin: String,
}

enum Inner {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair, Curve),
    Ed25519(Ed25519KeyPair),
}

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileKey({}, {})", self.public.kind(), self.origin)
    }
}

/// Which DER structure a private key is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFormat {
    /// PKCS#8 `PrivateKeyInfo` (`BEGIN PRIVATE KEY`).
    Pkcs8,
    /// PKCS#1 `RSAPrivateKey` (`BEGIN RSA PRIVATE KEY`).
    Pkcs1,
    /// SEC1 `ECPrivateKey` (`BEGIN EC PRIVATE KEY`).
    Sec1,
}

fn ec_alg(curve: Curve) -> &'static signature::EcdsaSigningAlgorithm {
    match curve {
        Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
    }
}

impl FileKey {
    /// Parses a DER private key in the given format. `origin` names where it came from, for
    /// messages (a path, "generated").
    pub fn from_der(der: &[u8], format: KeyFormat, origin: &str) -> Result<Self, Error> {
        let inner = match format {
            KeyFormat::Pkcs8 => Self::parse_pkcs8(der)?,
            KeyFormat::Pkcs1 => Inner::Rsa(RsaKeyPair::from_der(der).map_err(|e| rejected("RSA", e))?),
            KeyFormat::Sec1 => {
                let curve = sec1_curve(der)?;
                Inner::Ec(EcdsaKeyPair::from_private_key_der(ec_alg(curve), der).map_err(|e| rejected("EC", e))?, curve)
            }
        };
        Self::from_inner(inner, origin)
    }

    /// Recognises PKCS#8, PKCS#1 or SEC1 from the structure (for DER files without a label).
    pub fn from_der_any(der: &[u8], origin: &str) -> Result<Self, Error> {
        let format = if pkcs8_parts(der).is_some() {
            KeyFormat::Pkcs8
        } else {
            // SEC1: version 1, privateKey OCTET STRING; PKCS#1: version 0, modulus INTEGER, ...
            let second = Tlv::parse_exact(der, "private key")
                .ok()
                .and_then(|t| {
                    let mut r = t.reader();
                    r.read().ok()?;
                    r.read().ok()
                })
                .map(|t| t.tag);
            match second {
                Some(tag::OCTET_STRING) => KeyFormat::Sec1,
                Some(tag::INTEGER) => KeyFormat::Pkcs1,
                _ => return Err(Error::Unrecognized),
            }
        };
        Self::from_der(der, format, origin)
    }

    fn parse_pkcs8(der: &[u8]) -> Result<Inner, Error> {
        let (oid, params, key) =
            pkcs8_parts(der).ok_or_else(|| Error::UnsupportedKey("malformed PKCS#8 key".into()))?;
        Ok(match oid.as_str() {
            OID_RSA => Inner::Rsa(RsaKeyPair::from_pkcs8(der).map_err(|e| rejected("RSA", e))?),
            // id-RSASSA-PSS keys (RFC 4055): the inner key is a plain PKCS#1 RSAPrivateKey.
            OID_RSA_PSS => Inner::Rsa(RsaKeyPair::from_der(key).map_err(|e| rejected("RSA", e))?),
            OID_EC => {
                let curve_oid = params.ok_or_else(|| Error::UnsupportedKey("EC key without a named curve".into()))?;
                let curve = Curve::from_oid(&curve_oid)
                    .ok_or_else(|| Error::UnsupportedKey(format!("EC curve {curve_oid} (only P-256 and P-384)")))?;
                Inner::Ec(EcdsaKeyPair::from_pkcs8(ec_alg(curve), der).map_err(|e| rejected("EC", e))?, curve)
            }
            OID_ED25519 => {
                Inner::Ed25519(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|e| rejected("Ed25519", e))?)
            }
            other => return Err(Error::UnsupportedKey(format!("private key algorithm {other}"))),
        })
    }

    fn from_inner(inner: Inner, origin: &str) -> Result<Self, Error> {
        let spki = match &inner {
            Inner::Rsa(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Inner::Ec(k, _) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Inner::Ed25519(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
        }
        .map_err(|_| Error::UnsupportedKey("cannot encode the public key".into()))?;
        let public = PublicKey::from_spki(&spki)?;
        if let crate::KeyKind::Rsa { bits } = public.kind()
            && !(2048..=8192).contains(&bits)
        {
            return Err(Error::UnsupportedKey(format!("RSA key of {bits} bits (2048 to 8192 supported)")));
        }
        Ok(Self { inner, public, origin: origin.to_owned() })
    }

    /// Generates an RSA key of 2048, 3072, 4096 or 8192 bits.
    pub fn generate_rsa(bits: usize) -> Result<Self, Error> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            8192 => KeySize::Rsa8192,
            _ => return Err(Error::UnsupportedKey(format!("RSA key size {bits} (2048, 3072, 4096 or 8192)"))),
        };
        let k = RsaKeyPair::generate(size).map_err(|_| Error::Signing("RSA key generation failed".into()))?;
        Self::from_inner(Inner::Rsa(k), "generated")
    }

    /// Generates an ECDSA P-256 key.
    pub fn generate_p256() -> Result<Self, Error> {
        Self::generate_ec(Curve::P256)
    }

    /// Generates an ECDSA key on `curve`.
    pub fn generate_ec(curve: Curve) -> Result<Self, Error> {
        let k = EcdsaKeyPair::generate(ec_alg(curve)).map_err(|_| Error::Signing("EC key generation failed".into()))?;
        Self::from_inner(Inner::Ec(k, curve), "generated")
    }

    /// Generates an Ed25519 key.
    pub fn generate_ed25519() -> Result<Self, Error> {
        let k = Ed25519KeyPair::generate().map_err(|_| Error::Signing("Ed25519 key generation failed".into()))?;
        Self::from_inner(Inner::Ed25519(k), "generated")
    }

    /// The key as PKCS#8 v1 DER (zeroized on drop), for writing key files.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let der: Result<Vec<u8>, _> = match &self.inner {
            Inner::Rsa(k) => AsDer::<Pkcs8V1Der>::as_der(k).map(|d| d.as_ref().to_vec()),
            Inner::Ec(k, _) => k.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
            Inner::Ed25519(k) => k.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
        };
        der.map(Zeroizing::new).map_err(|_| Error::Signing("cannot encode the private key".into()))
    }
}

impl Signer for FileKey {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, Error> {
        let rng = SystemRandom::new();
        let failed = |_| Error::Signing(format!("{scheme} signature failed"));
        match &self.inner {
            Inner::Rsa(k) => {
                let padding: &'static dyn signature::RsaEncoding = match scheme {
                    SignatureScheme::RsaPkcs1Sha256 => &signature::RSA_PKCS1_SHA256,
                    SignatureScheme::RsaPkcs1Sha384 => &signature::RSA_PKCS1_SHA384,
                    SignatureScheme::RsaPkcs1Sha512 => &signature::RSA_PKCS1_SHA512,
                    SignatureScheme::RsaPssSha256 => &signature::RSA_PSS_SHA256,
                    SignatureScheme::RsaPssSha384 => &signature::RSA_PSS_SHA384,
                    SignatureScheme::RsaPssSha512 => &signature::RSA_PSS_SHA512,
                    _ => return Err(Error::SchemeMismatch { scheme, key: self.public.kind() }),
                };
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(padding, &rng, message, &mut sig).map_err(failed)?;
                Ok(sig)
            }
            Inner::Ec(k, curve) => {
                let ok = matches!(
                    (scheme, curve),
                    (SignatureScheme::EcdsaP256Sha256, Curve::P256) | (SignatureScheme::EcdsaP384Sha384, Curve::P384)
                );
                if !ok {
                    return Err(Error::SchemeMismatch { scheme, key: self.public.kind() });
                }
                Ok(k.sign(&rng, message).map_err(failed)?.as_ref().to_vec())
            }
            Inner::Ed25519(k) => {
                if scheme != SignatureScheme::Ed25519 {
                    return Err(Error::SchemeMismatch { scheme, key: self.public.kind() });
                }
                Ok(k.sign(message).as_ref().to_vec())
            }
        }
    }

    fn describe(&self) -> String {
        format!("{} key {}", self.public.kind(), self.origin)
    }
}

fn rejected(what: &str, e: aws_lc_rs::error::KeyRejected) -> Error {
    match e.description_() {
        "TooSmall" => Error::UnsupportedKey(format!("{what} key under 2048 bits (2048 to 8192 supported)")),
        "TooLarge" => Error::UnsupportedKey(format!("{what} key over 8192 bits (2048 to 8192 supported)")),
        why => Error::InvalidKey(format!("{what} key rejected ({why})")),
    }
}

/// (algorithm OID, parameter OID if any, privateKey OCTET STRING content) of a PKCS#8 key.
fn pkcs8_parts(der: &[u8]) -> Option<(String, Option<String>, &[u8])> {
    let seq = Tlv::parse_exact(der, "PrivateKeyInfo").ok()?.expect(tag::SEQUENCE, "PrivateKeyInfo").ok()?;
    let mut r = seq.reader();
    r.read_tag(tag::INTEGER, "version").ok()?;
    let alg = r.read_tag(tag::SEQUENCE, "AlgorithmIdentifier").ok()?;
    let key = r.read_tag(tag::OCTET_STRING, "privateKey").ok()?;
    let mut ar = alg.reader();
    let oid = ar.read().ok()?.oid().ok()?;
    let params = ar.read().ok().and_then(|t| t.oid().ok());
    Some((oid, params, key.value))
}

/// The named curve inside a SEC1 ECPrivateKey's `[0] parameters`.
fn sec1_curve(der: &[u8]) -> Result<Curve, Error> {
    let bad = || Error::InvalidKey("malformed SEC1 EC private key".into());
    let seq = Tlv::parse_exact(der, "ECPrivateKey")
        .and_then(|t| t.expect(tag::SEQUENCE, "ECPrivateKey"))
        .map_err(|_| bad())?;
    let mut r: Reader<'_> = seq.reader();
    r.read_tag(tag::INTEGER, "version").map_err(|_| bad())?;
    r.read_tag(tag::OCTET_STRING, "privateKey").map_err(|_| bad())?;
    let params = r
        .read_optional(0xa0)
        .map_err(|_| bad())?
        .ok_or_else(|| Error::UnsupportedKey("SEC1 EC key without curve parameters".into()))?;
    let oid = params.reader().read().and_then(|t| t.oid()).map_err(|_| bad())?;
    Curve::from_oid(&oid).ok_or_else(|| Error::UnsupportedKey(format!("EC curve {oid} (only P-256 and P-384)")))
}
