//! The crate's error type.

use std::path::PathBuf;

use time::OffsetDateTime;

/// Everything that can go wrong creating the test CA, issuing, revoking or making requests.
///
/// Messages are one line, name the file or the input concerned, and never contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A certificate, key or identifier problem reported by `psd2-eidas`.
    #[error(transparent)]
    Eidas(#[from] psd2_eidas::Error),
    /// An input value that the profile does not allow.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The input (`organizationIdentifier`, `domain`, `--days`…).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An output file exists and overwriting was not asked for.
    #[error("{}: already exists (refusing to overwrite)", .0.display())]
    Exists(PathBuf),
    /// The directory is not a test CA made by [`crate::CertificateAuthority::init`].
    #[error("{}: not a test CA directory ({reason})", path.display())]
    NotACa {
        /// The directory.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line of a CA database file (`DIR/db/NAME.issued`, `DIR/db/NAME.revoked`) that does not
    /// parse: nothing is read past it, so no revocation is silently dropped.
    #[error("{}: line {line}: {reason}", path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What is wrong (values quoted with control characters escaped).
        reason: String,
    },
    /// Another process holds the CA database lock for too long.
    #[error("{}: the CA database is locked by another process (gave up waiting)", .0.display())]
    Locked(PathBuf),
    /// An output path that names a directory where a file (or file prefix) is wanted.
    #[error("{}: is a directory; a file path is wanted", .0.display())]
    IsADirectory(PathBuf),
    /// The root CA certificate given for revocation: the trust anchor cannot be revoked by itself.
    #[error(
        "refusing to revoke the root CA certificate (serial {0}): it is the trust anchor of this CA; create a new CA instead"
    )]
    RevokeRoot(String),
    /// The certificate asked for would be valid after its issuing CA expires.
    #[error(
        "a certificate valid for {days} days would expire {}, after its issuing CA {ca} expires ({}); {}",
        date(not_after),
        date(ca_not_after),
        max_days_hint(*max_days)
    )]
    OutlivesIssuer {
        /// The validity asked for, in days.
        days: u32,
        /// The notAfter the certificate would have.
        not_after: OffsetDateTime,
        /// The issuing CA (`qwac-ca`, `qseal-ca`).
        ca: &'static str,
        /// The issuing CA's notAfter.
        ca_not_after: OffsetDateTime,
        /// The longest validity still possible, in days (0 or less: the CA has expired).
        max_days: i64,
    },
    /// A certificate signing request that cannot be used.
    #[error("certificate request: {0}")]
    Csr(String),
    /// A certificate given for revocation that this CA did not issue.
    #[error("the certificate {0} was not issued by this CA")]
    NotIssuedHere(String),
    /// The signing key (a file or token key) failed while signing a certificate, request or
    /// CRL; the key's own error is the source.
    #[error("cannot sign the {what}: {source}")]
    Sign {
        /// What was being signed.
        what: &'static str,
        /// The signer's error (e.g. a token that went away, a PIN that expired).
        #[source]
        source: psd2_eidas::Error,
    },
    /// The publication server (`serve` feature) cannot listen on the address.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Encoding or signing a certificate, request or CRL failed.
    #[error("cannot generate {what}: {reason}")]
    Generate {
        /// What was being generated.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
}

/// `2026-11-26 10:00:00 UTC`.
pub(crate) fn date(t: &OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn max_days_hint(max_days: i64) -> String {
    if max_days >= 1 { format!("at most {max_days} days are possible") } else { "it can issue nothing more".into() }
}

impl Error {
    pub(crate) fn input(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput { field, reason: reason.into() }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// An rcgen failure; when it was the signing key's, its own error becomes the source.
    pub(crate) fn generate(what: &'static str) -> impl FnOnce(rcgen::Error) -> Self {
        move |e| match (&e, crate::key::take_signer_error()) {
            (rcgen::Error::RemoteKeyError, Some(source)) => Error::Sign { what, source },
            _ => Error::Generate { what, reason: e.to_string() },
        }
    }
}
