//! Issuing QWACs and QSealCs: requests, random serials, validity rules, the issued result.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use psd2_eidas::{Certificate, FileKey, PublicKey, Signer};
use rcgen::PublicKeyData;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::authority::CertificateAuthority;
use crate::db::{self, IssuedEntry};
use crate::key::{KeyType, RcgenPublicKey};
use crate::profile::{
    CertKind, LeafSpec, QwacProfile, base, ca_name, cabf_max_days, default_days, leaf_params, ocsp_signer_params,
    validity,
};
use crate::store::{OutFile, check_file_path, write_files};
use crate::subject::{EvSubject, Psd2Subject};
use crate::{Error, csr};

/// A fresh serial number: 16 octets from the system CSPRNG with the top bit cleared (positive)
/// and the next one set (always 16 octets in DER): 126 random bits, within RFC 5280's 20 octets.
pub fn random_serial() -> Result<[u8; 16], Error> {
    let mut s = [0u8; 16];
    aws_lc_rs::rand::fill(&mut s)
        .map_err(|_| Error::Generate { what: "serial number", reason: "no randomness".into() })?;
    s[0] = (s[0] & 0x7f) | 0x40;
    Ok(s)
}

/// Where the subject key of a new certificate comes from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SubjectKey {
    /// Generate a software key of this type; the key is returned in [`Issued::private_key`].
    Generate(KeyType),
    /// A PKCS#10 request (PEM or DER) whose signature is verified and whose public key is used;
    /// the subject and roles come from the [`IssueRequest`], not from the request.
    Csr(Vec<u8>),
    /// A public key whose private half is held elsewhere (an HSM, a partner).
    PublicKey(PublicKey),
}

/// What to issue.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// QWAC or QSealC.
    pub kind: CertKind,
    /// The PSD2 legal person.
    pub subject: Psd2Subject,
    /// The EV subject and domains (QWAC only; leave empty for a QSealC).
    pub ev: EvSubject,
    /// QSealC under QCP-l-qscd with QcSSCD (the key is in a QSCD).
    pub qscd: bool,
    /// Validity in days; default: the CABF maximum for a QWAC, 365 for a QSealC. A QWAC beyond
    /// the CABF maximum is issued with a warning; a certificate that would outlive its issuing CA
    /// is refused ([`Error::OutlivesIssuer`]), never shortened.
    pub days: Option<u32>,
    /// The subject key; default: generate one of the issuing CA's key type.
    pub key: Option<SubjectKey>,
    /// notBefore; default: now.
    pub not_before: Option<OffsetDateTime>,
    /// Which QWAC (QWAC only): the default mutual-TLS one, one without clientAuth, or a 2-QWAC.
    pub qwac_profile: QwacProfile,
}

impl IssueRequest {
    /// A request with the defaults.
    pub fn new(kind: CertKind, subject: Psd2Subject) -> Self {
        Self {
            kind,
            subject,
            ev: EvSubject::default(),
            qscd: false,
            days: None,
            key: None,
            not_before: None,
            qwac_profile: QwacProfile::Standard,
        }
    }
}

/// An issued certificate.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate.
    pub certificate: Certificate,
    /// The chain to send: the certificate, then its issuing CA (not the root).
    pub chain: Vec<Certificate>,
    /// The generated private key, when the CA generated it: a key object that signs
    /// (an `Arc<dyn Signer>` by coercion); [`Issued::write`] stores it as PKCS#8 PEM.
    pub private_key: Option<Arc<FileKey>>,
    /// What the caller should tell the user (e.g. a validity beyond the CABF maximum).
    pub warnings: Vec<String>,
}

impl Issued {
    /// The files [`Issued::write`] writes for `prefix`: `PREFIX.pem`, `PREFIX-chain.pem` and,
    /// with a generated key, `PREFIX.key`.
    pub fn output_paths(prefix: &Path, with_key: bool) -> Vec<PathBuf> {
        let with = |suffix: &str| {
            let mut s = prefix.as_os_str().to_owned();
            s.push(suffix);
            PathBuf::from(s)
        };
        let mut v = vec![with(".pem"), with("-chain.pem")];
        if with_key {
            v.push(with(".key"));
        }
        v
    }

