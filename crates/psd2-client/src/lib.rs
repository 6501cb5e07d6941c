//! # psd2-client
//!
//! How a PSD2 request travels. Today: [`tls`], the mutual-TLS client configuration built from a
//! QWAC [`Identity`](psd2_eidas::Identity) — the private key may stay in a PKCS#11 token, since
//! rustls signs the handshake through the same [`Signer`](psd2_eidas::Signer) trait as
//! everything else.
#![forbid(unsafe_code)]

pub mod tls;
