//! Subject input and its validation: the PSD2 legal person (EN 319 412-3, TS 119 495 §5.2) and,
//! for QWACs, the CA/Browser Forum EV subject (EV Guidelines §7.1.4.2) and public DNS names.

use psd2_eidas::{OrganizationIdentifier, Role};
use rcgen::{DistinguishedName, DnType, DnValue};

use crate::Error;

/// OID arcs of organizationIdentifier (2.5.4.97).
pub(crate) const DN_ORGANIZATION_IDENTIFIER: &[u64] = &[2, 5, 4, 97];
/// businessCategory (2.5.4.15).
pub(crate) const DN_BUSINESS_CATEGORY: &[u64] = &[2, 5, 4, 15];
/// serialNumber (2.5.4.5).
pub(crate) const DN_SERIAL_NUMBER: &[u64] = &[2, 5, 4, 5];
/// jurisdictionCountryName (1.3.6.1.4.1.311.60.2.1.3).
pub(crate) const DN_JURISDICTION_COUNTRY: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 3];

/// The EV business categories (EV Guidelines §7.1.4.2.3).
pub const BUSINESS_CATEGORIES: [&str; 4] =
    ["Private Organization", "Government Entity", "Business Entity", "Non-Commercial Entity"];

/// Top-level domains that are not public DNS names (RFC 2606, RFC 6761, RFC 6762, common
/// internal names): certificates for them are refused.
const NON_PUBLIC_TLDS: [&str; 12] = [
    "test",
    "local",
    "localhost",
    "invalid",
    "example",
    "internal",
    "lan",
    "home",
    "corp",
    "intranet",
    "localdomain",
    "onion",
];

/// The PSD2 legal person a certificate or request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Psd2Subject {
    /// organizationName (`Example TPP NV`).
    pub organization: String,
    /// organizationIdentifier, `PSD<CC>-<NCA>-<authorisation number>`.
    pub organization_identifier: String,
    /// The PSD2 roles granted by the NCA.
    pub roles: Vec<Role>,
    /// NCAName (`National Bank of Belgium`).
    pub nca_name: String,
    /// NCAId (`BE-NBB`); must agree with the organizationIdentifier.
    pub nca_id: String,
    /// countryName; defaults to the organizationIdentifier's country.
    pub country: Option<String>,
}

/// The additional subject content of a QWAC (CA/Browser Forum EV).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvSubject {
    /// The domains: the first is the commonName, all are SAN dNSNames. At least one.
    pub domains: Vec<String>,
    /// localityName (this or `state` is required).
    pub locality: Option<String>,
    /// stateOrProvinceName (this or `locality` is required).
    pub state: Option<String>,
    /// businessCategory; defaults to `Private Organization`.
    pub business_category: Option<String>,
    /// jurisdictionCountryName; defaults to the organizationIdentifier's country.
    pub jurisdiction_country: Option<String>,
    /// serialNumber (registration number); defaults to the organizationIdentifier's reference.
    pub registration_number: Option<String>,
}

impl EvSubject {
    /// The QWAC part of [`Psd2Subject::example`]: domain `tpp.example.com`, locality Brussels.
    pub fn example() -> Self {
        Self { domains: vec!["tpp.example.com".into()], locality: Some("Brussels".into()), ..Default::default() }
    }
}

/// A [`Psd2Subject`] whose values were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidSubject {
    /// organizationName.
    pub organization: String,
    /// The parsed organizationIdentifier.
    pub organization_identifier: OrganizationIdentifier,
    /// Roles in OID order, without duplicates.
    pub roles: Vec<Role>,
    /// NCAName.
    pub nca_name: String,
    /// NCAId.
    pub nca_id: String,
    /// countryName.
    pub country: String,
}

/// An [`EvSubject`] whose values were checked, with the defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidEv {
    /// Lower-case domains, the commonName first.
    pub domains: Vec<String>,
    /// localityName.
    pub locality: Option<String>,
    /// stateOrProvinceName.
    pub state: Option<String>,
    /// businessCategory.
    pub business_category: String,
    /// jurisdictionCountryName.
    pub jurisdiction_country: String,
    /// serialNumber.
    pub registration_number: String,
}

/// `value` for a message: control characters escaped.
pub(crate) fn shown(value: &str) -> String {
    value.escape_debug().to_string()
}

