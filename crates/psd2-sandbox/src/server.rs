//! The server: TLS accept loop, one hyper HTTP/1.1 connection per TPP connection, routing,
//! `Response-ID`, graceful and bounded shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use psd2_client::Bank;
use psd2_eidas::Certificate;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::config::SandboxConfig;
use super::error::{ApiError, Error};
use super::faults::Faults;
use super::state::Shared;
use super::wire::{Body, Call, Peer, error};
use super::{ais, caf, consent, pis, tls};

/// Largest request body read.
const MAX_BODY: usize = 256 * 1024;
/// Time a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time open connections get to finish after shutdown is asked, before they are cut.
const GRACE: Duration = Duration::from_secs(3);

/// The embedded sandbox bank: a local HTTPS server speaking the Belfius-shaped contract of
/// `docs/sandbox-api.md`, with mutual TLS against the TPP trust anchors.
///
/// ```
/// use psd2_sandbox::{Sandbox, SandboxConfig, ServerIdentity};
/// let certs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-certs");
/// // Trust the TPP test CA; onboard the demo client with its QSealC.
/// let tpp_ca = psd2_eidas::load::load_certificates(format!("{certs}/rsa/ca.pem").as_ref(), None)?;
/// let qseal = psd2_eidas::load::load_certificates(format!("{certs}/rsa/qseal.pem").as_ref(), None)?.remove(0);
/// let rt = tokio::runtime::Runtime::new()?;
/// rt.block_on(async {
///     let config = SandboxConfig::new(tpp_ca, ServerIdentity::ephemeral()?).with_demo_client(qseal)?;
///     let sandbox = Sandbox::start(config, "127.0.0.1:0".parse()?).await?;
///     let addr = sandbox.local_addr(); // https://127.0.0.1:PORT, trust sandbox.server_ca()
///     assert!(addr.port() != 0 && sandbox.server_ca().is_some());
///     sandbox.shutdown().await?;
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Sandbox;

impl Sandbox {
    /// Checks the configuration ([`SandboxConfig::validate`]), binds `addr` (port 0: any free port) and serves on the current tokio runtime until
    /// [`SandboxHandle::shutdown`] (or until the handle is dropped).
    pub async fn start(config: SandboxConfig, addr: SocketAddr) -> Result<SandboxHandle, Error> {
        config.validate()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls::server_config(&config)?));
        let listener = TcpListener::bind(addr).await.map_err(|source| Error::Bind { addr, source })?;
        let local_addr = listener.local_addr()?;
        let server_ca = config.server.ca().cloned();
        let shared = Arc::new(Shared::new(config).map_err(Error::Config)?);
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, acceptor, shared.clone(), stopped));
        Ok(SandboxHandle { local_addr, server_ca, stop, task, shared })
    }
}

/// A running sandbox. Dropping it stops the server without waiting.
#[derive(Debug)]
pub struct SandboxHandle {
    local_addr: SocketAddr,
    server_ca: Option<Certificate>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    shared: Arc<Shared>,
}

impl SandboxHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The ephemeral server CA a client must trust explicitly (`None` when the server identity
    /// was given).
    pub fn server_ca(&self) -> Option<&Certificate> {
        self.server_ca.as_ref()
    }

    /// The PSU withdraws every consent given so far: access and refresh tokens issued until now
    /// answer 403 `NO_ACTIVE_CONSENT`; new consents work.
    pub fn withdraw_consents(&self) {
        self.shared.withdraw_consents();
    }

    /// Replaces the faults still to be played (e.g. `Faults::default()` to stop them).
    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults() = faults;
    }

    /// The faults still to be played (the counters count down).
    pub fn faults(&self) -> Faults {
        *self.shared.faults()
    }

    /// The logical id of an account of the sandbox's PSU (random per start), `None` for an IBAN
    /// the sandbox does not hold.
    pub fn logical_id(&self, iban: &str) -> Option<String> {
        self.shared.logical_id(iban).map(str::to_owned)
    }

    /// The ids of the payments initiated so far, in no particular order (a payment whose answer
    /// was lost in fault mode is among them).
    pub fn payment_ids(&self) -> Vec<String> {
        self.shared.state().payments.keys().cloned().collect()
    }

    /// Stops accepting, lets open connections finish their current request (at most 3 s),
    /// then returns.
    pub async fn shutdown(self) -> Result<(), Error> {
        let _ = self.stop.send(true);
        self.task.await.map_err(|e| Error::Task(e.to_string()))
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
    stopped: watch::Receiver<bool>,
) {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let on_connection = {
        let stopped = stopped.clone();
        move |tcp, _peer| connection(tcp, acceptor.clone(), shared.clone(), stopped.clone(), port)
    };
    psd2_serve::accept_loop(listener, stopped, GRACE, on_connection).await;
}

