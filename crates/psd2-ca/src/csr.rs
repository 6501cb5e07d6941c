//! PKCS#10 certificate signing requests: making the request a QTSP expects for a PSD2
//! certificate, and verifying a request before issuing for it.

use std::sync::Arc;

use psd2_eidas::{PublicKey, Signer};
use rcgen::{CertificateParams, SanType};
use x509_parser::prelude::{FromDer, X509CertificationRequest};

use crate::Error;
use crate::key::RcgenSigner;
use crate::profile::CertKind;
use crate::subject::{check_organization, check_public_domain, request_name};

/// What to request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrRequest {
    /// QWAC (CN = first domain, SAN dNSNames in an extensionRequest) or QSealC (CN = organization).
    pub kind: CertKind,
    /// organizationName.
    pub organization: String,
    /// organizationIdentifier (`PSDBE-NBB-0999.888.777`).
    pub organization_identifier: String,
    /// Domains (QWAC: at least one).
    pub domains: Vec<String>,
    /// countryName; default: the organizationIdentifier's country.
    pub country: Option<String>,
}

/// Makes a PEM PKCS#10 request signed by `key` (a file key or a token key) with the subject
/// C, O, organizationIdentifier, CN. The values are checked as for a certificate (no control
/// characters, a PSD2 organizationIdentifier, public DNS names).
pub fn create(req: &CsrRequest, key: Arc<dyn Signer>) -> Result<String, Error> {
    let (organization, oi, country) =
        check_organization(&req.organization, &req.organization_identifier, req.country.as_deref())?;
    let domains = req.domains.iter().map(|d| check_public_domain(d)).collect::<Result<Vec<_>, _>>()?;
    let mut params = CertificateParams::default();
    let cn = match req.kind {
        CertKind::Qwac => domains
            .first()
            .cloned()
            .ok_or_else(|| Error::input("domain", "a QWAC request needs at least one domain"))?,
        CertKind::Qseal => {
            if !domains.is_empty() {
                return Err(Error::input("domain", "a QSealC request holds no domain"));
            }
            organization.clone()
        }
    };
    params.distinguished_name = request_name(&country, &organization, &oi.to_string(), &cn)?;
    params.subject_alt_names = domains
        .iter()
        .map(|d| d.clone().try_into().map(SanType::DnsName).map_err(|_| Error::input("domain", d.clone())))
        .collect::<Result<_, _>>()?;
    let signer = RcgenSigner::new(key)?;
    let csr = params.serialize_request(&signer).map_err(Error::generate("certificate request"))?;
    csr.pem().map_err(Error::generate("certificate request"))
}

/// A request whose signature verified.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifiedCsr {
    /// The requested public key.
    pub public_key: PublicKey,
    /// The requested subject (RFC 4514 text, for messages).
    pub subject: String,
}

/// Parses a PEM or DER PKCS#10 request and verifies its self-signature.
pub fn verify(data: &[u8]) -> Result<VerifiedCsr, Error> {
    let der: Vec<u8> = if psd2_eidas::pem::looks_like_pem(data) {
        let blocks = psd2_eidas::pem::parse(data).map_err(|e| Error::Csr(e.to_string()))?;
        let block = blocks
            .into_iter()
            .find(|b| b.label == "CERTIFICATE REQUEST" || b.label == "NEW CERTIFICATE REQUEST")
            .ok_or_else(|| Error::Csr("no CERTIFICATE REQUEST PEM block".into()))?;
        block.der.to_vec()
    } else {
        data.to_vec()
    };
    let (rest, csr) =
        X509CertificationRequest::from_der(&der).map_err(|e| Error::Csr(format!("not a PKCS#10 request ({e})")))?;
    if !rest.is_empty() {
        return Err(Error::Csr("trailing data after the request".into()));
    }
    csr.verify_signature().map_err(|e| Error::Csr(format!("the signature does not verify ({e})")))?;
    let info = &csr.certification_request_info;
    let public_key = PublicKey::from_spki(info.subject_pki.raw)?;
    Ok(VerifiedCsr { public_key, subject: info.subject.to_string() })
}
