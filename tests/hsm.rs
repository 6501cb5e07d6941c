//! PKCS#11 through the real SoftHSM2 module: a fresh token in a temp dir, keys made by
//! pkcs11-tool, signatures checked by the openssl CLI with the exported public keys.
//!
//! Skipped with a message only when no module is found — never on CI (CI=true), where a missing
//! module fails the run.
#![allow(unsafe_code, reason = "SOFTHSM2_CONF must be set before the module loads")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use psd2_eidas::pkcs11::{self, Pkcs11Key};
use psd2_eidas::{Error, KeyKind, Secret, Secrets, SignatureScheme, Signer};

const PIN: &str = "1234";

struct Hsm {
    dir: tempfile::TempDir,
    module: PathBuf,
}

fn find_module() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PSD2_SIGN_PKCS11_MODULE") {
        return Some(PathBuf::from(p));
    }
    [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn run(cmd: &str, args: &[&str], dir: &Path) -> String {
    let out = Command::new(cmd).args(args).current_dir(dir).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn hsm() -> Option<&'static Hsm> {
    static HSM: OnceLock<Option<Hsm>> = OnceLock::new();
    HSM.get_or_init(|| {
        let Some(module) = find_module() else {
            assert!(std::env::var("CI").is_err(), "no PKCS#11 module found on CI: install softhsm2");
            eprintln!("SKIPPED: no PKCS#11 module (install softhsm2 or set PSD2_SIGN_PKCS11_MODULE)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("tokens")).unwrap();
        let conf = d.join("softhsm2.conf");
        std::fs::write(&conf, format!("directories.tokendir = {}/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", d.display())).unwrap();
        // SAFETY: set once, before the module is loaded, by the first HSM test (under OnceLock).
        unsafe { std::env::set_var("SOFTHSM2_CONF", &conf) };
        run("softhsm2-util", &["--init-token", "--free", "--label", "psd2-test", "--so-pin", "87654321", "--pin", PIN], d);
        let m = module.display().to_string();
        let p11 = |args: &[&str]| {
            let mut all = vec!["--module", &m, "--token-label", "psd2-test", "--login", "--pin", PIN];
            all.extend_from_slice(args);
            run("pkcs11-tool", &all, d)
        };
        for (kt, id, label) in [("rsa:2048", "01", "qseal-rsa"), ("EC:prime256v1", "02", "qwac-ec")] {
            p11(&["--keypairgen", "--key-type", kt, "--id", id, "--label", label]);
            p11(&["--read-object", "--type", "pubkey", "--label", label, "-o", &format!("{label}.pub.der")]);
        }
        // pkcs11-tool 0.23 cannot export P-384 public keys: import an openssl-made key instead.
        run("openssl", &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "ec384.pem"], d);
        run("openssl", &["pkey", "-in", "ec384.pem", "-pubout", "-outform", "DER", "-out", "ec384.pub.der"], d);
        run("softhsm2-util", &["--import", "ec384.pem", "--token", "psd2-test", "--label", "ec384", "--id", "03", "--pin", PIN], d);
        Some(Hsm { dir, module })
    })
    .as_ref()
}

fn uri(h: &Hsm, object: &str) -> String {
    format!("pkcs11:token=psd2-test;object={object};type=private?module-path={}", h.module.display())
}

fn secrets() -> Secrets {
    Secrets::none().with_pin(Secret::new(PIN))
}

fn key(h: &Hsm, object: &str) -> Pkcs11Key {
    pkcs11::open_key(&uri(h, object), &secrets()).unwrap_or_else(|e| panic!("{e}"))
}

fn openssl_verify(h: &Hsm, label: &str, scheme: SignatureScheme, msg: &[u8], sig: &[u8]) {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("msg"), msg).unwrap();
    let sig = match scheme {
        SignatureScheme::EcdsaP256Sha256 | SignatureScheme::EcdsaP384Sha384 => {
            psd2_eidas::ecdsa_raw_to_der(sig).unwrap()
        }
        _ => sig.to_vec(),
    };
    std::fs::write(d.path().join("sig"), sig).unwrap();
    let pubkey = h.dir.path().join(format!("{label}.pub.der")).display().to_string();
    let dgst = match scheme {
        SignatureScheme::RsaPkcs1Sha384 | SignatureScheme::RsaPssSha384 | SignatureScheme::EcdsaP384Sha384 => "-sha384",
        SignatureScheme::RsaPkcs1Sha512 | SignatureScheme::RsaPssSha512 => "-sha512",
        _ => "-sha256",
    };
    let mut args = vec!["dgst", dgst, "-keyform", "DER", "-verify", &pubkey, "-signature", "sig"];
    if matches!(scheme, SignatureScheme::RsaPssSha256 | SignatureScheme::RsaPssSha384 | SignatureScheme::RsaPssSha512) {
        args.extend(["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"]);
    }
    args.push("msg");
    let out = run("openssl", &args, d.path());
    assert!(out.contains("Verified OK"), "{scheme}: {out}");
}

#[test]
fn every_mechanism_signs_and_openssl_verifies() {
    let Some(h) = hsm() else { return };
    let msg = b"POST /payments/sepa-credit-transfers";
    let rsa = key(h, "qseal-rsa");
    assert_eq!(rsa.public_key().kind(), KeyKind::Rsa { bits: 2048 });
    assert_eq!(rsa.public_key().spki_der(), std::fs::read(h.dir.path().join("qseal-rsa.pub.der")).unwrap());
    for scheme in [
        SignatureScheme::RsaPkcs1Sha256,
        SignatureScheme::RsaPkcs1Sha384,
        SignatureScheme::RsaPkcs1Sha512,
        SignatureScheme::RsaPssSha256,
        SignatureScheme::RsaPssSha384,
        SignatureScheme::RsaPssSha512,
    ] {
        assert!(rsa.schemes().contains(&scheme), "{scheme}");
        let sig = rsa.sign(scheme, msg).unwrap_or_else(|e| panic!("{scheme}: {e}"));
        openssl_verify(h, "qseal-rsa", scheme, msg, &sig);
        rsa.public_key().verify(scheme, msg, &sig).unwrap();
    }
    for (label, scheme) in [("qwac-ec", SignatureScheme::EcdsaP256Sha256), ("ec384", SignatureScheme::EcdsaP384Sha384)]
    {
        let k = key(h, label);
        assert_eq!(k.public_key().spki_der(), std::fs::read(h.dir.path().join(format!("{label}.pub.der"))).unwrap());
        let sig = k.sign(scheme, msg).unwrap();
        openssl_verify(h, label, scheme, msg, &sig);
        assert!(matches!(k.sign(SignatureScheme::RsaPkcs1Sha256, msg), Err(Error::SchemeMismatch { .. })));
    }
}

#[test]
fn eight_threads_sign_through_the_pool() {
    let Some(h) = hsm() else { return };
    let k: Arc<dyn Signer> = Arc::new(key(h, "qwac-ec"));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let k = k.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let msg = format!("thread {t} message {i}");
                    let sig = k.sign(SignatureScheme::EcdsaP256Sha256, msg.as_bytes()).unwrap();
                    k.public_key().verify(SignatureScheme::EcdsaP256Sha256, msg.as_bytes(), &sig).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn lost_sessions_are_recovered() {
    let Some(h) = hsm() else { return };
    let k = key(h, "qseal-rsa");
    k.sign(SignatureScheme::RsaPkcs1Sha256, b"a").unwrap();
    // Closing every session logs the application out of the token; the next signature must
    // open a new session and log in again by itself.
    k.token().close_idle_sessions();
    let sig = k.sign(SignatureScheme::RsaPkcs1Sha256, b"b").unwrap();
    k.public_key().verify(SignatureScheme::RsaPkcs1Sha256, b"b", &sig).unwrap();
}

#[test]
fn errors_are_specific() {
    let Some(h) = hsm() else { return };
    let m = h.module.display();
    let e = |uri: &str, s: &Secrets| pkcs11::open_key(uri, s).unwrap_err();
    // This process is already logged in (PKCS#11 login state is per application), so a wrong
    // PIN is checked in a fresh process: the CLI, with the PIN from the environment.
    let ing = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/psd2-certs/ing-sandbox-example-qsealc.pem");
    let out = Command::new(env!("CARGO_BIN_EXE_psd2-sign"))
        .args(["inspect", ing, "--key", &format!("pkcs11:token=psd2-test;object=qseal-rsa?module-path={m}")])
        .env("PSD2_SIGN_PKCS11_PIN", "9999")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("psd2-sign: wrong PIN for PKCS#11 token 'psd2-test'"), "{stderr}");
    assert!(!stderr.contains("9999") && stderr.lines().count() == 1, "{stderr}");
    // The right PIN, and a key that does not belong to the certificate.
    let out = Command::new(env!("CARGO_BIN_EXE_psd2-sign"))
        .args(["inspect", ing, "--key", &format!("pkcs11:token=psd2-test;object=qseal-rsa?module-path={m}")])
        .env("PSD2_SIGN_PKCS11_PIN", PIN)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not match the certificate"), "{stderr}");
    let err = e("pkcs11:token=psd2-test;object=x?module-path=/nonexistent/module.so", &secrets());
    assert!(err.to_string().contains("/nonexistent/module.so: no such file"), "{err}");
    let bad_module = h.dir.path().join("softhsm2.conf");
    let err = e(&format!("pkcs11:token=psd2-test;object=x?module-path={}", bad_module.display()), &secrets());
    assert!(err.to_string().contains("cannot load"), "{err}");
    let err = e(&format!("pkcs11:token=nope;object=x?module-path={m}"), &secrets());
    assert!(err.to_string().contains("no PKCS#11 token with token 'nope' (tokens present: psd2-test)"), "{err}");
    let err = e(&format!("pkcs11:token=psd2-test;object=missing?module-path={m}"), &secrets());
    assert!(
        err.to_string().contains("no token 'psd2-test', object 'missing' on PKCS#11 token")
            || matches!(err, Error::KeyNotFound { .. }),
        "{err}"
    );
    let err = e(&format!("pkcs11:token=psd2-test;object=qseal-rsa?module-path={m}"), &Secrets::none());
    assert!(matches!(err, Error::PinRequired { .. }), "{err}");
    let k = key(h, "qwac-ec");
    let err = k.sign(SignatureScheme::Ed25519, b"x").unwrap_err();
    assert!(matches!(err, Error::SchemeMismatch { .. }), "{err}");
}

#[test]
fn hsm_list_and_import_cert() {
    let Some(h) = hsm() else { return };
    let m = h.module.display().to_string();
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_psd2-sign")).args(args).env("PSD2_SIGN_PKCS11_PIN", PIN).output().unwrap()
    };
    let out = cli(&["hsm", "list", "--module", &m]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("token=psd2-test"));

    let ing = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/psd2-certs/ing-sandbox-example-qsealc.pem");
    let out =
        cli(&["hsm", "import-cert", &format!("pkcs11:token=psd2-test;object=ing-cert;id=%09?module-path={m}"), ing]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cli(&["hsm", "list", "--module", &m, "--token", "psd2-test", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let objects = v.as_array().unwrap();
    let find = |ty: &str, label: &str| objects.iter().find(|o| o["type"] == ty && o["label"] == label).cloned();
    assert!(find("private", "qseal-rsa").unwrap()["detail"].as_str().unwrap().contains("rsa 2048"));
    assert_eq!(find("private", "qwac-ec").unwrap()["id"], "02");
    let cert = find("cert", "ing-cert").unwrap();
    assert!(cert["detail"].as_str().unwrap().contains("PSDNL-SBX-1234512345"), "{cert}");
    assert_eq!(cert["uri"], "pkcs11:token=psd2-test;object=ing-cert;id=%09;type=cert");
    // The certificate is found again through the library by the same label.
    let certs =
        pkcs11::find_certificates(&format!("pkcs11:token=psd2-test;object=ing-cert?module-path={m}"), &secrets())
            .unwrap();
    assert_eq!(certs[0].serial_hex(), "5e4299be");
}
