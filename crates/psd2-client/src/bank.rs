//! The Belfius / Banx dedicated PSD2 interface as data: hosts and path prefixes per environment,
//! and one row per call (method, path, `Accept` version, authentication, the PSD2 role the QWAC
//! needs). The [`Client`](crate::Client) reads this table; nothing here does I/O.
//!
//! Sources: `docs/sandbox-api.md` (the wire contract of the embedded sandbox, which fixes the
//! points `docs/belfius-api.md` leaves open) and `docs/belfius-api.md` §1–§3 for the live hosts.

use std::fmt;
use std::str::FromStr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use psd2_eidas::Role;
use reqwest::Method;

use crate::Error;

/// `Request-ID`: a fresh UUID v4 on every call (Belfius does not use `X-Request-ID`).
pub(crate) const REQUEST_ID: &str = "Request-ID";
/// `Response-ID`: the bank echoes the `Request-ID`.
pub(crate) const RESPONSE_ID: &str = "Response-ID";
/// `Client-ID`: the client id from onboarding.
pub(crate) const CLIENT_ID: &str = "Client-ID";
/// `Redirect-URI`: the TPP callback URL (consent-uris, PIS initiation).
pub(crate) const REDIRECT_URI: &str = "Redirect-URI";
/// `Code-Challenge-Method`: PKCE in a header (always `S256` here).
pub(crate) const CODE_CHALLENGE_METHOD: &str = "Code-Challenge-Method";
/// `Code-Challenge`: PKCE in a header.
pub(crate) const CODE_CHALLENGE: &str = "Code-Challenge";
/// `Signature`: the Belfius PIS seal (profile `belfius-pis`).
pub(crate) const SIGNATURE: &str = "Signature";
/// The SCA token of an account, for history older than 90 days (belfius-api.md §6).
pub(crate) const SCA_TOKEN: &str = "SCA-Token";

/// The `Accept` value for a call version.
pub(crate) fn accept(version: &str) -> String {
    format!("application/vnd.belfius.api+json; version={version}")
}

/// A bank on the Belfius platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Bank {
    /// Belfius Bank.
    Belfius,
    /// Banx (same API surface, own host).
    Banx,
}

impl Bank {
    /// `belfius` or `banx`.
    pub fn name(self) -> &'static str {
        match self {
            Bank::Belfius => "belfius",
            Bank::Banx => "banx",
        }
    }

    /// The live host (no path prefix).
    pub fn live_url(self) -> &'static str {
        match self {
            Bank::Belfius => "https://psd2.b2b.belfius.be:8443",
            Bank::Banx => "https://psd2.b2b.banx.be:8443",
        }
    }

    /// The public sandbox host and its path prefix. Banx publishes no sandbox; the Belfius one is
    /// used (docs/belfius-api.md §2, open question 6).
    pub fn sandbox_url(self) -> (&'static str, &'static str) {
        ("https://sandbox.api.belfius.be:8443", "/sandbox/psd2")
    }
}

impl fmt::Display for Bank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Bank {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "belfius" => Ok(Bank::Belfius),
            "banx" => Ok(Bank::Banx),
            _ => Err(Error::Config(format!("unknown bank {s:?} (expected belfius or banx)"))),
        }
    }
}

/// Where the bank is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Environment {
    /// The bank's public sandbox (`https://sandbox.api.belfius.be:8443/sandbox/psd2`).
    Sandbox,
    /// Production.
    Live,
    /// Any `https://host:port[/prefix]`, e.g. the embedded sandbox on 127.0.0.1.
    Custom(String),
}

impl FromStr for Environment {
    type Err = Error;

    /// `sandbox`, `live`, or an `https://` URL.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "sandbox" => Ok(Environment::Sandbox),
            "live" => Ok(Environment::Live),
            url if url.starts_with("https://") => {
                BaseUrl::parse(url)?;
                Ok(Environment::Custom(url.to_owned()))
            }
            _ => Err(Error::Config(format!("unknown environment {s:?} (expected sandbox, live or an https:// URL)"))),
        }
    }
}

