//! Our OCSP client and CRL check against implementations we did not write: an `openssl ocsp`
//! responder on 127.0.0.1 and CRLs made by `openssl ca -gencrl`, for a CA, a good and a revoked
//! certificate made with the openssl CLI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Child, Command, Stdio};

use psd2_client::revocation::{RevocationChecker, Status, check_crl};
use psd2_eidas::Certificate;
use time::OffsetDateTime;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn load(dir: &Path, name: &str) -> Certificate {
    psd2_eidas::load::load_certificates(&dir.join(name), None).unwrap().remove(0)
}

/// A CA, `good.pem` (serial 0x1001) and `revoked.pem` (serial 0x1002, revoked in `index.txt`).
fn pki(dir: &Path) {
    let cnf = "[req]\ndistinguished_name = dn\n[dn]\n[ca_ext]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n\
               [leaf]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n\
               [ca]\ndefault_ca = CA_default\n[CA_default]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 30\n";
    std::fs::write(dir.join("ca.cnf"), cnf).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "90",
            "-subj",
            "/C=BE/O=Test QTSP/CN=Revocation Test CA",
            "-config",
            "ca.cnf",
            "-extensions",
            "ca_ext",
        ],
    );
    for (name, serial) in [("good", "0x1001"), ("revoked", "0x1002")] {
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/C=BE/O=TPP/CN={name}"),
                "-config",
                "ca.cnf",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                serial,
                "-days",
                "60",
                "-extfile",
                "ca.cnf",
                "-extensions",
                "leaf",
                "-out",
                &format!("{name}.pem"),
            ],
        );
    }
    let exp = "491231235959Z";
    let index = format!(
        "V\t{exp}\t\t1001\tunknown\t/C=BE/O=TPP/CN=good\nR\t{exp}\t260101120000Z,keyCompromise\t1002\tunknown\t/C=BE/O=TPP/CN=revoked\n"
    );
    std::fs::write(dir.join("index.txt"), index).unwrap();
    std::fs::write(dir.join("crlnumber"), "01\n").unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Responder(Child);

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn ocsp_against_an_openssl_responder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki(d);
    let port = free_port();
    let mut child = Command::new("openssl")
        .args(["ocsp", "-index", "index.txt", "-port", &port.to_string(), "-rsigner", "ca.pem", "-rkey", "ca.key"])
        .args(["-CA", "ca.pem", "-nmin", "5"])
        .current_dir(d)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it says it listens (a probe connection would be read as a request).
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    assert!(lines.any(|l| l.is_ok_and(|l| l.contains("waiting for OCSP client connections"))));
    std::thread::spawn(move || lines.for_each(drop));
    let _responder = Responder(child);
    let url = format!("http://127.0.0.1:{port}/");
    let (ca, good, revoked) = (load(d, "ca.pem"), load(d, "good.pem"), load(d, "revoked.pem"));
    let checker = RevocationChecker::new(std::time::Duration::from_secs(10)).unwrap();
    let now = OffsetDateTime::now_utc();
    let v = checker.ocsp(&good, &ca, Some(&url), now).await.unwrap();
    assert_eq!(v.status, Status::Good, "{v:?}");
    let v = checker.ocsp(&revoked, &ca, Some(&url), now).await.unwrap();
    assert!(matches!(&v.status, Status::Revoked { at, .. } if at.year() == 2026), "{v:?}");
    // A certificate of another CA: the answer is not for it (or unknown), never "good".
    let other = tempfile::tempdir().unwrap();
    pki(other.path());
    let stranger = load(other.path(), "good.pem");
    let r = checker.ocsp(&stranger, &load(other.path(), "ca.pem"), Some(&url), now).await;
    assert!(!matches!(r, Ok(ref v) if v.status == Status::Good), "{r:?}");
}

#[test]
fn crls_made_by_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki(d);
    openssl(d, &["ca", "-gencrl", "-keyfile", "ca.key", "-cert", "ca.pem", "-out", "crl.pem", "-config", "ca.cnf"]);
    openssl(d, &["crl", "-in", "crl.pem", "-outform", "DER", "-out", "crl.der"]);
    let crl = std::fs::read(d.join("crl.der")).unwrap();
    let (ca, good, revoked) = (load(d, "ca.pem"), load(d, "good.pem"), load(d, "revoked.pem"));
    let now = OffsetDateTime::now_utc();
    assert_eq!(check_crl(&crl, &good, &ca, now, "CRL test").unwrap().status, Status::Good);
    let v = check_crl(&crl, &revoked, &ca, now, "CRL test").unwrap();
    assert!(matches!(&v.status, Status::Revoked { reason: Some(r), .. } if r.contains("KeyCompromise")), "{v:?}");
    // After its nextUpdate the CRL proves nothing.
    let late = now + time::Duration::days(40);
    let e = check_crl(&crl, &good, &ca, late, "CRL test").unwrap_err();
    assert!(e.to_string().contains("the CRL has expired") || e.to_string().contains("not valid"), "{e}");
    // Another CA's CRL does not answer for this certificate.
    let other = tempfile::tempdir().unwrap();
    pki(other.path());
    openssl(
        other.path(),
        &["ca", "-gencrl", "-keyfile", "ca.key", "-cert", "ca.pem", "-out", "crl.pem", "-config", "ca.cnf"],
    );
    openssl(other.path(), &["crl", "-in", "crl.pem", "-outform", "DER", "-out", "crl.der"]);
    let foreign = std::fs::read(other.path().join("crl.der")).unwrap();
    assert!(check_crl(&foreign, &good, &ca, now, "CRL test").is_err());
}
