//! RFC 9421 HTTP Message Signatures: covered components, the signature base, and the
//! `Signature-Input` / `Signature` fields (Structured Fields, via `sfv`).
//!
//! ```
//! use psd2_httpsig::rfc9421::{SignatureParams, signature_base};
//! let req = http::Request::post("https://example.com/foo?param=Value&Pet=dog")
//!     .header("Content-Type", "application/json")
//!     .body(()).unwrap();
//! let mut params = SignatureParams::new();
//! params.component("@method")?.component("@authority")?.component("content-type")?;
//! params.set_created(1618884473)?.set_keyid("test-key")?;
//! let base = signature_base(&psd2_httpsig::Message::request(&req), &params)?;
//! assert_eq!(base, "\"@method\": POST\n\"@authority\": example.com\n\"content-type\": application/json\n\
//! \"@signature-params\": (\"@method\" \"@authority\" \"content-type\");created=1618884473;keyid=\"test-key\"");
//! # Ok::<(), psd2_httpsig::Error>(())
//! ```

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};
use psd2_eidas::{Curve, KeyKind, KeyPolicy, PublicKey, SignatureScheme, Signer};
use sfv::{BareItem, FieldType as _, InnerList, Item, ListEntry, Parameters};

use crate::error::{Error, Result, malformed};
use crate::message::{Message, path_and_query};

/// The `Signature-Input` field name.
pub const SIGNATURE_INPUT: &str = "Signature-Input";
/// The `Signature` field name.
pub const SIGNATURE: &str = "Signature";

/// An RFC 9421 signature algorithm (IANA "HTTP Signature Algorithms").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `rsa-pss-sha512`: RSASSA-PSS, SHA-512, MGF1-SHA-512, salt 64.
    RsaPssSha512,
    /// `rsa-v1_5-sha256`: RSASSA-PKCS1-v1_5 with SHA-256.
    RsaV15Sha256,
    /// `hmac-sha256`: HMAC with SHA-256 and a shared secret.
    HmacSha256,
    /// `ecdsa-p256-sha256`: raw `r‖s`, 64 bytes.
    EcdsaP256Sha256,
    /// `ecdsa-p384-sha384`: raw `r‖s`, 96 bytes.
    EcdsaP384Sha384,
    /// `ed25519`.
    Ed25519,
}

impl Algorithm {
    /// The registered name.
    pub fn name(self) -> &'static str {
        match self {
            Self::RsaPssSha512 => "rsa-pss-sha512",
            Self::RsaV15Sha256 => "rsa-v1_5-sha256",
            Self::HmacSha256 => "hmac-sha256",
            Self::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            Self::EcdsaP384Sha384 => "ecdsa-p384-sha384",
            Self::Ed25519 => "ed25519",
        }
    }

    /// Parses a registered name.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::RsaPssSha512,
            Self::RsaV15Sha256,
            Self::HmacSha256,
            Self::EcdsaP256Sha256,
            Self::EcdsaP384Sha384,
            Self::Ed25519,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }

    /// The asymmetric scheme (`None` for HMAC).
    pub fn scheme(self) -> Option<SignatureScheme> {
        Some(match self {
            Self::RsaPssSha512 => SignatureScheme::RsaPssSha512,
            Self::RsaV15Sha256 => SignatureScheme::RsaPkcs1Sha256,
            Self::EcdsaP256Sha256 => SignatureScheme::EcdsaP256Sha256,
            Self::EcdsaP384Sha384 => SignatureScheme::EcdsaP384Sha384,
            Self::Ed25519 => SignatureScheme::Ed25519,
            Self::HmacSha256 => return None,
        })
    }

    /// The default algorithm for a key: `rsa-pss-sha512` for RSA (the RFC's first choice), the
    /// curve's ECDSA, `ed25519`.
    pub fn for_key(kind: KeyKind) -> Self {
        match kind {
            KeyKind::Ec(Curve::P384) => Self::EcdsaP384Sha384,
            KeyKind::Ec(_) => Self::EcdsaP256Sha256,
            KeyKind::Ed25519 => Self::Ed25519,
            _ => Self::RsaPssSha512,
        }
    }
}

