//! AIS: `GET /accounts`, `GET /accounts/{id}`, `GET /accounts/{id}/transactions`.

use http::{Response, StatusCode};
use psd2_eidas::Role;

use super::config::{Account, format_cents};
use super::error::ApiError;
use super::state::Scope;
use super::wire::{Body, Call, json};

/// The gate every AIS call passes: Request-ID, Accept version, PSP_AI, Client-ID, Bearer AIS.
fn gate(call: &Call<'_>, version: u32) -> Result<(), ApiError> {
    call.request_id()?;
    call.accept(version)?;
    let qwac = call.role(&[Role::AccountInformation])?;
    let (client_id, _) = call.client(qwac)?;
    call.bearer(client_id, Scope::Ais)?;
    Ok(())
}

fn account<'a>(call: &'a Call<'_>, id: &str) -> Result<&'a Account, ApiError> {
    call.shared
        .config
        .accounts
        .iter()
        .find(|a| a.logical_id() == id)
        .ok_or_else(|| ApiError::not_found(format!("no account with logical id {id:?}")))
}

/// `GET /accounts` (version 1).
pub(crate) fn list(call: &Call<'_>) -> Result<Response<Body>, ApiError> {
    gate(call, 1)?;
    let accounts: Vec<serde_json::Value> = call
        .shared
        .config
        .accounts
        .iter()
        .map(|a| {
            serde_json::json!({
                "logical_id": a.logical_id(),
                "iban": a.iban,
                "currency": a.currency,
                "account_name": a.account_name,
            })
        })
        .collect();
    Ok(json(StatusCode::OK, &serde_json::json!({ "accounts": accounts })))
}

/// `GET /accounts/{id}` (version 3, the portal reference of December 2026).
pub(crate) fn details(call: &Call<'_>, id: &str) -> Result<Response<Body>, ApiError> {
    gate(call, 3)?;
    let a = account(call, id)?;
    let id = a.logical_id();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "product_type": a.product_type,
            "product_name": a.product_name,
            "iban": a.iban,
            "currency": a.currency,
            "balance": format_cents(a.balance_cents),
            "multicurrency": false,
            "account_name": a.account_name,
            "other_compartments": [],
            "psu_name": a.psu_name,
            "_links": {
                "self": {"href": format!("/accounts/{id}")},
                "transactions": {"href": format!("/accounts/{id}/transactions")},
            },
        }),
    ))
}

fn date_param(call: &Call<'_>, name: &str) -> Result<Option<String>, ApiError> {
    let Some(d) = call.query(name)? else { return Ok(None) };
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(&d, &fmt)
        .map_err(|_| ApiError::invalid_input(format!("{name} {d:?} is not a YYYY-MM-DD date")))?;
    Ok(Some(d))
}

/// `GET /accounts/{id}/transactions?date_from=&date_to=` (version 2).
pub(crate) fn transactions(call: &Call<'_>, id: &str) -> Result<Response<Body>, ApiError> {
    gate(call, 2)?;
    let a = account(call, id)?;
    let (from, to) = (date_param(call, "date_from")?, date_param(call, "date_to")?);
    if let (Some(f), Some(t)) = (&from, &to)
        && f > t
    {
        return Err(ApiError::invalid_input(format!("date_from {f} is after date_to {t}")));
    }
    // YYYY-MM-DD compares like the dates it names.
    let txs: Vec<serde_json::Value> = a
        .transactions
        .iter()
        .filter(|t| from.as_ref().is_none_or(|f| &t.execution_date >= f))
        .filter(|t| to.as_ref().is_none_or(|d| &t.execution_date <= d))
        .map(|t| {
            serde_json::json!({
                "transaction_ref": t.transaction_ref,
                "counterparty_info": t.counterparty_info,
                "communication": t.communication,
                "communication_type": t.communication_type,
                "remittance_info": t.remittance_info,
                "counterparty_account": t.counterparty_account,
                "amount": format_cents(t.amount_cents),
                "currency": t.currency,
                "execution_date": t.execution_date,
            })
        })
        .collect();
    let path = call.parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "_embedded": {"transactions": txs, "next_page_key": null},
            "_links": {"self": {"href": path}},
        }),
    ))
}
