//! Revocation: the revocation database of each CA and the CRLs it signs, written where the
//! certificates' CRL distribution point URLs point inside the CA directory.

use std::path::PathBuf;

use psd2_eidas::Certificate;
use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::Error;
use crate::authority::{CaEntry, CertificateAuthority};
use crate::db;
use crate::issue::hex;
use crate::profile::CertKind;
use crate::store::{OutFile, ROOT, write_files};

/// How long the CRL of an issuing CA is valid (nextUpdate − thisUpdate): the Baseline
/// Requirements allow at most 10 days for CRLs covering subscriber certificates.
pub const CRL_VALIDITY_DAYS: i64 = 7;
/// How long the root's CRL (an ARL, covering CA certificates) is valid: at most 12 months.
pub const ARL_VALIDITY_DAYS: i64 = 365;

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// Serial number, lower-case hex.
    pub serial_hex: String,
    /// When it was revoked.
    pub revoked_at: OffsetDateTime,
}

/// What [`CertificateAuthority::revoke`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Revoked {
    /// The issuing CA that issued the certificate (`qwac-ca`, `qseal-ca` or `root-ca`).
    pub ca: &'static str,
    /// The serial number, lower-case hex.
    pub serial_hex: String,
    /// False when the certificate was already revoked (nothing changed).
    pub newly_revoked: bool,
    /// The CRL files written.
    pub crl_files: Vec<PathBuf>,
}

/// The octets of a serial the database parser accepted (even-length hex).
fn unhex(s: &str) -> Result<Vec<u8>, Error> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| Error::Generate { what: "CRL", reason: format!("serial number '{s}' is not hex") })
}

/// The serial of a certificate without DER sign padding, lower-case hex.
fn serial_of(cert: &Certificate) -> String {
    let b = cert.serial_bytes();
    let skip = b.iter().take_while(|x| **x == 0).count().min(b.len().saturating_sub(1));
    hex(&b[skip..])
}

impl CertificateAuthority {
    fn entries(&self) -> [&CaEntry; 3] {
        [&self.root, &self.qwac, &self.qseal]
    }

    /// Which of this PKI's CAs signed `cert` (issuer name and signature checked).
    fn issuer_of(&self, cert: &Certificate) -> Result<&CaEntry, Error> {
        let (_, x) = X509Certificate::from_der(cert.der())
            .map_err(|e| Error::NotIssuedHere(format!("{} (unparsable: {e})", cert.subject())))?;
        for entry in self.entries() {
            let (_, ca) = X509Certificate::from_der(entry.cert.der())
                .map_err(|e| Error::Generate { what: "CA certificate", reason: e.to_string() })?;
            if x.issuer().as_raw() == ca.subject().as_raw() && x.verify_signature(Some(ca.public_key())).is_ok() {
                return Ok(entry);
            }
        }
        Err(Error::NotIssuedHere(format!("{} (serial {})", cert.subject(), serial_of(cert))))
    }

    /// The revocations recorded for the CA issuing `kind`.
    pub fn revocations(&self, kind: CertKind) -> Result<Vec<Revocation>, Error> {
        self.revocations_of(self.issuing(kind).name)
    }

    fn revocations_of(&self, name: &str) -> Result<Vec<Revocation>, Error> {
        db::read_revoked(&self.layout.revoked_db(name))
    }

    /// Revokes a certificate this PKI issued and rewrites the CRL of its CA. The root CA's own
    /// certificate is refused ([`Error::RevokeRoot`]): nothing above it could publish that.
    pub fn revoke(&self, cert: &Certificate) -> Result<Revoked, Error> {
        let now = OffsetDateTime::now_utc();
        let entry = self.issuer_of(cert)?;
        let serial_hex = serial_of(cert);
        if entry.name == ROOT && (cert.der() == self.root.cert.der() || serial_hex == serial_of(&self.root.cert)) {
            return Err(Error::RevokeRoot(serial_hex));
        }
        let _lock = db::lock(&self.layout.db_dir())?;
        let already = self.revocations_of(entry.name)?.iter().any(|r| r.serial_hex == serial_hex);
        if !already {
            let r = Revocation { serial_hex: serial_hex.clone(), revoked_at: now.replace_nanosecond(0).unwrap_or(now) };
            db::add_revoked(&self.layout.revoked_db(entry.name), &r, &cert.subject().to_string())?;
        }
        let crl_files = self.write_crl(entry, now)?;
        Ok(Revoked { ca: entry.name, serial_hex, newly_revoked: !already, crl_files })
    }