/// The key a signature is checked with.
#[derive(Debug, Clone, Copy)]
pub enum VerifyingKey<'a> {
    /// A public key (from a certificate or SPKI).
    Public(&'a PublicKey),
    /// A shared HMAC secret.
    Hmac(&'a [u8]),
}

/// Signs a signature base with an asymmetric key (any [`Signer`], HSM keys included).
pub fn sign(alg: Algorithm, signer: &dyn Signer, base: &str) -> Result<Vec<u8>> {
    let scheme = alg
        .scheme()
        .ok_or_else(|| Error::Unsupported("hmac-sha256 needs a shared secret: use rfc9421::hmac_sha256".into()))?;
    Ok(signer.sign(scheme, base.as_bytes())?)
}

/// HMAC-SHA-256 of the signature base with a shared secret.
pub fn hmac_sha256(secret: &[u8], base: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), base.as_bytes()).as_ref().to_vec()
}

/// Verifies `sig` over `base` under [`KeyPolicy::Strict`].
pub fn verify(alg: Algorithm, key: VerifyingKey<'_>, base: &str, sig: &[u8]) -> Result<()> {
    verify_with(KeyPolicy::Strict, alg, key, base, sig)
}

/// [`verify`] under an explicit [`KeyPolicy`] (old vectors with small RSA keys).
pub fn verify_with(policy: KeyPolicy, alg: Algorithm, key: VerifyingKey<'_>, base: &str, sig: &[u8]) -> Result<()> {
    let bad = |what: &str| Error::BadSignature {
        header: SIGNATURE.into(),
        algorithm: alg.name().into(),
        certificate: what.to_owned(),
    };
    match (alg.scheme(), key) {
        (None, VerifyingKey::Hmac(secret)) => {
            hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, secret), base.as_bytes(), sig)
                .map_err(|_| bad("the shared secret"))
        }
        (Some(scheme), VerifyingKey::Public(pk)) => {
            if !scheme.fits(pk.kind()) {
                return Err(Error::AlgorithmMismatch {
                    header: SIGNATURE_INPUT.into(),
                    algorithm: alg.name().into(),
                    key: pk.kind().to_string(),
                });
            }
            pk.verify_with(policy, scheme, base.as_bytes(), sig).map_err(|e| {
                crate::error::key_refused(e, SIGNATURE, &format!("a {} key", pk.kind()), || {
                    bad(&format!("a {} key", pk.kind()))
                })
            })
        }
        (None, VerifyingKey::Public(pk)) => Err(Error::AlgorithmMismatch {
            header: SIGNATURE_INPUT.into(),
            algorithm: alg.name().into(),
            key: pk.kind().to_string(),
        }),
        (Some(_), VerifyingKey::Hmac(_)) => Err(Error::AlgorithmMismatch {
            header: SIGNATURE_INPUT.into(),
            algorithm: alg.name().into(),
            key: "shared-secret".into(),
        }),
    }
}

/// The covered components and signature parameters of one signature: exactly the inner list
/// that appears in `Signature-Input` and on the `@signature-params` line. Parameter order is kept.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SignatureParams(pub InnerList);

fn sf_err(e: impl std::fmt::Display) -> Error {
    malformed(SIGNATURE_INPUT, e.to_string())
}

fn key(name: &str) -> Result<sfv::Key> {
    sfv::KeyRef::from_str(name).map(|k| k.to_owned()).map_err(sf_err)
}

fn sf_string(v: &str) -> Result<BareItem> {
    Ok(BareItem::String(sfv::StringRef::from_str(v).map_err(sf_err)?.to_owned()))
}

