//! `psd2-sign send`: call the Belfius / Banx dedicated interface (or the embedded sandbox) with
//! the QWAC for mTLS and the QSealC for sealing payment initiations.
//!
//! Secrets never come from argv: the client secret from `--client-secret-file` or
//! `PSD2_SIGN_CLIENT_SECRET`; tokens from the token file (`--token-file`, JSON, mode 0600) or
//! `PSD2_SIGN_ACCESS_TOKEN` / `PSD2_SIGN_REFRESH_TOKEN`. The PKCE verifier and `state` of a
//! `consent` or `pay` wait in the token file for the `token` exchange. JSON goes to stdout.

use std::path::PathBuf;
use std::process::ExitCode;

use psd2_client::session::{self, Session};
use psd2_client::types::{AccountRef, Amount, FundsRequest, PaymentRequest, Token};
use psd2_client::{
    Bank, BankErrorKind, CALLS, Call, Client, ClientOptions, Environment, PaymentProduct, PisAuth, ProxyEndpoint,
    RetryPolicy, Scope,
};
use psd2_eidas::Secret;
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::common::{CliError, PasswordArgs, TppIdentityArgs};
use crate::output::outln;

/// Environment variable holding the client secret.
const CLIENT_SECRET_ENV: &str = "PSD2_SIGN_CLIENT_SECRET";
/// Environment variable holding an access token (when no token file holds one).
const ACCESS_TOKEN_ENV: &str = "PSD2_SIGN_ACCESS_TOKEN";
/// Environment variable holding a refresh token (when no token file holds one).
const REFRESH_TOKEN_ENV: &str = "PSD2_SIGN_REFRESH_TOKEN";

/// How the PSU's SCA step happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Sca {
    /// Print the consent/SCA URL; the PSU opens it, then `token --code` (or `--callback`).
    Manual,
    /// Perform the PSU step directly (sandboxes whose PSU always consents), then exchange the code.
    Auto,
}