    /// Signs and writes the CRLs of all three CAs (DER at the distribution point path, and PEM
    /// next to it). Returns the files written.
    pub fn write_crls(&self) -> Result<Vec<PathBuf>, Error> {
        let now = OffsetDateTime::now_utc();
        let _lock = db::lock(&self.layout.db_dir())?;
        let mut out = Vec::new();
        for e in self.entries() {
            out.extend(self.write_crl(e, now)?);
        }
        Ok(out)
    }

    /// The DER CRL of the CA issuing `kind`, as of `now`.
    pub fn crl_der(&self, kind: CertKind, now: OffsetDateTime) -> Result<Vec<u8>, Error> {
        self.sign_crl(self.issuing(kind), now)
    }

    /// The freshly signed DER CRL of CA `name` (`root-ca`, `qwac-ca`, `qseal-ca`) as of `now`;
    /// `None` for another name.
    #[cfg_attr(not(feature = "serve"), allow(dead_code))]
    pub(crate) fn crl_by_name(&self, name: &str, now: OffsetDateTime) -> Option<Result<Vec<u8>, Error>> {
        let entry = self.entries().into_iter().find(|e| e.name == name)?;
        Some(self.sign_crl(entry, now))
    }

    /// The DER certificate of CA `name` (`root-ca`, `qwac-ca`, `qseal-ca`); `None` for another.
    #[cfg_attr(not(feature = "serve"), allow(dead_code))]
    pub(crate) fn ca_cert_by_name(&self, name: &str) -> Option<&Certificate> {
        self.entries().into_iter().find(|e| e.name == name).map(|e| &e.cert)
    }

    fn sign_crl(&self, entry: &CaEntry, now: OffsetDateTime) -> Result<Vec<u8>, Error> {
        let revoked_certs = self
            .revocations_of(entry.name)?
            .into_iter()
            .map(|r| {
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&unhex(&r.serial_hex)?),
                    revocation_time: r.revoked_at,
                    // BR §7.2.2: the reason "unspecified" is expressed by omitting reasonCode.
                    reason_code: None,
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let this_update = now.replace_nanosecond(0).unwrap_or(now);
        let ski = {
            let (_, x) = X509Certificate::from_der(entry.cert.der())
                .map_err(|e| Error::Generate { what: "CRL", reason: e.to_string() })?;
            x.extensions().iter().find_map(|ext| match ext.parsed_extension() {
                x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
                _ => None,
            })
        };
        let params = CertificateRevocationListParams {
            this_update,
            next_update: this_update
                + Duration::days(if entry.name == ROOT { ARL_VALIDITY_DAYS } else { CRL_VALIDITY_DAYS }),
            crl_number: SerialNumber::from_slice(&this_update.unix_timestamp().to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: ski.map(KeyIdMethod::PreSpecified).unwrap_or(KeyIdMethod::Sha256),
        };
        let crl = params.signed_by(&entry.issuer()?).map_err(Error::generate("CRL"))?;
        Ok(crl.der().to_vec())
    }

    fn write_crl(&self, entry: &CaEntry, now: OffsetDateTime) -> Result<Vec<PathBuf>, Error> {
        let der = self.sign_crl(entry, now)?;
        let (der_path, pem_path) = (self.layout.crl(entry.name), self.layout.crl_pem(entry.name));
        write_files(
            &[
                OutFile::public(&der_path, der.clone()),
                OutFile::public(&pem_path, psd2_eidas::pem::encode("X509 CRL", &der)),
            ],
            true,
        )?;
        Ok(vec![der_path, pem_path])
    }
}
