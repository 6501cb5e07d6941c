//! Mutual TLS with a QWAC identity: a rustls client configuration that presents the QWAC chain
//! and signs the handshake through the `Signer` trait (so the key may stay in an HSM), tried
//! against a local rustls server that requires client certificates — all offline, with the
//! committed test PKI.
//!
//! ```sh
//! cargo run --example mtls_client
//! ```
#![allow(clippy::print_stdout, reason = "an example prints what it did")]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use psd2_client::tls;
use psd2_eidas::{Identity, Secrets, load};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The TPP's QWAC (EC) — a `pkcs11:` URI works here too.
    let qwac = Identity::load(
        &"test-certs/ec/qwac.key".parse()?,
        Some(&"test-certs/ec/qwac-chain.pem".parse()?),
        &Secrets::none(),
    )?;
    let tpp_ca = load::load_certificates("test-certs/ec/ca.pem".as_ref(), None)?;
    let bank_ca = load::load_certificates("test-certs/rsa/ca.pem".as_ref(), None)?;

    // A stand-in bank on 127.0.0.1: the RSA test QWAC (serverAuth) as its server certificate,
    // accepting clients that chain to the EC test CA.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let bank = Identity::load(
        &"test-certs/rsa/qwac.key".parse()?,
        Some(&"test-certs/rsa/qwac-chain.pem".parse()?),
        &Secrets::none(),
    )?;
    let chain: Vec<CertificateDer<'static>> =
        bank.chain().iter().map(|c| CertificateDer::from(c.der().to_vec())).collect();
    let key = load::load_key("test-certs/rsa/qwac.key".as_ref(), None)?.to_pkcs8_der()?;
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(tls::roots(&tpp_ca)?), provider.clone())
            .build()?;
    let server = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec())))?,
    );
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let bank_thread = std::thread::spawn(move || -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        let (tcp, _) = listener.accept()?;
        let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(server)?, tcp);
        let mut buf = [0u8; 64];
        let n = tls.read(&mut buf)?;
        let who = tls.conn.peer_certificates().map(|c| c.len()).unwrap_or(0);
        tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")?;
        tls.conn.send_close_notify();
        tls.flush()?;
        Ok(format!("bank got {n} bytes from a client presenting {who} certificate(s)"))
    });

    // The TPP side: trust only the bank's CA (named explicitly), present the QWAC.
    let config = tls::client_config(&qwac, tls::roots(&bank_ca)?)?;
    let conn = rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("tpp.example.com")?)?;
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(addr)?);
    tls.write_all(b"GET /accounts HTTP/1.1\r\nhost: tpp.example.com\r\n\r\n")?;
    let mut reply = Vec::new();
    let _ = tls.read_to_end(&mut reply);
    println!(
        "{:?} over {:?}",
        String::from_utf8_lossy(&reply).lines().next().unwrap_or_default(),
        tls.conn.protocol_version()
    );
    println!("{}", bank_thread.join().map_err(|_| "bank thread panicked")?.map_err(|e| e.to_string())?);
    Ok(())
}
