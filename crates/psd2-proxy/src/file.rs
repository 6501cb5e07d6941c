//! The TOML configuration file: listeners, identities, routes, limits.
//!
//! ```toml
//! [proxy]
//! max_concurrent = 256          # requests at once; more get 503
//! drain_timeout = "30s"         # SIGTERM: time in-flight requests get
//!
//! [[listener]]
//! address = "127.0.0.1:8080"    # plain HTTP: loopback only
//!
//! [[listener]]
//! address = "0.0.0.0:8443"      # any other address: TLS with client certificates
//! certificate = "proxy-chain.pem"
//! key = "proxy.key"
//! client_ca = ["internal-ca.pem"]
//!
//! [identity.qwac]
//! key = "pkcs11:token=tpp;object=qwac?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:pin.txt"
//! certificate = "qwac-chain.pem"
//!
//! [identity.qseal]
//! key = "qseal.p12"
//! password_file = "qseal-password.txt"
//!
//! [[route]]
//! prefix = "/belfius"
//! bank = "belfius"
//! env = "live"                  # or upstream = "https://…"
//! qwac = "qwac"
//! qseal = "qseal"
//!
//! [[route]]
//! prefix = "/bg"
//! profile = "berlin-group"
//! upstream = "https://api.bank.example/psd2"
//! seal = "all"                  # or a list of methods: ["POST", "PUT"]
//! qwac = "qwac"
//! qseal = "qseal"
//! ca = ["bank-server-ca.pem"]
//! public_roots = true
//! max_body = "10M"
//! connect_timeout = "10s"
//! read_timeout = "30s"
//! ```
//!
//! Relative paths are relative to the file's folder. Unknown keys are errors naming the line.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use psd2_client::{Bank, BaseUrl, Environment};
use psd2_eidas::{Certificate, Identity, KeyRef, Secret, Secrets};
use psd2_httpsig::profile::Profile;
use serde::Deserialize;

use crate::config::{Listener, Mode, ProxyConfig, Route, SealRule};
use crate::error::Error;

/// The largest configuration file read: 1 MiB.
const MAX_CONFIG: u64 = 1024 * 1024;

