//! Consent and token: `GET /consent-uris`, the PSU step `GET /sca/authorize`, `POST /token`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{AUTHORIZATION, LOCATION};
use http::{HeaderValue, Response, StatusCode};
use psd2_eidas::Role;

use super::error::ApiError;
use super::state::{
    ACCESS_TTL, Authorization, CODE_TTL, Grant, SCA_TOKEN_TTL, ScaToken, Scope, internal, random_token, s256,
    valid_verifier,
};
use super::wire::{Body, Call, bank_label, check_request_id, json, parse_form, percent_encode};

/// `GET /consent-uris?scope=AIS|CAF` (version 4).
pub(crate) fn consent_uris(call: &Call<'_>) -> Result<Response<Body>, ApiError> {
    call.common(4)?;
    let scope = match call.query("scope")?.as_deref() {
        Some("AIS") => Scope::Ais,
        Some("CAF") => Scope::Caf,
        Some(other) => return Err(ApiError::invalid_input(format!("scope {other:?} is not AIS or CAF"))),
        None => return Err(ApiError::missing_input("the scope query parameter is missing (AIS or CAF)")),
    };
    let qwac = call.role(&[scope.role()])?;
    let (client_id, _) = call.client(qwac)?;
    let (challenge, redirect) = call.pkce()?;
    let uri = call.ticket(Authorization {
        code_challenge: Some(challenge),
        redirect_uri: Some(redirect),
        ..Authorization::new(client_id, call.bank, scope, call.now())
    })?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!([{"language": "fr", "consent_uri": uri}, {"language": "nl", "consent_uri": uri}]),
    ))
}

/// `GET /sca/authorize?ticket=T&state=S`: the PSU always consents; `302` to
/// `Redirect-URI?code=C&state=S`. A payment's status becomes `ACSC`; an SCA step for old
/// transactions answers `Redirect-URI?sca_token=T&state=S` instead of a code.
pub(crate) fn authorize(call: &Call<'_>) -> Result<Response<Body>, ApiError> {
    // The PSU's browser step: Request-ID checked only when sent, any Accept.
    if let Some(id) = call.header("request-id") {
        check_request_id(id)?;
    }
    let ticket =
        call.query("ticket")?.ok_or_else(|| ApiError::missing_input("the ticket query parameter is missing"))?;
    let psu_state = call.query("state")?;
    let now = call.now();
    let code = random_token().map_err(internal)?;
    let auth = {
        let mut state = call.shared.state();
        state.sweep(now);
        let auth = state
            .tickets
            .remove(&ticket)
            .ok_or_else(|| ApiError::invalid_input("unknown, used or expired consent ticket"))?;
        if let Some(p) = auth.payment_id.as_ref().and_then(|id| state.payments.get_mut(id)) {
            p.status = "ACSC";
        }
        if let Some(iban) = &auth.sca_iban {
            let t = ScaToken { client_id: auth.client_id.clone(), iban: iban.clone(), expires: now + SCA_TOKEN_TTL };
            state.sca_tokens.insert(code.clone(), t);
        } else {
            state.codes.insert(code.clone(), Authorization { expires: now + CODE_TTL, ..auth.clone() });
        }
        auth
    };
    let param = if auth.sca_iban.is_some() { "sca_token" } else { "code" };
    let Some(redirect) = auth.redirect_uri else {
        // A PIS initiation under a Bearer token without Redirect-URI: nothing to redirect to.
        if auth.sca_iban.is_some() {
            return Ok(json(StatusCode::OK, &serde_json::json!({ "sca_token": code })));
        }
        return Ok(json(StatusCode::OK, &serde_json::json!({"payment_id": auth.payment_id, "payment_status": "ACSC"})));
    };
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let mut location = format!("{redirect}{sep}{param}={}", percent_encode(&code));
    if let Some(s) = psu_state {
        location.push_str(&format!("&state={}", percent_encode(&s)));
    }
    let mut r = Response::new(Body::default());
    *r.status_mut() = StatusCode::FOUND;
    r.headers_mut().insert(
        LOCATION,
        HeaderValue::from_str(&location)
            .map_err(|_| ApiError::invalid_input("the redirect location is not a valid header"))?,
    );
    Ok(r)
}

