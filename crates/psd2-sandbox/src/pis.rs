//! PIS: `POST /payments/{product}` (sealed with the Belfius PIS `Signature`), payment details
//! and status.

use http::header::LOCATION;
use http::{HeaderValue, Response, StatusCode};
use psd2_eidas::{Certificate, Role};
use psd2_httpsig::profile::BELFIUS_PIS;
use psd2_httpsig::{Message, Verifier, VerifyOptions};
use time::OffsetDateTime;

use super::config::{RegisteredClient, format_cents, parse_cents};
use super::error::{ApiError, PisCode};
use super::iban::iban_problem;
use super::state::{Authorization, Payment, Scope, internal, random_token};
use super::wire::{Body, Call, json};

/// The payment products the sandbox knows.
pub(crate) const PRODUCTS: [&str; 2] = ["sepa-credit-transfers", "instant-sepa-credit-transfers"];

/// How the sandbox checks the Belfius PIS `Signature` of a payment initiation with a registered
/// QSealC. The QSealC is read once ([`new`](Self::new), at start, for every registered client:
/// its PSD2 roles, its eIDAS statements and its public key); each [`check`](Self::check) then
/// verifies the request at the sandbox's clock, the certificate's validity window included.
/// Public so that a benchmark measures the code the sandbox runs.
///
/// ```
/// use psd2_sandbox::PisSealCheck;
/// let pem = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-certs/rsa/qseal.pem"))?;
/// let check = PisSealCheck::new(psd2_eidas::Certificate::from_pem_or_der(&pem)?.remove(0));
/// let (parts, body) = http::Request::post("/payments/sepa-credit-transfers").body(b"{}".to_vec())?.into_parts();
/// let e = check.check(&parts, &body, time::OffsetDateTime::now_utc()).unwrap_err();
/// assert!(e.to_string().contains("Signature"), "{e}"); // not sealed
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PisSealCheck {
    verifier: Verifier,
}

/// Why [`PisSealCheck::check`] refuses a payment initiation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealRefused {
    /// The registered QSealC does not carry the PSP_PI role (403 `role_missing`).
    #[error("the registered QSealC does not carry PSP_PI")]
    RoleMissing,
    /// The `Signature` header does not verify with the registered QSealC (400
    /// `invalid_signature`).
    #[error("{0}")]
    InvalidSignature(#[from] psd2_httpsig::Error),
}

impl PisSealCheck {
    /// Reads the registered QSealC once.
    pub fn new(qseal: Certificate) -> Self {
        Self { verifier: Verifier::new(qseal) }
    }

    /// Checks the PIS initiation `parts` + `body` at `now`: the QSealC carries PSP_PI and the
    /// `belfius-pis` `Signature` verifies with it (and it is valid at `now`).
    pub fn check(&self, parts: &http::request::Parts, body: &[u8], now: OffsetDateTime) -> Result<(), SealRefused> {
        if !self.verifier.psd2_roles().contains(&Role::PaymentInitiation) {
            return Err(SealRefused::RoleMissing);
        }
        let opts = VerifyOptions { now, ..VerifyOptions::default() };
        let msg = Message::from_parts(&parts.method, &parts.uri, &parts.headers);
        self.verifier.verify_message(&BELFIUS_PIS, &msg, body, &opts)?;
        Ok(())
    }
}

/// Verifies the `Signature` header with the registered QSealC (which must carry PSP_PI), read
/// once at start.
fn check_signature(call: &Call<'_>, client_id: &str, client: &RegisteredClient) -> Result<(), ApiError> {
    let refused = |e: SealRefused| match e {
        SealRefused::RoleMissing => ApiError::role_missing(e.to_string()),
        SealRefused::InvalidSignature(_) => ApiError::invalid_signature(e.to_string()),
    };
    match call.shared.seal_check(client_id) {
        Some(check) => check.check(call.parts, call.body, call.now()),
        None => PisSealCheck::new(client.qseal.clone()).check(call.parts, call.body, call.now()),
    }
    .map_err(refused)
}

/// The text at `pointer`: 400 `MISSING_INPUT` when absent, `INVALID_INPUT` when not a
/// non-empty string.
fn text<'v>(v: &'v serde_json::Value, pointer: &str) -> Result<&'v str, ApiError> {
    let name = pointer.trim_start_matches('/').replace('/', ".");
    match v.pointer(pointer) {
        None | Some(serde_json::Value::Null) => Err(ApiError::missing_input(format!("{name} is missing"))),
        Some(x) => x
            .as_str()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| ApiError::invalid_input(format!("{name} is not a non-empty string"))),
    }
}

