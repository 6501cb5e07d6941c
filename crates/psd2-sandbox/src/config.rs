//! What the sandbox bank is given: whom it trusts, who it is, who is onboarded, and its data.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use psd2_client::Bank;
use psd2_eidas::qc::QcType;
use psd2_eidas::{Certificate, Secret};
use rustls::pki_types::PrivatePkcs8KeyDer;
use time::OffsetDateTime;

use super::error::{ClientProblem, Error};
use super::faults::Faults;

/// Client id registered by [`SandboxConfig::with_demo_client`].
pub const DEMO_CLIENT_ID: &str = "psd2-sign-demo";
/// Client secret registered by [`SandboxConfig::with_demo_client`] (public on purpose: a test credential).
pub const DEMO_CLIENT_SECRET: &str = "psd2-sign-demo-secret";

/// The sandbox bank's configuration.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Trust anchors for the TPP client certificates (QWAC chains must verify against one).
    pub tpp_trust_anchors: Vec<Certificate>,
    /// The server's TLS identity.
    pub server: ServerIdentity,
    /// Onboarded TPPs: `client_id` → credentials and registered QSealC.
    pub clients: HashMap<String, RegisteredClient>,
    /// The PSU's accounts at both banks (see [`demo_accounts`]).
    pub accounts: Vec<Account>,
    /// The clock for everything time-based: token, code and ticket expiry, SCA tokens, the
    /// 90-day history limit, the unattended budget, transaction dates, signature checks.
    pub clock: Clock,
    /// The faults to play from the start ([`Faults::default`]: none).
    pub faults: Faults,
    /// CRL files (PEM or DER) of the TPP CAs: a client QWAC they list is refused in the
    /// handshake, as a strict bank does. Read again whenever a file changes while the sandbox
    /// runs; a CA without a CRL here is not checked.
    pub crl_files: Vec<std::path::PathBuf>,
}

impl SandboxConfig {
    /// A configuration trusting `tpp_trust_anchors`, served with `server`, with no onboarded
    /// client, the contract's demo accounts, the system clock and no faults.
    pub fn new(tpp_trust_anchors: Vec<Certificate>, server: ServerIdentity) -> Self {
        Self {
            tpp_trust_anchors,
            server,
            clients: HashMap::new(),
            accounts: demo_accounts(),
            clock: Clock::System,
            faults: Faults::default(),
            crl_files: Vec::new(),
        }
    }

    /// Checks client QWACs against this CRL file too (builder style; see
    /// [`crl_files`](Self::crl_files)).
    pub fn with_crl_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.crl_files.push(path.into());
        self
    }

    /// Reads the time from `now` instead of the system clock (builder style): tests move it
    /// instead of sleeping.
    pub fn with_clock(mut self, now: Arc<dyn Fn() -> OffsetDateTime + Send + Sync>) -> Self {
        self.clock = Clock::Custom(now);
        self
    }

    /// Plays `faults` from the start (builder style); see also
    /// [`SandboxHandle::set_faults`](crate::SandboxHandle::set_faults).
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Onboards a TPP (builder style). Refuses, naming the client id, an empty client id, a
    /// client id onboarded already, an empty client secret and a QSealC that is a QWAC (see
    /// [`RegisteredClient::check`]).
    pub fn with_client(self, client_id: impl Into<String>, secret: Secret, qseal: Certificate) -> Result<Self, Error> {
        self.with_registration(ClientRegistration::new(client_id, secret, qseal))
    }

    /// Onboards a TPP as [`with_client`](Self::with_client) does, active or not
    /// ([`ClientRegistration::inactive`]).
    pub fn with_registration(mut self, registration: ClientRegistration) -> Result<Self, Error> {
        let ClientRegistration { client_id, client } = registration;
        client.check(&client_id)?;
        if self.clients.contains_key(&client_id) {
            return Err(Error::Client { client_id, problem: ClientProblem::DuplicateId });
        }
        self.clients.insert(client_id, client);
        Ok(self)
    }

    /// Onboards the demo client [`DEMO_CLIENT_ID`] / [`DEMO_CLIENT_SECRET`] with this QSealC
    /// (an RSA one: the Belfius PIS signature is RS256); refused as [`with_client`](Self::with_client)
    /// refuses.
    pub fn with_demo_client(self, qseal: Certificate) -> Result<Self, Error> {
        self.with_client(DEMO_CLIENT_ID, Secret::new(DEMO_CLIENT_SECRET), qseal)
    }

    /// Checks every onboarded client ([`RegisteredClient::check`]); [`Sandbox::start`](crate::Sandbox::start)
    /// calls it, so clients put into [`clients`](Self::clients) directly are checked too. The
    /// first refusal, in client id order, is returned.
    pub fn validate(&self) -> Result<(), Error> {
        let mut ids: Vec<&String> = self.clients.keys().collect();
        ids.sort();
        for id in ids {
            self.clients[id].check(id)?;
        }
        Ok(())
    }
}

