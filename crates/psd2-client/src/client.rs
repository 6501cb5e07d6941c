//! The bank client: mTLS with the QWAC, PIS requests sealed with the QSealC, one async method per
//! call of the dedicated interface (Belfius, Banx, the embedded sandbox).
//!
//! Every method first checks that the certificates carry the PSD2 role the call needs (the role
//! gate, before any I/O), then sends the request with a fresh UUID v4 `Request-ID`, the call's
//! `Accept` version from [`bank::CALLS`](crate::bank::CALLS), and checks the `Response-ID`.
//! Redirects are never followed: the SCA URL of a payment and the authorization code of the
//! PSU step are read from `Location`.
//!
//! Through an eIDAS proxy ([`Client::through_proxy`]) the client holds no certificate: the
//! proxy does the mTLS, seals and runs the role gate, and everything else stays the same.
//!
//! Diagnostics (`tracing`, target `psd2_client::client`): each call at info level with method,
//! URL without its query, status and `Request-ID`, and the TLS version and server certificate of
//! the connection at debug level. Never a header value, token, secret or body.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use psd2_eidas::{Certificate, Identity, Role, Secret};
use reqwest::header::{ACCEPT, ACCEPT_LANGUAGE, AUTHORIZATION, CONTENT_TYPE, HeaderMap, LOCATION};
use serde::de::DeserializeOwned;

use crate::bank::{self, Auth, Bank, BaseUrl, Call, CallSpec, Environment, PaymentProduct, RoleNeed, Scope};
use crate::error::{BankError, Error};
use crate::pkce::Pkce;
use crate::proxy::ProxyEndpoint;
use crate::types::{
    AccountDetails, AccountList, ConsentUri, FundsConfirmation, FundsRequest, PaymentDetails, PaymentInitiation,
    PaymentStatus, Token, TransactionPage,
};

/// How to reach the bank and who we are there (besides the certificates).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The bank.
    pub bank: Bank,
    /// Sandbox, live, or a custom `https://host:port[/prefix]`.
    pub environment: Environment,
    /// The client id from onboarding.
    pub client_id: String,
    /// The client secret from onboarding (for `/token`).
    pub client_secret: Option<Secret>,
    /// The TPP callback URL registered at onboarding.
    pub redirect_uri: String,
    /// Extra trusted server CAs (e.g. the sandbox's test CA). Only CAs named here are added.
    pub extra_roots: Vec<Certificate>,
    /// Whether the public web roots (webpki-roots) are trusted too (default true).
    pub public_roots: bool,
    /// `Accept-Language` (`fr`, `nl`, `en`), which Belfius requires (406 without it,
    /// belfius-api.md §14.3); default `en`; not sent when `None`.
    pub accept_language: Option<String>,
    /// Timeout of a whole call (default 60 s).
    pub timeout: Duration,
    /// Timeout of setting up a connection: TCP connect and TLS handshake (default 10 s).
    pub connect_timeout: Duration,
    /// Longest silence while reading an answer (default 30 s).
    pub read_timeout: Duration,
    /// `Accept` versions that replace the call table's (belfius-api.md §14.1: the bank
    /// decommissions versions; a new one must not need a new release).
    pub api_versions: Vec<(Call, String)>,
    /// Unattended AIS calls: `psu_involved=false` is sent on accounts, account details and
    /// transactions (the PSU is not present; Belfius allows four per account and 24 hours). The
    /// budget itself is kept by [`Session`](crate::session::Session).
    pub unattended: bool,
    /// Which failures are retried, how often and how long ([`RetryPolicy`]).
    pub retry: RetryPolicy,
}

/// Retries that are safe: a connection that could not be set up (refused, reset or timed out
/// during the TCP or TLS handshake) never carried the request, so any call but a payment
/// initiation is tried again; a GET (idempotent) is also tried again after a lost answer or a
/// 5xx. A payment initiation is never retried: a new attempt is a new payment, the caller's
/// decision. Waits double from `initial_backoff` up to `max_backoff`; no new attempt starts when
/// it would end after `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Further attempts after the first (default 4, as Tink does for Belfius).
    pub retries: u32,
    /// The first wait (default 250 ms).
    pub initial_backoff: Duration,
    /// The longest wait (default 2 s).
    pub max_backoff: Duration,
    /// No attempt starts after this much time since the first (default 15 s).
    pub total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(2),
            total: Duration::from_secs(15),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self { retries: 0, ..Self::default() }
    }

    /// `retries` further attempts within `total`, the default waits.
    pub fn new(retries: u32, total: Duration) -> Self {
        Self { retries, total, ..Self::default() }
    }

    /// With these waits (first, longest).
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }
}

