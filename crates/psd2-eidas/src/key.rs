//! The one key abstraction: every consumer of a private key (HTTP signatures, CSRs, the test CA,
//! mTLS) signs through [`Signer`], whatever holds the key (a file, a PKCS#11 token).
//!
//! Wire format of signatures returned by [`Signer::sign`]:
//! - RSA (PKCS#1 v1.5 and PSS): the signature block, as long as the modulus;
//! - ECDSA: **raw `r‖s`**, each half left-padded to the field size (64 bytes for P-256, 96 for
//!   P-384) — what PKCS#11 tokens, JWS and RFC 9421 use. X.509 and TLS want DER: convert at the
//!   edge with [`ecdsa_raw_to_der`];
//! - Ed25519: the 64-byte signature.

use std::fmt;

use aws_lc_rs::signature::{self, ParsedPublicKey, UnparsedPublicKey, VerificationAlgorithm};

use crate::Error;
use crate::der::{self, Tlv, tag};

/// A signature algorithm: the primitive, the padding and the hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureScheme {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (`rsa-sha256`, RS256, sha256WithRSAEncryption).
    RsaPkcs1Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RsaPkcs1Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-512 (`rsa-sha512`, RS512).
    RsaPkcs1Sha512,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, salt 32 (PS256, TLS 1.3 `rsa_pss_rsae_sha256`).
    RsaPssSha256,
    /// RSASSA-PSS with SHA-384, MGF1-SHA-384, salt 48.
    RsaPssSha384,
    /// RSASSA-PSS with SHA-512, MGF1-SHA-512, salt 64 (RFC 9421 `rsa-pss-sha512`).
    RsaPssSha512,
    /// ECDSA on P-256 with SHA-256.
    EcdsaP256Sha256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384Sha384,
    /// Ed25519 (pure).
    Ed25519,
}

impl SignatureScheme {
    /// Every scheme, in a stable order.
    pub const ALL: [SignatureScheme; 9] = [
        Self::RsaPkcs1Sha256,
        Self::RsaPkcs1Sha384,
        Self::RsaPkcs1Sha512,
        Self::RsaPssSha256,
        Self::RsaPssSha384,
        Self::RsaPssSha512,
        Self::EcdsaP256Sha256,
        Self::EcdsaP384Sha384,
        Self::Ed25519,
    ];

    /// A short stable name (`rsa-pkcs1-sha256`, `rsa-pss-sha512`, `ecdsa-p256-sha256`, `ed25519`…).
    pub fn name(self) -> &'static str {
        match self {
            Self::RsaPkcs1Sha256 => "rsa-pkcs1-sha256",
            Self::RsaPkcs1Sha384 => "rsa-pkcs1-sha384",
            Self::RsaPkcs1Sha512 => "rsa-pkcs1-sha512",
            Self::RsaPssSha256 => "rsa-pss-sha256",
            Self::RsaPssSha384 => "rsa-pss-sha384",
            Self::RsaPssSha512 => "rsa-pss-sha512",
            Self::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            Self::EcdsaP384Sha384 => "ecdsa-p384-sha384",
            Self::Ed25519 => "ed25519",
        }
    }

    /// True when a key of this kind can produce this scheme.
    pub fn fits(self, kind: KeyKind) -> bool {
        matches!(
            (self, kind),
            (
                Self::RsaPkcs1Sha256
                    | Self::RsaPkcs1Sha384
                    | Self::RsaPkcs1Sha512
                    | Self::RsaPssSha256
                    | Self::RsaPssSha384
                    | Self::RsaPssSha512,
                KeyKind::Rsa { .. },
            ) | (Self::EcdsaP256Sha256, KeyKind::Ec(Curve::P256))
                | (Self::EcdsaP384Sha384, KeyKind::Ec(Curve::P384))
                | (Self::Ed25519, KeyKind::Ed25519)
        )
    }

    /// The aws-lc-rs verification algorithm for a signature in this crate's wire format;
    /// `legacy_rsa`: RSA moduli of 1024–2047 bits accepted for PKCS#1 v1.5.
    fn verification(self, kind: KeyKind, legacy_rsa: bool) -> &'static dyn VerificationAlgorithm {
        let small_rsa = legacy_rsa && matches!(kind, KeyKind::Rsa { bits } if bits < 2048);
        match self {
            Self::RsaPkcs1Sha256 if small_rsa => &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            Self::RsaPkcs1Sha512 if small_rsa => &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
            Self::RsaPkcs1Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::RsaPkcs1Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Self::RsaPkcs1Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Self::RsaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
            Self::RsaPssSha384 => &signature::RSA_PSS_2048_8192_SHA384,
            Self::RsaPssSha512 => &signature::RSA_PSS_2048_8192_SHA512,
            Self::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_FIXED,
            Self::EcdsaP384Sha384 => &signature::ECDSA_P384_SHA384_FIXED,
            Self::Ed25519 => &signature::ED25519,
        }
    }
}

