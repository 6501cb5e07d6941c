//! One call on the wire: the request with its connection's client certificate, the common
//! checks of the contract (Request-ID, Accept version, QWAC role gate, Client-ID, Bearer) and
//! JSON answers.

use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, RETRY_AFTER};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use psd2_client::Bank;
use psd2_eidas::inspect::{Kind, Report};
use psd2_eidas::{Certificate, Role};
use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;

use super::config::RegisteredClient;
use super::error::ApiError;
use super::state::{Authorization, Grant, Scope, Shared, random_token};

/// The media type of every call; the `version` parameter is checked per call.
pub(crate) const MEDIA_TYPE: &str = "application/vnd.belfius.api+json";

/// The response body type.
pub(crate) type Body = Full<Bytes>;

/// The TPP's client certificate, read once per connection.
#[derive(Debug)]
pub(crate) struct Peer {
    /// The leaf's PSD2 content, or why it could not be read.
    pub(crate) leaf: Result<PeerCert, String>,
}

#[derive(Debug)]
pub(crate) struct PeerCert {
    pub(crate) subject: String,
    pub(crate) is_qwac: bool,
    pub(crate) roles: Vec<Role>,
    pub(crate) organization_identifier: Option<String>,
}

impl Peer {
    /// Parses the leaf of the verified chain rustls saw.
    pub(crate) fn from_chain(chain: Option<&[CertificateDer<'_>]>, now: OffsetDateTime) -> Self {
        let leaf = (|| {
            let der = chain.and_then(|c| c.first()).ok_or("no client certificate")?;
            let cert = Certificate::from_der(der).map_err(|e| e.to_string())?;
            let report = Report::new(&cert, now).map_err(|e| e.to_string())?;
            Ok(PeerCert {
                subject: report.subject.clone(),
                is_qwac: report.kind == Kind::Qwac,
                roles: cert.psd2_roles().map_err(|e| e.to_string())?,
                organization_identifier: report.organization_identifier.clone(),
            })
        })();
        Self { leaf }
    }
}

/// One request, with everything a handler needs.
pub(crate) struct Call<'a> {
    pub(crate) parts: &'a http::request::Parts,
    /// The bank whose base path the call came in on.
    pub(crate) bank: Bank,
    pub(crate) body: &'a [u8],
    pub(crate) peer: &'a Peer,
    pub(crate) shared: &'a Shared,
    pub(crate) local_port: u16,
}