/// Arguments of `send`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The bank: belfius or banx.
    #[arg(long, value_name = "BANK")]
    bank: String,
    /// sandbox, live, or the base URL of a bank (e.g. the embedded sandbox, https://127.0.0.1:PORT).
    #[arg(long = "env", value_name = "sandbox|live|URL", required_unless_present = "proxy", conflicts_with = "proxy")]
    environment: Option<String>,
    #[command(flatten)]
    identities: TppIdentityArgs,
    /// Through an eIDAS proxy (`psd2-sign proxy`, bank route) that holds the QWAC and QSealC:
    /// `http://127.0.0.1:PORT[/prefix]` (plain http to a loopback address only) or `https://…`;
    /// no --env and no keys here.
    #[arg(long, value_name = "URL")]
    proxy: Option<String>,
    /// A CA trusted for an https --proxy (repeatable), e.g. the internal CA.
    #[arg(long, value_name = "FILE", requires = "proxy")]
    proxy_ca: Vec<PathBuf>,
    /// The client certificate shown to an https --proxy (its listener authenticates callers).
    #[arg(long, value_name = "CERT", requires_all = ["proxy", "proxy_key"])]
    proxy_cert: Option<String>,
    /// The key of --proxy-cert.
    #[arg(long, value_name = "KEY", requires = "proxy_cert")]
    proxy_key: Option<String>,
    /// The client id from onboarding.
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// File whose first line is the client secret (else PSD2_SIGN_CLIENT_SECRET).
    #[arg(long, value_name = "FILE")]
    client_secret_file: Option<PathBuf>,
    /// The callback URL registered at onboarding.
    #[arg(long, value_name = "URI", default_value = "https://localhost/psd2-sign/callback")]
    redirect_uri: String,
    /// A trusted server CA (repeatable), e.g. the sandbox's test CA; added to the public roots.
    #[arg(long = "ca", value_name = "FILE")]
    ca: Vec<PathBuf>,
    /// Token file (JSON, written with mode 0600): tokens per scope, the pending PKCE verifier
    /// and state, the last payment.
    #[arg(long, value_name = "FILE", env = "PSD2_SIGN_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Accept-Language: fr, nl or en.
    #[arg(long, value_name = "LANG")]
    language: Option<String>,
    /// The PSU step: manual (print the URL) or auto (perform it; for sandboxes).
    #[arg(long, value_enum, default_value = "manual")]
    sca: Sca,
    /// Longest wait for a connection (TCP and TLS handshake), e.g. `10s`.
    #[arg(long, value_name = "DURATION", value_parser = crate::common::parse_std_duration, default_value = "10s")]
    connect_timeout: std::time::Duration,
    /// Longest silence while reading an answer, e.g. `30s`.
    #[arg(long, value_name = "DURATION", value_parser = crate::common::parse_std_duration, default_value = "30s")]
    read_timeout: std::time::Duration,
    /// Longest time for one whole call, e.g. `60s`, `2m`.
    #[arg(long, value_name = "DURATION", value_parser = crate::common::parse_std_duration, default_value = "60s")]
    timeout: std::time::Duration,
    /// The largest request body read from --body, in bytes or with a unit (`512K`, `10M`).
    #[arg(long, value_name = "SIZE", value_parser = crate::common::parse_size, default_value = "10M")]
    max_body: u64,
    /// The Accept version of a call, instead of the built-in one: CALL=VERSION, repeatable
    /// (e.g. `--api-version account=3`); the calls and their versions are listed below.
    #[arg(long = "api-version", value_name = "CALL=VERSION", value_parser = parse_api_version)]
    api_versions: Vec<(Call, String)>,
    /// Unattended AIS call (the PSU is not present): sends psu_involved=false and counts the
    /// call against the budget of 4 per account and rolling 24 hours kept in the token file; a
    /// call over budget is refused before anything is sent.
    #[arg(long)]
    unattended: bool,
    /// Further attempts after a connection that could not be set up (any call but a payment
    /// initiation) or, for GET calls, after a lost answer or a 5xx.
    #[arg(long, value_name = "N", default_value = "4")]
    retries: u32,
    /// No retry starts later than this after the first attempt.
    #[arg(long, value_name = "DURATION", value_parser = crate::common::parse_std_duration, default_value = "15s")]
    retry_total: std::time::Duration,
    /// A bank error as one JSON object on stdout ({"status","error","error_code","description","action"})
    /// instead of a line on stderr (exit 1 either way).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    password: PasswordArgs,
    #[command(subcommand)]
    op: Op,
}

/// The call to make.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Op {
    /// Start a consent (GET /consent-uris) with a fresh PKCE pair.
    Consent {
        /// AIS (accounts) or CAF (funds confirmation).
        #[arg(long, default_value = "AIS")]
        scope: String,
    },
    /// Exchange the authorization code of the pending consent or payment for tokens.
    Token {
        /// The authorization code from the redirect.
        #[arg(long, value_name = "CODE", required_unless_present = "callback", conflicts_with = "callback")]
        code: Option<String>,
        /// The whole redirect URL (`<redirect-uri>?code=…&state=…`); its state is checked.
        #[arg(long, value_name = "URL")]
        callback: Option<String>,
    },
    /// Refresh the tokens of a scope (the old pair stops working).
    Refresh {
        /// AIS, PIS or CAF.
        #[arg(long, default_value = "AIS")]
        scope: String,
    },
    /// List the consented accounts (AIS token).
    Accounts,
    /// Details and balance of an account (AIS token).
    Account {
        /// The account's logical id.
        id: String,
    },
    /// Transactions of an account (AIS token).
    Transactions {
        /// The account's logical id.
        id: String,
        /// First day, YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Last day, YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// Page key from the previous page's next_page_key.
        #[arg(long, value_name = "KEY")]
        next: Option<String>,
    },
    /// Initiate a payment, sealed with the QSealC (PKCE, or the stored PIS token with --use-token).
    Pay(PayArgs),
    /// Status of a payment (default: the last one initiated).
    PaymentStatus {
        /// Payment id (default: from the token file).
        #[arg(long, value_name = "ID")]
        payment_id: Option<String>,
        /// Payment product (default: from the token file, else sepa-credit-transfers).
        #[arg(long, value_name = "PRODUCT")]
        product: Option<String>,
    },
    /// Details of a payment (PIS token; default: the last one initiated).
    Payment {
        /// Payment id (default: from the token file).
        #[arg(long, value_name = "ID")]
        payment_id: Option<String>,
        /// Payment product (default: from the token file, else sepa-credit-transfers).
        #[arg(long, value_name = "PRODUCT")]
        product: Option<String>,
    },
    /// Confirmation of funds (CAF token).
    Funds {
        /// The account's IBAN (as at consent).
        #[arg(long)]
        iban: String,
        /// Amount, e.g. 12.34.
        #[arg(long)]
        amount: String,
        /// Currency.
        #[arg(long, default_value = "EUR")]
        currency: String,
    },
}

