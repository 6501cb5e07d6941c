//! Certificate profiles: the parameters of the root CA, the two issuing CAs, QWACs (EN 319
//! 412-4, TS 119 495, CA/Browser Forum BR/EV) and QSealCs (EN 319 412-3, TS 119 495), and the
//! CA/Browser Forum validity schedule.

use psd2_eidas::KeyKind;
use psd2_eidas::der::{self, tag};
use psd2_eidas::qc::QcType;
use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyUsagePurpose, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime, macros::datetime};

use crate::Error;
use crate::qc::{Pds, QcSpec};
use crate::subject::{ValidEv, ValidSubject, printable, qseal_name, qwac_name};

/// CA/Browser Forum EV policy.
pub const POLICY_CABF_EV: &str = "2.23.140.1.1";
/// EN 319 411-2 QCP-l (qualified certificate for legal persons).
pub const POLICY_QCP_L: &str = "0.4.0.194112.1.1";
/// EN 319 411-2 QCP-l-qscd.
pub const POLICY_QCP_L_QSCD: &str = "0.4.0.194112.1.3";
/// EN 319 411-2 QEVCP-w (qualified EV website certificate).
pub const POLICY_QEVCP_W: &str = "0.4.0.194112.1.4";
/// TS 119 495 QCP-w-psd2.
pub const POLICY_PSD2_QCP_W: &str = "0.4.0.19495.3.1";
/// EN 319 411-2 QNCP-w-gen: the policy of a 2-QWAC (ETSI TS 119 411-5).
pub const POLICY_QNCP_W_GEN: &str = "0.4.0.194112.1.6";
/// id-kp-tls-binding (ETSI TS 119 411-5): the only extended key usage of a 2-QWAC.
pub const EKU_TLS_BINDING: &str = "0.4.0.194115.1.0";
const OID_EKU_TLS_BINDING: &[u64] = &[0, 4, 0, 194115, 1, 0];
const OID_OCSP_NOCHECK: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1, 5];

const OID_CERTIFICATE_POLICIES: &[u64] = &[2, 5, 29, 32];
const OID_AUTHORITY_INFO_ACCESS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
const OID_QC_STATEMENTS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 3];
const OID_CABF_ORGANIZATION_IDENTIFIER: &[u64] = &[2, 23, 140, 3, 1];
const OID_AD_OCSP: &str = "1.3.6.1.5.5.7.48.1";
const OID_AD_CA_ISSUERS: &str = "1.3.6.1.5.5.7.48.2";

/// Which kind of PSD2 certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertKind {
    /// Qualified website authentication certificate: the TPP's mTLS client certificate.
    Qwac,
    /// Qualified electronic seal certificate: signs requests.
    Qseal,
}

impl CertKind {
    /// `qwac` or `qseal` (the `--type` value and the file names of the issuing CA).
    pub fn name(self) -> &'static str {
        match self {
            CertKind::Qwac => "qwac",
            CertKind::Qseal => "qseal",
        }
    }
}

impl std::str::FromStr for CertKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "qwac" => Ok(CertKind::Qwac),
            "qseal" | "qsealc" => Ok(CertKind::Qseal),
            other => Err(Error::input("certificate type", format!("'{other}' (expected qwac or qseal)"))),
        }
    }
}

/// Which QWAC: the usual one for mutual TLS, or the variants the tests of a TPP's preflight
/// need (QTSPs dropping `clientAuth`, ETSI TS 119 411-5 2-QWACs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QwacProfile {
    /// EV + QEVCP-w + QCP-w-psd2 policies, extended key usages serverAuth and clientAuth.
    #[default]
    Standard,
    /// As [`Standard`](Self::Standard) with serverAuth only: what public CAs issue from 2026 on
    /// (Chrome root policy); it cannot authenticate a TPP client in mutual TLS.
    NoClientAuth,
    /// A 2-QWAC (ETSI TS 119 411-5): policies QNCP-w-gen and QCP-w-psd2, and id-kp-tls-binding
    /// as its only extended key usage; not a TLS certificate at all.
    TwoQwac,
}

/// The URLs a certificate names: where its issuer's CRL, certificate and OCSP responder live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerUrls {
    /// CRL distribution point (http).
    pub crl: String,
    /// caIssuers: the issuing CA certificate (DER).
    pub ca_issuers: String,
    /// OCSP responder; `None` for CA certificates.
    pub ocsp: Option<String>,
}

