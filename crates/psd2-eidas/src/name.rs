//! X.501 distinguished names, kept as they are encoded so that every rendering a bank's verifier
//! might compare against (RFC 4514, OpenSSL one-line, Java's RFC 2253) can be produced.

use std::fmt::Write as _;

use crate::der::{DerError, Tlv, tag};

/// One attribute of a name: type, value and the value's DER encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute type OID, dotted (`2.5.4.3`).
    pub oid: String,
    /// The decoded value (for string types), else the empty string.
    pub value: String,
    /// The full DER encoding of the value (tag, length, content).
    pub value_der: Vec<u8>,
}

impl Attribute {
    /// The RFC 4514 short name when one is registered (`CN`, `C`, `O`…), else `None`.
    pub fn rfc4514_name(&self) -> Option<&'static str> {
        Some(match self.oid.as_str() {
            "2.5.4.3" => "CN",
            "2.5.4.6" => "C",
            "2.5.4.7" => "L",
            "2.5.4.8" => "ST",
            "2.5.4.9" => "STREET",
            "2.5.4.10" => "O",
            "2.5.4.11" => "OU",
            "0.9.2342.19200300.100.1.25" => "DC",
            "0.9.2342.19200300.100.1.1" => "UID",
            _ => return None,
        })
    }

    /// A readable name: the RFC 4514 short name, else the usual long name
    /// (`organizationIdentifier`, `serialNumber`…), else the dotted OID.
    pub fn display_name(&self) -> String {
        if let Some(n) = self.rfc4514_name() {
            return n.to_owned();
        }
        match self.oid.as_str() {
            "2.5.4.97" => "organizationIdentifier",
            "2.5.4.5" => "serialNumber",
            "2.5.4.15" => "businessCategory",
            "1.3.6.1.4.1.311.60.2.1.3" => "jurisdictionC",
            "1.3.6.1.4.1.311.60.2.1.2" => "jurisdictionST",
            "1.3.6.1.4.1.311.60.2.1.1" => "jurisdictionL",
            "1.2.840.113549.1.9.1" => "emailAddress",
            "2.5.4.4" => "SN",
            "2.5.4.42" => "GN",
            "2.5.4.12" => "title",
            "2.5.4.17" => "postalCode",
            other => other,
        }
        .to_owned()
    }
}

/// A relative distinguished name: usually one attribute, occasionally several (`+`).
pub type Rdn = Vec<Attribute>;

/// A distinguished name in encoded order (most general first, as in the certificate).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Name {
    /// The RDNs in encoded order.
    pub rdns: Vec<Rdn>,
    /// The DER encoding of the whole name.
    pub der: Vec<u8>,
}

impl Name {
    /// Parses a DER `Name` (SEQUENCE OF SET OF AttributeTypeAndValue).
    pub fn from_der(der: &[u8]) -> Result<Self, DerError> {
        let seq = Tlv::parse_exact(der, "Name")?.expect(tag::SEQUENCE, "Name")?;
        let mut rdns = Vec::new();
        let mut r = seq.reader();
        while !r.is_empty() {
            let set = r.read_tag(tag::SET, "RelativeDistinguishedName")?;
            let mut sr = set.reader();
            let mut rdn = Vec::new();
            while !sr.is_empty() {
                let atv = sr.read_tag(tag::SEQUENCE, "AttributeTypeAndValue")?;
                let mut ar = atv.reader();
                let oid = ar.read()?.oid()?;
                let value = ar.read()?;
                let text = value.string().map(|(s, _)| s).unwrap_or_default();
                rdn.push(Attribute { oid, value: text, value_der: value.raw.to_vec() });
            }
            rdns.push(rdn);
        }
        Ok(Self { rdns, der: der.to_vec() })
    }

    /// All attributes in encoded order.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.rdns.iter().flatten()
    }

    /// The first value of the attribute with this OID.
    pub fn get(&self, oid: &str) -> Option<&str> {
        self.attributes().find(|a| a.oid == oid).map(|a| a.value.as_str())
    }

    /// RFC 4514 string: most specific RDN first, `,` separators, RFC 4514 escaping; attributes
    /// without a registered short name as `OID=#hex` of the DER value (RFC 4514 §2.4).
    pub fn to_rfc4514(&self) -> String {
        let mut out = String::new();
        for (i, rdn) in self.rdns.iter().rev().enumerate() {
            if i > 0 {
                out.push(',');
            }
            for (j, a) in rdn.iter().enumerate() {
                if j > 0 {
                    out.push('+');
                }
                match a.rfc4514_name() {
                    Some(n) => {
                        out.push_str(n);
                        out.push('=');
                        out.push_str(&escape_rfc4514(&a.value));
                    }
                    None => {
                        out.push_str(&a.oid);
                        out.push_str("=#");
                        for b in &a.value_der {
                            let _ = write!(out, "{b:02x}");
                        }
                    }
                }
            }
        }
        out
    }

    /// Readable one-line form in encoded order, `C=BE, O=Example, organizationIdentifier=…, CN=…`
    /// (values unescaped; for display, not for comparison).
    pub fn to_display(&self) -> String {
        self.rdns
            .iter()
            .map(|rdn| rdn.iter().map(|a| format!("{}={}", a.display_name(), a.value)).collect::<Vec<_>>().join(" + "))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_display())
    }
}

/// Escapes a value per RFC 4514 §2.4.
pub fn escape_rfc4514(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let n = v.chars().count();
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
            || (i == 0 && (c == '#' || c == ' '))
            || (i + 1 == n && c == ' ');
        if special {
            out.push('\\');
        }
        if c == '\0' {
            out.push_str("\\00");
        } else {
            out.push(c);
        }
    }
    out
}
