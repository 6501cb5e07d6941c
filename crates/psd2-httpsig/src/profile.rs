//! Signature profiles: what a bank (or a standard) wants signed, described as data.
//!
//! A [`Profile`] says which signature format carries the seal, which digest header and date form
//! are sent, which request id header is generated, which headers are covered (always, or when
//! present), how the keyId is built and whether the certificate travels in a header. Signing
//! ([`crate::sign()`]) and verifying ([`crate::verify()`]) read the same description, so a profile
//! is one table row, not code per bank.
//!
//! | name | format | digest | date | id header | covered | keyId | certificate |
//! |---|---|---|---|---|---|---|---|
//! | `berlin-group` | cavage `Signature` | `Digest: SHA-256=` | IMF-fixdate (sent, not signed unless asked) | `X-Request-ID` | `digest x-request-id` + `psu-id`, `psu-corporate-id`, `tpp-redirect-uri` when present | `SN=…,CA=…` | `TPP-Signature-Certificate` Base64 DER |
//! | `belfius-fallback` | cavage `Signature` | `Digest: SHA256=` | ISO 8601 | `Request-Id` | `(request-target) date digest request-id` + `client-id` when present | `SN=…,CA=…` (not published) | none |
//! | `belfius-pis` | `Signature: B64(header).B64(body).B64(RS256)` | none | none | none | the body | none | none |
//! | `stet` | cavage `Signature` | `Digest: SHA-256=` | IMF-fixdate | `X-Request-ID` | `(request-target) digest date x-request-id` + `content-type`, `content-length`, `psu-*` when present | the QSealC URL (given) | published at the keyId URL |
//! | `ing` (token call) | `Authorization: Signature` | `Digest: SHA-256=` | IMF-fixdate | none | `(request-target) date digest` | `SN=<HEX>` | `TPP-Signature-Certificate` PEM on one line |
//! | `ing-call` (later calls) | cavage `Signature` | `Digest: SHA-256=` | IMF-fixdate | none | `(request-target) date digest` | the client id (given) | none |
//! | `rfc9421` | `Signature-Input` + `Signature` | `Content-Digest: sha-256=` | none (`created`) | `X-Request-ID` | `@method @target-uri content-digest` + `content-type`, `x-request-id` when present | `SN=…,CA=…` | `TPP-Signature-Certificate` Base64 DER |
//!
//! Belfius PIS encoding: the only evidence (client code, docs/belfius-api.md §9.2) uses standard
//! Base64 **with padding**, not the base64url of RFC 7515; whether Belfius accepts (or requires)
//! base64url, `kid`/`x5c`, or a detached payload is an open question, so base64url is an option
//! ([`PisEncoding`]).

use crate::cavage::Carrier;
use crate::digest::DigestAlgorithm;
use crate::error::{Error, Result};
use crate::keyid::{HexCase, KeyIdStyle};

/// The signature format a profile uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// draft-cavage-10 parameters in the given header.
    Cavage(Carrier),
    /// RFC 9421 `Signature-Input` + `Signature`.
    Rfc9421,
    /// Belfius PIS: `Signature: B64(header).B64(body).B64(RS256 signature)`.
    BelfiusPis,
}

/// Which digest header a profile sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestSpec {
    /// RFC 3230 `Digest: <token>=<base64>`, with the token spelled as given.
    Rfc3230 {
        /// The algorithm.
        algorithm: DigestAlgorithm,
        /// The token as written (`SHA-256`, or `SHA256` for Belfius).
        token: &'static str,
    },
    /// RFC 9530 `Content-Digest: sha-256=:<base64>:`.
    ContentDigest(DigestAlgorithm),
}

impl DigestSpec {
    /// The header name.
    pub fn header(self) -> &'static str {
        match self {
            Self::Rfc3230 { .. } => crate::digest::DIGEST,
            Self::ContentDigest(_) => crate::digest::CONTENT_DIGEST,
        }
    }

    /// The header value for `body`.
    pub fn value(self, body: &[u8]) -> String {
        match self {
            Self::Rfc3230 { algorithm, token } => crate::digest::rfc3230_digest(algorithm, token, body),
            Self::ContentDigest(a) => crate::digest::content_digest(a, body),
        }
    }
}