/// A TPP to onboard ([`SandboxConfig::with_registration`]): active unless made
/// [`inactive`](Self::inactive).
#[derive(Debug, Clone)]
pub struct ClientRegistration {
    client_id: String,
    client: RegisteredClient,
}

impl ClientRegistration {
    /// An active client with this id, secret and registered QSealC.
    pub fn new(client_id: impl Into<String>, secret: Secret, qseal: Certificate) -> Self {
        Self { client_id: client_id.into(), client: RegisteredClient { secret, qseal, active: true } }
    }

    /// Registered but not active: every call with its client id answers 403 `INVALID_TPP`.
    pub fn inactive(mut self) -> Self {
        self.client.active = false;
        self
    }
}

/// An onboarded TPP.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    /// The client secret (checked on `/token` with HTTP Basic).
    pub secret: Secret,
    /// The registered QSealC: verifies PIS `Signature` headers; must carry PSP_PI for PIS, and
    /// its organizationIdentifier must equal the QWAC's.
    pub qseal: Certificate,
    /// `false`: registered but not active (403 `INVALID_TPP` on every call).
    pub active: bool,
}

impl RegisteredClient {
    /// Checks the client registered as `client_id`: the id and the secret are not empty (nor
    /// only white space), and the QSealC is not a QWAC: its QcType is not web, and it does not
    /// carry the serverAuth or clientAuth extended key usage without QcType eseal.
    pub fn check(&self, client_id: &str) -> Result<(), Error> {
        let refuse = |problem| Err(Error::Client { client_id: client_id.to_owned(), problem });
        if client_id.trim().is_empty() {
            return refuse(ClientProblem::EmptyId);
        }
        if self.secret.expose().trim().is_empty() {
            return refuse(ClientProblem::EmptySecret);
        }
        if let Some(why) = qwac_evidence(&self.qseal).map_err(|e| Error::Client {
            client_id: client_id.to_owned(),
            problem: ClientProblem::UnreadableQseal(e.to_string()),
        })? {
            return refuse(ClientProblem::QwacAsQseal {
                subject: escape_controls(&self.qseal.subject().to_display()),
                why,
            });
        }
        Ok(())
    }
}

/// `s` with control characters escaped (`\u{1b}`, `\n`).
fn escape_controls(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// Why `cert` is a QWAC rather than a QSealC, if it is one: QcType web, or the TLS extended key
/// usages (serverAuth, clientAuth) without QcType eseal.
fn qwac_evidence(cert: &Certificate) -> Result<Option<String>, psd2_eidas::Error> {
    let types = cert.qc_statements()?.map(|q| q.types).unwrap_or_default();
    if types.contains(&QcType::Web) {
        return Ok(Some("QcType web".into()));
    }
    if types.contains(&QcType::Eseal) {
        return Ok(None);
    }
    let parsed = cert.parsed()?;
    let eku = parsed
        .extended_key_usage()
        .map_err(|e| psd2_eidas::Error::Certificate(format!("extendedKeyUsage extension: {e}")))?;
    let tls: Vec<&str> = eku
        .map(|e| [(e.value.server_auth, "serverAuth"), (e.value.client_auth, "clientAuth")])
        .into_iter()
        .flatten()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
    Ok((!tls.is_empty()).then(|| format!("extendedKeyUsage {} and no QcType eseal", tls.join(", "))))
}

/// The server's TLS certificate chain and key, and the CA that made it when it is ephemeral.
#[derive(Clone)]
pub struct ServerIdentity {
    chain: Vec<Certificate>,
    key: Vec<u8>,
    ca: Option<Certificate>,
}

impl fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerIdentity").field("chain", &self.chain).field("ca", &self.ca).finish_non_exhaustive()
    }
}