impl SignatureParams {
    /// No components, no parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a covered component without parameters (`@method`, `content-digest`…).
    pub fn component(&mut self, name: &str) -> Result<&mut Self> {
        self.component_with(name, &[])
    }

    /// Adds a covered component with string/boolean parameters, e.g.
    /// `("@query-param", &[("name", Some("Pet"))])` or `("example-dict", &[("sf", None)])`.
    pub fn component_with(&mut self, name: &str, params: &[(&str, Option<&str>)]) -> Result<&mut Self> {
        let mut p = Parameters::new();
        for (k, v) in params {
            let value = match v {
                Some(v) => sf_string(v)?,
                None => BareItem::Boolean(true),
            };
            p.insert(key(k)?, value);
        }
        self.0.items.push(Item::with_params(sf_string(name)?, p));
        Ok(self)
    }

    fn set(&mut self, name: &str, value: BareItem) -> Result<&mut Self> {
        self.0.params.insert(key(name)?, value);
        Ok(self)
    }

    fn int(v: i64) -> Result<BareItem> {
        Ok(BareItem::Integer(sfv::Integer::try_from(v).map_err(sf_err)?))
    }

    /// Sets `created`.
    pub fn set_created(&mut self, t: i64) -> Result<&mut Self> {
        self.set("created", Self::int(t)?)
    }

    /// Sets `expires`.
    pub fn set_expires(&mut self, t: i64) -> Result<&mut Self> {
        self.set("expires", Self::int(t)?)
    }

    /// Sets `keyid`.
    pub fn set_keyid(&mut self, v: &str) -> Result<&mut Self> {
        self.set("keyid", sf_string(v)?)
    }

    /// Sets `alg`.
    pub fn set_alg(&mut self, alg: Algorithm) -> Result<&mut Self> {
        self.set("alg", sf_string(alg.name())?)
    }

    /// Sets `nonce`.
    pub fn set_nonce(&mut self, v: &str) -> Result<&mut Self> {
        self.set("nonce", sf_string(v)?)
    }

    /// Sets `tag`.
    pub fn set_tag(&mut self, v: &str) -> Result<&mut Self> {
        self.set("tag", sf_string(v)?)
    }

    fn get(&self, name: &str) -> Option<&BareItem> {
        self.0.params.iter().find(|(k, _)| k.as_str() == name).map(|(_, v)| v)
    }

    fn get_int(&self, name: &str) -> Result<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.as_integer().map(|i| Some(i64::from(i))).ok_or_else(|| Error::BadTime {
                header: format!("{SIGNATURE_INPUT} {name}"),
                value: format!("{v:?}"),
                expected: "integer Unix time".into(),
            }),
        }
    }

    fn get_str(&self, name: &str) -> Result<Option<&str>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_string()
                .map(|s| Some(s.as_str()))
                .ok_or_else(|| malformed(SIGNATURE_INPUT, format!("parameter {name} is not a string"))),
        }
    }

    /// `created`, when present.
    pub fn created(&self) -> Result<Option<i64>> {
        self.get_int("created")
    }

    /// `expires`, when present.
    pub fn expires(&self) -> Result<Option<i64>> {
        self.get_int("expires")
    }

    /// `keyid`, when present.
    pub fn keyid(&self) -> Result<Option<&str>> {
        self.get_str("keyid")
    }

    /// `alg`, when present.
    pub fn alg(&self) -> Result<Option<&str>> {
        self.get_str("alg")
    }

    /// `nonce`, when present.
    pub fn nonce(&self) -> Result<Option<&str>> {
        self.get_str("nonce")
    }

    /// `tag`, when present.
    pub fn tag(&self) -> Result<Option<&str>> {
        self.get_str("tag")
    }

    /// The covered component names, in order (without their parameters).
    pub fn component_names(&self) -> Vec<String> {
        self.0.items.iter().filter_map(|i| i.bare_item.as_string().map(|s| s.as_str().to_owned())).collect()
    }

    /// The serialised inner list: `("@method" …);created=…;keyid="…"`.
    pub fn serialize(&self) -> String {
        let list: sfv::List = vec![ListEntry::InnerList(self.0.clone())];
        list.serialize().unwrap_or_else(|| "()".into())
    }
}

