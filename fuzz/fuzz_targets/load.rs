//! Any bytes as a certificate / key / PKCS#12 file, and the full inspection of what parses.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = psd2_eidas::load::load_bytes(data, "fuzz", None);
    let _ = psd2_eidas::load::load_bytes(data, "fuzz", Some(&psd2_eidas::Secret::new("pw")));
    if let Ok(certs) = psd2_eidas::Certificate::from_pem_or_der(data) {
        for c in certs {
            let _ = psd2_eidas::inspect::Report::new(&c, time::OffsetDateTime::UNIX_EPOCH);
        }
    }
    let _ = psd2_eidas::PublicKey::from_spki(data);
});
