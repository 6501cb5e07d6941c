//! A private key on a PKCS#11 token, signing through the shared [`Signer`] trait.

use std::sync::Arc;

use aws_lc_rs::digest;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

use super::token::{Token, ck};
use super::uri::{ObjectType, Pkcs11Uri, hex};
use crate::der::{self, Tlv, tag};
use crate::key::{Curve, OID_EC, OID_RSA};
use crate::{Certificate, Error, Pkcs11Code, PublicKey, SignatureScheme, Signer};

/// A private key that stays in a PKCS#11 token.
///
/// Signing hashes on the host when the token lacks the combined mechanism (SoftHSM has no
/// `CKM_ECDSA_SHA256`, some HSMs only `CKM_RSA_PKCS`), and returns the crate's wire format
/// (ECDSA raw `r‖s`). Sessions come from the token's pool, so one key signs from many threads.
pub struct Pkcs11Key {
    token: Arc<Token>,
    /// Handles of private objects become invalid when the token logs the application out (all
    /// sessions closed); the key is then looked up again with `find`.
    handle: std::sync::RwLock<ObjectHandle>,
    find: Vec<Attribute>,
    public: PublicKey,
    label: String,
}

impl std::fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pkcs11Key({})", self.describe())
    }
}

/// Template selecting objects of `class` named by the URI's `object=`/`id=`.
pub(crate) fn template(uri: &Pkcs11Uri, class: ObjectClass) -> Vec<Attribute> {
    let mut t = vec![Attribute::Class(class)];
    if let Some(o) = &uri.object {
        t.push(Attribute::Label(o.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        t.push(Attribute::Id(id.clone()));
    }
    t
}

/// The one private key the URI's `object=`/`id=` select.
fn find_private_key(token: &Token, uri: &Pkcs11Uri) -> Result<ObjectHandle, Error> {
    if uri.object.is_none() && uri.id.is_none() {
        return Err(Error::Pkcs11Uri("name the key with 'object=<label>' or 'id=<hex>'".into()));
    }
    let find = template(uri, ObjectClass::PRIVATE_KEY);
    let found = token.with_session(|s| s.find_objects(&find))?;
    match found.as_slice() {
        [h] => Ok(*h),
        [] => Err(Error::KeyNotFound {
            wanted: format!("private key with {}", uri.describe_object()),
            token: token.label().to_owned(),
        }),
        _ => Err(Error::Pkcs11Uri(format!(
            "{} matches {} private keys; add 'id=' to choose one",
            uri.describe(),
            found.len()
        ))),
    }
}

impl Pkcs11Key {
    /// Finds the private key the URI names on `token`, and its public key (from the private key
    /// object for RSA, else from the public key object or certificate with the same id/label).
    /// A `type` other than `private` is refused.
    pub(crate) fn open(token: Arc<Token>, uri: &Pkcs11Uri) -> Result<Self, Error> {
        uri.require_type(ObjectType::Private, "a key reference")?;
        let handle = find_private_key(&token, uri)?;
        let public = token.with_session(|s| Ok(public_key(s, handle, uri)))??;
        Ok(Self::new(token, uri, handle, public))
    }

    /// The private key the URI names, for storing `cert` next to it: refused with
    /// [`Error::KeyMismatch`] unless the certificate's public key is the key's. When the token
    /// holds no public key for it (an EC key without public key object), a test signature made
    /// by the token must verify with the certificate's key instead.
    pub(crate) fn open_for_certificate(token: Arc<Token>, uri: &Pkcs11Uri, cert: &Certificate) -> Result<Self, Error> {
        let handle = find_private_key(&token, uri)?;
        let mismatch = |key: &Self| Error::KeyMismatch { key: key.describe(), cert: cert.subject().to_display() };
        match token.with_session(|s| Ok(public_key(s, handle, uri)))? {
            Ok(public) => {
                let key = Self::new(token, uri, handle, public);
                if key.public != *cert.public_key() {
                    return Err(mismatch(&key));
                }
                Ok(key)
            }
            // An EC private key object carries no point: without a public key object (or a
            // certificate) the token's signature has to tell.
            Err(Error::UnsupportedKey(reason)) => {
                let ec = token.with_session(|s| {
                    let attrs = s.get_attributes(handle, &[AttributeType::KeyType])?;
                    Ok(attrs.iter().any(|a| matches!(a, Attribute::KeyType(k) if *k == KeyType::EC)))
                })?;
                if !ec {
                    return Err(Error::UnsupportedKey(reason));
                }
                let key = Self::new(token, uri, handle, cert.public_key().clone());
                if !matches!(cert.public_key().kind(), crate::KeyKind::Ec(_)) {
                    return Err(mismatch(&key));
                }
                let challenge = b"psd2-sign: does this certificate belong to this key?";
                let scheme = *key.schemes().first().ok_or_else(|| mismatch(&key))?;
                // A key on another curve gives a signature of the wrong size.
                let proven = match key.sign(scheme, challenge) {
                    Ok(sig) => key.public.verify(scheme, challenge, &sig).is_ok(),
                    Err(Error::Signing(_)) => false,
                    Err(e) => return Err(e),
                };
                if !proven {
                    return Err(mismatch(&key));
                }
                Ok(key)
            }
            Err(e) => Err(e),
        }
    }

    fn new(token: Arc<Token>, uri: &Pkcs11Uri, handle: ObjectHandle, public: PublicKey) -> Self {
        let label = format!("pkcs11 {}", uri.describe());
        let find = template(uri, ObjectClass::PRIVATE_KEY);
        Self { token, handle: std::sync::RwLock::new(handle), find, public, label }
    }

    /// The key's CKA_LABEL and CKA_ID (empty when the token has none).
    pub(crate) fn label_and_id(&self) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let handle = *self.handle.read().map_err(|_| poisoned())?;
        self.token.with_session(|s| {
            let (mut label, mut id) = (Vec::new(), Vec::new());
            for a in s.get_attributes(handle, &[AttributeType::Label, AttributeType::Id])? {
                match a {
                    Attribute::Label(l) => label = l,
                    Attribute::Id(i) => id = i,
                    _ => {}
                }
            }
            Ok((label, id))
        })
    }

    /// The token the key lives on.
    pub fn token(&self) -> &Token {
        &self.token
    }

    fn run(&self, mechanism: &Mechanism, data: &[u8]) -> Result<Vec<u8>, Error> {
        let handle = *self.handle.read().map_err(|_| poisoned())?;
        match self.token.with_session(|s| s.sign(mechanism, handle, data)) {
            Err(Error::Pkcs11 { code: Pkcs11Code::ObjectHandleInvalid, .. }) => {
                let found = self.token.with_session(|s| s.find_objects(&self.find))?;
                let handle = *found.first().ok_or_else(|| Error::KeyNotFound {
                    wanted: self.label.clone(),
                    token: self.token.label().to_owned(),
                })?;
                *self.handle.write().map_err(|_| poisoned())? = handle;
                self.token.with_session(|s| s.sign(mechanism, handle, data))
            }
            other => other,
        }
    }
}

fn poisoned() -> Error {
    Error::Pkcs11 { function: "key handle".into(), code: Pkcs11Code::Library("lock poisoned".into()) }
}

fn pss(hash: MechanismType, mgf: PkcsMgfType, salt: u64) -> PkcsPssParams {
    PkcsPssParams { hash_alg: hash, mgf, s_len: salt.into() }
}

/// DigestInfo prefixes (RFC 8017 §9.2 note 1) for raw `CKM_RSA_PKCS`.
fn digest_info(scheme: SignatureScheme) -> Option<(&'static digest::Algorithm, &'static [u8])> {
    Some(match scheme {
        SignatureScheme::RsaPkcs1Sha256 => (
            &digest::SHA256,
            &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
                0x04, 0x20,
            ],
        ),
        SignatureScheme::RsaPkcs1Sha384 => (
            &digest::SHA384,
            &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00,
                0x04, 0x30,
            ],
        ),
        SignatureScheme::RsaPkcs1Sha512 => (
            &digest::SHA512,
            &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00,
                0x04, 0x40,
            ],
        ),
        _ => return None,
    })
}