/// How a `Date` header is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DateForm {
    /// RFC 9110 IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`.
    ImfFixdate,
    /// ISO 8601 UTC, `2018-08-04T12:23:34Z` (Belfius fallback).
    Iso8601,
}

/// A header or pseudo-header a profile covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cover {
    /// Always covered (lower-case name, `(request-target)`, or an RFC 9421 `@component`).
    Always(&'static str),
    /// Covered when the header is present.
    IfPresent(&'static str),
    /// Every present header whose name starts with this prefix (STET `psu-`).
    PrefixIfPresent(&'static str),
}

/// Where the keyId comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyIdSource {
    /// `SN=<serial>,CA=<issuer>` from the certificate, in this style.
    BerlinGroup(KeyIdStyle),
    /// `SN=<serial>` only (ING token call).
    SerialOnly(KeyIdStyle),
    /// Given by the caller; the text says what it is (the ING client id).
    Given(&'static str),
    /// Given by the caller, and it must be an absolute `https` URL (STET: where the QSealC is
    /// published); the text says what it is.
    Url(&'static str),
    /// No keyId (Belfius PIS).
    None,
}

/// How the signing certificate is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateHeader {
    /// `TPP-Signature-Certificate: <Base64 DER>` (Berlin Group, adorsys).
    Base64Der,
    /// `TPP-Signature-Certificate: -----BEGIN CERTIFICATE-----<Base64>-----END CERTIFICATE-----`
    /// on one line (ING).
    PemOneLine,
}

/// The `TPP-Signature-Certificate` header name.
pub const TPP_SIGNATURE_CERTIFICATE: &str = "TPP-Signature-Certificate";

/// Base64 flavour of the Belfius PIS `Signature` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PisEncoding {
    /// Standard Base64 with padding, as in the only known client (docs/belfius-api.md §9.2).
    #[default]
    Standard,
    /// base64url without padding, as RFC 7515 would have it.
    Url,
}

/// One signature profile. See the [module docs](self) for the table of built-in profiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The profile name used on the command line.
    pub name: &'static str,
    /// One line about it.
    pub description: &'static str,
    /// The signature format.
    pub format: Format,
    /// The digest header sent, if any.
    pub digest: Option<DigestSpec>,
    /// The `Date` form sent, if any.
    pub date: Option<DateForm>,
    /// The request id header generated (UUID v4) when missing.
    pub request_id: Option<&'static str>,
    /// What is covered, in signing order.
    pub covered: &'static [Cover],
    /// The keyId.
    pub key_id: KeyIdSource,
    /// How the certificate is sent, if it is.
    pub certificate_header: Option<CertificateHeader>,
    /// What the verifier demands of the signer's certificate.
    pub seal: SealRule,
}

/// What a verifier demands of the certificate a request is sealed with. A CA certificate is
/// refused under every rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealRule {
    /// A qualified seal certificate for PSD2: QcCompliance, QcType eseal and at least one PSD2
    /// role (ETSI TS 119 495), as Berlin Group, STET and ING banks require.
    Psd2QSealC,
    /// Any end-entity certificate; one that is not a QSealC is accepted with a warning
    /// (generic RFC 9421, Belfius whose sandbox seals with plain certificates).
    AnyEndEntity,
}

const SHA256_DIGEST: DigestSpec = DigestSpec::Rfc3230 { algorithm: DigestAlgorithm::Sha256, token: "SHA-256" };

/// Berlin Group NextGenPSD2 1.3.x (Errata reading: `date` not signed unless asked).
pub const BERLIN_GROUP: Profile = Profile {
    name: "berlin-group",
    description: "Berlin Group NextGenPSD2: cavage Signature over digest x-request-id (+ psu-id, psu-corporate-id, tpp-redirect-uri)",
    format: Format::Cavage(Carrier::SignatureHeader),
    digest: Some(SHA256_DIGEST),
    date: Some(DateForm::ImfFixdate),
    request_id: Some("X-Request-ID"),
    covered: &[
        Cover::Always("digest"),
        Cover::Always("x-request-id"),
        Cover::IfPresent("psu-id"),
        Cover::IfPresent("psu-corporate-id"),
        Cover::IfPresent("tpp-redirect-uri"),
    ],
    key_id: KeyIdSource::BerlinGroup(KeyIdStyle {
        hex: HexCase::Lower,
        serial: crate::keyid::SerialForm::Minimal,
        dn: crate::keyid::DnStyle::Rfc4514,
        percent_spaces: true,
    }),
    certificate_header: Some(CertificateHeader::Base64Der),
    seal: SealRule::Psd2QSealC,
};

