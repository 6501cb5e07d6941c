//! draft-cavage-http-signatures-10: the `Signature` / `Authorization: Signature` parameters and
//! the signing string. Berlin Group, STET, ING and the Belfius fallback interface all use it.
//!
//! ```
//! use psd2_httpsig::cavage::{self, SignatureParams};
//! let req = http::Request::post("/foo?param=value&pet=dog")
//!     .header("Host", "example.com")
//!     .header("Date", "Sun, 05 Jan 2014 21:31:40 GMT")
//!     .body(()).unwrap();
//! let msg = psd2_httpsig::Message::request(&req);
//! let names = ["(request-target)", "host", "date"].map(String::from);
//! let s = cavage::signing_string(&msg, &names, None, None).unwrap();
//! assert_eq!(s, "(request-target): post /foo?param=value&pet=dog\nhost: example.com\ndate: Sun, 05 Jan 2014 21:31:40 GMT");
//! let p = SignatureParams::parse(r#"keyId="Test",algorithm="rsa-sha256",headers="(request-target) host date",signature="AAAA""#, "Signature").unwrap();
//! assert_eq!(p.covered(), names.to_vec());
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use psd2_eidas::{Curve, KeyKind, SignatureScheme, ecdsa_der_to_raw, ecdsa_raw_to_der};

use crate::error::{Error, Result, malformed};
use crate::message::{Message, request_target};

/// The `(request-target)` pseudo-header.
pub const REQUEST_TARGET: &str = "(request-target)";
/// The `(created)` pseudo-header (cavage -11 and later; STET).
pub const CREATED: &str = "(created)";
/// The `(expires)` pseudo-header (cavage -11 and later; STET).
pub const EXPIRES: &str = "(expires)";

/// Where the signature parameters travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Carrier {
    /// The `Signature` header (cavage §4; Berlin Group, STET, ING after the token call).
    SignatureHeader,
    /// `Authorization: Signature …` (cavage §3; ING token call).
    Authorization,
}

impl Carrier {
    /// The header name.
    pub fn header(self) -> &'static str {
        match self {
            Self::SignatureHeader => "Signature",
            Self::Authorization => "Authorization",
        }
    }

    /// The header value for these parameters.
    pub fn value(self, params: &SignatureParams) -> String {
        match self {
            Self::SignatureHeader => params.to_header_value(),
            Self::Authorization => format!("Signature {}", params.to_header_value()),
        }
    }
}

/// The parameters of a cavage signature.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignatureParams {
    /// `keyId`.
    pub key_id: String,
    /// `algorithm`, when given.
    pub algorithm: Option<String>,
    /// `created` (Unix time), when given.
    pub created: Option<i64>,
    /// `expires` (Unix time), when given.
    pub expires: Option<i64>,
    /// `headers`, as written (lower-cased on use); `None` = the draft's default, `date` only.
    pub headers: Option<Vec<String>>,
    /// `signature`: Base64 text as written.
    pub signature: String,
}

impl SignatureParams {
    /// The covered header names in signing order, lower-cased; `["date"]` when `headers` is
    /// absent (draft -10 default).
    pub fn covered(&self) -> Vec<String> {
        match &self.headers {
            Some(h) => h.iter().map(|n| n.to_ascii_lowercase()).collect(),
            None => vec!["date".to_owned()],
        }
    }

    /// The decoded signature bytes.
    pub fn signature_bytes(&self, header: &str) -> Result<Vec<u8>> {
        STANDARD
            .decode(self.signature.trim())
            .map_err(|_| Error::NotBase64 { header: header.to_owned(), what: "signature".into() })
    }