impl Signer for Pkcs11Key {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, Error> {
        let kind = self.public.kind();
        if !scheme.fits(kind) {
            return Err(Error::SchemeMismatch { scheme, key: kind });
        }
        let t = &self.token;
        let unsupported = || Error::MechanismUnsupported { scheme, token: t.label().to_owned() };
        use SignatureScheme as S;
        match scheme {
            S::RsaPkcs1Sha256 | S::RsaPkcs1Sha384 | S::RsaPkcs1Sha512 => {
                let combined = match scheme {
                    S::RsaPkcs1Sha256 => Mechanism::Sha256RsaPkcs,
                    S::RsaPkcs1Sha384 => Mechanism::Sha384RsaPkcs,
                    _ => Mechanism::Sha512RsaPkcs,
                };
                if t.supports(combined.mechanism_type()) {
                    return self.run(&combined, message);
                }
                if !t.supports(MechanismType::RSA_PKCS) {
                    return Err(unsupported());
                }
                let (alg, prefix) = digest_info(scheme).ok_or_else(unsupported)?;
                let input = [prefix, digest::digest(alg, message).as_ref()].concat();
                self.run(&Mechanism::RsaPkcs, &input)
            }
            S::RsaPssSha256 | S::RsaPssSha384 | S::RsaPssSha512 => {
                let (hash, mgf, salt, alg) = match scheme {
                    S::RsaPssSha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, 32, &digest::SHA256),
                    S::RsaPssSha384 => (MechanismType::SHA384, PkcsMgfType::MGF1_SHA384, 48, &digest::SHA384),
                    _ => (MechanismType::SHA512, PkcsMgfType::MGF1_SHA512, 64, &digest::SHA512),
                };
                let params = pss(hash, mgf, salt);
                let combined = match scheme {
                    S::RsaPssSha256 => Mechanism::Sha256RsaPkcsPss(params),
                    S::RsaPssSha384 => Mechanism::Sha384RsaPkcsPss(params),
                    _ => Mechanism::Sha512RsaPkcsPss(params),
                };
                if t.supports(combined.mechanism_type()) {
                    return self.run(&combined, message);
                }
                if !t.supports(MechanismType::RSA_PKCS_PSS) {
                    return Err(unsupported());
                }
                self.run(&Mechanism::RsaPkcsPss(params), digest::digest(alg, message).as_ref())
            }
            S::EcdsaP256Sha256 | S::EcdsaP384Sha384 => {
                let (alg, combined, width) = match scheme {
                    S::EcdsaP256Sha256 => (&digest::SHA256, Mechanism::EcdsaSha256, 32),
                    _ => (&digest::SHA384, Mechanism::EcdsaSha384, 48),
                };
                let raw = if t.supports(combined.mechanism_type()) {
                    self.run(&combined, message)?
                } else if t.supports(MechanismType::ECDSA) {
                    self.run(&Mechanism::Ecdsa, digest::digest(alg, message).as_ref())?
                } else {
                    return Err(unsupported());
                };
                if raw.len() != 2 * width {
                    return Err(Error::Signing(format!(
                        "token returned a {}-byte ECDSA signature, expected {}",
                        raw.len(),
                        2 * width
                    )));
                }
                Ok(raw)
            }
            _ => Err(unsupported()),
        }
    }

    fn schemes(&self) -> Vec<SignatureScheme> {
        let t = &self.token;
        let rsa_pkcs = t.supports(MechanismType::RSA_PKCS);
        let rsa_pss = t.supports(MechanismType::RSA_PKCS_PSS);
        let ecdsa = t.supports(MechanismType::ECDSA);
        self.public
            .schemes()
            .into_iter()
            .filter(|s| match s {
                SignatureScheme::RsaPkcs1Sha256 => rsa_pkcs || t.supports(MechanismType::SHA256_RSA_PKCS),
                SignatureScheme::RsaPkcs1Sha384 => rsa_pkcs || t.supports(MechanismType::SHA384_RSA_PKCS),
                SignatureScheme::RsaPkcs1Sha512 => rsa_pkcs || t.supports(MechanismType::SHA512_RSA_PKCS),
                SignatureScheme::RsaPssSha256 => rsa_pss || t.supports(MechanismType::SHA256_RSA_PKCS_PSS),
                SignatureScheme::RsaPssSha384 => rsa_pss || t.supports(MechanismType::SHA384_RSA_PKCS_PSS),
                SignatureScheme::RsaPssSha512 => rsa_pss || t.supports(MechanismType::SHA512_RSA_PKCS_PSS),
                SignatureScheme::EcdsaP256Sha256 => ecdsa || t.supports(MechanismType::ECDSA_SHA256),
                SignatureScheme::EcdsaP384Sha384 => ecdsa || t.supports(MechanismType::ECDSA_SHA384),
                _ => false,
            })
            .collect()
    }

    fn describe(&self) -> String {
        self.label.clone()
    }
}