/// The body checks with the PIS codes of belfius-api.md §10.1: `endtoend_identification`
/// (required for every product), an amount above 0, EUR, a valid BIC when one is given.
fn check_pis_fields(body: &serde_json::Value, amount: &str, currency: &str) -> Result<i64, ApiError> {
    let e2e = match body.get("endtoend_identification") {
        None | Some(serde_json::Value::Null) => {
            return Err(ApiError::pis(
                PisCode::EndToEnd,
                "endtoend_identification is missing: it is required for every payment product",
            ));
        }
        Some(v) => v.as_str().unwrap_or(""),
    };
    if e2e.trim().is_empty() || e2e.chars().count() > 35 || e2e.chars().any(char::is_control) {
        return Err(ApiError::pis(
            PisCode::EndToEnd,
            format!("endtoend_identification {e2e:?} is invalid: 1 to 35 characters, no control characters"),
        ));
    }
    let cents = match amount.strip_prefix('-') {
        // a negative amount is well-formed, but not above 0
        Some(a) if parse_cents(a).is_some() => 0,
        _ => parse_cents(amount).ok_or_else(|| {
            ApiError::invalid_input(format!("instructed_amount.amount {amount:?} is not an amount like 12.34"))
        })?,
    };
    if cents <= 0 {
        return Err(ApiError::pis(PisCode::Amount, format!("instructed_amount.amount {amount:?} must be above 0")));
    }
    if currency != "EUR" {
        return Err(ApiError::pis(
            PisCode::Currency,
            format!("instructed_amount.currency {currency:?} is not allowed: only EUR"),
        ));
    }
    if let Some(bic) = body.pointer("/creditor_account/bic") {
        let b = bic.as_str().unwrap_or("");
        if !valid_bic(b) {
            return Err(ApiError::pis(
                PisCode::Bic,
                format!("creditor_account.bic {b:?} is not a BIC (8 or 11 characters, e.g. GKCCBEBB)"),
            ));
        }
    }
    Ok(cents)
}

/// ISO 9362: 4 letters (institution), 2 letters (country), 2 letters or digits (location),
/// optionally 3 letters or digits (branch).
fn valid_bic(b: &str) -> bool {
    let b = b.as_bytes();
    (b.len() == 8 || b.len() == 11)
        && b[..6].iter().all(u8::is_ascii_uppercase)
        && b[6..].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// `POST /payments/{product}` (version 3).
pub(crate) fn initiate(call: &Call<'_>, product: &str) -> Result<Response<Body>, ApiError> {
    call.common(3)?;
    let qwac = call.role(&[Role::PaymentInitiation])?;
    let (client_id, client) = call.client(qwac)?;
    let (challenge, redirect) = if call.bearer_token().is_some() {
        call.bearer(client_id, Scope::Pis)?;
        (None, call.redirect_uri()?)
    } else {
        let (c, r) = call.pkce()?;
        (Some(c), Some(r))
    };
    check_signature(call, client_id, client)?;
    let body = call.json_body()?;
    let iban = text(&body, "/creditor_account/iban")?;
    if let Some(problem) = iban_problem(iban) {
        return Err(ApiError::invalid_input(format!("creditor_account.iban {iban:?} is not an IBAN: {problem}")));
    }
    let name = text(&body, "/creditor_name")?;
    let amount = text(&body, "/instructed_amount/amount")?;
    let currency = text(&body, "/instructed_amount/currency")?;
    let cents = check_pis_fields(&body, amount, currency)?;
    if body.get("debtor_account").is_some_and(|d| d.as_object().is_none_or(|o| o.is_empty())) {
        return Err(ApiError::invalid_input("debtor_account must be omitted, not sent empty"));
    }
    let id = random_token().map_err(internal)?;
    let now = call.now();
    {
        let mut state = call.shared.state();
        state.sweep(now);
        state.payments.insert(
            id.clone(),
            Payment {
                id: id.clone(),
                bank: call.bank,
                product: product.to_owned(),
                client_id: client_id.to_owned(),
                status: "RCVD",
                creditor_iban: iban.to_owned(),
                creditor_name: name.to_owned(),
                amount_cents: cents,
                currency: currency.to_owned(),
            },
        );
    }
    let location = call.ticket(Authorization {
        code_challenge: challenge,
        redirect_uri: redirect,
        payment_id: Some(id.clone()),
        ..Authorization::new(client_id, call.bank, Scope::Pis, now)
    })?;
    let mut r = json(StatusCode::CREATED, &serde_json::json!({"payment_id": id, "payment_status": "RCVD"}));
    r.headers_mut().insert(LOCATION, HeaderValue::from_str(&location).map_err(|e| internal(e.to_string()))?);
    Ok(r)
}

fn payment(call: &Call<'_>, client_id: &str, product: &str, id: &str) -> Result<Payment, ApiError> {
    call.shared
        .state()
        .payments
        .get(id)
        .filter(|p| p.client_id == client_id && p.product == product && p.bank == call.bank)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no {product} payment with id {id:?}")))
}

/// `GET /payments/{product}/{id}` (version 1, Bearer PIS).
pub(crate) fn details(call: &Call<'_>, product: &str, id: &str) -> Result<Response<Body>, ApiError> {
    call.common(1)?;
    let qwac = call.role(&[Role::PaymentInitiation])?;
    let (client_id, _) = call.client(qwac)?;
    call.bearer(client_id, Scope::Pis)?;
    let p = payment(call, client_id, product, id)?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "payment_id": p.id,
            "payment_status": p.status,
            "instructed_amount": {"amount": format_cents(p.amount_cents), "currency": p.currency},
            "creditor_account": {"iban": p.creditor_iban},
            "creditor_name": p.creditor_name,
        }),
    ))
}

/// `GET /payments/{product}/{id}/status` (version 1, no Bearer needed).
pub(crate) fn status(call: &Call<'_>, product: &str, id: &str) -> Result<Response<Body>, ApiError> {
    call.common(1)?;
    let qwac = call.role(&[Role::PaymentInitiation])?;
    let (client_id, _) = call.client(qwac)?;
    let p = payment(call, client_id, product, id)?;
    Ok(json(StatusCode::OK, &serde_json::json!({"payment_id": p.id, "payment_status": p.status})))
}