impl Environment {
    /// The base URL of a bank in this environment.
    pub fn base_url(&self, bank: Bank) -> Result<BaseUrl, Error> {
        match self {
            Environment::Live => BaseUrl::parse(bank.live_url()),
            Environment::Sandbox => {
                let (host, prefix) = bank.sandbox_url();
                BaseUrl::parse(&format!("{host}{prefix}"))
            }
            Environment::Custom(url) => BaseUrl::parse(url),
        }
    }

    /// Whether this is the bank's production interface.
    pub fn is_live(&self) -> bool {
        matches!(self, Environment::Live)
    }
}

/// Scheme, host and port of the bank, plus the path prefix all calls share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    origin: reqwest::Url,
    prefix: String,
}

impl BaseUrl {
    /// Parses `https://host[:port][/prefix]` (no query or fragment).
    pub fn parse(url: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::Config(format!("bank URL {url:?}: {why}"));
        let parsed = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if parsed.scheme() != "https" {
            return Err(bad("must be https"));
        }
        Self::from_url(parsed, bad)
    }

    /// An already parsed `http(s)://host[:port][/prefix]` (the scheme is the caller's check);
    /// `bad` words a refusal.
    pub(crate) fn from_url(parsed: reqwest::Url, bad: impl Fn(&str) -> Error) -> Result<Self, Error> {
        if parsed.host_str().is_none() {
            return Err(bad("no host"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad("must not have a query or fragment"));
        }
        let prefix = parsed.path().trim_end_matches('/').to_owned();
        let mut origin = parsed;
        origin.set_path("");
        Ok(Self { origin, prefix })
    }

    /// `https` (or `http` for a loopback eIDAS proxy).
    pub(crate) fn scheme(&self) -> &str {
        self.origin.scheme()
    }

    /// The path prefix (`""` or e.g. `/sandbox/psd2`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The URL of a path (which starts with `/`).
    pub fn join(&self, path: &str) -> Result<crate::Url, Error> {
        let mut url = self.origin.clone();
        url.set_path(&format!("{}{path}", self.prefix));
        Ok(url)
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.origin.as_str().trim_end_matches('/'), self.prefix)
    }
}

/// A consent / token scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scope {
    /// Account information.
    Ais,
    /// Payment initiation (the token comes after the payment's SCA).
    Pis,
    /// Confirmation of funds.
    Caf,
}

impl Scope {
    /// `AIS`, `PIS` or `CAF`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ais => "AIS",
            Scope::Pis => "PIS",
            Scope::Caf => "CAF",
        }
    }

    /// The PSD2 role the QWAC needs for this scope.
    pub fn role(self) -> Role {
        match self {
            Scope::Ais => Role::AccountInformation,
            Scope::Pis => Role::PaymentInitiation,
            Scope::Caf => Role::IssuingCards,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_uppercase().as_str() {
            "AIS" => Ok(Scope::Ais),
            "PIS" => Ok(Scope::Pis),
            "CAF" => Ok(Scope::Caf),
            _ => Err(Error::Config(format!("unknown scope {s:?} (expected AIS, PIS or CAF)"))),
        }
    }
}

/// A payment product (the `{payment-product}` path segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PaymentProduct {
    /// `sepa-credit-transfers`.
    SepaCreditTransfers,
    /// `instant-sepa-credit-transfers`.
    InstantSepaCreditTransfers,
    /// `cross-border-credit-transfers` (live only; the sandbox does not offer it).
    CrossBorderCreditTransfers,
}

impl PaymentProduct {
    /// The path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentProduct::SepaCreditTransfers => "sepa-credit-transfers",
            PaymentProduct::InstantSepaCreditTransfers => "instant-sepa-credit-transfers",
            PaymentProduct::CrossBorderCreditTransfers => "cross-border-credit-transfers",
        }
    }
}

impl fmt::Display for PaymentProduct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PaymentProduct {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        [
            PaymentProduct::SepaCreditTransfers,
            PaymentProduct::InstantSepaCreditTransfers,
            PaymentProduct::CrossBorderCreditTransfers,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
        .ok_or_else(|| Error::Config(format!("unknown payment product {s:?}")))
    }
}

