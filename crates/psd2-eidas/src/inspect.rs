//! A full report on an eIDAS/PSD2 certificate: what `psd2-sign inspect` prints.

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::extensions::{GeneralName, ParsedExtension};

use crate::cert::Certificate;
use crate::psd2::{OrganizationIdentifier, Role};
use crate::qc::{OID_SEMANTICS_LEGAL, PdsLocation, QcType};
use crate::{Error, KeyKind};

/// OID of the subject attribute organizationIdentifier.
pub const OID_ORGANIZATION_IDENTIFIER: &str = "2.5.4.97";

/// What kind of eIDAS certificate this is, from its QcType.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// QcType web: a qualified website authentication certificate (mTLS).
    Qwac,
    /// QcType eseal: a qualified electronic seal certificate (request signing).
    Qseal,
    /// Neither.
    Other,
}

/// The key summary of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyReport {
    /// `rsa`, `ec` or `ed25519`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Size in bits.
    pub bits: usize,
    /// `P-256` / `P-384` for EC keys.
    pub curve: Option<&'static str>,
}

/// The PSD2 part of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Psd2Report {
    /// Role names (from the OIDs), in encoded order.
    pub roles: Vec<String>,
    /// The roles granted ([`Psd2Statement::roles`](crate::Psd2Statement::roles): by OID; an
    /// unknown OID named `PSP_PI` is listed in `roles` but grants nothing). Not in the JSON.
    #[serde(skip)]
    pub granted: Vec<Role>,
    /// NCAName.
    pub nca_name: String,
    /// NCAId.
    pub nca_id: String,
}

/// The qualified-certificate part of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QcReport {
    /// QcCompliance present.
    pub compliance: bool,
    /// QcType values.
    pub types: Vec<QcType>,
    /// QcSSCD present.
    pub sscd: bool,
    /// QcPDS locations.
    pub pds: Vec<PdsLocation>,
    /// QcRetentionPeriod.
    pub retention_years: Option<i64>,
    /// QcLimitValue as `amount × 10^exponent currency`.
    pub limit_value: Option<crate::qc::LimitValue>,
    /// QcCClegislation.
    pub legislation: Vec<String>,
    /// Semantics identifier (id-qcs-pkixQCSyntax-v2).
    pub semantics_id: Option<String>,
    /// Statements not decoded.
    pub other_statements: Vec<String>,
}

/// Everything `inspect` reports about a certificate (the JSON of `psd2-sign inspect --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Subject DN, readable, in encoded order.
    pub subject: String,
    /// Issuer DN, readable.
    pub issuer: String,
    /// Serial, lower-case hex, no leading zeros.
    pub serial: String,
    /// RFC 3339.
    pub not_before: String,
    /// RFC 3339.
    pub not_after: String,
    /// The public key.
    pub key: KeyReport,
    /// qwac / qseal / other.
    pub kind: Kind,
    /// Subject organizationIdentifier.
    pub organization_identifier: Option<String>,
    /// The organizationIdentifier split into scheme, country, NCA and reference.
    pub organization_identifier_parts: Option<OrganizationIdentifier>,
    /// The PSD2 statement.
    pub psd2: Option<Psd2Report>,
    /// The qcStatements.
    pub qc: Option<QcReport>,
    /// keyUsage bits by RFC 5280 name.
    pub key_usage: Vec<String>,
    /// extKeyUsage by name (`serverAuth`, `clientAuth`…) or OID.
    pub extended_key_usage: Vec<String>,
    /// subjectAltName entries (`DNS:…`, `email:…`, `URI:…`, `IP:…`).
    pub subject_alt_names: Vec<String>,
    /// certificatePolicies OIDs.
    pub certificate_policies: Vec<String>,
    /// basicConstraints cA.
    pub is_ca: bool,
    /// SHA-256 fingerprint of the DER.
    pub fingerprint_sha256: String,
    /// Deviations and problems, each a readable sentence.
    pub warnings: Vec<String>,
}

