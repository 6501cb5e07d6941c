//! PSD2 content of eIDAS certificates (ETSI TS 119 495): roles, the NCA, the organizationIdentifier.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::Error;

/// OID of the PSD2 QCStatement (`0.4.0.19495.2`).
pub const OID_PSD2_STATEMENT: &str = "0.4.0.19495.2";

/// A PSD2 role of a payment service provider (TS 119 495 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// PSP_AS: account servicing (an ASPSP, a bank).
    AccountServicing,
    /// PSP_PI: payment initiation (PISP).
    PaymentInitiation,
    /// PSP_AI: account information (AISP).
    AccountInformation,
    /// PSP_IC: issuing of card-based payment instruments (CBPII, funds confirmation).
    IssuingCards,
}

impl Role {
    /// All four roles in OID order.
    pub const ALL: [Role; 4] =
        [Role::AccountServicing, Role::PaymentInitiation, Role::AccountInformation, Role::IssuingCards];

    /// `PSP_AS`, `PSP_PI`, `PSP_AI` or `PSP_IC`.
    pub fn name(self) -> &'static str {
        match self {
            Role::AccountServicing => "PSP_AS",
            Role::PaymentInitiation => "PSP_PI",
            Role::AccountInformation => "PSP_AI",
            Role::IssuingCards => "PSP_IC",
        }
    }

    /// The role OID, `0.4.0.19495.1.1` … `.1.4`.
    pub fn oid(self) -> &'static str {
        match self {
            Role::AccountServicing => "0.4.0.19495.1.1",
            Role::PaymentInitiation => "0.4.0.19495.1.2",
            Role::AccountInformation => "0.4.0.19495.1.3",
            Role::IssuingCards => "0.4.0.19495.1.4",
        }
    }

    /// The role with this OID.
    pub fn from_oid(oid: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.oid() == oid)
    }
}

impl FromStr for Role {
    type Err = Error;

    /// Accepts `PSP_AI` and the short form `AI`, in any case.
    fn from_str(s: &str) -> Result<Self, Error> {
        let up = s.trim().to_ascii_uppercase();
        let short = up.strip_prefix("PSP_").unwrap_or(&up);
        Role::ALL.into_iter().find(|r| &r.name()[4..] == short).ok_or_else(|| Error::UnknownRole(s.to_owned()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One entry of `RolesOfPSP` as encoded: the OID and the name next to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleEntry {
    /// The role OID as encoded.
    pub oid: String,
    /// The role name as encoded.
    pub name: String,
    /// The role the OID denotes, when it is one of the four TS 119 495 roles.
    pub role: Option<Role>,
}

/// The decoded PSD2 QCStatement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Psd2Statement {
    /// The roles as encoded, in encoded order.
    pub roles: Vec<RoleEntry>,
    /// `NCAName`, e.g. "National Bank of Belgium".
    pub nca_name: String,
    /// `NCAId`, e.g. `BE-NBB`.
    pub nca_id: String,
}

impl Psd2Statement {
    /// The roles granted, by OID (the OID is authoritative when the name disagrees; an unknown
    /// OID grants nothing, whatever it is named), in OID order without repeats. The one place
    /// roles are read: [`Certificate::psd2_roles`](crate::Certificate::psd2_roles) calls it.
    pub fn roles(&self) -> Vec<Role> {
        Role::ALL.into_iter().filter(|r| self.has_role(*r)).collect()
    }

    /// True when the statement grants `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.iter().any(|r| r.role == Some(role))
    }
}

/// A parsed organizationIdentifier (EN 319 412-1 §5.1.4): `PSDBE-NBB-1234.567.890` is scheme
/// `PSD`, country `BE`, NCA `NBB`, reference `1234.567.890`; `VATBE-0123456789` has no NCA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrganizationIdentifier {
    /// Three-letter scheme: `PSD`, `VAT`, `NTR`, `LEI`…
    pub scheme: String,
    /// ISO 3166-1 country code (or `XG`/`XE`… for non-national schemes).
    pub country: String,
    /// The NCA identifier for the PSD scheme (`NBB`), `None` otherwise.
    pub nca: Option<String>,
    /// The identifier proper (for PSD: the authorisation number given by the NCA).
    pub reference: String,
}

impl OrganizationIdentifier {
    /// Parses and checks the form. PSD values must be `PSD<CC>-<NCA 2..8 A-Z>-<id>`.
    pub fn parse(value: &str) -> Result<Self, Error> {
        let err = |reason: &str| Error::OrganizationIdentifier { value: value.to_owned(), reason: reason.to_owned() };
        let (head, rest) = value.split_once('-').ok_or_else(|| err("expected <scheme><country>-<id>"))?;
        if head.len() != 5 || !head.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(err("must start with a 3-letter scheme and a 2-letter country, e.g. PSDBE-"));
        }
        let (scheme, country) = head.split_at(3);
        if scheme == "PSD" {
            let (nca, reference) =
                rest.split_once('-').ok_or_else(|| err("PSD form is PSD<CC>-<NCA>-<authorisation number>"))?;
            if !(2..=8).contains(&nca.len()) || !nca.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(err("the NCA identifier must be 2 to 8 letters A-Z"));
            }
            if reference.is_empty() {
                return Err(err("the authorisation number is empty"));
            }
            return Ok(Self {
                scheme: scheme.into(),
                country: country.into(),
                nca: Some(nca.into()),
                reference: reference.into(),
            });
        }
        if rest.is_empty() {
            return Err(err("the identifier is empty"));
        }
        Ok(Self { scheme: scheme.into(), country: country.into(), nca: None, reference: rest.into() })
    }

    /// The NCAId this identifier implies (`BE-NBB`), for the PSD scheme.
    pub fn nca_id(&self) -> Option<String> {
        self.nca.as_ref().map(|n| format!("{}-{}", self.country, n))
    }
}

