//! The server: listeners (plain or TLS with client certificates), one hyper HTTP/1.1
//! connection per caller, the proxy's own endpoints, reload, graceful shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use psd2_eidas::{Identity, Role};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::config::{Listener, ProxyConfig, Route};
use crate::error::Error;
use crate::forward::{self, Body, answer, refuse};
use crate::metrics::{CertLabels, Metrics, RequestLabels, RouteLabel};
use crate::tls;

/// Longest TLS handshake of an internal caller.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a health probe's result is reused (so that `/healthz` polling costs the HSM at most
/// one signature per identity this often).
const HEALTH_TTL: Duration = Duration::from_secs(2);

/// The proxy.
///
/// ```no_run
/// use psd2_client::{Bank, Environment};
/// use psd2_eidas::{Identity, Secrets};
/// use psd2_proxy::{Listener, Mode, Proxy, ProxyConfig, Route};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let qwac = Identity::load(&"qwac.key".parse()?, Some(&"qwac-chain.pem".parse()?), &Secrets::none())?;
/// let qseal = Identity::load(&"qseal.key".parse()?, Some(&"qseal-chain.pem".parse()?), &Secrets::none())?;
/// let upstream = Environment::Live.base_url(Bank::Belfius)?;
/// let route = Route::new(upstream, Mode::Bank(Bank::Belfius), qwac).with_qseal(qseal).at("/belfius");
/// let config = ProxyConfig::new(Listener::plain("127.0.0.1:8080".parse()?)).with_route(route);
/// let proxy = Proxy::start(config).await?;
/// // http://127.0.0.1:8080/belfius/consent-uris?scope=AIS
/// //   → https://psd2.b2b.belfius.be:8443/consent-uris?scope=AIS
/// proxy.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Proxy;

impl Proxy {
    /// Checks the configuration (a plain listener must be on loopback), builds the mTLS clients,
    /// binds every listener (port 0: any free port) and serves on the current tokio runtime
    /// until [`ProxyHandle::shutdown`] (or until the handle is dropped).
    pub async fn start(config: ProxyConfig) -> Result<ProxyHandle, Error> {
        config.validate()?;
        let metrics = Metrics::new();
        let generation = Generation::build(config, &metrics)?;
        let mut bound = Vec::new();
        for l in &generation.config.listeners {
            let listener = TcpListener::bind(l.addr).await.map_err(|source| Error::Bind { addr: l.addr, source })?;
            let addr = listener.local_addr().map_err(|source| Error::Bind { addr: l.addr, source })?;
            bound.push((listener, addr));
        }
        let shared = Arc::new(Shared {
            permits: Arc::new(Semaphore::new(generation.config.max_concurrent)),
            drain_timeout: generation.config.drain_timeout,
            current: RwLock::new(Arc::new(generation)),
            metrics,
            draining: AtomicBool::new(false),
            health: Mutex::new(None),
        });
        let (stop, stopped) = watch::channel(false);
        let mut loops = JoinSet::new();
        let mut local_addrs = Vec::new();
        for (index, (listener, addr)) in bound.into_iter().enumerate() {
            let tls = shared.generation().tls[index].is_some();
            tracing::info!(listen = %addr, tls, "proxy listening");
            local_addrs.push(addr);
            loops.spawn(accept_loop(listener, index, shared.clone(), stopped.clone()));
        }
        for r in &shared.generation().routes {
            tracing::info!(route = %r.route.name, prefix = %r.route.prefix, upstream = %r.route.upstream, "route");
        }
        let task = tokio::spawn(async move { while loops.join_next().await.is_some() {} });
        Ok(ProxyHandle { local_addrs, stop, task, shared })
    }
}

/// A running proxy. Dropping it stops the server without waiting.
#[derive(Debug)]
pub struct ProxyHandle {
    local_addrs: Vec<SocketAddr>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    shared: Arc<Shared>,
}

impl ProxyHandle {
    /// The address of the first listener.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs[0]
    }

    /// The addresses of all listeners, in the order of the configuration.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Replaces routes, identities and the listeners' certificates with those of `config`,
    /// without dropping a connection: requests under way finish with what they started with,
    /// the next ones use the new configuration (new upstream connections, with the new QWAC).
    /// The listeners' addresses, the concurrency limit and the drain time-out stay those of the
    /// start. On error nothing changes.
    pub fn reload(&self, config: ProxyConfig) -> Result<(), Error> {
        config.validate()?;
        let running = &self.shared.generation().config.listeners;
        let same = |a: &Listener, b: &Listener| a.addr == b.addr && a.tls.is_some() == b.tls.is_some();
        if running.len() != config.listeners.len() || running.iter().zip(&config.listeners).any(|(a, b)| !same(a, b)) {
            let show = |ls: &[Listener]| {
                ls.iter()
                    .map(|l| format!("{}{}", l.addr, if l.tls.is_some() { " tls" } else { "" }))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(Error::ListenersChanged(format!(
                "running: {}; asked: {}",
                show(running),
                show(&config.listeners)
            )));
        }
        let generation = Generation::build(config, &self.shared.metrics)?;
        *self.shared.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(generation);
        *self.shared.health.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.shared.metrics.reloads.inc();
        tracing::info!("configuration reloaded");
        Ok(())
    }

    /// The metrics, in the Prometheus text format (what `GET /metrics` answers).
    pub fn metrics(&self) -> String {
        self.shared.metrics.encode()
    }

    /// Stops accepting, answers `/healthz` with 503, lets open connections finish their
    /// requests (at most the drain time-out, default 30 s), then returns.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.shared.draining.store(true, Ordering::SeqCst);
        let _ = self.stop.send(true);
        self.task.await.map_err(|e| Error::Task(e.to_string()))
    }
}

