//! PKCS#11 tokens (HSMs, smart cards, SoftHSM) behind the same [`Signer`](crate::Signer) trait
//! as file keys. Feature `pkcs11`.
//!
//! Keys and certificates are named by RFC 7512 URIs:
//! `pkcs11:token=psd2-test;object=qseal;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so`.
//! The module comes from `module-path` or [`Secrets::pkcs11_module`](crate::Secrets); the PIN
//! from `pin-source=file:…`, [`Secrets::pin`](crate::Secrets), or the
//! [`SecretPrompt`](crate::SecretPrompt), asked only when a login needs it — never needed on a
//! command line. ([`Secrets::from_env`](crate::Secrets::from_env) fills them from the
//! environment when the caller wants that.) Each module is loaded and initialised once per
//! process; keys on one token share a pool of logged-in sessions, so many threads sign at once.
//!
//! ```no_run
//! use psd2_eidas::{pkcs11, Secrets, SignatureScheme, Signer};
//! let secrets = Secrets::from_env(); // PSD2_SIGN_PKCS11_PIN, if the caller wants the environment
//! let key = pkcs11::open_key("pkcs11:token=psd2-test;object=qseal?module-path=/usr/lib/softhsm/libsofthsm2.so", &secrets)?;
//! let sig = key.sign(SignatureScheme::RsaPkcs1Sha256, b"request")?;
//! # Ok::<(), psd2_eidas::Error>(())
//! ```

mod key;
mod token;
mod uri;

use std::path::Path;

use cryptoki::object::{Attribute, AttributeType, CertificateType, KeyType, ObjectClass};
use serde::Serialize;

pub use key::Pkcs11Key;
pub use token::Token;
pub use uri::{ObjectType, Pkcs11Uri};

use crate::{Certificate, Error, Secret, Secrets};
use token::ck;

/// The PIN for `uri`: `pin-source`, then [`Secrets::pin`], then the prompt (only when
/// `need_pin`: a login is about to happen). A URI never carries the PIN itself: `pin-value` is
/// refused when it is parsed.
fn pin(uri: &Pkcs11Uri, secrets: &Secrets, need_pin: bool) -> Result<Option<Secret>, Error> {
    if let Some(src) = &uri.pin_source {
        let path = src.strip_prefix("file:").unwrap_or(src);
        return Secret::from_file(Path::new(path)).map(Some);
    }
    Ok(secrets.pin_for(&uri.describe_token(), need_pin))
}

fn token(uri: &Pkcs11Uri, secrets: &Secrets, need_pin: bool) -> Result<std::sync::Arc<Token>, Error> {
    let pin = pin(uri, secrets, need_pin)?;
    if need_pin && pin.is_none() {
        return Err(Error::PinRequired { token: uri.describe() });
    }
    Token::open(uri, pin, secrets.pkcs11_module.as_deref())
}

/// Opens the private key a PKCS#11 URI names (logging in with the PIN).
pub fn open_key(uri: &str, secrets: &Secrets) -> Result<Pkcs11Key, Error> {
    let u = Pkcs11Uri::parse(uri)?;
    let key = Pkcs11Key::open(token(&u, secrets, true)?, &u)?;
    let (described, kind) = (crate::Signer::describe(&key), crate::Signer::public_key(&key).kind());
    tracing::info!(key = described, %kind, "PKCS#11 key opened");
    Ok(key)
}

/// Reads the certificates the URI names (same `object=`/`id=` as the key). A `type` other
/// than `cert` is refused.
pub fn find_certificates(uri: &str, secrets: &Secrets) -> Result<Vec<Certificate>, Error> {
    let u = Pkcs11Uri::parse(uri)?;
    u.require_type(ObjectType::Cert, "a certificate reference")?;
    certificates(&u, secrets)
}

/// The certificates stored next to the key `uri` names (under its label/id, whatever its
/// `type=`).
pub(crate) fn certificates_of_key(uri: &str, secrets: &Secrets) -> Result<Vec<Certificate>, Error> {
    certificates(&Pkcs11Uri::parse(uri)?, secrets)
}

fn certificates(u: &Pkcs11Uri, secrets: &Secrets) -> Result<Vec<Certificate>, Error> {
    let t = token(u, secrets, false)?;
    let values = t.with_session(|s| {
        let handles = s.find_objects(&key::template(u, ObjectClass::CERTIFICATE))?;
        let mut out = Vec::new();
        for h in handles {
            if let Some(Attribute::Value(v)) = s.get_attributes(h, &[AttributeType::Value])?.into_iter().next() {
                out.push(v);
            }
        }
        Ok(out)
    })?;
    if values.is_empty() {
        let object = u.describe_object();
        let wanted = if object.is_empty() { "certificate".into() } else { format!("certificate with {object}") };
        return Err(Error::KeyNotFound { wanted, token: t.label().to_owned() });
    }
    let wanted = u.describe();
    tracing::info!(token = t.label(), wanted, certificates = values.len(), "PKCS#11 certificates read");
    values.iter().map(|v| Certificate::from_der(v)).collect()
}

/// A token as `hsm list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TokenSummary {
    /// CKA label.
    pub label: String,
    /// Manufacturer id.
    pub manufacturer: String,
    /// Model.
    pub model: String,
    /// Serial number.
    pub serial: String,
    /// The token wants a login for private objects.
    pub login_required: bool,
}

/// Lists the tokens of the PKCS#11 module at `module`.
pub fn list_tokens(module: &Path) -> Result<Vec<TokenSummary>, Error> {
    let ctx = token::module(module)?;
    let mut out = Vec::new();
    for slot in ctx.get_slots_with_initialized_token().map_err(ck)? {
        let i = ctx.get_token_info(slot).map_err(ck)?;
        out.push(TokenSummary {
            label: i.label().to_owned(),
            manufacturer: i.manufacturer_id().to_owned(),
            model: i.model().to_owned(),
            serial: i.serial_number().to_owned(),
            login_required: i.login_required(),
        });
    }
    Ok(out)
}

