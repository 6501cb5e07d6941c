//! The qcStatements extension (RFC 3739, ETSI EN 319 412-5, ETSI TS 119 495).
//!
//! Decoding is tolerant: the quirks seen in real certificates (QcCompliance with an empty
//! statementInfo, a lone statement without the outer SEQUENCE, a QcType that is a bare OID,
//! upper-case PDS languages, role names that disagree with their OIDs) are decoded and reported
//! in [`QcStatements::warnings`]; only structure that cannot be read is an error.

use serde::Serialize;

use crate::der::{DerError, Reader, Tlv, tag};
use crate::psd2::{OID_PSD2_STATEMENT, Psd2Statement, Role, RoleEntry};

/// OID of the qcStatements extension.
pub const OID_QC_STATEMENTS: &str = "1.3.6.1.5.5.7.1.3";
/// QcCompliance.
pub const OID_QC_COMPLIANCE: &str = "0.4.0.1862.1.1";
/// QcLimitValue.
pub const OID_QC_LIMIT_VALUE: &str = "0.4.0.1862.1.2";
/// QcRetentionPeriod.
pub const OID_QC_RETENTION: &str = "0.4.0.1862.1.3";
/// QcSSCD.
pub const OID_QC_SSCD: &str = "0.4.0.1862.1.4";
/// QcPDS.
pub const OID_QC_PDS: &str = "0.4.0.1862.1.5";
/// QcType.
pub const OID_QC_TYPE: &str = "0.4.0.1862.1.6";
/// QcCClegislation.
pub const OID_QC_LEGISLATION: &str = "0.4.0.1862.1.7";
/// id-qcs-pkixQCSyntax-v2 (semantics identifier).
pub const OID_QCS_SYNTAX_V2: &str = "1.3.6.1.5.5.7.11.2";
/// Semantics identifier for a legal person (EN 319 412-1).
pub const OID_SEMANTICS_LEGAL: &str = "0.4.0.194121.1.2";

/// The purpose a qualified certificate is issued for (QcType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QcType {
    /// Electronic signature (natural person), `0.4.0.1862.1.6.1`.
    Esign,
    /// Electronic seal (legal person), `0.4.0.1862.1.6.2`: a QSealC.
    Eseal,
    /// Website authentication, `0.4.0.1862.1.6.3`: a QWAC.
    Web,
}

impl QcType {
    /// The QcType OID.
    pub fn oid(self) -> &'static str {
        match self {
            QcType::Esign => "0.4.0.1862.1.6.1",
            QcType::Eseal => "0.4.0.1862.1.6.2",
            QcType::Web => "0.4.0.1862.1.6.3",
        }
    }

    fn from_oid(oid: &str) -> Option<Self> {
        [QcType::Esign, QcType::Eseal, QcType::Web].into_iter().find(|t| t.oid() == oid)
    }
}

/// One PKI disclosure statement location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PdsLocation {
    /// The URL (https expected).
    pub url: String,
    /// ISO 639-1 language code as encoded.
    pub language: String,
}

/// QcLimitValue: a transaction limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitValue {
    /// ISO 4217 currency: alphabetic (`EUR`) or numeric (`978`) as encoded.
    pub currency: String,
    /// Amount.
    pub amount: i64,
    /// Exponent: value = amount × 10^exponent.
    pub exponent: i64,
}