/// The longest QWAC validity, in days, this CA issues by default for a certificate whose
/// notBefore is `not_before`: one day below the CA/Browser Forum Baseline Requirements limit
/// (§6.3.2, validity counted inclusively), as the BR schedule recommends (SC-081) and linters
/// such as pkilint check. `--days N` makes the inclusive validity period exactly N days.
///
/// 398 days before 2026-03-15, 200 from 2026-03-15, 100 from 2027-03-15, 47 from 2029-03-15.
pub fn cabf_max_days(not_before: OffsetDateTime) -> u32 {
    let limit = if not_before < datetime!(2026-03-15 0:00 UTC) {
        398
    } else if not_before < datetime!(2027-03-15 0:00 UTC) {
        200
    } else if not_before < datetime!(2029-03-15 0:00 UTC) {
        100
    } else {
        47
    };
    limit - 1
}

/// The default validity in days: the CABF maximum for a QWAC, one year for a QSealC.
pub fn default_days(kind: CertKind, not_before: OffsetDateTime) -> u32 {
    match kind {
        CertKind::Qwac => cabf_max_days(not_before),
        CertKind::Qseal => 365,
    }
}

/// notBefore truncated to whole seconds (what X.509 encodes) and notAfter such that the
/// validity period, which RFC 5280 and the Baseline Requirements count inclusively, is exactly
/// `days` days: notAfter = notBefore + days − 1 second.
pub(crate) fn validity(not_before: OffsetDateTime, days: u32) -> Result<(OffsetDateTime, OffsetDateTime), Error> {
    if days == 0 {
        return Err(Error::input("validity", "--days must be at least 1"));
    }
    let nb = not_before.replace_nanosecond(0).map_err(|e| Error::input("validity", e.to_string()))?;
    let na = nb
        .checked_add(Duration::days(i64::from(days)) - Duration::SECOND)
        .filter(|t| t.year() < 10000)
        .ok_or_else(|| Error::input("validity", format!("{days} days is too long")))?;
    Ok((nb, na))
}

/// certificatePolicies with bare policy identifiers.
fn certificate_policies(oids: &[&str]) -> CustomExtension {
    let infos: Vec<Vec<u8>> = oids.iter().map(|o| der::sequence(&[der::oid(o)])).collect();
    CustomExtension::from_oid_content(OID_CERTIFICATE_POLICIES, der::sequence(&infos))
}

/// authorityInfoAccess with an optional OCSP responder and the caIssuers URL.
fn authority_info_access(urls: &IssuerUrls) -> CustomExtension {
    let uri = |u: &str| der::write(0x86, u.as_bytes()); // [6] IMPLICIT IA5String
    let mut access = Vec::new();
    if let Some(ocsp) = &urls.ocsp {
        access.push(der::sequence(&[der::oid(OID_AD_OCSP), uri(ocsp)]));
    }
    access.push(der::sequence(&[der::oid(OID_AD_CA_ISSUERS), uri(&urls.ca_issuers)]));
    CustomExtension::from_oid_content(OID_AUTHORITY_INFO_ACCESS, der::sequence(&access))
}

/// The CA/Browser Forum cabfOrganizationIdentifier extension (EV Guidelines §9.8.2):
/// `SEQUENCE { scheme PrintableString, country PrintableString, reference UTF8String }`,
/// for `PSDBE-NBB-0999.888.777`: `PSD`, `BE`, `NBB-0999.888.777`.
fn cabf_organization_identifier(s: &ValidSubject) -> CustomExtension {
    let oi = &s.organization_identifier;
    let reference = match &oi.nca {
        Some(nca) => format!("{nca}-{}", oi.reference),
        None => oi.reference.clone(),
    };
    let content = der::sequence(&[
        der::write(tag::PRINTABLE_STRING, oi.scheme.as_bytes()),
        der::write(tag::PRINTABLE_STRING, oi.country.as_bytes()),
        der::write(tag::UTF8_STRING, reference.as_bytes()),
    ]);
    CustomExtension::from_oid_content(OID_CABF_ORGANIZATION_IDENTIFIER, content)
}

/// The key identifier of a public key (RFC 7093 §2 method 1): the leftmost 160 bits of the
/// SHA-256 of the subjectPublicKey BIT STRING value.
pub fn key_identifier(subject_public_key: &[u8]) -> Vec<u8> {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, subject_public_key);
    d.as_ref()[..20].to_vec()
}

