//! RFC 7512 PKCS#11 URIs.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::Error;

/// What a path attribute value we write leaves unescaped: the RFC 3986 unreserved characters,
/// the part of RFC 7512's `pk11-pchar` that is safe everywhere. Escaping more than the RFC asks
/// is always allowed (§2.3); here it keeps `;`, `?`, `=`, `&`, `%`, `/` and the shell's
/// metacharacters (`$`, `!`, `'`, `(`, `)`, `*`) out of a URI the user copies into a shell.
const PATH_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A query attribute value additionally keeps `/` and `:` (both in `pk11-qchar`), so
/// `module-path=/usr/lib/…` and `pin-source=file:/run/pin` stay readable.
const QUERY_VALUE: &AsciiSet = &PATH_VALUE.remove(b'/').remove(b':');

/// The RFC 7512 `type=` values (PKCS#11 object classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ObjectType {
    /// `private`: a private key.
    Private,
    /// `public`: a public key.
    Public,
    /// `cert`: a certificate.
    Cert,
    /// `secret-key`: a symmetric key.
    SecretKey,
    /// `data`: a data object.
    Data,
}

impl ObjectType {
    /// Every value, in RFC 7512 order.
    pub const ALL: [ObjectType; 5] =
        [ObjectType::Public, ObjectType::Private, ObjectType::Cert, ObjectType::SecretKey, ObjectType::Data];

    /// The value as a URI spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::Private => "private",
            ObjectType::Public => "public",
            ObjectType::Cert => "cert",
            ObjectType::SecretKey => "secret-key",
            ObjectType::Data => "data",
        }
    }

    /// What the value names, for messages.
    fn noun(self) -> &'static str {
        match self {
            ObjectType::Private => "a private key",
            ObjectType::Public => "a public key",
            ObjectType::Cert => "a certificate",
            ObjectType::SecretKey => "a secret key",
            ObjectType::Data => "a data object",
        }
    }
}

impl std::fmt::Display for ObjectType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ObjectType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        ObjectType::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            let allowed: Vec<&str> = ObjectType::ALL.iter().map(|t| t.as_str()).collect();
            Error::Pkcs11Uri(format!(
                "unknown 'type' value '{}' (RFC 7512 allows {})",
                s.escape_debug(),
                allowed.join(", ")
            ))
        })
    }
}

/// A parsed `pkcs11:` URI. Only the attributes this tool uses are kept; a token is chosen by
/// label, serial, manufacturer or model — never by slot number (slot ids are not stable).
///
/// [`Display`](std::fmt::Display) writes it back with every value percent-encoded, so a label
/// such as `a;object=b` stays one label: `parse(&uri.to_string())` gives the same attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
    /// `type=`: the object class.
    pub object_type: Option<ObjectType>,
    /// `?module-path=`: the PKCS#11 module to load.
    pub module_path: Option<String>,
    /// `?pin-source=`: where to read the PIN (`file:/path` or a path). A `pin-value` (the PIN
    /// itself) is refused by [`parse`](Self::parse).
    pub pin_source: Option<String>,
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

fn text(s: &str, attr: &str) -> Result<String, Error> {
    String::from_utf8(pct_decode(s, attr)?).map_err(|_| Error::Pkcs11Uri(format!("'{attr}' is not UTF-8")))
}

/// The `name=value` pairs of the path (`sep` `;`) or query (`&`) component. Refused: a pair
/// without `=`, a name given twice (RFC 7512 §2.3: an attribute appears at most once in the
/// path; a repeated query attribute would name two modules or PIN sources), and `pin-value`
/// however it is written — without repeating the PIN.
fn attributes<'a>(component: &'a str, sep: char, what: &str) -> Result<Vec<(&'a str, &'a str)>, Error> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for part in component.split(sep).filter(|p| !p.is_empty()) {
        if part.starts_with("pin-value") {
            return Err(Error::PinInUri);
        }
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| Error::Pkcs11Uri(format!("{what} attribute '{}' has no '='", part.escape_debug())))?;
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(Error::Pkcs11Uri(format!("attribute '{}' is given twice", k.escape_debug())));
        }
        out.push((k, v));
    }
    Ok(out)
}