/// Arguments of `pay`.
#[derive(Debug, clap::Args)]
pub(crate) struct PayArgs {
    /// The JSON body to send as is (a file, or - for standard input); else built from the flags.
    #[arg(long, value_name = "FILE|-", conflicts_with_all = ["creditor_iban", "creditor_name", "amount"])]
    body: Option<String>,
    /// Payee IBAN.
    #[arg(long, required_unless_present = "body")]
    creditor_iban: Option<String>,
    /// Payee name.
    #[arg(long, required_unless_present = "body")]
    creditor_name: Option<String>,
    /// Amount, e.g. 12.34.
    #[arg(long, required_unless_present = "body")]
    amount: Option<String>,
    /// Currency.
    #[arg(long, default_value = "EUR")]
    currency: String,
    /// Debtor IBAN (omitted: the PSU picks the account at the bank).
    #[arg(long)]
    debtor_iban: Option<String>,
    /// End-to-end identification.
    #[arg(long)]
    end_to_end_id: Option<String>,
    /// Unstructured remittance information.
    #[arg(long)]
    remittance: Option<String>,
    /// Payment product.
    #[arg(long, default_value = "sepa-credit-transfers")]
    product: String,
    /// Authenticate with the stored PIS access token instead of PKCE.
    #[arg(long)]
    use_token: bool,
}

/// `CALL=VERSION` of `--api-version`.
fn parse_api_version(s: &str) -> Result<(Call, String), String> {
    let (name, version) = s.split_once('=').ok_or_else(|| format!("'{s}': expected CALL=VERSION, e.g. account=3"))?;
    let call = CALLS
        .iter()
        .find(|c| c.key == name.trim() && c.accept_version.is_some())
        .map(|c| c.call)
        .ok_or_else(|| format!("'{}' is not a call with a version ({})", name.trim(), call_keys()))?;
    let version = version.trim();
    if version.is_empty() || !version.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
        return Err(format!("'{version}' is not a version (digits, letters and dots, e.g. 3 or 1.2)"));
    }
    Ok((call, version.to_owned()))
}

fn call_keys() -> String {
    CALLS.iter().filter(|c| c.accept_version.is_some()).map(|c| c.key).collect::<Vec<_>>().join(", ")
}

/// The text after `send --help`: the calls and the Accept version each sends.
pub(crate) fn calls_help() -> String {
    let mut out = String::from("Calls and their Accept versions (change one with --api-version CALL=VERSION):\n");
    for c in CALLS.iter() {
        if let Some(v) = c.accept_version {
            out.push_str(&format!("  {:<20} {:<4} {:<34} version={v}\n", c.key, c.method, c.path));
        }
    }
    out
}

/// Runs `send`.
pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::input(format!("cannot start the async runtime: {e}")))?;
    let json_errors = args.json;
    let out = match runtime.block_on(run_async(args)) {
        Ok(v) => v,
        Err(Failed::Cli(e)) => return Err(e),
        Err(Failed::Bank(e)) if json_errors => {
            let body = error_json(&e);
            outln!("{}", serde_json::to_string_pretty(&body).map_err(|e| CliError::input(e.to_string()))?)?;
            return Err(CliError { code: 1, message: String::new() });
        }
        Err(Failed::Bank(e)) => return Err(client_error(e)),
    };
    outln!("{}", serde_json::to_string_pretty(&out).map_err(|e| CliError::input(e.to_string()))?)?;
    Ok(ExitCode::SUCCESS)
}

