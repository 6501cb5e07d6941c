//! Material made by our own test CA (`psd2-ca`, feature `ca`): identities with chosen PSD2 roles,
//! and the TLS configuration of a bank-like test server requiring the RSA test QWACs.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use psd2_ca::{CertKind, CertificateAuthority, EvSubject, InitOptions, IssueRequest, KeyType, Psd2Subject};
use psd2_eidas::{Certificate, Identity, Role, Secrets};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A QWAC and a QSealC with only `roles`, from a fresh test CA initialised in `dir` (the files
/// `qwac.key`, `qwac-chain.pem`, `qseal.key`, `qseal-chain.pem` land there too).
pub fn issue_with_roles(dir: &Path, roles: &[Role]) -> (Identity, Identity) {
    let ca =
        CertificateAuthority::init(dir, &InitOptions { key_type: KeyType::Rsa2048, ..Default::default() }).unwrap();
    let tpp = Psd2Subject { roles: roles.to_vec(), ..Psd2Subject::example() };
    let mut qwac = IssueRequest::new(CertKind::Qwac, tpp.clone());
    qwac.ev = EvSubject::example();
    let qseal = IssueRequest::new(CertKind::Qseal, tpp);
    let load = |name: &str, req: IssueRequest| {
        ca.issue(&req).unwrap().write(&dir.join(name)).unwrap();
        Identity::load(
            &dir.join(format!("{name}.key")).to_str().unwrap().parse().unwrap(),
            Some(&dir.join(format!("{name}-chain.pem")).to_str().unwrap().parse().unwrap()),
            &Secrets::none(),
        )
        .unwrap()
    };
    (load("qwac", qwac), load("qseal", qseal))
}

/// The rustls configuration of a test bank on 127.0.0.1: a server certificate from a fresh
/// `psd2_ca::ServerCa`, and a client certificate required, chaining to the RSA test PKI's root
/// (the committed QWACs). Returns it with the server CA, for the client to trust.
pub fn bank_server_config() -> (Arc<rustls::ServerConfig>, Certificate) {
    let ca = psd2_ca::ServerCa::generate("recording bank test CA").unwrap();
    let server = ca.issue(&[], &[IpAddr::V4(Ipv4Addr::LOCALHOST)]).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(crate::certs::certificate("rsa", "ca.pem").der().to_vec())).unwrap();
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(server.chain[0].der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.pkcs8_key.to_vec())),
        )
        .unwrap();
    (Arc::new(config), ca.certificate().clone())
}
