//! `psd2-sign` end to end: every test runs the built binary as a user would, and checks its
//! output, exit code and files against independent tools (the openssl CLI, curl, SoftHSM2 with
//! pkcs11-tool) and the vectors of `tests/vectors/`. One module per command family:
//!
//! - [`bad_input`]: files, URLs, headers and options that must be refused, across commands;
//! - [`ca`]: `ca init|issue|revoke|crl` and `csr`, cross-checked with openssl;
//! - [`ca_serve`]: `ca serve` answering openssl ocsp and curl (OCSP, CRLs, caIssuers), the
//!   test QWAC profiles (no clientAuth, 2-QWAC);
//! - [`check`]: `check`, the preflight and renewal verdicts on test-CA and openssl-made fixtures;
//! - [`cli_conventions`]: `completions`, `-v`/`RUST_LOG` diagnostics, silence by default;
//! - [`cli_httpsig`]: `sign` / `verify` for every profile, tampering, bad input;
//! - [`cli_sandbox`]: `sandbox` serving until SIGINT, talked to by curl over mTLS;
//! - [`cli_proxy`]: `proxy` in front of `sandbox`, curl as the internal caller; SIGTERM stops it;
//!   a Berlin Group route to a recording server, checked by `verify` and `openssl dgst -verify`;
//! - [`client_proxy`]: the library `Client` through `proxy` (in front of `sandbox`): the whole
//!   AIS + PIS + CAF flow without certificates on the client, the proxy's role gate as an error;
//! - [`demo`]: `demo`, the whole AIS + PIS + CAF round trip;
//! - [`hsm`]: PKCS#11 keys and certificates on a fresh SoftHSM2 token;
//! - [`inspect`]: `inspect` reports, `--require-role`, bad input;
//! - [`send`]: `send` and `token --callback` against the embedded sandbox.
//!
//! One binary (`cargo test --test integration`, or a module: `cargo test --test integration
//! hsm::`), so one link and one process: the SoftHSM tests of [`ca`] and [`hsm`] share one token
//! (`psd2_test_support::softhsm::hsm`, made once) and take the one `softhsm::serial()` lock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// cli_sandbox's spawn() hands the child to the test, which always waits for it (interrupt, or the
// early-exit panic).
#![allow(clippy::zombie_processes)]

mod bad_input;
mod ca;
mod ca_serve;
mod check;
mod cli_conventions;
mod cli_httpsig;
mod cli_proxy;
mod cli_sandbox;
mod client_proxy;
mod demo;
mod hsm;
mod inspect;
mod proxy_config;
mod send;
mod util;
