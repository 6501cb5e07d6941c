//! The qcStatements extension as issued: EN 319 412-5 statements and the TS 119 495 PSD2
//! statement, encoded by hand to the exact ASN.1 of the standards.
//!
//! ```text
//! QCStatements ::= SEQUENCE OF QCStatement
//! QCStatement  ::= SEQUENCE { statementId OID, statementInfo ANY OPTIONAL }
//!   id-qcs-pkixQCSyntax-v2  SemanticsInformation ::= SEQUENCE { semanticsIdentifier OID }
//!   QcCompliance, QcSSCD    (no statementInfo)
//!   QcType                  SEQUENCE OF OID            -- exactly one
//!   QcPDS                   SEQUENCE OF SEQUENCE { url IA5String, language PrintableString }
//!   PSD2 (0.4.0.19495.2)    SEQUENCE { SEQUENCE OF SEQUENCE { OID, UTF8String }, UTF8String, UTF8String }
//! ```

use psd2_eidas::OID_PSD2_STATEMENT;
use psd2_eidas::Role;
use psd2_eidas::der::{self, tag};
use psd2_eidas::qc::{
    OID_QC_COMPLIANCE, OID_QC_PDS, OID_QC_SSCD, OID_QC_TYPE, OID_QCS_SYNTAX_V2, OID_SEMANTICS_LEGAL, QcType,
};

use crate::Error;

/// One PKI disclosure statement: an https URL and a lower-case ISO 639-1 language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pds {
    /// The https URL of the PDS.
    pub url: String,
    /// Two lower-case letters (`en`).
    pub language: String,
}

/// What goes into the qcStatements of a PSD2 certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QcSpec {
    /// `Web` for a QWAC, `Eseal` for a QSealC.
    pub qc_type: QcType,
    /// QcSSCD: the key is in a QSCD (QSealC under QCP-l-qscd).
    pub sscd: bool,
    /// QcPDS locations (at least one).
    pub pds: Vec<Pds>,
    /// PSD2 roles, in any order (encoded in OID order, without duplicates).
    pub roles: Vec<Role>,
    /// NCAName.
    pub nca_name: String,
    /// NCAId (`BE-NBB`).
    pub nca_id: String,
}

impl QcSpec {
    /// Checks the values the standards constrain.
    pub fn validate(&self) -> Result<(), Error> {
        if self.pds.is_empty() {
            return Err(Error::input("QcPDS", "at least one PDS location is required"));
        }
        for p in &self.pds {
            if !p.url.starts_with("https://") || !p.url.is_ascii() || p.url.len() <= 8 {
                return Err(Error::input("QcPDS", format!("'{}' is not an https URL", p.url)));
            }
            if p.language.len() != 2 || !p.language.bytes().all(|b| b.is_ascii_lowercase()) {
                return Err(Error::input(
                    "QcPDS",
                    format!("language '{}' is not a lower-case ISO 639-1 code", p.language),
                ));
            }
        }
        if self.roles.is_empty() {
            return Err(Error::input("roles", "at least one PSD2 role is required"));
        }
        if self.nca_name.trim().is_empty() || self.nca_name.chars().count() > 256 {
            return Err(Error::input("NCA name", "must be 1 to 256 characters"));
        }
        psd2_eidas::check_nca_id(&self.nca_id).map_err(|e| Error::input("NCA id", e))?;
        Ok(())
    }

    /// The roles as encoded: OID order, no duplicates.
    pub fn sorted_roles(&self) -> Vec<Role> {
        let mut roles = self.roles.clone();
        roles.sort();
        roles.dedup();
        roles
    }

    /// The DER value of the qcStatements extension (1.3.6.1.5.5.7.1.3).
    pub fn to_der(&self) -> Result<Vec<u8>, Error> {
        self.validate()?;
        let statement = |oid: &str, info: Option<Vec<u8>>| {
            let mut parts = vec![der::oid(oid)];
            parts.extend(info);
            der::sequence(&parts)
        };
        let mut statements = vec![
            statement(OID_QCS_SYNTAX_V2, Some(der::sequence(&[der::oid(OID_SEMANTICS_LEGAL)]))),
            statement(OID_QC_COMPLIANCE, None),
        ];
        if self.sscd {
            statements.push(statement(OID_QC_SSCD, None));
        }
        statements.push(statement(OID_QC_TYPE, Some(der::sequence(&[der::oid(self.qc_type.oid())]))));
        let locations: Vec<Vec<u8>> = self
            .pds
            .iter()
            .map(|p| {
                der::sequence(&[
                    der::write(tag::IA5_STRING, p.url.as_bytes()),
                    der::write(tag::PRINTABLE_STRING, p.language.as_bytes()),
                ])
            })
            .collect();
        statements.push(statement(OID_QC_PDS, Some(der::sequence(&locations))));
        let roles: Vec<Vec<u8>> = self
            .sorted_roles()
            .into_iter()
            .map(|r| der::sequence(&[der::oid(r.oid()), der::write(tag::UTF8_STRING, r.name().as_bytes())]))
            .collect();
        let psd2 = der::sequence(&[
            der::sequence(&roles),
            der::write(tag::UTF8_STRING, self.nca_name.as_bytes()),
            der::write(tag::UTF8_STRING, self.nca_id.as_bytes()),
        ]);
        statements.push(statement(OID_PSD2_STATEMENT, Some(psd2)));
        Ok(der::sequence(&statements))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use psd2_eidas::qc::QcStatements;

    #[test]
    fn round_trips_through_the_decoder_without_warnings() {
        let spec = QcSpec {
            qc_type: QcType::Eseal,
            sscd: true,
            pds: vec![Pds { url: "https://pki.example.com/pds-en.pdf".into(), language: "en".into() }],
            roles: vec![Role::IssuingCards, Role::AccountInformation, Role::AccountServicing, Role::AccountInformation],
            nca_name: "National Bank of Belgium".into(),
            nca_id: "BE-NBB".into(),
        };
        let qc = QcStatements::from_der(&spec.to_der().unwrap()).unwrap();
        assert!(qc.warnings.is_empty(), "{:?}", qc.warnings);
        assert!(qc.compliance && qc.sscd);
        assert_eq!(qc.types, vec![QcType::Eseal]);
        assert_eq!(qc.semantics_id.as_deref(), Some(OID_SEMANTICS_LEGAL));
        let psd2 = qc.psd2.unwrap();
        assert_eq!(psd2.roles(), vec![Role::AccountServicing, Role::AccountInformation, Role::IssuingCards]);
        assert_eq!((psd2.nca_name.as_str(), psd2.nca_id.as_str()), ("National Bank of Belgium", "BE-NBB"));
        assert!(qc.other_statements.is_empty());
    }

    #[test]
    fn rejects_bad_values() {
        let ok = QcSpec {
            qc_type: QcType::Web,
            sscd: false,
            pds: vec![Pds { url: "https://x.example.com/pds".into(), language: "en".into() }],
            roles: vec![Role::PaymentInitiation],
            nca_name: "NBB".into(),
            nca_id: "BE-NBB".into(),
        };
        assert!(ok.to_der().is_ok());
        let mut bad = ok.clone();
        bad.pds[0].language = "EN".into();
        assert!(bad.to_der().is_err());
        let mut bad = ok.clone();
        bad.pds[0].url = "http://x.example.com/".into();
        assert!(bad.to_der().is_err());
        let mut bad = ok.clone();
        bad.roles.clear();
        assert!(bad.to_der().is_err());
        let mut bad = ok;
        bad.nca_id = "BE-nbb".into();
        assert!(bad.to_der().is_err());
    }
}