impl ServerIdentity {
    /// A chain (leaf first) and its PKCS#8 DER private key.
    pub fn new(chain: Vec<Certificate>, pkcs8_key: Vec<u8>) -> Result<Self, Error> {
        if chain.is_empty() {
            return Err(Error::Config("the server certificate chain is empty".into()));
        }
        Ok(Self { chain, key: pkcs8_key, ca: None })
    }

    /// Reads the chain (PEM or DER, leaf first) and the key (any format
    /// [`psd2_eidas::load::load_key`] reads, unencrypted) from files.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self, Error> {
        let chain = psd2_eidas::load::load_certificates(cert, None)?;
        let key = psd2_eidas::load::load_key(key, None)?.to_pkcs8_der()?;
        Self::new(chain, key.to_vec())
    }

    /// A fresh ECDSA P-256 server CA ([`psd2_ca::ServerCa`]) and a server certificate it
    /// issues for `localhost` and 127.0.0.1, both in memory. Clients trust it through
    /// [`ca`](Self::ca), explicitly.
    pub fn ephemeral() -> Result<Self, Error> {
        let ca = psd2_ca::ServerCa::generate("psd2-sign sandbox server CA (TEST)")?;
        let server = ca.issue(&["localhost"], &[Ipv4Addr::LOCALHOST.into()])?;
        Ok(Self { chain: server.chain, key: server.pkcs8_key.to_vec(), ca: Some(ca.certificate().clone()) })
    }

    /// The chain, leaf first.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// The ephemeral CA that issued the server certificate ([`ephemeral`](Self::ephemeral)),
    /// `None` for a given identity.
    pub fn ca(&self) -> Option<&Certificate> {
        self.ca.as_ref()
    }

    pub(crate) fn key(&self) -> PrivatePkcs8KeyDer<'static> {
        PrivatePkcs8KeyDer::from(self.key.clone())
    }
}

/// The clock the sandbox reads.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A fixed instant (tests).
    Fixed(OffsetDateTime),
    /// A clock the caller moves (tests of expiry): keep a clone of the [`ManualClock`].
    Manual(ManualClock),
    /// Any source of time ([`SandboxConfig::with_clock`]).
    Custom(Arc<dyn Fn() -> OffsetDateTime + Send + Sync>),
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clock::System => f.write_str("System"),
            Clock::Fixed(t) => f.debug_tuple("Fixed").field(t).finish(),
            Clock::Manual(m) => f.debug_tuple("Manual").field(m).finish(),
            Clock::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl Clock {
    /// The current time.
    pub fn now(&self) -> OffsetDateTime {
        match self {
            Clock::System => OffsetDateTime::now_utc(),
            Clock::Fixed(t) => *t,
            Clock::Manual(m) => m.now(),
            Clock::Custom(f) => f(),
        }
    }
}

/// A shared, settable time: clones see the same instant.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<OffsetDateTime>>);

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        Self(Arc::new(Mutex::new(start)))
    }

    /// The time it shows.
    pub fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The clock as a function, for [`SandboxConfig::with_clock`].
    pub fn as_fn(&self) -> Arc<dyn Fn() -> OffsetDateTime + Send + Sync> {
        let c = self.clone();
        Arc::new(move || c.now())
    }

    /// Moves it by `by` (negative to go back).
    pub fn advance(&self, by: time::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t = t.saturating_add(by);
    }
}

/// A PSU account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The bank holding it: Belfius is served at the root, Banx under `/banx`.
    pub bank: Bank,
    /// IBAN.
    pub iban: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// Balance in cents.
    pub balance_cents: i64,
    /// The account's name.
    pub account_name: String,
    /// Product type code.
    pub product_type: String,
    /// Product name.
    pub product_name: String,
    /// The PSU's name.
    pub psu_name: String,
    /// Booked transactions, newest first.
    pub transactions: Vec<Transaction>,
}

