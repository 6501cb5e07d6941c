//! Berlin Group `keyId="SN=<hex serial>,CA=<issuer DN>"`: a builder with the normalisation
//! choices banks disagree on, and a verifier that normalises both sides.
//!
//! Default style ([`KeyIdStyle::default`]) is what the adorsys xs2a verifier compares as an exact
//! string: lower-case hex without leading zeros, the issuer in RFC 4514/2253 order (most specific
//! first, unknown attributes as `2.5.4.97=#0c…`), spaces as `%20`.
//!
//! ```
//! use psd2_httpsig::keyid::{KeyIdStyle, HexCase, DnStyle};
//! let pem = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"),
//!     "/../../tests/vectors/psd2-certs/ing-sandbox-example-qsealc.pem"))?;
//! let cert = &psd2_eidas::Certificate::from_pem_or_der(&pem)?[0];
//! let id = KeyIdStyle::default().key_id(cert);
//! // This issuer is encoded CN first, so RFC 4514 (reverse encoded order) puts C first.
//! assert_eq!(id, "SN=5e4299be,CA=C=NL,ST=Amsterdam,L=Amsterdam,O=ING,OU=ING,CN=AppCertificateMeansAPI");
//! let upper = KeyIdStyle { hex: HexCase::Upper, dn: DnStyle::OpensslOneline, percent_spaces: false, ..Default::default() };
//! assert_eq!(upper.key_id(cert), "SN=5E4299BE,CA=CN=AppCertificateMeansAPI, OU=ING, O=ING, L=Amsterdam, ST=Amsterdam, C=NL");
//! psd2_httpsig::keyid::check_berlin_group(&upper.key_id(cert), cert, "Signature")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use psd2_eidas::Certificate;
use psd2_eidas::name::Name;

use crate::error::{Error, Result};

/// Hex digit case of the serial number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HexCase {
    /// `9fa1` (adorsys, Java `BigInteger.toString(16)`).
    #[default]
    Lower,
    /// `9FA1` (the Berlin Group example, BNG).
    Upper,
}

/// How the serial number's leading zeros are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SerialForm {
    /// Minimal: no leading zeros.
    #[default]
    Minimal,
    /// The DER INTEGER content bytes, with the sign byte (`009FA1`).
    DerBytes,
}

/// How the issuer DN is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DnStyle {
    /// RFC 4514 (= RFC 2253 order): most specific first, `,` without spaces, escaped values,
    /// attributes without a short name as `OID=#hexDER`.
    #[default]
    Rfc4514,
    /// OpenSSL one-line: encoded order (`C=…, O=…, CN=…`), `, ` separators, readable names.
    OpensslOneline,
}

/// The normalisation choices of a Berlin Group keyId.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyIdStyle {
    /// Hex case of the serial.
    pub hex: HexCase,
    /// Leading zeros of the serial.
    pub serial: SerialForm,
    /// DN rendering.
    pub dn: DnStyle,
    /// Write spaces in the DN as `%20` (the Berlin Group example and adorsys do).
    pub percent_spaces: bool,
}

impl Default for KeyIdStyle {
    fn default() -> Self {
        Self { hex: HexCase::Lower, serial: SerialForm::Minimal, dn: DnStyle::Rfc4514, percent_spaces: true }
    }
}

impl KeyIdStyle {
    /// The serial in this style.
    pub fn serial(&self, cert: &Certificate) -> String {
        let hex = match self.serial {
            SerialForm::Minimal => cert.serial_hex(),
            SerialForm::DerBytes => cert.serial_bytes().iter().map(|b| format!("{b:02x}")).collect(),
        };
        match self.hex {
            HexCase::Lower => hex,
            HexCase::Upper => hex.to_ascii_uppercase(),
        }
    }

    /// The issuer DN in this style.
    pub fn issuer(&self, cert: &Certificate) -> String {
        let dn = render_dn(cert.issuer(), self.dn);
        if self.percent_spaces { dn.replace(' ', "%20") } else { dn }
    }

    /// `SN=<serial>,CA=<issuer>`.
    pub fn key_id(&self, cert: &Certificate) -> String {
        format!("SN={},CA={}", self.serial(cert), self.issuer(cert))
    }

    /// `SN=<serial>` (ING's token call).
    pub fn serial_only(&self, cert: &Certificate) -> String {
        format!("SN={}", self.serial(cert))
    }
}