/// A bank error as `send --json` prints it.
fn error_json(e: &psd2_client::Error) -> serde_json::Value {
    match e {
        psd2_client::Error::Http { status, error, body, kind, .. } => json!({
            "status": status,
            "error": error.as_ref().and_then(|b| b.error.clone()),
            "error_code": error.as_ref().and_then(|b| b.error_code.clone()),
            "description": error.as_ref().and_then(|b| b.error_description.clone()).or_else(|| (!body.is_empty()).then(|| body.clone())),
            "action": kind.action().as_str(),
            "advice": kind.advice(),
        }),
        other => {
            json!({ "status": null, "error": null, "error_code": null, "description": other.to_string(), "action": "unknown" })
        }
    }
}

/// Why `send` failed: a usage or local error, or a call the bank (or the network) refused.
enum Failed {
    Cli(CliError),
    Bank(psd2_client::Error),
}

impl From<CliError> for Failed {
    fn from(e: CliError) -> Self {
        Failed::Cli(e)
    }
}

impl From<psd2_client::Error> for Failed {
    fn from(e: psd2_client::Error) -> Self {
        match e {
            psd2_client::Error::Http { .. } | psd2_client::Error::Connection { .. } => Failed::Bank(e),
            other => Failed::Cli(client_error(other)),
        }
    }
}

impl From<psd2_eidas::Error> for Failed {
    fn from(e: psd2_eidas::Error) -> Self {
        Failed::Cli(e.into())
    }
}

fn client_error(e: psd2_client::Error) -> CliError {
    match e {
        psd2_client::Error::Config(_)
        | psd2_client::Error::Missing { .. }
        | psd2_client::Error::Tls(_)
        | psd2_client::Error::SessionFile { .. }
        | psd2_client::Error::NoPendingAuthorization => CliError::input(e.to_string()),
        // A role check, or the bank/network refused: the call failed (exit 1).
        _ => CliError::check(e.to_string()),
    }
}

fn scope(s: &str) -> Result<Scope, CliError> {
    s.parse().map_err(|e: psd2_client::Error| CliError::input(e.to_string()))
}

fn product(s: &str) -> Result<PaymentProduct, CliError> {
    s.parse().map_err(|e: psd2_client::Error| CliError::input(e.to_string()))
}

struct Ctx {
    client: Client,
    token_file: Option<PathBuf>,
    store: Session,
    sca: Sca,
    language: Option<String>,
    max_body: u64,
    unattended: bool,
}

impl Ctx {
    fn save(&mut self) -> Result<(), CliError> {
        let path = self.token_file.as_ref().ok_or_else(|| {
            CliError::input(
                "this operation keeps tokens or the PKCE verifier: give --token-file FILE (or PSD2_SIGN_TOKEN_FILE)",
            )
        })?;
        self.store.bind(&self.client);
        self.store.save(path).map_err(client_error)
    }

    /// The stored access token of a scope, else PSD2_SIGN_ACCESS_TOKEN.
    fn access_token(&self, scope: Scope) -> Result<String, CliError> {
        if let Some(t) = self.store.access_token(scope) {
            return Ok(t.to_owned());
        }
        if let Some(s) = Secret::from_env(ACCESS_TOKEN_ENV) {
            return Ok(s.expose().to_owned());
        }
        Err(CliError::input(format!(
            "no {scope} access token: none in the token file, and {ACCESS_TOKEN_ENV} is not set (run consent and token first)"
        )))
    }

    fn summary(&self, token: &Token) -> serde_json::Value {
        json!({
            "scope": token.scope,
            "token_type": token.token_type,
            "expires_in": token.expires_in,
            "logical_id": token.logical_id,
            "iban": token.iban,
            "refresh_token": token.refresh_token.is_some(),
            "token_file": self.token_file.as_ref().map(|p| p.display().to_string()),
        })
    }

