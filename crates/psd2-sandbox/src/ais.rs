//! AIS: `GET /accounts`, `GET /accounts/{id}`, `GET /accounts/{id}/transactions`; the SCA token
//! beyond 90 days and the unattended budget (`psu_involved=false`).

use http::{Response, StatusCode};
use psd2_eidas::Role;
use time::{Date, Duration};

use super::config::{Account, format_cents};
use super::error::ApiError;
use super::state::{Authorization, Grant, LogicalId, Scope};
use super::wire::{Body, Call, json, other_bank};

/// How far back transactions go without an SCA token.
const HISTORY_WITHOUT_SCA: Duration = Duration::days(90);

/// What the AIS gate established.
struct Ais {
    client_id: String,
    grant: Grant,
    /// `psu_involved=false`: the PSU is not present.
    unattended: bool,
}

/// The gate every AIS call passes: Request-ID, Accept version, Accept-Language, PSP_AI,
/// Client-ID, Bearer AIS, `psu_involved`.
fn gate(call: &Call<'_>, version: u32) -> Result<Ais, ApiError> {
    call.common(version)?;
    let qwac = call.role(&[Role::AccountInformation])?;
    let (client_id, _) = call.client(qwac)?;
    let grant = call.bearer(client_id, Scope::Ais)?;
    let unattended = match call.query("psu_involved")?.as_deref() {
        None | Some("true") => false,
        Some("false") => true,
        Some(other) => {
            return Err(ApiError::invalid_input(format!("psu_involved {other:?} is neither true nor false")));
        }
    };
    Ok(Ais { client_id: client_id.to_owned(), grant, unattended })
}

/// Counts an unattended call on `account` (an IBAN, `*` for the list): 429 past the budget.
fn budget(call: &Call<'_>, ais: &Ais, account: &str) -> Result<(), ApiError> {
    if !ais.unattended {
        return Ok(());
    }
    call.shared.state().unattended_call(&ais.client_id, account, call.now()).map_err(|secs| {
        ApiError::too_many_requests(
            secs,
            format!("the 4 unattended calls per 24 hours on this account are used up: retry in {secs} s"),
        )
    })
}

/// The account with logical id `id`, held at this call's bank.
fn account<'a>(call: &'a Call<'_>, id: &str) -> Result<&'a Account, ApiError> {
    match call.shared.resolve(id) {
        LogicalId::Account(a) if a.bank == call.bank => Ok(a),
        LogicalId::Account(a) => Err(other_bank(id, a.bank)),
        LogicalId::Unknown => Err(ApiError::invalid_account(format!("the logical id {id:?} is not in this consent"))),
        LogicalId::Invalid => {
            Err(ApiError::invalid_jwt(format!("Invalid JWT: the logical id {id:?} is not one of this bank's")))
        }
    }
}

/// `GET /accounts` (version 1): the accounts of this bank.
pub(crate) fn list(call: &Call<'_>) -> Result<Response<Body>, ApiError> {
    let ais = gate(call, 1)?;
    budget(call, &ais, "*")?;
    let accounts: Vec<serde_json::Value> = call
        .shared
        .accounts()
        .filter(|(a, _)| a.bank == call.bank)
        .map(|(a, id)| {
            serde_json::json!({
                "logical_id": id,
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
    let ais = gate(call, 3)?;
    let a = account(call, id)?;
    budget(call, &ais, &a.iban)?;
    let base = format!("{}/accounts/{}", call.base_path(), super::wire::percent_encode(id));
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
                "self": {"href": base},
                "transactions": {"href": format!("{base}/transactions")},
            },
        }),
    ))
}

fn date_param(call: &Call<'_>, name: &str) -> Result<Option<Date>, ApiError> {
    let Some(d) = call.query(name)? else { return Ok(None) };
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(&d, &fmt)
        .map(Some)
        .map_err(|_| ApiError::invalid_input(format!("{name} {d:?} is not a YYYY-MM-DD date")))
}

/// The `SCA-Token` header, when sent, must be a valid token of this client for `iban`;
/// `Ok(true)` when one is.
fn sca_token(call: &Call<'_>, ais: &Ais, iban: &str) -> Result<bool, ApiError> {
    let Some(t) = call.header("sca-token") else { return Ok(false) };
    let now = call.now();
    let state = call.shared.state();
    match state.sca_tokens.get(t) {
        Some(s) if s.client_id == ais.client_id && s.iban == iban && s.expires > now => Ok(true),
        Some(s) if s.expires <= now => Err(ApiError::invalid_jwt("Invalid JWT: the SCA-Token has expired")),
        Some(_) => Err(ApiError::invalid_jwt("Invalid JWT: the SCA-Token is for another account or client")),
        None => Err(ApiError::invalid_jwt("Invalid JWT: the SCA-Token is not one of this bank's")),
    }
}

/// 401 `SCA_REQUIRED` with a fresh SCA ticket for `iban`, returning to the consent's
/// Redirect-URI.
fn sca_required(call: &Call<'_>, ais: &Ais, iban: &str) -> ApiError {
    let ticket = call.ticket(Authorization {
        sca_iban: Some(iban.to_owned()),
        redirect_uri: ais.grant.redirect_uri.clone(),
        ..Authorization::new(&ais.client_id, call.bank, Scope::Ais, call.now())
    });
    match ticket {
        Ok(url) => ApiError::sca_required(url),
        Err(e) => e,
    }
}

/// `GET /accounts/{id}/transactions?date_from=&date_to=` (version 2). Without `date_from`, the
/// last 90 days; further back only with a valid `SCA-Token`.
pub(crate) fn transactions(call: &Call<'_>, id: &str) -> Result<Response<Body>, ApiError> {
    let ais = gate(call, 2)?;
    let a = account(call, id)?;
    let today = call.now().date();
    let limit = today - HISTORY_WITHOUT_SCA;
    let (from, to) = (date_param(call, "date_from")?, date_param(call, "date_to")?);
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(ApiError::invalid_input(format!("date_from {f} is after date_to {t}")));
    }
    let from = from.unwrap_or(limit);
    let with_sca = sca_token(call, &ais, &a.iban)?;
    if from < limit && !with_sca {
        return Err(sca_required(call, &ais, &a.iban));
    }
    budget(call, &ais, &a.iban)?;
    let txs: Vec<serde_json::Value> = a
        .transactions
        .iter()
        .map(|t| (t, today - Duration::days(i64::from(t.age_days))))
        .filter(|(_, date)| *date >= from && to.is_none_or(|d| *date <= d))
        .map(|(t, date)| {
            serde_json::json!({
                "transaction_id": t.transaction_id,
                "transaction_ref": t.transaction_ref,
                "counterparty_info": t.counterparty_info,
                "communication": t.communication,
                "communication_type": t.communication_type,
                "remittance_info": t.remittance_info,
                "counterparty_account": t.counterparty_account,
                "amount": format_cents(t.amount_cents),
                "currency": t.currency,
                "execution_date": date.to_string(),
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
