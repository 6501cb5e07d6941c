//! What the proxy serves: listeners, routes, limits.

use std::net::SocketAddr;
use std::time::Duration;

use psd2_client::{Bank, BaseUrl};
use psd2_eidas::{Certificate, Identity};
use psd2_httpsig::profile::Profile;

use crate::Error;

/// The default largest request body: 10 MiB.
pub const DEFAULT_MAX_BODY: usize = 10 * 1024 * 1024;

/// The default number of requests served at once; more get 503.
pub const DEFAULT_MAX_CONCURRENT: usize = 256;

/// The default time in-flight requests get to finish after shutdown is asked.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The paths the proxy answers itself, never forwarded.
pub const RESERVED_PATHS: [&str; 3] = ["/healthz", "/metrics", "/v1/seal"];

/// What decides the sealing and the role gate of a route.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Mode {
    /// A bank of the Belfius platform: the call table [`psd2_client::CALLS`] decides which calls
    /// exist, which are sealed (`belfius-pis`) and which PSD2 role the QWAC needs; `Request-ID`
    /// and the call's `Accept` version are filled in when absent (an `Accept: */*`, as curl sends,
    /// counts as absent).
    Bank(Bank),
    /// A signature profile: the requests [`Route::seal`] selects (default: every request) are
    /// sealed with it; `X-Request-ID` is filled in when absent. There is no role gate (the profile
    /// knows no calls).
    Profile(&'static Profile),
}

/// Which requests of a profile route are sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealRule {
    /// Every request.
    All,
    /// Only requests whose method is one of these (upper case, e.g. `POST`, `PUT`).
    Methods(Vec<String>),
}

impl SealRule {
    /// Whether a request with `method` is sealed.
    pub fn seals(&self, method: &http::Method) -> bool {
        match self {
            Self::All => true,
            Self::Methods(m) => m.iter().any(|m| m == method.as_str()),
        }
    }
}

/// One route: requests whose path starts with `prefix` go to `upstream`, with the prefix cut.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Route {
    /// A short name for logs and metrics (default: the prefix).
    pub name: String,
    /// The path prefix (`/` or e.g. `/belfius`), matched on whole segments.
    pub prefix: String,
    /// The upstream base URL (`https://host[:port][/prefix]`); the rest of the path is appended.
    pub upstream: BaseUrl,
    /// Bank call table or signature profile.
    pub mode: Mode,
    /// In profile mode, which requests are sealed (default all).
    pub seal: SealRule,
    /// The QWAC presented in mTLS to the upstream.
    pub qwac: Identity,
    /// The QSealC that seals (required in profile mode and for a bank's sealed calls).
    pub qseal: Option<Identity>,
    /// Extra trusted server CAs.
    pub extra_roots: Vec<Certificate>,
    /// Whether the public web roots are trusted too (default true).
    pub public_roots: bool,
    /// Largest request body (default [`DEFAULT_MAX_BODY`]); larger ones get 413.
    pub max_body: usize,
    /// Longest TCP connect and TLS handshake to the upstream (default 10 s); then 502.
    pub connect_timeout: Duration,
    /// Longest silence of the upstream while answering (default 30 s); then 504.
    pub read_timeout: Duration,
}

impl Route {
    /// A route at `/` to `upstream` in `mode` with `qwac`, public roots, default limits.
    pub fn new(upstream: BaseUrl, mode: Mode, qwac: Identity) -> Self {
        Self {
            name: "/".into(),
            prefix: "/".into(),
            upstream,
            mode,
            seal: SealRule::All,
            qwac,
            qseal: None,
            extra_roots: Vec::new(),
            public_roots: true,
            max_body: DEFAULT_MAX_BODY,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
        }
    }

    /// At this path prefix (`/belfius`); the name follows the prefix unless set after.
    pub fn at(mut self, prefix: impl Into<String>) -> Self {
        let p = prefix.into();
        let p = if p.len() > 1 { p.trim_end_matches('/').to_owned() } else { p };
        self.name = p.clone();
        self.prefix = p;
        self
    }