    /// Serialises as `keyId="…",algorithm="…",headers="…",signature="…"` (the order of the
    /// draft's examples).
    pub fn to_header_value(&self) -> String {
        let mut parts = vec![format!("keyId={}", quote(&self.key_id))];
        if let Some(a) = &self.algorithm {
            parts.push(format!("algorithm={}", quote(a)));
        }
        if let Some(c) = self.created {
            parts.push(format!("created={c}"));
        }
        if let Some(e) = self.expires {
            parts.push(format!("expires={e}"));
        }
        if let Some(h) = &self.headers {
            parts.push(format!("headers={}", quote(&h.join(" "))));
        }
        parts.push(format!("signature={}", quote(&self.signature)));
        parts.join(",")
    }

    /// Parses a `Signature` header value, or an `Authorization` value starting with the
    /// `Signature` scheme (`header` names the header for messages). Unknown parameters are
    /// ignored and the last of duplicated ones wins (draft -10 §2.2); `keyId` and `signature` are
    /// required.
    pub fn parse(value: &str, header: &str) -> Result<Self> {
        let mut rest = value.trim();
        if header.eq_ignore_ascii_case("Authorization") {
            let (scheme, params) = rest.split_once(' ').unwrap_or((rest, ""));
            if !scheme.eq_ignore_ascii_case("Signature") {
                return Err(malformed(header, format!("scheme '{scheme}' is not Signature")));
            }
            rest = params.trim_start();
        }
        let mut p = SignatureParams::default();
        let (mut key_id, mut signature) = (None, None);
        for (name, v) in parse_params(rest, header)? {
            match name.to_ascii_lowercase().as_str() {
                "keyid" => key_id = Some(v),
                "algorithm" => p.algorithm = Some(v),
                "headers" => p.headers = Some(v.split_ascii_whitespace().map(str::to_owned).collect()),
                "signature" => signature = Some(v),
                "created" => p.created = Some(int_param(header, "created", &v)?),
                "expires" => p.expires = Some(int_param(header, "expires", &v)?),
                _ => {}
            }
        }
        p.key_id =
            key_id.ok_or_else(|| Error::MissingParameter { header: header.to_owned(), param: "keyId".into() })?;
        p.signature = signature
            .ok_or_else(|| Error::MissingParameter { header: header.to_owned(), param: "signature".into() })?;
        if p.headers.as_ref().is_some_and(Vec::is_empty) {
            return Err(malformed(header, "headers parameter is empty"));
        }
        Ok(p)
    }
}

fn int_param(header: &str, name: &str, v: &str) -> Result<i64> {
    v.trim().parse().map_err(|_| Error::BadTime {
        header: format!("{header} {name}"),
        value: v.to_owned(),
        expected: "integer Unix time".into(),
    })
}

fn quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Splits `name="value", name=token, …` into pairs, refusing unterminated quotes and stray text.
fn parse_params(input: &str, header: &str) -> Result<Vec<(String, String)>> {
    let b = input.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t') {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        while i < b.len() && b[i] == b',' {
            i += 1;
            skip_ws(&mut i);
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-' || b[i] == b'_') {
            i += 1;
        }
        let name = &input[start..i];
        if name.is_empty() {
            return Err(malformed(header, format!("expected a parameter name at byte {start}")));
        }
        skip_ws(&mut i);
        if i >= b.len() || b[i] != b'=' {
            return Err(malformed(header, format!("parameter '{name}' has no '=value'")));
        }
        i += 1;
        skip_ws(&mut i);
        let mut value = String::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut closed = false;
            let mut chars = input[i..].char_indices();
            while let Some((off, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, esc)) => value.push(esc),
                        None => break,
                    },
                    '"' => {
                        closed = true;
                        i += off + 1;
                        break;
                    }
                    other => value.push(other),
                }
            }
            if !closed {
                return Err(malformed(header, format!("unterminated quoted value of parameter '{name}'")));
            }
        } else {
            let vs = i;
            while i < b.len() && b[i] != b',' && b[i] != b' ' && b[i] != b'\t' {
                if b[i] == b'"' {
                    return Err(malformed(header, format!("stray quote in the value of parameter '{name}'")));
                }
                i += 1;
            }
            value.push_str(&input[vs..i]);
            if value.is_empty() {
                return Err(malformed(header, format!("parameter '{name}' has an empty value")));
            }
        }
        skip_ws(&mut i);
        if i < b.len() && b[i] != b',' {
            return Err(malformed(header, format!("unexpected text after parameter '{name}' at byte {i}")));
        }
        out.push((name.to_owned(), value));
    }
    Ok(out)
}

