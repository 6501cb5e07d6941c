//! Where an eIDAS egress proxy (`psd2-sign proxy`) listens, for a [`Client`](crate::Client) that
//! holds no QWAC or QSealC itself.

use std::net::IpAddr;

use psd2_eidas::{Certificate, Identity};

use crate::bank::BaseUrl;
use crate::error::Error;

/// An eIDAS proxy's address, and how this client authenticates to it.
///
/// The proxy holds the QWAC (mTLS to the bank) and the QSealC (seals), and is a signing oracle
/// for the TPP's identity: plain `http://` is taken only to a loopback address (`127.0.0.0/8`,
/// `[::1]`, written as an IP address); anything else must be `https://`, where the proxy's TLS
/// listener authenticates internal callers by a client certificate
/// ([`with_client_identity`](Self::with_client_identity)) and its server certificate is checked
/// against [`with_extra_root`](Self::with_extra_root) CAs (and the public roots unless
/// [`ClientOptions::without_public_roots`](crate::ClientOptions::without_public_roots)).
///
/// ```
/// use psd2_client::ProxyEndpoint;
/// let local = ProxyEndpoint::parse("http://127.0.0.1:8080/belfius")?;
/// assert_eq!(local.url().to_string(), "http://127.0.0.1:8080/belfius");
/// assert!(ProxyEndpoint::parse("http://proxy.internal:8080").is_err());
/// # Ok::<(), psd2_client::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ProxyEndpoint {
    url: BaseUrl,
    identity: Option<Identity>,
    extra_roots: Vec<Certificate>,
}

impl ProxyEndpoint {
    /// Parses `http://LOOPBACK-IP:PORT[/prefix]` or `https://host[:port][/prefix]` (no query or
    /// fragment, no user or password); the prefix is the proxy's route (`/belfius`), or none for
    /// a route served at `/`.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::Config(format!("proxy URL {url:?}: {why}"));
        let parsed = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(bad("must not carry a user or password"));
        }
        match parsed.scheme() {
            "https" => {}
            "http" => {
                let loopback = match parsed.host() {
                    Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                    Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                    _ => false,
                };
                if !loopback {
                    return Err(bad("plain http is refused except to a loopback IP address (127.0.0.1, [::1]): \
                         the proxy signs as the TPP, so reach it over https with a client certificate"));
                }
            }
            _ => return Err(bad("must be http (loopback only) or https")),
        }
        Ok(Self { url: BaseUrl::from_url(parsed, bad)?, identity: None, extra_roots: Vec::new() })
    }

    /// With the client certificate this client presents to the proxy's TLS listener (an internal
    /// identity, not the QWAC). Only used over `https://`.
    pub fn with_client_identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Trusts one more CA for the proxy's server certificate (e.g. the internal CA).
    pub fn with_extra_root(mut self, ca: Certificate) -> Self {
        self.extra_roots.push(ca);
        self
    }

    /// The proxy's URL, with its route prefix: where the calls go.
    pub fn url(&self) -> &BaseUrl {
        &self.url
    }

    /// Whether this is a plain `http://` (loopback) endpoint.
    pub fn is_plain_http(&self) -> bool {
        self.url.scheme() == "http"
    }

    /// The client certificate presented to the proxy, if any.
    pub fn client_identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// The extra CAs trusted for the proxy's server certificate.
    pub fn extra_roots(&self) -> &[Certificate] {
        &self.extra_roots
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in
            ["http://127.0.0.1:8080", "http://127.9.9.9:1/belfius/", "http://[::1]:8080", "https://proxy.internal"]
        {
            ProxyEndpoint::parse(ok).unwrap();
        }
        assert_eq!(ProxyEndpoint::parse("http://127.0.0.1:8080/belfius/").unwrap().url().prefix(), "/belfius");
        for (bad, why) in [
            ("http://10.0.0.5:8080", "loopback"),
            ("http://localhost:8080", "loopback"),
            ("http://0.0.0.0:8080", "loopback"),
            ("http://proxy.internal", "loopback"),
            ("ftp://127.0.0.1", "http (loopback only) or https"),
            ("http://u:p@127.0.0.1:1", "user or password"),
            ("http://127.0.0.1:1/?x=1", "query"),
            ("127.0.0.1:8080", "proxy URL"),
        ] {
            let e = ProxyEndpoint::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why) && e.starts_with("proxy URL"), "{bad}: {e}");
        }
    }
}