/// Which public keys [`PublicKey::verify_with`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KeyPolicy {
    /// RSA from 2048 bits, P-256, P-384 and Ed25519: what a bank accepts today.
    #[default]
    Strict,
    /// Also RSA keys of 1024–2047 bits, for PKCS#1 v1.5 only. Dangerous: such keys are
    /// factorable in practice; this exists for old published test vectors (cavage-10 uses a
    /// 1024-bit key) and must never be used for real seals.
    DangerousLegacyRsa1024,
}

impl fmt::Display for SignatureScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An elliptic curve supported for ECDSA keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Curve {
    /// NIST P-256 (secp256r1, prime256v1).
    P256,
    /// NIST P-384 (secp384r1).
    P384,
}

impl Curve {
    /// The name used in reports: `P-256`, `P-384`.
    pub fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
        }
    }

    /// The curve's OID (dotted).
    pub fn oid(self) -> &'static str {
        match self {
            Self::P256 => OID_P256,
            Self::P384 => OID_P384,
        }
    }

    /// Byte length of one coordinate / of `r` and `s`.
    pub fn field_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
        }
    }

    pub(crate) fn from_oid(oid: &str) -> Option<Self> {
        match oid {
            OID_P256 => Some(Self::P256),
            OID_P384 => Some(Self::P384),
            _ => None,
        }
    }
}

pub(crate) const OID_RSA: &str = "1.2.840.113549.1.1.1";
pub(crate) const OID_RSA_PSS: &str = "1.2.840.113549.1.1.10";
pub(crate) const OID_EC: &str = "1.2.840.10045.2.1";
pub(crate) const OID_ED25519: &str = "1.3.101.112";
pub(crate) const OID_P256: &str = "1.2.840.10045.3.1.7";
pub(crate) const OID_P384: &str = "1.3.132.0.34";

/// What kind of key a public key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// RSA with the modulus size in bits.
    Rsa {
        /// Modulus length in bits.
        bits: usize,
    },
    /// ECDSA on a named curve.
    Ec(Curve),
    /// Ed25519.
    Ed25519,
}

impl KeyKind {
    /// `rsa`, `ec` or `ed25519` (the `key.type` of `inspect --json`).
    pub fn type_name(self) -> &'static str {
        match self {
            Self::Rsa { .. } => "rsa",
            Self::Ec(_) => "ec",
            Self::Ed25519 => "ed25519",
        }
    }

    /// Key size in bits (modulus for RSA, field size for EC, 256 for Ed25519).
    pub fn bits(self) -> usize {
        match self {
            Self::Rsa { bits } => bits,
            Self::Ec(c) => c.field_len() * 8,
            Self::Ed25519 => 256,
        }
    }

    /// The scheme this key uses when a profile just says "sign": PKCS#1 v1.5 SHA-256 for RSA,
    /// the curve's ECDSA, Ed25519.
    pub fn default_scheme(self) -> SignatureScheme {
        match self {
            Self::Rsa { .. } => SignatureScheme::RsaPkcs1Sha256,
            Self::Ec(Curve::P256) => SignatureScheme::EcdsaP256Sha256,
            Self::Ec(Curve::P384) => SignatureScheme::EcdsaP384Sha384,
            Self::Ed25519 => SignatureScheme::Ed25519,
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rsa { bits } => write!(f, "RSA-{bits}"),
            Self::Ec(c) => write!(f, "EC {}", c.name()),
            Self::Ed25519 => f.write_str("Ed25519"),
        }
    }
}