/// Renders a DN in the given style.
pub fn render_dn(name: &Name, style: DnStyle) -> String {
    match style {
        DnStyle::Rfc4514 => name.to_rfc4514(),
        DnStyle::OpensslOneline => name
            .rdns
            .iter()
            .map(|rdn| rdn.iter().map(|a| format!("{}={}", a.display_name(), a.value)).collect::<Vec<_>>().join(" + "))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The parts of a `SN=…[,CA=…]` keyId.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKeyId {
    /// The serial as written.
    pub serial: String,
    /// The `CA=` part as written, when present.
    pub ca: Option<String>,
}

/// Splits `SN=<hex>[,CA=<dn>]` (any case of `SN`/`CA`). `None` when the keyId has another form.
pub fn parse(key_id: &str) -> Option<ParsedKeyId> {
    let rest = key_id.trim();
    if !rest.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("SN=")) {
        return None;
    }
    let rest = rest.get(3..)?;
    let lower = rest.to_ascii_lowercase();
    match lower.find(",ca=").or_else(|| lower.find(", ca=")) {
        Some(pos) => {
            let after = &rest[pos..];
            let ca_start = after.find('=').map(|p| p + 1)?;
            Some(ParsedKeyId { serial: rest[..pos].trim().to_owned(), ca: Some(after[ca_start..].trim().to_owned()) })
        }
        None => Some(ParsedKeyId { serial: rest.trim().to_owned(), ca: None }),
    }
}

fn normal_serial(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let t = s.trim_start_matches('0').to_ascii_lowercase();
    Some(if t.is_empty() { "0".into() } else { t })
}

/// Checks a Berlin Group keyId against the certificate: the serial (any hex case, leading zeros
/// or not) and, when present, the `CA=` name (RFC 4514 or OpenSSL order, `%20` or spaces, short
/// names, `OID.`/dotted OIDs or hex values; string values compared case-insensitively).
pub fn check_berlin_group(key_id: &str, cert: &Certificate, header: &str) -> Result<()> {
    let parsed = parse(key_id).ok_or_else(|| Error::KeyIdMismatch {
        header: header.to_owned(),
        key_id: key_id.to_owned(),
        why: "expected SN=<hex serial>,CA=<issuer DN>".into(),
    })?;
    let serial = normal_serial(&parsed.serial).ok_or_else(|| Error::KeyIdMismatch {
        header: header.to_owned(),
        key_id: key_id.to_owned(),
        why: format!("serial '{}' is not hexadecimal", parsed.serial),
    })?;
    if serial != cert.serial_hex() {
        return Err(Error::KeyIdSerialMismatch {
            header: header.to_owned(),
            key_id_serial: parsed.serial,
            cert_serial: cert.serial_hex(),
        });
    }
    if let Some(ca) = parsed.ca
        && !dn_matches(&ca, cert.issuer())
    {
        return Err(Error::KeyIdIssuerMismatch {
            header: header.to_owned(),
            key_id_ca: ca,
            issuer: cert.issuer().to_rfc4514(),
        });
    }
    Ok(())
}

/// Predicts the verdict of an exact-string verifier such as adorsys xs2a
/// (`"SN=" + serial.toString(16) + ",CA=" + getName().replace(" ", "%20")`): true only when the
/// keyId is byte for byte the [`KeyIdStyle::default`] rendering. Returns the expected string
/// when it would refuse.
pub fn exact_string_verdict(key_id: &str, cert: &Certificate) -> Result<(), String> {
    let expected = KeyIdStyle::default().key_id(cert);
    if key_id == expected { Ok(()) } else { Err(expected) }
}

/// One attribute of a DN string after normalisation.
#[derive(Debug, PartialEq)]
struct NormAttr {
    oid: String,
    value: NormValue,
}

#[derive(Debug, PartialEq)]
enum NormValue {
    Text(String),
    HexDer(String),
}

fn oid_for(name: &str) -> String {
    let n = name.trim();
    let n = n.strip_prefix("OID.").or_else(|| n.strip_prefix("oid.")).unwrap_or(n);
    if n.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return n.to_owned();
    }
    match n.to_ascii_lowercase().as_str() {
        "cn" | "commonname" => "2.5.4.3",
        "c" | "countryname" => "2.5.4.6",
        "l" | "localityname" => "2.5.4.7",
        "st" | "s" | "stateorprovincename" => "2.5.4.8",
        "street" | "streetaddress" => "2.5.4.9",
        "o" | "organizationname" => "2.5.4.10",
        "ou" | "organizationalunitname" => "2.5.4.11",
        "dc" | "domaincomponent" => "0.9.2342.19200300.100.1.25",
        "uid" | "userid" => "0.9.2342.19200300.100.1.1",
        "organizationidentifier" => "2.5.4.97",
        "serialnumber" => "2.5.4.5",
        "businesscategory" => "2.5.4.15",
        "emailaddress" | "e" => "1.2.840.113549.1.9.1",
        "jurisdictionc" | "jurisdictioncountryname" => "1.3.6.1.4.1.311.60.2.1.3",
        "jurisdictionst" => "1.3.6.1.4.1.311.60.2.1.2",
        "jurisdictionl" => "1.3.6.1.4.1.311.60.2.1.1",
        "sn" | "surname" => "2.5.4.4",
        "gn" | "givenname" => "2.5.4.42",
        "title" => "2.5.4.12",
        "postalcode" => "2.5.4.17",
        other => return other.to_owned(),
    }
    .to_owned()
}