/// A parsed configuration file: what it says, before any key is opened.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
    raw: Raw,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    proxy: RawProxy,
    #[serde(default)]
    listener: Vec<RawListener>,
    #[serde(default)]
    identity: BTreeMap<String, RawIdentity>,
    #[serde(default)]
    route: Vec<RawRoute>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProxy {
    max_concurrent: Option<usize>,
    drain_timeout: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListener {
    address: String,
    certificate: Option<String>,
    key: Option<String>,
    password_file: Option<String>,
    #[serde(default)]
    client_ca: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    key: String,
    certificate: Option<String>,
    password_file: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    name: Option<String>,
    prefix: String,
    bank: Option<String>,
    profile: Option<String>,
    env: Option<String>,
    upstream: Option<String>,
    seal: Option<RawSeal>,
    qwac: String,
    qseal: Option<String>,
    #[serde(default)]
    ca: Vec<String>,
    public_roots: Option<bool>,
    max_body: Option<Size>,
    connect_timeout: Option<String>,
    read_timeout: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawSeal {
    Word(String),
    Methods(Vec<String>),
}

/// A route's limits: largest body, connect and read time-outs (each `None`: the default).
type Limits = (Option<usize>, Option<Duration>, Option<Duration>);

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(u64),
    Text(String),
}

impl ConfigFile {
    /// Reads and parses `path` (at most 1 MiB, a regular file).
    pub fn read(path: &Path) -> Result<Self, Error> {
        let data = psd2_eidas::load::read_limited(path, MAX_CONFIG, "proxy configuration")
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        let text =
            std::str::from_utf8(&data).map_err(|_| Error::Config(format!("{}: not UTF-8 text", path.display())))?;
        Self::parse(text, path)
    }

    /// Parses `text`, the content of the file at `path` (which relative paths are resolved
    /// against). No I/O.
    pub fn parse(text: &str, path: &Path) -> Result<Self, Error> {
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            Error::ConfigFile { file: path.display().to_string(), line, message: e.message().trim().replace('\n', " ") }
        })?;
        let file = Self { path: path.to_owned(), raw };
        file.check()?;
        Ok(file)
    }

    /// The file it came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An error about the file's `what`.
    fn err(&self, what: impl std::fmt::Display) -> Error {
        Error::ConfigFile { file: self.path.display().to_string(), line: None, message: what.to_string() }
    }

    /// A path in the file, relative to its folder.
    fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        match self.path.parent() {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_owned(),
        }
    }

    /// A key reference in the file: a PKCS#11 URI as it is, a file relative to the folder.
    fn key_ref(&self, field: &str, s: &str) -> Result<KeyRef, Error> {
        let s = if s.starts_with("pkcs11:") { s.to_owned() } else { self.resolve(s).display().to_string() };
        s.parse().map_err(|e| self.err(format!("{field}: {e}")))
    }

    /// The checks that need no I/O: every route's mode, upstream and identities.
    fn check(&self) -> Result<(), Error> {
        if self.raw.listener.is_empty() {
            return Err(self.err("no [[listener]]: give at least one address"));
        }
        if self.raw.route.is_empty() {
            return Err(self.err("no [[route]]"));
        }
        for (i, l) in self.raw.listener.iter().enumerate() {
            let at = format!("listener {}", i + 1);
            let addr: SocketAddr =
                l.address.parse().map_err(|_| self.err(format!("{at}: address {:?} is not IP:PORT", l.address)))?;
            let tls = l.certificate.is_some() || l.key.is_some() || !l.client_ca.is_empty();
            if tls && (l.certificate.is_none() || l.key.is_none() || l.client_ca.is_empty()) {
                return Err(self.err(format!("{at} ({addr}): TLS needs certificate, key and client_ca together")));
            }
            if !tls && !addr.ip().is_loopback() {
                return Err(self.err(format!("{at}: {}", Error::NotLoopback { addr })));
            }
        }
        for (i, r) in self.raw.route.iter().enumerate() {
            let at = format!("route {} ({})", i + 1, r.prefix);
            self.mode(r, &at)?;
            for (field, name) in [("qwac", Some(&r.qwac)), ("qseal", r.qseal.as_ref())] {
                if let Some(name) = name
                    && !self.raw.identity.contains_key(name)
                {
                    return Err(self.err(format!("{at}: {field} = {name:?}: no [identity.{name}]")));
                }
            }
            self.limits(r, &at)?;
        }
        if let Some(d) = &self.raw.proxy.drain_timeout {
            duration(d).map_err(|why| self.err(format!("proxy.drain_timeout: {why}")))?;
        }
        Ok(())
    }

    /// A route's mode and upstream.
    fn mode(&self, r: &RawRoute, at: &str) -> Result<(Mode, BaseUrl, SealRule), Error> {
        let upstream = |env: Option<Environment>, bank: Option<Bank>| -> Result<BaseUrl, Error> {
            match (&r.upstream, env, bank) {
                (Some(u), None, _) => BaseUrl::parse(u).map_err(|e| self.err(format!("{at}: upstream: {e}"))),
                (None, Some(env), Some(bank)) => env.base_url(bank).map_err(|e| self.err(format!("{at}: env: {e}"))),
                (Some(_), Some(_), _) => Err(self.err(format!("{at}: give env or upstream, not both"))),
                _ => Err(self.err(format!("{at}: upstream is missing"))),
            }
        };
        let env = r
            .env
            .as_deref()
            .map(|e| e.parse::<Environment>().map_err(|e| self.err(format!("{at}: env: {e}"))))
            .transpose()?;
        match (&r.bank, &r.profile) {
            (Some(bank), None) => {
                let bank: Bank = bank.parse().map_err(|e| self.err(format!("{at}: bank: {e}")))?;
                if r.seal.is_some() {
                    return Err(self.err(format!("{at}: seal: a bank route seals what the call table says")));
                }
                Ok((Mode::Bank(bank), upstream(env, Some(bank))?, SealRule::All))
            }
            (None, Some(name)) => {
                let p = Profile::by_name(name).map_err(|e| self.err(format!("{at}: profile: {e}")))?;
                if env.is_some() {
                    return Err(self.err(format!("{at}: env is for bank routes; give upstream = \"https://…\"")));
                }
                let seal = match &r.seal {
                    None => SealRule::All,
                    Some(RawSeal::Word(w)) if w == "all" => SealRule::All,
                    Some(RawSeal::Word(w)) => {
                        return Err(self.err(format!("{at}: seal = {w:?}: \"all\" or a list of methods")));
                    }
                    Some(RawSeal::Methods(m)) => {
                        let mut out = Vec::new();
                        for m in m {
                            let up = m.to_ascii_uppercase();
                            if http::Method::from_bytes(up.as_bytes()).is_err() || up.is_empty() {
                                return Err(self.err(format!("{at}: seal: {m:?} is not an HTTP method")));
                            }
                            out.push(up);
                        }
                        if out.is_empty() {
                            return Err(self.err(format!("{at}: seal = []: nothing would be sealed")));
                        }
                        SealRule::Methods(out)
                    }
                };
                Ok((Mode::Profile(p), upstream(None, None)?, seal))
            }
            (Some(_), Some(_)) => Err(self.err(format!("{at}: give bank or profile, not both"))),
            (None, None) => Err(self.err(format!("{at}: give bank = \"belfius\"|\"banx\" or profile = \"…\""))),
        }
    }

    /// A route's limits: (max body, connect, read).
    fn limits(&self, r: &RawRoute, at: &str) -> Result<Limits, Error> {
        let max_body = match &r.max_body {
            None => None,
            Some(Size::Bytes(n)) => Some(*n),
            Some(Size::Text(t)) => Some(size(t).map_err(|why| self.err(format!("{at}: max_body: {why}")))?),
        };
        let max_body = max_body
            .map(|n| usize::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| self.err(format!("{at}: max_body: {n}"))))
            .transpose()?;
        let time = |field: &str, v: &Option<String>| {
            v.as_deref().map(|d| duration(d).map_err(|why| self.err(format!("{at}: {field}: {why}")))).transpose()
        };
        Ok((max_body, time("connect_timeout", &r.connect_timeout)?, time("read_timeout", &r.read_timeout)?))
    }

    /// Opens every identity (keys and certificates; PKCS#11 sessions) and builds the
    /// configuration. `secrets` is what unlocks keys whose identity has no `password_file`.
    pub fn load(&self, secrets: &Secrets) -> Result<ProxyConfig, Error> {
        let mut identities: BTreeMap<&str, Identity> = BTreeMap::new();
        for (name, id) in &self.raw.identity {
            identities.insert(
                name,
                self.identity(
                    &format!("identity.{name}"),
                    &id.key,
                    id.certificate.as_deref(),
                    id.password_file.as_deref(),
                    secrets,
                )?,
            );
        }
        let mut listeners = Vec::new();
        for (i, l) in self.raw.listener.iter().enumerate() {
            let at = format!("listener {}", i + 1);
            let addr: SocketAddr = l.address.parse().map_err(|_| self.err(format!("{at}: address")))?;
            listeners.push(match (&l.key, &l.certificate) {
                (Some(key), cert) => {
                    let identity = self.identity(&at, key, cert.as_deref(), l.password_file.as_deref(), secrets)?;
                    let mut cas = Vec::new();
                    for ca in &l.client_ca {
                        cas.extend(self.certificates(&format!("{at}: client_ca"), ca)?);
                    }
                    Listener::tls(addr, identity, cas)
                }
                (None, _) => Listener::plain(addr),
            });
        }
        let mut routes = Vec::new();
        for (i, r) in self.raw.route.iter().enumerate() {
            let at = format!("route {} ({})", i + 1, r.prefix);
            let (mode, upstream, seal) = self.mode(r, &at)?;
            let get =
                |name: &str| identities.get(name).cloned().ok_or_else(|| self.err(format!("{at}: no identity {name}")));
            let mut route = Route::new(upstream, mode, get(&r.qwac)?).at(r.prefix.clone()).sealing(seal);
            if let Some(n) = &r.name {
                route = route.named(n.clone());
            }
            if let Some(q) = &r.qseal {
                route = route.with_qseal(get(q)?);
            }
            for ca in &r.ca {
                for c in self.certificates(&format!("{at}: ca"), ca)? {
                    route = route.with_extra_root(c);
                }
            }
            if r.public_roots == Some(false) {
                route = route.without_public_roots();
            }
            let (max_body, connect, read) = self.limits(r, &at)?;
            if let Some(m) = max_body {
                route = route.with_max_body(m);
            }
            let (c, rd) = (connect.unwrap_or(route.connect_timeout), read.unwrap_or(route.read_timeout));
            route = route.with_timeouts(c, rd);
            routes.push(route);
        }
        let mut listeners = listeners.into_iter();
        let first = listeners.next().ok_or_else(|| self.err("no [[listener]]"))?;
        let mut config = ProxyConfig::new(first);
        for l in listeners {
            config = config.with_listener(l);
        }
        for r in routes {
            config = config.with_route(r);
        }
        if let Some(n) = self.raw.proxy.max_concurrent {
            config = config.with_max_concurrent(n);
        }
        if let Some(d) = &self.raw.proxy.drain_timeout {
            config =
                config.with_drain_timeout(duration(d).map_err(|why| self.err(format!("proxy.drain_timeout: {why}")))?);
        }
        config.validate().map_err(|e| self.err(e))?;
        Ok(config)
    }

    fn identity(
        &self,
        at: &str,
        key: &str,
        cert: Option<&str>,
        password_file: Option<&str>,
        secrets: &Secrets,
    ) -> Result<Identity, Error> {
        let key = self.key_ref(&format!("{at}.key"), key)?;
        let cert = cert.map(|c| self.key_ref(&format!("{at}.certificate"), c)).transpose()?;
        let mut secrets = secrets.clone();
        if let Some(p) = password_file {
            let p = self.resolve(p);
            secrets =
                secrets.with_password(Secret::from_file(&p).map_err(|e| self.err(format!("{at}.password_file: {e}")))?);
        }
        Identity::load(&key, cert.as_ref(), &secrets).map_err(|e| self.err(format!("{at}: {e}")))
    }

    fn certificates(&self, at: &str, file: &str) -> Result<Vec<Certificate>, Error> {
        let p = self.resolve(file);
        psd2_eidas::load::load_certificates(&p, None).map_err(|e| self.err(format!("{at}: {e}")))
    }
}