impl Call<'_> {
    /// A header as text (`None` when absent or not visible ASCII).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A query parameter, percent-decoded.
    pub(crate) fn query(&self, name: &str) -> Result<Option<String>, ApiError> {
        let q = self.parts.uri.query().unwrap_or("");
        Ok(parse_form(q)?.into_iter().find(|(k, _)| k == name).map(|(_, v)| v))
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.shared.config.clock.now()
    }

    /// The bank's base path: `""` (Belfius) or `/banx`.
    pub(crate) fn base_path(&self) -> &'static str {
        base_path(self.bank)
    }

    /// `https://<Host><base path>`: the authority the client used (fallback
    /// `127.0.0.1:PORT`) and this bank's base path.
    pub(crate) fn base_url(&self) -> String {
        let host = self
            .parts
            .headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)))
            .map(str::to_owned)
            .unwrap_or_else(|| format!("127.0.0.1:{}", self.local_port));
        format!("https://{host}{}", self.base_path())
    }

    /// Stores `auth` under a new ticket; returns the PSU's SCA URL
    /// `https://<Host><base path>/sca/authorize?ticket=T`.
    pub(crate) fn ticket(&self, auth: Authorization) -> Result<String, ApiError> {
        let ticket = random_token().map_err(ApiError::internal)?;
        let mut state = self.shared.state();
        state.sweep(self.now());
        state.tickets.insert(ticket.clone(), auth);
        Ok(format!("{}/sca/authorize?ticket={ticket}", self.base_url()))
    }

    /// `Request-ID`: required, a UUID v4 in the hyphenated form.
    pub(crate) fn request_id(&self) -> Result<(), ApiError> {
        let v =
            self.header("request-id").ok_or_else(|| ApiError::missing_header("the Request-ID header is missing"))?;
        check_request_id(v)
    }

    /// The checks of every call that carries `Client-ID`: `Request-ID`, `Accept` version `version`
    /// and `Accept-Language`.
    pub(crate) fn common(&self, version: u32) -> Result<(), ApiError> {
        self.request_id()?;
        self.accept(version)?;
        self.accept_language()
    }

    /// `Accept-Language`: `fr`, `nl` or `en` (a list of language ranges with one of them, region
    /// subtags and weights allowed).
    pub(crate) fn accept_language(&self) -> Result<(), ApiError> {
        let Some(v) = self.parts.headers.get("accept-language") else {
            return Err(ApiError::not_acceptable("the Accept-Language header is missing: send fr, nl or en"));
        };
        let v = v.to_str().unwrap_or("");
        let known = v.split(',').any(|range| {
            let tag = range.split(';').next().unwrap_or("").trim();
            let primary = tag.split('-').next().unwrap_or("");
            ["fr", "nl", "en"].iter().any(|l| primary.eq_ignore_ascii_case(l))
        });
        if known {
            Ok(())
        } else {
            Err(ApiError::not_acceptable(format!("Accept-Language {v:?} is not supported: send fr, nl or en")))
        }
    }

    /// `Accept: application/vnd.belfius.api+json; version=N`.
    pub(crate) fn accept(&self, version: u32) -> Result<(), ApiError> {
        let Some(v) = self.header("accept") else {
            return Err(ApiError::not_acceptable(format!(
                "the Accept header is missing: this call takes {MEDIA_TYPE}; version={version}"
            )));
        };
        let mut seen = Vec::new();
        for range in v.split(',') {
            let mut it = range.split(';');
            let media = it.next().unwrap_or("").trim();
            if !media.eq_ignore_ascii_case(MEDIA_TYPE) {
                continue;
            }
            let got = it
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("version"))
                .map(|(_, v)| v.trim().trim_matches('"').to_owned());
            if got.as_deref() == Some(version.to_string().as_str()) {
                return Ok(());
            }
            seen.push(got.unwrap_or_else(|| "none".into()));
        }
        Err(ApiError::not_acceptable(if seen.is_empty() {
            format!("Accept {v:?} is not acceptable: this call takes {MEDIA_TYPE}; version={version}")
        } else {
            format!("version {} is not supported by this call: it takes version={version}", seen.join(", "))
        }))
    }

    /// The QWAC gate: QcType web, and one of `roles`.
    pub(crate) fn role(&self, roles: &[Role]) -> Result<&PeerCert, ApiError> {
        let leaf = self
            .peer
            .leaf
            .as_ref()
            .map_err(|e| ApiError::invalid_certificate(format!("the client certificate cannot be read: {e}")))?;
        if !leaf.is_qwac {
            return Err(ApiError::invalid_certificate(format!(
                "the client certificate {} is not a QWAC (QcType web)",
                leaf.subject
            )));
        }
        if !roles.iter().any(|r| leaf.roles.contains(r)) {
            let want: Vec<&str> = roles.iter().map(|r| r.name()).collect();
            let have: Vec<&str> = leaf.roles.iter().map(|r| r.name()).collect();
            return Err(ApiError::role_missing(format!(
                "the QWAC does not carry {} (it has: {})",
                want.join(" or "),
                if have.is_empty() { "no PSD2 role".to_owned() } else { have.join(", ") }
            )));
        }
        Ok(leaf)
    }

    /// The registered client named by `Client-ID`, of the same TPP as the QWAC.
    pub(crate) fn client(&self, qwac: &PeerCert) -> Result<(&str, &RegisteredClient), ApiError> {
        let id = self.header("client-id").ok_or_else(|| ApiError::invalid_client("the Client-ID header is missing"))?;
        if id.is_empty() {
            return Err(ApiError::invalid_client("the Client-ID header is empty"));
        }
        self.registered(id, qwac)
    }

    /// The registered client `id`, checked against the QWAC's organizationIdentifier.
    pub(crate) fn registered<'s>(
        &'s self,
        id: &str,
        qwac: &PeerCert,
    ) -> Result<(&'s str, &'s RegisteredClient), ApiError> {
        let (id, client) = self
            .shared
            .config
            .clients
            .get_key_value(id)
            .ok_or_else(|| ApiError::invalid_client(format!("client id {id:?} is not registered")))?;
        let sealed = client.qseal.subject().get(psd2_eidas::inspect::OID_ORGANIZATION_IDENTIFIER);
        if sealed.is_none() || sealed != qwac.organization_identifier.as_deref() {
            return Err(ApiError::invalid_certificate(format!(
                "the QWAC's organizationIdentifier {} is not the registered QSealC's {} (client {id})",
                qwac.organization_identifier.as_deref().unwrap_or("(none)"),
                sealed.unwrap_or("(none)")
            )));
        }
        if !client.active {
            return Err(ApiError::invalid_tpp(format!("client id {id:?} is registered but not active")));
        }
        Ok((id.as_str(), client))
    }

    /// The Bearer token, valid now, of `client_id`, `scope` and this bank, whose consent the
    /// PSU has not withdrawn.
    pub(crate) fn bearer(&self, client_id: &str, scope: Scope) -> Result<Grant, ApiError> {
        let token = self.bearer_token().ok_or_else(|| {
            ApiError::invalid_token(format!("an Authorization: Bearer {} access_token is required", scope.as_str()))
        })?;
        let now = self.now();
        let state = self.shared.state();
        let g = state
            .access
            .get(token)
            .filter(|g| g.client_id == client_id)
            .ok_or_else(|| ApiError::invalid_token("the access_token is not valid"))?;
        if g.withdrawn {
            return Err(ApiError::no_active_consent("the PSU withdrew the consent: start again at /consent-uris"));
        }
        if g.bank != self.bank {
            return Err(ApiError::invalid_token(format!(
                "the access_token is not valid: it was issued by {}",
                bank_label(g.bank)
            )));
        }
        if g.scope != scope {
            return Err(ApiError::invalid_token(format!(
                "the access_token is not valid: it has scope {}, this call needs {}",
                g.scope.as_str(),
                scope.as_str()
            )));
        }
        if g.access_expires <= now {
            return Err(ApiError::invalid_token("the access_token is not valid: expired"));
        }
        Ok(g.clone())
    }

    /// The token of `Authorization: Bearer <token>`, if that header is sent.
    pub(crate) fn bearer_token(&self) -> Option<&str> {
        let v = self.parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }

    /// The PKCE headers and `Redirect-URI`: `(code_challenge, redirect_uri)`.
    pub(crate) fn pkce(&self) -> Result<(String, String), ApiError> {
        let method = self
            .header("code-challenge-method")
            .ok_or_else(|| ApiError::missing_header("the Code-Challenge-Method header is missing"))?;
        if method != "S256" {
            return Err(ApiError::invalid_header(format!(
                "Code-Challenge-Method {method:?} is not supported: use S256"
            )));
        }
        let challenge = self
            .header("code-challenge")
            .ok_or_else(|| ApiError::missing_header("the Code-Challenge header is missing"))?;
        if challenge.len() != 43 || !challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(ApiError::invalid_header(
                "Code-Challenge must be BASE64URL-NOPAD(SHA256(code_verifier)): 43 characters",
            ));
        }
        let redirect =
            self.redirect_uri()?.ok_or_else(|| ApiError::missing_header("the Redirect-URI header is missing"))?;
        Ok((challenge.to_owned(), redirect))
    }

    /// `Redirect-URI`, when sent: an absolute http(s) URI.
    pub(crate) fn redirect_uri(&self) -> Result<Option<String>, ApiError> {
        let Some(r) = self.header("redirect-uri") else { return Ok(None) };
        if !(r.starts_with("https://") || r.starts_with("http://")) || r.contains('#') {
            return Err(ApiError::invalid_header(format!("Redirect-URI {r:?} is not an absolute http(s) URI")));
        }
        Ok(Some(r.to_owned()))
    }

    /// The body as a JSON object, with `Content-Type: application/json`.
    pub(crate) fn json_body(&self) -> Result<serde_json::Value, ApiError> {
        let ct = self.parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let media = ct.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::invalid_header(format!("Content-Type must be application/json, not {ct:?}")));
        }
        let v: serde_json::Value = serde_json::from_slice(self.body)
            .map_err(|e| ApiError::invalid_input(format!("the body is not valid JSON: {e}")))?;
        if !v.is_object() {
            return Err(ApiError::invalid_input("the body must be a JSON object"));
        }
        Ok(v)
    }
}