/// `value` trimmed, refused when it holds control characters (a trailing newline included).
fn no_controls<'a>(field: &'static str, value: &'a str) -> Result<&'a str, Error> {
    if value.chars().any(char::is_control) {
        return Err(Error::input(field, format!("'{}' contains control characters", shown(value))));
    }
    Ok(value.trim())
}

/// A subject text value: trimmed, not empty, at most `max` characters, no control characters.
fn check_text(field: &'static str, value: &str, max: usize) -> Result<String, Error> {
    let v = no_controls(field, value)?;
    if v.is_empty() {
        return Err(Error::input(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(Error::input(field, format!("'{v}' is longer than {max} characters")));
    }
    Ok(v.to_owned())
}

fn check_country(field: &'static str, value: &str) -> Result<String, Error> {
    if value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(value.to_owned())
    } else {
        Err(Error::input(field, format!("'{}' is not an ISO 3166-1 alpha-2 code such as BE", shown(value))))
    }
}

/// The legal person's part of every subject, certificate or request: organizationName,
/// a PSD2 organizationIdentifier (`PSD<CC>-<NCA>-<number>`, the number a PrintableString) and
/// countryName (default: the identifier's country).
pub(crate) fn check_organization(
    organization: &str,
    organization_identifier: &str,
    country: Option<&str>,
) -> Result<(String, OrganizationIdentifier, String), Error> {
    let organization = check_text("organization name", organization, 64)?;
    let org_id = OrganizationIdentifier::parse(no_controls("organizationIdentifier", organization_identifier)?)?;
    if org_id.scheme != "PSD" {
        return Err(Error::input(
            "organizationIdentifier",
            format!("'{org_id}' is not a PSD2 identifier PSD<CC>-<NCA>-<authorisation number>"),
        ));
    }
    if !is_printable(&org_id.reference) {
        return Err(Error::input(
            "organizationIdentifier",
            format!(
                "the authorisation number '{}' has characters outside A-Z a-z 0-9 '()+,-./:=? and space",
                shown(&org_id.reference)
            ),
        ));
    }
    let country = check_country("country", no_controls("country", country.unwrap_or(&org_id.country))?)?;
    Ok((organization, org_id, country))
}

/// True for the PrintableString alphabet (X.680 §41.4).
pub(crate) fn is_printable(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b))
}

/// Checks that `name` is a public DNS name a QWAC may hold: lower-cased LDH labels, at least two,
/// no wildcard, a public top-level domain.
pub fn check_public_domain(name: &str) -> Result<String, Error> {
    let d = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let bad = |why: &str| Error::input("domain", format!("'{}' {why}", shown(name)));
    if d.is_empty() || d.len() > 253 {
        return Err(bad("is not a DNS name"));
    }
    if d.contains('*') {
        return Err(bad("is a wildcard, which EV certificates may not hold"));
    }
    let labels: Vec<&str> = d.split('.').collect();
    if labels.len() < 2 {
        return Err(bad("is not a fully qualified public DNS name"));
    }
    for l in &labels {
        let ok = !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-');
        if !ok {
            return Err(bad("is not a valid DNS name (letters, digits and '-' in labels of 1 to 63)"));
        }
    }
    let tld = labels[labels.len() - 1];
    if NON_PUBLIC_TLDS.contains(&tld) || tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(&format!("is not a public DNS name (.{tld} is reserved or internal)")));
    }
    Ok(d)
}

impl Psd2Subject {
    /// The fictitious TPP of the demo, the examples and the tests: `Example TPP NV`,
    /// `PSDBE-NBB-0999.888.777`, all four PSD2 roles, authorised by the National Bank of Belgium.
    pub fn example() -> Self {
        Self {
            organization: "Example TPP NV".into(),
            organization_identifier: "PSDBE-NBB-0999.888.777".into(),
            roles: Role::ALL.to_vec(),
            nca_name: "National Bank of Belgium".into(),
            nca_id: "BE-NBB".into(),
            country: None,
        }
    }