    /// The chain as PEM (leaf first).
    pub fn chain_pem(&self) -> String {
        self.chain.iter().map(Certificate::to_pem).collect()
    }

    /// Writes `PREFIX.pem`, `PREFIX-chain.pem` and `PREFIX.key` (mode 0600), all or nothing,
    /// refusing to overwrite. A `prefix` that is a directory (or ends in `/`) is an
    /// [`Error::IsADirectory`]. Returns the paths written.
    pub fn write(&self, prefix: &Path) -> Result<Vec<PathBuf>, Error> {
        check_file_path(prefix)?;
        let paths = Self::output_paths(prefix, self.private_key.is_some());
        let mut files = vec![
            OutFile::public(&paths[0], self.certificate.to_pem().into_bytes()),
            OutFile::public(&paths[1], self.chain_pem().into_bytes()),
        ];
        if let Some(k) = &self.private_key {
            let pem = Zeroizing::new(psd2_eidas::pem::encode("PRIVATE KEY", &k.to_pkcs8_der()?));
            files.push(OutFile::secret(&paths[2], pem.as_bytes().to_vec()));
        }
        write_files(&files, false)?;
        Ok(paths)
    }
}

impl CertificateAuthority {
    /// Issues a QWAC or QSealC from the matching issuing CA and records its serial.
    pub fn issue(&self, req: &IssueRequest) -> Result<Issued, Error> {
        let subject = req.subject.validate()?;
        let ev = match req.kind {
            CertKind::Qwac => Some(req.ev.validate(&subject)?),
            CertKind::Qseal => {
                if !req.ev.domains.is_empty() {
                    return Err(Error::input("domain", "a QSealC holds no domain (domains are for QWACs)"));
                }
                None
            }
        };
        if req.qscd && req.kind == CertKind::Qwac {
            return Err(Error::input("qscd", "QcSSCD / QCP-l-qscd applies to QSealCs only"));
        }
        if req.kind == CertKind::Qseal && req.qwac_profile != QwacProfile::Standard {
            return Err(Error::input("profile", "no clientAuth and 2-QWAC are QWAC profiles, not QSealC ones"));
        }
        let now = req.not_before.unwrap_or_else(OffsetDateTime::now_utc);
        let mut warnings = Vec::new();
        let days = req.days.unwrap_or_else(|| default_days(req.kind, now));
        if req.kind == CertKind::Qwac && days > cabf_max_days(now) {
            warnings.push(format!(
                "a QWAC valid for {days} days exceeds the CA/Browser Forum maximum of {} days for certificates issued on {}; real QTSPs cannot issue it (fine for a long-lived test PKI)",
                cabf_max_days(now),
                now.date()
            ));
        }
        let (not_before, not_after) = validity(now, days)?;
        let ca = self.issuing(req.kind);
        within_issuer(ca, days, not_before, not_after)?;

        let (public, private_key): (RcgenPublicKey, Option<Arc<FileKey>>) = match &req.key {
            None | Some(SubjectKey::Generate(_)) => {
                let kt = match &req.key {
                    Some(SubjectKey::Generate(kt)) => *kt,
                    _ => self.issuing_key_type(req.kind).unwrap_or(KeyType::Rsa2048),
                };
                let key = Arc::new(kt.generate()?);
                (RcgenPublicKey::new(key.public_key().clone())?, Some(key))
            }
            Some(SubjectKey::Csr(data)) => (RcgenPublicKey::new(csr::verify(data)?.public_key)?, None),
            Some(SubjectKey::PublicKey(k)) => (RcgenPublicKey::new(k.clone())?, None),
        };

        let issued_db = self.layout.issued_db(ca.name);
        let _lock = db::lock(&self.layout.db_dir())?;
        let serial = fresh_serial(&db::read_issued(&issued_db)?)?;
        let urls = self.urls(ca.name);
        let pds = self.pds();
        let spec = LeafSpec {
            kind: req.kind,
            subject: &subject,
            ev: ev.as_ref(),
            qscd: req.qscd,
            key_kind: public.key().kind(),
            subject_key: public.key().raw(),
            serial: &serial,
            not_before,
            not_after,
            urls: &urls,
            pds: &pds,
            qwac_profile: req.qwac_profile,
        };
        let params = leaf_params(&spec)?;
        let issuer = ca.issuer()?;
        let cert = params.signed_by(&public, &issuer).map_err(Error::generate("certificate"))?;
        let certificate = Certificate::from_der(cert.der())?;
        debug_assert_eq!(certificate.public_key().raw(), public.der_bytes());
        let entry = IssuedEntry { serial_hex: hex(&serial), kind: req.kind, not_after };
        db::add_issued(&issued_db, &entry, &certificate.subject().to_string())?;
        let chain = vec![certificate.clone(), ca.cert.clone()];
        Ok(Issued { certificate, chain, private_key, warnings })
    }
}