impl Report {
    /// Builds the report, judging validity at `now`.
    pub fn new(cert: &Certificate, now: OffsetDateTime) -> Result<Self, Error> {
        let x = cert.parsed()?;
        let mut warnings = Vec::new();
        let qc = cert.qc_statements()?;

        let mut key_usage = Vec::new();
        match x.key_usage() {
            Ok(Some(ku)) => {
                let k = ku.value;
                for (on, name) in [
                    (k.digital_signature(), "digitalSignature"),
                    (k.non_repudiation(), "nonRepudiation"),
                    (k.key_encipherment(), "keyEncipherment"),
                    (k.data_encipherment(), "dataEncipherment"),
                    (k.key_agreement(), "keyAgreement"),
                    (k.key_cert_sign(), "keyCertSign"),
                    (k.crl_sign(), "cRLSign"),
                    (k.encipher_only(), "encipherOnly"),
                    (k.decipher_only(), "decipherOnly"),
                ] {
                    if on {
                        key_usage.push(name.to_owned());
                    }
                }
            }
            Ok(None) => {}
            Err(e) => warnings.push(format!("keyUsage extension unreadable: {e}")),
        }
        let extended_key_usage = match extended_key_usages(&x) {
            Ok(v) => v.unwrap_or_default(),
            Err(e) => {
                warnings.push(e);
                Vec::new()
            }
        };
        let mut subject_alt_names = Vec::new();
        if let Ok(Some(san)) = x.subject_alternative_name() {
            for n in &san.value.general_names {
                subject_alt_names.push(match n {
                    GeneralName::DNSName(d) => format!("DNS:{d}"),
                    GeneralName::RFC822Name(m) => format!("email:{m}"),
                    GeneralName::URI(u) => format!("URI:{u}"),
                    GeneralName::IPAddress(ip) => format!("IP:{}", format_ip(ip)),
                    other => format!("{other:?}"),
                });
            }
        }
        let mut certificate_policies = Vec::new();
        let mut is_ca = false;
        for ext in x.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::CertificatePolicies(p) => {
                    certificate_policies.extend(p.iter().map(|pi| pi.policy_id.to_id_string()));
                }
                ParsedExtension::BasicConstraints(bc) => is_ca = bc.ca,
                _ => {}
            }
        }

        let organization_identifier =
            cert.subject().get(crate::inspect::OID_ORGANIZATION_IDENTIFIER).map(str::to_owned);
        let organization_identifier_parts =
            organization_identifier.as_deref().and_then(|o| match OrganizationIdentifier::parse(o) {
                Ok(p) => Some(p),
                Err(e) => {
                    warnings.push(e.to_string());
                    None
                }
            });

        let kind = match &qc {
            Some(q) if q.types.contains(&QcType::Web) => Kind::Qwac,
            Some(q) if q.types.contains(&QcType::Eseal) => Kind::Qseal,
            _ => Kind::Other,
        };

        if now < cert.not_before() {
            warnings.push(format!("not yet valid: validity starts {}", rfc3339(cert.not_before())));
        } else if now > cert.not_after() {
            warnings.push(format!("expired on {}", rfc3339(cert.not_after())));
        }

        let psd2 = qc.as_ref().and_then(|q| q.psd2.clone());
        if let Some(q) = &qc {
            warnings.extend(q.warnings.iter().cloned());
            if !q.compliance {
                warnings.push("qcStatements without QcCompliance: not an EU qualified certificate".into());
            }
            if q.types.is_empty() {
                warnings.push("qcStatements without QcType".into());
            }
            if q.semantics_id.as_deref().is_some_and(|s| s != OID_SEMANTICS_LEGAL) && kind != Kind::Other {
                warnings.push(format!(
                    "semantics identifier {} is not id-etsi-qcs-semanticsId-Legal",
                    q.semantics_id.as_deref().unwrap_or_default()
                ));
            }
        }
        if let Some(p) = &psd2 {
            match &organization_identifier_parts {
                None if organization_identifier.is_none() => {
                    warnings.push("PSD2 certificate without a subject organizationIdentifier".into())
                }
                Some(o) if o.scheme == "PSD" && o.nca_id().as_deref() != Some(p.nca_id.as_str()) => {
                    warnings.push(format!(
                        "organizationIdentifier {} does not agree with NCAId {}",
                        organization_identifier.as_deref().unwrap_or_default(),
                        p.nca_id
                    ))
                }
                _ => {}
            }
        }
        let has_ku = x.key_usage().ok().flatten().is_some();
        let has_eku = x.extended_key_usage().ok().flatten().is_some();
        match kind {
            Kind::Qwac => {
                if !has_ku {
                    warnings.push("no keyUsage extension (a QWAC needs digitalSignature)".into());
                } else if !key_usage.iter().any(|k| k == "digitalSignature") {
                    warnings.push("QWAC keyUsage lacks digitalSignature".into());
                }
                if !extended_key_usage.iter().any(|k| k == "clientAuth") {
                    warnings.push(
                        "QWAC without the clientAuth extended key usage cannot authenticate a TPP over mTLS".into(),
                    );
                }
                if key_usage.iter().any(|k| k == "nonRepudiation") {
                    warnings.push("QWAC keyUsage has nonRepudiation, which the CA/B Forum forbids".into());
                }
            }
            Kind::Qseal => {
                if !has_ku {
                    warnings.push("no keyUsage extension (a QSealC needs nonRepudiation)".into());
                } else if !key_usage.iter().any(|k| k == "nonRepudiation") {
                    warnings.push("QSealC keyUsage lacks nonRepudiation (contentCommitment)".into());
                }
                if extended_key_usage.iter().any(|k| k == "serverAuth" || k == "clientAuth") {
                    warnings.push(
                        "QSealC carries a TLS extended key usage; a seal certificate must not be a TLS certificate"
                            .into(),
                    );
                }
            }
            Kind::Other => {}
        }
        if !has_ku && kind == Kind::Other {
            warnings.push("no keyUsage extension".into());
        }
        if !has_eku && kind == Kind::Qwac {
            warnings.push("no extKeyUsage extension".into());
        }

        let pk = cert.public_key().kind();
        Ok(Report {
            subject: cert.subject().to_display(),
            issuer: cert.issuer().to_display(),
            serial: cert.serial_hex(),
            not_before: rfc3339(cert.not_before()),
            not_after: rfc3339(cert.not_after()),
            key: KeyReport {
                kind: pk.type_name(),
                bits: pk.bits(),
                curve: match pk {
                    KeyKind::Ec(c) => Some(c.name()),
                    _ => None,
                },
            },
            kind,
            organization_identifier,
            organization_identifier_parts,
            psd2: psd2.map(|p| Psd2Report {
                granted: p.roles(),
                roles: p
                    .roles
                    .iter()
                    .map(|r| r.role.map_or_else(|| r.name.clone(), |role| role.name().to_owned()))
                    .collect(),
                nca_name: p.nca_name,
                nca_id: p.nca_id,
            }),
            qc: qc.map(|q| QcReport {
                compliance: q.compliance,
                types: q.types,
                sscd: q.sscd,
                pds: q.pds,
                retention_years: q.retention_years,
                limit_value: q.limit_value,
                legislation: q.legislation,
                semantics_id: q.semantics_id,
                other_statements: q.other_statements,
            }),
            key_usage,
            extended_key_usage,
            subject_alt_names,
            certificate_policies,
            is_ca,
            fingerprint_sha256: cert.fingerprint_sha256(),
            warnings,
        })
    }

    /// True when the PSD2 statement grants `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.psd2.as_ref().is_some_and(|p| p.granted.contains(&role))
    }
}