/// A booked transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The bank's transaction id: not unique (the real bank repeats them).
    pub transaction_id: String,
    /// The bank's reference.
    pub transaction_ref: String,
    /// Counterparty name.
    pub counterparty_info: String,
    /// Communication text.
    pub communication: String,
    /// `free` or `structured`.
    pub communication_type: String,
    /// Remittance information.
    pub remittance_info: String,
    /// Counterparty IBAN.
    pub counterparty_account: String,
    /// Signed amount in cents (negative: debit).
    pub amount_cents: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// Its age in days: the execution date is the sandbox clock's date minus this.
    pub age_days: u16,
}

fn tx(id: &str, r: &str, who: &str, comm: &str, iban: &str, cents: i64, age_days: u16) -> Transaction {
    Transaction {
        transaction_id: id.into(),
        transaction_ref: r.into(),
        counterparty_info: who.into(),
        communication: comm.into(),
        communication_type: "free".into(),
        remittance_info: comm.into(),
        counterparty_account: iban.into(),
        amount_cents: cents,
        currency: "EUR".into(),
        age_days,
    }
}

/// The contract's sandbox data: one PSU with, at Belfius, `BE68539007547034` (balance 1234.56,
/// 3 transactions: one 120 days old, two sharing a `transaction_id`) and `BE71096123456769`
/// (balance 10.00, 1 transaction), and at Banx `BE14645123456783` (balance 500.00, 1
/// transaction).
pub fn demo_accounts() -> Vec<Account> {
    let psu = "Jan Peeters";
    let account = |bank, iban: &str, cents, name: &str, product_type: &str, product_name: &str, transactions| Account {
        bank,
        iban: iban.into(),
        currency: "EUR".into(),
        balance_cents: cents,
        account_name: name.into(),
        product_type: product_type.into(),
        product_name: product_name.into(),
        psu_name: psu.into(),
        transactions,
    };
    vec![
        account(
            Bank::Belfius,
            "BE68539007547034",
            123_456,
            "Zichtrekening",
            "CURRENT_ACCOUNT",
            "Belfius Pack Comfort",
            vec![
                tx("T0000001123", "TX-0003", "Colruyt Gent", "Boodschappen", "BE62510007547061", -1_234, 3),
                tx("T0000001123", "TX-0002", "Example Employer NV", "Loon", "BE43068999999501", 250_000, 20),
                tx("T0000000987", "TX-0001", "Proximus", "Factuur", "BE82210000000101", -4_599, 120),
            ],
        ),
        account(
            Bank::Belfius,
            "BE71096123456769",
            1_000,
            "Spaarrekening",
            "SAVINGS_ACCOUNT",
            "Belfius Spaarrekening",
            vec![tx("T0000002001", "TX-0101", psu, "Overschrijving", "BE68539007547034", 1_000, 45)],
        ),
        account(
            Bank::Banx,
            "BE14645123456783",
            50_000,
            "Banx Zichtrekening",
            "CURRENT_ACCOUNT",
            "Banx Current Account",
            vec![tx("T0000003001", "TX-0201", "Delhaize Leuven", "Boodschappen", "BE62510007547061", -2_500, 7)],
        ),
    ]
}

