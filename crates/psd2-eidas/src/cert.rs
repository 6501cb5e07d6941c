//! X.509 certificates: the fields every consumer needs, parsed once.

use aws_lc_rs::digest;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use crate::Error;
use crate::key::PublicKey;
use crate::name::Name;
use crate::psd2::Role;
use crate::qc::{OID_QC_STATEMENTS, QcStatements};

/// A parsed X.509 certificate. Cheap to clone; keeps its DER.
///
/// ```
/// use psd2_eidas::Certificate;
/// let pem = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-certs/rsa/qseal.pem"))?;
/// let certs = Certificate::from_pem_or_der(&pem)?;
/// let qseal = &certs[0];
/// let psd2 = qseal.qc_statements()?.and_then(|qc| qc.psd2).expect("a PSD2 certificate");
/// assert_eq!(psd2.nca_id, "BE-NBB");
/// println!("{} serial {}", qseal.subject(), qseal.serial_hex());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    subject: Name,
    issuer: Name,
    serial: Vec<u8>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    public_key: PublicKey,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Certificate({}, serial {})", self.subject, self.serial_hex())
    }
}

impl Certificate {
    /// Parses one DER certificate (no trailing bytes allowed).
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let (rest, x) = X509Certificate::from_der(der).map_err(|e| Error::Certificate(describe_nom(&e)))?;
        if !rest.is_empty() {
            return Err(Error::Certificate(format!("{} trailing bytes after the certificate", rest.len())));
        }
        let name =
            |raw: &[u8], what: &str| Name::from_der(raw).map_err(|e| Error::Certificate(format!("{what} name: {e}")));
        let public_key = PublicKey::from_spki(x.public_key().raw)?;
        let serial = x.tbs_certificate.raw_serial().to_vec();
        Ok(Self {
            subject: name(x.subject().as_raw(), "subject")?,
            issuer: name(x.issuer().as_raw(), "issuer")?,
            serial,
            not_before: x.validity().not_before.to_datetime(),
            not_after: x.validity().not_after.to_datetime(),
            public_key,
            der: der.to_vec(),
        })
    }

    /// Parses every certificate in PEM text (`CERTIFICATE` blocks; other blocks are skipped) or
    /// one DER certificate.
    pub fn from_pem_or_der(data: &[u8]) -> Result<Vec<Self>, Error> {
        if crate::pem::looks_like_pem(data) {
            let blocks = crate::pem::parse(data)?;
            let certs: Vec<Self> = blocks
                .iter()
                .filter(|b| {
                    b.label == "CERTIFICATE" || b.label == "X509 CERTIFICATE" || b.label == "TRUSTED CERTIFICATE"
                })
                .enumerate()
                .map(|(i, b)| {
                    Self::from_der(&b.der).map_err(|e| match e {
                        Error::Certificate(m) => {
                            Error::Certificate(format!("PEM block at line {} (certificate {}): {m}", b.line, i + 1))
                        }
                        other => other,
                    })
                })
                .collect::<Result<_, _>>()?;
            if certs.is_empty() {
                return Err(Error::NoCertificate);
            }
            Ok(certs)
        } else {
            Ok(vec![Self::from_der(data)?])
        }
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The PEM encoding.
    pub fn to_pem(&self) -> String {
        crate::pem::encode("CERTIFICATE", &self.der)
    }

    /// The subject name.
    pub fn subject(&self) -> &Name {
        &self.subject
    }

    /// The issuer name.
    pub fn issuer(&self) -> &Name {
        &self.issuer
    }

    /// The serial number's DER INTEGER content (with a leading 0 byte when the top bit is set).
    pub fn serial_bytes(&self) -> &[u8] {
        &self.serial
    }

    /// The serial number in lower-case hex without leading zeros (`5e4299be`).
    pub fn serial_hex(&self) -> String {
        let hex: String = self.serial.iter().map(|b| format!("{b:02x}")).collect();
        let trimmed = hex.trim_start_matches('0');
        if trimmed.is_empty() { "0".into() } else { trimmed.into() }
    }

    /// Start of validity.
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    /// End of validity.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// True when `at` lies within the validity period.
    pub fn is_valid_at(&self, at: OffsetDateTime) -> bool {
        self.not_before <= at && at <= self.not_after
    }

    /// `Ok` when `at` lies within the validity period, else an error naming the certificate and
    /// the date it expired (or starts).
    pub fn check_valid_at(&self, at: OffsetDateTime) -> Result<(), Error> {
        let subject = || self.subject.to_display();
        if at > self.not_after {
            return Err(Error::CertificateExpired {
                subject: subject(),
                serial: self.serial_hex(),
                not_after: crate::inspect::rfc3339(self.not_after),
            });
        }
        if at < self.not_before {
            return Err(Error::CertificateNotYetValid {
                subject: subject(),
                serial: self.serial_hex(),
                not_before: crate::inspect::rfc3339(self.not_before),
            });
        }
        Ok(())
    }

    /// The subject public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// SHA-256 over the DER, lower-case hex.
    pub fn fingerprint_sha256(&self) -> String {
        digest::digest(&digest::SHA256, &self.der).as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The decoded qcStatements extension, `None` when the certificate has none.
    pub fn qc_statements(&self) -> Result<Option<QcStatements>, Error> {
        let x = self.parsed()?;
        let Some(ext) = x.extensions().iter().find(|e| e.oid.to_id_string() == OID_QC_STATEMENTS) else {
            return Ok(None);
        };
        QcStatements::from_der(ext.value)
            .map(Some)
            .map_err(|e| Error::Certificate(format!("qcStatements extension: {e}")))
    }

    /// The PSD2 roles the certificate grants ([`Psd2Statement::roles`](crate::Psd2Statement::roles):
    /// by OID, in OID order): empty without a PSD2 statement, an error when the qcStatements
    /// extension cannot be decoded. Every role gate reads roles through this.
    pub fn psd2_roles(&self) -> Result<Vec<Role>, Error> {
        Ok(self.qc_statements()?.and_then(|q| q.psd2).map(|p| p.roles()).unwrap_or_default())
    }

    /// The x509-parser view of the certificate, for fields this type does not expose.
    pub fn parsed(&self) -> Result<X509Certificate<'_>, Error> {
        X509Certificate::from_der(&self.der).map(|(_, x)| x).map_err(|e| Error::Certificate(describe_nom(&e)))
    }
}

fn describe_nom(e: &x509_parser::nom::Err<x509_parser::error::X509Error>) -> String {
    match e {
        x509_parser::nom::Err::Incomplete(_) => "truncated DER".into(),
        x509_parser::nom::Err::Error(e) | x509_parser::nom::Err::Failure(e) => e.to_string(),
    }
}