fn fold(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Splits a DN string into attributes (`,`, `;` and `+` separators, RFC 4514 escapes honoured).
fn parse_dn(dn: &str) -> Option<Vec<NormAttr>> {
    let dn = dn.replace("%20", " ");
    let mut parts: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut chars = dn.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cur.push('\\');
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '"' => {
                in_quotes = !in_quotes;
                cur.push(c);
            }
            ',' | ';' | '+' if !in_quotes => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    let mut out = Vec::new();
    for p in parts {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        let (ty, val) = p.split_once('=')?;
        let val = val.trim();
        let value = if let Some(hex) = val.strip_prefix('#') {
            NormValue::HexDer(hex.to_ascii_lowercase())
        } else {
            NormValue::Text(fold(&unescape(val.trim_matches('"'))))
        };
        out.push(NormAttr { oid: oid_for(ty), value });
    }
    Some(out)
}

fn unescape(v: &str) -> String {
    let mut bytes = Vec::with_capacity(v.len());
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(x) => {
                    bytes.push(x);
                    i += 3;
                }
                None => {
                    bytes.push(b[i + 1]);
                    i += 2;
                }
            }
        } else {
            bytes.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn attr_matches(want: &NormAttr, have: &psd2_eidas::name::Attribute) -> bool {
    if want.oid != have.oid {
        return false;
    }
    let der_hex: String = have.value_der.iter().map(|b| format!("{b:02x}")).collect();
    match &want.value {
        NormValue::HexDer(h) => *h == der_hex,
        NormValue::Text(t) => *t == fold(&have.value),
    }
}

/// True when the DN string names `name`, in RFC 4514 order or encoded (OpenSSL) order.
pub fn dn_matches(dn: &str, name: &Name) -> bool {
    let Some(want) = parse_dn(dn) else { return false };
    let have: Vec<&psd2_eidas::name::Attribute> = name.attributes().collect();
    if want.len() != have.len() {
        return false;
    }
    let forward = want.iter().zip(have.iter()).all(|(w, h)| attr_matches(w, h));
    let backward = want.iter().zip(have.iter().rev()).all(|(w, h)| attr_matches(w, h));
    forward || backward
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_key_ids() {
        assert_eq!(
            parse("SN=9FA1,CA=CN=D-TRUST%20CA%202-1%202015,O=D-Trust%20GmbH,C=DE"),
            Some(ParsedKeyId {
                serial: "9FA1".into(),
                ca: Some("CN=D-TRUST%20CA%202-1%202015,O=D-Trust%20GmbH,C=DE".into())
            })
        );
        assert_eq!(parse("SN=5E4299BE"), Some(ParsedKeyId { serial: "5E4299BE".into(), ca: None }));
        assert_eq!(parse("https://x"), None);
        assert_eq!(normal_serial("009FA1").as_deref(), Some("9fa1"));
        assert_eq!(normal_serial("xyz"), None);
    }

    #[test]
    fn exact_string_verdict_needs_the_default_rendering() {
        let pem = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/vectors/psd2-certs/ing-sandbox-example-qsealc.pem"
        ))
        .unwrap();
        let cert = &Certificate::from_pem_or_der(&pem).unwrap()[0];
        let default = KeyIdStyle::default().key_id(cert);
        assert!(exact_string_verdict(&default, cert).is_ok());
        let upper = KeyIdStyle { hex: HexCase::Upper, ..Default::default() }.key_id(cert);
        assert_eq!(exact_string_verdict(&upper, cert), Err(default));
        check_berlin_group(&upper, cert, "Signature").unwrap();
    }

    #[test]
    fn unescapes() {
        assert_eq!(unescape(r"a\,b\2Cc"), "a,b,c");
    }
}
