//! PIS: `POST /payments/{product}` (sealed with the Belfius PIS `Signature`), payment details
//! and status.

use http::header::LOCATION;
use http::{HeaderValue, Response, StatusCode};
use psd2_eidas::Role;
use psd2_httpsig::VerifyOptions;
use psd2_httpsig::profile::Profile;

use super::config::{RegisteredClient, format_cents, parse_cents};
use super::error::ApiError;
use super::iban::iban_problem;
use super::state::{Authorization, CODE_TTL, Payment, Scope, random_token};
use super::wire::{Body, Call, json};

/// The payment products the sandbox knows.
pub(crate) const PRODUCTS: [&str; 2] = ["sepa-credit-transfers", "instant-sepa-credit-transfers"];

fn internal(e: String) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_server_error", "500", e)
}

/// Verifies the `Signature` header with the registered QSealC (which must carry PSP_PI).
fn check_signature(call: &Call<'_>, client: &RegisteredClient) -> Result<(), ApiError> {
    if !client.qseal.psd2_roles().is_ok_and(|r| r.contains(&Role::PaymentInitiation)) {
        return Err(ApiError::role_missing("the registered QSealC does not carry PSP_PI"));
    }
    let profile =
        Profile::by_name("belfius-pis").map_err(|e| internal(format!("profile belfius-pis unavailable: {e}")))?;
    let mut req = http::Request::new(call.body.to_vec());
    *req.method_mut() = call.parts.method.clone();
    *req.uri_mut() = call.parts.uri.clone();
    *req.headers_mut() = call.parts.headers.clone();
    let opts = VerifyOptions { now: call.now(), certificate: Some(client.qseal.clone()), ..VerifyOptions::default() };
    psd2_httpsig::verify(profile, &req, &opts).map_err(|e| ApiError::invalid_signature(e.to_string()))?;
    Ok(())
}

fn text<'v>(v: &'v serde_json::Value, pointer: &str) -> Result<&'v str, ApiError> {
    v.pointer(pointer)
        .and_then(|x| x.as_str())
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::invalid_input(format!("{} is missing or not a string", pointer.replace('/', "."))))
}

/// `POST /payments/{product}` (version 3).
pub(crate) fn initiate(call: &Call<'_>, product: &str) -> Result<Response<Body>, ApiError> {
    call.request_id()?;
    call.accept(3)?;
    let qwac = call.role(&[Role::PaymentInitiation])?;
    let (client_id, client) = call.client(qwac)?;
    let (challenge, redirect) = if call.bearer_token().is_some() {
        call.bearer(client_id, Scope::Pis)?;
        (None, call.redirect_uri()?)
    } else {
        let (c, r) = call.pkce()?;
        (Some(c), Some(r))
    };
    check_signature(call, client)?;
    let body = call.json_body()?;
    let iban = text(&body, "/creditor_account/iban")?;
    if let Some(problem) = iban_problem(iban) {
        return Err(ApiError::invalid_input(format!("creditor_account.iban {iban:?} is not an IBAN: {problem}")));
    }
    let name = text(&body, "/creditor_name")?;
    let amount = text(&body, "/instructed_amount/amount")?;
    let currency = text(&body, "/instructed_amount/currency")?;
    let cents = parse_cents(amount).filter(|c| *c > 0).ok_or_else(|| {
        ApiError::invalid_input(format!("instructed_amount.amount {amount:?} is not a positive amount"))
    })?;
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::invalid_input(format!(
            "instructed_amount.currency {currency:?} is not an ISO 4217 code"
        )));
    }
    if body.get("debtor_account").is_some_and(|d| d.as_object().is_none_or(|o| o.is_empty())) {
        return Err(ApiError::invalid_input("debtor_account must be omitted, not sent empty"));
    }
    let id = random_token().map_err(internal)?;
    let ticket = random_token().map_err(internal)?;
    let now = call.now();
    {
        let mut state = call.shared.state();
        state.sweep(now);
        state.payments.insert(
            id.clone(),
            Payment {
                id: id.clone(),
                product: product.to_owned(),
                client_id: client_id.to_owned(),
                status: "RCVD",
                creditor_iban: iban.to_owned(),
                creditor_name: name.to_owned(),
                amount_cents: cents,
                currency: currency.to_owned(),
            },
        );
        state.tickets.insert(
            ticket.clone(),
            Authorization {
                client_id: client_id.to_owned(),
                scope: Scope::Pis,
                code_challenge: challenge,
                redirect_uri: redirect,
                payment_id: Some(id.clone()),
                expires: now + CODE_TTL,
            },
        );
    }
    let mut r = json(StatusCode::CREATED, &serde_json::json!({"payment_id": id, "payment_status": "RCVD"}));
    let location = format!("{}/sca/authorize?ticket={ticket}", call.base_url());
    r.headers_mut().insert(LOCATION, HeaderValue::from_str(&location).map_err(|e| internal(e.to_string()))?);
    Ok(r)
}

fn payment(call: &Call<'_>, client_id: &str, product: &str, id: &str) -> Result<Payment, ApiError> {
    call.shared
        .state()
        .payments
        .get(id)
        .filter(|p| p.client_id == client_id && p.product == product)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no {product} payment with id {id:?}")))
}

/// `GET /payments/{product}/{id}` (version 1, Bearer PIS).
pub(crate) fn details(call: &Call<'_>, product: &str, id: &str) -> Result<Response<Body>, ApiError> {
    call.request_id()?;
    call.accept(1)?;
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
    call.request_id()?;
    call.accept(1)?;
    let qwac = call.role(&[Role::PaymentInitiation])?;
    let (client_id, _) = call.client(qwac)?;
    let p = payment(call, client_id, product, id)?;
    Ok(json(StatusCode::OK, &serde_json::json!({"payment_id": p.id, "payment_status": p.status})))
}