/// Builds the signature base (RFC 9421 §2.5): one line per covered component, then the
/// `@signature-params` line; LF separated, no trailing LF.
pub fn signature_base(msg: &Message<'_>, params: &SignatureParams) -> Result<String> {
    let mut lines = Vec::new();
    let mut seen = Vec::new();
    for item in &params.0.items {
        let name = item
            .bare_item
            .as_string()
            .ok_or_else(|| malformed(SIGNATURE_INPUT, "a component identifier is not a string"))?
            .as_str();
        let id = item.serialize();
        if seen.contains(&id) {
            return Err(malformed(SIGNATURE_INPUT, format!("component {id} is listed twice")));
        }
        for v in component_values(msg, name, &item.params)? {
            if !v.is_ascii() {
                return Err(Error::InvalidHeaderValue {
                    header: name.to_owned(),
                    why: "non-ASCII text cannot enter an RFC 9421 signature base".into(),
                });
            }
            lines.push(format!("{id}: {v}"));
        }
        seen.push(id);
    }
    lines.push(format!("\"@signature-params\": {}", params.serialize()));
    Ok(lines.join("\n"))
}

fn param_str<'p>(params: &'p Parameters, name: &str) -> Option<&'p str> {
    params.iter().find(|(k, _)| k.as_str() == name).and_then(|(_, v)| v.as_string()).map(|s| s.as_str())
}

fn has_flag(params: &Parameters, name: &str) -> bool {
    params.iter().any(|(k, v)| k.as_str() == name && v.as_boolean() == Some(true))
}

fn component_values(msg: &Message<'_>, name: &str, params: &Parameters) -> Result<Vec<String>> {
    for (k, _) in params {
        let ok = match k.as_str() {
            "name" => name == "@query-param",
            "sf" | "key" | "bs" => !name.starts_with('@'),
            "req" | "tr" => {
                return Err(Error::Unsupported(format!("component parameter '{}' on {name}", k.as_str())));
            }
            _ => false,
        };
        if !ok {
            return Err(malformed(SIGNATURE_INPUT, format!("parameter '{}' is not valid on {name}", k.as_str())));
        }
    }
    if let Some(derived) = name.strip_prefix('@') {
        return derived_values(msg, derived, params);
    }
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(malformed(SIGNATURE_INPUT, format!("field name '{name}' must be lower-case")));
    }
    let missing = || Error::MissingHeader { header: name.to_owned(), why: "it is a covered component".into() };
    let values = msg.values(name)?.ok_or_else(missing)?;
    if has_flag(params, "bs") {
        let enc: Vec<String> =
            values.iter().map(|v| format!(":{}:", STANDARD.encode(crate::message::unfold(v)))).collect();
        return Ok(vec![enc.join(", ")]);
    }
    let combined = msg.combined(name)?.ok_or_else(missing)?;
    if let Some(member) = param_str(params, "key") {
        let dict: sfv::Dictionary = sfv::Parser::new(&combined)
            .parse()
            .map_err(|e| malformed(name, format!("not a structured-field dictionary: {e}")))?;
        let entry = dict.iter().find(|(k, _)| k.as_str() == member).map(|(_, v)| v).ok_or_else(|| {
            Error::MissingHeader { header: format!("{name};key=\"{member}\""), why: "dictionary member absent".into() }
        })?;
        let s = match entry {
            ListEntry::Item(i) => i.serialize(),
            ListEntry::InnerList(l) => {
                let list: sfv::List = vec![ListEntry::InnerList(l.clone())];
                list.serialize().unwrap_or_default()
            }
        };
        return Ok(vec![s]);
    }
    if has_flag(params, "sf") {
        return Ok(vec![reserialize(&combined).ok_or_else(|| malformed(name, "not a structured field"))?]);
    }
    Ok(vec![combined])
}

