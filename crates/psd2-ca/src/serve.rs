//! Publishing the test CA over HTTP (feature `serve`): what the URLs in its certificates name,
//! relative to the path of the CA's base URL (`ca init --base-url`):
//!
//! ```text
//! GET  BASE/NAME.cer                 the CA certificate, DER (caIssuers)    application/pkix-cert
//! GET  BASE/crl/NAME.crl             the CRL, DER (CRL distribution point)   application/pkix-crl
//! POST BASE/ocsp/CA                  OCSP, body application/ocsp-request      application/ocsp-response
//! GET  BASE/ocsp/CA/REQUEST          OCSP, REQUEST the base64 (URL-encoded) DER request (RFC 6960 A.1)
//! ```
//!
//! NAME is `root-ca`, `qwac-ca` or `qseal-ca`; CA is `qwac-ca` or `qseal-ca`. Anything else is
//! 404, another method on these paths 405. CRLs are signed from the database when first asked
//! for, again as soon as the revocations changed (a `ca revoke` by another process included) and
//! at least once a day, long before they expire. OCSP answers come from
//! [`OcspResponder`], made from the database on every request.
//! Signing runs on tokio's blocking pool (a token key may take its time).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use base64::Engine as _;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use time::{Duration, OffsetDateTime};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Error;
use crate::authority::CertificateAuthority;
use crate::crl::Revocation;
use crate::ocsp::{self, OcspResponder};
use crate::profile::CertKind;
use crate::store::ROOT;

/// The largest OCSP request read (a POST body or a decoded GET path).
const MAX_REQUEST: usize = 64 * 1024;
/// Time open connections get to finish after shutdown is asked, before they are cut.
const GRACE: StdDuration = Duration::seconds(3).unsigned_abs();
/// A CRL is signed again when it is this old, whatever happened (CRLs are valid 7 days, the
/// root's 365).
pub const CRL_REFRESH: Duration = Duration::days(1);

/// The time source of the server: the system clock, or a test's.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// How [`CaServer::start`] serves.
#[derive(Clone)]
pub struct ServeOptions {
    /// thisUpdate of OCSP responses and CRLs (default: the system clock).
    pub clock: Clock,
    /// nextUpdate − thisUpdate of OCSP responses (default [`ocsp::DEFAULT_VALIDITY`]).
    pub ocsp_validity: Duration,
    /// Responders to use instead of the CA-key-signed default, e.g. with a delegated signer
    /// ([`OcspResponder::with_delegated_signer`]); matched to the CA by
    /// [`OcspResponder::ca_name`].
    pub responders: Vec<OcspResponder>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self { clock: Arc::new(OffsetDateTime::now_utc), ocsp_validity: ocsp::DEFAULT_VALIDITY, responders: Vec::new() }
    }
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("ocsp_validity", &self.ocsp_validity)
            .field("responders", &self.responders)
            .finish_non_exhaustive()
    }
}

/// A CRL as last signed.
struct CachedCrl {
    revocations: Vec<Revocation>,
    signed_at: OffsetDateTime,
    der: Bytes,
}

struct State {
    ca: CertificateAuthority,
    base_path: String,
    clock: Clock,
    responders: Vec<OcspResponder>,
    crls: Mutex<HashMap<&'static str, CachedCrl>>,
}

/// The path of an `http(s)://host[:port][/path]` URL, without a final `/` (`""` for none).
pub fn base_path(base_url: &str) -> &str {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let path = path.split(['?', '#']).next().unwrap_or("");
    path.trim_end_matches('/')
}