/// Builds the signing string for the covered `names` (in order): `(request-target)`,
/// `(created)`, `(expires)` or header names (any case). A covered header missing from the
/// message is an error.
pub fn signing_string(
    msg: &Message<'_>,
    names: &[String],
    created: Option<i64>,
    expires: Option<i64>,
) -> Result<String> {
    let mut lines = Vec::with_capacity(names.len());
    for name in names {
        let name = name.to_ascii_lowercase();
        let value = match name.as_str() {
            REQUEST_TARGET => request_target(msg.method()?, msg.uri()?),
            CREATED => created
                .ok_or_else(|| Error::MissingParameter { header: "Signature".into(), param: "created".into() })?
                .to_string(),
            EXPIRES => expires
                .ok_or_else(|| Error::MissingParameter { header: "Signature".into(), param: "expires".into() })?
                .to_string(),
            header => msg.combined(header)?.ok_or_else(|| Error::MissingHeader {
                header: header.to_owned(),
                why: "it is listed in the signature's headers".into(),
            })?,
        };
        lines.push(format!("{name}: {value}"));
    }
    Ok(lines.join("\n"))
}

/// The `algorithm` value written for a key: `rsa-sha256` (RSA), `ecdsa-sha256` (P-256),
/// `ecdsa-sha384` (P-384, not in the -10 registry), `ed25519` (not in the registry).
pub fn algorithm_name(scheme: SignatureScheme) -> &'static str {
    match scheme {
        SignatureScheme::RsaPkcs1Sha512 => "rsa-sha512",
        SignatureScheme::EcdsaP256Sha256 => "ecdsa-sha256",
        SignatureScheme::EcdsaP384Sha384 => "ecdsa-sha384",
        SignatureScheme::Ed25519 => "ed25519",
        SignatureScheme::RsaPssSha512 => "hs2019",
        _ => "rsa-sha256",
    }
}

/// The scheme used for a key when signing: PKCS#1 v1.5 SHA-256 for RSA (deterministic, what
/// PSD2 banks expect), the curve's ECDSA, Ed25519.
pub fn default_scheme(kind: KeyKind) -> SignatureScheme {
    kind.default_scheme()
}

/// The scheme an `algorithm` parameter means for a key of this kind; the key decides when the
/// parameter is absent (draft -10 §2.1.3). A name that contradicts the key is an error, an
/// unknown name too. `hs2019` means: from the key (RSA: RSASSA-PSS SHA-512).
pub fn scheme_for(algorithm: Option<&str>, kind: KeyKind, header: &str) -> Result<SignatureScheme> {
    let Some(name) = algorithm else { return Ok(kind.default_scheme()) };
    let scheme = match name.to_ascii_lowercase().as_str() {
        "rsa-sha256" => SignatureScheme::RsaPkcs1Sha256,
        "rsa-sha512" => SignatureScheme::RsaPkcs1Sha512,
        "ecdsa-sha256" => SignatureScheme::EcdsaP256Sha256,
        "ecdsa-sha384" => SignatureScheme::EcdsaP384Sha384,
        "ed25519" => SignatureScheme::Ed25519,
        "hs2019" => match kind {
            KeyKind::Rsa { .. } => SignatureScheme::RsaPssSha512,
            other => other.default_scheme(),
        },
        _ => return Err(Error::UnknownAlgorithm { header: header.to_owned(), algorithm: name.to_owned() }),
    };
    if !scheme.fits(kind) {
        return Err(Error::AlgorithmMismatch {
            header: header.to_owned(),
            algorithm: name.to_owned(),
            key: kind.to_string(),
        });
    }
    Ok(scheme)
}