/// What one configuration turned into: routes with their clients, listener TLS configs.
pub(crate) struct Generation {
    pub(crate) config: ProxyConfig,
    pub(crate) routes: Vec<RouteState>,
    tls: Vec<Option<tokio_rustls::TlsAcceptor>>,
}

/// A route and what serves it.
pub(crate) struct RouteState {
    pub(crate) route: Route,
    pub(crate) http: reqwest::Client,
    pub(crate) qwac_roles: Vec<Role>,
    pub(crate) qseal_roles: Vec<Role>,
}

/// The roles of an identity's certificate (an undecodable qcStatements grants none).
fn roles_of(identity: &Identity) -> Vec<Role> {
    identity.certificate().psd2_roles().unwrap_or_default()
}

impl Generation {
    fn build(config: ProxyConfig, metrics: &Metrics) -> Result<Self, Error> {
        let mut routes = Vec::new();
        metrics.not_after.clear();
        let expiry = |route: &str, which: &str, id: &Identity| {
            let c = id.certificate();
            let labels = CertLabels { route: route.into(), certificate: which.into(), serial: c.serial_hex() };
            metrics.not_after.get_or_create(&labels).set(c.not_after().unix_timestamp());
        };
        for route in &config.routes {
            let handshakes =
                metrics.upstream_handshakes.get_or_create(&RouteLabel { route: route.name.clone() }).clone();
            let http = tls::upstream_client(route, handshakes)?;
            expiry(&route.name, "qwac", &route.qwac);
            if let Some(q) = &route.qseal {
                expiry(&route.name, "qseal", q);
            }
            routes.push(RouteState {
                http,
                qwac_roles: roles_of(&route.qwac),
                qseal_roles: route.qseal.as_ref().map(roles_of).unwrap_or_default(),
                route: route.clone(),
            });
        }
        let mut acceptors = Vec::new();
        for l in &config.listeners {
            acceptors.push(match &l.tls {
                Some(t) => {
                    expiry("", "listener", &t.identity);
                    Some(tokio_rustls::TlsAcceptor::from(tls::listener_config(t)?))
                }
                None => None,
            });
        }
        Ok(Self { config, routes, tls: acceptors })
    }
}

/// What every connection shares.
pub(crate) struct Shared {
    current: RwLock<Arc<Generation>>,
    pub(crate) metrics: Metrics,
    permits: Arc<Semaphore>,
    drain_timeout: Duration,
    draining: AtomicBool,
    health: Mutex<Option<(Instant, bool, serde_json::Value)>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("draining", &self.draining).finish_non_exhaustive()
    }
}

impl Shared {
    fn generation(&self) -> Arc<Generation> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

async fn accept_loop(listener: TcpListener, index: usize, shared: Arc<Shared>, stopped: watch::Receiver<bool>) {
    let grace = shared.drain_timeout;
    let on_connection = {
        let stopped = stopped.clone();
        move |tcp: TcpStream, peer| {
            let _ = tcp.set_nodelay(true);
            connection(tcp, peer, index, shared.clone(), stopped.clone())
        }
    };
    let cut = psd2_serve::accept_loop(listener, stopped, grace, on_connection).await;
    if cut > 0 {
        tracing::warn!(cut, "drain time-out: the remaining connections were cut");
    }
}

/// Counts an open caller connection while alive.
struct Open<'a>(&'a Metrics);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.caller_connections.dec();
    }
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    index: usize,
    shared: Arc<Shared>,
    stopped: watch::Receiver<bool>,
) {
    shared.metrics.caller_connections.inc();
    let _open = Open(&shared.metrics);
    let acceptor = shared.generation().tls[index].clone();
    match acceptor {
        None => serve(TokioIo::new(tcp), None, shared.clone(), stopped).await,
        Some(acceptor) => {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::warn!(%peer, cause = %e, "caller refused: TLS handshake failed (a client certificate of the internal CA is required)");
                    return;
                }
                Err(_) => {
                    tracing::warn!(%peer, "caller refused: TLS handshake timed out");
                    return;
                }
            };
            let caller = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| psd2_eidas::Certificate::from_der(c).ok())
                .map(|c| Arc::<str>::from(c.subject().to_display()));
            serve(TokioIo::new(tls), caller, shared.clone(), stopped).await;
        }
    }
}