impl ClientOptions {
    /// Options with public roots, no extra CA, no secret, no language.
    pub fn new(
        bank: Bank,
        environment: Environment,
        client_id: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> Self {
        Self {
            bank,
            environment,
            client_id: client_id.into(),
            client_secret: None,
            redirect_uri: redirect_uri.into(),
            extra_roots: Vec::new(),
            public_roots: true,
            accept_language: Some("en".into()),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            api_versions: Vec::new(),
            unattended: false,
            retry: RetryPolicy::default(),
        }
    }

    /// With `version` as the `Accept` version of `call`, instead of the call table's.
    pub fn with_api_version(mut self, call: Call, version: impl Into<String>) -> Self {
        self.api_versions.retain(|(c, _)| *c != call);
        self.api_versions.push((call, version.into()));
        self
    }

    /// With the client secret.
    pub fn with_client_secret(mut self, secret: Secret) -> Self {
        self.client_secret = Some(secret);
        self
    }

    /// Trusts one more server CA (named explicitly; the test CA is never trusted otherwise).
    pub fn with_extra_root(mut self, ca: Certificate) -> Self {
        self.extra_roots.push(ca);
        self
    }

    /// Without the public web roots: only the extra CAs are trusted.
    pub fn without_public_roots(mut self) -> Self {
        self.public_roots = false;
        self
    }

    /// With an `Accept-Language`.
    pub fn with_accept_language(mut self, language: impl Into<String>) -> Self {
        self.accept_language = Some(language.into());
        self
    }
}

/// How a payment initiation authenticates.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum PisAuth<'a> {
    /// PKCE headers: the PSU signs at the SCA URL, the code is then exchanged at `/token`.
    Pkce(&'a Pkce),
    /// A PIS access token from an earlier payment.
    Bearer(&'a str),
}

/// A certificate and the PSD2 roles read from it once.
#[derive(Debug, Clone)]
struct Certified {
    identity: Identity,
    roles: Vec<Role>,
}

impl Certified {
    fn new(identity: Identity) -> Self {
        // An undecodable qcStatements grants no role: the gate then names what is missing.
        let roles = identity.certificate().psd2_roles().unwrap_or_default();
        Self { identity, roles }
    }

    /// Fails unless the certificate has one of `any`.
    fn require(&self, which: &'static str, any: &[Role], call: &'static str) -> Result<(), Error> {
        if any.iter().any(|r| self.roles.contains(r)) {
            return Ok(());
        }
        let names: Vec<&str> = any.iter().map(|r| r.name()).collect();
        let role = match names.as_slice() {
            [one] => (*one).to_owned(),
            [init @ .., last] => format!("{} or {last}", init.join(", ")),
            [] => String::new(),
        };
        let has = if self.roles.is_empty() {
            "no PSD2 role".to_owned()
        } else {
            self.roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ")
        };
        let cert = self.identity.certificate();
        Err(Error::RoleMissing { certificate: which, subject: short_subject(cert), role, has, call })
    }
}

/// What went out and what came back.
struct Answer {
    status: reqwest::StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// One request to send.
struct Outgoing<'a> {
    spec: &'static CallSpec,
    url: reqwest::Url,
    scope: Option<Scope>,
    bearer: Option<&'a str>,
    pkce: Option<&'a Pkce>,
    /// `(content type, body)`.
    body: Option<(&'static str, Vec<u8>)>,
    /// Further headers (`SCA-Token`).
    extra: Vec<(&'static str, String)>,
}

impl<'a> Outgoing<'a> {
    fn new(spec: &'static CallSpec, url: reqwest::Url) -> Self {
        Self { spec, url, scope: None, bearer: None, pkce: None, body: None, extra: Vec::new() }
    }
}

/// How one attempt failed.
enum Failure {
    /// Before the request left: the connection could not be set up.
    Connect(Error),
    /// The request may have reached the bank.
    Sent(Error),
}

/// Who holds the certificates: this client, or the eIDAS proxy it goes through.
#[derive(Debug, Clone)]
enum Keys {
    /// mTLS with the QWAC, seals with the QSealC, the role gate here.
    Own { qwac: Certified, qseal: Option<Certified> },
    /// The proxy does all three.
    Proxy(ProxyEndpoint),
}

/// The client of the Belfius/Banx dedicated interface (and of the embedded sandbox), directly
/// ([`Client::new`]) or through an eIDAS proxy ([`Client::through_proxy`]).
///
/// ```no_run
/// use psd2_client::{Bank, Client, ClientOptions, Environment, Pkce, Scope};
/// use psd2_eidas::{Identity, Secret, Secrets};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let qwac = Identity::load(&"qwac.key".parse()?, Some(&"qwac-chain.pem".parse()?), &Secrets::none())?;
/// let options = ClientOptions::new(Bank::Belfius, Environment::Live, "my-client-id", "https://tpp.example/cb")
///     .with_client_secret(Secret::new("…"));
/// let client = Client::new(qwac, None, options)?;
/// let pkce = Pkce::generate()?;
/// let uris = client.consent_uris(Scope::Ais, &pkce).await?;
/// // The PSU consents at uris[0].consent_uri + "&state=…"; the bank redirects with ?code=…
/// # let code = "";
/// let token = client.token_from_code(code, pkce.verifier()).await?;
/// let accounts = client.accounts(&token.access_token).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: BaseUrl,
    keys: Keys,
    options: ClientOptions,
}

impl Client {
    /// A client presenting `qwac` in mTLS and sealing payment initiations with `qseal`.
    /// No I/O happens here.
    pub fn new(qwac: Identity, qseal: Option<Identity>, options: ClientOptions) -> Result<Self, Error> {
        let base = options.environment.base_url(options.bank)?;
        let tls = crate::tls::client_config(&qwac, roots(&options, &[])?)?;
        let keys = Keys::Own { qwac: Certified::new(qwac), qseal: qseal.map(Certified::new) };
        Self::build(base, tls, keys, options)
    }

    /// A client whose calls all go through an eIDAS egress proxy (`psd2-sign proxy` in bank mode
    /// for `options.bank`), which holds the QWAC and the QSealC: the proxy does the mTLS with the
    /// bank, seals the payment initiations and runs the role gate (its refusals are
    /// [`Error::Proxy`], a missing role `role_missing`), so this client seals nothing and skips
    /// its own gate. `Request-ID`, `Accept` versions, authentication, error recognition and
    /// retries are as with [`Client::new`]; `options.environment` is not used (the proxy's
    /// route decides the bank's URL), `options.extra_roots` and the public roots are trusted
    /// for an `https://` proxy along with the endpoint's own CAs. The PSU's SCA step is the
    /// PSU's, at the bank: [`psu_authorize`](Self::psu_authorize) needs a client with the QWAC.
    /// No I/O happens here.
    ///
    /// ```no_run
    /// use psd2_client::{Bank, Client, ClientOptions, Environment, Pkce, ProxyEndpoint, Scope};
    /// use psd2_eidas::Secret;
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// // `psd2-sign proxy --listen 127.0.0.1:8080 --bank belfius --env live --qwac … --qseal …`
    /// let proxy = ProxyEndpoint::parse("http://127.0.0.1:8080")?;
    /// let options = ClientOptions::new(Bank::Belfius, Environment::Live, "my-client-id", "https://tpp.example/cb")
    ///     .with_client_secret(Secret::new("…"));
    /// let client = Client::through_proxy(proxy, options)?;
    /// let pkce = Pkce::generate()?;
    /// let uris = client.consent_uris(Scope::Ais, &pkce).await?;
    /// // The PSU consents at uris[0].consent_uri + "&state=…"; the bank redirects with ?code=…
    /// # let code = "";
    /// let token = client.token_from_code(code, pkce.verifier()).await?;
    /// let accounts = client.accounts(&token.access_token).await?;
    /// # Ok(()) }
    /// ```
    pub fn through_proxy(proxy: ProxyEndpoint, options: ClientOptions) -> Result<Self, Error> {
        let roots = roots(&options, proxy.extra_roots())?;
        let tls = match proxy.client_identity() {
            Some(id) if !proxy.is_plain_http() => crate::tls::client_config(id, roots)?,
            _ => crate::tls::server_auth_config(roots)?,
        };
        tracing::debug!(proxy = %proxy.url(), client_identity = proxy.client_identity().is_some(), "through an eIDAS proxy");
        Self::build(proxy.url().clone(), tls, Keys::Proxy(proxy), options)
    }

    fn build(base: BaseUrl, tls: rustls::ClientConfig, keys: Keys, options: ClientOptions) -> Result<Self, Error> {
        tracing::debug!(
            extra_roots = options.extra_roots.len(),
            public_roots = options.public_roots,
            base = %base,
            "bank client"
        );
        for ca in &options.extra_roots {
            tracing::debug!(subject = %ca.subject().to_display(), serial = %ca.serial_hex(), "trusted server CA");
        }
        // HTTP/1.1 only: reqwest sets no ALPN on a preconfigured config, and none is wanted.
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            // The negotiated version and the server certificate, for the debug events only.
            .tls_info(tracing::enabled!(tracing::Level::DEBUG))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            .timeout(options.timeout)
            .user_agent(concat!("psd2-sign/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {}", chain(&e))))?;
        Ok(Self { http, base, keys, options })
    }

    /// The eIDAS proxy the calls go through ([`Client::through_proxy`]), if any.
    pub fn proxy(&self) -> Option<&ProxyEndpoint> {
        match &self.keys {
            Keys::Proxy(p) => Some(p),
            Keys::Own { .. } => None,
        }
    }

    /// The base URL calls go to.
    pub fn base_url(&self) -> &BaseUrl {
        &self.base
    }

    /// The options.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// The role gate: whether the QWAC (and, for sealed calls, the QSealC) carries the role
    /// `call` needs (`scope` for consent-uris). Every method runs it before any I/O. Through an
    /// eIDAS proxy it passes: the proxy, which holds the certificates, runs it.
    pub fn check_roles(&self, call: Call, scope: Option<Scope>) -> Result<(), Error> {
        let spec = call.spec();
        let Keys::Own { qwac, qseal } = &self.keys else {
            return Ok(());
        };
        let one;
        let need: &[Role] = match spec.qwac_role {
            RoleNeed::One(r) => {
                one = [r];
                &one
            }
            RoleNeed::Any(rs) => rs,
            RoleNeed::OfScope => {
                let s = scope.ok_or_else(|| Error::Config(format!("{}: needs a scope", spec.name)))?;
                one = [s.role()];
                &one
            }
            _ => &[],
        };
        let now = time::OffsetDateTime::now_utc();
        let valid = |which: &'static str, c: &Certified| {
            c.identity.certificate().check_valid_at(now).map_err(|e| Error::Config(format!("{which}: {e}")))
        };
        valid("QWAC", qwac)?;
        if !need.is_empty() {
            qwac.require("QWAC", need, spec.name)?;
        }
        if spec.sealed {
            let qseal = qseal.as_ref().ok_or_else(|| Error::Missing {
                call: spec.name,
                what: "the request is sealed with a QSealC, and none was given".into(),
            })?;
            valid("QSealC", qseal)?;
            qseal.require("QSealC", need, spec.name)?;
        }
        Ok(())
    }

    fn url(&self, call: Call, id: Option<&str>, product: Option<PaymentProduct>) -> Result<reqwest::Url, Error> {
        self.base.join(&call.spec().path(id, product)?)
    }

    /// `GET /consent-uris?scope=AIS|CAF` with the PKCE challenge: where the PSU consents.
    pub async fn consent_uris(&self, scope: Scope, pkce: &Pkce) -> Result<Vec<ConsentUri>, Error> {
        if scope == Scope::Pis {
            return Err(Error::Config(
                "consent-uris: scope PIS has no consent; initiate a payment with PKCE instead".into(),
            ));
        }
        let mut url = self.url(Call::ConsentUris, None, None)?;
        url.query_pairs_mut().append_pair("scope", scope.as_str());
        let mut out = Outgoing::new(Call::ConsentUris.spec(), url);
        out.scope = Some(scope);
        out.pkce = Some(pkce);
        let answer = self.send(out).await?;
        json(Call::ConsentUris.spec(), &answer)
    }

    /// `POST /token` with `grant_type=authorization_code` and the PKCE verifier.
    pub async fn token_from_code(&self, code: &str, verifier: &str) -> Result<Token, Error> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.options.redirect_uri.as_str()),
            ("code_verifier", verifier),
        ];
        self.token(&form).await
    }

    /// `POST /token` with `grant_type=refresh_token`; the old pair stops working.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Token, Error> {
        self.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
    }

    async fn token(&self, form: &[(&str, &str)]) -> Result<Token, Error> {
        let spec = Call::Token.spec();
        let mut out = Outgoing::new(spec, self.url(Call::Token, None, None)?);
        let mut ser = reqwest::Url::parse("x:").map_err(|e| Error::Config(e.to_string()))?;
        ser.query_pairs_mut().extend_pairs(form);
        out.body = Some(("application/x-www-form-urlencoded", ser.query().unwrap_or_default().as_bytes().to_vec()));
        let answer = self.send(out).await?;
        let token: Token = json(spec, &answer)?;
        if token.access_token.is_empty() {
            return Err(Error::BadResponse { call: spec.name, reason: "empty access_token".into() });
        }
        Ok(token)
    }

    /// `GET /accounts` (AIS token).
    pub async fn accounts(&self, access_token: &str) -> Result<AccountList, Error> {
        self.get(Call::Accounts, None, None, &self.ais_query(&[]), Some(access_token), None).await
    }

    /// `GET /accounts/{id}` (AIS token): details and balance.
    pub async fn account(&self, access_token: &str, id: &str) -> Result<AccountDetails, Error> {
        self.get(Call::Account, Some(id), None, &self.ais_query(&[]), Some(access_token), None).await
    }

    /// `GET /accounts/{id}/transactions?date_from=&date_to=` (AIS token); dates `YYYY-MM-DD`;
    /// `next` is the `next_page_key` of the previous page; `sca_token` the `SCA-Token` of this
    /// account, which history older than 90 days needs (without it the bank answers
    /// [`BankErrorKind::ScaRequired`](crate::BankErrorKind::ScaRequired) with the URL of the
    /// PSU's step, [`Client::psu_sca_token`] in a sandbox).
    pub async fn transactions(
        &self,
        access_token: &str,
        id: &str,
        date_from: Option<&str>,
        date_to: Option<&str>,
        next: Option<&str>,
        sca_token: Option<&str>,
    ) -> Result<TransactionPage, Error> {
        let query: Vec<(&str, &str)> = [("date_from", date_from), ("date_to", date_to), ("next", next)]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        self.get(Call::Transactions, Some(id), None, &self.ais_query(&query), Some(access_token), sca_token).await
    }

    /// The query of an AIS call: `query`, and `psu_involved=false` when unattended.
    fn ais_query<'q>(&self, query: &[(&'q str, &'q str)]) -> Vec<(&'q str, &'q str)> {
        let mut q = query.to_vec();
        if self.options.unattended {
            q.push(("psu_involved", "false"));
        }
        q
    }

    /// The `Accept` version sent for `call`: the override of [`ClientOptions::api_versions`], else
    /// the call table's.
    pub fn accept_version(&self, call: Call) -> Option<&str> {
        self.options
            .api_versions
            .iter()
            .find(|(c, _)| *c == call)
            .map(|(_, v)| v.as_str())
            .or(call.spec().accept_version)
    }

    /// `POST /payments/{product}` with the exact body bytes, sealed with the QSealC (`Signature`,
    /// profile `belfius-pis`; through an eIDAS proxy the proxy seals). Returns the payment id and
    /// the SCA URL (`Location`).
    pub async fn initiate_payment(
        &self,
        product: PaymentProduct,
        body: Vec<u8>,
        auth: PisAuth<'_>,
    ) -> Result<PaymentInitiation, Error> {
        let spec = Call::InitiatePayment.spec();
        let mut out = Outgoing::new(spec, self.url(Call::InitiatePayment, None, Some(product))?);
        match auth {
            PisAuth::Pkce(p) => out.pkce = Some(p),
            PisAuth::Bearer(t) => out.bearer = Some(t),
        }
        out.body = Some(("application/json", body));
        let answer = self.send(out).await?;
        let mut init: PaymentInitiation = json(spec, &answer)?;
        if init.sca_uri.is_none() {
            init.sca_uri = header(&answer.headers, LOCATION.as_str());
        }
        if init.payment_id.is_empty() {
            return Err(Error::BadResponse { call: spec.name, reason: "empty payment_id".into() });
        }
        Ok(init)
    }

    /// `GET /payments/{product}/{id}` (PIS token).
    pub async fn payment(
        &self,
        access_token: &str,
        product: PaymentProduct,
        id: &str,
    ) -> Result<PaymentDetails, Error> {
        self.get(Call::Payment, Some(id), Some(product), &[], Some(access_token), None).await
    }

    /// `GET /payments/{product}/{id}/status` (a PIS token is optional).
    pub async fn payment_status(
        &self,
        product: PaymentProduct,
        id: &str,
        access_token: Option<&str>,
    ) -> Result<PaymentStatus, Error> {
        self.get(Call::PaymentStatus, Some(id), Some(product), &[], access_token, None).await
    }

    /// `POST /funds-confirmations` (CAF token).
    pub async fn funds_confirmation(
        &self,
        access_token: &str,
        request: &FundsRequest,
    ) -> Result<FundsConfirmation, Error> {
        let spec = Call::FundsConfirmation.spec();
        let body = serde_json::to_vec(request).map_err(|e| Error::Config(format!("{}: body: {e}", spec.name)))?;
        let mut out = Outgoing::new(spec, self.url(Call::FundsConfirmation, None, None)?);
        out.bearer = Some(access_token);
        out.body = Some(("application/json", body));
        let answer = self.send(out).await?;
        json(spec, &answer)
    }

    /// The PSU's SCA step, automated (the embedded sandbox's PSU always consents):
    /// `GET sca_uri&state=S` without following the redirect; reads `code` from the `Location`
    /// (`<Redirect-URI>?code=C&state=S`) and checks `state`. Returns the authorization code.
    pub async fn psu_authorize(&self, sca_uri: &str, state: &str) -> Result<String, Error> {
        self.psu_step(sca_uri, state, "code").await
    }

    /// The PSU's SCA step for history older than 90 days, automated: as
    /// [`psu_authorize`](Self::psu_authorize), reading `sca_token` from the redirect. Returns the
    /// SCA token to send as `SCA-Token` with [`transactions`](Self::transactions).
    pub async fn psu_sca_token(&self, sca_uri: &str, state: &str) -> Result<String, Error> {
        self.psu_step(sca_uri, state, "sca_token").await
    }

    async fn psu_step(&self, sca_uri: &str, state: &str, wanted: &str) -> Result<String, Error> {
        let spec = Call::Sca.spec();
        if let Keys::Proxy(_) = self.keys {
            return Err(Error::Missing {
                call: spec.name,
                what: "the PSU's step is taken at the bank, not through the eIDAS proxy, and a sandbox's PSU \
                       page wants the QWAC in mTLS, which this client does not hold: drive it with a \
                       Client::new that has the QWAC"
                    .into(),
            });
        }
        let mut url = reqwest::Url::parse(sca_uri)
            .map_err(|e| Error::BadResponse { call: spec.name, reason: format!("SCA URL {sca_uri:?}: {e}") })?;
        if url.scheme() != "https" {
            return Err(Error::BadResponse { call: spec.name, reason: format!("SCA URL {sca_uri:?} is not https") });
        }
        url.query_pairs_mut().append_pair("state", state);
        let answer = self.send(Outgoing::new(spec, url.clone())).await?;
        let location = header(&answer.headers, LOCATION.as_str()).ok_or_else(|| Error::BadResponse {
            call: spec.name,
            reason: format!("HTTP {} without Location", answer.status.as_u16()),
        })?;
        let target = url
            .join(&location)
            .map_err(|e| Error::BadResponse { call: spec.name, reason: format!("Location {location:?}: {e}") })?;
        let param = |name: &str| target.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        if let Some(error) = param("error") {
            let error = BankError::new(Some(error), None, param("error_description"));
            let status = answer.status.as_u16();
            let kind = crate::BankErrorKind::classify(self.options.bank, status, Some(&error), None);
            return Err(Error::Http {
                call: spec.name,
                status,
                error: Some(Box::new(error)),
                body: location,
                kind: Box::new(kind),
            });
        }
        if param("state").as_deref() != Some(state) {
            return Err(Error::BadResponse {
                call: spec.name,
                reason: format!("the redirect's state {:?} is not the one sent", param("state").unwrap_or_default()),
            });
        }
        param(wanted)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Error::BadResponse { call: spec.name, reason: format!("the redirect carries no {wanted}") })
    }

    async fn get<T: DeserializeOwned>(
        &self,
        call: Call,
        id: Option<&str>,
        product: Option<PaymentProduct>,
        query: &[(&str, &str)],
        bearer: Option<&str>,
        sca_token: Option<&str>,
    ) -> Result<T, Error> {
        let spec = call.spec();
        let mut url = self.url(call, id, product)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut out = Outgoing::new(spec, url);
        out.bearer = bearer;
        if let Some(t) = sca_token {
            out.extra.push((bank::SCA_TOKEN, t.to_owned()));
        }
        let answer = self.send(out).await?;
        json(spec, &answer)
    }

    /// Role gate, then attempts (retried as [`RetryPolicy`] allows), then the status and
    /// `Response-ID` checks.
    async fn send(&self, out: Outgoing<'_>) -> Result<Answer, Error> {
        let spec = out.spec;
        self.check_roles(spec.call, out.scope)?;
        let policy = self.options.retry;
        let idempotent = spec.method() == reqwest::Method::GET;
        let started = std::time::Instant::now();
        let mut wait = policy.initial_backoff;
        let mut attempt: u32 = 0;
        let (answer, request_id) = loop {
            let request_id = uuid::Uuid::new_v4().to_string();
            let result = self.attempt(&out, &request_id).await;
            let (retry, why) = match &result {
                Err(Failure::Connect(_)) => (spec.call != Call::InitiatePayment, "the connection could not be set up"),
                Err(Failure::Sent(_)) => (idempotent, "no answer"),
                Ok(a) => (idempotent && a.status.is_server_error(), "a 5xx answer"),
            };
            let in_time = started.elapsed() + wait < policy.total;
            if !(retry && attempt < policy.retries && in_time) {
                match result {
                    Ok(a) => break (a, request_id),
                    Err(Failure::Connect(e) | Failure::Sent(e)) => return Err(e),
                }
            }
            attempt += 1;
            tracing::info!(call = spec.name, attempt, wait_ms = wait.as_millis() as u64, why, "retrying");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(policy.max_backoff);
        };
        let status = answer.status;
        let expected = if spec.call == Call::Sca { status.is_redirection() } else { status.is_success() };
        if !expected {
            if let Some(refusal) = self.proxy().and_then(|_| proxy_refusal(spec, &answer)) {
                return Err(refusal);
            }
            return Err(http_error(self.options.bank, spec, &answer));
        }
        match header(&answer.headers, bank::RESPONSE_ID) {
            Some(id) if id.eq_ignore_ascii_case(&request_id) => {}
            Some(id) => {
                return Err(Error::BadResponse {
                    call: spec.name,
                    reason: format!("Response-ID {id:?} is not the Request-ID {request_id}"),
                });
            }
            None if spec.call == Call::Sca => {}
            None => {
                return Err(Error::BadResponse { call: spec.name, reason: "no Response-ID header".into() });
            }
        }
        Ok(answer)
    }

    /// One attempt: headers, seal, send, read the whole answer.
    async fn attempt(&self, out: &Outgoing<'_>, request_id: &str) -> Result<Answer, Failure> {
        let spec = out.spec;
        let mut req = self.http.request(spec.method(), out.url.clone());
        for (name, value) in self.headers(out, request_id).map_err(Failure::Connect)? {
            req = req.header(name, value);
        }
        if let Some((_, body)) = &out.body {
            req = req.body(body.clone());
        }
        let shown_url = {
            let mut u = out.url.clone();
            u.set_query(None);
            u.to_string()
        };
        let method = spec.method();
        tracing::debug!(call = spec.name, %method, url = %shown_url, request_id, "sending");
        let resp = req.send().await.map_err(|e| {
            tracing::debug!(call = spec.name, %method, url = %shown_url, request_id, "no answer");
            let err = Error::Connection {
                call: spec.name,
                url: shown_url.clone(),
                reason: transport_reason(&e, &self.options),
            };
            if e.is_connect() { Failure::Connect(err) } else { Failure::Sent(err) }
        })?;
        let status = resp.status();
        tracing::info!(
            call = spec.name,
            %method,
            url = %shown_url,
            status = status.as_u16(),
            request_id,
            response_id = resp.headers().get(bank::RESPONSE_ID).and_then(|v| v.to_str().ok()).unwrap_or("-"),
            "bank call"
        );
        if let Some(info) = resp.extensions().get::<reqwest::tls::TlsInfo>() {
            log_tls(info);
        }
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .map_err(|e| {
                Failure::Sent(Error::Connection {
                    call: spec.name,
                    url: shown_url,
                    reason: transport_reason(&e, &self.options),
                })
            })?
            .to_vec();
        Ok(Answer { status, headers, body })
    }

    /// Every header of a request, in order: `Request-ID`, `Accept`, `Accept-Language`,
    /// `Client-ID`, the call's authentication (Basic / Bearer / PKCE + `Redirect-URI`), and for a
    /// body `Signature` (sealed calls, unless the proxy seals) and `Content-Type`. Pure: no I/O.
    fn headers(&self, out: &Outgoing<'_>, request_id: &str) -> Result<Vec<(&'static str, String)>, Error> {
        let spec = out.spec;
        let mut h: Vec<(&'static str, String)> = vec![(bank::REQUEST_ID, request_id.to_owned())];
        if let Some(v) = self.accept_version(spec.call) {
            h.push((ACCEPT.as_str(), bank::accept(v)));
        }
        if let Some(lang) = &self.options.accept_language {
            h.push((ACCEPT_LANGUAGE.as_str(), lang.clone()));
        }
        if spec.client_id {
            h.push((bank::CLIENT_ID, self.options.client_id.clone()));
        }
        let bearer = |t: &str| (AUTHORIZATION.as_str(), format!("Bearer {t}"));
        match spec.auth {
            Auth::Basic => {
                let secret = self.options.client_secret.as_ref().ok_or_else(|| Error::Missing {
                    call: spec.name,
                    what: "the client secret is needed for Basic authentication".into(),
                })?;
                let basic = STANDARD.encode(format!("{}:{}", self.options.client_id, secret.expose()));
                h.push((AUTHORIZATION.as_str(), format!("Basic {basic}")));
            }
            Auth::Bearer(_) => {
                let token = out.bearer.filter(|t| !t.is_empty()).ok_or_else(|| Error::Missing {
                    call: spec.name,
                    what: "an access token is needed (Bearer)".into(),
                })?;
                h.push(bearer(token));
            }
            Auth::Pkce | Auth::PkceOrBearer => {
                h.push((bank::REDIRECT_URI, self.options.redirect_uri.clone()));
                match (out.pkce, out.bearer) {
                    (Some(p), _) => {
                        h.push((bank::CODE_CHALLENGE_METHOD, p.method().to_owned()));
                        h.push((bank::CODE_CHALLENGE, p.challenge().to_owned()));
                    }
                    (None, Some(t)) if spec.auth == Auth::PkceOrBearer => h.push(bearer(t)),
                    _ => {
                        return Err(Error::Missing { call: spec.name, what: "a PKCE challenge is needed".into() });
                    }
                }
            }
            _ => {
                if let Some(t) = out.bearer {
                    h.push(bearer(t));
                }
            }
        }
        if let Some((content_type, body)) = &out.body {
            if let (true, Keys::Own { qseal, .. }) = (spec.sealed, &self.keys) {
                h.push((bank::SIGNATURE, seal(qseal.as_ref(), spec, &out.url, content_type, body)?));
            }
            h.push((CONTENT_TYPE.as_str(), (*content_type).to_owned()));
        }
        h.extend(out.extra.iter().cloned());
        Ok(h)
    }
}