/// A size: bytes, or with `K`, `M`, `G` (1024-based).
fn size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let shift = match unit {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => return Err(format!("{s:?}: a number of bytes, or with K, M or G")),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{s:?}: a number of bytes above 0, or with K, M or G"))
}

/// A positive duration: `500ms`, `30s`, `5m`.
fn duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("{s:?}: a duration like 500ms, 30s or 5m"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(format!("{s:?}: the unit is ms, s or m")),
    };
    if d.is_zero() || d > Duration::from_secs(24 * 3600) {
        return Err(format!("{s:?}: above 0 and at most a day"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const GOOD: &str = r#"
[proxy]
max_concurrent = 8

[[listener]]
address = "127.0.0.1:0"

[identity.qwac]
key = "qwac.key"
certificate = "qwac-chain.pem"

[[route]]
prefix = "/belfius"
bank = "belfius"
env = "sandbox"
qwac = "qwac"

[[route]]
prefix = "/bg"
profile = "berlin-group"
upstream = "https://bank.example"
seal = ["post"]
qwac = "qwac"
qseal = "qwac"
max_body = "1M"
read_timeout = "5s"
"#;

    fn parse(text: &str) -> Result<ConfigFile, String> {
        ConfigFile::parse(text, Path::new("/etc/proxy.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_good_file_parses_and_resolves_paths() {
        let f = parse(GOOD).unwrap();
        assert_eq!(f.resolve("qwac.key"), Path::new("/etc/qwac.key"));
        assert_eq!(f.resolve("/abs/k"), Path::new("/abs/k"));
        let (mode, up, seal) = f.mode(&f.raw.route[1], "r").unwrap();
        assert!(matches!(mode, Mode::Profile(p) if p.name == "berlin-group"));
        assert_eq!(up.to_string(), "https://bank.example");
        assert_eq!(seal, SealRule::Methods(vec!["POST".into()]));
        let (body, _, read) = f.limits(&f.raw.route[1], "r").unwrap();
        assert_eq!((body, read), (Some(1 << 20), Some(Duration::from_secs(5))));
    }

    #[test]
    fn unknown_keys_name_the_line() {
        let bad = GOOD.replace("read_timeout = \"5s\"", "read_timout = \"5s\"");
        let e = parse(&bad).unwrap_err();
        assert!(e.starts_with("/etc/proxy.toml line 26: unknown field `read_timout`"), "{e}");
        let e = parse("[[listener]]\naddress = \"127.0.0.1:1\"\n[listner]\n").unwrap_err();
        assert!(e.contains("line 3") && e.contains("listner"), "{e}");
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        let cases = [
            (GOOD.replace("127.0.0.1:0", "0.0.0.0:8080"), "plain HTTP is allowed on loopback addresses only"),
            (GOOD.replace("qseal = \"qwac\"", "qseal = \"seal\""), "qseal = \"seal\": no [identity.seal]"),
            (GOOD.replace("env = \"sandbox\"", ""), "route 1 (/belfius): upstream is missing"),
            (GOOD.replace("seal = [\"post\"]", "seal = \"some\""), "\"all\" or a list of methods"),
            (GOOD.replace("\"1M\"", "\"1X\""), "max_body"),
            (GOOD.replace("\"5s\"", "\"0s\""), "read_timeout"),
            (GOOD.replace("bank = \"belfius\"", "bank = \"ing\""), "bank"),
            (GOOD.replace("profile = \"berlin-group\"", "profile = \"nope\""), "profile"),
            (GOOD.replace("[[listener]]\naddress = \"127.0.0.1:0\"", ""), "no [[listener]]"),
        ];
        for (text, want) in cases {
            let e = parse(&text).unwrap_err();
            assert!(e.contains(want), "{want}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        assert_eq!(size("10M").unwrap(), 10 << 20);
        assert_eq!(duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(duration("2h").is_err());
    }
}
