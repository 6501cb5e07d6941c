//! Sealing: a request under a profile with the QSealC, and the `POST /v1/seal` endpoint.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName, HeaderValue};
use psd2_eidas::Identity;
use psd2_httpsig::profile::Profile;
use serde::Deserialize;

/// Seals `req` under `profile` with the QSealC; returns the `X-PSD2-Proxy-Sealed` value and the
/// exact signing string.
pub(crate) fn seal(
    profile: &Profile,
    qseal: &Identity,
    req: &mut http::Request<Vec<u8>>,
    request_id: Option<&str>,
) -> Result<(String, String), psd2_httpsig::Error> {
    let opts = psd2_httpsig::SignOptions { request_id: request_id.map(str::to_owned), ..Default::default() };
    let cert = qseal.certificate();
    let signed = psd2_httpsig::sign(profile, req, qseal.signer().as_ref(), Some(cert), &opts)?;
    Ok((format!("{} serial={}", profile.name, cert.serial_hex()), signed.signing_string))
}

/// The body of `POST /v1/seal`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SealRequest {
    /// HTTP method.
    pub(crate) method: String,
    /// Absolute URL of the request.
    pub(crate) url: String,
    /// Headers given (used verbatim).
    #[serde(default)]
    pub(crate) headers: serde_json::Map<String, serde_json::Value>,
    /// The body, base64 (standard alphabet).
    #[serde(default)]
    pub(crate) body_base64: Option<String>,
}

impl SealRequest {
    /// The `http::Request` it describes; `Err`: which field is wrong and why.
    pub(crate) fn build(&self) -> Result<http::Request<Vec<u8>>, String> {
        let method = http::Method::from_bytes(self.method.as_bytes())
            .map_err(|_| format!("method {:?} is not an HTTP method", self.method))?;
        let uri: http::Uri = self.url.parse().map_err(|e| format!("url {:?}: {e}", self.url))?;
        if uri.scheme().is_none() || uri.authority().is_none() {
            return Err(format!("url {:?}: must be absolute (https://host/path)", self.url));
        }
        let body = match &self.body_base64 {
            Some(b) => STANDARD.decode(b).map_err(|e| format!("body_base64: not base64: {e}"))?,
            None => Vec::new(),
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let value = value.as_str().ok_or_else(|| format!("headers.{name}: the value must be a string"))?;
            let hn = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("headers: {:?} is not a header name", name.escape_debug().to_string()))?;
            let hv = HeaderValue::from_str(value)
                .map_err(|_| format!("headers.{name}: the value has characters not allowed in a header"))?;
            headers.append(hn, hv);
        }
        let mut req = http::Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        Ok(req)
    }
}

/// The JSON of `psd2-sign sign --format json`: every header of the sealed request (several values
/// of one name joined with `, `) and the signing string.
pub(crate) fn seal_json(headers: &HeaderMap, signing_string: &str) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for name in headers.keys() {
        let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
        out.insert(name.as_str().to_owned(), serde_json::Value::String(values.join(", ")));
    }
    serde_json::json!({ "headers": out, "signing_string": signing_string })
}