/// The `Signature` header of a sealed call (profile `belfius-pis`, QSealC key).
fn seal(
    qseal: Option<&Certified>,
    spec: &CallSpec,
    url: &reqwest::Url,
    content_type: &str,
    body: &[u8],
) -> Result<String, Error> {
    let qseal = qseal.ok_or_else(|| Error::Missing {
        call: spec.name,
        what: "the request is sealed with a QSealC, and none was given".into(),
    })?;
    let seal_err = |source| Error::Seal { call: spec.name, source: Box::new(source) };
    let mut req = http::Request::builder()
        .method(http::Method::POST)
        .uri(url.as_str())
        .header(http::header::CONTENT_TYPE, content_type)
        .body(body.to_vec())
        .map_err(|e| Error::Config(format!("{}: {e}", spec.name)))?;
    let id = &qseal.identity;
    psd2_httpsig::sign(
        &psd2_httpsig::profile::BELFIUS_PIS,
        &mut req,
        id.signer().as_ref(),
        Some(id.certificate()),
        &psd2_httpsig::SignOptions::default(),
    )
    .map_err(seal_err)?;
    req.headers()
        .get(bank::SIGNATURE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| Error::Config(format!("{}: the signer added no Signature header", spec.name)))
}

/// The server trust: the options' extra CAs, `more`, and the public roots unless turned off.
fn roots(options: &ClientOptions, more: &[Certificate]) -> Result<rustls::RootCertStore, Error> {
    let anchors: Vec<Certificate> = options.extra_roots.iter().chain(more).cloned().collect();
    let mut roots = crate::tls::roots(&anchors)?;
    if options.public_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    Ok(roots)
}