/// The decoded qcStatements extension.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QcStatements {
    /// QcCompliance present: an EU qualified certificate.
    pub compliance: bool,
    /// QcType values.
    pub types: Vec<QcType>,
    /// QcSSCD present: the private key is in a qualified signature/seal creation device.
    pub sscd: bool,
    /// QcPDS locations.
    pub pds: Vec<PdsLocation>,
    /// QcRetentionPeriod in years.
    pub retention_years: Option<i64>,
    /// QcLimitValue.
    pub limit_value: Option<LimitValue>,
    /// QcCClegislation country codes.
    pub legislation: Vec<String>,
    /// The semantics identifier from id-qcs-pkixQCSyntax-v2 (e.g. `0.4.0.194121.1.2`).
    pub semantics_id: Option<String>,
    /// The PSD2 statement (TS 119 495).
    #[serde(skip)]
    pub psd2: Option<Psd2Statement>,
    /// OIDs of statements not decoded here.
    pub other_statements: Vec<String>,
    /// Deviations from the standards that were tolerated.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl QcStatements {
    /// Decodes the DER value of the qcStatements extension.
    pub fn from_der(der: &[u8]) -> Result<Self, DerError> {
        let outer = Tlv::parse_exact(der, "qcStatements")?.expect(tag::SEQUENCE, "QCStatements SEQUENCE")?;
        let mut qc = QcStatements::default();
        let mut r = outer.reader();
        if r.peek_tag() == Some(tag::OID) {
            qc.warnings.push("qcStatements holds a single statement without the outer SEQUENCE".into());
            qc.statement(outer)?;
            return Ok(qc);
        }
        while !r.is_empty() {
            let st = r.read_tag(tag::SEQUENCE, "QCStatement")?;
            qc.statement(st)?;
        }
        Ok(qc)
    }

    fn statement(&mut self, st: Tlv<'_>) -> Result<(), DerError> {
        let mut r = st.reader();
        let oid = r.read()?.oid()?;
        let info = if r.is_empty() { None } else { Some(r.read()?) };
        if !r.is_empty() {
            return Err(DerError::Trailing("QCStatement"));
        }
        match oid.as_str() {
            OID_QC_COMPLIANCE => {
                self.compliance = true;
                if let Some(i) = info {
                    let shown = i
                        .string()
                        .map(|(s, k)| format!("{k} \"{s}\""))
                        .unwrap_or_else(|_| format!("tag 0x{:02x}", i.tag));
                    self.warnings.push(format!("QcCompliance carries a statementInfo ({shown}); it should be absent"));
                }
            }
            OID_QC_SSCD => {
                self.sscd = true;
                if info.is_some() {
                    self.warnings.push("QcSSCD carries a statementInfo; it should be absent".into());
                }
            }
            OID_QC_TYPE => self.qc_type(info.ok_or(DerError::Malformed("QcType without types"))?)?,
            OID_QC_PDS => self.pds(info.ok_or(DerError::Malformed("QcPDS without locations"))?)?,
            OID_QC_RETENTION => {
                self.retention_years = Some(info.ok_or(DerError::Malformed("QcRetentionPeriod"))?.small_int()?);
            }
            OID_QC_LIMIT_VALUE => {
                let seq = info.ok_or(DerError::Malformed("QcLimitValue"))?.expect(tag::SEQUENCE, "MonetaryValue")?;
                let mut m = seq.reader();
                let cur = m.read()?;
                let currency = if cur.tag == tag::INTEGER { cur.small_int()?.to_string() } else { cur.string()?.0 };
                let amount = m.read()?.small_int()?;
                let exponent = m.read()?.small_int()?;
                self.limit_value = Some(LimitValue { currency, amount, exponent });
            }
            OID_QC_LEGISLATION => {
                let seq = info.ok_or(DerError::Malformed("QcCClegislation"))?.expect(tag::SEQUENCE, "SEQUENCE")?;
                let mut m = seq.reader();
                while !m.is_empty() {
                    self.legislation.push(m.read()?.string()?.0);
                }
            }
            OID_QCS_SYNTAX_V2 => {
                if let Some(i) = info {
                    let mut m = i.expect(tag::SEQUENCE, "SemanticsInformation")?.reader();
                    if m.peek_tag() == Some(tag::OID) {
                        self.semantics_id = Some(m.read()?.oid()?);
                    }
                }
            }
            OID_PSD2_STATEMENT => {
                let psd2 = self.psd2_statement(info.ok_or(DerError::Malformed("PSD2 statement without content"))?)?;
                self.psd2 = Some(psd2);
            }
            _ => self.other_statements.push(oid),
        }
        Ok(())
    }

    fn qc_type(&mut self, info: Tlv<'_>) -> Result<(), DerError> {
        let oids: Vec<String> = if info.tag == tag::OID {
            self.warnings.push("QcType is a bare OID, not a SEQUENCE OF OID".into());
            vec![info.oid()?]
        } else {
            let mut r = info.expect(tag::SEQUENCE, "QcType SEQUENCE")?.reader();
            let mut v = Vec::new();
            while !r.is_empty() {
                v.push(r.read()?.oid()?);
            }
            v
        };
        for oid in oids {
            match QcType::from_oid(&oid) {
                Some(t) => self.types.push(t),
                None => self.warnings.push(format!("unknown QcType {oid}")),
            }
        }
        if self.types.len() > 1 {
            self.warnings.push("QcType lists more than one type; EN 319 412-5 V2.3+ allows exactly one".into());
        }
        Ok(())
    }

    fn pds(&mut self, info: Tlv<'_>) -> Result<(), DerError> {
        let mut r = info.expect(tag::SEQUENCE, "PdsLocations")?.reader();
        while !r.is_empty() {
            let loc = r.read_tag(tag::SEQUENCE, "PdsLocation")?;
            let mut l = loc.reader();
            let url = l.read()?.string()?.0;
            let language = l.read()?.string()?.0;
            if language.len() != 2 || !language.bytes().all(|b| b.is_ascii_lowercase()) {
                self.warnings.push(format!("QcPDS language '{language}' is not a lower-case ISO 639-1 code"));
            }
            if !url.starts_with("https://") {
                self.warnings.push(format!("QcPDS URL '{url}' is not https"));
            }
            self.pds.push(PdsLocation { url, language });
        }
        Ok(())
    }

    fn psd2_statement(&mut self, info: Tlv<'_>) -> Result<Psd2Statement, DerError> {
        let mut r: Reader<'_> = info.expect(tag::SEQUENCE, "PSD2QcType")?.reader();
        let roles_seq = r.read_tag(tag::SEQUENCE, "RolesOfPSP")?;
        let nca_name = self.psd2_string(r.read()?, "NCAName")?;
        let nca_id = self.psd2_string(r.read()?, "NCAId")?;
        let mut roles = Vec::new();
        let mut rr = roles_seq.reader();
        while !rr.is_empty() {
            let entry = rr.read_tag(tag::SEQUENCE, "RoleOfPSP")?;
            let mut e = entry.reader();
            let oid = e.read()?.oid()?;
            let name = self.psd2_string(e.read()?, "roleOfPspName")?;
            let role = Role::from_oid(&oid);
            match role {
                Some(role) if role.name() != name => self
                    .warnings
                    .push(format!("PSD2 role OID {oid} means {} but is named '{name}' (the OID is used)", role.name())),
                None => self.warnings.push(format!("unknown PSD2 role OID {oid} named '{name}'")),
                _ => {}
            }
            roles.push(RoleEntry { oid, name, role });
        }
        if roles.is_empty() {
            self.warnings.push("PSD2 statement lists no role".into());
        }
        let mut known: Vec<Role> = roles.iter().filter_map(|r| r.role).collect();
        let sorted = known.windows(2).all(|w| w[0] <= w[1]);
        known.dedup();
        if !sorted {
            self.warnings.push("PSD2 roles are not in OID order".into());
        }
        if let Err(e) = crate::psd2::check_nca_id(&nca_id) {
            self.warnings.push(e);
        }
        Ok(Psd2Statement { roles, nca_name, nca_id })
    }

    fn psd2_string(&mut self, t: Tlv<'_>, field: &str) -> Result<String, DerError> {
        let (s, kind) = t.string()?;
        if kind != "UTF8String" {
            self.warnings.push(format!("PSD2 {field} is a {kind}, TS 119 495 says UTF8String"));
        }
        Ok(s)
    }
}