/// The test CA's publication server (see the module documentation).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use psd2_ca::serve::{CaServer, ServeOptions};
/// use psd2_ca::{CertificateAuthority, InitOptions, KeyType};
/// let dir = tempfile::tempdir()?;
/// let options = InitOptions { key_type: KeyType::P256, base_url: "http://127.0.0.1:8080/pki".into(), ..Default::default() };
/// let ca = CertificateAuthority::init(dir.path(), &options)?;
/// tokio::runtime::Runtime::new()?.block_on(async {
///     let server = CaServer::start(&ca, "127.0.0.1:0".parse()?, ServeOptions::default()).await?;
///     assert!(server.url().ends_with("/pki")); // http://127.0.0.1:PORT/pki
///     server.shutdown().await?;
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct CaServer {
    local_addr: SocketAddr,
    base_path: String,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl CaServer {
    /// Binds `listen` (port 0: any free port) and serves `ca` on the current tokio runtime
    /// until [`shutdown`](Self::shutdown) (or until the value is dropped). The CA certificates
    /// and keys are those of `ca`; the database is read on each request.
    pub async fn start(ca: &CertificateAuthority, listen: SocketAddr, options: ServeOptions) -> Result<Self, Error> {
        let mut responders = Vec::new();
        for kind in [CertKind::Qwac, CertKind::Qseal] {
            let name = ca.issuing(kind).name;
            let given = options.responders.iter().find(|r| r.ca_name() == name).cloned();
            let r = match given {
                Some(r) => r,
                None => OcspResponder::new(ca, kind)?.with_validity(options.ocsp_validity),
            };
            responders.push(r);
        }
        let listener = TcpListener::bind(listen).await.map_err(|source| Error::Bind { addr: listen, source })?;
        let local_addr = listener.local_addr().map_err(|source| Error::Bind { addr: listen, source })?;
        let base = base_path(ca.base_url()).to_owned();
        let state = Arc::new(State {
            ca: ca.clone(),
            base_path: base.clone(),
            clock: options.clock,
            responders,
            crls: Mutex::new(HashMap::new()),
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, state, stopped));
        Ok(Self { local_addr, base_path: base, stop, task })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://ADDR` followed by the base URL's path: where `BASE` of the module documentation
    /// is reached on this server.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.local_addr, self.base_path)
    }

    /// Stops accepting, lets open connections finish their current request (at most 3 s),
    /// then returns.
    pub async fn shutdown(self) -> Result<(), Error> {
        let _ = self.stop.send(true);
        self.task.await.map_err(|e| Error::Generate { what: "server shutdown", reason: e.to_string() })
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, stopped: watch::Receiver<bool>) {
    let on_connection = {
        let stopped = stopped.clone();
        move |tcp, _peer| connection(tcp, state.clone(), stopped.clone())
    };
    psd2_serve::accept_loop(listener, stopped, GRACE, on_connection).await;
}

async fn connection(tcp: tokio::net::TcpStream, state: Arc<State>, stopped: watch::Receiver<bool>) {
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(handle(req, state).await) }
    });
    psd2_serve::serve_http1(TokioIo::new(tcp), service, stopped, std::future::pending()).await;
}

type Answer = Response<Full<Bytes>>;

fn answer(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn text(status: StatusCode, message: &str) -> Answer {
    answer(status, "text/plain; charset=utf-8", format!("{message}\n"))
}

fn method_not_allowed(allow: &'static str) -> Answer {
    let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// The CA names in the URLs.
const CA_NAMES: [&str; 3] = [ROOT, "qwac-ca", "qseal-ca"];

/// What a path (relative to the base path) asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Certificate(&'static str),
    Crl(&'static str),
    OcspPost(&'static str),
    OcspGet(&'static str, &'a str),
}

fn ca_name(s: &str) -> Option<&'static str> {
    CA_NAMES.into_iter().find(|n| *n == s)
}

fn route<'a>(base_path: &str, path: &'a str) -> Option<Route<'a>> {
    let rel = path.strip_prefix(base_path)?;
    if let Some(name) = rel.strip_prefix('/').and_then(|r| r.strip_suffix(".cer")) {
        return ca_name(name).map(Route::Certificate);
    }
    if let Some(name) = rel.strip_prefix("/crl/").and_then(|r| r.strip_suffix(".crl")) {
        return ca_name(name).map(Route::Crl);
    }
    let rest = rel.strip_prefix("/ocsp/")?;
    let (name, request) = match rest.split_once('/') {
        Some((name, request)) => (name, Some(request)),
        None => (rest, None),
    };
    let name = ca_name(name).filter(|n| *n != ROOT)?;
    Some(match request {
        None => Route::OcspPost(name),
        Some(r) if !r.is_empty() => Route::OcspGet(name, r),
        Some(_) => return None,
    })
}

async fn handle(req: Request<Incoming>, state: Arc<State>) -> Answer {
    let path = req.uri().path().to_owned();
    let Some(route) = route(&state.base_path, &path) else {
        return text(StatusCode::NOT_FOUND, "not found");
    };
    let is_get = matches!(*req.method(), Method::GET | Method::HEAD);
    match route {
        Route::Certificate(name) if is_get => match state.ca.ca_cert_by_name(name) {
            Some(cert) => answer(StatusCode::OK, "application/pkix-cert", cert.der().to_vec()),
            None => text(StatusCode::NOT_FOUND, "not found"),
        },
        Route::Crl(name) if is_get => {
            let s = state.clone();
            match tokio::task::spawn_blocking(move || crl(&s, name)).await {
                Ok(Ok(der)) => answer(StatusCode::OK, "application/pkix-crl", der),
                Ok(Err(e)) => internal(&e.to_string()),
                Err(e) => internal(&e.to_string()),
            }
        }
        Route::OcspGet(name, encoded) if is_get => match decode_get(encoded) {
            Some(der) => ocsp_answer(&state, name, der).await,
            None => ocsp_bytes(ocsp::malformed_request_response()),
        },
        Route::OcspPost(name) if *req.method() == Method::POST => {
            let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            if content_type.is_some_and(|c| !c.trim().eq_ignore_ascii_case(ocsp::REQUEST_CONTENT_TYPE)) {
                return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected Content-Type: application/ocsp-request");
            }
            match Limited::new(req.into_body(), MAX_REQUEST).collect().await {
                Ok(body) => ocsp_answer(&state, name, body.to_bytes().to_vec()).await,
                Err(_) => text(StatusCode::PAYLOAD_TOO_LARGE, "OCSP request too large"),
            }
        }
        Route::OcspPost(_) => method_not_allowed("POST"),
        _ => method_not_allowed("GET, HEAD"),
    }
}

