//! The view of an HTTP message that signing strings and signature bases are built from.

use http::{HeaderMap, Method, Uri};

use crate::error::{Error, Result};

/// What a signature can cover of a message: the request line (or response status) and the
/// header fields. Built from an [`http::Request`] or [`http::Response`] without copying.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The request method (`None` for a response).
    pub method: Option<&'a Method>,
    /// The request target as sent (`None` for a response). May be absolute
    /// (`https://host/path?q`) or origin-form (`/path?q`, authority then from `Host`).
    pub uri: Option<&'a Uri>,
    /// The response status (`None` for a request).
    pub status: Option<u16>,
    /// The header fields.
    pub headers: &'a HeaderMap,
}

impl<'a> Message<'a> {
    /// The view of a request.
    pub fn request<B>(req: &'a http::Request<B>) -> Self {
        Self { method: Some(req.method()), uri: Some(req.uri()), status: None, headers: req.headers() }
    }

    /// The view of a response.
    pub fn response<B>(resp: &'a http::Response<B>) -> Self {
        Self { method: None, uri: None, status: Some(resp.status().as_u16()), headers: resp.headers() }
    }

    /// The view of request parts.
    pub fn from_parts(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        Self { method: Some(method), uri: Some(uri), status: None, headers }
    }

    pub(crate) fn method(&self) -> Result<&'a Method> {
        self.method.ok_or_else(|| Error::Unsupported("a request component on a response".into()))
    }

    pub(crate) fn uri(&self) -> Result<&'a Uri> {
        self.uri.ok_or_else(|| Error::Unsupported("a request component on a response".into()))
    }

    /// Every value of header `name` (any case), in message order, as text. `None` when absent.
    pub fn values(&self, name: &str) -> Result<Option<Vec<&'a str>>> {
        let all = self.headers.get_all(name);
        let mut out = Vec::new();
        for v in all.iter() {
            let s = std::str::from_utf8(v.as_bytes()).map_err(|_| Error::InvalidHeaderValue {
                header: name.to_owned(),
                why: "value is not UTF-8 text".into(),
            })?;
            out.push(s);
        }
        Ok(if out.is_empty() { None } else { Some(out) })
    }

    /// The header value as it enters a signing string: each instance with leading and trailing
    /// whitespace removed, obs-folded lines unfolded, instances joined with `, `.
    pub fn combined(&self, name: &str) -> Result<Option<String>> {
        Ok(self.values(name)?.map(|vs| vs.iter().map(|v| unfold(v)).collect::<Vec<_>>().join(", ")))
    }

    /// The unfolded value of a header that must appear at most once: several field lines are
    /// [`Error::DuplicateHeader`] (a verifier must not guess which one was meant).
    pub fn single(&self, name: &str) -> Result<Option<String>> {
        match self.values(name)? {
            Some(vs) if vs.len() > 1 => Err(Error::DuplicateHeader { header: name.to_owned(), count: vs.len() }),
            Some(vs) => Ok(vs.first().map(|v| unfold(v))),
            None => Ok(None),
        }
    }

    /// True when the header is present.
    pub fn has(&self, name: &str) -> bool {
        self.headers.contains_key(name)
    }
}

/// Trims a field value and turns obs-fold (CRLF + whitespace) into one space.
pub(crate) fn unfold(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut lines = v.split('\n');
    if let Some(first) = lines.next() {
        out.push_str(first.trim_end_matches('\r').trim_end());
    }
    for line in lines {
        let l = line.trim_end_matches('\r').trim();
        if !l.is_empty() {
            out.push(' ');
            out.push_str(l);
        }
    }
    out.trim().to_owned()
}

/// The cavage `(request-target)` value: lower-case method, one space, path and query as sent
/// (not decoded, not lower-cased). The one function both signing and verifying use.
///
/// ```
/// let uri: http::Uri = "https://api.example.com/v1/payments/sepa?x=A%20b".parse().unwrap();
/// assert_eq!(psd2_httpsig::request_target(&http::Method::POST, &uri), "post /v1/payments/sepa?x=A%20b");
/// ```
pub fn request_target(method: &Method, uri: &Uri) -> String {
    format!("{} {}", method.as_str().to_ascii_lowercase(), path_and_query(uri))
}

/// Path and query as sent; `/` when the URI has no path.
pub(crate) fn path_and_query(uri: &Uri) -> String {
    match uri.path_and_query() {
        Some(pq) if pq.path().is_empty() => format!("/{}", pq.as_str()),
        Some(pq) => pq.as_str().to_owned(),
        None => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn unfolds() {
        assert_eq!(unfold("  Example header\r\n    with some whitespace.  "), "Example header with some whitespace.");
    }

    #[test]
    fn request_target_keeps_encoding_and_query() {
        let uri: Uri = "/foo?param=value&pet=dog".parse().unwrap();
        assert_eq!(request_target(&Method::POST, &uri), "post /foo?param=value&pet=dog");
        let uri: Uri = "https://h.example".parse().unwrap();
        assert_eq!(request_target(&Method::GET, &uri), "get /");
        let uri: Uri = "https://h.example/A%2Fb".parse().unwrap();
        assert_eq!(request_target(&Method::GET, &uri), "get /A%2Fb");
    }
}