/// An eIDAS proxy's own answer (`{"error": code, "message": …}`, not the bank's
/// `error_description` shape): its role gate, route, limits or upstream failures.
fn proxy_refusal(spec: &CallSpec, answer: &Answer) -> Option<Error> {
    let v: serde_json::Value = serde_json::from_slice(&answer.body).ok()?;
    let o = v.as_object()?;
    if o.contains_key("error_description") || o.contains_key("error_code") {
        return None;
    }
    let code = o.get("error")?.as_str()?;
    let message = o.get("message")?.as_str()?;
    Some(Error::Proxy {
        call: spec.name,
        status: answer.status.as_u16(),
        code: code.to_owned(),
        message: message.to_owned(),
    })
}

/// The debug event of a connection: TLS version and the server's certificate.
fn log_tls(info: &reqwest::tls::TlsInfo) {
    use reqwest::tls::Version;
    let version = match info.version() {
        Some(v) if v == Version::TLS_1_3 => "TLSv1.3",
        Some(v) if v == Version::TLS_1_2 => "TLSv1.2",
        Some(_) => "older than TLSv1.2",
        None => "unknown",
    };
    let server = info.peer_certificate().map(|der| match Certificate::from_der(der) {
        Ok(c) => short_subject(&c),
        Err(e) => format!("unreadable: {e}"),
    });
    tracing::debug!(tls = version, server_certificate = server.as_deref().unwrap_or("none"), "TLS connection");
}