/// A UUID v4, hyphenated, either case.
pub(crate) fn check_request_id(v: &str) -> Result<(), ApiError> {
    let ok = v.len() == 36
        && uuid::Uuid::try_parse(v)
            .is_ok_and(|u| u.get_version_num() == 4 && u.get_variant() == uuid::Variant::RFC4122);
    if ok { Ok(()) } else { Err(ApiError::invalid_header(format!("Request-ID {v:?} is not a UUID v4"))) }
}

/// A JSON answer.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(value.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// The error answer (with `Retry-After` on 429).
pub(crate) fn error(e: &ApiError) -> Response<Body> {
    let mut r = json(e.status, &e.body());
    if let Some(s) = e.retry_after {
        r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(s));
    }
    r
}

/// A bank's base path: `""` (Belfius) or `/banx`.
pub(crate) fn base_path(bank: Bank) -> &'static str {
    match bank {
        Bank::Banx => "/banx",
        _ => "",
    }
}

/// 403 `CHANNEL_NOT_PERMITTED`: `account` is held at `bank`, not at the bank asked.
pub(crate) fn other_bank(account: &str, bank: Bank) -> ApiError {
    let name = bank_label(bank);
    ApiError::channel_not_permitted(format!(
        "the account {account} is held at {name}: ask for it on the {name} base path {:?}",
        base_path(bank)
    ))
}

