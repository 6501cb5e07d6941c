//! # psd2-eidas
//!
//! What a PSD2 third-party provider's eIDAS certificates and keys are, and how to use them:
//!
//! - [`load`]: read certificates and private keys from PEM, DER, PKCS#8, PKCS#1, SEC1 and
//!   PKCS#12 files;
//! - [`Certificate`], [`inspect::Report`]: X.509 fields and the eIDAS/PSD2 content
//!   ([`qc::QcStatements`], [`Psd2Statement`], [`Role`], [`OrganizationIdentifier`]);
//! - [`Signer`]: the one key abstraction every consumer signs through, with [`FileKey`] as the
//!   software backend (PKCS#11 plugs in behind the same trait);
//! - [`Identity`]: a certificate chain plus its key, resolved from [`KeyRef`]s;
//! - [`preflight`]: the checks a bank makes of a TPP's QWAC and QSealC, and of a renewal.
//!
//! ```
//! use psd2_eidas::{Identity, KeyRef, Role, Secrets, SignatureScheme};
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-certs/rsa");
//! let id = Identity::load(&format!("{dir}/qseal.key").parse()?, Some(&format!("{dir}/qseal.pem").parse()?), &Secrets::none())?;
//! let psd2 = id.certificate().qc_statements()?.and_then(|q| q.psd2).expect("PSD2 statement");
//! assert!(psd2.has_role(Role::PaymentInitiation));
//! let sig = id.signer().sign(SignatureScheme::RsaPkcs1Sha256, b"body")?;
//! id.certificate().public_key().verify(SignatureScheme::RsaPkcs1Sha256, b"body", &sig)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod cert;
pub mod der;
mod error;
mod file_key;
mod identity;
pub mod inspect;
mod key;
pub mod load;
pub mod name;
pub mod pem;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;
pub mod preflight;
mod psd2;
pub mod qc;
mod secret;

pub use cert::Certificate;
pub use error::{Error, Pkcs11Code};
pub use file_key::{FileKey, KeyFormat};
pub use identity::{Identity, KeyRef, open_certificates, open_signer, redact_pin};
pub use key::{
    Curve, KeyKind, KeyPolicy, PreparedPublicKey, PublicKey, SignatureScheme, Signer, ecdsa_der_to_raw,
    ecdsa_raw_to_der,
};
pub use psd2::{OID_PSD2_STATEMENT, OrganizationIdentifier, Psd2Statement, Role, RoleEntry, check_nca_id};
pub use secret::{MODULE_ENV, PASSWORD_ENV, PIN_ENV, Secret, SecretPrompt, Secrets};
