//! Any bytes as the value of a qcStatements extension, and as a distinguished name.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = psd2_eidas::qc::QcStatements::from_der(data);
    if let Ok(name) = psd2_eidas::name::Name::from_der(data) {
        let _ = name.to_rfc4514();
        let _ = name.to_display();
    }
});