/// The extKeyUsage by name (`serverAuth`, `clientAuth`…) or dotted OID; `None` without the
/// extension, an error sentence when it cannot be read.
pub(crate) fn extended_key_usages(
    x: &x509_parser::certificate::X509Certificate<'_>,
) -> Result<Option<Vec<String>>, String> {
    let eku = match x.extended_key_usage() {
        Ok(Some(eku)) => eku,
        Ok(None) => return Ok(None),
        Err(e) => return Err(format!("extKeyUsage extension unreadable: {e}")),
    };
    let e = eku.value;
    let mut names = Vec::new();
    for (on, name) in [
        (e.any, "anyExtendedKeyUsage"),
        (e.server_auth, "serverAuth"),
        (e.client_auth, "clientAuth"),
        (e.code_signing, "codeSigning"),
        (e.email_protection, "emailProtection"),
        (e.time_stamping, "timeStamping"),
        (e.ocsp_signing, "OCSPSigning"),
    ] {
        if on {
            names.push(name.to_owned());
        }
    }
    names.extend(e.other.iter().map(|o| o.to_id_string()));
    Ok(Some(names))
}

/// RFC 3339 in UTC with a `Z` (`2026-11-26T00:00:00Z`).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC).format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn format_ip(b: &[u8]) -> String {
    match b.len() {
        4 => std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string(),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            std::net::Ipv6Addr::from(a).to_string()
        }
        _ => format!("{b:02x?}"),
    }
}
