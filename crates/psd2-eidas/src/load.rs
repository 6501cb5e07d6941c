//! Reading certificates and private keys from files: PEM or DER, certificates and bundles,
//! PKCS#8 / PKCS#1 / SEC1 keys (PKCS#8 also encrypted, PBES2), and PKCS#12 files (OpenSSL 3
//! default AES-256-CBC/PBKDF2 and legacy 3DES/RC2-40).
//!
//! The format is recognised from the content, not the file name.
//!
//! What was read is reported through `tracing` (target `psd2_eidas::load`): an info event per
//! file or buffer (where from, container format, number of certificates, key type) and a debug
//! event per certificate (subject, serial). Never key bytes or passwords.

use std::path::Path;

use zeroize::Zeroizing;

use crate::Error;
use crate::cert::Certificate;
use crate::der::{Tlv, tag};
use crate::file_key::{FileKey, KeyFormat};
use crate::key::Signer as _;
use crate::secret::Secret;

/// What a file held.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Loaded {
    /// Certificates in file order (for PKCS#12: the key's certificate first).
    pub certificates: Vec<Certificate>,
    /// The private key, if the file held one.
    pub key: Option<FileKey>,
}

/// Reads a file of any supported format. Errors name the file.
///
/// ```no_run
/// use psd2_eidas::{load, Secret};
/// let loaded = load::load_file("qseal.p12".as_ref(), Some(&Secret::new("changeit")))?;
/// println!("{} certificates, key: {}", loaded.certificates.len(), loaded.key.is_some());
/// # Ok::<(), psd2_eidas::Error>(())
/// ```
pub fn load_file(path: &Path, password: Option<&Secret>) -> Result<Loaded, Error> {
    read_file(path)
        .and_then(|data| load_bytes(&data, &path.display().to_string(), password))
        .map_err(|e| e.in_file(path))
}

/// Reads every certificate in a file (PEM bundle, DER, or PKCS#12 with a password).
pub fn load_certificates(path: &Path, password: Option<&Secret>) -> Result<Vec<Certificate>, Error> {
    let loaded = load_file(path, password)?;
    if loaded.certificates.is_empty() {
        return Err(Error::NoCertificate.in_file(path));
    }
    Ok(loaded.certificates)
}

/// Reads the private key in a file.
pub fn load_key(path: &Path, password: Option<&Secret>) -> Result<FileKey, Error> {
    load_file(path, password)?.key.ok_or_else(|| Error::NoPrivateKey.in_file(path))
}

pub(crate) fn io_error(e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound,
        std::io::ErrorKind::IsADirectory => Error::IsDirectory,
        _ => Error::Io(e),
    }
}

/// The most a certificate, key, secret or token file may hold: 1 MiB (a PKCS#12 with a long
/// chain is a few KiB).
pub const MAX_FILE_SIZE: u64 = 1 << 20;

/// Reads a whole regular file of at most `limit` bytes; `what` names the kind of file in the
/// error. A directory, FIFO, device or socket is refused without blocking (the file is opened
/// with `O_NONBLOCK` and checked with `fstat` before anything is read), and a file that grows
/// past `limit` while being read is refused too. The bytes are zeroized when dropped. Errors
/// do not name the file: wrap them with the path where it is known.
///
/// ```
/// let e = psd2_eidas::load::read_limited("/dev/zero".as_ref(), 1 << 20, "certificate file").unwrap_err();
/// assert_eq!(e.to_string(), "is a character device, not a regular file: files are read whole, and a character device could block or never end");
/// ```
pub fn read_limited(path: &Path, limit: u64, what: &'static str) -> Result<Zeroizing<Vec<u8>>, Error> {
    use std::io::Read as _;
    let file = open_nonblocking(path).map_err(io_error)?;
    let meta = file.metadata().map_err(io_error)?;
    let ft = meta.file_type();
    if ft.is_dir() {
        return Err(Error::IsDirectory);
    }
    if !ft.is_file() {
        return Err(Error::NotRegularFile(file_kind(&ft)));
    }
    if meta.len() > limit {
        return Err(Error::TooLarge { limit, what });
    }
    let mut data = Zeroizing::new(Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0)));
    file.take(limit + 1).read_to_end(&mut data).map_err(io_error)?;
    if data.len() as u64 > limit {
        return Err(Error::TooLarge { limit, what });
    }
    Ok(data)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty())?;
    Ok(std::fs::File::from(fd))
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}

fn file_kind(ft: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if ft.is_fifo() {
            return "FIFO";
        }
        if ft.is_char_device() {
            return "character device";
        }
        if ft.is_block_device() {
            return "block device";
        }
        if ft.is_socket() {
            return "socket";
        }
    }
    let _ = ft;
    "special file"
}