/// `CN=…, O=…, serial …` (the full DN when it has neither).
fn short_subject(cert: &Certificate) -> String {
    let name = cert.subject();
    let parts: Vec<String> = [("CN", "2.5.4.3"), ("O", "2.5.4.10")]
        .iter()
        .filter_map(|(k, oid)| name.get(oid).map(|v| format!("{k}={v}")))
        .collect();
    let who = if parts.is_empty() { name.to_display() } else { parts.join(", ") };
    format!("{who}, serial {}", cert.serial_hex())
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn json<T: DeserializeOwned>(spec: &CallSpec, answer: &Answer) -> Result<T, Error> {
    serde_json::from_slice(&answer.body).map_err(|e| Error::BadResponse {
        call: spec.name,
        reason: format!("body is not the expected JSON ({e}): {}", shorten(&answer.body)),
    })
}

fn http_error(bank: Bank, spec: &CallSpec, answer: &Answer) -> Error {
    let error = serde_json::from_slice::<BankError>(&answer.body)
        .ok()
        .filter(|e| e.error.is_some() || e.error_code.is_some() || e.error_description.is_some());
    let body = if error.is_some() { String::new() } else { shorten(&answer.body) };
    let retry_after = header(&answer.headers, "retry-after").and_then(|v| v.trim().parse::<u64>().ok());
    let status = answer.status.as_u16();
    let kind = crate::BankErrorKind::classify(bank, status, error.as_ref(), retry_after);
    Error::Http { call: spec.name, status, error: error.map(Box::new), body, kind: Box::new(kind) }
}

fn shorten(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// Why a call got no answer, in a TPP's words first and the error chain after: a TLS alert from
/// the bank says what the bank thinks of our QWAC, a time-out says which one.
fn transport_reason(e: &reqwest::Error, options: &ClientOptions) -> String {
    let detail = chain(e);
    let words = if e.is_timeout() {
        Some(if e.is_connect() {
            format!(
                "no connection within {} s (connect time-out): the host does not answer",
                options.connect_timeout.as_secs()
            )
        } else {
            format!(
                "no answer in time (read time-out {} s, call time-out {} s)",
                options.read_timeout.as_secs(),
                options.timeout.as_secs()
            )
        })
    } else {
        rustls_error(e).and_then(explain_tls)
    };
    match words {
        Some(w) => format!("{w} ({detail})"),
        None => detail,
    }
}

/// The rustls error somewhere in the source chain. tokio-rustls and hyper wrap it in
/// `io::Error`s, even nested, whose `source()` skips the wrapped error: step into those.
fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = cur {
        if let Some(r) = s.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        cur = match s.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => s.source(),
        };
    }
    None
}