/// The calls of the dedicated interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Call {
    /// `GET /consent-uris?scope=…`.
    ConsentUris,
    /// `POST /token`.
    Token,
    /// `GET /accounts`.
    Accounts,
    /// `GET /accounts/{id}`.
    Account,
    /// `GET /accounts/{id}/transactions`.
    Transactions,
    /// `POST /payments/{product}`.
    InitiatePayment,
    /// `GET /payments/{product}/{id}`.
    Payment,
    /// `GET /payments/{product}/{id}/status`.
    PaymentStatus,
    /// `POST /funds-confirmations`.
    FundsConfirmation,
    /// The PSU's SCA step (`GET consent_uri&state=S`), automated against a sandbox.
    Sca,
}

/// How a call authenticates beyond mTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// Nothing (the SCA step; payment status, where a Bearer is optional).
    None,
    /// PKCE headers (`Code-Challenge-Method`, `Code-Challenge`) and `Redirect-URI`.
    Pkce,
    /// `Authorization: Basic base64(client_id:client_secret)`.
    Basic,
    /// `Authorization: Bearer <access token>` of the given scope.
    Bearer(Scope),
    /// PIS initiation: PKCE headers and `Redirect-URI`, or a PIS Bearer.
    PkceOrBearer,
}

/// The PSD2 role(s) a call needs on the QWAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoleNeed {
    /// None (the PSU's SCA step).
    None,
    /// This role.
    One(Role),
    /// Any of these (the token call serves every scope).
    Any(&'static [Role]),
    /// The role of the requested scope (consent-uris: AIS → PSP_AI, CAF → PSP_IC).
    OfScope,
}

/// One row of the call table.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CallSpec {
    /// Which call.
    pub call: Call,
    /// The short name used on the command line (`--api-version account=3`).
    pub key: &'static str,
    /// Short name for messages (`consent-uris`, `token`, …).
    pub name: &'static str,
    /// HTTP method.
    pub method: &'static str,
    /// Path template below the prefix; `{id}` and `{product}` are filled in.
    pub path: &'static str,
    /// `Accept` version (`None`: the call sends no versioned `Accept`).
    pub accept_version: Option<&'static str>,
    /// Authentication.
    pub auth: Auth,
    /// Whether `Client-ID` is sent.
    pub client_id: bool,
    /// The role the QWAC needs.
    pub qwac_role: RoleNeed,
    /// Whether the body is sealed with the QSealC (`Signature`, profile `belfius-pis`); the
    /// QSealC then needs the same role as the QWAC.
    pub sealed: bool,
}

const TOKEN_ROLES: &[Role] = &[Role::AccountInformation, Role::PaymentInitiation, Role::IssuingCards];

/// The call table (docs/sandbox-api.md "Calls").
pub const CALLS: &[CallSpec] = &TABLE;