    /// Exchanges a code for the pending scope; stores the token; returns its summary.
    async fn exchange(&mut self, code: &str, state: Option<&str>) -> Result<serde_json::Value, Failed> {
        let token = self.store.complete(&self.client, code, state).await?.clone();
        let summary = self.summary(&token);
        self.save()?;
        Ok(summary)
    }
}

async fn run_async(args: Args) -> Result<serde_json::Value, Failed> {
    if args.unattended && args.token_file.is_none() {
        return Err(CliError::input(
            "--unattended keeps the budget of 4 calls per account and 24 hours in the token file: give --token-file FILE",
        )
        .into());
    }
    let bank: Bank = args.bank.parse().map_err(|e: psd2_client::Error| CliError::input(e.to_string()))?;
    let env: Environment = match &args.environment {
        Some(e) => e.parse().map_err(|e: psd2_client::Error| CliError::input(e.to_string()))?,
        // Through a proxy, its route decides the bank's URL.
        None => Environment::Live,
    };
    if args.proxy.is_some() && args.sca == Sca::Auto {
        return Err(CliError::input(
            "--sca auto performs the PSU's step at the bank, with the QWAC; through --proxy use --sca manual",
        )
        .into());
    }
    let mut options = ClientOptions::new(bank, env, args.client_id.clone(), args.redirect_uri.clone());
    for (call, version) in &args.api_versions {
        options = options.with_api_version(*call, version.clone());
    }
    options.unattended = args.unattended;
    options.retry = RetryPolicy::new(args.retries, args.retry_total);
    options.connect_timeout = args.connect_timeout;
    options.read_timeout = args.read_timeout;
    options.timeout = args.timeout;
    let secret = match &args.client_secret_file {
        Some(p) => Some(Secret::from_file(p)?),
        None => Secret::from_env(CLIENT_SECRET_ENV),
    };
    if let Some(s) = secret {
        options = options.with_client_secret(s);
    }
    for ca in &args.ca {
        for c in psd2_eidas::load::load_certificates(ca, None)? {
            options = options.with_extra_root(c);
        }
    }
    if let Some(l) = &args.language {
        options = options.with_accept_language(l.clone());
    }
    // Before any network call: a token file that cannot be read or saved stops here.
    let store = match &args.token_file {
        Some(p) => Session::load(p)?,
        None => Session::new(),
    };
    let client = match &args.proxy {
        Some(url) => {
            let mut endpoint = ProxyEndpoint::parse(url).map_err(|e| CliError::input(format!("--proxy: {e}")))?;
            for ca in &args.proxy_ca {
                for c in psd2_eidas::load::load_certificates(ca, None)? {
                    endpoint = endpoint.with_extra_root(c);
                }
            }
            if let (Some(cert), Some(key)) = (&args.proxy_cert, &args.proxy_key) {
                let cert: psd2_eidas::KeyRef = cert.parse()?;
                let identity = psd2_eidas::Identity::load(&key.parse()?, Some(&cert), &args.password.secrets()?)?;
                endpoint = endpoint.with_client_identity(identity);
            }
            Client::through_proxy(endpoint, options)?
        }
        None => {
            let (qwac, qseal) = args.identities.load(&args.password.secrets()?)?;
            Client::new(qwac, qseal, options)?
        }
    };
    let mut ctx = Ctx {
        client,
        token_file: args.token_file,
        store,
        sca: args.sca,
        language: args.language,
        max_body: args.max_body,
        unattended: args.unattended,
    };

    match args.op {
        Op::Consent { scope: s } => consent(&mut ctx, scope(&s)?).await,
        Op::Token { code, callback } => {
            if let Some(url) = &callback
                && let Some(sca) = session::parse_sca_callback(url)?
            {
                let account =
                    ctx.store.complete_sca(&sca.sca_token, sca.state.as_deref(), OffsetDateTime::now_utc())?;
                ctx.save()?;
                return Ok(
                    json!({ "account": account, "sca_token": "stored", "token_file": ctx.token_file.as_ref().map(|p| p.display().to_string()) }),
                );
            }
            let (code, state) = match (code, callback) {
                (Some(c), _) => (c, None),
                (None, Some(url)) => {
                    let c = session::parse_callback(&url)?;
                    (c.code, c.state)
                }
                (None, None) => return Err(CliError::input("give --code or --callback").into()),
            };
            ctx.exchange(&code, state.as_deref()).await
        }
        Op::Refresh { scope: s } => {
            let s = scope(&s)?;
            let refresh = match ctx.store.token(s).and_then(|t| t.refresh_token.clone()) {
                Some(r) => r,
                None => Secret::from_env(REFRESH_TOKEN_ENV).map(|r| r.expose().to_owned()).ok_or_else(|| {
                    CliError::input(format!(
                        "no {s} refresh token: none in the token file, and {REFRESH_TOKEN_ENV} is not set"
                    ))
                })?,
            };
            let token = ctx.client.refresh(&refresh).await?;
            let mut summary = ctx.summary(&token);
            if ctx.token_file.is_none() {
                // The old pair no longer works: without a token file the new one is printed.
                summary["access_token"] = json!(token.access_token);
                summary["refresh_token"] = json!(token.refresh_token);
                return Ok(summary);
            }
            ctx.store.set_token(s, token);
            ctx.save()?;
            Ok(summary)
        }
        Op::Accounts => {
            let t = ctx.access_token(Scope::Ais)?;
            ctx.before_ais(None)?;
            let r = ctx.client.accounts(&t).await;
            ctx.after_ais(None, r.as_ref().err())?;
            to_json(r?)
        }
        Op::Account { id } => {
            let t = ctx.access_token(Scope::Ais)?;
            ctx.before_ais(Some(&id))?;
            let r = ctx.client.account(&t, &id).await;
            ctx.after_ais(Some(&id), r.as_ref().err())?;
            to_json(r?)
        }
        Op::Transactions { id, from, to, next } => transactions(&mut ctx, &id, from, to, next).await,
        Op::Pay(p) => pay(&mut ctx, p).await,
        Op::PaymentStatus { payment_id, product: prod } => {
            let (prod, id) = last_payment(&ctx, payment_id, prod)?;
            let bearer = ctx.store.access_token(Scope::Pis).map(str::to_owned);
            to_json(ctx.client.payment_status(prod, &id, bearer.as_deref()).await?)
        }
        Op::Payment { payment_id, product: prod } => {
            let (prod, id) = last_payment(&ctx, payment_id, prod)?;
            let t = ctx.access_token(Scope::Pis)?;
            to_json(ctx.client.payment(&t, prod, &id).await?)
        }
        Op::Funds { iban, amount, currency } => {
            let t = ctx.access_token(Scope::Caf)?;
            let req = FundsRequest::new(iban, Amount::new(amount, currency));
            to_json(ctx.client.funds_confirmation(&t, &req).await?)
        }
    }
}