/// Belfius fallback interface (RTS Art. 33(6)): cavage-10 with ISO 8601 `Date` and `SHA256=`.
pub const BELFIUS_FALLBACK: Profile = Profile {
    name: "belfius-fallback",
    description: "Belfius fallback interface: cavage Signature over (request-target) date digest request-id [client-id]",
    format: Format::Cavage(Carrier::SignatureHeader),
    digest: Some(DigestSpec::Rfc3230 { algorithm: DigestAlgorithm::Sha256, token: "SHA256" }),
    date: Some(DateForm::Iso8601),
    request_id: Some("Request-Id"),
    covered: &[
        Cover::Always("(request-target)"),
        Cover::Always("date"),
        Cover::Always("digest"),
        Cover::Always("request-id"),
        Cover::IfPresent("client-id"),
    ],
    key_id: BERLIN_GROUP.key_id,
    certificate_header: None,
    seal: SealRule::AnyEndEntity,
};

/// Belfius PIS initiation: the JWS-like `Signature` header over the body.
pub const BELFIUS_PIS: Profile = Profile {
    name: "belfius-pis",
    description: "Belfius PIS initiation: Signature = B64({\"typ\":\"JWT\",\"alg\":\"RS256\"}).B64(body).B64(RS256 signature)",
    format: Format::BelfiusPis,
    digest: None,
    date: None,
    request_id: None,
    covered: &[],
    key_id: KeyIdSource::None,
    certificate_header: None,
    seal: SealRule::AnyEndEntity,
};

/// STET 1.4.x: keyId is the URL where the QSealC is published.
pub const STET: Profile = Profile {
    name: "stet",
    description: "STET: cavage Signature over (request-target) digest date x-request-id (+ content-type, content-length, psu-*)",
    format: Format::Cavage(Carrier::SignatureHeader),
    digest: Some(SHA256_DIGEST),
    date: Some(DateForm::ImfFixdate),
    request_id: Some("X-Request-ID"),
    covered: &[
        Cover::Always("(request-target)"),
        Cover::Always("digest"),
        Cover::Always("date"),
        Cover::IfPresent("content-type"),
        Cover::IfPresent("content-length"),
        Cover::Always("x-request-id"),
        Cover::PrefixIfPresent("psu-"),
    ],
    key_id: KeyIdSource::Url("the https URL where the QSealC is published (--key-id)"),
    certificate_header: None,
    seal: SealRule::Psd2QSealC,
};

/// ING token call: `Authorization: Signature` with `SN=<HEX>` and the certificate as PEM.
pub const ING_TOKEN: Profile = Profile {
    name: "ing",
    description: "ING application-token call: Authorization: Signature over (request-target) date digest, keyId SN=<hex>",
    format: Format::Cavage(Carrier::Authorization),
    digest: Some(SHA256_DIGEST),
    date: Some(DateForm::ImfFixdate),
    request_id: None,
    covered: &[Cover::Always("(request-target)"), Cover::Always("date"), Cover::Always("digest")],
    key_id: KeyIdSource::SerialOnly(KeyIdStyle {
        hex: HexCase::Upper,
        serial: crate::keyid::SerialForm::Minimal,
        dn: crate::keyid::DnStyle::Rfc4514,
        percent_spaces: true,
    }),
    certificate_header: Some(CertificateHeader::PemOneLine),
    seal: SealRule::Psd2QSealC,
};

