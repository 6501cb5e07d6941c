//! Any request as a bank receives it, verified under every profile: the first line picks the
//! profile (`berlin-group`…), then `Name: value` header lines, a blank line, the body. Exercises
//! the whole verifier (duplicate headers, certificate decoding, eIDAS checks, keyId, windows).
#![no_main]
use libfuzzer_sys::fuzz_target;
use psd2_httpsig::{VerifyOptions, http, profile};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let Some(name) = lines.next() else { return };
    let Some(p) = profile::ALL.iter().find(|p| p.name == name.trim()) else { return };
    let mut req = http::Request::post("https://api.bank.example/v1/payments/sepa-credit-transfers?x=1");
    for line in lines {
        if let Some((n, v)) = line.split_once(':') {
            req = req.header(n.trim(), v.trim());
        }
    }
    let Ok(req) = req.body(body.as_bytes().to_vec()) else { return };
    let now = time::OffsetDateTime::from_unix_timestamp(1796032800).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let _ = psd2_httpsig::verify(p, &req, &VerifyOptions { now, ..VerifyOptions::default() });
    let _ = psd2_httpsig::rebuilt_signing_string(p, &req);
});
