//! The server: accept loop, one hyper HTTP/1.1 connection per caller, the forwarding, graceful
//! shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{ACCEPT, CONTENT_LENGTH};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use psd2_eidas::{Identity, Role};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::config::{Mode, ProxyConfig};
use crate::error::Error;
use crate::gate;
use crate::seal::{self, SealRequest};

/// What a response body is: a buffered JSON answer or the upstream's stream.
type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Time open connections get to finish after shutdown is asked, before they are cut.
const GRACE: Duration = Duration::from_secs(5);

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

/// The proxy.
///
/// ```no_run
/// use psd2_client::{Bank, Environment};
/// use psd2_eidas::{Identity, Secrets};
/// use psd2_proxy::{Mode, Proxy, ProxyConfig};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let qwac = Identity::load(&"qwac.key".parse()?, Some(&"qwac-chain.pem".parse()?), &Secrets::none())?;
/// let qseal = Identity::load(&"qseal.key".parse()?, Some(&"qseal-chain.pem".parse()?), &Secrets::none())?;
/// let upstream = Environment::Live.base_url(Bank::Belfius)?;
/// let config = ProxyConfig::new(upstream, Mode::Bank(Bank::Belfius), qwac).with_qseal(qseal);
/// let proxy = Proxy::start(config, "127.0.0.1:8080".parse()?).await?;
/// // http://127.0.0.1:8080/consent-uris?scope=AIS → https://psd2.b2b.belfius.be:8443/consent-uris?scope=AIS
/// proxy.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Proxy;

impl Proxy {
    /// Checks the configuration, refuses a listen address that is not loopback, builds the mTLS
    /// client, binds `listen` (port 0: any free port) and serves on the current tokio runtime
    /// until [`ProxyHandle::shutdown`] (or until the handle is dropped).
    pub async fn start(config: ProxyConfig, listen: SocketAddr) -> Result<ProxyHandle, Error> {
        if !listen.ip().is_loopback() {
            return Err(Error::NotLoopback { addr: listen });
        }
        config.validate()?;
        let http = http_client(&config)?;
        let listener = TcpListener::bind(listen).await.map_err(|source| Error::Bind { addr: listen, source })?;
        let local_addr = listener.local_addr().map_err(|source| Error::Bind { addr: listen, source })?;
        let qwac_roles = roles_of(&config.qwac);
        let qseal_roles = config.qseal.as_ref().map(roles_of).unwrap_or_default();
        let shared = Arc::new(Shared { config, http, qwac_roles, qseal_roles });
        tracing::info!(listen = %local_addr, upstream = %shared.config.upstream, "proxy listening");
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, shared, stopped));
        Ok(ProxyHandle { local_addr, stop, task })
    }
}