fn read_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, Error> {
    let data = read_limited(path, MAX_FILE_SIZE, "certificate or key file")?;
    if data.is_empty() {
        return Err(Error::Empty);
    }
    Ok(data)
}

/// Recognises and decodes in-memory file content. `origin` names it in key descriptions.
pub fn load_bytes(data: &[u8], origin: &str, password: Option<&Secret>) -> Result<Loaded, Error> {
    if data.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::Empty);
    }
    let (loaded, format) = if crate::pem::looks_like_pem(data) {
        (load_pem(data, origin, password)?, "PEM")
    } else {
        load_der(data, origin, password)?
    };
    report(&loaded, origin, format);
    Ok(loaded)
}

/// The diagnostics of one successful load: what, never key material.
fn report(loaded: &Loaded, origin: &str, format: &'static str) {
    let key = loaded.key.as_ref().map(|k| k.public_key().kind().to_string());
    let content = match (loaded.certificates.len(), &key) {
        (0, None) => "nothing",
        (0, Some(_)) => "private key",
        (1, None) => "certificate",
        (_, None) => "certificates",
        (1, Some(_)) => "private key and certificate",
        (_, Some(_)) => "private key and certificates",
    };
    tracing::info!(
        file = origin,
        format,
        content,
        certificates = loaded.certificates.len(),
        key = key.as_deref().unwrap_or("none"),
        "loaded"
    );
    for (i, c) in loaded.certificates.iter().enumerate() {
        let (subject, serial) = (c.subject().to_display(), c.serial_hex());
        tracing::debug!(file = origin, index = i, subject, serial, "certificate");
    }
}

fn load_pem(data: &[u8], origin: &str, password: Option<&Secret>) -> Result<Loaded, Error> {
    let mut out = Loaded::default();
    let mut unsupported = None;
    for block in crate::pem::parse(data)? {
        let key = match block.label.as_str() {
            "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => {
                let cert = Certificate::from_der(&block.der).map_err(|e| match e {
                    Error::Certificate(m) => Error::Certificate(format!("PEM block at line {}: {m}", block.line)),
                    other => other,
                })?;
                out.certificates.push(cert);
                None
            }
            _ if block.legacy_encrypted => return Err(Error::LegacyEncryptedPem),
            "PRIVATE KEY" => Some(FileKey::from_der(&block.der, KeyFormat::Pkcs8, origin)?),
            "RSA PRIVATE KEY" => Some(FileKey::from_der(&block.der, KeyFormat::Pkcs1, origin)?),
            "EC PRIVATE KEY" => Some(FileKey::from_der(&block.der, KeyFormat::Sec1, origin)?),
            "ENCRYPTED PRIVATE KEY" => Some(decrypt_pkcs8(&block.der, origin, password)?),
            // Harmless companions: `openssl ecparam -genkey` writes EC PARAMETERS; bundles may
            // carry public keys or CRLs.
            "EC PARAMETERS"
            | "PUBLIC KEY"
            | "RSA PUBLIC KEY"
            | "X509 CRL"
            | "CERTIFICATE REQUEST"
            | "NEW CERTIFICATE REQUEST" => None,
            other => {
                unsupported.get_or_insert_with(|| other.to_owned());
                None
            }
        };
        if let Some(key) = key {
            if out.key.is_some() {
                return Err(Error::InvalidKey("more than one private key in the file".into()));
            }
            out.key = Some(key);
        }
    }
    if out.key.is_none() && out.certificates.is_empty() {
        return Err(match unsupported {
            Some(label) => Error::UnsupportedPem(label),
            None => Error::Unrecognized,
        });
    }
    Ok(out)
}

const OID_PKCS7_DATA: &str = "1.2.840.113549.1.7.1";
const OID_PBES2: &str = "1.2.840.113549.1.5.13";