/// A public key: its SubjectPublicKeyInfo and what it is.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    spki: Vec<u8>,
    raw_start: usize,
    kind: KeyKind,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.kind)
    }
}

impl PublicKey {
    /// Parses a DER SubjectPublicKeyInfo (RSA, RSA-PSS, EC P-256/P-384, Ed25519).
    pub fn from_spki(spki: &[u8]) -> Result<Self, Error> {
        let bad = |why: &str| Error::UnsupportedKey(format!("public key: {why}"));
        let outer = Tlv::parse_exact(spki, "SubjectPublicKeyInfo")
            .and_then(|t| t.expect(tag::SEQUENCE, "SubjectPublicKeyInfo"))
            .map_err(|e| bad(&e.to_string()))?;
        let mut r = outer.reader();
        let alg = r.read_tag(tag::SEQUENCE, "AlgorithmIdentifier").map_err(|e| bad(&e.to_string()))?;
        let bits = r.read_tag(tag::BIT_STRING, "BIT STRING").map_err(|e| bad(&e.to_string()))?;
        let mut ar = alg.reader();
        let oid = ar.read().and_then(|t| t.oid()).map_err(|e| bad(&e.to_string()))?;
        let raw =
            bits.value.get(1..).filter(|_| bits.value.first() == Some(&0)).ok_or_else(|| bad("bad BIT STRING"))?;
        let kind = match oid.as_str() {
            OID_RSA | OID_RSA_PSS => {
                KeyKind::Rsa { bits: rsa_modulus_bits(raw).ok_or_else(|| bad("bad RSAPublicKey"))? }
            }
            OID_EC => {
                let curve_oid = ar.read().and_then(|t| t.oid()).map_err(|_| bad("EC key without a named curve"))?;
                let curve = Curve::from_oid(&curve_oid)
                    .ok_or_else(|| Error::UnsupportedKey(format!("EC curve {curve_oid} (only P-256 and P-384)")))?;
                if raw.len() != 1 + 2 * curve.field_len() || raw[0] != 4 {
                    return Err(bad("EC point is not an uncompressed point of the curve"));
                }
                KeyKind::Ec(curve)
            }
            OID_ED25519 => {
                if raw.len() != 32 {
                    return Err(bad("Ed25519 key is not 32 bytes"));
                }
                KeyKind::Ed25519
            }
            other => return Err(Error::UnsupportedKey(format!("public key algorithm {other}"))),
        };
        let raw_start = spki.len() - raw.len();
        Ok(Self { spki: spki.to_vec(), raw_start, kind })
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The content of the SPKI BIT STRING: a DER `RSAPublicKey`, an uncompressed EC point
    /// (`04‖X‖Y`) or the 32 Ed25519 bytes (what rcgen's `PublicKeyData::der_bytes` wants).
    pub fn raw(&self) -> &[u8] {
        &self.spki[self.raw_start..]
    }

    /// What kind of key this is.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The schemes this key can verify.
    pub fn schemes(&self) -> Vec<SignatureScheme> {
        SignatureScheme::ALL.into_iter().filter(|s| s.fits(self.kind)).collect()
    }

    /// Verifies `signature` (in the wire format of [`Signer`]) over `message`, with the
    /// [`KeyPolicy::Strict`] policy: an RSA key below 2048 bits is [`Error::WeakKey`].
    pub fn verify(&self, scheme: SignatureScheme, message: &[u8], signature: &[u8]) -> Result<(), Error> {
        self.verify_with(KeyPolicy::Strict, scheme, message, signature)
    }

    /// [`verify`](Self::verify) under an explicit [`KeyPolicy`].
    ///
    /// ```
    /// use psd2_eidas::{FileKey, KeyPolicy, Signer, SignatureScheme};
    /// let key = FileKey::generate_p256()?;
    /// let sig = key.sign(SignatureScheme::EcdsaP256Sha256, b"hi")?;
    /// key.public_key().verify_with(KeyPolicy::Strict, SignatureScheme::EcdsaP256Sha256, b"hi", &sig)?;
    /// # Ok::<(), psd2_eidas::Error>(())
    /// ```
    pub fn verify_with(
        &self,
        policy: KeyPolicy,
        scheme: SignatureScheme,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), Error> {
        if !scheme.fits(self.kind) {
            return Err(Error::SchemeMismatch { scheme, key: self.kind });
        }
        let legacy = policy == KeyPolicy::DangerousLegacyRsa1024;
        if let KeyKind::Rsa { bits } = self.kind
            && bits < 2048
            && !(legacy
                && bits >= 1024
                && matches!(scheme, SignatureScheme::RsaPkcs1Sha256 | SignatureScheme::RsaPkcs1Sha512))
        {
            return Err(Error::WeakKey { key: self.kind, minimum: "RSA 2048 bits" });
        }
        UnparsedPublicKey::new(scheme.verification(self.kind, legacy), self.raw())
            .verify(message, signature)
            .map_err(|_| Error::BadSignature)
    }

    /// The key parsed once for `scheme` under [`KeyPolicy::Strict`], for a verifier that checks
    /// many signatures with it: [`verify_with`](Self::verify_with) parses the key (for RSA, the
    /// modulus and its Montgomery form) on every call, a [`PreparedPublicKey`] does not.
    /// Refused as `verify_with` refuses: [`Error::SchemeMismatch`], [`Error::WeakKey`], or
    /// [`Error::UnsupportedKey`] when aws-lc-rs rejects the key.
    ///
    /// ```
    /// use psd2_eidas::{FileKey, Signer, SignatureScheme};
    /// let key = FileKey::generate_p256()?;
    /// let prepared = key.public_key().prepare(SignatureScheme::EcdsaP256Sha256)?;
    /// for msg in [&b"one"[..], b"two"] {
    ///     prepared.verify(msg, &key.sign(SignatureScheme::EcdsaP256Sha256, msg)?)?;
    /// }
    /// assert!(prepared.verify(b"three", &key.sign(SignatureScheme::EcdsaP256Sha256, b"two")?).is_err());
    /// # Ok::<(), psd2_eidas::Error>(())
    /// ```
    pub fn prepare(&self, scheme: SignatureScheme) -> Result<PreparedPublicKey, Error> {
        if !scheme.fits(self.kind) {
            return Err(Error::SchemeMismatch { scheme, key: self.kind });
        }
        if let KeyKind::Rsa { bits } = self.kind
            && bits < 2048
        {
            return Err(Error::WeakKey { key: self.kind, minimum: "RSA 2048 bits" });
        }
        let key = ParsedPublicKey::new(scheme.verification(self.kind, false), self.raw())
            .map_err(|e| Error::UnsupportedKey(format!("public key: refused for {scheme}: {e}")))?;
        Ok(PreparedPublicKey { scheme, kind: self.kind, key })
    }
}

/// A [`PublicKey`] parsed for one [`SignatureScheme`] ([`PublicKey::prepare`]): verifies with
/// no per-call key parsing. `Send + Sync`; share it behind an `Arc`.
pub struct PreparedPublicKey {
    scheme: SignatureScheme,
    kind: KeyKind,
    key: ParsedPublicKey,
}

impl fmt::Debug for PreparedPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PreparedPublicKey({}, {})", self.kind, self.scheme)
    }
}