/// A running proxy. Dropping it stops the server without waiting.
#[derive(Debug)]
pub struct ProxyHandle {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ProxyHandle {
    /// The address the proxy listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets open connections finish their current request (at most 5 s),
    /// then returns.
    pub async fn shutdown(self) -> Result<(), Error> {
        let _ = self.stop.send(true);
        self.task.await.map_err(|e| Error::Task(e.to_string()))
    }
}

/// The roles of an identity's certificate (an undecodable qcStatements grants none).
fn roles_of(identity: &Identity) -> Vec<Role> {
    identity.certificate().psd2_roles().unwrap_or_default()
}

/// The kept-alive mTLS client towards the upstream, presenting the QWAC.
fn http_client(config: &ProxyConfig) -> Result<reqwest::Client, Error> {
    let mut roots = psd2_client::tls::roots(&config.extra_roots)?;
    if config.public_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    let tls = psd2_client::tls::client_config(&config.qwac, roots)?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(config.connect_timeout)
        .read_timeout(config.read_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
        .map_err(|e| Error::Config(format!("HTTP client: {}", causes(&e))))
}

struct Shared {
    config: ProxyConfig,
    http: reqwest::Client,
    qwac_roles: Vec<Role>,
    qseal_roles: Vec<Role>,
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else {
                    // e.g. out of file descriptors: back off instead of spinning
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                conns.spawn(connection(tcp, shared.clone(), stopped.clone()));
            }
        }
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    if tokio::time::timeout(GRACE, async { while conns.join_next().await.is_some() {} }).await.is_err() {
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
}

async fn connection(tcp: tokio::net::TcpStream, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(handle(req, &shared).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(tcp), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stopped.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// A JSON answer of the proxy itself.
fn answer(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    let bytes = Bytes::from(body.to_string());
    let mut resp = Response::new(Full::new(bytes).map_err(|never| match never {}).boxed());
    *resp.status_mut() = status;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// A refusal: `{"error": code, "message": message}` plus `extra` fields.
fn refuse(status: StatusCode, code: &str, message: String, extra: serde_json::Value) -> Response<Body> {
    let mut body = json!({ "error": code, "message": message });
    if let (Some(b), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    answer(status, body)
}

async fn handle(req: Request<Incoming>, shared: &Shared) -> Response<Body> {
    let started = Instant::now();
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let resp = route(req, shared).await;
    tracing::info!(
        %method,
        path = %path,
        status = resp.status().as_u16(),
        latency_ms = started.elapsed().as_millis() as u64,
        "proxied"
    );
    resp
}

async fn route(req: Request<Incoming>, shared: &Shared) -> Response<Body> {
    if req.method() == Method::CONNECT {
        return refuse(
            StatusCode::BAD_REQUEST,
            "connect_refused",
            "CONNECT is not served: the proxy forwards to its configured upstream only".into(),
            json!({}),
        );
    }
    if req.uri().scheme().is_some() || req.uri().authority().is_some() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "absolute_uri_refused",
            "absolute-URI request targets are not served: send the path only (GET /accounts)".into(),
            json!({}),
        );
    }
    if req.uri().path() == "/v1/seal" {
        if req.method() != Method::POST {
            return refuse(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "use POST /v1/seal".into(), json!({}));
        }
        return seal_endpoint(req, shared).await;
    }
    let (parts, body) = req.into_parts();
    // The gate and the sealing rule, before anything is read or sent.
    let mut sealing: Option<&'static psd2_httpsig::profile::Profile> = None;
    let mut accept_version = None;
    match shared.config.mode {
        Mode::Bank(bank) => {
            let Some(spec) = gate::call_of(&parts.method, parts.uri.path()) else {
                return refuse(
                    StatusCode::NOT_FOUND,
                    "unknown_route",
                    format!("{} {} is not a call of the {bank} interface", parts.method, parts.uri.path()),
                    json!({}),
                );
            };
            let needed = match gate::roles_needed(spec, parts.uri.query()) {
                Ok(n) => n,
                Err(why) => return refuse(StatusCode::BAD_REQUEST, "invalid_request", why, json!({})),
            };
            if let Some(r) = role_gate("QWAC", &needed, &shared.qwac_roles, spec.name) {
                return r;
            }
            if spec.sealed {
                if shared.config.qseal.is_none() {
                    return refuse(
                        StatusCode::FORBIDDEN,
                        "qseal_missing",
                        format!("{} is sealed with a QSealC, and the proxy has none", spec.name),
                        json!({ "call": spec.name }),
                    );
                }
                if let Some(r) = role_gate("QSealC", &needed, &shared.qseal_roles, spec.name) {
                    return r;
                }
                sealing = Some(&psd2_httpsig::profile::BELFIUS_PIS);
            }
            accept_version = spec.accept_version;
        }
        Mode::Profile(p) => sealing = Some(p),
    }
    let limit = shared.config.max_body;
    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is over the limit of {limit} bytes"),
            json!({ "limit": limit }),
        )
    };
    let declared = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let body = match Limited::new(body, limit).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => return too_large(),
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "body_unreadable",
                format!("the body could not be read: {e}"),
                json!({}),
            );
        }
    };
    let mut headers = parts.headers;
    let had_chunked = headers.contains_key(http::header::TRANSFER_ENCODING);
    strip_hop_by_hop(&mut headers);
    headers.remove(CONTENT_LENGTH);
    let id_header = match shared.config.mode {
        Mode::Bank(_) => "request-id",
        Mode::Profile(_) => "x-request-id",
    };
    let request_id = match headers.get(id_header).and_then(|v| v.to_str().ok()) {
        Some(id) => id.to_owned(),
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            if let Ok(v) = HeaderValue::from_str(&id) {
                headers.insert(HeaderName::from_static(id_header), v);
            }
            id
        }
    };
    if let Some(v) = accept_version
        && headers.get(ACCEPT).is_none_or(|a| a.as_bytes() == b"*/*")
        && let Ok(v) = HeaderValue::from_str(&format!("application/vnd.belfius.api+json; version={v}"))
    {
        headers.insert(ACCEPT, v);
    }
    let upstream = &shared.config.upstream;
    let mut url = match upstream.join(parts.uri.path()) {
        Ok(u) => u,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, "invalid_request", e.to_string(), json!({})),
    };
    url.set_query(parts.uri.query());
    let mut sealed = "none".to_owned();
    let mut body = body.to_vec();
    if let (Some(profile), Some(qseal)) = (sealing, shared.config.qseal.as_ref()) {
        let mut req = Request::new(std::mem::take(&mut body));
        *req.method_mut() = parts.method.clone();
        *req.headers_mut() = std::mem::take(&mut headers);
        match url.as_str().parse() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(e) => return refuse(StatusCode::BAD_REQUEST, "invalid_request", format!("{url}: {e}"), json!({})),
        }
        match seal::seal(profile, qseal, &mut req, Some(&request_id)) {
            Ok((what, _)) => sealed = what,
            Err(e) => {
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
    let mut outgoing = shared.http.request(parts.method, url).headers(headers);
    // A request that came without a body (a GET) goes without one, not with `Content-Length: 0`.
    if !body.is_empty() || declared.is_some() || had_chunked {
        outgoing = outgoing.body(body);
    }
    let sent = outgoing.send().await;
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
            tracing::warn!(upstream = %shown, cause = %cause, request_id = %request_id, "upstream failed");
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
    Some(refuse(
        StatusCode::FORBIDDEN,
        "role_missing",
        format!("{call} needs the PSD2 role {role} on the {which}, which has {}", has_text(&has)),
        json!({ "role": role, "certificate": which, "has": has, "call": call }),
    ))
}

fn has_text(has: &[&str]) -> String {
    if has.is_empty() { "no PSD2 role".into() } else { has.join(", ") }
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

/// `POST /v1/seal`: the headers to add, as `psd2-sign sign --format json` prints them.
async fn seal_endpoint(req: Request<Incoming>, shared: &Shared) -> Response<Body> {
    let limit = shared.config.max_body;
    let body = match Limited::new(req.into_body(), limit).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body is over the limit of {limit} bytes"),
                json!({ "limit": limit }),
            );
        }
    };
    let bad = |why: String| refuse(StatusCode::BAD_REQUEST, "invalid_request", why, json!({}));
    let asked: SealRequest = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => return bad(format!("the seal request is not the expected JSON: {e}")),
    };
    let mut to_seal = match asked.build() {
        Ok(r) => r,
        Err(why) => return bad(why),
    };
    let Some(qseal) = shared.config.qseal.as_ref() else {
        return refuse(StatusCode::FORBIDDEN, "qseal_missing", "the proxy has no QSealC".into(), json!({}));
    };
    let profile = match shared.config.mode {
        Mode::Profile(p) => p,
        Mode::Bank(bank) => {
            let path = to_seal.uri().path();
            let below = path.strip_prefix(shared.config.upstream.prefix()).unwrap_or(path);
            match gate::call_of(to_seal.method(), below) {
                Some(spec) if spec.sealed => {
                    let needed = gate::roles_needed(spec, to_seal.uri().query()).unwrap_or_default();
                    if let Some(r) = role_gate("QSealC", &needed, &shared.qseal_roles, spec.name) {
                        return r;
                    }
                    &psd2_httpsig::profile::BELFIUS_PIS
                }
                Some(spec) => return bad(format!("{} is not sealed at {bank}", spec.name)),
                None => {
                    return refuse(
                        StatusCode::NOT_FOUND,
                        "unknown_route",
                        format!("{} {path} is not a call of the {bank} interface", to_seal.method()),
                        json!({}),
                    );
                }
            }
        }
    };
    match seal::seal(profile, qseal, &mut to_seal, None) {
        Ok((_, signing_string)) => answer(StatusCode::OK, seal::seal_json(to_seal.headers(), &signing_string)),
        Err(e) => refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "seal_failed",
            format!("the request could not be sealed with profile {}: {e}", profile.name),
            json!({ "profile": profile.name }),
        ),
    }
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
