//! What the proxy serves: one route at `/`.

use std::time::Duration;

use psd2_client::{Bank, BaseUrl};
use psd2_eidas::{Certificate, Identity};
use psd2_httpsig::profile::Profile;

use crate::Error;

/// The default largest request body: 10 MiB.
pub const DEFAULT_MAX_BODY: usize = 10 * 1024 * 1024;

/// What decides the sealing and the role gate.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Mode {
    /// A bank of the Belfius platform: the call table [`psd2_client::CALLS`] decides which calls
    /// exist, which are sealed (`belfius-pis`) and which PSD2 role the QWAC needs; `Request-ID`
    /// and the call's `Accept` version are filled in when absent (an `Accept: */*`, as curl sends,
    /// counts as absent).
    Bank(Bank),
    /// A signature profile: every request is sealed with it; `X-Request-ID` is filled in when
    /// absent. There is no role gate (the profile knows no calls).
    Profile(&'static Profile),
}

/// The route served at `/`: upstream, mode, identities, trusted server CAs, limits.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProxyConfig {
    /// The upstream base URL (`https://host[:port][/prefix]`); a request's path is appended.
    pub upstream: BaseUrl,
    /// Bank call table or signature profile.
    pub mode: Mode,
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

impl ProxyConfig {
    /// A route to `upstream` in `mode` with `qwac`, public roots, default limits.
    pub fn new(upstream: BaseUrl, mode: Mode, qwac: Identity) -> Self {
        Self {
            upstream,
            mode,
            qwac,
            qseal: None,
            extra_roots: Vec::new(),
            public_roots: true,
            max_body: DEFAULT_MAX_BODY,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
        }
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

    /// Checks what can be checked without I/O: profile mode needs a QSealC whose key matches.
    pub fn validate(&self) -> Result<(), Error> {
        if let Mode::Profile(p) = self.mode
            && self.qseal.is_none()
        {
            return Err(Error::Config(format!("profile {} seals every request: a QSealC is needed", p.name)));
        }
        if let Some(q) = &self.qseal
            && q.certificate().public_key() != q.signer().public_key()
        {
            return Err(Error::Config("the QSealC key does not match its certificate".into()));
        }
        if self.max_body == 0 {
            return Err(Error::Config("the largest body must be above 0 bytes".into()));
        }
        Ok(())
    }
}