/// `POST /token` (version 3): authorization-code (with the PKCE verifier) or refresh grant.
pub(crate) fn token(call: &Call<'_>) -> Result<Response<Body>, ApiError> {
    call.request_id()?;
    call.accept(3)?;
    let qwac = call.role(&[Role::AccountInformation, Role::PaymentInitiation, Role::IssuingCards])?;
    let (id, secret) = basic(call)?;
    let (client_id, client) = call.registered(&id, qwac)?;
    if aws_lc_rs::constant_time::verify_slices_are_equal(secret.as_bytes(), client.secret.expose().as_bytes()).is_err()
    {
        return Err(ApiError::invalid_client("wrong client credentials"));
    }
    let body = std::str::from_utf8(call.body).map_err(|_| ApiError::invalid_input("the form body is not UTF-8"))?;
    let form = parse_form(body)?;
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let now = call.now();
    let grant = match field("grant_type") {
        Some("authorization_code") => {
            let code = field("code").ok_or_else(|| ApiError::invalid_grant("the code is missing"))?;
            let verifier =
                field("code_verifier").ok_or_else(|| ApiError::invalid_grant("the code_verifier is missing"))?;
            let mut state = call.shared.state();
            state.sweep(now);
            let auth = state.codes.get(code).ok_or_else(|| ApiError::invalid_grant("unknown, used or expired code"))?;
            if auth.client_id != client_id {
                return Err(ApiError::invalid_grant("the code was issued to another client"));
            }
            if auth.bank != call.bank {
                return Err(ApiError::invalid_grant(format!("the code was issued by {}", bank_label(auth.bank))));
            }
            if auth.redirect_uri.as_deref() != field("redirect_uri") {
                return Err(ApiError::invalid_grant("redirect_uri differs from the Redirect-URI of the consent"));
            }
            let Some(challenge) = auth.code_challenge.as_deref() else {
                return Err(ApiError::invalid_grant("this code was not issued under PKCE"));
            };
            if !valid_verifier(verifier) {
                return Err(ApiError::invalid_grant("code_verifier must be 43-128 characters of [A-Za-z0-9-._~]"));
            }
            if s256(verifier) != challenge {
                return Err(ApiError::invalid_grant(
                    "PKCE check failed: BASE64URL(SHA256(code_verifier)) differs from the Code-Challenge",
                ));
            }
            let (scope, redirect) = (auth.scope, auth.redirect_uri.clone());
            state.codes.remove(code);
            state.grant(client_id, scope, call.bank, redirect, now).map_err(internal)?
        }
        Some("refresh_token") => {
            let refresh =
                field("refresh_token").ok_or_else(|| ApiError::missing_input("the refresh_token is missing"))?;
            let mut state = call.shared.state();
            state.sweep(now);
            let old = state
                .refresh
                .get(refresh)
                .and_then(|a| state.access.get(a))
                .filter(|g| g.client_id == client_id && g.refresh_expires > now && g.bank == call.bank)
                .cloned()
                .ok_or_else(|| ApiError::invalid_refresh("the refresh token is not valid"))?;
            if old.withdrawn {
                return Err(ApiError::no_active_consent("the PSU withdrew the consent: start again at /consent-uris"));
            }
            state.refresh.remove(&old.refresh_token);
            state.access.remove(&old.access_token);
            state.grant(client_id, old.scope, call.bank, old.redirect_uri, now).map_err(internal)?
        }
        Some(other) => {
            return Err(ApiError::unsupported_grant_type(format!(
                "grant_type {other:?} is not authorization_code or refresh_token"
            )));
        }
        None => return Err(ApiError::missing_input("grant_type is missing")),
    };
    Ok(json(StatusCode::OK, &token_body(call, &grant)))
}

fn token_body(call: &Call<'_>, g: &Grant) -> serde_json::Value {
    let ttl = ACCESS_TTL.whole_seconds();
    let mut v = serde_json::json!({
        "access_token": g.access_token,
        "token_type": "Bearer",
        "expires_in": ttl.to_string(),
        "refresh_token": g.refresh_token,
        "scope": g.scope.as_str(),
    });
    if let (Some(obj), Some((_, first))) =
        (v.as_object_mut(), call.shared.accounts().find(|(a, _)| a.bank == call.bank))
    {
        obj.insert("logical_id".into(), first.into());
    }
    v
}

/// `Authorization: Basic base64(client_id:client_secret)`.
fn basic(call: &Call<'_>) -> Result<(String, String), ApiError> {
    let v = call
        .parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::invalid_client("Authorization: Basic client credentials are required"))?;
    let (scheme, b64) = v.trim().split_once(' ').unwrap_or(("", ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ApiError::invalid_client("Authorization must be Basic base64(client_id:client_secret)"));
    }
    let raw = STANDARD
        .decode(b64.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::invalid_client("the Basic credentials are not Base64 of UTF-8 text"))?;
    let (id, secret) = raw
        .split_once(':')
        .ok_or_else(|| ApiError::invalid_client("the Basic credentials are not client_id:secret"))?;
    Ok((id.to_owned(), secret.to_owned()))
}
