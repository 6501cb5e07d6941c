//! RFC 7512 PKCS#11 URIs.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::Error;

/// What an attribute value we write leaves unescaped: the RFC 3986 unreserved characters
/// (RFC 7512 §2.3 allows more, but `;`, `?`, `&`, `=` and `%` must never appear raw in a label).
const VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A parsed `pkcs11:` URI. Only the attributes this tool uses are kept; a token is chosen by
/// label, serial, manufacturer or model — never by slot number (slot ids are not stable).
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct Pkcs11Uri {
    /// `token=`: the token label.
    pub token: Option<String>,
    /// `serial=`: the token serial number.
    pub serial: Option<String>,
    /// `manufacturer=`.
    pub manufacturer: Option<String>,
    /// `model=`.
    pub model: Option<String>,
    /// `object=`: the object label (CKA_LABEL).
    pub object: Option<String>,
    /// `id=`: the object id (CKA_ID), percent-decoded bytes.
    pub id: Option<Vec<u8>>,
    /// `type=`: `private`, `public`, `cert`…
    pub object_type: Option<String>,
    /// `?module-path=`: the PKCS#11 module to load.
    pub module_path: Option<String>,
    /// `?pin-source=`: where to read the PIN (`file:/path` or a path).
    pub pin_source: Option<String>,
    /// `?pin-value=`: the PIN itself (discouraged; never printed).
    pub pin_value: Option<crate::Secret>,
}

impl std::fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Uri")
            .field("token", &self.token)
            .field("serial", &self.serial)
            .field("object", &self.object)
            .field("id", &self.id.as_ref().map(|i| hex(i)))
            .field("type", &self.object_type)
            .field("module_path", &self.module_path)
            .finish_non_exhaustive()
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn pct_decode(s: &str, attr: &str) -> Result<Vec<u8>, Error> {
    // The decoder passes a malformed escape (`%zz`, a trailing `%`) through: refuse it first.
    let well_formed =
        s.split('%').skip(1).all(|t| t.as_bytes().get(..2).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)));
    if !well_formed {
        return Err(Error::Pkcs11Uri(format!("bad percent-encoding in '{attr}'")));
    }
    Ok(percent_decode_str(s).collect())
}

/// The URI of one token object, as `hsm list` prints it: the labels percent-encoded (a label
/// `a;object=b` must not add an attribute), every byte of the id as `%xx`.
pub(crate) fn object_uri(token: &str, object: &str, id: &[u8], object_type: &str) -> String {
    let mut uri =
        format!("pkcs11:token={};object={}", utf8_percent_encode(token, VALUE), utf8_percent_encode(object, VALUE));
    if !id.is_empty() {
        uri.push_str(";id=");
        uri.extend(id.iter().map(|b| format!("%{b:02x}")));
    }
    uri.push_str(";type=");
    uri.push_str(object_type);
    uri
}

fn text(s: &str, attr: &str) -> Result<String, Error> {
    String::from_utf8(pct_decode(s, attr)?).map_err(|_| Error::Pkcs11Uri(format!("'{attr}' is not UTF-8")))
}

