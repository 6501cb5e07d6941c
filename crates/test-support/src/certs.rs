//! The committed test PKI (`test-certs/`, see its README): two sets, `rsa/` and `ec/`, each a
//! root, QWAC and QSealC issuing CAs, and a QWAC and a QSealC for the demo TPP.

use std::path::{Path, PathBuf};

use psd2_eidas::{Certificate, Identity, Secrets};

/// The `test-certs/` directory of the workspace.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-certs")
}

/// `test-certs/SET/NAME` as a string (`set` is `rsa` or `ec`).
pub fn path(set: &str, name: &str) -> String {
    dir().join(set).join(name).display().to_string()
}

/// The identity of `SET/KIND.key` with `SET/KIND-chain.pem` (`kind` is `qwac` or `qseal`).
pub fn identity(set: &str, kind: &str) -> Identity {
    Identity::load(
        &path(set, &format!("{kind}.key")).parse().unwrap(),
        Some(&path(set, &format!("{kind}-chain.pem")).parse().unwrap()),
        &Secrets::none(),
    )
    .unwrap()
}

/// The first certificate of `SET/NAME`.
pub fn certificate(set: &str, name: &str) -> Certificate {
    psd2_eidas::load::load_certificates(path(set, name).as_ref(), None).unwrap().remove(0)
}

/// The roots of both sets (`ec/ca.pem`, `rsa/ca.pem`): what the sandbox trusts for TPPs.
pub fn tpp_anchors() -> Vec<Certificate> {
    ["ec", "rsa"].iter().map(|set| certificate(set, "ca.pem")).collect()
}
