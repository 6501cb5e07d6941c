//! Forwarding one request: the route, the role gate, sealing, the upstream call; and
//! `POST /v1/seal`.

use std::time::Instant;

use http::header::{ACCEPT, CONTENT_LENGTH};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use psd2_eidas::Role;
use psd2_httpsig::profile::Profile;
use serde_json::json;

use crate::config::Mode;
use crate::gate;
use crate::metrics::{Metrics, RouteLabel};
use crate::seal::{self, SealRequest};
use crate::server::{Generation, RouteState};

/// What a response body is: a buffered answer or the upstream's stream.
pub(crate) type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Hop-by-hop headers (RFC 9110 §7.6.1) and `Host`, never forwarded.
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// A buffered body.
pub(crate) fn text(s: String) -> Body {
    Full::new(Bytes::from(s)).map_err(|never| match never {}).boxed()
}

/// A JSON answer of the proxy itself.
pub(crate) fn answer(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(text(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// A refusal: `{"error": code, "message": message}` plus `extra` fields.
pub(crate) fn refuse(status: StatusCode, code: &str, message: String, extra: serde_json::Value) -> Response<Body> {
    let mut body = json!({ "error": code, "message": message });
    if let (Some(b), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    answer(status, body)
}

/// The caller's `Request-ID` or `X-Request-ID`, else a new UUID.
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    ["request-id", "x-request-id"]
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

fn bad_request(why: String) -> Response<Body> {
    refuse(StatusCode::BAD_REQUEST, "invalid_request", why, json!({}))
}

fn too_large(limit: usize) -> Response<Body> {
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the request body is over the limit of {limit} bytes"),
        json!({ "limit": limit }),
    )
}

/// The body, at most `limit` bytes.
async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, Response<Body>> {
    match Limited::new(body, limit).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(too_large(limit)),
        Err(e) => Err(bad_request(format!("the body could not be read: {e}"))),
    }
}

/// Serves a forwarded request; also returns the route's name ("" when none matched).
pub(crate) async fn route(
    req: Request<Incoming>,
    generation: &Generation,
    metrics: &Metrics,
    request_id: &str,
) -> (Response<Body>, String) {
    if req.method() == Method::CONNECT {
        let why = "CONNECT is not served: the proxy forwards to its configured upstreams only";
        return (refuse(StatusCode::BAD_REQUEST, "connect_refused", why.into(), json!({})), String::new());
    }
    if req.uri().scheme().is_some() || req.uri().authority().is_some() {
        let why = "absolute-URI request targets are not served: send the path only (GET /accounts)";
        return (refuse(StatusCode::BAD_REQUEST, "absolute_uri_refused", why.into(), json!({})), String::new());
    }
    // The server answered any other method on the proxy's own paths.
    if req.uri().path() == "/v1/seal" {
        return seal_endpoint(req, generation, metrics).await;
    }
    let Some((index, below)) = generation.config.route_of(req.uri().path()) else {
        let why = format!("no route serves {}", req.uri().path());
        return (refuse(StatusCode::NOT_FOUND, "unknown_route", why, json!({})), String::new());
    };
    let below = below.to_owned();
    let state = &generation.routes[index];
    let name = state.route.name.clone();
    (forward(req, state, &below, metrics, request_id).await, name)
}

async fn forward(
    req: Request<Incoming>,
    state: &RouteState,
    below: &str,
    metrics: &Metrics,
    request_id: &str,
) -> Response<Body> {
    let route = &state.route;
    let (parts, body) = req.into_parts();
    // The gate and the sealing rule, before anything is read or sent.
    let mut sealing: Option<&'static Profile> = None;
    let mut accept_version = None;
    match route.mode {
        Mode::Bank(bank) => {
            let Some(spec) = gate::call_of(&parts.method, below) else {
                return refuse(
                    StatusCode::NOT_FOUND,
                    "unknown_route",
                    format!("{} {below} is not a call of the {bank} interface", parts.method),
                    json!({ "route": route.name }),
                );
            };
            let needed = match gate::roles_needed(spec, parts.uri.query()) {
                Ok(n) => n,
                Err(why) => return bad_request(why),
            };
            if let Some(r) = role_gate("QWAC", &needed, &state.qwac_roles, spec.name) {
                return r;
            }
            if spec.sealed {
                if route.qseal.is_none() {
                    return refuse(
                        StatusCode::FORBIDDEN,
                        "qseal_missing",
                        format!("{} is sealed with a QSealC, and route {} has none", spec.name, route.name),
                        json!({ "call": spec.name }),
                    );
                }
                if let Some(r) = role_gate("QSealC", &needed, &state.qseal_roles, spec.name) {
                    return r;
                }
                sealing = Some(&psd2_httpsig::profile::BELFIUS_PIS);
            }
            accept_version = spec.accept_version;
        }
        Mode::Profile(p) => {
            if route.seal.seals(&parts.method) {
                sealing = Some(p);
            }
        }
    }
    let limit = route.max_body;
    let declared = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(limit);
    }
    let body = match read_body(body, limit).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut headers = parts.headers;
    let had_chunked = headers.contains_key(http::header::TRANSFER_ENCODING);
    strip_hop_by_hop(&mut headers);
    headers.remove(CONTENT_LENGTH);
    let id_header = match route.mode {
        Mode::Bank(_) => "request-id",
        Mode::Profile(_) => "x-request-id",
    };
    if !headers.contains_key(id_header)
        && let Ok(v) = HeaderValue::from_str(request_id)
    {
        headers.insert(HeaderName::from_static(id_header), v);
    }
    if let Some(v) = accept_version
        && headers.get(ACCEPT).is_none_or(|a| a.as_bytes() == b"*/*")
        && let Ok(v) = HeaderValue::from_str(&format!("application/vnd.belfius.api+json; version={v}"))
    {
        headers.insert(ACCEPT, v);
    }
    let mut url = match route.upstream.join(below) {
        Ok(u) => u,
        Err(e) => return bad_request(e.to_string()),
    };
    url.set_query(parts.uri.query());
    let mut sealed = "none".to_owned();
    let mut body = body.to_vec();
    if let (Some(profile), Some(qseal)) = (sealing, route.qseal.clone()) {
        let mut req = Request::new(std::mem::take(&mut body));
        *req.method_mut() = parts.method.clone();
        *req.headers_mut() = std::mem::take(&mut headers);
        match url.as_str().parse() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(e) => return bad_request(format!("{url}: {e}")),
        }
        let started = Instant::now();
        let id = request_id.to_owned();
        // Signing may wait on an HSM: off the async workers.
        let done = tokio::task::spawn_blocking(move || {
            let r = seal::seal(profile, &qseal, &mut req, Some(&id));
            (r, req)
        })
        .await;
        let label = RouteLabel { route: route.name.clone() };
        metrics.seal_seconds.get_or_create(&label).observe(started.elapsed().as_secs_f64());
        let (result, req) = match done {
            Ok(d) => d,
            Err(e) => {
                return refuse(StatusCode::INTERNAL_SERVER_ERROR, "seal_failed", format!("seal task: {e}"), json!({}));
            }
        };
        match result {
            Ok((what, _)) => sealed = what,
            Err(e) => {
                if matches!(e, psd2_httpsig::Error::Key(_)) {
                    metrics.hsm_errors.get_or_create(&label).inc();
                }
                tracing::warn!(route = %route.name, request_id, cause = %e, "sealing failed");
                return refuse(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "seal_failed",
                    format!("the request could not be sealed with profile {}: {e}", profile.name),
                    json!({ "profile": profile.name }),
                );
            }
        }
        let (p, b) = req.into_parts();
        headers = p.headers;
        body = b;
    }
    let shown = {
        let mut u = url.clone();
        u.set_query(None);
        u.to_string()
    };
    let mut outgoing = state.http.request(parts.method, url).headers(headers);
    // A request that came without a body (a GET) goes without one, not with `Content-Length: 0`.
    if !body.is_empty() || declared.is_some() || had_chunked {
        outgoing = outgoing.body(body);
    }
    let started = Instant::now();
    let sent = outgoing.send().await;
    metrics
        .upstream_seconds
        .get_or_create(&RouteLabel { route: route.name.clone() })
        .observe(started.elapsed().as_secs_f64());
    let resp = match sent {
        Ok(r) => r,
        Err(e) => {
            let cause = causes(&e);
            // A connection that could not be set up (refused, or its handshake timed out) is a
            // 502; an upstream silent after the request went out is a 504.
            let (status, code) = if e.is_timeout() && !e.is_connect() {
                (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout")
            } else {
                (StatusCode::BAD_GATEWAY, "upstream_unreachable")
            };
            tracing::warn!(route = %route.name, upstream = %shown, cause = %cause, request_id, "upstream failed");
            return refuse(
                status,
                code,
                format!("upstream {shown}: {cause}"),
                json!({ "upstream": shown, "cause": cause }),
            );
        }
    };
    let resp: Response<reqwest::Body> = resp.into();
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    if let Ok(v) = HeaderValue::from_str(&sealed) {
        parts.headers.insert(HeaderName::from_static("x-psd2-proxy-sealed"), v);
    }
    Response::from_parts(parts, body.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>).boxed())
}

