//! The crate's error type.

use std::path::PathBuf;

use crate::key::{KeyKind, SignatureScheme};

/// Everything that can go wrong loading, inspecting or using certificates and keys.
///
/// Errors about a file are wrapped in [`Error::File`], whose message starts with the path; the
/// other variants describe the problem itself. Messages never contain a password, PIN or key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A problem with the named file.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: Box<Error>,
    },
    /// The path does not exist.
    #[error("no such file")]
    NotFound,
    /// The path is a directory.
    #[error("is a directory, not a file")]
    IsDirectory,
    /// The file is empty.
    #[error("file is empty")]
    Empty,
    /// Not a regular file: a FIFO, device or socket could block or never end.
    #[error("is a {0}, not a regular file: files are read whole, and a {0} could block or never end")]
    NotRegularFile(&'static str),
    /// Larger than the cap for its kind of file.
    #[error("is larger than {limit} bytes, the most a {what} may be")]
    TooLarge {
        /// The cap in bytes.
        limit: u64,
        /// The kind of file ("certificate or key file", "secret file"…).
        what: &'static str,
    },
    /// A secret file (password or PIN) that cannot be used.
    #[error("secret file: {0}")]
    SecretFile(String),
    /// Reading failed.
    #[error("cannot read: {0}")]
    Io(#[source] std::io::Error),
    /// Broken PEM text.
    #[error(transparent)]
    Pem(#[from] crate::pem::PemError),
    /// Neither PEM nor any DER structure we know.
    #[error("not a PEM or DER certificate, private key or PKCS#12 file")]
    Unrecognized,
    /// A PEM block whose label we do not handle.
    #[error(
        "unsupported PEM block '{0}' (expected CERTIFICATE, PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY or ENCRYPTED PRIVATE KEY)"
    )]
    UnsupportedPem(String),
    /// DER that ends early or has bytes after its end.
    #[error("malformed DER: {0}")]
    MalformedDer(&'static str),
    /// A certificate that does not parse.
    #[error("invalid X.509 certificate: {0}")]
    Certificate(String),
    /// The key or PKCS#12 file is encrypted and no password was given.
    #[error("{what} is encrypted and no password was given")]
    PasswordRequired {
        /// What is encrypted ("PKCS#12 file", "private key").
        what: &'static str,
    },
    /// The password does not open the file.
    #[error("wrong password for the {what}")]
    WrongPassword {
        /// What could not be opened ("PKCS#12 file", "encrypted private key").
        what: &'static str,
    },
    /// A PKCS#12 file that cannot be read for another reason.
    #[error("cannot read PKCS#12: {0}")]
    Pkcs12(String),
    /// A legacy OpenSSL-encrypted PEM key (`Proc-Type: 4,ENCRYPTED`).
    #[error(
        "legacy OpenSSL-encrypted PEM key is not supported; convert it with `openssl pkcs8 -topk8 -in KEY -out KEY.p8` (PBES2)"
    )]
    LegacyEncryptedPem,
    /// The file holds no private key where one is needed.
    #[error("contains no private key")]
    NoPrivateKey,
    /// The file holds no certificate where one is needed.
    #[error("contains no certificate")]
    NoCertificate,
    /// The certificate's validity ended before the time it is used at.
    #[error("certificate {subject} (serial {serial}) expired on {not_after}")]
    CertificateExpired {
        /// The subject, readable.
        subject: String,
        /// The serial, hex.
        serial: String,
        /// notAfter, RFC 3339.
        not_after: String,
    },
    /// The certificate's validity starts after the time it is used at.
    #[error("certificate {subject} (serial {serial}) is not valid before {not_before}")]
    CertificateNotYetValid {
        /// The subject, readable.
        subject: String,
        /// The serial, hex.
        serial: String,
        /// notBefore, RFC 3339.
        not_before: String,
    },
    /// The private key does not belong to the certificate.
    #[error("the private key ({key}) does not match the certificate {cert} (their public keys differ)")]
    KeyMismatch {
        /// The key's description.
        key: String,
        /// The certificate's subject.
        cert: String,
    },
    /// A key type or size outside what the tool supports.
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// A key whose encoding is broken or rejected by the crypto library.
    #[error("invalid private key: {0}")]
    InvalidKey(String),
    /// A signature scheme the key cannot produce or verify.
    #[error("signature scheme {scheme} does not fit a {key} key")]
    SchemeMismatch {
        /// The scheme asked for.
        scheme: SignatureScheme,
        /// The key's kind.
        key: KeyKind,
    },
    /// A signature that does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// A public key too weak to trust a signature from (an RSA key below 2048 bits).
    #[error("an {key} key is refused: the minimum is {minimum}")]
    WeakKey {
        /// The key's kind and size.
        key: KeyKind,
        /// What is accepted.
        minimum: &'static str,
    },
    /// A signing operation failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// A key reference this build cannot resolve.
    #[error("{0}")]
    UnsupportedReference(String),
    /// A PKCS#11 URI that cannot be used.
    #[error("PKCS#11 URI: {0}")]
    Pkcs11Uri(String),
    /// A PKCS#11 URI carrying the PIN itself (`pin-value`): refused, since a URI ends up on
    /// command lines, in shell history, process listings and logs. The PIN is not kept.
    #[error(
        "PKCS#11 URI: 'pin-value' is refused: a PIN in a URI shows in process listings, shell history and logs; name a file holding it with 'pin-source=file:<path>' instead"
    )]
    PinInUri,
    /// The PKCS#11 module is missing or fails to load.
    #[error("PKCS#11 module{}: {reason}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Pkcs11Module {
        /// The module path, when one was given.
        path: Option<PathBuf>,
        /// What went wrong.
        reason: String,
    },
    /// No token matches the URI.
    #[error("no PKCS#11 token with {wanted} (tokens present: {})", if available.is_empty() { "none".to_owned() } else { available.join(", ") })]
    TokenNotFound {
        /// What the URI asked for.
        wanted: String,
        /// Labels of the tokens present.
        available: Vec<String>,
    },
    /// The token needs a PIN and none was given.
    #[error(
        "PKCS#11 {token} needs a PIN and none was given (pin-source=file:... in the URI, or a PIN from the caller)"
    )]
    PinRequired {
        /// The token.
        token: String,
    },
    /// The PIN was refused.
    #[error("wrong PIN for PKCS#11 token '{token}'{warning}")]
    PinIncorrect {
        /// The token label.
        token: String,
        /// The token's lock warning, if it reports one.
        warning: String,
    },
    /// The PIN is locked.
    #[error("the PIN of PKCS#11 token '{token}' is locked")]
    PinLocked {
        /// The token label.
        token: String,
    },
    /// No key (or certificate) matches the URI on the token.
    #[error("no {wanted} on PKCS#11 token '{token}'")]
    KeyNotFound {
        /// What the URI asked for.
        wanted: String,
        /// The token label.
        token: String,
    },
    /// The token cannot do this signature scheme.
    #[error("PKCS#11 token '{token}' supports no mechanism for {scheme}")]
    MechanismUnsupported {
        /// The scheme asked for.
        scheme: SignatureScheme,
        /// The token label.
        token: String,
    },
    /// A PKCS#11 call failed.
    #[error("PKCS#11 {function} failed: {code}")]
    Pkcs11 {
        /// The PKCS#11 function.
        function: String,
        /// What the token (or the PKCS#11 layer) reported.
        code: Pkcs11Code,
    },
    /// A PSD2 role name or OID we do not know.
    #[error("unknown PSD2 role '{}' (expected PSP_AS, PSP_PI, PSP_AI or PSP_IC)", .0.escape_debug())]
    UnknownRole(String),
    /// An organizationIdentifier that is not `PSD<CC>-<NCA>-<id>` (or another EN 319 412-1 form).
    #[error("invalid organizationIdentifier '{}': {reason}", value.escape_debug())]
    OrganizationIdentifier {
        /// The value given.
        value: String,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// Wraps this error with the file it concerns.
    pub fn in_file(self, path: impl Into<PathBuf>) -> Self {
        Error::File { path: path.into(), source: Box::new(self) }
    }

    /// The innermost error, without file context (for matching on the kind of problem).
    pub fn root(&self) -> &Error {
        match self {
            Error::File { source, .. } => source.root(),
            other => other,
        }
    }
}

