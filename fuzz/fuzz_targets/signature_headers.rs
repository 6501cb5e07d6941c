//! Any text as the header values a bank receives: cavage `Signature`, RFC 9421
//! `Signature-Input`/`Signature`, Berlin Group keyIds, PKCS#11 URIs.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = psd2_httpsig::cavage::SignatureParams::parse(text, "Signature");
    let (input, sig) = text.split_once('\n').unwrap_or((text, ""));
    let _ = psd2_httpsig::rfc9421::parse(input, sig);
    let _ = psd2_httpsig::keyid::parse(text);
    let _ = psd2_eidas::pkcs11::Pkcs11Uri::parse(text);
    let _ = psd2_httpsig::digest::verify_rfc3230(text, b"body");
    let _ = psd2_httpsig::digest::verify_content_digest(text, b"body");
});
