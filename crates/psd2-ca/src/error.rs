//! The crate's error type.

use std::path::PathBuf;

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
    /// Encoding or signing a certificate, request or CRL failed.
    #[error("cannot generate {what}: {reason}")]
    Generate {
        /// What was being generated.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
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