/// The rows of [`CALLS`], in the order of [`Call`]'s variants ([`Call::spec`] destructures it).
const TABLE: [CallSpec; 10] = [
    CallSpec {
        call: Call::ConsentUris,
        key: "consent-uris",
        name: "consent-uris",
        method: "GET",
        path: "/consent-uris",
        accept_version: Some("4"),
        auth: Auth::Pkce,
        client_id: true,
        qwac_role: RoleNeed::OfScope,
        sealed: false,
    },
    CallSpec {
        call: Call::Token,
        key: "token",
        name: "token",
        method: "POST",
        path: "/token",
        accept_version: Some("3"),
        auth: Auth::Basic,
        client_id: false,
        qwac_role: RoleNeed::Any(TOKEN_ROLES),
        sealed: false,
    },
    CallSpec {
        call: Call::Accounts,
        key: "accounts",
        name: "accounts",
        method: "GET",
        path: "/accounts",
        accept_version: Some("1"),
        auth: Auth::Bearer(Scope::Ais),
        client_id: true,
        qwac_role: RoleNeed::One(Role::AccountInformation),
        sealed: false,
    },
    CallSpec {
        call: Call::Account,
        key: "account",
        name: "account",
        method: "GET",
        path: "/accounts/{id}",
        // The portal's reference shows version 3 (belfius-api.md §14.1).
        accept_version: Some("3"),
        auth: Auth::Bearer(Scope::Ais),
        client_id: true,
        qwac_role: RoleNeed::One(Role::AccountInformation),
        sealed: false,
    },
    CallSpec {
        call: Call::Transactions,
        key: "transactions",
        name: "transactions",
        method: "GET",
        path: "/accounts/{id}/transactions",
        accept_version: Some("2"),
        auth: Auth::Bearer(Scope::Ais),
        client_id: true,
        qwac_role: RoleNeed::One(Role::AccountInformation),
        sealed: false,
    },
    CallSpec {
        call: Call::InitiatePayment,
        key: "payment-initiation",
        name: "payment initiation",
        method: "POST",
        path: "/payments/{product}",
        accept_version: Some("3"),
        auth: Auth::PkceOrBearer,
        client_id: true,
        qwac_role: RoleNeed::One(Role::PaymentInitiation),
        sealed: true,
    },
    CallSpec {
        call: Call::Payment,
        key: "payment",
        name: "payment details",
        method: "GET",
        path: "/payments/{product}/{id}",
        accept_version: Some("1"),
        auth: Auth::Bearer(Scope::Pis),
        client_id: true,
        qwac_role: RoleNeed::One(Role::PaymentInitiation),
        sealed: false,
    },
    CallSpec {
        call: Call::PaymentStatus,
        key: "payment-status",
        name: "payment status",
        method: "GET",
        path: "/payments/{product}/{id}/status",
        accept_version: Some("1"),
        auth: Auth::None,
        client_id: true,
        qwac_role: RoleNeed::One(Role::PaymentInitiation),
        sealed: false,
    },
    CallSpec {
        call: Call::FundsConfirmation,
        key: "funds-confirmation",
        name: "funds confirmation",
        method: "POST",
        path: "/funds-confirmations",
        accept_version: Some("1"),
        auth: Auth::Bearer(Scope::Caf),
        client_id: true,
        qwac_role: RoleNeed::One(Role::IssuingCards),
        sealed: false,
    },
    CallSpec {
        call: Call::Sca,
        key: "sca",
        name: "SCA step",
        method: "GET",
        path: "",
        accept_version: None,
        auth: Auth::None,
        client_id: false,
        qwac_role: RoleNeed::None,
        sealed: false,
    },
];

impl Call {
    /// This call's row of [`CALLS`].
    pub fn spec(self) -> &'static CallSpec {
        // Exhaustive: a new variant does not compile until it has its row (with its
        // authentication and role gate); a unit test checks each row names its call.
        let [
            consent_uris,
            token,
            accounts,
            account,
            transactions,
            initiate_payment,
            payment,
            payment_status,
            funds,
            sca,
        ] = &TABLE;
        match self {
            Call::ConsentUris => consent_uris,
            Call::Token => token,
            Call::Accounts => accounts,
            Call::Account => account,
            Call::Transactions => transactions,
            Call::InitiatePayment => initiate_payment,
            Call::Payment => payment,
            Call::PaymentStatus => payment_status,
            Call::FundsConfirmation => funds,
            Call::Sca => sca,
        }
    }
}

impl CallSpec {
    /// The HTTP method.
    pub fn method(&self) -> Method {
        if self.method == "POST" { Method::POST } else { Method::GET }
    }

    /// The path with `{id}` and `{product}` filled in (each percent-encoded as one segment).
    pub fn path(&self, id: Option<&str>, product: Option<PaymentProduct>) -> Result<String, Error> {
        let mut path = self.path.to_owned();
        if path.contains("{product}") {
            let p = product.ok_or_else(|| Error::Config(format!("{}: needs a payment product", self.name)))?;
            path = path.replace("{product}", p.as_str());
        }
        if path.contains("{id}") {
            let id =
                id.filter(|i| !i.is_empty()).ok_or_else(|| Error::Config(format!("{}: needs an id", self.name)))?;
            path = path.replace("{id}", &utf8_percent_encode(id, SEGMENT).to_string());
        }
        Ok(path)
    }
}