    /// Checks the values: the organizationIdentifier must be `PSD<CC>-<NCA>-<id>` and agree with
    /// the NCAId; at least one role; the country a two-letter code.
    pub fn validate(&self) -> Result<ValidSubject, Error> {
        let (organization, org_id, country) =
            check_organization(&self.organization, &self.organization_identifier, self.country.as_deref())?;
        let nca_id = no_controls("NCA id", &self.nca_id)?.to_owned();
        psd2_eidas::check_nca_id(&nca_id).map_err(|e| Error::input("NCA id", e))?;
        if org_id.nca_id().as_deref() != Some(nca_id.as_str()) {
            return Err(Error::input(
                "NCA id",
                format!(
                    "'{nca_id}' does not agree with the organizationIdentifier {org_id} (which implies {})",
                    org_id.nca_id().unwrap_or_default()
                ),
            ));
        }
        let nca_name = check_text("NCA name", &self.nca_name, 256)?;
        let mut roles = self.roles.clone();
        roles.sort();
        roles.dedup();
        if roles.is_empty() {
            return Err(Error::input("roles", "at least one PSD2 role is required (PSP_AS, PSP_PI, PSP_AI, PSP_IC)"));
        }
        Ok(ValidSubject { organization, organization_identifier: org_id, roles, nca_name, nca_id, country })
    }
}

impl EvSubject {
    /// Checks the EV values against the already validated legal person and fills the defaults.
    pub fn validate(&self, subject: &ValidSubject) -> Result<ValidEv, Error> {
        if self.domains.is_empty() {
            return Err(Error::input("domain", "a QWAC needs at least one domain (the commonName and SAN)"));
        }
        let mut domains: Vec<String> = Vec::new();
        for d in &self.domains {
            let d = check_public_domain(d)?;
            if d.len() > 64 && domains.is_empty() {
                return Err(Error::input("domain", format!("'{d}' is longer than 64 characters (commonName)")));
            }
            if !domains.contains(&d) {
                domains.push(d);
            }
        }
        let locality = self.locality.as_deref().map(|l| check_text("locality", l, 128)).transpose()?;
        let state = self.state.as_deref().map(|s| check_text("state", s, 128)).transpose()?;
        if locality.is_none() && state.is_none() {
            return Err(Error::input("subject", "a QWAC (EV) needs a locality or a state"));
        }
        let business_category = self.business_category.as_deref().unwrap_or(BUSINESS_CATEGORIES[0]).trim().to_owned();
        if !BUSINESS_CATEGORIES.contains(&business_category.as_str()) {
            return Err(Error::input(
                "business category",
                format!("'{}' (expected one of: {})", shown(&business_category), BUSINESS_CATEGORIES.join(", ")),
            ));
        }
        let oi = &subject.organization_identifier;
        let jurisdiction_country =
            check_country("jurisdiction country", self.jurisdiction_country.as_deref().unwrap_or(&oi.country))?;
        let registration_number =
            check_text("registration number", self.registration_number.as_deref().unwrap_or(&oi.reference), 64)?;
        if !is_printable(&registration_number) {
            return Err(Error::input("registration number", "must be a PrintableString"));
        }
        Ok(ValidEv { domains, locality, state, business_category, jurisdiction_country, registration_number })
    }
}

pub(crate) fn printable(s: &str) -> Result<DnValue, Error> {
    rcgen::string::PrintableString::try_from(s)
        .map(DnValue::PrintableString)
        .map_err(|_| Error::input("subject", format!("'{}' is not a PrintableString", shown(s))))
}

/// A DirectoryString: PrintableString when the value allows it, UTF8String otherwise.
fn directory_string(s: &str) -> DnValue {
    if is_printable(s) {
        printable(s).unwrap_or_else(|_| DnValue::Utf8String(s.to_owned()))
    } else {
        DnValue::Utf8String(s.to_owned())
    }
}

/// The QSealC subject (EN 319 412-3): C, O, organizationIdentifier, CN.
pub(crate) fn qseal_name(s: &ValidSubject) -> Result<DistinguishedName, Error> {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, printable(&s.country)?);
    dn.push(DnType::OrganizationName, DnValue::Utf8String(s.organization.clone()));
    dn.push(
        DnType::CustomDnType(DN_ORGANIZATION_IDENTIFIER.to_vec()),
        directory_string(&s.organization_identifier.to_string()),
    );
    dn.push(DnType::CommonName, DnValue::Utf8String(s.organization.clone()));
    Ok(dn)
}

