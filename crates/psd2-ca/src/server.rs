//! A throw-away TLS server PKI for local test banks: a P-256 CA held in memory and the server
//! certificates it issues for loopback names. The sandbox bank and the tests' local servers use
//! it; clients trust its CA certificate explicitly, never through public roots.

use std::net::IpAddr;

use psd2_eidas::Certificate;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType, SerialNumber,
};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::issue::random_serial;

/// An in-memory test CA for TLS server certificates (`CA:TRUE, pathlen:0`, keyCertSign and
/// cRLSign, ECDSA P-256). Nothing is written to disk; the CA key lives as long as the value.
///
/// ```
/// # fn main() -> Result<(), psd2_ca::Error> {
/// let ca = psd2_ca::ServerCa::generate("example local bank CA (TEST)")?;
/// let server = ca.issue(&["localhost"], &[std::net::Ipv4Addr::LOCALHOST.into()])?;
/// assert_eq!(server.chain.len(), 2);
/// assert_eq!(server.chain[1], *ca.certificate());
/// # Ok(()) }
/// ```
pub struct ServerCa {
    certificate: Certificate,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for ServerCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCa").field("certificate", &self.certificate).finish_non_exhaustive()
    }
}

/// A server certificate issued by a [`ServerCa`], with its private key.
pub struct ServerCertificate {
    /// The chain a server presents: the leaf, then the CA certificate.
    pub chain: Vec<Certificate>,
    /// The leaf's private key, PKCS#8 DER (zeroized on drop).
    pub pkcs8_key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ServerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCertificate").field("chain", &self.chain).finish_non_exhaustive()
    }
}

impl ServerCa {
    /// A fresh CA whose subject is `CN=<common_name>`.
    pub fn generate(common_name: &str) -> Result<Self, Error> {
        let key = KeyPair::generate().map_err(Error::generate("server CA key"))?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(Error::generate("server CA"))?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.serial_number = Some(SerialNumber::from_slice(&random_serial()?));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).map_err(Error::generate("server CA"))?;
        Ok(Self { certificate: Certificate::from_der(cert.der())?, issuer: Issuer::new(params, key) })
    }

    /// The CA certificate: the one anchor a client must be given to trust the servers.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// A server certificate (`serverAuth`) for these DNS names and IP addresses, with a fresh
    /// P-256 key; its commonName is the first DNS name (or the first address).
    pub fn issue(&self, dns_names: &[&str], ips: &[IpAddr]) -> Result<ServerCertificate, Error> {
        if dns_names.is_empty() && ips.is_empty() {
            return Err(Error::input("server certificate", "needs at least one DNS name or IP address"));
        }
        let key = KeyPair::generate().map_err(Error::generate("server key"))?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(Error::generate("server certificate"))?;
        let cn = dns_names.first().map(|n| (*n).to_owned()).unwrap_or_else(|| ips[0].to_string());
        params.distinguished_name.push(DnType::CommonName, cn);
        params.serial_number = Some(SerialNumber::from_slice(&random_serial()?));
        let mut sans = Vec::new();
        for name in dns_names {
            let dns = (*name)
                .try_into()
                .map_err(|_| Error::input("server certificate", format!("{name:?} is not a DNS name")))?;
            sans.push(SanType::DnsName(dns));
        }
        sans.extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let leaf = params.signed_by(&key, &self.issuer).map_err(Error::generate("server certificate"))?;
        Ok(ServerCertificate {
            chain: vec![Certificate::from_der(leaf.der())?, self.certificate.clone()],
            pkcs8_key: Zeroizing::new(key.serialize_der()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_certificates_chain_to_the_ca() {
        let ca = ServerCa::generate("t").unwrap_or_else(|e| unreachable!("{e}"));
        let s = ca.issue(&["localhost"], &[IpAddr::from([127, 0, 0, 1])]).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(ca.issue(&[], &[]).is_err());
        // openssl agrees: the leaf verifies for TLS servers, for localhost and 127.0.0.1.
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let (ca_pem, leaf_pem) = (dir.path().join("ca.pem"), dir.path().join("leaf.pem"));
        std::fs::write(&ca_pem, ca.certificate().to_pem()).unwrap_or_else(|e| unreachable!("{e}"));
        std::fs::write(&leaf_pem, s.chain[0].to_pem()).unwrap_or_else(|e| unreachable!("{e}"));
        for check in [["-verify_hostname", "localhost"], ["-verify_ip", "127.0.0.1"]] {
            let out = std::process::Command::new("openssl")
                .args(["verify", "-purpose", "sslserver", "-CAfile"])
                .arg(&ca_pem)
                .args(check)
                .arg(&leaf_pem)
                .output()
                .unwrap_or_else(|e| unreachable!("openssl: {e}"));
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
    }
}
