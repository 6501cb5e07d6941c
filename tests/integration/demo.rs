//! `psd2-sign demo`: the main job, end to end (test PKI, sandbox, AIS + PIS + CAF over mTLS).

use crate::util::bin;

#[test]
fn demo_round_trip_succeeds() {
    let out = bin().arg("demo").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for expected in [
        "token scope AIS",
        "BE68539007547034 balance 1234.56 EUR, 3 transactions",
        "PSU signed; status ACSC",
        "funds available true",
        "funds available false",
        "demo complete",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
}