async fn serve<I>(io: TokioIo<I>, caller: Option<Arc<str>>, shared: Arc<Shared>, stopped: watch::Receiver<bool>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        let caller = caller.clone();
        async move { Ok::<_, Infallible>(handle(req, &shared, caller.as_deref()).await) }
    });
    psd2_serve::serve_http1(io, service, stopped, std::future::pending()).await;
}

/// Decrements the in-flight gauge when the request is answered.
struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

async fn handle(req: Request<Incoming>, shared: &Shared, caller: Option<&str>) -> Response<Body> {
    let started = Instant::now();
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => return health(shared).await,
        (&Method::GET, "/metrics") => {
            let mut resp = answer(StatusCode::OK, serde_json::Value::Null);
            *resp.body_mut() = forward::text(shared.metrics.encode());
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            );
            return resp;
        }
        (&Method::POST, "/v1/seal") => {}
        (_, path) if crate::RESERVED_PATHS.contains(&path) => {
            let method = if path == "/v1/seal" { "POST" } else { "GET" };
            return refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("use {method} {path}: the proxy's own endpoints are never forwarded"),
                json!({}),
            );
        }
        _ => {}
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let request_id = forward::request_id(req.headers());
    let (resp, route) = match shared.permits.clone().try_acquire_owned() {
        Err(_) => {
            shared.metrics.rejected_busy.inc();
            let mut r = refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the proxy is serving its largest number of requests at once; retry shortly".into(),
                json!({}),
            );
            r.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
            (r, String::new())
        }
        Ok(_permit) => {
            shared.metrics.in_flight.inc();
            let _in_flight = InFlight(&shared.metrics);
            let generation = shared.generation();
            forward::route(req, &generation, &shared.metrics, &request_id).await
        }
    };
    let status = resp.status().as_u16();
    shared.metrics.requests.get_or_create(&RequestLabels { route: route.clone(), status }).inc();
    let sealed = resp.headers().get(crate::SEALED_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("none");
    tracing::info!(
        request_id = %request_id,
        route = %route,
        %method,
        path = %path,
        status,
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        sealed = %sealed,
        caller = caller.unwrap_or(""),
        "request"
    );
    resp
}

/// `GET /healthz`: 200 when every identity's key signs (an HSM session is open), 503 naming the
/// failing ones, or when draining.
async fn health(shared: &Shared) -> Response<Body> {
    if shared.draining.load(Ordering::SeqCst) {
        return answer(StatusCode::SERVICE_UNAVAILABLE, json!({ "status": "draining" }));
    }
    if let Some((at, ok, body)) = shared.health.lock().unwrap_or_else(|e| e.into_inner()).clone()
        && at.elapsed() < HEALTH_TTL
    {
        return answer(if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, body);
    }
    let generation = shared.generation();
    let mut probes: Vec<(String, &'static str, Identity)> = Vec::new();
    for r in &generation.routes {
        probes.push((r.route.name.clone(), "qwac", r.route.qwac.clone()));
        if let Some(q) = &r.route.qseal {
            probes.push((r.route.name.clone(), "qseal", q.clone()));
        }
    }
    let mut all_ok = true;
    let mut identities = Vec::new();
    for (route, which, id) in probes {
        let probe = id.clone();
        let signed = tokio::task::spawn_blocking(move || {
            let signer = probe.signer();
            let scheme = signer.schemes().first().copied();
            match scheme {
                Some(s) => signer.sign(s, b"psd2-proxy health probe").map(|_| ()).map_err(|e| e.to_string()),
                None => Err("the key offers no signature scheme".into()),
            }
        })
        .await
        .unwrap_or_else(|e| Err(format!("probe task: {e}")));
        let cert = id.certificate();
        let mut entry = json!({
            "route": route,
            "certificate": which,
            "serial": cert.serial_hex(),
            "not_after": cert.not_after().unix_timestamp(),
            "ok": signed.is_ok(),
        });
        if let Err(why) = signed {
            all_ok = false;
            shared.metrics.hsm_errors.get_or_create(&RouteLabel { route: route.clone() }).inc();
            tracing::warn!(route = %route, certificate = which, cause = %why, "health probe: the key cannot sign");
            entry["error"] = json!(why);
        }
        identities.push(entry);
    }
    let body = json!({ "status": if all_ok { "ready" } else { "not_ready" }, "identities": identities });
    *shared.health.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), all_ok, body.clone()));
    answer(if all_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, body)
}