/// `None` when `has` holds one of `needed`, else the 403 naming the missing role.
fn role_gate(which: &str, needed: &[Role], has: &[Role], call: &str) -> Option<Response<Body>> {
    if needed.is_empty() || needed.iter().any(|r| has.contains(r)) {
        return None;
    }
    let role = gate::role_names(needed);
    let has: Vec<&str> = has.iter().map(|r| r.name()).collect();
    let has_text = if has.is_empty() { "no PSD2 role".to_owned() } else { has.join(", ") };
    Some(refuse(
        StatusCode::FORBIDDEN,
        "role_missing",
        format!("{call} needs the PSD2 role {role} on the {which}, which has {has_text}"),
        json!({ "role": role, "certificate": which, "has": has, "call": call }),
    ))
}

/// Removes the hop-by-hop headers, and those the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|n| n.trim().to_ascii_lowercase()))
        .filter(|n| !n.is_empty())
        .collect();
    for name in HOP_BY_HOP.iter().copied().chain(named.iter().map(String::as_str)) {
        headers.remove(name);
    }
}

/// `POST /v1/seal`: the headers to add, as `psd2-sign sign --format json` prints them. The route
/// is the one whose upstream the URL is under.
async fn seal_endpoint(req: Request<Incoming>, generation: &Generation, metrics: &Metrics) -> (Response<Body>, String) {
    let limit = generation.routes.iter().map(|r| r.route.max_body).max().unwrap_or(crate::DEFAULT_MAX_BODY);
    let body = match read_body(req.into_body(), limit).await {
        Ok(b) => b,
        Err(r) => return (r, String::new()),
    };
    let asked: SealRequest = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => return (bad_request(format!("the seal request is not the expected JSON: {e}")), String::new()),
    };
    let mut to_seal = match asked.build() {
        Ok(r) => r,
        Err(why) => return (bad_request(why), String::new()),
    };
    let url = to_seal.uri().to_string();
    let found = generation.routes.iter().find_map(|s| {
        let base = s.route.upstream.to_string();
        let rest = url.strip_prefix(base.as_str())?;
        (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')).then_some(s)
    });
    let Some(state) = found else {
        let why = format!("{url}: not under the upstream of any route");
        return (refuse(StatusCode::NOT_FOUND, "unknown_route", why, json!({})), String::new());
    };
    let route = &state.route;
    let name = route.name.clone();
    let Some(qseal) = route.qseal.as_ref() else {
        let why = format!("route {} has no QSealC", route.name);
        return (refuse(StatusCode::FORBIDDEN, "qseal_missing", why, json!({})), name);
    };
    let profile = match route.mode {
        Mode::Profile(p) => p,
        Mode::Bank(bank) => {
            let path = to_seal.uri().path();
            let below = path.strip_prefix(route.upstream.prefix()).unwrap_or(path);
            match gate::call_of(to_seal.method(), below) {
                Some(spec) if spec.sealed => {
                    let needed = gate::roles_needed(spec, to_seal.uri().query()).unwrap_or_default();
                    if let Some(r) = role_gate("QSealC", &needed, &state.qseal_roles, spec.name) {
                        return (r, name);
                    }
                    &psd2_httpsig::profile::BELFIUS_PIS
                }
                Some(spec) => return (bad_request(format!("{} is not sealed at {bank}", spec.name)), name),
                None => {
                    let why = format!("{} {path} is not a call of the {bank} interface", to_seal.method());
                    return (refuse(StatusCode::NOT_FOUND, "unknown_route", why, json!({})), name);
                }
            }
        }
    };
    let started = Instant::now();
    let result = seal::seal(profile, qseal, &mut to_seal, None);
    let label = RouteLabel { route: name.clone() };
    metrics.seal_seconds.get_or_create(&label).observe(started.elapsed().as_secs_f64());
    let resp = match result {
        Ok((_, signing_string)) => answer(StatusCode::OK, seal::seal_json(to_seal.headers(), &signing_string)),
        Err(e) => {
            if matches!(e, psd2_httpsig::Error::Key(_)) {
                metrics.hsm_errors.get_or_create(&label).inc();
            }
            refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "seal_failed",
                format!("the request could not be sealed with profile {}: {e}", profile.name),
                json!({ "profile": profile.name }),
            )
        }
    };
    (resp, name)
}

/// An error and its sources, `: `-joined.
fn causes(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}
