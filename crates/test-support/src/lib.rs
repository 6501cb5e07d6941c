//! The test harness shared by every crate of the workspace (not published): a fresh SoftHSM2
//! token ([`softhsm`]), certificates and keys made by the openssl CLI ([`fixtures`]), openssl
//! checks ([`openssl`]), the committed test PKI of `test-certs/` ([`certs`]), and, with feature
//! `ca`, material from our own test CA (`pki`). Independent tools (openssl, pkcs11-tool) make
//! most of the material, so tests check the crates against implementations we did not write.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod certs;
pub mod fixtures;
pub mod openssl;
#[cfg(feature = "ca")]
pub mod pki;
pub mod softhsm;
