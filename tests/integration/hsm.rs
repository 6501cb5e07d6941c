//! PKCS#11 through the real SoftHSM2 module: a fresh token in a temp dir, keys made by
//! pkcs11-tool, signatures checked by the openssl CLI with the exported public keys.

use psd2_test_support::softhsm;

use std::sync::Arc;

use psd2_eidas::pkcs11::{self, Pkcs11Key};
use psd2_eidas::{Error, KeyKind, Secret, Secrets, SignatureScheme, Signer};
use softhsm::{Hsm, PIN, hsm, run};

use crate::util::bin;

/// A QSealC whose key is on no token.
const ING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/psd2-certs/ing-sandbox-example-qsealc.pem");

fn secrets() -> Secrets {
    Secrets::none().with_pin(Secret::new(PIN))
}

fn key(h: &Hsm, object: &str) -> Pkcs11Key {
    pkcs11::open_key(&h.uri(object), &secrets()).unwrap_or_else(|e| panic!("{e}"))
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
    let _serial = softhsm::serial();
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
    let _serial = softhsm::serial();
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
    let _serial = softhsm::serial();
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
    let _serial = softhsm::serial();
    let Some(h) = hsm() else { return };
    let m = h.module.display();
    let e = |uri: &str, s: &Secrets| pkcs11::open_key(uri, s).unwrap_err();
    // This process is already logged in (PKCS#11 login state is per application), so a wrong
    // PIN is checked in a fresh process: the CLI, with the PIN from the environment.
    let out = bin()
        .args(["inspect", ING, "--key", &format!("pkcs11:token=psd2-test;object=qseal-rsa?module-path={m}")])
        .env("PSD2_SIGN_PKCS11_PIN", "9999")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("psd2-sign: wrong PIN for PKCS#11 token 'psd2-test'"), "{stderr}");
    assert!(!stderr.contains("9999") && stderr.lines().count() == 1, "{stderr}");
    // The right PIN, and a key that does not belong to the certificate.
    let out = bin()
        .args(["inspect", ING, "--key", &format!("pkcs11:token=psd2-test;object=qseal-rsa?module-path={m}")])
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
fn hsm_list_shows_tokens_and_objects() {
    let _serial = softhsm::serial();
    let Some(h) = hsm() else { return };
    let m = h.module.display().to_string();
    let cli = |args: &[&str]| bin().args(args).env("PSD2_SIGN_PKCS11_PIN", PIN).output().unwrap();
    let out = cli(&["hsm", "list", "--module", &m]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("token=psd2-test"));

    let out = cli(&["hsm", "list", "--module", &m, "--token", "psd2-test", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let objects = v.as_array().unwrap();
    let find = |ty: &str, label: &str| objects.iter().find(|o| o["type"] == ty && o["label"] == label).cloned();
    assert!(find("private", "qseal-rsa").unwrap()["detail"].as_str().unwrap().contains("rsa 2048"));
    let ec = find("private", "qwac-ec").unwrap();
    assert_eq!(ec["id"], "02");
    assert_eq!(ec["uri"], "pkcs11:token=psd2-test;object=qwac-ec;id=%02;type=private");
    assert_eq!(find("public", "qwac-ec").unwrap()["uri"], "pkcs11:token=psd2-test;object=qwac-ec;id=%02;type=public");
    // A token label is one attribute value, not pasted into the URI.
    let out = cli(&["hsm", "list", "--module", &m, "--token", "psd2-test;object=qseal-rsa"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no PKCS#11 token with token 'psd2-test;object=qseal-rsa' (tokens present: psd2-test)"),
        "{stderr}"
    );
}

/// The certificate objects pkcs11-tool (OpenSC) sees on the shared token under `label`: their
/// CKA_ID in hex.
fn token_cert_ids(h: &Hsm, label: &str) -> Vec<String> {
    let m = h.module.display().to_string();
    let out = run(
        "pkcs11-tool",
        &["--module", &m, "--token-label", "psd2-test", "--list-objects", "--type", "cert"],
        h.dir.path(),
    );
    out.split("Certificate Object")
        .skip(1)
        .filter(|block| block.lines().any(|l| l.trim() == format!("label:      {label}")))
        .map(|block| {
            let id = block.lines().find_map(|l| l.trim().strip_prefix("ID:"));
            id.unwrap_or_default().trim().to_owned()
        })
        .collect()
}

/// A new P-256 key pair on the shared token (made by pkcs11-tool), with a QSealC for it.
fn token_key_with_certificate(h: &Hsm, label: &str, id: &str, dir: &std::path::Path) -> String {
    let m = h.module.display().to_string();
    std::fs::create_dir_all(dir).unwrap();
    let keygen = ["--keypairgen", "--key-type", "EC:prime256v1", "--id", id, "--label", label];
    run(
        "pkcs11-tool",
        &[&["--module", &m, "--token-label", "psd2-test", "--login", "--pin", PIN][..], &keygen].concat(),
        h.dir.path(),
    );
    qseal_for_token_key(&h.uri(label), dir)
}

#[test]
fn import_cert_checks_the_key_and_stores_once() {
    let _serial = softhsm::serial();
    let Some(h) = hsm() else { return };
    let m = h.module.display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let cert = token_key_with_certificate(h, "import-test", "20", dir.path());
    let refused = |uri: &str, cert: &str, wanted: &str| {
        let (ok, _, err) = cli(&["hsm", "import-cert", uri, cert]);
        assert!(!ok && err.contains(wanted) && err.lines().count() == 1, "{uri}: {err}");
        assert!(token_cert_ids(h, "import-test").is_empty(), "{uri}: nothing written");
    };
    // No object: which key would the certificate belong to?
    refused(&format!("pkcs11:token=psd2-test?module-path={m}"), &cert, "name the key the certificate belongs to");
    refused(&format!("pkcs11:token=psd2-test;type=cert?module-path={m}"), &cert, "'object=<label>' and/or 'id=<hex>'");
    // The type says what is written: a certificate, not a private key.
    refused(
        &format!("pkcs11:token=psd2-test;object=import-test;type=private?module-path={m}"),
        &cert,
        "'type=private' names a private key, but the place a certificate is stored needs a certificate: use 'type=cert'",
    );
    // No key under that label; a key that is not the certificate's (RSA, and another P-256 key).
    refused(
        &format!("pkcs11:token=psd2-test;object=import-tes?module-path={m}"),
        &cert,
        "no private key with object 'import-tes' on PKCS#11 token 'psd2-test'",
    );
    refused(
        &format!("pkcs11:token=psd2-test;object=import-test?module-path={m}"),
        ING,
        "does not match the certificate",
    );
    let other = token_key_with_certificate(h, "import-other", "21", &dir.path().join("other"));
    refused(
        &format!("pkcs11:token=psd2-test;object=import-test?module-path={m}"),
        &other,
        "does not match the certificate",
    );
    // Named by its label only, the certificate gets the key's id too.
    let (ok, _, err) =
        cli(&["hsm", "import-cert", &format!("pkcs11:token=psd2-test;object=import-test?module-path={m}"), &cert]);
    assert!(ok && err.starts_with("stored "), "{err}");
    assert_eq!(token_cert_ids(h, "import-test"), ["20"]);
    // Again (by id, with type=cert): already there, nothing added, success.
    for uri in ["object=import-test;id=%20;type=cert", "id=%20"] {
        let (ok, _, err) =
            cli(&["hsm", "import-cert", &format!("pkcs11:token=psd2-test;{uri}?module-path={m}"), &cert]);
        assert!(ok && err.contains("is already there"), "{err}");
    }
    assert_eq!(token_cert_ids(h, "import-test"), ["20"]);
    // The library finds it by the key's label, as a certificate reference.
    let found = format!("pkcs11:token=psd2-test;object=import-test;type=cert?module-path={m}");
    let certs = pkcs11::find_certificates(&found, &secrets()).unwrap();
    assert_eq!(certs.len(), 1);
    assert_eq!(
        certs[0].der(),
        psd2_eidas::load::load_certificates(std::path::Path::new(&cert), None).unwrap()[0].der()
    );
    // A key reference is no certificate reference.
    let err = pkcs11::find_certificates(&h.uri("import-test"), &secrets()).unwrap_err();
    assert!(err.to_string().contains("'type=private' names a private key, but a certificate reference"), "{err}");
}

#[test]
fn import_cert_proves_an_ec_key_without_public_key_by_a_signature() {
    let _serial = softhsm::serial();
    let Some(h) = hsm() else { return };
    let m = h.module.display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let cert = token_key_with_certificate(h, "no-pub", "22", dir.path());
    let p11 = ["--module", &m, "--token-label", "psd2-test", "--login", "--pin", PIN];
    run(
        "pkcs11-tool",
        &[&p11[..], &["--delete-object", "--type", "pubkey", "--label", "no-pub"]].concat(),
        h.dir.path(),
    );
    // Without a public key object or certificate the key cannot be used…
    let err = pkcs11::open_key(&h.uri("no-pub"), &secrets()).unwrap_err();
    assert!(err.to_string().contains("cannot read the public key"), "{err}");
    // …and a certificate for another key (RSA; another P-256 key) is refused.
    let uri = format!("pkcs11:token=psd2-test;object=no-pub?module-path={m}");
    let other = token_key_with_certificate(h, "no-pub-other", "23", &dir.path().join("other"));
    for wrong in [ING, other.as_str()] {
        let (ok, _, err) = cli(&["hsm", "import-cert", &uri, wrong]);
        assert!(!ok && err.contains("does not match the certificate"), "{err}");
    }
    assert!(token_cert_ids(h, "no-pub").is_empty());
    // Its own certificate is proven by a signature of the token key, and makes the key usable.
    let (ok, _, err) = cli(&["hsm", "import-cert", &uri, &cert]);
    assert!(ok, "{err}");
    assert_eq!(token_cert_ids(h, "no-pub"), ["22"]);
    let k = pkcs11::open_key(&h.uri("no-pub"), &secrets()).unwrap();
    let sig = k.sign(SignatureScheme::EcdsaP256Sha256, b"x").unwrap();
    k.public_key().verify(SignatureScheme::EcdsaP256Sha256, b"x", &sig).unwrap();
}

#[test]
fn uri_references_are_checked() {
    let _serial = softhsm::serial();
    let Some(h) = hsm() else { return };
    let m = h.module.display().to_string();
    let fails = |args: &[&str], wanted: &str| {
        let (ok, _, err) = cli(args);
        assert!(!ok && err.contains(wanted) && err.lines().count() == 1, "{args:?}: {err}");
        err
    };
    // A PIN in the URI is refused, points to the ways that keep it off the command line, and is
    // not repeated.
    for uri in [
        format!("pkcs11:token=psd2-test;object=qseal-rsa?module-path={m}&pin-value=8642"),
        format!("pkcs11:token=psd2-test;object=qseal-rsa;pin-value=8642?module-path={m}"),
    ] {
        for args in [
            &["inspect", ING, "--key", &uri][..],
            &["hsm", "import-cert", &uri, ING],
            &[
                "csr",
                "--key",
                &uri,
                "--type",
                "qseal",
                "--org",
                "X",
                "--org-id",
                "PSDBE-NBB-0999.888.777",
                "--out",
                "/nonexistent/x",
            ],
        ] {
            let err = fails(args, "'pin-value' is refused");
            assert!(
                err.contains("pin-source=file:") && err.contains("PSD2_SIGN_PKCS11_PIN") && !err.contains("8642"),
                "{err}"
            );
        }
    }
    // A certificate (or any other type) is no key.
    for ty in ["cert", "public", "secret-key", "data"] {
        let uri = format!("pkcs11:token=psd2-test;object=qwac-ec;type={ty}?module-path={m}");
        fails(&["inspect", ING, "--key", &uri], &format!("'type={ty}' names"));
    }
    fails(
        &["inspect", ING, "--key", &format!("pkcs11:token=psd2-test;object=qwac-ec;type=privkey?module-path={m}")],
        "unknown 'type' value 'privkey'",
    );
    fails(
        &["inspect", ING, "--key", &format!("pkcs11:token=psd2-test;label=qwac-ec?module-path={m}")],
        "unknown path attribute 'label'",
    );
    fails(
        &["inspect", ING, "--key", &format!("pkcs11:token=psd2-test;object=qwac-ec?module-path={m}&pin=1")],
        "unknown query attribute 'pin'",
    );
}

#[test]
fn hsm_list_uris_keep_labels_with_uri_characters() {
    let _serial = softhsm::serial();
    let Some(h) = hsm() else { return };
    let m = h.module.display().to_string();
    // A token of its own (its own SoftHSM store, for the CLI processes only): the shared one
    // keeps its plain label.
    let store = tempfile::tempdir().unwrap();
    let d = store.path();
    std::fs::create_dir(d.join("tokens")).unwrap();
    let conf = d.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!("directories.tokendir = {}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n", d.display()),
    )
    .unwrap();
    let (token, label) = ("a;object=b %/=?&x", "k;id=%01 / ?x=y&é");
    let tool = |cmd: &str, args: &[&str]| {
        let out = std::process::Command::new(cmd).args(args).env("SOFTHSM2_CONF", &conf).output().unwrap();
        assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    tool("softhsm2-util", &["--init-token", "--free", "--label", token, "--so-pin", "87654321", "--pin", PIN]);
    tool(
        "pkcs11-tool",
        &[
            "--module",
            &m,
            "--token-label",
            token,
            "--login",
            "--pin",
            PIN,
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--id",
            "07",
            "--label",
            label,
        ],
    );
    let psd2 =
        |args: &[&str]| bin().args(args).env("SOFTHSM2_CONF", &conf).env("PSD2_SIGN_PKCS11_PIN", PIN).output().unwrap();
    let out = psd2(&["hsm", "list", "--module", &m, "--token", token, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let objects = v.as_array().unwrap();
    assert_eq!(objects.len(), 2, "{v}");
    for o in objects {
        assert_eq!(o["label"], label);
        let uri = pkcs11::Pkcs11Uri::parse(o["uri"].as_str().unwrap()).unwrap();
        assert_eq!(
            (uri.token.as_deref(), uri.object.as_deref(), uri.id.as_deref()),
            (Some(token), Some(label), Some(&[7u8][..]))
        );
    }
    // The printed key URI names the key: the CLI signs a CSR with it.
    let key = objects.iter().find(|o| o["type"] == "private").unwrap()["uri"].as_str().unwrap();
    assert_eq!(
        key,
        "pkcs11:token=a%3Bobject%3Db%20%25%2F%3D%3F%26x;object=k%3Bid%3D%2501%20%2F%20%3Fx%3Dy%26%C3%A9;id=%07;type=private"
    );
    let csr = d.join("k.csr").display().to_string();
    let key = format!("{key}?module-path={m}");
    let out = psd2(&[
        "csr",
        "--key",
        &key,
        "--type",
        "qseal",
        "--org",
        "Example TPP NV",
        "--org-id",
        "PSDBE-NBB-0999.888.777",
        "--out",
        &csr,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The text listing shows the same URIs.
    let out = psd2(&["hsm", "list", "--module", &m, "--token", token]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(objects[0]["uri"].as_str().unwrap()));
}

/// Runs the CLI with the token's PIN in the environment; returns (success, stdout, stderr).
fn cli(args: &[&str]) -> (bool, String, String) {
    let out = bin().args(args).env("PSD2_SIGN_PKCS11_PIN", PIN).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `ca issue --type qseal` for the fictitious TPP, with `extra` arguments (e.g. `--csr`).
fn issue_qseal(ca: &str, extra: &[&str], out: &str) {
    let mut args = vec!["ca", "issue", "--dir", ca, "--type", "qseal", "--org", "Example TPP NV", "--org-id"];
    args.extend(["PSDBE-NBB-0999.888.777", "--roles", "PSP_PI", "--nca-name", "National Bank of Belgium"]);
    args.extend(["--nca-id", "BE-NBB", "--out", out]);
    args.extend(extra);
    let (ok, _, err) = cli(&args);
    assert!(ok, "{err}");
}

/// A QSealC for the token key `uri`: a CSR made by the token, issued by a new file-key test CA
/// in `dir/ca`. Returns the certificate's path.
fn qseal_for_token_key(uri: &str, dir: &std::path::Path) -> String {
    let p = |n: &str| dir.join(n).display().to_string();
    assert!(cli(&["ca", "init", "--dir", &p("ca"), "--key-type", "p256"]).0);
    let csr = ["csr", "--key", uri, "--type", "qseal", "--org", "Example TPP NV", "--org-id", "PSDBE-NBB-0999.888.777"];
    let (ok, _, err) = cli(&[&csr[..], &["--out", &p("token.csr")]].concat());
    assert!(ok, "{err}");
    issue_qseal(&p("ca"), &["--csr", &p("token.csr")], &p("token"));
    p("token.pem")
}

/// `verify` arguments for a request signed by `sign --format json` (its headers as sent).
fn verify_args(method: &str, url: &str, signed_json: &str, extra: &[&str]) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(signed_json).unwrap();
    let mut args: Vec<String> =
        ["verify", "--profile", "berlin-group", "--method", method, "--url", url].map(String::from).to_vec();
    args.extend(extra.iter().map(|a| a.to_string()));
    for (name, value) in v["headers"].as_object().unwrap() {
        args.push("-H".into());
        args.push(format!("{name}: {}", value.as_str().unwrap()));
    }
    args
}

#[test]
fn test_ca_with_issuing_key_in_the_hsm() {
    let _serial = softhsm::serial();
    let Some(h) = hsm() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca").display().to_string();
    let uri = h.uri("qwac-ec");
    let (ok, _, err) = cli(&["ca", "init", "--dir", &ca, "--key-type", "p256", "--key", &uri]);
    assert!(ok, "{err}");
    // The reference is kept (without a PIN), the key is not copied out of the token.
    let keyref = std::fs::read_to_string(dir.path().join("ca/qseal-ca.keyref")).unwrap();
    assert_eq!(keyref.trim(), uri);
    assert!(!dir.path().join("ca/qseal-ca.key").exists());
    let prefix = dir.path().join("seal").display().to_string();
    issue_qseal(&ca, &[], &prefix);
    let chain = format!("{prefix}-chain.pem");
    let out = run(
        "openssl",
        &["verify", "-CAfile", &format!("{ca}/ca.pem"), "-untrusted", &chain, &format!("{prefix}.pem")],
        dir.path(),
    );
    assert!(out.contains(": OK"), "{out}");
    // Without the PIN the CA cannot be opened, and says why.
    let out = bin().args(["ca", "crl", "--dir", &ca]).env_remove("PSD2_SIGN_PKCS11_PIN").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a PIN"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn berlin_group_signature_with_an_hsm_key_end_to_end() {
    let _serial = softhsm::serial();
    let Some(h) = hsm() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let uri = h.uri("qseal-rsa");
    let cert = qseal_for_token_key(&uri, d);
    let body = d.join("body.json").display().to_string();
    std::fs::write(&body, br#"{"instructedAmount":{"currency":"EUR","amount":"12.34"}}"#).unwrap();
    let url = "https://api.bank.example/v1/payments/sepa-credit-transfers";
    let (ok, json, err) = cli(&[
        "sign",
        "--profile",
        "berlin-group",
        "--key",
        &uri,
        "--cert",
        &cert,
        "--method",
        "POST",
        "--url",
        url,
        "-H",
        "X-Request-ID: 99391c7e-ad88-49ec-a2ad-99ddcb1f7721",
        "--body",
        &body,
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    // openssl checks the token's signature over the printed signing string.
    let signature = v["headers"]["Signature"].as_str().unwrap();
    let b64 = signature.split("signature=\"").nth(1).unwrap().trim_end_matches('"');
    std::fs::write(d.join("sig.b64"), b64).unwrap();
    run("openssl", &["base64", "-d", "-A", "-in", "sig.b64", "-out", "sig.bin"], d);
    std::fs::write(d.join("ss.txt"), v["signing_string"].as_str().unwrap()).unwrap();
    let pubkey = h.dir.path().join("qseal-rsa.pub.der").display().to_string();
    let out = run(
        "openssl",
        &["dgst", "-sha256", "-keyform", "DER", "-verify", &pubkey, "-signature", "sig.bin", "ss.txt"],
        d,
    );
    assert!(out.contains("Verified OK"), "{out}");
    // And our verifier, as a bank, accepts the request with the headers as sent.
    let args = verify_args("POST", url, &json, &["--body", &body]);
    let (ok, _, err) = cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "{err}");
}

#[test]
fn verify_takes_the_certificate_from_the_token() {
    let _serial = softhsm::serial();
    let Some(h) = hsm() else { return };
    let dir = tempfile::tempdir().unwrap();
    let uri = h.uri("qwac-ec");
    let cert = qseal_for_token_key(&uri, dir.path());
    // Store the certificate on the token next to its key (label qwac-ec, id 02).
    let m = h.module.display();
    let (ok, _, err) =
        cli(&["hsm", "import-cert", &format!("pkcs11:token=psd2-test;object=qwac-ec;id=%02?module-path={m}"), &cert]);
    assert!(ok, "{err}");
    // Sign with the key alone (the certificate comes from the token), verify with the
    // certificate read from the token.
    let url = "https://api.bank.example/v1/accounts";
    let (ok, json, err) =
        cli(&["sign", "--profile", "berlin-group", "--key", &uri, "--method", "GET", "--url", url, "--format", "json"]);
    assert!(ok, "{err}");
    let cert_uri = format!("pkcs11:token=psd2-test;object=qwac-ec;type=cert?module-path={m}");
    let args = verify_args("GET", url, &json, &["--cert", &cert_uri]);
    let (ok, _, err) = cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "{err}");
    // inspect reads it from the token as well, and checks the token key against it.
    let (ok, out, err) = cli(&["inspect", &cert_uri, "--json", "--key", &uri]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "qseal");
}

/// A prompt that answers with a fixed secret and counts how often it was asked.
#[derive(Default)]
struct Counting {
    answer: Option<&'static str>,
    pins: std::sync::atomic::AtomicUsize,
    passwords: std::sync::atomic::AtomicUsize,
}

impl psd2_eidas::SecretPrompt for Counting {
    fn request_password(&self, _what: &str) -> Option<Secret> {
        self.passwords.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.answer.map(Secret::new)
    }
    fn request_pin(&self, token: &str) -> Option<Secret> {
        assert!(!token.contains(PIN), "the token description carries no PIN");
        self.pins.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.answer.map(Secret::new)
    }
}

#[test]
fn secrets_are_asked_only_when_needed() {
    use std::sync::atomic::Ordering::SeqCst;
    let certs = psd2_test_support::certs::dir();
    let (p12, key) = (certs.join("rsa/qseal.p12"), certs.join("rsa/qseal.key"));
    let password = std::fs::read_to_string(certs.join("password.txt")).unwrap();
    let password: &'static str = Box::leak(password.lines().next().unwrap().to_owned().into_boxed_str());
    // An unencrypted key needs nothing: the prompt is never asked.
    let p = Arc::new(Counting { answer: Some(password), ..Default::default() });
    let s = Secrets::none().with_prompt(p.clone());
    let cert = certs.join("rsa/qseal.pem").to_str().unwrap().parse().unwrap();
    psd2_eidas::Identity::load(&key.to_str().unwrap().parse().unwrap(), Some(&cert), &s).unwrap();
    assert_eq!((p.passwords.load(SeqCst), p.pins.load(SeqCst)), (0, 0));
    // A PKCS#12 file: asked once, and it opens.
    psd2_eidas::Identity::load(&p12.to_str().unwrap().parse().unwrap(), None, &s).unwrap();
    assert_eq!(p.passwords.load(SeqCst), 1);
    // No prompt, no password: the error says so, and names no CLI flag.
    let e = psd2_eidas::Identity::load(&p12.to_str().unwrap().parse().unwrap(), None, &Secrets::none()).unwrap_err();
    assert!(matches!(e.root(), Error::PasswordRequired { .. }), "{e}");
    assert!(!e.to_string().contains("--"), "{e}");

    let _serial = softhsm::serial();
    let Some(h) = hsm() else { return };
    // A token key: the PIN is asked when the login needs it.
    let p = Arc::new(Counting { answer: Some(PIN), ..Default::default() });
    let k = pkcs11::open_key(&h.uri("qseal-rsa"), &Secrets::none().with_prompt(p.clone())).unwrap();
    k.sign(SignatureScheme::RsaPkcs1Sha256, b"x").unwrap();
    assert_eq!(p.pins.load(SeqCst), 1);
    // A given PIN wins: the prompt is not asked.
    let given = Secrets::none().with_pin(Secret::new(PIN)).with_prompt(p.clone());
    pkcs11::open_key(&h.uri("qseal-rsa"), &given).unwrap();
    assert_eq!(p.pins.load(SeqCst), 1);
    // A prompt with no answer: PIN required, flag-neutral.
    let none = Arc::new(Counting::default());
    let e = pkcs11::open_key(&h.uri("qseal-rsa"), &Secrets::none().with_prompt(none.clone())).unwrap_err();
    assert!(matches!(e, Error::PinRequired { .. }), "{e}");
    assert!(!e.to_string().contains("PSD2_SIGN"), "{e}");
    assert_eq!(none.pins.load(SeqCst), 1);
}