fn reserialize(v: &str) -> Option<String> {
    if let Ok(d) = sfv::Parser::new(v).parse::<sfv::Dictionary>() {
        return d.serialize();
    }
    if let Ok(l) = sfv::Parser::new(v).parse::<sfv::List>() {
        return l.serialize();
    }
    sfv::Parser::new(v).parse::<Item>().ok().map(|i| i.serialize())
}

fn authority(msg: &Message<'_>) -> Result<String> {
    let uri = msg.uri()?;
    let scheme = scheme(msg)?;
    let (host, port) = match uri.authority() {
        Some(a) => (a.host().to_ascii_lowercase(), a.port_u16()),
        None => {
            let host = msg.combined("host")?.ok_or_else(|| Error::BadUrl {
                url: uri.to_string(),
                why: "no authority in the URL and no Host header".into(),
            })?;
            let a: http::uri::Authority = host
                .parse()
                .map_err(|_| Error::InvalidHeaderValue { header: "Host".into(), why: "not host[:port]".into() })?;
            (a.host().to_ascii_lowercase(), a.port_u16())
        }
    };
    let default = match scheme.as_str() {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    };
    Ok(match port {
        Some(p) if Some(p) != default => format!("{host}:{p}"),
        _ => host,
    })
}

fn scheme(msg: &Message<'_>) -> Result<String> {
    Ok(msg.uri()?.scheme_str().unwrap_or("https").to_ascii_lowercase())
}

fn derived_values(msg: &Message<'_>, derived: &str, params: &Parameters) -> Result<Vec<String>> {
    let one = |s: String| Ok(vec![s]);
    match derived {
        "method" => one(msg.method()?.as_str().to_owned()),
        "authority" => one(authority(msg)?),
        "scheme" => one(scheme(msg)?),
        "target-uri" => one(format!("{}://{}{}", scheme(msg)?, authority(msg)?, path_and_query(msg.uri()?))),
        "request-target" => one(path_and_query(msg.uri()?)),
        "path" => {
            let p = msg.uri()?.path();
            one(if p.is_empty() { "/".into() } else { p.to_owned() })
        }
        "query" => one(format!("?{}", msg.uri()?.query().unwrap_or(""))),
        "query-param" => {
            let want = param_str(params, "name")
                .ok_or_else(|| malformed(SIGNATURE_INPUT, "@query-param without a name parameter"))?;
            let query = msg.uri()?.query().unwrap_or("");
            let found: Vec<String> = query
                .split('&')
                .filter(|p| !p.is_empty())
                .filter_map(|pair| {
                    let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (form_decode(n) == form_decode(want).as_slice()).then(|| form_encode(&form_decode(v)))
                })
                .collect();
            if found.is_empty() {
                return Err(Error::MissingHeader {
                    header: format!("@query-param;name=\"{want}\""),
                    why: "the query has no such parameter".into(),
                });
            }
            Ok(found)
        }
        "status" => match msg.status {
            Some(s) => one(s.to_string()),
            None => Err(Error::Unsupported("@status on a request".into())),
        },
        other => Err(Error::Unsupported(format!("derived component @{other}"))),
    }
}

/// RFC 9421 §2.2.8 re-encodes with the application/x-www-form-urlencoded percent-encode set,
/// a space as `%20` (not `+`): only alphanumerics and `*-._` stay as they are.
const FORM_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'*').remove(b'-').remove(b'.').remove(b'_');

/// A query name or value as bytes: `+` is a space, a malformed escape stays as written. Bytes, not
/// `url::form_urlencoded` (which would replace invalid UTF-8 and so change what is signed).
fn form_decode(s: &str) -> Vec<u8> {
    percent_decode_str(&s.replace('+', " ")).collect()
}

