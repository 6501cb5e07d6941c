//! The crate's error type: one variant per reason a request cannot be signed or is refused.

/// Everything that can go wrong signing or verifying a request.
///
/// Verification failures name the header concerned and what mismatched, so that the message can
/// be shown as is to the person who has to fix the request. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A header the profile or the signature needs is absent from the message.
    #[error("missing header {header}: {why}")]
    MissingHeader {
        /// The header name as the profile spells it.
        header: String,
        /// Why it is needed.
        why: String,
    },
    /// A header whose value is not UTF-8 text or cannot be carried in HTTP.
    #[error("header {header}: {why}")]
    InvalidHeaderValue {
        /// The header name.
        header: String,
        /// What is wrong with it.
        why: String,
    },
    /// A `Signature`/`Authorization`/`Signature-Input` value that does not parse.
    #[error("malformed {header} header: {why}")]
    Malformed {
        /// The header name.
        header: String,
        /// What is wrong with it.
        why: String,
    },
    /// A required signature parameter (`keyId`, `signature`, `created`…) is absent.
    #[error("{header} header: missing parameter {param}")]
    MissingParameter {
        /// The header name.
        header: String,
        /// The parameter.
        param: String,
    },
    /// A signature or digest value that is not valid Base64.
    #[error("{header} header: {what} is not valid Base64")]
    NotBase64 {
        /// The header name.
        header: String,
        /// Which value ("signature", "SHA-256 digest"…).
        what: String,
    },
    /// An algorithm name this crate does not know or does not implement.
    #[error("{header} header: unsupported algorithm '{algorithm}'")]
    UnknownAlgorithm {
        /// The header name.
        header: String,
        /// The algorithm as written.
        algorithm: String,
    },
    /// The declared algorithm does not fit the certificate's key.
    #[error("{header} header: algorithm '{algorithm}' does not fit the certificate's {key} key")]
    AlgorithmMismatch {
        /// The header name.
        header: String,
        /// The declared algorithm.
        algorithm: String,
        /// The key kind of the certificate.
        key: String,
    },
    /// A digest header whose algorithms are all unknown (`MD5`, `UNIXsum`…).
    #[error("{header} header: no supported digest algorithm in '{value}' (expected SHA-256 or SHA-512)")]
    UnsupportedDigest {
        /// `Digest` or `Content-Digest`.
        header: String,
        /// The header value.
        value: String,
    },
    /// The body does not hash to the value in the digest header.
    #[error("{header} header: {algorithm} digest mismatch: the body hashes to {computed}, the header says {declared}")]
    DigestMismatch {
        /// `Digest` or `Content-Digest`.
        header: String,
        /// The digest algorithm.
        algorithm: String,
        /// Base64 of the digest of the body received.
        computed: String,
        /// Base64 value found in the header.
        declared: String,
    },
    /// A header the profile requires to be signed is not in the signed header list.
    #[error("{header} header: '{component}' must be signed under profile {profile} but is not in {list}")]
    NotCovered {
        /// The signature header (`Signature`, `Signature-Input`).
        header: String,
        /// The header or component that should have been covered.
        component: String,
        /// The profile's name.
        profile: String,
        /// What was covered.
        list: String,
    },
    /// The signature does not verify with the certificate's key over the rebuilt signing string.
    #[error(
        "{header} header: signature does not verify with the key of {certificate} ({algorithm}); \
         the request (method, URL or a signed header) differs from what was signed, or another key signed it"
    )]
    BadSignature {
        /// The signature header.
        header: String,
        /// The algorithm used to check.
        algorithm: String,
        /// The certificate (subject and serial) or key used.
        certificate: String,
    },
    /// The signer's key is too weak to trust (an RSA key below 2048 bits), whatever the signature.
    #[error("{header} header: the key of {certificate} is refused: {why}")]
    WeakKey {
        /// The signature header.
        header: String,
        /// The certificate (subject and serial) or key.
        certificate: String,
        /// The key and the minimum accepted.
        why: String,
    },
    /// A header that must appear once appears several times: a bank refuses an ambiguous seal.
    #[error("header {header} appears {count} times: a sealed request carries it once")]
    DuplicateHeader {
        /// The header name.
        header: String,
        /// How many field lines (or, for RFC 9421, signatures with the same label) were found.
        count: usize,
    },
    /// The signer's certificate is not what the profile requires (eIDAS content, CA flag).
    #[error("certificate {certificate} cannot seal under profile {profile}: {why}")]
    NotASealCertificate {
        /// The certificate (subject and serial).
        certificate: String,
        /// The profile.
        profile: String,
        /// What is missing or wrong.
        why: String,
    },
    /// The keyId's serial number is not the certificate's.
    #[error("{header} header: keyId serial {key_id_serial} does not match the certificate serial {cert_serial}")]
    KeyIdSerialMismatch {
        /// The signature header.
        header: String,
        /// The serial in the keyId.
        key_id_serial: String,
        /// The certificate's serial (lower-case hex).
        cert_serial: String,
    },
    /// The keyId's `CA=` name is not the certificate's issuer.
    #[error("{header} header: keyId CA '{key_id_ca}' does not match the certificate issuer '{issuer}'")]
    KeyIdIssuerMismatch {
        /// The signature header.
        header: String,
        /// The `CA=` part of the keyId.
        key_id_ca: String,
        /// The certificate's issuer (RFC 4514).
        issuer: String,
    },
    /// The keyId is not what was expected (a fixed keyId, a fingerprint URL…).
    #[error("{header} header: keyId '{key_id}' does not match: {why}")]
    KeyIdMismatch {
        /// The signature header.
        header: String,
        /// The keyId found.
        key_id: String,
        /// What was expected.
        why: String,
    },
    /// No certificate to verify with: none given and none in the request.
    #[error("no certificate to verify with: {0}")]
    MissingCertificate(String),
    /// The certificate in the request is not the one the verifier was told to expect.
    #[error("{header} header: the certificate sent ({sent}) is not the expected certificate ({expected})")]
    CertificateMismatch {
        /// Usually `TPP-Signature-Certificate`.
        header: String,
        /// Subject and serial of the certificate in the header.
        sent: String,
        /// Subject and serial of the expected certificate.
        expected: String,
    },
    /// A certificate (in a header or given) that cannot be used.
    #[error("{header}: {why}")]
    BadCertificate {
        /// Where the certificate came from.
        header: String,
        /// What is wrong.
        why: String,
    },
    /// A time header or parameter that does not parse.
    #[error("{header}: '{value}' is not a valid {expected}")]
    BadTime {
        /// `Date`, `created`, `expires`.
        header: String,
        /// The value.
        value: String,
        /// The expected form.
        expected: String,
    },
    /// `Date`/`created` lies outside the accepted clock-skew window.
    #[error("{header} {value} is {offset} from the verifier's clock ({now}); more than the allowed {skew}")]
    OutsideWindow {
        /// `Date` or `created`.
        header: String,
        /// The value found.
        value: String,
        /// How far off, e.g. `7m 3s in the past`.
        offset: String,
        /// The verifier's time.
        now: String,
        /// The window, e.g. `5m`.
        skew: String,
    },
    /// The signature's `expires` time has passed.
    #[error("{header}: signature expired at {expires} (now {now})")]
    Expired {
        /// The signature header.
        header: String,
        /// The expiry (Unix time).
        expires: i64,
        /// The verifier's time (Unix time).
        now: i64,
    },
    /// The Belfius PIS `Signature` payload is not the body sent.
    #[error("Signature header: the signed payload ({signed} bytes) is not the request body ({body} bytes)")]
    PayloadMismatch {
        /// Length of the payload in the signature.
        signed: usize,
        /// Length of the body.
        body: usize,
    },
    /// A derived component or parameter this crate does not support (`@status` on a request…).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The request URL cannot be used (no path, no authority where one is needed…).
    #[error("URL '{url}': {why}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        why: String,
    },
    /// A profile name that does not exist.
    #[error(
        "unknown profile '{0}' (expected berlin-group, belfius-pis, belfius-fallback, stet, ing, ing-call, rfc9421)"
    )]
    UnknownProfile(String),
    /// A value a profile needs from the caller (the STET certificate URL, the ING client id).
    #[error("profile {profile} needs {what}")]
    NeedsValue {
        /// The profile.
        profile: String,
        /// What is needed.
        what: String,
    },
    /// A signing option that would sign something else than meant (see [`SignOptions`](crate::SignOptions)).
    #[error("{why}")]
    InvalidOption {
        /// The [`SignOptions`](crate::SignOptions) field (`key_id`, `extra_covered`, `expires_in`).
        option: &'static str,
        /// What is wrong.
        why: String,
    },
    /// The key or certificate could not sign or be read.
    #[error(transparent)]
    Key(#[from] psd2_eidas::Error),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn malformed(header: &str, why: impl Into<String>) -> Error {
    Error::Malformed { header: header.to_owned(), why: why.into() }
}

/// The error for a failed public-key check: [`Error::WeakKey`] when the key itself was refused,
/// `otherwise()` (a bad signature) for anything else.
pub(crate) fn key_refused(
    e: psd2_eidas::Error,
    header: &str,
    certificate: &str,
    otherwise: impl FnOnce() -> Error,
) -> Error {
    match e {
        psd2_eidas::Error::WeakKey { .. } => {
            Error::WeakKey { header: header.into(), certificate: certificate.into(), why: e.to_string() }
        }
        _ => otherwise(),
    }
}