/// What a failed PKCS#11 call reported: the return values the crate acts on by name, any
/// other `CKR_` value by its name, or a failure below the token (loading, a lock).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pkcs11Code {
    /// `CKR_OBJECT_HANDLE_INVALID`: the object went away (re-found by label).
    ObjectHandleInvalid,
    /// `CKR_SESSION_HANDLE_INVALID`.
    SessionHandleInvalid,
    /// `CKR_SESSION_CLOSED`.
    SessionClosed,
    /// `CKR_USER_NOT_LOGGED_IN`.
    UserNotLoggedIn,
    /// `CKR_DEVICE_REMOVED`: the token was unplugged.
    DeviceRemoved,
    /// `CKR_DEVICE_ERROR`.
    DeviceError,
    /// `CKR_TOKEN_NOT_PRESENT`.
    TokenNotPresent,
    /// `CKR_MECHANISM_INVALID`: the token does not do this signature scheme.
    MechanismInvalid,
    /// Another `CKR_` value, by name (e.g. `CKR_KEY_TYPE_INCONSISTENT`).
    Other(String),
    /// Not a token answer: the PKCS#11 library layer or a lock failed.
    Library(String),
}

impl std::fmt::Display for Pkcs11Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Pkcs11Code::ObjectHandleInvalid => "CKR_OBJECT_HANDLE_INVALID",
            Pkcs11Code::SessionHandleInvalid => "CKR_SESSION_HANDLE_INVALID",
            Pkcs11Code::SessionClosed => "CKR_SESSION_CLOSED",
            Pkcs11Code::UserNotLoggedIn => "CKR_USER_NOT_LOGGED_IN",
            Pkcs11Code::DeviceRemoved => "CKR_DEVICE_REMOVED",
            Pkcs11Code::DeviceError => "CKR_DEVICE_ERROR",
            Pkcs11Code::TokenNotPresent => "CKR_TOKEN_NOT_PRESENT",
            Pkcs11Code::MechanismInvalid => "CKR_MECHANISM_INVALID",
            Pkcs11Code::Other(name) | Pkcs11Code::Library(name) => name,
        })
    }
}