fn form_encode(b: &[u8]) -> String {
    percent_encode(b, FORM_VALUE).to_string()
}

/// One signature found in a message.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSignature {
    /// The label (`sig1`).
    pub label: String,
    /// Covered components and parameters from `Signature-Input`.
    pub params: SignatureParams,
    /// The signature bytes from `Signature`.
    pub signature: Vec<u8>,
}

/// Parses the `Signature-Input` and `Signature` values (each the combined field value) into
/// the labelled signatures, in `Signature-Input` order.
pub fn parse(signature_input: &str, signature: &str) -> Result<Vec<ParsedSignature>> {
    let inputs: sfv::Dictionary = sfv::Parser::new(signature_input)
        .parse()
        .map_err(|e| malformed(SIGNATURE_INPUT, format!("not a structured-field dictionary: {e}")))?;
    let sigs: sfv::Dictionary = sfv::Parser::new(signature)
        .parse()
        .map_err(|e| malformed(SIGNATURE, format!("not a structured-field dictionary: {e}")))?;
    let mut out = Vec::new();
    for (label, entry) in &inputs {
        let ListEntry::InnerList(list) = entry else {
            return Err(malformed(SIGNATURE_INPUT, format!("{} is not an inner list", label.as_str())));
        };
        let sig = match sigs.iter().find(|(k, _)| k.as_str() == label.as_str()).map(|(_, v)| v) {
            Some(ListEntry::Item(i)) => i.bare_item.as_byte_sequence().map(<[u8]>::to_vec).ok_or_else(|| {
                Error::NotBase64 { header: SIGNATURE.into(), what: format!("{} (expected :base64:)", label.as_str()) }
            })?,
            Some(ListEntry::InnerList(_)) => {
                return Err(malformed(SIGNATURE, format!("{} is an inner list", label.as_str())));
            }
            None => {
                return Err(Error::MissingParameter { header: SIGNATURE.into(), param: label.as_str().to_owned() });
            }
        };
        out.push(ParsedSignature {
            label: label.as_str().to_owned(),
            params: SignatureParams(list.clone()),
            signature: sig,
        });
    }
    if out.is_empty() {
        return Err(malformed(SIGNATURE_INPUT, "no signature"));
    }
    Ok(out)
}

/// The `Signature-Input` member `label=(…);…`.
pub fn signature_input_value(label: &str, params: &SignatureParams) -> Result<String> {
    key(label)?;
    Ok(format!("{label}={}", params.serialize()))
}