impl CertificateAuthority {
    /// Issues a delegated OCSP signing certificate (RFC 6960 §4.2.2.2) from the issuing CA of
    /// `kind`, with a fresh key of that CA's key type, valid for `days` days from `not_before`
    /// (default now): extended key usage id-kp-OCSPSigning and id-pkix-ocsp-nocheck. Use it with
    /// [`crate::ocsp::OcspResponder::with_delegated_signer`]. Its serial is recorded, so it can
    /// be revoked like any other certificate of the CA.
    pub fn issue_ocsp_signer(
        &self,
        kind: CertKind,
        days: u32,
        not_before: Option<OffsetDateTime>,
    ) -> Result<Issued, Error> {
        let ca = self.issuing(kind);
        let (not_before, not_after) = validity(not_before.unwrap_or_else(OffsetDateTime::now_utc), days)?;
        within_issuer(ca, days, not_before, not_after)?;
        let key = Arc::new(self.issuing_key_type(kind).unwrap_or(KeyType::Rsa2048).generate()?);
        let public = RcgenPublicKey::new(key.public_key().clone())?;
        let issued_db = self.layout.issued_db(ca.name);
        let _lock = db::lock(&self.layout.db_dir())?;
        let serial = fresh_serial(&db::read_issued(&issued_db)?)?;
        let cn = match kind {
            CertKind::Qwac => "psd2-sign TEST QWAC CA OCSP Responder - NOT FOR PRODUCTION",
            CertKind::Qseal => "psd2-sign TEST QSealC CA OCSP Responder - NOT FOR PRODUCTION",
        };
        let params = ocsp_signer_params(base(&serial, not_before, not_after, ca_name(cn)?, public.key().raw()));
        let cert = params.signed_by(&public, &ca.issuer()?).map_err(Error::generate("OCSP signer certificate"))?;
        let certificate = Certificate::from_der(cert.der())?;
        let entry = IssuedEntry { serial_hex: hex(&serial), kind, not_after };
        db::add_issued(&issued_db, &entry, &certificate.subject().to_string())?;
        let chain = vec![certificate.clone(), ca.cert.clone()];
        Ok(Issued { certificate, chain, private_key: Some(key), warnings: Vec::new() })
    }
}

/// Refuses a validity that ends after the issuing CA's ([`Error::OutlivesIssuer`]).
fn within_issuer(
    ca: &crate::authority::CaEntry,
    days: u32,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<(), Error> {
    let ca_not_after = ca.cert.not_after();
    if not_after > ca_not_after {
        return Err(Error::OutlivesIssuer {
            days,
            not_after,
            ca: ca.name,
            ca_not_after,
            max_days: (ca_not_after - not_before + time::Duration::SECOND).whole_days(),
        });
    }
    Ok(())
}

/// A random serial not among those `known` (one CA's issued serials).
fn fresh_serial(known: &[IssuedEntry]) -> Result<[u8; 16], Error> {
    loop {
        let s = random_serial()?;
        let hex = hex(&s);
        if !known.iter().any(|e| e.serial_hex == hex) {
            return Ok(s);
        }
    }
}

/// Lower-case hex without separators.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_positive_16_octets_and_random() {
        let a = random_serial().unwrap();
        let b = random_serial().unwrap();
        assert_ne!(a, b);
        for s in [a, b] {
            assert_eq!(s[0] & 0xc0, 0x40);
        }
    }

    #[test]
    fn output_paths() {
        let p = Issued::output_paths(Path::new("out/qwac"), true);
        assert_eq!(
            p,
            vec![PathBuf::from("out/qwac.pem"), PathBuf::from("out/qwac-chain.pem"), PathBuf::from("out/qwac.key")]
        );
    }
}