/// `send transactions`: with the account's stored SCA token; on SCA_REQUIRED the SCA step
/// (printed for the PSU, or performed with `--sca auto`), its token stored with the account, and
/// the call repeated with it.
async fn transactions(
    ctx: &mut Ctx,
    id: &str,
    from: Option<String>,
    to: Option<String>,
    next: Option<String>,
) -> Result<serde_json::Value, Failed> {
    let t = ctx.access_token(Scope::Ais)?;
    let sca = ctx.store.sca_token(id).map(|s| s.token().to_owned());
    ctx.before_ais(Some(id))?;
    let mut r = ctx.client.transactions(&t, id, from.as_deref(), to.as_deref(), next.as_deref(), sca.as_deref()).await;
    ctx.after_ais(Some(id), r.as_ref().err())?;
    let refused = |r: &Result<_, psd2_client::Error>| {
        matches!(r.as_ref().err().and_then(|e| e.bank_error()),
            Some(BankErrorKind::FailedSecurityValidation { code }) if code == "GEN-1203-100010")
    };
    if sca.is_some() && refused(&r) {
        // The stored SCA token is no longer accepted: forget it and ask again without it.
        ctx.store.drop_sca_token(id);
        if ctx.token_file.is_some() {
            ctx.save()?;
        }
        ctx.before_ais(Some(id))?;
        r = ctx.client.transactions(&t, id, from.as_deref(), to.as_deref(), next.as_deref(), None).await;
        ctx.after_ais(Some(id), r.as_ref().err())?;
    }
    let url = match r {
        Ok(page) => return to_json(page),
        Err(e) => match e.bank_error() {
            Some(BankErrorKind::ScaRequired { url: Some(url) }) => url.clone(),
            _ => return Err(e.into()),
        },
    };
    ctx.store.drop_sca_token(id);
    if ctx.sca == Sca::Manual && ctx.token_file.is_none() {
        return Err(CliError::check(format!(
            "transactions: the bank requires SCA for this history: {url} (give --token-file FILE to keep the SCA token, or use --sca auto)"
        ))
        .into());
    }
    let state = ctx.store.start_sca(id)?;
    let sca_uri = session::sca_url(&url, &state);
    if ctx.sca == Sca::Manual {
        ctx.save()?;
        return Ok(json!({
            "sca_required": true,
            "account": id,
            "sca_uri": sca_uri,
            "next": "the PSU opens sca_uri; then: psd2-sign send ... token --callback '<redirect URL>', and repeat the call",
        }));
    }
    let token = ctx.client.psu_sca_token(&url, &state).await?;
    ctx.store.complete_sca(&token, Some(&state), OffsetDateTime::now_utc())?;
    if ctx.token_file.is_some() {
        ctx.save()?;
    }
    ctx.before_ais(Some(id))?;
    let r = ctx.client.transactions(&t, id, from.as_deref(), to.as_deref(), next.as_deref(), Some(&token)).await;
    ctx.after_ais(Some(id), r.as_ref().err())?;
    to_json(r?)
}

