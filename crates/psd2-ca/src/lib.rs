//! # psd2-ca
//!
//! A **test** certificate authority shaped like a qualified trust service provider (QTSP): it
//! issues PSD2 QWACs and QSealCs whose content follows ETSI EN 319 412-1/-3/-4/-5, ETSI TS 119
//! 495 and, for QWACs, the CA/Browser Forum Baseline Requirements and EV Guidelines. It also
//! makes the PKCS#10 requests a real QTSP expects.
//!
//! - [`CertificateAuthority`]: `init` a CA directory, `open` it, `issue`, `revoke`, `write_crls`;
//! - what each certificate contains ([`CertKind`], the policy OIDs) and the CA/Browser Forum
//!   validity schedule ([`cabf_max_days`]);
//! - [`qc`]: the qcStatements encoder; [`Psd2Subject`] / [`EvSubject`]: subject input and its
//!   validation;
//! - [`ocsp`]: the OCSP responder (RFC 6960) of the issuing CAs;
//! - `serve` (feature `serve`): the HTTP server publishing CA certificates, CRLs and OCSP;
//! - [`csr`]: PKCS#10 requests; [`store`]: the directory layout and atomic, no-overwrite writes;
//! - [`ServerCa`]: an in-memory TLS server CA for local test banks (the sandbox, test servers);
//! - [`RcgenSigner`]: any [`psd2_eidas::Signer`] (file or token key) as an rcgen signing key.
//!
//! Nothing here is for production: the CA keys sit unprotected next to the certificates, and
//! every CA name says TEST.
#![forbid(unsafe_code)]

mod authority;
pub mod crl;
pub mod csr;
mod db;
mod error;
mod issue;
mod key;
pub mod ocsp;
mod profile;
pub mod qc;
#[cfg(feature = "serve")]
pub mod serve;
mod server;
pub mod store;
mod subject;

/// The `rcgen` crate whose key traits [`RcgenSigner`] and [`RcgenPublicKey`] implement.
pub use rcgen;

pub use authority::{CertificateAuthority, DEFAULT_BASE_URL, ExternalKey, InitOptions};
pub use error::Error;
pub use issue::{IssueRequest, Issued, SubjectKey, random_serial};
pub use key::{KeyType, RcgenPublicKey, RcgenSigner};
pub use profile::{
    CertKind, EKU_TLS_BINDING, IssuerUrls, POLICY_CABF_EV, POLICY_PSD2_QCP_W, POLICY_QCP_L, POLICY_QCP_L_QSCD,
    POLICY_QEVCP_W, POLICY_QNCP_W_GEN, QwacProfile, cabf_max_days, default_days, key_identifier,
};
pub use server::{ServerCa, ServerCertificate};
pub use subject::{BUSINESS_CATEGORIES, EvSubject, Psd2Subject, ValidEv, ValidSubject, check_public_domain};