/// ING calls after the token: `Signature` with the client id as keyId, no certificate.
pub const ING_CALL: Profile = Profile {
    name: "ing-call",
    description: "ING calls after the token: Signature over (request-target) date digest, keyId = client id",
    format: Format::Cavage(Carrier::SignatureHeader),
    digest: Some(SHA256_DIGEST),
    date: Some(DateForm::ImfFixdate),
    request_id: None,
    covered: &[Cover::Always("(request-target)"), Cover::Always("date"), Cover::Always("digest")],
    key_id: KeyIdSource::Given("the client id (--key-id)"),
    certificate_header: None,
    seal: SealRule::Psd2QSealC,
};

/// RFC 9421 with `Content-Digest` (RFC 9530).
pub const RFC9421: Profile = Profile {
    name: "rfc9421",
    description: "RFC 9421 Signature-Input/Signature over @method @target-uri content-digest (+ content-type, x-request-id)",
    format: Format::Rfc9421,
    digest: Some(DigestSpec::ContentDigest(DigestAlgorithm::Sha256)),
    date: None,
    request_id: Some("X-Request-ID"),
    covered: &[
        Cover::Always("@method"),
        Cover::Always("@target-uri"),
        Cover::Always("content-digest"),
        Cover::IfPresent("content-type"),
        Cover::IfPresent("x-request-id"),
    ],
    key_id: BERLIN_GROUP.key_id,
    certificate_header: Some(CertificateHeader::Base64Der),
    seal: SealRule::AnyEndEntity,
};

/// Every built-in profile.
pub const ALL: [&Profile; 7] = [&BERLIN_GROUP, &BELFIUS_PIS, &BELFIUS_FALLBACK, &STET, &ING_TOKEN, &ING_CALL, &RFC9421];

impl Profile {
    /// Whether signing under this profile needs the signer's certificate: to send it
    /// (`TPP-Signature-Certificate`) or to derive the keyId from it. `key_id_given`: the caller
    /// supplies the keyId, so it need not come from the certificate.
    pub fn needs_certificate(&self, key_id_given: bool) -> bool {
        self.certificate_header.is_some()
            || (!key_id_given && matches!(self.key_id, KeyIdSource::BerlinGroup(_) | KeyIdSource::SerialOnly(_)))
    }

    /// Looks a profile up by name (`berlin-group`, `belfius-pis`, `belfius-fallback`, `stet`,
    /// `ing`, `ing-call`, `rfc9421`; `ing-token` is an alias of `ing`).
    pub fn by_name(name: &str) -> Result<&'static Profile> {
        let name = name.trim().to_ascii_lowercase();
        let name = if name == "ing-token" { "ing".to_owned() } else { name };
        ALL.into_iter().find(|p| p.name == name).ok_or(Error::UnknownProfile(name))
    }

    /// The `ing` profile is the token call; with a keyId given (the client id) it becomes the
    /// later-call profile. Other profiles are returned unchanged.
    pub fn resolve(&'static self, key_id_given: bool) -> &'static Profile {
        if self.name == ING_TOKEN.name && key_id_given { &ING_CALL } else { self }
    }

    /// The header carrying the signature (`Signature`, `Authorization`).
    pub fn signature_header(&self) -> &'static str {
        match self.format {
            Format::Cavage(c) => c.header(),
            Format::Rfc9421 | Format::BelfiusPis => "Signature",
        }
    }

    /// The components this profile covers for a message with these header names.
    pub fn covered_for(&self, has: impl Fn(&str) -> bool, names: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in self.covered {
            match c {
                Cover::Always(n) => out.push((*n).to_owned()),
                Cover::IfPresent(n) if has(n) => out.push((*n).to_owned()),
                Cover::IfPresent(_) => {}
                Cover::PrefixIfPresent(p) => {
                    for n in names {
                        let l = n.to_ascii_lowercase();
                        if l.starts_with(p) && !out.contains(&l) {
                            out.push(l);
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_profiles_need_the_certificate() {
        // Berlin Group sends it; Belfius PIS and STET (keyId = URL) do not need it.
        assert!(BERLIN_GROUP.needs_certificate(false) && BERLIN_GROUP.needs_certificate(true));
        assert!(!BELFIUS_PIS.needs_certificate(false));
        assert!(!STET.needs_certificate(true));
    }
}