/// A TLS failure in words a TPP acts on.
fn explain_tls(e: &rustls::Error) -> Option<String> {
    use rustls::{AlertDescription as A, CertificateError as C, Error as R};
    Some(match e {
        R::AlertReceived(A::UnknownCA) => {
            "the bank refused our QWAC: it does not trust the QWAC's issuer, or the certificate is not a QWAC (TLS alert unknown_ca)".into()
        }
        R::AlertReceived(A::BadCertificate | A::UnsupportedCertificate) => {
            "the bank refused our QWAC as unusable for client authentication: check its key usage and extended key usage (clientAuth)".into()
        }
        R::AlertReceived(A::DecryptError) => {
            "the bank could not verify our QWAC's chain: a CA of that name is trusted there, but it did not sign our certificate (TLS alert decrypt_error)".into()
        }
        R::AlertReceived(A::CertificateRevoked) => "the bank says our QWAC is revoked".into(),
        R::AlertReceived(A::CertificateExpired) => "the bank says our QWAC has expired or is not yet valid".into(),
        R::AlertReceived(A::CertificateRequired) => "the bank requires a client certificate (QWAC) and got none".into(),
        R::AlertReceived(A::AccessDenied) => "the bank accepted our QWAC but denies this TPP access (not registered or not permitted)".into(),
        R::AlertReceived(A::HandshakeFailure | A::ProtocolVersion | A::InsufficientSecurity) => {
            "the bank and this client share no TLS version or cipher suite, or the bank refused our QWAC's key type".into()
        }
        R::InvalidCertificate(C::UnknownIssuer) => {
            "the bank's server certificate is not issued by a trusted CA (a sandbox's test CA must be trusted explicitly)".into()
        }
        R::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => "the bank's server certificate has expired".into(),
        R::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "the bank's server certificate is not for this host name".into()
        }
        R::InvalidCertificate(C::Revoked) => "the bank's server certificate is revoked".into(),
        _ => return None,
    })
}