/// What a path segment escapes: everything but the RFC 3986 unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn every_call_has_one_row() {
        for call in [
            Call::ConsentUris,
            Call::Token,
            Call::Accounts,
            Call::Account,
            Call::Transactions,
            Call::InitiatePayment,
            Call::Payment,
            Call::PaymentStatus,
            Call::FundsConfirmation,
            Call::Sca,
        ] {
            assert_eq!(CALLS.iter().filter(|s| s.call == call).count(), 1, "{call:?}");
            assert_eq!(call.spec().call, call);
        }
    }

    #[test]
    fn accept_versions_follow_the_contract() {
        let v = |c: Call| c.spec().accept_version.unwrap();
        assert_eq!(v(Call::ConsentUris), "4");
        assert_eq!(v(Call::Token), "3");
        assert_eq!(v(Call::Accounts), "1");
        assert_eq!(v(Call::Account), "3");
        assert_eq!(v(Call::Transactions), "2");
        assert_eq!(v(Call::InitiatePayment), "3");
        assert_eq!(v(Call::Payment), "1");
        assert_eq!(v(Call::PaymentStatus), "1");
        assert_eq!(v(Call::FundsConfirmation), "1");
        assert_eq!(accept("4"), "application/vnd.belfius.api+json; version=4");
    }

    #[test]
    fn urls_per_bank_and_environment() {
        let live = Environment::Live.base_url(Bank::Belfius).unwrap();
        assert_eq!(live.join("/consent-uris").unwrap().as_str(), "https://psd2.b2b.belfius.be:8443/consent-uris");
        let banx = Environment::Live.base_url(Bank::Banx).unwrap();
        assert_eq!(banx.join("/token").unwrap().as_str(), "https://psd2.b2b.banx.be:8443/token");
        let sandbox = Environment::Sandbox.base_url(Bank::Belfius).unwrap();
        assert_eq!(
            sandbox.join("/accounts/abc/transactions").unwrap().as_str(),
            "https://sandbox.api.belfius.be:8443/sandbox/psd2/accounts/abc/transactions"
        );
        assert_eq!(sandbox.to_string(), "https://sandbox.api.belfius.be:8443/sandbox/psd2");
        let local: Environment = "https://127.0.0.1:8443".parse().unwrap();
        let local = local.base_url(Bank::Belfius).unwrap();
        assert_eq!(local.prefix(), "");
        assert_eq!(local.join("/token").unwrap().as_str(), "https://127.0.0.1:8443/token");
        let prefixed = BaseUrl::parse("https://127.0.0.1:9000/sandbox/psd2/").unwrap();
        assert_eq!(prefixed.join("/token").unwrap().as_str(), "https://127.0.0.1:9000/sandbox/psd2/token");
        assert!("http://127.0.0.1:80".parse::<Environment>().is_err());
        assert!("https://127.0.0.1:80/?x=1".parse::<Environment>().is_err());
        assert!("production".parse::<Environment>().is_err());
        assert_eq!("BANX".parse::<Bank>().unwrap(), Bank::Banx);
        assert!("ing".parse::<Bank>().is_err());
    }

    #[test]
    fn paths_are_filled_and_encoded() {
        let p = Call::Payment.spec().path(Some("p/1 2"), Some(PaymentProduct::SepaCreditTransfers)).unwrap();
        assert_eq!(p, "/payments/sepa-credit-transfers/p%2F1%202");
        let p = Call::PaymentStatus.spec().path(Some("x"), Some(PaymentProduct::InstantSepaCreditTransfers)).unwrap();
        assert_eq!(p, "/payments/instant-sepa-credit-transfers/x/status");
        assert!(Call::Account.spec().path(None, None).is_err());
        assert!(Call::InitiatePayment.spec().path(None, None).is_err());
        assert_eq!(Call::Accounts.spec().path(None, None).unwrap(), "/accounts");
    }

    #[test]
    fn roles_per_call() {
        assert_eq!(Call::InitiatePayment.spec().qwac_role, RoleNeed::One(Role::PaymentInitiation));
        assert!(Call::InitiatePayment.spec().sealed);
        assert_eq!(Call::FundsConfirmation.spec().qwac_role, RoleNeed::One(Role::IssuingCards));
        assert_eq!(Call::Accounts.spec().qwac_role, RoleNeed::One(Role::AccountInformation));
        assert_eq!(Scope::Caf.role(), Role::IssuingCards);
        assert!(CALLS.iter().filter(|s| s.sealed).all(|s| s.call == Call::InitiatePayment));
    }
}
