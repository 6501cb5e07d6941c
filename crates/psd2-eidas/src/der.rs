//! A minimal, strict DER reader and writer for the few structures this crate handles by hand
//! (qcStatements, PKCS#8 algorithm identifiers, SEC1 curve parameters).
//!
//! x509-parser decodes certificates, but returns qcStatements as an unsupported extension, and
//! real-world PSD2 certificates carry quirks (wrong string types, missing wrappers) that a
//! tolerant hand-written walk reports better than a generated decoder.

use std::fmt::Write as _;

/// Universal tag numbers used in this crate.
pub mod tag {
    /// BOOLEAN
    pub const BOOLEAN: u8 = 0x01;
    /// INTEGER
    pub const INTEGER: u8 = 0x02;
    /// BIT STRING
    pub const BIT_STRING: u8 = 0x03;
    /// OCTET STRING
    pub const OCTET_STRING: u8 = 0x04;
    /// NULL
    pub const NULL: u8 = 0x05;
    /// OBJECT IDENTIFIER
    pub const OID: u8 = 0x06;
    /// UTF8String
    pub const UTF8_STRING: u8 = 0x0c;
    /// PrintableString
    pub const PRINTABLE_STRING: u8 = 0x13;
    /// T61String (TeletexString)
    pub const T61_STRING: u8 = 0x14;
    /// IA5String
    pub const IA5_STRING: u8 = 0x16;
    /// UniversalString
    pub const UNIVERSAL_STRING: u8 = 0x1c;
    /// BMPString
    pub const BMP_STRING: u8 = 0x1e;
    /// VisibleString
    pub const VISIBLE_STRING: u8 = 0x1a;
    /// SEQUENCE (constructed)
    pub const SEQUENCE: u8 = 0x30;
    /// SET (constructed)
    pub const SET: u8 = 0x31;
}

/// Why a DER structure could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DerError {
    /// The input ended inside a tag, length or value.
    #[error("truncated DER")]
    Truncated,
    /// A length form DER does not allow (indefinite, non-minimal or too large).
    #[error("invalid DER length")]
    BadLength,
    /// A multi-byte tag number (not used by any structure read here).
    #[error("unsupported high tag number")]
    HighTag,
    /// A different tag was found than the structure requires.
    #[error("expected {expected}, found tag 0x{found:02x}")]
    UnexpectedTag {
        /// What the structure requires.
        expected: &'static str,
        /// The tag byte found.
        found: u8,
    },
    /// Bytes follow where the structure should have ended.
    #[error("trailing data after {0}")]
    Trailing(&'static str),
    /// A value whose content is malformed (empty INTEGER, bad OID, bad string).
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// One tag-length-value element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The (single-byte) tag.
    pub tag: u8,
    /// The content octets.
    pub value: &'a [u8],
    /// The whole encoding, tag and length included.
    pub raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Reads exactly one element spanning all of `input`.
    pub fn parse_exact(input: &'a [u8], what: &'static str) -> Result<Self, DerError> {
        let mut r = Reader::new(input);
        let tlv = r.read()?;
        if !r.is_empty() {
            return Err(DerError::Trailing(what));
        }
        Ok(tlv)
    }

    /// Checks the tag.
    pub fn expect(self, tag: u8, expected: &'static str) -> Result<Self, DerError> {
        if self.tag == tag { Ok(self) } else { Err(DerError::UnexpectedTag { expected, found: self.tag }) }
    }

    /// A reader over the content (for constructed types).
    pub fn reader(&self) -> Reader<'a> {
        Reader::new(self.value)
    }

    /// The content of an OBJECT IDENTIFIER as dotted text.
    pub fn oid(&self) -> Result<String, DerError> {
        self.expect(tag::OID, "OBJECT IDENTIFIER")?;
        oid_to_string(self.value)
    }

    /// The content of a character string of any of the usual types, with its type name.
    pub fn string(&self) -> Result<(String, &'static str), DerError> {
        let kind = match self.tag {
            tag::UTF8_STRING => "UTF8String",
            tag::PRINTABLE_STRING => "PrintableString",
            tag::IA5_STRING => "IA5String",
            tag::VISIBLE_STRING => "VisibleString",
            tag::T61_STRING => "TeletexString",
            tag::BMP_STRING => {
                if !self.value.len().is_multiple_of(2) {
                    return Err(DerError::Malformed("BMPString"));
                }
                let units: Vec<u16> = self.value.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
                let s = String::from_utf16(&units).map_err(|_| DerError::Malformed("BMPString"))?;
                return Ok((s, "BMPString"));
            }
            found => return Err(DerError::UnexpectedTag { expected: "a character string", found }),
        };
        let s = std::str::from_utf8(self.value).map_err(|_| DerError::Malformed(kind))?;
        Ok((s.to_owned(), kind))
    }

    /// The content of an INTEGER as an i64 (for small counters such as years or exponents).
    pub fn small_int(&self) -> Result<i64, DerError> {
        self.expect(tag::INTEGER, "INTEGER")?;
        let v = self.value;
        if v.is_empty() || v.len() > 8 {
            return Err(DerError::Malformed("INTEGER"));
        }
        let mut n: i64 = if v[0] & 0x80 != 0 { -1 } else { 0 };
        for b in v {
            n = (n << 8) | i64::from(*b);
        }
        Ok(n)
    }
}