impl Ctx {
    /// With `--unattended`: refuses, before any I/O, a call over the account's budget.
    fn before_ais(&self, account: Option<&str>) -> Result<(), Failed> {
        if self.unattended {
            self.store
                .check_unattended(session::budget_key(account), OffsetDateTime::now_utc())
                .map_err(|e| Failed::Cli(CliError::check(e.to_string())))?;
        }
        Ok(())
    }

    /// With `--unattended`: counts a call that reached the bank (answered, even with an error).
    fn after_ais(&mut self, account: Option<&str>, error: Option<&psd2_client::Error>) -> Result<(), Failed> {
        if self.unattended && !matches!(error, Some(psd2_client::Error::Connection { .. })) {
            self.store.record_unattended(session::budget_key(account), OffsetDateTime::now_utc());
            self.save()?;
        }
        Ok(())
    }
}

fn to_json<T: Serialize>(v: T) -> Result<serde_json::Value, Failed> {
    serde_json::to_value(v).map_err(|e| Failed::Cli(CliError::input(e.to_string())))
}

fn last_payment(ctx: &Ctx, id: Option<String>, prod: Option<String>) -> Result<(PaymentProduct, String), CliError> {
    let last = ctx.store.last_payment();
    let id = id.or_else(|| last.map(|p| p.payment_id.clone())).ok_or_else(|| {
        CliError::input("no payment id: give --payment-id, or initiate one with pay and a token file")
    })?;
    let prod = prod.or_else(|| last.map(|p| p.product.clone())).unwrap_or_else(|| "sepa-credit-transfers".into());
    Ok((product(&prod)?, id))
}

async fn consent(ctx: &mut Ctx, scope: Scope) -> Result<serde_json::Value, Failed> {
    if ctx.sca == Sca::Manual && ctx.token_file.is_none() {
        return Err(CliError::input(
            "consent keeps the PKCE verifier for the token call: give --token-file FILE (or use --sca auto)",
        )
        .into());
    }
    let (pkce, state) = ctx.store.start(scope)?;
    let uris = ctx.client.consent_uris(scope, &pkce).await?;
    let chosen = ctx
        .language
        .as_deref()
        .and_then(|l| uris.iter().find(|u| u.language.eq_ignore_ascii_case(l)))
        .or_else(|| uris.first())
        .ok_or_else(|| CliError::check("consent-uris: the bank returned no consent URI"))?
        .consent_uri
        .clone();
    match ctx.sca {
        Sca::Manual => {
            ctx.save()?;
            Ok(json!({
                "scope": scope.as_str(),
                "state": state,
                "sca_uri": session::sca_url(&chosen, &state),
                "consent_uris": uris,
                "next": "the PSU opens sca_uri; then: psd2-sign send ... token --callback '<redirect URL>' (or --code CODE)",
            }))
        }
        Sca::Auto => {
            let code = ctx.client.psu_authorize(&chosen, &state).await?;
            let token = ctx.exchange_or_print(&code, &state).await?;
            Ok(json!({ "scope": scope.as_str(), "token": token }))
        }
    }
}