/// Decodes DER content; also returns the container format, for the diagnostics.
fn load_der(data: &[u8], origin: &str, password: Option<&Secret>) -> Result<(Loaded, &'static str), Error> {
    let top = match Tlv::parse_exact(data, "file") {
        Ok(t) if t.tag == tag::SEQUENCE => t,
        Ok(_) => return Err(Error::Unrecognized),
        Err(crate::der::DerError::Truncated) if data.first() == Some(&tag::SEQUENCE) => {
            return Err(Error::MalformedDer("truncated: the file ends inside the structure"));
        }
        Err(crate::der::DerError::Trailing(_)) if data.first() == Some(&tag::SEQUENCE) => {
            return Err(Error::MalformedDer("trailing bytes after the structure"));
        }
        Err(_) => return Err(Error::Unrecognized),
    };
    let mut r = top.reader();
    let first = r.read().ok();
    let second = r.read().ok();
    match (first, second) {
        // PFX: version 3, authSafe ContentInfo (data)
        (Some(v), Some(ci)) if v.tag == tag::INTEGER && v.value == [3] && ci.tag == tag::SEQUENCE => {
            let is_data = ci.reader().read().ok().and_then(|t| t.oid().ok()).as_deref() == Some(OID_PKCS7_DATA);
            if is_data {
                return Ok((load_pkcs12(data, origin, password)?, "PKCS#12"));
            }
            Err(Error::Unrecognized)
        }
        // EncryptedPrivateKeyInfo: AlgorithmIdentifier, OCTET STRING
        (Some(alg), Some(oct)) if alg.tag == tag::SEQUENCE && oct.tag == tag::OCTET_STRING => {
            let oid = alg.reader().read().ok().and_then(|t| t.oid().ok());
            if oid.as_deref() == Some(OID_PBES2) {
                let key = decrypt_pkcs8(data, origin, password)?;
                Ok((Loaded { certificates: vec![], key: Some(key) }, "DER (encrypted PKCS#8)"))
            } else {
                Err(Error::Unrecognized)
            }
        }
        // Certificate: tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE, BIT STRING
        (Some(tbs), Some(alg)) if tbs.tag == tag::SEQUENCE && alg.tag == tag::SEQUENCE => {
            Ok((Loaded { certificates: vec![Certificate::from_der(data)?], key: None }, "DER"))
        }
        // PKCS#8 / PKCS#1 / SEC1 all start with an INTEGER version.
        (Some(v), _) if v.tag == tag::INTEGER => {
            Ok((Loaded { certificates: vec![], key: Some(FileKey::from_der_any(data, origin)?) }, "DER"))
        }
        _ => Err(Error::Unrecognized),
    }
}

fn decrypt_pkcs8(der: &[u8], origin: &str, password: Option<&Secret>) -> Result<FileKey, Error> {
    let what = "encrypted private key";
    let password = password.ok_or(Error::PasswordRequired { what: "private key" })?;
    let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der)
        .map_err(|e| Error::InvalidKey(format!("malformed encrypted PKCS#8 key: {e}")))?;
    let doc = info.decrypt(password.expose().as_bytes()).map_err(|e| match e {
        pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::DecryptFailed) => Error::WrongPassword { what },
        pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::UnsupportedAlgorithm { .. }) => {
            Error::UnsupportedKey("encryption scheme of the PKCS#8 key (PBES2 with AES-CBC or 3DES expected)".into())
        }
        other => Error::InvalidKey(format!("cannot decrypt: {other}")),
    })?;
    // A wrong password yields valid padding now and then; the key then fails to parse.
    FileKey::from_der(doc.as_bytes(), KeyFormat::Pkcs8, origin).map_err(|_| Error::WrongPassword { what })
}

fn load_pkcs12(data: &[u8], origin: &str, password: Option<&Secret>) -> Result<Loaded, Error> {
    use p12_keystore::error::Error as P12;
    let what = "PKCS#12 file";
    // Some tools write PKCS#12 files with an empty password: try that when none was given.
    let archive = p12_keystore::Pkcs12Archive::from_pkcs12(data, password.map_or("", Secret::expose)).map_err(|e| {
        // A MAC failure means a wrong password; without a MAC it shows up as bad padding.
        let bad_password = matches!(e, P12::MacError(_) | P12::UnpadError | P12::Pkcs5Error(_));
        match e {
            _ if bad_password && password.is_none() => Error::PasswordRequired { what },
            _ if bad_password => Error::WrongPassword { what },
            P12::UnsupportedEncryptionScheme => Error::Pkcs12("unsupported encryption scheme".into()),
            P12::UnsupportedMacAlgorithm => Error::Pkcs12("unsupported MAC algorithm".into()),
            other => Error::Pkcs12(other.to_string()),
        }
    })?;
    if archive.keys.len() > 1 {
        return Err(Error::Pkcs12(format!("{} private keys in one file; keep one per file", archive.keys.len())));
    }
    let key = archive.keys.first().map(|k| FileKey::from_der(k.key.as_der(), KeyFormat::Pkcs8, origin)).transpose()?;
    let certificates =
        archive.certs.iter().map(|c| Certificate::from_der(c.cert.as_der())).collect::<Result<Vec<_>, _>>()?;
    Ok(Loaded { certificates, key })
}
