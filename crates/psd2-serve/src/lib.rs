//! # psd2-serve
//!
//! The serving loop the toolkit's HTTP/1.1 servers share (the sandbox bank, `ca serve`, the
//! eIDAS proxy): accept connections until asked to stop, back off when accepting fails (out of
//! file descriptors), and on stop let every open connection finish its request in progress
//! within a grace period before cutting the rest.
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let (stop, stopped) = tokio::sync::watch::channel(false);
//! let server = tokio::spawn(psd2_serve::accept_loop(listener, stopped.clone(), Duration::from_secs(3), {
//!     move |tcp, _peer| {
//!         let stopped = stopped.clone();
//!         async move {
//!             let service = hyper::service::service_fn(|_req| async {
//!                 Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(hyper::body::Bytes::from("ok"))))
//!             });
//!             let io = hyper_util::rt::TokioIo::new(tcp);
//!             psd2_serve::serve_http1(io, service, stopped, std::future::pending()).await;
//!         }
//!     }
//! }));
//! let _ = stop.send(true);
//! assert_eq!(server.await.unwrap(), 0);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The longest wait for a request's headers on an open connection.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepts connections on `listener` and runs `on_connection` for each as its own task, until
/// `stopped` changes; then closes the listener and waits for the connection tasks at most
/// `grace` (they see `stopped` too, and finish gracefully), cutting those left. Returns how
/// many were cut.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    mut stopped: watch::Receiver<bool>,
    grace: Duration,
    mut on_connection: F,
) -> usize
where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => {
                let Ok((tcp, peer)) = accepted else {
                    // e.g. out of file descriptors: back off instead of spinning
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                conns.spawn(on_connection(tcp, peer));
            }
        }
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    if tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await.is_ok() {
        return 0;
    }
    let left = conns.len();
    conns.abort_all();
    while conns.join_next().await.is_some() {}
    left
}

/// Serves HTTP/1.1 on `io` with `service` (keep-alive, [`HEADER_READ_TIMEOUT`]) until the
/// client closes, `cut` completes (the connection is dropped without an answer), or `stopped`
/// changes (the request in progress is finished, then the connection closes).
pub async fn serve_http1<I, S, B>(
    io: TokioIo<I>,
    service: S,
    mut stopped: watch::Receiver<bool>,
    cut: impl Future<Output = ()>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: Service<hyper::Request<Incoming>, Response = hyper::Response<B>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(io, service);
    tokio::pin!(conn);
    tokio::pin!(cut);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = &mut cut => {}
        _ = stopped.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