impl fmt::Display for OrganizationIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.nca {
            Some(n) => write!(f, "{}{}-{}-{}", self.scheme, self.country, n, self.reference),
            None => write!(f, "{}{}-{}", self.scheme, self.country, self.reference),
        }
    }
}

/// Checks an NCAId: `<ISO 3166 country>-<2..8 A-Z>`.
pub fn check_nca_id(nca_id: &str) -> Result<(), String> {
    let ok = nca_id.split_once('-').is_some_and(|(c, n)| {
        c.len() == 2
            && c.bytes().all(|b| b.is_ascii_uppercase())
            && (2..=8).contains(&n.len())
            && n.bytes().all(|b| b.is_ascii_uppercase())
    });
    if ok {
        Ok(())
    } else {
        Err(format!("NCAId '{}' is not <country>-<2 to 8 letters A-Z>, e.g. BE-NBB", nca_id.escape_debug()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse() {
        assert_eq!("PSP_AI".parse::<Role>().unwrap(), Role::AccountInformation);
        assert_eq!("pi".parse::<Role>().unwrap(), Role::PaymentInitiation);
        assert!("PSP_XX".parse::<Role>().is_err());
        assert_eq!(Role::from_oid("0.4.0.19495.1.4"), Some(Role::IssuingCards));
    }

    #[test]
    fn org_ids() {
        let o = OrganizationIdentifier::parse("PSDBE-NBB-1234.567.890").unwrap();
        assert_eq!((o.scheme.as_str(), o.country.as_str()), ("PSD", "BE"));
        assert_eq!(o.nca_id().as_deref(), Some("BE-NBB"));
        assert_eq!(o.reference, "1234.567.890");
        assert_eq!(o.to_string(), "PSDBE-NBB-1234.567.890");
        let v = OrganizationIdentifier::parse("VATBE-0123456789").unwrap();
        assert_eq!(v.nca, None);
        for bad in ["PSDBE-NBB", "PSDBE-nbb-1", "PSD-NBB-1", "psdbe-NBB-1", "PSDBE-NBB-", "X"] {
            assert!(OrganizationIdentifier::parse(bad).is_err(), "{bad}");
        }
        assert!(check_nca_id("BE-NBB").is_ok());
        assert!(check_nca_id("BEL-NBB").is_err());
    }
}