    /// With this name in logs and metrics.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// In profile mode, seals only what `rule` selects.
    pub fn sealing(mut self, rule: SealRule) -> Self {
        self.seal = rule;
        self
    }

    /// With the QSealC.
    pub fn with_qseal(mut self, qseal: Identity) -> Self {
        self.qseal = Some(qseal);
        self
    }

    /// Trusts one more server CA.
    pub fn with_extra_root(mut self, ca: Certificate) -> Self {
        self.extra_roots.push(ca);
        self
    }

    /// Without the public web roots: only the extra CAs are trusted.
    pub fn without_public_roots(mut self) -> Self {
        self.public_roots = false;
        self
    }

    /// With this largest request body, in bytes.
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// With these upstream time-outs (connect, read).
    pub fn with_timeouts(mut self, connect: Duration, read: Duration) -> Self {
        self.connect_timeout = connect;
        self.read_timeout = read;
        self
    }

    /// The part of `path` below the prefix (`/belfius/accounts` → `/accounts`), or `None` when
    /// the path is not under it. Matching is on whole segments: `/belfiusx` is not under
    /// `/belfius`.
    pub fn below<'p>(&self, path: &'p str) -> Option<&'p str> {
        below(&self.prefix, path)
    }

    /// Checks what can be checked without I/O: the prefix, the QSealC a profile needs, that each
    /// key matches its certificate, the limits.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |why: String| Err(Error::Config(format!("route {}: {why}", self.name)));
        if !self.prefix.starts_with('/') || self.prefix.contains(['?', '#', ' ']) || self.prefix.contains("//") {
            return bad(format!("prefix {:?}: a path starting with / (e.g. /belfius)", self.prefix));
        }
        if let Some(r) = RESERVED_PATHS.iter().find(|r| below(r, &self.prefix).is_some()) {
            return bad(format!("prefix {:?} is under the proxy's own {r}", self.prefix));
        }
        if let Mode::Profile(p) = self.mode
            && self.qseal.is_none()
        {
            return bad(format!("profile {} seals requests: a QSealC is needed", p.name));
        }
        if self.qwac.certificate().public_key() != self.qwac.signer().public_key() {
            return bad("the QWAC key does not match its certificate".into());
        }
        if let Some(q) = &self.qseal
            && q.certificate().public_key() != q.signer().public_key()
        {
            return bad("the QSealC key does not match its certificate".into());
        }
        if self.max_body == 0 {
            return bad("the largest body must be above 0 bytes".into());
        }
        Ok(())
    }
}

/// TLS of a listener: the proxy's server certificate, and client certificates required and
/// verified against the internal CAs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ListenerTls {
    /// The proxy's server certificate (chain) and key (any key reference).
    pub identity: Identity,
    /// The internal CAs callers' client certificates must chain to (at least one).
    pub client_cas: Vec<Certificate>,
}

/// A listen address, plain HTTP (loopback only) or TLS with client-certificate authentication.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Listener {
    /// The address (port 0: any free port).
    pub addr: SocketAddr,
    /// TLS with client authentication; `None`: plain HTTP, allowed on loopback addresses only.
    pub tls: Option<ListenerTls>,
}

impl Listener {
    /// Plain HTTP on `addr` (which must be a loopback address).
    pub fn plain(addr: SocketAddr) -> Self {
        Self { addr, tls: None }
    }

    /// TLS on `addr` with `identity`, callers authenticated by a client certificate chaining to
    /// one of `client_cas`.
    pub fn tls(addr: SocketAddr, identity: Identity, client_cas: Vec<Certificate>) -> Self {
        Self { addr, tls: Some(ListenerTls { identity, client_cas }) }
    }

    /// Refuses a plain listener on a non-loopback address, and TLS without a client CA.
    pub fn validate(&self) -> Result<(), Error> {
        match &self.tls {
            None if !self.addr.ip().is_loopback() => Err(Error::NotLoopback { addr: self.addr }),
            Some(t) if t.client_cas.is_empty() => Err(Error::Config(format!(
                "listener {}: TLS needs at least one client CA to authenticate internal callers",
                self.addr
            ))),
            Some(t) if t.identity.certificate().public_key() != t.identity.signer().public_key() => {
                Err(Error::Config(format!("listener {}: the server key does not match its certificate", self.addr)))
            }
            _ => Ok(()),
        }
    }
}