/// An error and its sources on one line.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn identity(name: &str) -> Identity {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-certs/rsa");
        let key = format!("{dir}/{name}.key").parse().unwrap();
        let cert = format!("{dir}/{name}-chain.pem").parse().unwrap();
        Identity::load(&key, Some(&cert), &psd2_eidas::Secrets::none()).unwrap()
    }

    fn client(bank: Bank, env: Environment) -> Client {
        let options = ClientOptions::new(bank, env, "cid", "https://tpp.example/cb")
            .with_client_secret(Secret::new("pw"))
            .with_accept_language("nl");
        Client::new(identity("qwac"), Some(identity("qseal")), options).unwrap()
    }

    fn names(h: &[(&'static str, String)]) -> Vec<&'static str> {
        h.iter().map(|(n, _)| *n).collect()
    }

    fn get<'a>(h: &'a [(&'static str, String)], name: &str) -> &'a str {
        h.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).unwrap()
    }

    #[test]
    fn headers_per_call() {
        let c = client(Bank::Belfius, Environment::Live);
        let url = |call: Call, id: Option<&str>, p: Option<PaymentProduct>| c.url(call, id, p).unwrap();
        let pkce = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();

        let mut out = Outgoing::new(Call::ConsentUris.spec(), url(Call::ConsentUris, None, None));
        out.pkce = Some(&pkce);
        let h = c.headers(&out, "rid").unwrap();
        assert_eq!(
            names(&h),
            [
                "Request-ID",
                "accept",
                "accept-language",
                "Client-ID",
                "Redirect-URI",
                "Code-Challenge-Method",
                "Code-Challenge"
            ]
        );
        assert_eq!(get(&h, "accept"), "application/vnd.belfius.api+json; version=4");
        assert_eq!(get(&h, "Code-Challenge"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert_eq!(get(&h, "accept-language"), "nl");

        let mut out = Outgoing::new(Call::Token.spec(), url(Call::Token, None, None));
        out.body = Some(("application/x-www-form-urlencoded", b"grant_type=refresh_token".to_vec()));
        let h = c.headers(&out, "rid").unwrap();
        assert_eq!(names(&h), ["Request-ID", "accept", "accept-language", "authorization", "content-type"]);
        assert_eq!(get(&h, "authorization"), "Basic Y2lkOnB3");

        let mut out = Outgoing::new(Call::Transactions.spec(), url(Call::Transactions, Some("a1"), None));
        assert!(matches!(c.headers(&out, "rid"), Err(Error::Missing { .. })), "a Bearer is required");
        out.bearer = Some("AT");
        let h = c.headers(&out, "rid").unwrap();
        assert_eq!(get(&h, "authorization"), "Bearer AT");
        assert_eq!(get(&h, "accept"), "application/vnd.belfius.api+json; version=2");

        let product = Some(PaymentProduct::SepaCreditTransfers);
        let mut out = Outgoing::new(Call::InitiatePayment.spec(), url(Call::InitiatePayment, None, product));
        out.bearer = Some("PIS");
        out.body = Some(("application/json", br#"{"a":1}"#.to_vec()));
        let h = c.headers(&out, "rid").unwrap();
        assert_eq!(
            names(&h),
            [
                "Request-ID",
                "accept",
                "accept-language",
                "Client-ID",
                "Redirect-URI",
                "authorization",
                "Signature",
                "content-type"
            ]
        );
        assert!(get(&h, "Signature").starts_with("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhIjoxfQ==."));

        let out = Outgoing::new(Call::PaymentStatus.spec(), url(Call::PaymentStatus, Some("p1"), product));
        let h = c.headers(&out, "rid").unwrap();
        assert_eq!(names(&h), ["Request-ID", "accept", "accept-language", "Client-ID"]);
    }

    #[test]
    fn through_a_proxy_nothing_is_sealed_and_the_gate_is_the_proxys() {
        let options = ClientOptions::new(Bank::Belfius, Environment::Live, "cid", "https://tpp.example/cb");
        let c = Client::through_proxy(ProxyEndpoint::parse("http://127.0.0.1:8080/belfius").unwrap(), options).unwrap();
        assert_eq!(c.base_url().to_string(), "http://127.0.0.1:8080/belfius");
        let product = Some(PaymentProduct::SepaCreditTransfers);
        let url = c.url(Call::InitiatePayment, None, product).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/belfius/payments/sepa-credit-transfers");
        c.check_roles(Call::InitiatePayment, None).unwrap();
        let mut out = Outgoing::new(Call::InitiatePayment.spec(), url);
        out.bearer = Some("PIS");
        out.body = Some(("application/json", br#"{"a":1}"#.to_vec()));
        let h = c.headers(&out, "rid").unwrap();
        assert_eq!(
            names(&h),
            ["Request-ID", "accept", "accept-language", "Client-ID", "Redirect-URI", "authorization", "content-type"]
        );

        let answer = |status: u16, body: &str| Answer {
            status: reqwest::StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        };
        let spec = Call::InitiatePayment.spec();
        let gate = r#"{"error":"role_missing","message":"initiate payment needs the PSD2 role PSP_PI on the QWAC, which has PSP_AI","role":"PSP_PI"}"#;
        let e = proxy_refusal(spec, &answer(403, gate)).unwrap();
        assert!(e.is_role_missing(), "{e}");
        assert_eq!(
            e.to_string(),
            "payment initiation: the eIDAS proxy answered HTTP 403 role_missing: initiate payment needs the PSD2 role \
             PSP_PI on the QWAC, which has PSP_AI; nothing was sent to the bank"
        );
        let e = proxy_refusal(spec, &answer(504, r#"{"error":"upstream_timeout","message":"no answer"}"#)).unwrap();
        assert!(!e.is_role_missing() && e.to_string().ends_with("upstream_timeout: no answer"), "{e}");
        let bank = r#"{"error":"invalid_request","error_description":"bad","message":"x"}"#;
        assert!(proxy_refusal(spec, &answer(400, bank)).is_none(), "the bank's shape is the bank's");
        assert!(proxy_refusal(spec, &answer(502, "<html>")).is_none());
    }

    #[test]
    fn urls_per_bank_and_environment() {
        let c = client(Bank::Banx, Environment::Live);
        assert_eq!(c.url(Call::Account, Some("x"), None).unwrap().as_str(), "https://psd2.b2b.banx.be:8443/accounts/x");
        let c = client(Bank::Belfius, Environment::Sandbox);
        let p = Some(PaymentProduct::InstantSepaCreditTransfers);
        assert_eq!(
            c.url(Call::PaymentStatus, Some("p"), p).unwrap().as_str(),
            "https://sandbox.api.belfius.be:8443/sandbox/psd2/payments/instant-sepa-credit-transfers/p/status"
        );
        assert_eq!(c.base_url().to_string(), "https://sandbox.api.belfius.be:8443/sandbox/psd2");
    }
}