/// `1234.56` for 123456 cents, `-12.34` for -1234.
pub(crate) fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let a = cents.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// Parses a positive amount with at most two decimals (`12`, `12.3`, `12.34`) into cents.
pub(crate) fn parse_cents(s: &str) -> Option<i64> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() || int.len() > 12 || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) || (s.contains('.') && frac.is_empty()) {
        return None;
    }
    let int: i64 = int.parse().ok()?;
    let frac: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    int.checked_mul(100)?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        assert_eq!(format_cents(123_456), "1234.56");
        assert_eq!(format_cents(-1_234), "-12.34");
        assert_eq!(format_cents(5), "0.05");
        assert_eq!(parse_cents("12.34"), Some(1_234));
        assert_eq!(parse_cents("12.3"), Some(1_230));
        assert_eq!(parse_cents("12"), Some(1_200));
        for bad in ["", "-1", "1.", ".5", "1.234", "1e3", "abc"] {
            assert_eq!(parse_cents(bad), None, "{bad}");
        }
    }

    fn config() -> SandboxConfig {
        SandboxConfig::new(psd2_test_support::certs::tpp_anchors(), ServerIdentity::ephemeral().unwrap())
    }

    fn qseal() -> Certificate {
        psd2_test_support::certs::certificate("rsa", "qseal.pem")
    }

    fn refusal(r: Result<SandboxConfig, Error>) -> (ClientProblem, String) {
        match r {
            Err(e @ Error::Client { .. }) => {
                let text = e.to_string();
                let Error::Client { problem, .. } = e else { unreachable!() };
                (problem, text)
            }
            other => panic!("expected a client refusal, got {other:?}"),
        }
    }

    #[test]
    fn onboards_qseals_of_both_test_sets() {
        let c = config().with_demo_client(qseal()).unwrap();
        let c =
            c.with_client("other", Secret::new("s"), psd2_test_support::certs::certificate("ec", "qseal.pem")).unwrap();
        assert_eq!(c.clients.len(), 2);
        c.validate().unwrap();
    }

    #[test]
    fn refuses_empty_client_ids() {
        for id in ["", " \t"] {
            let (p, text) = refusal(config().with_client(id, Secret::new("s"), qseal()));
            assert_eq!(p, ClientProblem::EmptyId);
            assert!(text.starts_with("sandbox configuration: client id \""), "{text}");
            assert!(text.contains("the client id is empty"), "{text}");
        }
    }

    #[test]
    fn refuses_duplicate_client_ids() {
        let c = config().with_client("tpp-1", Secret::new("s"), qseal()).unwrap();
        let (p, text) = refusal(c.with_client("tpp-1", Secret::new("t"), qseal()));
        assert_eq!(p, ClientProblem::DuplicateId);
        assert_eq!(text, "sandbox configuration: client id \"tpp-1\": the client id is onboarded twice");
    }

    #[test]
    fn refuses_empty_client_secrets_naming_the_escaped_client_id() {
        let (p, text) = refusal(config().with_client("tpp\u{1b}[31m", Secret::new(""), qseal()));
        assert_eq!(p, ClientProblem::EmptySecret);
        assert_eq!(text, "sandbox configuration: client id \"tpp\\u{1b}[31m\": the client secret is empty");
        assert!(!text.contains('\u{1b}'));
        let (p, _) = refusal(config().with_client("tpp", Secret::new("  "), qseal()));
        assert_eq!(p, ClientProblem::EmptySecret);
    }

    #[test]
    fn refuses_a_qwac_as_qseal() {
        // QcType web
        let qwac = psd2_test_support::certs::certificate("rsa", "qwac.pem");
        let (p, text) = refusal(config().with_client("tpp", Secret::new("s"), qwac));
        assert!(matches!(&p, ClientProblem::QwacAsQseal { why, .. } if why == "QcType web"), "{p:?}");
        assert!(
            text.starts_with("sandbox configuration: client id \"tpp\": the certificate registered as its QSealC, ")
        );
        assert!(text.contains("is a QWAC (QcType web)"), "{text}");
        // No qcStatements, extendedKeyUsage serverAuth: a TLS server certificate.
        let tls = ServerIdentity::ephemeral().unwrap().chain()[0].clone();
        let (p, text) = refusal(config().with_client("tpp", Secret::new("s"), tls));
        assert!(matches!(&p, ClientProblem::QwacAsQseal { .. }), "{p:?}");
        assert!(text.contains("(extendedKeyUsage serverAuth and no QcType eseal)"), "{text}");
    }

    #[test]
    fn validate_checks_clients_put_in_directly() {
        let mut c = config();
        c.clients.insert(String::new(), RegisteredClient { secret: Secret::new("s"), qseal: qseal(), active: true });
        let e = c.validate().unwrap_err();
        assert!(matches!(e, Error::Client { problem: ClientProblem::EmptyId, .. }), "{e}");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let started = rt.block_on(crate::Sandbox::start(c, "127.0.0.1:0".parse().unwrap()));
        assert!(matches!(started, Err(Error::Client { .. })));
    }
}