impl PreparedPublicKey {
    /// The scheme it verifies.
    pub fn scheme(&self) -> SignatureScheme {
        self.scheme
    }

    /// Verifies `signature` (in the wire format of [`Signer`]) over `message`; a mismatch is
    /// [`Error::BadSignature`], as with [`PublicKey::verify`].
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), Error> {
        self.key.verify_sig(message, signature).map_err(|_| Error::BadSignature)
    }
}

/// Bit length of the modulus of a DER `RSAPublicKey`.
fn rsa_modulus_bits(der: &[u8]) -> Option<usize> {
    let seq = Tlv::parse_exact(der, "RSAPublicKey").ok()?.expect(tag::SEQUENCE, "RSAPublicKey").ok()?;
    let n = seq.reader().read_tag(tag::INTEGER, "modulus").ok()?.value;
    let n = &n[n.iter().take_while(|b| **b == 0).count()..];
    let first = *n.first()?;
    Some(n.len() * 8 - first.leading_zeros() as usize)
}

/// A private key that can sign: a file key, a PKCS#11 token key, or anything a user plugs in.
///
/// Implementations must be cheap to share (`Send + Sync`, used behind an `Arc`) and must return
/// signatures in one wire format, whatever the backend:
/// - RSA (PKCS#1 v1.5 and PSS): the signature block, as long as the modulus;
/// - ECDSA: **raw `r‖s`**, each half left-padded to the field size (64 bytes for P-256, 96 for
///   P-384), as PKCS#11 tokens, JWS and RFC 9421 use it; X.509 and TLS want DER, converted at the
///   edge with [`ecdsa_raw_to_der`];
/// - Ed25519: the 64-byte signature.
///
/// ```
/// use psd2_eidas::{FileKey, Signer, SignatureScheme};
/// let key = FileKey::generate_p256()?;
/// let sig = key.sign(SignatureScheme::EcdsaP256Sha256, b"hello")?;
/// key.public_key().verify(SignatureScheme::EcdsaP256Sha256, b"hello", &sig)?;
/// # Ok::<(), psd2_eidas::Error>(())
/// ```
pub trait Signer: fmt::Debug + Send + Sync {
    /// The public half of the key.
    fn public_key(&self) -> &PublicKey;