async fn connection(
    tcp: tokio::net::TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
    stopped: watch::Receiver<bool>,
    port: u16,
) {
    if Faults::take(&mut shared.faults().drop_handshakes) {
        // Fault mode: read the ClientHello, then close the connection without answering it.
        let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, tcp.readable()).await;
        let mut buf = [0u8; 4096];
        let _ = tcp.try_read(&mut buf);
        return;
    }
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        // A refused handshake (e.g. a certificate from an untrusted CA) is the client's
        // problem: rustls has sent the alert; nothing more to do here.
        Ok(Err(_)) | Err(_) => return,
    };
    let peer = Arc::new(Peer::from_chain(tls.get_ref().1.peer_certificates(), shared.config.clock.now()));
    // Fault mode: a processed request whose answer is to be lost closes the connection.
    let lost = Arc::new(Notify::new());
    let lose = lost.clone();
    let service = hyper::service::service_fn(move |req| {
        let (shared, peer, lose) = (shared.clone(), peer.clone(), lose.clone());
        async move {
            match handle(req, &shared, &peer, port).await {
                Some(resp) => Ok::<_, Infallible>(resp),
                None => {
                    lose.notify_one();
                    std::future::pending().await
                }
            }
        }
    });
    // Fault mode: dropping the connection closes it without an answer.
    psd2_serve::serve_http1(TokioIo::new(tls), service, stopped, lost.notified()).await;
}

/// Answers one request; `None`: processed, but the answer is to be lost (fault mode).
async fn handle(req: Request<Incoming>, shared: &Shared, peer: &Peer, port: u16) -> Option<Response<Body>> {
    let (parts, body) = req.into_parts();
    let request_id = parts.headers.get("request-id").cloned();
    let body = Limited::new(body, MAX_BODY).collect().await;
    let (fail, lose, delay) = {
        let mut f = shared.faults();
        let fail = Faults::take(&mut f.fail);
        let lose = !fail && Faults::take(&mut f.lose_responses);
        (fail, lose, f.delay)
    };
    let mut resp = match body {
        _ if fail => error(&ApiError::service_unavailable()),
        Ok(b) => {
            let body = b.to_bytes();
            let (bank, path) = split_bank(parts.uri.path());
            let call = Call { parts: &parts, bank, body: &body, peer, shared, local_port: port };
            route(&call, path).unwrap_or_else(|e| error(&e))
        }
        Err(_) => error(&ApiError::invalid_input(format!("the body could not be read (limit {MAX_BODY} bytes)"))),
    };
    if lose {
        return None;
    }
    if let Some(id) = request_id {
        resp.headers_mut().insert("response-id", id);
    }
    resp.headers_mut().insert("cache-control", HeaderValue::from_static("no-store"));
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    Some(resp)
}

/// Banx under `/banx`, Belfius at the root: the bank and the path below its base path.
fn split_bank(path: &str) -> (Bank, &str) {
    match path.strip_prefix("/banx") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => (Bank::Banx, rest),
        _ => (Bank::Belfius, path),
    }
}

fn route(call: &Call<'_>, path: &str) -> Result<Response<Body>, ApiError> {
    let full = call.parts.uri.path();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let m = &call.parts.method;
    let only = |allowed: Method| -> Result<(), ApiError> {
        if *m == allowed {
            Ok(())
        } else {
            Err(ApiError::method_not_allowed(format!("{m} is not allowed on {full}: use {allowed}")))
        }
    };
    match segments.as_slice() {
        ["consent-uris"] => only(Method::GET).and_then(|()| consent::consent_uris(call)),
        ["sca", "authorize"] => only(Method::GET).and_then(|()| consent::authorize(call)),
        ["token"] => only(Method::POST).and_then(|()| consent::token(call)),
        ["accounts"] => only(Method::GET).and_then(|()| ais::list(call)),
        ["accounts", id] if !id.is_empty() => only(Method::GET).and_then(|()| ais::details(call, id)),
        ["accounts", id, "transactions"] if !id.is_empty() => {
            only(Method::GET).and_then(|()| ais::transactions(call, id))
        }
        ["payments", product] if pis::PRODUCTS.contains(product) => {
            only(Method::POST).and_then(|()| pis::initiate(call, product))
        }
        ["payments", product, id] if pis::PRODUCTS.contains(product) && !id.is_empty() => {
            only(Method::GET).and_then(|()| pis::details(call, product, id))
        }
        ["payments", product, id, "status"] if pis::PRODUCTS.contains(product) && !id.is_empty() => {
            only(Method::GET).and_then(|()| pis::status(call, product, id))
        }
        ["funds-confirmations"] => only(Method::POST).and_then(|()| caf::funds(call)),
        _ => Err(ApiError::not_found(format!("no such resource: {m} {full}"))),
    }
}
