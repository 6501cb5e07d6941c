//! Mutual TLS against a real rustls server on 127.0.0.1 that requires client certificates: the
//! client key in SoftHSM (RSA over TLS 1.3 with PSS and over TLS 1.2 with PKCS#1, EC P-256 over
//! TLS 1.3) and in a file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use psd2_test_support::softhsm;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use psd2_eidas::{Certificate, FileKey, Identity, KeyKind, Secret, Secrets, Signer, pkcs11};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SignatureAlgorithm,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

/// Our public key as rcgen wants it, to issue a certificate for a key rcgen cannot see.
struct Public<'a>(&'a psd2_eidas::PublicKey);

impl rcgen::PublicKeyData for Public<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.0.raw()
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self.0.kind() {
            KeyKind::Rsa { .. } => &rcgen::PKCS_RSA_SHA256,
            _ => &rcgen::PKCS_ECDSA_P256_SHA256,
        }
    }
}

struct Pki {
    ca: Certificate,
    issuer: Issuer<'static, KeyPair>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Vec<u8>,
}

fn new_pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, "psd2-sign mTLS test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&server_key, &issuer).unwrap();
    Pki {
        ca: Certificate::from_der(ca_cert.der()).unwrap(),
        issuer,
        server_chain: vec![server.der().clone()],
        server_key: server_key.serialize_der(),
    }
}

fn client_cert(pki: &Pki, key: &dyn Signer) -> Certificate {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, "tpp.example.com");
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    Certificate::from_der(p.signed_by(&Public(key.public_key()), &pki.issuer).unwrap().der()).unwrap()
}

/// Runs one handshake + request against a server requiring client certificates; returns the
/// client certificate the server saw and the negotiated version.
fn handshake(pki: &Pki, identity: &Identity, tls12_only: bool) -> (Vec<u8>, rustls::ProtocolVersion) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(pki.ca.der().to_vec())).unwrap();
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().unwrap();
    let versions: &[&rustls::SupportedProtocolVersion] =
        if tls12_only { &[&rustls::version::TLS12] } else { &[&rustls::version::TLS13, &rustls::version::TLS12] };
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            pki.server_chain.clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone())),
        )
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::new(server);
    let t = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(server).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut line = String::new();
        BufReader::new(&mut tls).read_line(&mut line).unwrap();
        assert_eq!(line, "GET /accounts\n");
        let peer = tls.conn.peer_certificates().unwrap()[0].to_vec();
        let version = tls.conn.protocol_version().unwrap();
        tls.write_all(b"200 OK\n").unwrap();
        tls.conn.send_close_notify();
        let _ = tls.flush();
        (peer, version)
    });
    let client =
        psd2_client::tls::client_config(identity, psd2_client::tls::roots(std::slice::from_ref(&pki.ca)).unwrap())
            .unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(client), ServerName::try_from("localhost").unwrap()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(addr).unwrap());
    tls.write_all(b"GET /accounts\n").unwrap();
    let mut reply = String::new();
    BufReader::new(&mut tls).read_line(&mut reply).unwrap();
    assert_eq!(reply, "200 OK\n");
    t.join().unwrap()
}

#[test]
fn hsm_keys_authenticate_over_tls13_and_tls12() {
    let Some(h) = softhsm::hsm() else { return };
    let pki = new_pki();
    let secrets = Secrets::none().with_pin(Secret::new(softhsm::PIN));
    for (label, tls12_only, version) in [
        ("qseal-rsa", false, rustls::ProtocolVersion::TLSv1_3),
        ("qseal-rsa", true, rustls::ProtocolVersion::TLSv1_2),
        ("qwac-ec", false, rustls::ProtocolVersion::TLSv1_3),
        ("qwac-ec", true, rustls::ProtocolVersion::TLSv1_2),
    ] {
        let key = Arc::new(pkcs11::open_key(&h.uri(label), &secrets).unwrap());
        let cert = client_cert(&pki, key.as_ref());
        let identity = Identity::new(vec![cert.clone()], key).unwrap();
        let (seen, v) = handshake(&pki, &identity, tls12_only);
        assert_eq!(seen, cert.der(), "{label}");
        assert_eq!(v, version, "{label}");
    }
}

#[test]
fn file_keys_authenticate() {
    let pki = new_pki();
    for key in [FileKey::generate_rsa(2048).unwrap(), FileKey::generate_p256().unwrap()] {
        let key: Arc<dyn Signer> = Arc::new(key);
        let cert = client_cert(&pki, key.as_ref());
        let identity = Identity::new(vec![cert.clone()], key).unwrap();
        assert_eq!(handshake(&pki, &identity, false).0, cert.der());
    }
}

#[test]
fn server_verification_is_on() {
    // A server whose certificate is not from the named CA is refused.
    let pki = new_pki();
    let other = new_pki();
    let key: Arc<dyn Signer> = Arc::new(FileKey::generate_p256().unwrap());
    let identity = Identity::new(vec![client_cert(&pki, key.as_ref())], key).unwrap();
    let client =
        psd2_client::tls::client_config(&identity, psd2_client::tls::roots(std::slice::from_ref(&other.ca)).unwrap())
            .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            pki.server_chain.clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone())),
        )
        .unwrap();
    let t = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut conn = rustls::ServerConnection::new(Arc::new(server)).unwrap();
        let mut tcp = tcp;
        let _ = conn.complete_io(&mut tcp);
    });
    let mut conn = rustls::ClientConnection::new(Arc::new(client), ServerName::try_from("localhost").unwrap()).unwrap();
    let mut tcp = TcpStream::connect(addr).unwrap();
    let err = conn.complete_io(&mut tcp).unwrap_err();
    assert!(err.to_string().contains("invalid peer certificate"), "{err}");
    t.join().unwrap();
}