/// Builds the SPKI of the key `handle`: RSA from its modulus/exponent; EC from the public key
/// object or certificate sharing its id/label (private EC key objects carry no point).
fn public_key(s: &Session, handle: ObjectHandle, uri: &Pkcs11Uri) -> Result<PublicKey, Error> {
    let attrs =
        s.get_attributes(handle, &[AttributeType::KeyType, AttributeType::Id, AttributeType::Label]).map_err(ck)?;
    let mut key_type = None;
    let mut id = None;
    let mut label = None;
    for a in attrs {
        match a {
            Attribute::KeyType(k) => key_type = Some(k),
            Attribute::Id(i) => id = Some(i),
            Attribute::Label(l) => label = Some(l),
            _ => {}
        }
    }
    let same = |class| {
        let mut t = vec![Attribute::Class(class)];
        if let Some(i) = &id {
            t.push(Attribute::Id(i.clone()));
        } else if let Some(l) = &label {
            t.push(Attribute::Label(l.clone()));
        }
        t
    };
    if key_type == Some(KeyType::RSA) {
        let attrs = s.get_attributes(handle, &[AttributeType::Modulus, AttributeType::PublicExponent]).map_err(ck)?;
        let (mut n, mut e) = (None, None);
        for a in attrs {
            match a {
                Attribute::Modulus(m) => n = Some(m),
                Attribute::PublicExponent(x) => e = Some(x),
                _ => {}
            }
        }
        if let (Some(n), Some(e)) = (n, e) {
            let rsa = der::sequence(&[der::unsigned_integer(&n), der::unsigned_integer(&e)]);
            return PublicKey::from_spki(&spki(&[der::oid(OID_RSA), der::write(tag::NULL, &[])], &rsa));
        }
    }
    if key_type == Some(KeyType::EC) || key_type == Some(KeyType::RSA) {
        // The public key object.
        if let Some(&pub_handle) = s.find_objects(&same(ObjectClass::PUBLIC_KEY)).map_err(ck)?.first() {
            let attrs = s
                .get_attributes(
                    pub_handle,
                    &[
                        AttributeType::EcParams,
                        AttributeType::EcPoint,
                        AttributeType::Modulus,
                        AttributeType::PublicExponent,
                    ],
                )
                .map_err(ck)?;
            let (mut params, mut point) = (None, None);
            for a in attrs {
                match a {
                    Attribute::EcParams(p) => params = Some(p),
                    Attribute::EcPoint(p) => point = Some(p),
                    _ => {}
                }
            }
            if let (Some(params), Some(point)) = (params, point) {
                let curve = Tlv::parse_exact(&params, "EC params")
                    .and_then(|t| t.oid())
                    .map_err(|_| Error::UnsupportedKey("EC parameters are not a named curve".into()))?;
                Curve::from_oid(&curve)
                    .ok_or_else(|| Error::UnsupportedKey(format!("EC curve {curve} (only P-256 and P-384)")))?;
                // CKA_EC_POINT is DER-wrapped in an OCTET STRING by most tokens; some give it raw.
                let raw = match Tlv::parse_exact(&point, "EC point") {
                    Ok(t) if t.tag == tag::OCTET_STRING => t.value.to_vec(),
                    _ => point,
                };
                return PublicKey::from_spki(&spki(&[der::oid(OID_EC), params], &raw));
            }
        }
        // A certificate with the same id/label.
        if let Some(&cert) = s.find_objects(&same(ObjectClass::CERTIFICATE)).map_err(ck)?.first()
            && let Some(Attribute::Value(v)) =
                s.get_attributes(cert, &[AttributeType::Value]).map_err(ck)?.into_iter().next()
        {
            return Ok(Certificate::from_der(&v)?.public_key().clone());
        }
    }
    Err(Error::UnsupportedKey(format!(
        "cannot read the public key of {} (key type {:?}; no public key object or certificate with id {})",
        uri.describe(),
        key_type,
        id.as_deref().map(hex).unwrap_or_default()
    )))
}

fn spki(alg: &[Vec<u8>], key: &[u8]) -> Vec<u8> {
    let mut bits = vec![0u8];
    bits.extend_from_slice(key);
    der::sequence(&[der::sequence(alg), der::write(tag::BIT_STRING, &bits)])
}