/// Sequential reader over concatenated DER elements.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads from `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The tag of the next element, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.data.first().copied()
    }

    /// Reads the next element.
    pub fn read(&mut self) -> Result<Tlv<'a>, DerError> {
        let d = self.data;
        let (&tag, rest) = d.split_first().ok_or(DerError::Truncated)?;
        if tag & 0x1f == 0x1f {
            return Err(DerError::HighTag);
        }
        let (&first, rest) = rest.split_first().ok_or(DerError::Truncated)?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return Err(if rest.len() < n { DerError::Truncated } else { DerError::BadLength });
            }
            let (bytes, rest) = rest.split_at(n);
            if bytes[0] == 0 {
                return Err(DerError::BadLength);
            }
            let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            if len < 0x80 {
                return Err(DerError::BadLength);
            }
            (len, rest)
        };
        if rest.len() < len {
            return Err(DerError::Truncated);
        }
        let header = d.len() - rest.len();
        let (value, rest) = rest.split_at(len);
        self.data = rest;
        Ok(Tlv { tag, value, raw: &d[..header + len] })
    }

    /// Reads the next element and checks its tag.
    pub fn read_tag(&mut self, tag: u8, expected: &'static str) -> Result<Tlv<'a>, DerError> {
        self.read()?.expect(tag, expected)
    }

    /// Reads the next element only when it has the given tag.
    pub fn read_optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(tag) { self.read().map(Some) } else { Ok(None) }
    }
}

/// Decodes OBJECT IDENTIFIER content octets to dotted text.
pub fn oid_to_string(content: &[u8]) -> Result<String, DerError> {
    if content.is_empty() || content.last().is_some_and(|b| b & 0x80 != 0) {
        return Err(DerError::Malformed("OBJECT IDENTIFIER"));
    }
    let mut arcs: Vec<u128> = Vec::new();
    let mut acc: u128 = 0;
    let mut started = false;
    for &b in content {
        if !started && b == 0x80 {
            return Err(DerError::Malformed("OBJECT IDENTIFIER"));
        }
        started = true;
        acc = acc.checked_mul(128).ok_or(DerError::Malformed("OBJECT IDENTIFIER"))? | u128::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(acc);
            acc = 0;
            started = false;
        }
    }
    let first = arcs[0];
    let (a, b) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut s = format!("{a}.{b}");
    for arc in &arcs[1..] {
        let _ = write!(s, ".{arc}");
    }
    Ok(s)
}

/// Encodes dotted OID text to content octets. Returns `None` for text that is not an OID.
pub fn oid_from_string(dotted: &str) -> Option<Vec<u8>> {
    let arcs: Vec<u128> = dotted.split('.').map(|a| a.parse().ok()).collect::<Option<_>>()?;
    if arcs.len() < 2 || arcs[0] > 2 || (arcs[0] < 2 && arcs[1] > 39) {
        return None;
    }
    let mut out = Vec::new();
    let mut push = |mut v: u128| {
        let mut tmp = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            tmp.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        out.extend(tmp.iter().rev());
    };
    push(arcs[0] * 40 + arcs[1]);
    for a in &arcs[2..] {
        push(*a);
    }
    Some(out)
}

/// Writes one DER element: tag, definite minimal length, content.
pub fn write(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// Writes a SEQUENCE of already-encoded elements.
pub fn sequence(parts: &[Vec<u8>]) -> Vec<u8> {
    write(tag::SEQUENCE, &parts.concat())
}

/// Writes an OBJECT IDENTIFIER from dotted text. Panics never: an invalid OID is a caller bug
/// caught by tests, so it returns an empty OID element instead.
pub fn oid(dotted: &str) -> Vec<u8> {
    write(tag::OID, &oid_from_string(dotted).unwrap_or_default())
}

/// Writes an unsigned big-endian magnitude as a positive INTEGER (minimal form).
pub fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let skip = magnitude.iter().take_while(|b| **b == 0).count();
    let m = &magnitude[skip..];
    let mut content = Vec::with_capacity(m.len() + 1);
    if m.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(m);
    write(tag::INTEGER, &content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_round_trip() {
        for s in ["1.3.6.1.5.5.7.1.3", "0.4.0.19495.2", "0.4.0.194121.1.2", "2.5.4.97", "2.999.3"] {
            let enc = oid_from_string(s).unwrap();
            assert_eq!(oid_to_string(&enc).unwrap(), s);
        }
        assert_eq!(oid_from_string("0.4.0.19495.2").unwrap(), [0x04, 0x00, 0x81, 0x98, 0x27, 0x02]);
    }

    #[test]
    fn rejects_bad_lengths() {
        assert_eq!(Reader::new(&[0x30, 0x81, 0x05, 0, 0, 0, 0, 0]).read(), Err(DerError::BadLength));
        assert_eq!(Reader::new(&[0x30, 0x80]).read(), Err(DerError::BadLength));
        assert_eq!(Reader::new(&[0x30, 0x05, 0]).read(), Err(DerError::Truncated));
        assert_eq!(Reader::new(&[0x30]).read(), Err(DerError::Truncated));
    }

    #[test]
    fn integers() {
        assert_eq!(unsigned_integer(&[0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(unsigned_integer(&[0x00, 0x01]), [0x02, 0x01, 0x01]);
        assert_eq!(unsigned_integer(&[]), [0x02, 0x01, 0x00]);
        let long = write(tag::OCTET_STRING, &[0u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }
}