impl Pkcs11Uri {
    /// Parses `pkcs11:path-attributes[?query-attributes]`.
    pub fn parse(uri: &str) -> Result<Self, Error> {
        let rest =
            uri.strip_prefix("pkcs11:").ok_or_else(|| Error::Pkcs11Uri("does not start with 'pkcs11:'".into()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut u = Pkcs11Uri::default();
        for part in path.split(';').filter(|p| !p.is_empty()) {
            let (k, v) =
                part.split_once('=').ok_or_else(|| Error::Pkcs11Uri(format!("attribute '{part}' has no '='")))?;
            match k {
                "token" => u.token = Some(text(v, k)?),
                "serial" => u.serial = Some(text(v, k)?),
                "manufacturer" => u.manufacturer = Some(text(v, k)?),
                "model" => u.model = Some(text(v, k)?),
                "object" => u.object = Some(text(v, k)?),
                "id" => u.id = Some(pct_decode(v, k)?),
                "type" => u.object_type = Some(text(v, k)?),
                "slot-id" | "slot-description" | "slot-manufacturer" => {
                    return Err(Error::Pkcs11Uri(format!(
                        "'{k}' is not supported: slot ids change between runs; select the token by 'token=' (label) or 'serial='"
                    )));
                }
                "library-manufacturer" | "library-description" | "library-version" => {}
                other => return Err(Error::Pkcs11Uri(format!("unknown path attribute '{other}'"))),
            }
        }
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                Error::Pkcs11Uri(format!("query attribute '{}' has no '='", part.split('=').next().unwrap_or("")))
            })?;
            match k {
                "module-path" => u.module_path = Some(text(v, k)?),
                "pin-source" => u.pin_source = Some(text(v, k)?),
                "pin-value" => u.pin_value = Some(crate::Secret::new(text(v, k)?)),
                "module-name" => {}
                other => return Err(Error::Pkcs11Uri(format!("unknown query attribute '{other}'"))),
            }
        }
        if u.token.is_none() && u.serial.is_none() {
            return Err(Error::Pkcs11Uri("name the token with 'token=<label>' or 'serial=<serial>'".into()));
        }
        Ok(u)
    }

    /// The token part of [`describe`](Self::describe).
    pub fn describe_token(&self) -> String {
        match (&self.token, &self.serial) {
            (Some(t), Some(s)) => format!("token '{t}', serial {s}"),
            (Some(t), None) => format!("token '{t}'"),
            (None, Some(s)) => format!("serial {s}"),
            (None, None) => "any token".into(),
        }
    }

    /// A description for messages (no PIN).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = &self.token {
            parts.push(format!("token '{t}'"));
        }
        if let Some(s) = &self.serial {
            parts.push(format!("serial {s}"));
        }
        if let Some(o) = &self.object {
            parts.push(format!("object '{o}'"));
        }
        if let Some(i) = &self.id {
            parts.push(format!("id {}", hex(i)));
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc7512_examples() {
        let u = Pkcs11Uri::parse("pkcs11:token=psd2%20test;object=qseal;id=%01%ab;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin").unwrap();
        assert_eq!(u.token.as_deref(), Some("psd2 test"));
        assert_eq!(u.object.as_deref(), Some("qseal"));
        assert_eq!(u.id.as_deref(), Some(&[0x01, 0xab][..]));
        assert_eq!(u.module_path.as_deref(), Some("/usr/lib/softhsm/libsofthsm2.so"));
        assert_eq!(u.pin_source.as_deref(), Some("file:/run/pin"));
        assert!(Pkcs11Uri::parse("pkcs11:slot-id=3;object=x").unwrap_err().to_string().contains("slot"));
        assert!(Pkcs11Uri::parse("pkcs11:object=x").is_err());
        assert!(Pkcs11Uri::parse("pkcs11:token=a;id=%zz").is_err());
        let secret = Pkcs11Uri::parse("pkcs11:token=a?pin-value=1234").unwrap();
        assert!(!format!("{secret:?}").contains("1234"));
    }

    #[test]
    fn built_uris_parse_back() {
        let (token, label) = ("psd2 test", "a;object=b?pin-value=1&x=%41 é");
        let uri = object_uri(token, label, &[0x01, 0xab], "private");
        assert_eq!(
            uri,
            "pkcs11:token=psd2%20test;object=a%3Bobject%3Db%3Fpin-value%3D1%26x%3D%2541%20%C3%A9;id=%01%ab;type=private"
        );
        let u = Pkcs11Uri::parse(&uri).unwrap();
        assert_eq!(u.token.as_deref(), Some(token));
        assert_eq!(u.object.as_deref(), Some(label));
        assert_eq!(u.id.as_deref(), Some(&[0x01, 0xab][..]));
        assert_eq!(u.object_type.as_deref(), Some("private"));
        assert!(u.pin_value.is_none());
        assert_eq!(object_uri("t", "k-1_2.3~", &[], "cert"), "pkcs11:token=t;object=k-1_2.3~;type=cert");
        for bad in ["%", "%4", "a%g1", "%+1"] {
            assert!(Pkcs11Uri::parse(&format!("pkcs11:token={bad}")).is_err(), "{bad}");
        }
    }
}