/// The whole configuration: listeners, routes, limits.
///
/// ```
/// # fn f(upstream: psd2_client::BaseUrl, qwac: psd2_eidas::Identity) {
/// use psd2_client::Bank;
/// use psd2_proxy::{Listener, Mode, ProxyConfig, Route};
/// let config = ProxyConfig::new(Listener::plain("127.0.0.1:8080".parse().unwrap()))
///     .with_route(Route::new(upstream, Mode::Bank(Bank::Belfius), qwac).at("/belfius"))
///     .with_max_concurrent(64);
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProxyConfig {
    /// Where the proxy listens (at least one).
    pub listeners: Vec<Listener>,
    /// The routes; a request goes to the route with the longest matching prefix.
    pub routes: Vec<Route>,
    /// Requests served at once (default [`DEFAULT_MAX_CONCURRENT`]); more get 503.
    pub max_concurrent: usize,
    /// Time in-flight requests get to finish after shutdown is asked (default 30 s).
    pub drain_timeout: Duration,
}

impl ProxyConfig {
    /// One listener, no route yet, default limits.
    pub fn new(listener: Listener) -> Self {
        Self {
            listeners: vec![listener],
            routes: Vec::new(),
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        }
    }

    /// With one more listener.
    pub fn with_listener(mut self, listener: Listener) -> Self {
        self.listeners.push(listener);
        self
    }

    /// With one more route.
    pub fn with_route(mut self, route: Route) -> Self {
        self.routes.push(route);
        self
    }

    /// With this many requests served at once.
    pub fn with_max_concurrent(mut self, n: usize) -> Self {
        self.max_concurrent = n;
        self
    }

    /// With this drain time-out.
    pub fn with_drain_timeout(mut self, t: Duration) -> Self {
        self.drain_timeout = t;
        self
    }

    /// Checks every listener and route, that prefixes and names are unique, and the limits.
    pub fn validate(&self) -> Result<(), Error> {
        if self.listeners.is_empty() {
            return Err(Error::Config("no listener".into()));
        }
        if self.routes.is_empty() {
            return Err(Error::Config("no route".into()));
        }
        for l in &self.listeners {
            l.validate()?;
        }
        for (i, r) in self.routes.iter().enumerate() {
            r.validate()?;
            if let Some(o) = self.routes[..i].iter().find(|o| o.prefix == r.prefix) {
                return Err(Error::Config(format!("routes {} and {}: the same prefix {}", o.name, r.name, r.prefix)));
            }
            if let Some(o) = self.routes[..i].iter().find(|o| o.name == r.name) {
                return Err(Error::Config(format!("two routes are named {}", o.name)));
            }
        }
        if self.max_concurrent == 0 {
            return Err(Error::Config("max_concurrent must be above 0".into()));
        }
        Ok(())
    }

    /// The route of `path`: the longest prefix that matches, and the path below it.
    pub fn route_of<'p>(&self, path: &'p str) -> Option<(usize, &'p str)> {
        self.routes
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.below(path).map(|b| (i, r.prefix.len(), b)))
            .max_by_key(|(_, len, _)| *len)
            .map(|(i, _, b)| (i, b))
    }
}

/// The part of `path` below `prefix`, on whole segments.
fn below<'p>(prefix: &str, path: &'p str) -> Option<&'p str> {
    if prefix == "/" {
        return Some(path);
    }
    match path.strip_prefix(prefix)? {
        "" => Some("/"),
        r if r.starts_with('/') => Some(r),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::below;

    #[test]
    fn prefixes_match_whole_segments() {
        assert_eq!(below("/belfius", "/belfius/accounts"), Some("/accounts"));
        assert_eq!(below("/belfius", "/belfius"), Some("/"));
        assert_eq!(below("/belfius", "/belfiusx/accounts"), None);
        assert_eq!(below("/", "/x"), Some("/x"));
    }
}