fn internal(reason: &str) -> Answer {
    tracing::warn!(reason, "CA server: internal error");
    text(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

fn ocsp_bytes(der: Vec<u8>) -> Answer {
    let mut r = answer(StatusCode::OK, ocsp::RESPONSE_CONTENT_TYPE, der);
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The base64 DER request of a GET, URL-decoded (RFC 6960 appendix A.1; the URL-safe alphabet
/// is accepted too). `None` when it is not base64 or too long.
fn decode_get(encoded: &str) -> Option<Vec<u8>> {
    if encoded.len() > MAX_REQUEST * 2 {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(encoded).collect::<Vec<u8>>();
    let b64 = base64::engine::general_purpose::STANDARD;
    let url = base64::engine::general_purpose::URL_SAFE;
    b64.decode(&decoded).or_else(|_| url.decode(&decoded)).ok().filter(|d| d.len() <= MAX_REQUEST)
}

async fn ocsp_answer(state: &Arc<State>, name: &'static str, request: Vec<u8>) -> Answer {
    let s = state.clone();
    let result = tokio::task::spawn_blocking(move || {
        let responder = s.responders.iter().find(|r| r.ca_name() == name)?;
        Some(responder.respond(&request, (s.clock)()))
    })
    .await;
    match result {
        Ok(Some(Ok(der))) => ocsp_bytes(der),
        Ok(Some(Err(e))) => {
            tracing::warn!(error = %e, ca = name, "OCSP responder failed");
            ocsp_bytes(ocsp::internal_error_response())
        }
        Ok(None) => text(StatusCode::NOT_FOUND, "not found"),
        Err(e) => {
            tracing::warn!(error = %e, ca = name, "OCSP responder task failed");
            ocsp_bytes(ocsp::internal_error_response())
        }
    }
}

/// The CRL of CA `name`: the cached one while the revocations are unchanged and it is younger
/// than [`CRL_REFRESH`], else a freshly signed one.
fn crl(state: &State, name: &'static str) -> Result<Bytes, Error> {
    let now = (state.clock)();
    let revocations = crate::db::read_revoked(&state.ca.layout.revoked_db(name))?;
    {
        let cache = state.crls.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(name)
            && c.revocations == revocations
            && now >= c.signed_at
            && now - c.signed_at < CRL_REFRESH
        {
            return Ok(c.der.clone());
        }
    }
    // Signed after the revocations above were read: a revocation recorded in between is in the
    // CRL and makes the cached list differ next time, so it is signed again (never missed).
    let der = state
        .ca
        .crl_by_name(name, now)
        .ok_or_else(|| Error::Generate { what: "CRL", reason: format!("no CA {name}") })??;
    let der = Bytes::from(der);
    let mut cache = state.crls.lock().unwrap_or_else(|e| e.into_inner());
    cache.insert(name, CachedCrl { revocations, signed_at: now, der: der.clone() });
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths() {
        assert_eq!(base_path("http://127.0.0.1:8080"), "");
        assert_eq!(base_path("http://127.0.0.1:8080/"), "");
        assert_eq!(base_path("http://pki.example.com/test/pki/"), "/test/pki");
    }

    #[test]
    fn routes_are_exactly_the_urls_of_the_certificates() {
        let b = "/pki";
        assert_eq!(route(b, "/pki/root-ca.cer"), Some(Route::Certificate("root-ca")));
        assert_eq!(route(b, "/pki/crl/qwac-ca.crl"), Some(Route::Crl("qwac-ca")));
        assert_eq!(route(b, "/pki/ocsp/qseal-ca"), Some(Route::OcspPost("qseal-ca")));
        assert_eq!(route(b, "/pki/ocsp/qwac-ca/MEow%2FQ"), Some(Route::OcspGet("qwac-ca", "MEow%2FQ")));
        for bad in [
            "/root-ca.cer",
            "/pki/other.cer",
            "/pki/ocsp/root-ca",
            "/pki/ocsp/qwac-ca/",
            "/pki/crl/x.crl",
            "/pki/ca.pem",
        ] {
            assert_eq!(route(b, bad), None, "{bad}");
        }
        assert_eq!(route("", "/qwac-ca.cer"), Some(Route::Certificate("qwac-ca")));
        assert_eq!(decode_get("MA%3D%3D"), Some(vec![0x30]));
        assert_eq!(decode_get("not base64!"), None);
    }
}