/// Converts a signature from the signer's wire format to what goes into a cavage header: ECDSA
/// as DER `Ecdsa-Sig-Value` (what Java `SHA256withECDSA` verifiers expect), others unchanged.
pub fn encode_signature(scheme: SignatureScheme, sig: Vec<u8>) -> Result<Vec<u8>> {
    match scheme {
        SignatureScheme::EcdsaP256Sha256 | SignatureScheme::EcdsaP384Sha384 => Ok(ecdsa_raw_to_der(&sig)?),
        _ => Ok(sig),
    }
}

/// The reverse of [`encode_signature`]: ECDSA signatures may arrive as DER or raw `r‖s`.
pub fn decode_signature(scheme: SignatureScheme, sig: Vec<u8>) -> Vec<u8> {
    let field = match scheme {
        SignatureScheme::EcdsaP256Sha256 => Curve::P256.field_len(),
        SignatureScheme::EcdsaP384Sha384 => Curve::P384.field_len(),
        _ => return sig,
    };
    if sig.len() == 2 * field {
        return sig;
    }
    ecdsa_der_to_raw(&sig, field).unwrap_or(sig)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parse_round_trip() {
        let v = r#"keyId="SN=9FA1,CA=CN=D-TRUST%20CA",algorithm="rsa-sha256", headers="Digest X-Request-ID", signature="YWJj""#;
        let p = SignatureParams::parse(v, "Signature").unwrap();
        assert_eq!(p.key_id, "SN=9FA1,CA=CN=D-TRUST%20CA");
        assert_eq!(p.covered(), vec!["digest", "x-request-id"]);
        let again = SignatureParams::parse(&p.to_header_value(), "Signature").unwrap();
        assert_eq!(again, p);
        let auth = SignatureParams::parse(&Carrier::Authorization.value(&p), "Authorization").unwrap();
        assert_eq!(auth, p);
    }

    #[test]
    fn malformed_inputs_are_errors() {
        for (v, want) in [
            (r#"signature="x",keyId="abc"#, "unterminated"),
            (r#"keyId="a" x,signature="x""#, "unexpected text"),
            (r#"keyId,signature="x""#, "no '=value'"),
            (r#"="a""#, "parameter name"),
            (r#"keyId=a"b",signature="x""#, "stray quote"),
        ] {
            let e = SignatureParams::parse(v, "Signature").unwrap_err().to_string();
            assert!(e.contains(want), "{v}: {e}");
        }
        assert!(matches!(
            SignatureParams::parse(r#"keyId="a""#, "Signature"),
            Err(Error::MissingParameter { param, .. }) if param == "signature"
        ));
        assert!(matches!(
            SignatureParams::parse(r#"signature="a""#, "Signature"),
            Err(Error::MissingParameter { param, .. }) if param == "keyId"
        ));
        assert!(SignatureParams::parse(r#"Bearer keyId="a""#, "Authorization").is_err());
        let p = SignatureParams::parse(r#"keyId="a",signature="!!""#, "Signature").unwrap();
        assert!(matches!(p.signature_bytes("Signature"), Err(Error::NotBase64 { .. })));
    }

    #[test]
    fn algorithms() {
        let rsa = KeyKind::Rsa { bits: 2048 };
        assert_eq!(scheme_for(None, rsa, "Signature").unwrap(), SignatureScheme::RsaPkcs1Sha256);
        assert_eq!(scheme_for(Some("RSA-SHA512"), rsa, "Signature").unwrap(), SignatureScheme::RsaPkcs1Sha512);
        assert!(matches!(scheme_for(Some("SHA256withRSA"), rsa, "Signature"), Err(Error::UnknownAlgorithm { .. })));
        assert!(matches!(scheme_for(Some("ecdsa-sha256"), rsa, "Signature"), Err(Error::AlgorithmMismatch { .. })));
    }
}