/// basicConstraints, critical, `cA` FALSE (an empty SEQUENCE), without a subjectKeyIdentifier
/// (which rcgen would add with `IsCa::ExplicitNoCa`; the BR do not recommend it for subscribers).
fn end_entity_basic_constraints() -> CustomExtension {
    let mut e = CustomExtension::from_oid_content(&[2, 5, 29, 19], der::sequence(&[]));
    e.set_criticality(true);
    e
}

/// What every certificate of the PKI has: serial, validity, name, key identifiers.
pub(crate) fn base(
    serial: &[u8],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    dn: DistinguishedName,
    subject_key: &[u8],
) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.key_identifier_method = KeyIdMethod::PreSpecified(key_identifier(subject_key));
    p.distinguished_name = dn;
    p.serial_number = Some(SerialNumber::from_slice(serial));
    p.not_before = not_before;
    p.not_after = not_after;
    p.use_authority_key_identifier_extension = true;
    p
}

/// A CA name, clearly marked as a test CA.
pub(crate) fn ca_name(common_name: &str) -> Result<DistinguishedName, Error> {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, printable("BE")?);
    dn.push(DnType::OrganizationName, DnValue::Utf8String("psd2-sign TEST QTSP (not a real QTSP)".into()));
    dn.push(DnType::CommonName, DnValue::Utf8String(common_name.to_owned()));
    Ok(dn)
}

/// The root CA: self-signed, CA without path length limit, keyCertSign + cRLSign, key
/// identifiers on itself.
pub(crate) fn root_params(
    serial: &[u8],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    dn: DistinguishedName,
    subject_key: &[u8],
) -> CertificateParams {
    let mut p = base(serial, not_before, not_after, dn, subject_key);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

/// An issuing CA: pathlen 0, the policies it issues under, AIA + CRL DP to the root, and for
/// the QWAC issuing CA the TLS EKUs the CA/Browser Forum requires of a TLS-issuing CA.
pub(crate) fn issuing_ca_params(
    kind: CertKind,
    serial: &[u8],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    dn: DistinguishedName,
    subject_key: &[u8],
    urls: &IssuerUrls,
) -> CertificateParams {
    let mut p = base(serial, not_before, not_after, dn, subject_key);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.crl_distribution_points = vec![CrlDistributionPoint { uris: vec![urls.crl.clone()] }];
    let policies: &[&str] = match kind {
        CertKind::Qwac => {
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
            &[POLICY_CABF_EV, POLICY_QEVCP_W, POLICY_PSD2_QCP_W]
        }
        CertKind::Qseal => &[POLICY_QCP_L, POLICY_QCP_L_QSCD],
    };
    p.custom_extensions = vec![certificate_policies(policies), authority_info_access(urls)];
    p
}

/// A delegated OCSP signer of an issuing CA (RFC 6960 §4.2.2.2): digitalSignature,
/// id-kp-OCSPSigning, and id-pkix-ocsp-nocheck (§4.2.2.2.1: clients do not check its status).
/// `p` is the [`base`] of the certificate.
pub(crate) fn ocsp_signer_params(mut p: CertificateParams) -> CertificateParams {
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
    p.custom_extensions = vec![CustomExtension::from_oid_content(OID_OCSP_NOCHECK, der::write(tag::NULL, &[]))];
    p
}

/// Everything a leaf certificate needs besides its key.
#[derive(Debug, Clone)]
pub(crate) struct LeafSpec<'a> {
    pub(crate) kind: CertKind,
    pub(crate) subject: &'a ValidSubject,
    pub(crate) ev: Option<&'a ValidEv>,
    pub(crate) qscd: bool,
    pub(crate) key_kind: KeyKind,
    /// The subjectPublicKey BIT STRING value.
    pub(crate) subject_key: &'a [u8],
    pub(crate) serial: &'a [u8],
    pub(crate) not_before: OffsetDateTime,
    pub(crate) not_after: OffsetDateTime,
    pub(crate) urls: &'a IssuerUrls,
    pub(crate) pds: &'a [Pds],
    pub(crate) qwac_profile: QwacProfile,
}