/// An object as `hsm list --token` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectSummary {
    /// `private`, `public` or `cert` (serialised as the URI spells it).
    #[serde(rename = "type", serialize_with = "as_uri_value")]
    pub class: ObjectType,
    /// CKA_LABEL.
    pub label: String,
    /// CKA_ID, hex.
    pub id: String,
    /// `rsa`/`ec` and size, or the certificate subject.
    pub detail: String,
    /// A URI naming this object (without module or PIN).
    pub uri: String,
}

/// Lists keys and certificates on the token the URI names (private keys only when a PIN is
/// available).
pub fn list_objects(uri: &str, secrets: &Secrets) -> Result<Vec<ObjectSummary>, Error> {
    let u = Pkcs11Uri::parse(uri)?;
    let t = token(&u, secrets, false)?;
    let token_label = t.label().to_owned();
    t.with_session(|s| {
        let mut out = Vec::new();
        for (class, name) in [
            (ObjectClass::PRIVATE_KEY, ObjectType::Private),
            (ObjectClass::PUBLIC_KEY, ObjectType::Public),
            (ObjectClass::CERTIFICATE, ObjectType::Cert),
        ] {
            for h in s.find_objects(&[Attribute::Class(class)])? {
                let attrs = s.get_attribute_info_map(h, &[AttributeType::Label, AttributeType::Id])?;
                let wanted: Vec<AttributeType> = attrs
                    .into_iter()
                    .filter(|(_, i)| matches!(i, cryptoki::object::AttributeInfo::Available(_)))
                    .map(|(t, _)| t)
                    .collect();
                let mut label = String::new();
                let mut id = Vec::new();
                for a in s.get_attributes(h, &wanted)? {
                    match a {
                        Attribute::Label(l) => label = String::from_utf8_lossy(&l).into_owned(),
                        Attribute::Id(i) => id = i,
                        _ => {}
                    }
                }
                let detail = if class == ObjectClass::CERTIFICATE {
                    match s.get_attributes(h, &[AttributeType::Value])?.into_iter().next() {
                        Some(Attribute::Value(v)) => Certificate::from_der(&v)
                            .map(|c| c.subject().to_display())
                            .unwrap_or_else(|e| e.to_string()),
                        _ => String::new(),
                    }
                } else {
                    match s.get_attributes(h, &[AttributeType::KeyType])?.into_iter().next() {
                        Some(Attribute::KeyType(k)) if k == KeyType::RSA => {
                            match s.get_attributes(h, &[AttributeType::Modulus])?.into_iter().next() {
                                Some(Attribute::Modulus(m)) => format!("rsa {} bits", m.len() * 8),
                                _ => "rsa".into(),
                            }
                        }
                        Some(Attribute::KeyType(k)) if k == KeyType::EC => "ec".into(),
                        Some(Attribute::KeyType(k)) => format!("{k:?}"),
                        _ => String::new(),
                    }
                };
                let uri = Pkcs11Uri::for_object(&token_label, &label, &id, name).to_string();
                out.push(ObjectSummary { class: name, label, id: uri::hex(&id), detail, uri });
            }
        }
        Ok(out)
    })
}

fn as_uri_value<S: serde::Serializer>(t: &ObjectType, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.as_str())
}

/// What [`import_certificate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Imported {
    /// The certificate was stored.
    Stored,
    /// The same certificate was already stored next to the key: nothing was written.
    AlreadyPresent,
}

/// Stores `cert` on the token next to its key: the private key the URI's `object=`/`id=` name
/// must exist and be the certificate's ([`Error::KeyMismatch`] otherwise), and the certificate
/// gets that key's label and id. A URI naming no object, or with a `type` other than `cert`
/// (the type says what is written), is refused. An identical certificate already stored under
/// that label and id is not stored twice.
pub fn import_certificate(uri: &str, cert: &Certificate, secrets: &Secrets) -> Result<Imported, Error> {
    let u = Pkcs11Uri::parse(uri)?;
    if u.object.is_none() && u.id.is_none() {
        return Err(Error::Pkcs11Uri(
            "name the key the certificate belongs to with 'object=<label>' and/or 'id=<hex>'".into(),
        ));
    }
    u.require_type(ObjectType::Cert, "the place a certificate is stored")?;
    let t = token(&u, secrets, true)?;
    let key = Pkcs11Key::open_for_certificate(t.clone(), &u, cert)?;
    let (label, id) = key.label_and_id()?;
    let mut same = vec![
        Attribute::Class(ObjectClass::CERTIFICATE),
        Attribute::Value(cert.der().to_vec()),
        Attribute::Label(label.clone()),
        Attribute::Id(id.clone()),
    ];
    if !t.with_session(|s| s.find_objects(&same))?.is_empty() {
        tracing::info!(token = t.label(), key = u.describe(), "PKCS#11 certificate already stored");
        return Ok(Imported::AlreadyPresent);
    }
    let x = cert.parsed()?;
    same.extend([
        Attribute::CertificateType(CertificateType::X_509),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Subject(cert.subject().der.clone()),
        Attribute::Issuer(cert.issuer().der.clone()),
        Attribute::SerialNumber(crate::der::write(crate::der::tag::INTEGER, x.tbs_certificate.raw_serial())),
    ]);
    t.rw_session()?.create_object(&same).map_err(ck)?;
    tracing::info!(token = t.label(), key = u.describe(), "PKCS#11 certificate stored");
    Ok(Imported::Stored)
}
