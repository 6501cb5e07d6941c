//! CAF: `POST /funds-confirmations`.

use http::{Response, StatusCode};
use psd2_eidas::Role;

use super::config::parse_cents;
use super::error::ApiError;
use super::state::Scope;
use super::wire::{Body, Call, json, other_bank};

/// `POST /funds-confirmations` (version 1, Bearer CAF): `{"funds_available": amount ≤ balance}`.
pub(crate) fn funds(call: &Call<'_>) -> Result<Response<Body>, ApiError> {
    call.common(1)?;
    let qwac = call.role(&[Role::IssuingCards])?;
    let (client_id, _) = call.client(qwac)?;
    call.bearer(client_id, Scope::Caf)?;
    let body = call.json_body()?;
    let field = |p: &str| {
        let name = p.trim_start_matches('/').replace('/', ".");
        match body.pointer(p) {
            None | Some(serde_json::Value::Null) => Err(ApiError::missing_input(format!("{name} is missing"))),
            Some(v) => v.as_str().ok_or_else(|| ApiError::invalid_input(format!("{name} is not a string"))),
        }
    };
    let iban = field("/account/iban")?;
    let amount = field("/instructed_amount/amount")?;
    let currency = field("/instructed_amount/currency")?;
    let cents = parse_cents(amount)
        .ok_or_else(|| ApiError::invalid_input(format!("instructed_amount.amount {amount:?} is not an amount")))?;
    let account = call
        .shared
        .config
        .accounts
        .iter()
        .find(|a| a.iban.eq_ignore_ascii_case(iban))
        .ok_or_else(|| ApiError::not_found(format!("no account with IBAN {iban}")))?;
    if account.bank != call.bank {
        return Err(other_bank(iban, account.bank));
    }
    let available = currency == account.currency && cents <= account.balance_cents;
    Ok(json(StatusCode::OK, &serde_json::json!({ "funds_available": available })))
}