/// The `Signature` member `label=:base64:`.
pub fn signature_value(label: &str, sig: &[u8]) -> Result<String> {
    key(label)?;
    Ok(format!("{label}=:{}:", STANDARD.encode(sig)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn query_param_encoding() {
        let req = http::Request::get("https://example.com/parameters?var=this%20is%20a%20big%0Avalue&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something")
            .body(())
            .unwrap();
        let msg = Message::request(&req);
        let mut p = SignatureParams::new();
        p.component_with("@query-param", &[("name", Some("var"))]).unwrap();
        p.component_with("@query-param", &[("name", Some("bar"))]).unwrap();
        p.component_with("@query-param", &[("name", Some("fa%C3%A7ade%22%3A%20"))]).unwrap();
        let base = signature_base(&msg, &p).unwrap();
        let lines: Vec<&str> = base.lines().collect();
        assert_eq!(lines[0], "\"@query-param\";name=\"var\": this%20is%20a%20big%0Avalue");
        assert_eq!(lines[1], "\"@query-param\";name=\"bar\": with%20plus%20whitespace");
        assert_eq!(lines[2], "\"@query-param\";name=\"fa%C3%A7ade%22%3A%20\": something");
    }

    #[test]
    fn derived_components() {
        let req = http::Request::post("https://www.Example.com:443/path?param=value").body(()).unwrap();
        let msg = Message::request(&req);
        let v = |n: &str| derived_values(&msg, n, &Parameters::new()).unwrap().remove(0);
        assert_eq!(v("target-uri"), "https://www.example.com/path?param=value");
        assert_eq!(v("authority"), "www.example.com");
        assert_eq!(v("scheme"), "https");
        assert_eq!(v("request-target"), "/path?param=value");
        assert_eq!(v("path"), "/path");
        assert_eq!(v("query"), "?param=value");
        let req = http::Request::get("http://h.example:8080").body(()).unwrap();
        let msg = Message::request(&req);
        let v = |n: &str| derived_values(&msg, n, &Parameters::new()).unwrap().remove(0);
        assert_eq!(v("authority"), "h.example:8080");
        assert_eq!(v("query"), "?");
        assert_eq!(v("path"), "/");
    }

    #[test]
    fn field_parameters_sf_key_bs() {
        // RFC 9421 §2.1.1, §2.1.2, §2.1.3 examples.
        let req = http::Request::get("https://example.com/")
            .header("Example-Dict", "  a=1,    b=2;x=1;y=2,   c=(a   b   c)  ")
            .header("Example-Header", "value, with, lots")
            .header("Example-Header", "of, commas")
            .body(())
            .unwrap();
        let msg = Message::request(&req);
        let mut p = SignatureParams::new();
        p.component("example-dict").unwrap();
        p.component_with("example-dict", &[("sf", None)]).unwrap();
        p.component_with("example-header", &[("bs", None)]).unwrap();
        p.component("example-header").unwrap();
        let base = signature_base(&msg, &p).unwrap();
        let lines: Vec<&str> = base.lines().collect();
        assert_eq!(lines[0], "\"example-dict\": a=1,    b=2;x=1;y=2,   c=(a   b   c)");
        assert_eq!(lines[1], "\"example-dict\";sf: a=1, b=2;x=1;y=2, c=(a b c)");
        assert_eq!(lines[2], "\"example-header\";bs: :dmFsdWUsIHdpdGgsIGxvdHM=:, :b2YsIGNvbW1hcw==:");
        assert_eq!(lines[3], "\"example-header\": value, with, lots, of, commas");

        let req = http::Request::get("https://example.com/")
            .header("Example-Dict", " a=1, b=2;x=1;y=2, c=(a   b    c), d")
            .body(())
            .unwrap();
        let msg = Message::request(&req);
        let mut p = SignatureParams::new();
        for k in ["a", "d", "b", "c"] {
            p.component_with("example-dict", &[("key", Some(k))]).unwrap();
        }
        let base = signature_base(&msg, &p).unwrap();
        let lines: Vec<&str> = base.lines().collect();
        assert_eq!(lines[0], "\"example-dict\";key=\"a\": 1");
        assert_eq!(lines[1], "\"example-dict\";key=\"d\": ?1");
        assert_eq!(lines[2], "\"example-dict\";key=\"b\": 2;x=1;y=2");
        assert_eq!(lines[3], "\"example-dict\";key=\"c\": (a b c)");
        let mut p = SignatureParams::new();
        p.component_with("example-dict", &[("key", Some("zz"))]).unwrap();
        assert!(matches!(signature_base(&msg, &p), Err(Error::MissingHeader { .. })));
        let mut p = SignatureParams::new();
        p.component_with("example-dict", &[("req", None)]).unwrap();
        assert!(matches!(signature_base(&msg, &p), Err(Error::Unsupported(_))));
    }

    #[test]
    fn malformed_fields() {
        assert!(parse("sig1=(", "sig1=:AAAA:").is_err());
        assert!(matches!(parse("sig1=(\"@method\")", "sig1=AAAA"), Err(Error::NotBase64 { .. })));
        assert!(matches!(parse("sig1=(\"@method\")", "sig2=:AAAA:"), Err(Error::MissingParameter { .. })));
        assert!(matches!(parse("sig1=\"x\"", "sig1=:AAAA:"), Err(Error::Malformed { .. })));
    }
}