/// A QWAC or QSealC.
pub(crate) fn leaf_params(spec: &LeafSpec<'_>) -> Result<CertificateParams, Error> {
    let s = spec.subject;
    let qc = QcSpec {
        qc_type: match spec.kind {
            CertKind::Qwac => QcType::Web,
            CertKind::Qseal => QcType::Eseal,
        },
        sscd: spec.kind == CertKind::Qseal && spec.qscd,
        pds: spec.pds.to_vec(),
        roles: s.roles.clone(),
        nca_name: s.nca_name.clone(),
        nca_id: s.nca_id.clone(),
    };
    let qc_ext = CustomExtension::from_oid_content(OID_QC_STATEMENTS, qc.to_der()?);
    let mut p = match spec.kind {
        CertKind::Qwac => {
            let ev = spec.ev.ok_or_else(|| Error::input("subject", "a QWAC needs the EV subject"))?;
            let mut p = base(spec.serial, spec.not_before, spec.not_after, qwac_name(s, ev)?, spec.subject_key);
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            if matches!(spec.key_kind, KeyKind::Rsa { .. }) {
                p.key_usages.push(KeyUsagePurpose::KeyEncipherment);
            }
            let policies: &[&str] = match spec.qwac_profile {
                QwacProfile::Standard => {
                    p.extended_key_usages =
                        vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
                    &[POLICY_CABF_EV, POLICY_QEVCP_W, POLICY_PSD2_QCP_W]
                }
                QwacProfile::NoClientAuth => {
                    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
                    &[POLICY_CABF_EV, POLICY_QEVCP_W, POLICY_PSD2_QCP_W]
                }
                QwacProfile::TwoQwac => {
                    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::Other(OID_EKU_TLS_BINDING.to_vec())];
                    &[POLICY_QNCP_W_GEN, POLICY_PSD2_QCP_W]
                }
            };
            p.subject_alt_names = ev
                .domains
                .iter()
                .map(|d| {
                    d.clone()
                        .try_into()
                        .map(SanType::DnsName)
                        .map_err(|_| Error::input("domain", format!("'{d}' is not an IA5String")))
                })
                .collect::<Result<_, _>>()?;
            // CA:FALSE without a subjectKeyIdentifier (BR §7.1.2.7.6: NOT RECOMMENDED there).
            p.custom_extensions =
                vec![end_entity_basic_constraints(), certificate_policies(policies), cabf_organization_identifier(s)];
            p
        }
        CertKind::Qseal => {
            if spec.ev.is_some_and(|ev| !ev.domains.is_empty()) {
                return Err(Error::input("domain", "a QSealC holds no domain (domains are for QWACs)"));
            }
            let mut p = base(spec.serial, spec.not_before, spec.not_after, qseal_name(s)?, spec.subject_key);
            // EN 319 412-2 §4.3.2: a content-commitment key usage is not mixed with others.
            p.key_usages = vec![KeyUsagePurpose::ContentCommitment];
            // RFC 5280 §4.2.1.2: end-entity certificates SHOULD carry a subject key identifier.
            p.is_ca = IsCa::ExplicitNoCa;
            let policy = if spec.qscd { POLICY_QCP_L_QSCD } else { POLICY_QCP_L };
            p.custom_extensions = vec![certificate_policies(&[policy])];
            p
        }
    };
    p.crl_distribution_points = vec![CrlDistributionPoint { uris: vec![spec.urls.crl.clone()] }];
    p.custom_extensions.push(authority_info_access(spec.urls));
    p.custom_extensions.push(qc_ext);
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cabf_schedule() {
        assert_eq!(cabf_max_days(datetime!(2026-03-14 23:59 UTC)), 397);
        assert_eq!(cabf_max_days(datetime!(2026-03-15 0:00 UTC)), 199);
        assert_eq!(cabf_max_days(datetime!(2026-11-26 0:00 UTC)), 199);
        assert_eq!(cabf_max_days(datetime!(2027-03-15 0:00 UTC)), 99);
        assert_eq!(cabf_max_days(datetime!(2029-03-15 0:00 UTC)), 46);
        assert_eq!(default_days(CertKind::Qseal, datetime!(2026-11-26 0:00 UTC)), 365);
    }

    #[test]
    fn validity_is_whole_seconds() {
        let (nb, na) = validity(datetime!(2026-11-26 10:00:00.75 UTC), 199).unwrap();
        assert_eq!(nb, datetime!(2026-11-26 10:00 UTC));
        assert_eq!(na - nb + Duration::SECOND, Duration::days(199));
        assert!(validity(nb, 0).is_err());
    }
}