/// The QWAC subject: the EV attributes first, then the CABF relative order C, ST, L, O, CN with
/// organizationIdentifier after O.
pub(crate) fn qwac_name(s: &ValidSubject, ev: &ValidEv) -> Result<DistinguishedName, Error> {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CustomDnType(DN_BUSINESS_CATEGORY.to_vec()), DnValue::Utf8String(ev.business_category.clone()));
    dn.push(DnType::CustomDnType(DN_JURISDICTION_COUNTRY.to_vec()), printable(&ev.jurisdiction_country)?);
    dn.push(DnType::CustomDnType(DN_SERIAL_NUMBER.to_vec()), printable(&ev.registration_number)?);
    dn.push(DnType::CountryName, printable(&s.country)?);
    if let Some(st) = &ev.state {
        dn.push(DnType::StateOrProvinceName, DnValue::Utf8String(st.clone()));
    }
    if let Some(l) = &ev.locality {
        dn.push(DnType::LocalityName, DnValue::Utf8String(l.clone()));
    }
    dn.push(DnType::OrganizationName, DnValue::Utf8String(s.organization.clone()));
    dn.push(
        DnType::CustomDnType(DN_ORGANIZATION_IDENTIFIER.to_vec()),
        directory_string(&s.organization_identifier.to_string()),
    );
    dn.push(DnType::CommonName, DnValue::Utf8String(ev.domains[0].clone()));
    Ok(dn)
}

/// The subject of a PKCS#10 request for a QTSP: C, O, organizationIdentifier, CN.
pub(crate) fn request_name(
    country: &str,
    organization: &str,
    org_id: &str,
    cn: &str,
) -> Result<DistinguishedName, Error> {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, printable(country)?);
    dn.push(DnType::OrganizationName, DnValue::Utf8String(organization.to_owned()));
    dn.push(DnType::CustomDnType(DN_ORGANIZATION_IDENTIFIER.to_vec()), directory_string(org_id));
    dn.push(DnType::CommonName, DnValue::Utf8String(cn.to_owned()));
    Ok(dn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tpp() -> Psd2Subject {
        Psd2Subject {
            organization: "Example TPP NV".into(),
            organization_identifier: "PSDBE-NBB-0999.888.777".into(),
            roles: vec![Role::PaymentInitiation, Role::AccountInformation, Role::PaymentInitiation],
            nca_name: "National Bank of Belgium".into(),
            nca_id: "BE-NBB".into(),
            country: None,
        }
    }

    #[test]
    fn validates_and_defaults() {
        let v = tpp().validate().unwrap();
        assert_eq!(v.roles, vec![Role::PaymentInitiation, Role::AccountInformation]);
        assert_eq!(v.country, "BE");
        let ev = EvSubject {
            domains: vec!["TPP.example.com".into()],
            locality: Some("Brussels".into()),
            ..Default::default()
        }
        .validate(&v)
        .unwrap();
        assert_eq!(ev.domains, vec!["tpp.example.com"]);
        assert_eq!(ev.business_category, "Private Organization");
        assert_eq!(ev.jurisdiction_country, "BE");
        assert_eq!(ev.registration_number, "0999.888.777");
    }

    #[test]
    fn rejects_bad_subjects() {
        let mut s = tpp();
        s.organization_identifier = "PSDBE-NBB".into();
        assert!(s.validate().is_err());
        let mut s = tpp();
        s.organization_identifier = "VATBE-0999888777".into();
        assert!(s.validate().is_err());
        let mut s = tpp();
        s.nca_id = "NL-DNB".into();
        assert!(s.validate().unwrap_err().to_string().contains("does not agree"));
        let mut s = tpp();
        s.roles.clear();
        assert!(s.validate().is_err());
        let v = tpp().validate().unwrap();
        let ev =
            |d: &str| EvSubject { domains: vec![d.into()], locality: Some("Brussels".into()), ..Default::default() };
        for bad in [
            "tpp.test",
            "host.local",
            "localhost",
            "*.example.com",
            "a..b.com",
            "-a.example.com",
            "10.0.0.1",
            "x.example",
        ] {
            assert!(ev(bad).validate(&v).is_err(), "{bad}");
        }
        let no_locality = EvSubject { domains: vec!["tpp.example.com".into()], ..Default::default() };
        assert!(no_locality.validate(&v).is_err());
    }
}
