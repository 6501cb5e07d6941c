//! # psd2-sandbox
//!
//! The embedded sandbox bank: a local HTTPS server that imitates the
//! Belfius/Banx dedicated PSD2 interface exactly as `docs/sandbox-api.md` fixes it, so that the
//! same client code talks to it and to the live banks.
//!
//! - mutual TLS: the TPP's QWAC chain must verify against [`SandboxConfig::tpp_trust_anchors`];
//!   per call the leaf must be a QWAC (QcType web) with the PSD2 role the call needs;
//! - consent (`/consent-uris`), the automated PSU step (`/sca/authorize`, answering `302` to the
//!   `Redirect-URI` with `code` and `state`), `/token` with Basic client credentials and PKCE
//!   S256, refresh;
//! - Belfius at the root and Banx under `/banx` on one listener (`CHANNEL_NOT_PERMITTED` for an
//!   account of the other bank);
//! - AIS accounts, details and transactions (beyond 90 days only with an `SCA-Token`;
//!   unattended calls with `psu_involved=false` limited to 4 per account per 24 hours); PIS initiation sealed with the `belfius-pis`
//!   `Signature` (verified with the registered QSealC), details and status; CAF funds checks.
//!
//! - fault mode ([`Faults`]): dropped handshakes, lost responses, 503s, a delay.
//!
//! [`Sandbox::start`] runs on the caller's tokio runtime and returns a [`SandboxHandle`]. The
//! sandbox never prints.
#![forbid(unsafe_code)]

mod ais;
mod caf;
mod config;
mod consent;
mod error;
mod faults;
mod iban;
mod pis;
mod server;
mod state;
mod tls;
mod wire;

pub use config::{
    Account, ClientRegistration, Clock, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, ManualClock, RegisteredClient,
    SandboxConfig, ServerIdentity, Transaction, demo_accounts,
};
pub use error::{ClientProblem, Error};
pub use faults::{Faults, FaultsError};
pub use pis::{PisSealCheck, SealRefused};
pub use server::{Sandbox, SandboxHandle};