impl Ctx {
    /// After an automated PSU step: exchange and store (token file), or print the token when
    /// there is no token file (the only way to get it then).
    async fn exchange_or_print(&mut self, code: &str, state: &str) -> Result<serde_json::Value, Failed> {
        if self.token_file.is_some() {
            return self.exchange(code, Some(state)).await;
        }
        let pending = self.store.take_pending().ok_or_else(|| CliError::input("no pending consent"))?;
        let token = self.client.token_from_code(code, pending.code_verifier()).await?;
        let mut summary = self.summary(&token);
        summary["access_token"] = json!(token.access_token);
        summary["refresh_token"] = json!(token.refresh_token);
        Ok(summary)
    }
}

async fn pay(ctx: &mut Ctx, p: PayArgs) -> Result<serde_json::Value, Failed> {
    let prod = product(&p.product)?;
    let body = match &p.body {
        Some(src) => crate::common::read_body(src, ctx.max_body, "--body")?,
        None => {
            let (Some(iban), Some(name), Some(amount)) = (p.creditor_iban, p.creditor_name, p.amount) else {
                return Err(
                    CliError::input("pay: give --body, or --creditor-iban, --creditor-name and --amount").into()
                );
            };
            let mut req = PaymentRequest::new(iban, name, Amount::new(amount, p.currency));
            req.debtor_account = p.debtor_iban.map(AccountRef::iban);
            req.endtoend_identification = p.end_to_end_id;
            req.remittance_information_unstructured = p.remittance;
            req.to_body()?
        }
    };
    if p.use_token {
        let t = ctx.access_token(Scope::Pis)?;
        let init = ctx.client.initiate_payment(prod, body, PisAuth::Bearer(&t)).await?;
        ctx.store.set_last_payment(prod, init.payment_id.clone());
        if ctx.token_file.is_some() {
            ctx.save()?;
        }
        return to_json(init);
    }
    if ctx.sca == Sca::Manual && ctx.token_file.is_none() {
        return Err(CliError::input(
            "pay keeps the PKCE verifier for the token call: give --token-file FILE (or use --sca auto or --use-token)",
        )
        .into());
    }
    let (pkce, state) = ctx.store.start(Scope::Pis)?;
    let init = ctx.client.initiate_payment(prod, body, PisAuth::Pkce(&pkce)).await?;
    ctx.store.set_last_payment(prod, init.payment_id.clone());
    let sca_uri = init
        .sca_uri
        .clone()
        .ok_or_else(|| CliError::check(format!("payment {}: the bank sent no SCA URL (Location)", init.payment_id)))?;
    match ctx.sca {
        Sca::Manual => {
            ctx.save()?;
            Ok(json!({
                "payment_id": init.payment_id,
                "payment_status": init.payment_status,
                "product": prod.as_str(),
                "state": state,
                "sca_uri": session::sca_url(&sca_uri, &state),
                "next": "the PSU signs at sca_uri; then: psd2-sign send ... token --callback '<redirect URL>' (or --code CODE)",
            }))
        }
        Sca::Auto => {
            let code = ctx.client.psu_authorize(&sca_uri, &state).await?;
            let token = ctx.exchange_or_print(&code, &state).await?;
            let status = ctx.client.payment_status(prod, &init.payment_id, None).await?;
            Ok(json!({
                "payment_id": init.payment_id,
                "product": prod.as_str(),
                "payment_status": status.payment_status,
                "token": token,
            }))
        }
    }
}