    /// Signs `message` (the whole message: the signer hashes it, on the host or in the token).
    fn sign(&self, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, Error>;

    /// The schemes this key can produce. Defaults to every scheme that fits the key type;
    /// backends narrow it to what the token's mechanisms allow.
    fn schemes(&self) -> Vec<SignatureScheme> {
        self.public_key().schemes()
    }

    /// A short description for messages (`file qseal.key`, `pkcs11 token psd2-test object qseal`).
    /// Never contains a secret.
    fn describe(&self) -> String;
}

/// Converts a raw fixed-width ECDSA signature `r‖s` to a DER `Ecdsa-Sig-Value` (X.509, TLS).
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Result<Vec<u8>, Error> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return Err(Error::Signing("ECDSA signature of odd length".into()));
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    Ok(der::sequence(&[der::unsigned_integer(r), der::unsigned_integer(s)]))
}

/// Converts a DER `Ecdsa-Sig-Value` to raw `r‖s`, each left-padded to `field_len` bytes.
pub fn ecdsa_der_to_raw(der_sig: &[u8], field_len: usize) -> Result<Vec<u8>, Error> {
    let bad = || Error::Signing("malformed DER ECDSA signature".into());
    let seq = Tlv::parse_exact(der_sig, "Ecdsa-Sig-Value")
        .and_then(|t| t.expect(tag::SEQUENCE, "SEQUENCE"))
        .map_err(|_| bad())?;
    let mut r = seq.reader();
    let mut out = vec![0u8; 2 * field_len];
    for half in 0..2 {
        let int = r.read_tag(tag::INTEGER, "INTEGER").map_err(|_| bad())?.value;
        let int = &int[int.iter().take_while(|b| **b == 0).count()..];
        if int.len() > field_len {
            return Err(bad());
        }
        let end = (half + 1) * field_len;
        out[end - int.len()..end].copy_from_slice(int);
    }
    if !r.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_conversions_round_trip() {
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80; // r needs a sign byte
        raw[33] = 0x01; // s has leading zeros
        raw[63] = 0xff;
        let der = ecdsa_raw_to_der(&raw).unwrap();
        assert_eq!(&der[..5], &[0x30, der.len() as u8 - 2, 0x02, 0x21, 0x00]);
        assert_eq!(ecdsa_der_to_raw(&der, 32).unwrap(), raw);
        assert!(ecdsa_der_to_raw(&der, 16).is_err());
        assert!(ecdsa_der_to_raw(&[0x30, 0x00, 0x00], 32).is_err());
    }
}