/// `Belfius` or `Banx`.
pub(crate) fn bank_label(bank: Bank) -> &'static str {
    match bank {
        Bank::Banx => "Banx",
        _ => "Belfius",
    }
}

/// `a=1&b=x%20y` → pairs, `+` as space. Malformed escapes and escapes that are not UTF-8 are an
/// input error (the form parser would pass the first through and replace the second).
pub(crate) fn parse_form(s: &str) -> Result<Vec<(String, String)>, ApiError> {
    for pair in s.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        for part in [k, v] {
            let well_formed = part
                .split('%')
                .skip(1)
                .all(|t| t.as_bytes().get(..2).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)));
            if !well_formed || percent_decode_str(part).decode_utf8().is_err() {
                return Err(ApiError::invalid_input(format!("{part:?} is not valid form/URL encoding")));
            }
        }
    }
    Ok(url::form_urlencoded::parse(s.as_bytes()).into_owned().collect())
}

/// Everything but the RFC 3986 unreserved characters is escaped.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert!(check_request_id("3f2c1e8a-9b7d-4c6e-8f1a-2b3c4d5e6f70").is_ok());
        assert!(check_request_id("3F2C1E8A-9B7D-4C6E-8F1A-2B3C4D5E6F70").is_ok());
        for bad in [
            "",
            "not-a-uuid",
            "3f2c1e8a-9b7d-1c6e-8f1a-2b3c4d5e6f70", // v1
            "3f2c1e8a9b7d4c6e8f1a2b3c4d5e6f70",     // simple form
            "{3f2c1e8a-9b7d-4c6e-8f1a-2b3c4d5e6f70}",
        ] {
            assert!(check_request_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forms() {
        let f = parse_form("a=1&b=x%20y+z&c").unwrap_or_default();
        assert_eq!(f, vec![("a".into(), "1".into()), ("b".into(), "x y z".into()), ("c".into(), String::new())]);
        assert!(parse_form("a=%zz").is_err());
        assert_eq!(percent_encode("a b/c~"), "a%20b%2Fc~");
    }
}