impl Pkcs11Uri {
    /// The URI of one token object, as `hsm list` prints it (no module, no PIN).
    pub(crate) fn for_object(token: &str, object: &str, id: &[u8], object_type: ObjectType) -> Self {
        Pkcs11Uri {
            token: Some(token.to_owned()),
            object: Some(object.to_owned()),
            id: (!id.is_empty()).then(|| id.to_vec()),
            object_type: Some(object_type),
            ..Default::default()
        }
    }

    /// Parses `pkcs11:path-attributes[?query-attributes]`.
    ///
    /// Refused: attributes RFC 7512 does not define (named in the message), an attribute given
    /// twice, a `type` outside the RFC's values, slot attributes (slot ids are not stable), and
    /// `pin-value` ([`Error::PinInUri`]: a PIN does not belong in a URI).
    pub fn parse(uri: &str) -> Result<Self, Error> {
        let rest =
            uri.strip_prefix("pkcs11:").ok_or_else(|| Error::Pkcs11Uri("does not start with 'pkcs11:'".into()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut u = Pkcs11Uri::default();
        for (k, v) in attributes(path, ';', "path")? {
            match k {
                "token" => u.token = Some(text(v, k)?),
                "serial" => u.serial = Some(text(v, k)?),
                "manufacturer" => u.manufacturer = Some(text(v, k)?),
                "model" => u.model = Some(text(v, k)?),
                "object" => u.object = Some(text(v, k)?),
                "id" => u.id = Some(pct_decode(v, k)?),
                "type" => u.object_type = Some(text(v, k)?.parse()?),
                "slot-id" | "slot-description" | "slot-manufacturer" => {
                    return Err(Error::Pkcs11Uri(format!(
                        "'{k}' is not supported: slot ids change between runs; select the token by 'token=' (label) or 'serial='"
                    )));
                }
                // They describe the module, which module-path (or the caller) chooses.
                "library-manufacturer" | "library-description" | "library-version" => {}
                other => {
                    return Err(Error::Pkcs11Uri(format!("unknown path attribute '{}'", other.escape_debug())));
                }
            }
        }
        for (k, v) in attributes(query, '&', "query")? {
            match k {
                "module-path" => u.module_path = Some(text(v, k)?),
                "pin-source" => u.pin_source = Some(text(v, k)?),
                // Ignored: the module is chosen by module-path or the caller's configuration.
                "module-name" => {}
                other => {
                    return Err(Error::Pkcs11Uri(format!("unknown query attribute '{}'", other.escape_debug())));
                }
            }
        }
        if u.token.is_none() && u.serial.is_none() {
            return Err(Error::Pkcs11Uri("name the token with 'token=<label>' or 'serial=<serial>'".into()));
        }
        Ok(u)
    }

    /// Refuses a `type=` other than `wanted` (no type is fine): `what` is the reference's role
    /// in the message, e.g. "a key reference".
    pub(crate) fn require_type(&self, wanted: ObjectType, what: &str) -> Result<(), Error> {
        match self.object_type {
            Some(t) if t != wanted => Err(Error::Pkcs11Uri(format!(
                "'type={t}' names {}, but {what} needs {}: use 'type={wanted}' or leave 'type' out",
                t.noun(),
                wanted.noun()
            ))),
            _ => Ok(()),
        }
    }

    /// The token part of [`describe`](Self::describe).
    pub fn describe_token(&self) -> String {
        match (&self.token, &self.serial) {
            (Some(t), Some(s)) => format!("token '{}', serial {}", t.escape_debug(), s.escape_debug()),
            (Some(t), None) => format!("token '{}'", t.escape_debug()),
            (None, Some(s)) => format!("serial {}", s.escape_debug()),
            (None, None) => "any token".into(),
        }
    }

    /// The object part of [`describe`](Self::describe): `object '…', id …`.
    pub fn describe_object(&self) -> String {
        let mut parts = Vec::new();
        if let Some(o) = &self.object {
            parts.push(format!("object '{}'", o.escape_debug()));
        }
        if let Some(i) = &self.id {
            parts.push(format!("id {}", hex(i)));
        }
        parts.join(", ")
    }

    /// A description for messages (no PIN; control characters escaped).
    pub fn describe(&self) -> String {
        let object = self.describe_object();
        match (self.token.is_some() || self.serial.is_some(), object.is_empty()) {
            (true, false) => format!("{}, {object}", self.describe_token()),
            (true, true) => self.describe_token(),
            (false, _) => object,
        }
    }
}

impl std::fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("pkcs11:")?;
        let mut sep = "";
        let mut path = |f: &mut std::fmt::Formatter<'_>, name: &str, value: &dyn std::fmt::Display| {
            let r = write!(f, "{sep}{name}={value}");
            sep = ";";
            r
        };
        let texts = [
            ("token", &self.token),
            ("serial", &self.serial),
            ("manufacturer", &self.manufacturer),
            ("model", &self.model),
            ("object", &self.object),
        ];
        for (name, value) in texts {
            if let Some(v) = value {
                path(f, name, &utf8_percent_encode(v, PATH_VALUE))?;
            }
        }
        if let Some(id) = &self.id {
            // Every byte as %xx: an id is binary.
            path(f, "id", &id.iter().map(|b| format!("%{b:02x}")).collect::<String>())?;
        }
        if let Some(t) = self.object_type {
            path(f, "type", &t)?;
        }
        let mut sep = '?';
        for (name, value) in [("module-path", &self.module_path), ("pin-source", &self.pin_source)] {
            if let Some(v) = value {
                write!(f, "{sep}{name}={}", utf8_percent_encode(v, QUERY_VALUE))?;
                sep = '&';
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(uri: &str) -> String {
        Pkcs11Uri::parse(uri).unwrap_err().to_string()
    }

    #[test]
    fn parses_rfc7512_examples() {
        let u = Pkcs11Uri::parse("pkcs11:token=psd2%20test;object=qseal;id=%01%ab;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin").unwrap();
        assert_eq!(u.token.as_deref(), Some("psd2 test"));
        assert_eq!(u.object.as_deref(), Some("qseal"));
        assert_eq!(u.id.as_deref(), Some(&[0x01, 0xab][..]));
        assert_eq!(u.object_type, Some(ObjectType::Private));
        assert_eq!(u.module_path.as_deref(), Some("/usr/lib/softhsm/libsofthsm2.so"));
        assert_eq!(u.pin_source.as_deref(), Some("file:/run/pin"));
        // RFC 7512 §3 examples: raw '=' and '&' are pchars of a path value.
        let u = Pkcs11Uri::parse("pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert;library-version=1;library-manufacturer=Snake%20Oil,%20Inc.?module-name=mypkcs11").unwrap();
        assert_eq!(u.token.as_deref(), Some("A name with a substring %;"));
        assert_eq!(u.object_type, Some(ObjectType::Cert));
        assert_eq!(Pkcs11Uri::parse("pkcs11:token=a=b&c").unwrap().token.as_deref(), Some("a=b&c"));
        for t in ObjectType::ALL {
            assert_eq!(Pkcs11Uri::parse(&format!("pkcs11:token=a;type={t}")).unwrap().object_type, Some(t));
        }
        assert!(refused("pkcs11:slot-id=3;object=x").contains("slot"));
        assert!(refused("pkcs11:object=x").contains("name the token"));
        assert!(refused("pkcs11:token=a;id=%zz").contains("bad percent-encoding in 'id'"));
    }

    #[test]
    fn refuses_what_rfc7512_does_not_define() {
        assert_eq!(
            refused("pkcs11:token=a;type=key"),
            "PKCS#11 URI: unknown 'type' value 'key' (RFC 7512 allows public, private, cert, secret-key, data)"
        );
        assert!(refused("pkcs11:token=a;type=Private").contains("'Private'"));
        assert!(refused("pkcs11:token=a;type=%0a").contains("'\\n'"));
        assert_eq!(refused("pkcs11:token=a;label=x"), "PKCS#11 URI: unknown path attribute 'label'");
        assert_eq!(refused("pkcs11:token=a;x-vendor=1"), "PKCS#11 URI: unknown path attribute 'x-vendor'");
        assert_eq!(refused("pkcs11:token=a;ob\x1bject=1"), "PKCS#11 URI: unknown path attribute 'ob\\u{1b}ject'");
        assert_eq!(refused("pkcs11:token=a?module=x"), "PKCS#11 URI: unknown query attribute 'module'");
        // A path attribute in the query and the other way round.
        assert_eq!(refused("pkcs11:token=a?object=x"), "PKCS#11 URI: unknown query attribute 'object'");
        assert_eq!(refused("pkcs11:token=a;module-path=/m.so"), "PKCS#11 URI: unknown path attribute 'module-path'");
        assert_eq!(refused("pkcs11:token=a;object"), "PKCS#11 URI: path attribute 'object' has no '='");
        assert_eq!(refused("pkcs11:token=a;token=b"), "PKCS#11 URI: attribute 'token' is given twice");
        assert_eq!(
            refused("pkcs11:token=a?module-path=/a&module-path=/b"),
            "PKCS#11 URI: attribute 'module-path' is given twice"
        );
        // module-name and the library attributes describe the module: accepted, not used.
        assert!(Pkcs11Uri::parse("pkcs11:token=a;library-description=x?module-name=softhsm2").is_ok());
    }

    #[test]
    fn a_pin_in_the_uri_is_refused_without_repeating_it() {
        for uri in [
            "pkcs11:token=a?pin-value=s3cr3t",
            "pkcs11:token=a?module-path=/m.so&pin-value=s3cr3t",
            "pkcs11:token=a?pin-source=file:/p&pin-value=s3cr3t",
            "pkcs11:token=a;pin-value=s3cr3t",
            "pkcs11:token=a?pin-values3cr3t",
            "pkcs11:pin-value=s3cr3t",
        ] {
            let e = Pkcs11Uri::parse(uri).unwrap_err();
            assert!(matches!(e, Error::PinInUri), "{uri}: {e}");
            let msg = e.to_string();
            assert!(msg.contains("pin-source=file:") && !msg.contains("s3cr3t"), "{msg}");
        }
    }

    #[test]
    fn built_uris_parse_back() {
        let (token, label) = ("psd2 test", "a;object=b?pin-value=1&x=%41 é/c");
        let uri = Pkcs11Uri::for_object(token, label, &[0x01, 0xab], ObjectType::Private).to_string();
        assert_eq!(
            uri,
            "pkcs11:token=psd2%20test;object=a%3Bobject%3Db%3Fpin-value%3D1%26x%3D%2541%20%C3%A9%2Fc;id=%01%ab;type=private"
        );
        let u = Pkcs11Uri::parse(&uri).unwrap();
        assert_eq!(u.token.as_deref(), Some(token));
        assert_eq!(u.object.as_deref(), Some(label));
        assert_eq!(u.id.as_deref(), Some(&[0x01, 0xab][..]));
        assert_eq!(u.object_type, Some(ObjectType::Private));
        assert_eq!(
            Pkcs11Uri::for_object("t", "k-1_2.3~", &[], ObjectType::Cert).to_string(),
            "pkcs11:token=t;object=k-1_2.3~;type=cert"
        );
        // Every attribute, with the characters that structure a URI and the shell's.
        let nasty = "a b;c=d%e/f?g&h'i$j(k)*!\u{7f}\t\"é";
        let mut all = Pkcs11Uri::for_object(nasty, nasty, &[0, 0x25, 0xff], ObjectType::SecretKey);
        all.serial = Some(nasty.into());
        all.manufacturer = Some(nasty.into());
        all.model = Some(nasty.into());
        all.module_path = Some(format!("/opt/my lib/{nasty}.so"));
        all.pin_source = Some(format!("file:/run/{nasty}"));
        let written = all.to_string();
        assert!(!written.contains(' ') && !written.contains('\'') && !written.contains('$'), "{written}");
        assert!(
            written.contains("?module-path=/opt/my%20lib/") && written.contains("&pin-source=file:/run/"),
            "{written}"
        );
        assert_eq!(Pkcs11Uri::parse(&written).unwrap(), all);
        for bad in ["%", "%4", "a%g1", "%+1"] {
            assert!(Pkcs11Uri::parse(&format!("pkcs11:token={bad}")).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_reference_of_the_wrong_type_is_refused() {
        let u = Pkcs11Uri::parse("pkcs11:token=t;object=k;type=cert").unwrap();
        assert_eq!(
            u.require_type(ObjectType::Private, "a key reference").unwrap_err().to_string(),
            "PKCS#11 URI: 'type=cert' names a certificate, but a key reference needs a private key: use 'type=private' or leave 'type' out"
        );
        assert!(u.require_type(ObjectType::Cert, "a certificate reference").is_ok());
        assert!(Pkcs11Uri::parse("pkcs11:token=t").unwrap().require_type(ObjectType::Private, "x").is_ok());
    }
}
