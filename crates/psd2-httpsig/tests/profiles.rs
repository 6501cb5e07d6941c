//! Every profile signs and verifies; openssl agrees with the signatures and digests; verify
//! refuses tampered requests, each with its own reason. Keys and certificates are made with the
//! openssl CLI in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use psd2_eidas::{Certificate, FileKey};
use psd2_httpsig::keyid::{DnStyle, HexCase, KeyIdStyle, SerialForm};
use psd2_httpsig::profile::Profile;
use psd2_httpsig::profile::{self, PisEncoding};
use psd2_httpsig::{Error, Freshness, SignOptions, Signed, VerifyOptions, sign, verify};
use time::{Duration, OffsetDateTime};

fn openssl(args: &[&str]) -> std::process::Output {
    let out = Command::new("openssl").args(args).output().expect("openssl CLI");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

struct Pki {
    dir: tempfile::TempDir,
}

struct Tpp {
    key: FileKey,
    cert: Certificate,
    key_path: PathBuf,
    pub_path: PathBuf,
}

impl Pki {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn p(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_owned()
    }

    fn keygen(&self, name: &str, ec: bool) {
        let key = self.p(&format!("{name}.key"));
        if ec {
            openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", &key]);
        } else {
            openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &key]);
        }
        openssl(&["pkey", "-in", &key, "-pubout", "-out", &self.p(&format!("{name}.pub"))]);
    }

    /// A self-signed QSealC with this serial and a DN with spaces and organizationIdentifier.
    fn self_signed(&self, name: &str, ec: bool, serial: &str) -> Tpp {
        self.keygen(name, ec);
        self.req_x509(name, serial, &self.ext_file(), "seal");
        self.load(name)
    }

    /// A self-signed certificate whose extensions are exactly `ext` (openssl config lines), with
    /// an RSA key of `bits`.
    fn self_signed_ext(&self, name: &str, serial: &str, bits: u32, ext: &str) -> Tpp {
        self.self_signed_cert(name, serial, bits, ext);
        self.load(name)
    }

    /// [`Self::self_signed_ext`] without loading the key (`NAME.key`, `NAME.pem` are written).
    fn self_signed_cert(&self, name: &str, serial: &str, bits: u32, ext: &str) -> Certificate {
        let key = self.p(&format!("{name}.key"));
        openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", &format!("rsa_keygen_bits:{bits}"), "-out", &key]);
        let cnf = self.p(&format!("{name}.cnf"));
        std::fs::write(&cnf, format!("[req]\ndistinguished_name = dn\n[dn]\n[x]\n{ext}\n")).unwrap();
        self.req_x509(name, serial, &cnf, "x");
        psd2_eidas::load::load_certificates(&self.path(&format!("{name}.pem")), None).unwrap().remove(0)
    }

    /// `openssl req -x509` for the key `NAME.key`, writing `NAME.pem` with the TPP's DN and the
    /// extensions of `section` in `cnf`.
    fn req_x509(&self, name: &str, serial: &str, cnf: &str, section: &str) {
        let (key, out) = (self.p(&format!("{name}.key")), self.p(&format!("{name}.pem")));
        let dn = "/C=BE/O=Test TPP SA/organizationIdentifier=PSDBE-NBB-0999.888.777/CN=Test TPP Seal";
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &key,
            "-out",
            &out,
            "-days",
            "30",
            "-set_serial",
            serial,
            "-subj",
            dn,
            "-config",
            cnf,
            "-extensions",
            section,
        ]);
    }

    fn ca(&self) {
        self.ca_for_days("30");
    }

    /// The issuing CA (`ca.pem`, self-signed, CA:TRUE), valid for `days` from now.
    fn ca_for_days(&self, days: &str) {
        self.keygen("ca", false);
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &self.p("ca.key"),
            "-out",
            &self.p("ca.pem"),
            "-days",
            days,
            "-set_serial",
            "1",
            "-subj",
            "/C=BE/O=Test QTSP NV/CN=Test Issuing CA 2026",
        ]);
    }

    fn issued(&self, name: &str, serial: &str) -> Tpp {
        self.issued_by(name, serial, "ca")
    }

    /// An end-entity certificate for a new key `name`, signed by `issuer` (`ISSUER.pem/.key`).
    fn issued_by(&self, name: &str, serial: &str, issuer: &str) -> Tpp {
        self.keygen(name, false);
        openssl(&[
            "req",
            "-new",
            "-key",
            &self.p(&format!("{name}.key")),
            "-out",
            &self.p(&format!("{name}.csr")),
            "-subj",
            "/C=BE/O=Test TPP SA/CN=Test TPP Seal",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &self.p(&format!("{name}.csr")),
            "-CA",
            &self.p(&format!("{issuer}.pem")),
            "-CAkey",
            &self.p(&format!("{issuer}.key")),
            "-set_serial",
            serial,
            "-days",
            "30",
            // An X.509 v3 end-entity certificate, as every QSealC is (webpki refuses v1).
            "-extfile",
            &self.ext_file(),
            "-extensions",
            "seal",
            "-out",
            &self.p(&format!("{name}.pem")),
        ]);
        self.load(name)
    }

    /// The extensions of a seal certificate (section `seal`, also a `req -config`): a PSD2 QSealC.
    fn ext_file(&self) -> String {
        psd2_test_support::openssl::seal_config(self.dir.path()).display().to_string()
    }

    fn load(&self, name: &str) -> Tpp {
        let key_path = self.path(&format!("{name}.key"));
        let key = psd2_eidas::load::load_key(&key_path, None).unwrap();
        let cert = psd2_eidas::load::load_certificates(&self.path(&format!("{name}.pem")), None).unwrap().remove(0);
        Tpp { key, cert, key_path, pub_path: self.path(&format!("{name}.pub")) }
    }
}

/// A JSON body with an escaped quote and a non-ASCII UTF-8 character: hashed byte for byte.
const BODY: &[u8] =
    "{\"instructedAmount\":{\"currency\":\"EUR\",\"amount\":\"123.50\"},\"creditorName\":\"Caf\u{e9} \\\"Zo\\\"\"}"
        .as_bytes();

fn request(body: &[u8]) -> http::Request<Vec<u8>> {
    http::Request::post("https://api.bank.example/v1/payments/sepa-credit-transfers?x=1%202&y=b")
        .header("Content-Type", "application/json")
        .header("PSU-ID", "PSU-1234")
        .header("TPP-Redirect-URI", "https://tpp.example/cb?state=abc")
        .body(body.to_vec())
        .unwrap()
}

fn opts_for(profile: &Profile, tpp: &Tpp) -> SignOptions {
    let key_id = match profile.name {
        "stet" => Some(format!("https://tpp.example/certs/qseal_{}", tpp.cert.fingerprint_sha256())),
        "ing-call" => Some("example_client_id".to_owned()),
        _ => None,
    };
    SignOptions { key_id, ..SignOptions::default() }
}

fn vopts_for(profile: &Profile, tpp: &Tpp) -> VerifyOptions {
    let certificate = profile.certificate_header.is_none().then(|| tpp.cert.clone());
    VerifyOptions { certificate, ..VerifyOptions::default() }
}

fn signed(profile: &Profile, tpp: &Tpp) -> (http::Request<Vec<u8>>, Signed) {
    let mut req = request(BODY);
    let s = sign(profile, &mut req, &tpp.key, Some(&tpp.cert), &opts_for(profile, tpp)).unwrap();
    (req, s)
}

#[test]
fn every_profile_round_trips_rsa() {
    let pki = Pki::new();
    let tpp = pki.self_signed("rsa", false, "0x00C0FFEE42");
    for profile in profile::ALL {
        let (req, s) = signed(profile, &tpp);
        let v = verify(profile, &req, &vopts_for(profile, &tpp)).unwrap_or_else(|e| panic!("{}: {e}", profile.name));
        assert_eq!(v.signing_string, s.signing_string, "{}", profile.name);
        assert_eq!(psd2_httpsig::rebuilt_signing_string(profile, &req).unwrap(), s.signing_string);
        // The added headers are on the request.
        for (n, val) in &s.added {
            assert_eq!(req.headers().get(n), Some(val), "{}", profile.name);
        }
    }
}

#[test]
fn ec_keys_round_trip() {
    let pki = Pki::new();
    let tpp = pki.self_signed("ec", true, "0x1234");
    for profile in [&profile::BERLIN_GROUP, &profile::RFC9421, &profile::STET, &profile::ING_TOKEN] {
        let (req, s) = signed(profile, &tpp);
        verify(profile, &req, &vopts_for(profile, &tpp)).unwrap_or_else(|e| panic!("{}: {e}", profile.name));
        assert!(s.algorithm.contains("ecdsa"), "{}", s.algorithm);
    }
    // Belfius PIS is RS256 only.
    let mut req = request(BODY);
    let e = sign(&profile::BELFIUS_PIS, &mut req, &tpp.key, None, &SignOptions::default()).unwrap_err();
    assert!(matches!(e, Error::AlgorithmMismatch { .. }), "{e}");
}

fn header<'a>(req: &'a http::Request<Vec<u8>>, name: &str) -> &'a str {
    req.headers().get(name).unwrap_or_else(|| panic!("no {name}")).to_str().unwrap()
}

fn openssl_verify(pki: &Pki, tpp: &Tpp, data: &[u8], sig: &[u8], extra: &[&str]) {
    std::fs::write(pki.path("data.txt"), data).unwrap();
    std::fs::write(pki.path("sig.bin"), sig).unwrap();
    let (pubp, datap, sigp) = (tpp.pub_path.to_str().unwrap(), pki.p("data.txt"), pki.p("sig.bin"));
    let mut args = vec!["dgst"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-verify", pubp, "-signature", &sigp, &datap]);
    let out = openssl(&args);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Verified OK");
}

fn cavage_sig(req: &http::Request<Vec<u8>>, name: &str) -> Vec<u8> {
    let p = psd2_httpsig::cavage::SignatureParams::parse(header(req, name), name).unwrap();
    STANDARD.decode(p.signature).unwrap()
}

#[test]
fn openssl_agrees_with_signatures_and_digests() {
    let pki = Pki::new();
    let rsa = pki.self_signed("rsa", false, "0x9FA1");
    let ec = pki.self_signed("ec", true, "0x9FA2");

    // Berlin Group, RSA PKCS#1 v1.5 SHA-256, over the printed signing string.
    let (req, s) = signed(&profile::BERLIN_GROUP, &rsa);
    openssl_verify(&pki, &rsa, s.signing_string.as_bytes(), &cavage_sig(&req, "Signature"), &["-sha256"]);
    // The digest is what openssl computes over the body bytes.
    std::fs::write(pki.path("body.json"), BODY).unwrap();
    let d = Command::new("sh")
        .arg("-c")
        .arg(format!("openssl dgst -sha256 -binary {} | openssl base64 -A", pki.p("body.json")))
        .output()
        .unwrap();
    assert_eq!(header(&req, "Digest"), format!("SHA-256={}", String::from_utf8_lossy(&d.stdout).trim()));
    // The keyId names the certificate: lower-case hex serial, RFC 4514 issuer with %20.
    let p = psd2_httpsig::cavage::SignatureParams::parse(header(&req, "Signature"), "Signature").unwrap();
    assert!(p.key_id.starts_with("SN=9fa1,CA=CN=Test%20TPP%20Seal,2.5.4.97=#"), "{}", p.key_id);
    assert!(p.key_id.ends_with(",O=Test%20TPP%20SA,C=BE"), "{}", p.key_id);
    assert_eq!(p.headers.as_ref().unwrap().join(" "), "digest x-request-id psu-id tpp-redirect-uri");

    // ECDSA in cavage headers is DER, as openssl (and Java) expect.
    let (req, s) = signed(&profile::BERLIN_GROUP, &ec);
    openssl_verify(&pki, &ec, s.signing_string.as_bytes(), &cavage_sig(&req, "Signature"), &["-sha256"]);

    // ING token call: Authorization carrier.
    let (req, s) = signed(&profile::ING_TOKEN, &rsa);
    openssl_verify(&pki, &rsa, s.signing_string.as_bytes(), &cavage_sig(&req, "Authorization"), &["-sha256"]);

    // RFC 9421 RSA-PSS SHA-512 (salt 64).
    let (req, s) = signed(&profile::RFC9421, &rsa);
    let sig = header(&req, "Signature");
    let b64 = sig.split_once("=:").unwrap().1.trim_end_matches(':');
    openssl_verify(
        &pki,
        &rsa,
        s.signing_string.as_bytes(),
        &STANDARD.decode(b64).unwrap(),
        &[
            "-sha512",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:64",
            "-sigopt",
            "rsa_mgf1_md:sha512",
        ],
    );
    let cd = Command::new("sh")
        .arg("-c")
        .arg(format!("openssl dgst -sha256 -binary {} | openssl base64 -A", pki.p("body.json")))
        .output()
        .unwrap();
    assert_eq!(header(&req, "Content-Digest"), format!("sha-256=:{}:", String::from_utf8_lossy(&cd.stdout).trim()));

    // Belfius PIS: RS256 over B64(header).B64(body).
    let (req, s) = signed(&profile::BELFIUS_PIS, &rsa);
    let sig = header(&req, "Signature").rsplit_once('.').unwrap().1.to_owned();
    openssl_verify(&pki, &rsa, s.signing_string.as_bytes(), &STANDARD.decode(sig).unwrap(), &["-sha256"]);
}

#[test]
fn given_headers_are_kept_verbatim() {
    let pki = Pki::new();
    let tpp = pki.self_signed("rsa", false, "0x42");
    let mut req = request(BODY);
    // The certificate is made now, so the given Date is a minute ago (no fixed calendar date).
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let date = psd2_httpsig::format_date(profile::DateForm::ImfFixdate, now - Duration::minutes(1)).unwrap();
    for (n, v) in [("Date", date.as_str()), ("X-Request-ID", "99391c7e-ad88-49ec-a2ad-99ddcb1f7721")] {
        req.headers_mut().insert(n, v.parse().unwrap());
    }
    let s =
        sign(&profile::BERLIN_GROUP, &mut req, &tpp.key, Some(&tpp.cert), &SignOptions { now, ..Default::default() })
            .unwrap();
    assert_eq!(header(&req, "Date"), date);
    assert_eq!(header(&req, "X-Request-ID"), "99391c7e-ad88-49ec-a2ad-99ddcb1f7721");
    let added: Vec<&str> = s.added.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(added, ["digest", "tpp-signature-certificate", "signature"]);
    assert!(s.signing_string.contains("\nx-request-id: 99391c7e-ad88-49ec-a2ad-99ddcb1f7721\n"));
    // The verifier with a clock one minute later accepts it; ten minutes later it refuses the Date.
    verify(&profile::BERLIN_GROUP, &req, &VerifyOptions { now, ..Default::default() }).unwrap();
    let late = VerifyOptions { now: now + Duration::minutes(10), ..Default::default() };
    let e = verify(&profile::BERLIN_GROUP, &req, &late).unwrap_err();
    assert!(matches!(e, Error::OutsideWindow { ref header, .. } if header == "Date"), "{e}");
    assert!(e.to_string().contains(&format!("Date {date} is 11m 0s in the past")), "{e}");
    // A wider window accepts it again.
    verify(&profile::BERLIN_GROUP, &req, &VerifyOptions { skew: Duration::minutes(15), ..late }).unwrap();
}

#[test]
fn profile_specific_headers() {
    let pki = Pki::new();
    let tpp = pki.self_signed("rsa", false, "0x5E4299BE");
    let now = time::macros::datetime!(2018-08-04 12:23:34 UTC);

    let mut req = request(BODY);
    req.headers_mut().insert("Client-Id", "my-client".parse().unwrap());
    let o = SignOptions { now, ..Default::default() };
    let s = sign(&profile::BELFIUS_FALLBACK, &mut req, &tpp.key, Some(&tpp.cert), &o).unwrap();
    assert_eq!(header(&req, "Date"), "2018-08-04T12:23:34Z");
    assert!(header(&req, "Digest").starts_with("SHA256="));
    assert!(req.headers().contains_key("Request-Id"));
    assert!(!req.headers().contains_key("TPP-Signature-Certificate"));
    assert!(s.signing_string.starts_with(
        "(request-target): post /v1/payments/sepa-credit-transfers?x=1%202&y=b\ndate: 2018-08-04T12:23:34Z\ndigest: SHA256="
    ));
    assert!(s.signing_string.ends_with("\nclient-id: my-client"));

    let (req, s) = signed(&profile::ING_TOKEN, &tpp);
    let auth = header(&req, "Authorization");
    assert!(
        auth.starts_with(
            r#"Signature keyId="SN=5E4299BE",algorithm="rsa-sha256",headers="(request-target) date digest",signature=""#
        ),
        "{auth}"
    );
    assert!(header(&req, "TPP-Signature-Certificate").starts_with("-----BEGIN CERTIFICATE-----MII"));
    assert!(s.signing_string.starts_with("(request-target): post /v1/payments"));

    // `ing` with a client id is the later-call profile.
    let later = Profile::by_name("ing").unwrap().resolve(true);
    assert_eq!(later.name, "ing-call");

    // STET needs the URL; the fingerprint suffix pins the certificate.
    let mut req = request(BODY);
    let e = sign(&profile::STET, &mut req, &tpp.key, Some(&tpp.cert), &SignOptions::default()).unwrap_err();
    assert!(matches!(e, Error::NeedsValue { .. }), "{e}");
    let (req, s) = signed(&profile::STET, &tpp);
    assert_eq!(
        s.covered,
        ["(request-target)", "digest", "date", "content-type", "x-request-id", "psu-id"].map(String::from)
    );
    let other = pki.self_signed("other", false, "0x77");
    let e = verify(&profile::STET, &req, &VerifyOptions { certificate: Some(other.cert), ..Default::default() })
        .unwrap_err();
    assert!(matches!(e, Error::KeyIdMismatch { .. }), "{e}");

    // RFC 9421 carries created, keyid and alg.
    let (req, _) = signed(&profile::RFC9421, &tpp);
    let si = header(&req, "Signature-Input");
    assert!(
        si.starts_with(r#"sig1=("@method" "@target-uri" "content-digest" "content-type" "x-request-id");created="#),
        "{si}"
    );
    assert!(si.ends_with(r#";alg="rsa-pss-sha512""#), "{si}");
}

#[test]
fn belfius_pis_encodings() {
    let pki = Pki::new();
    let tpp = pki.self_signed("rsa", false, "0x1");
    let (req, _) = signed(&profile::BELFIUS_PIS, &tpp);
    let v = header(&req, "Signature");
    let parts: Vec<&str> = v.split('.').collect();
    assert_eq!(parts[0], STANDARD.encode(br#"{"typ":"JWT","alg":"RS256"}"#));
    assert_eq!(STANDARD.decode(parts[1]).unwrap(), BODY);
    let vo = vopts_for(&profile::BELFIUS_PIS, &tpp);
    // base64url as an option, and the verifier accepts both.
    let mut req = request(BODY);
    let o = SignOptions { pis_encoding: PisEncoding::Url, ..Default::default() };
    sign(&profile::BELFIUS_PIS, &mut req, &tpp.key, None, &o).unwrap();
    let v = header(&req, "Signature");
    assert_eq!(v.split('.').nth(1).unwrap(), URL_SAFE_NO_PAD.encode(BODY));
    verify(&profile::BELFIUS_PIS, &req, &vo).unwrap();
    // Another body: refused, naming the payload.
    *req.body_mut() = b"{}".to_vec();
    let e = verify(&profile::BELFIUS_PIS, &req, &vo).unwrap_err();
    assert!(matches!(e, Error::PayloadMismatch { .. }), "{e}");
    // No certificate: a clear error.
    let e = verify(&profile::BELFIUS_PIS, &req, &VerifyOptions::default()).unwrap_err();
    assert!(matches!(e, Error::MissingCertificate(_)), "{e}");
}

fn set(req: &mut http::Request<Vec<u8>>, name: &str, value: &str) {
    req.headers_mut().insert(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
}

#[test]
fn verify_rejects_each_tampering_with_its_own_reason() {
    let pki = Pki::new();
    let tpp = pki.self_signed("rsa", false, "0x0A0B0C");
    let bg = &profile::BERLIN_GROUP;
    let vo = VerifyOptions::default();
    let (good, _) = signed(bg, &tpp);
    verify(bg, &good, &vo).unwrap();
    let msg = |r: &http::Request<Vec<u8>>| verify(bg, r, &vo).unwrap_err();

    // Changed body.
    let mut r = good.clone();
    *r.body_mut() = BODY.iter().map(|b| if *b == b'3' { b'4' } else { *b }).collect();
    let e = msg(&r);
    assert!(matches!(e, Error::DigestMismatch { ref header, .. } if header == "Digest"), "{e}");
    assert!(e.to_string().starts_with("Digest header: SHA-256 digest mismatch"), "{e}");

    // Changed signed header.
    let mut r = good.clone();
    set(&mut r, "PSU-ID", "PSU-9999");
    let e = msg(&r);
    assert!(matches!(e, Error::BadSignature { .. }), "{e}");
    assert!(e.to_string().contains("signature does not verify"), "{e}");

    // Removed signed header.
    let mut r = good.clone();
    r.headers_mut().remove("X-Request-ID");
    let e = msg(&r);
    assert!(matches!(e, Error::MissingHeader { ref header, .. } if header == "x-request-id"), "{e}");

    // Removed digest.
    let mut r = good.clone();
    r.headers_mut().remove("Digest");
    assert!(matches!(msg(&r), Error::MissingHeader { ref header, .. } if header == "Digest"));

    // Wrong keyId serial (a correctly signed request whose keyId names another certificate).
    let mut r = request(BODY);
    let o = SignOptions { key_id: Some("SN=0a0b0d,CA=CN=Whatever".into()), ..Default::default() };
    sign(bg, &mut r, &tpp.key, Some(&tpp.cert), &o).unwrap();
    let e = msg(&r);
    assert!(matches!(e, Error::KeyIdSerialMismatch { .. }), "{e}");
    assert!(e.to_string().contains("keyId serial 0a0b0d does not match the certificate serial a0b0c"), "{e}");

    // Right serial, wrong CA.
    let mut r = request(BODY);
    let o = SignOptions { key_id: Some("SN=A0B0C,CA=CN=Other CA,C=BE".into()), ..Default::default() };
    sign(bg, &mut r, &tpp.key, Some(&tpp.cert), &o).unwrap();
    assert!(matches!(msg(&r), Error::KeyIdIssuerMismatch { .. }));

    // The expected certificate is another one.
    let other = pki.self_signed("other", false, "0x0A0B0C");
    let e =
        verify(bg, &good, &VerifyOptions { certificate: Some(other.cert.clone()), ..Default::default() }).unwrap_err();
    assert!(matches!(e, Error::CertificateMismatch { .. }), "{e}");
    // Another certificate swapped into the header (same serial and issuer DN): the key differs.
    let mut r = good.clone();
    set(&mut r, "TPP-Signature-Certificate", &STANDARD.encode(other.cert.der()));
    assert!(matches!(msg(&r), Error::BadSignature { .. }));

    // Date beyond the window.
    let e =
        verify(bg, &good, &VerifyOptions { now: OffsetDateTime::now_utc() - Duration::hours(1), ..Default::default() })
            .unwrap_err();
    assert!(matches!(e, Error::OutsideWindow { ref header, .. } if header == "Date"), "{e}");

    // A required header left out of `headers`.
    let mut r = good.clone();
    let sig = header(&good, "Signature").replace("digest x-request-id psu-id", "digest psu-id");
    set(&mut r, "Signature", &sig);
    let e = msg(&r);
    assert!(matches!(e, Error::NotCovered { ref component, .. } if component == "x-request-id"), "{e}");
}

#[test]
fn malformed_headers_are_clear_errors() {
    let pki = Pki::new();
    let tpp = pki.self_signed("rsa", false, "0x10");
    let bg = &profile::BERLIN_GROUP;
    let (good, _) = signed(bg, &tpp);
    let sig = header(&good, "Signature").to_owned();
    let check = |value: &str, want: fn(&Error) -> bool| {
        let mut r = good.clone();
        set(&mut r, "Signature", value);
        let e = verify(bg, &r, &VerifyOptions::default()).unwrap_err();
        assert!(want(&e), "{value}: {e}");
        e.to_string()
    };
    let e = check(&sig.replacen("keyId=\"", "keyId=", 1), |e| matches!(e, Error::Malformed { .. }));
    assert!(e.contains("Signature"), "{e}");
    check(&sig.replace("rsa-sha256", "rsa-sha1024"), |e| matches!(e, Error::UnknownAlgorithm { .. }));
    check(&sig.replace("rsa-sha256", "ecdsa-sha256"), |e| matches!(e, Error::AlgorithmMismatch { .. }));
    let no_sig = sig.split(",signature=").next().unwrap().to_owned();
    check(&no_sig, |e| matches!(e, Error::MissingParameter { param, .. } if param == "signature"));
    check(&format!("{no_sig},signature=\"***not base64***\""), |e| matches!(e, Error::NotBase64 { .. }));
    check("", |e| matches!(e, Error::MissingParameter { .. }));
    check("\"\"\"", |e| matches!(e, Error::Malformed { .. }));
    // Malformed digest and certificate headers.
    let mut r = good.clone();
    set(&mut r, "Digest", "SHA-256");
    assert!(matches!(verify(bg, &r, &VerifyOptions::default()), Err(Error::Malformed { .. })));
    let mut r = good.clone();
    set(&mut r, "TPP-Signature-Certificate", "bm90IGEgY2VydA==");
    assert!(matches!(verify(bg, &r, &VerifyOptions::default()), Err(Error::BadCertificate { .. })));
    // RFC 9421 garbage.
    let rp = &profile::RFC9421;
    let (good, _) = signed(rp, &tpp);
    for (n, v) in [
        ("Signature-Input", "sig1=(\"@method\""),
        ("Signature", "sig1=abc"),
        ("Signature-Input", "sig1=(\"@method\");alg=\"rsa-md5\""),
    ] {
        let mut r = good.clone();
        set(&mut r, n, v);
        let e = verify(rp, &r, &VerifyOptions::default()).unwrap_err();
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn rfc9421_created_and_expires_windows() {
    let pki = Pki::new();
    let tpp = pki.self_signed("rsa", false, "0x11");
    let rp = &profile::RFC9421;
    let now = OffsetDateTime::now_utc();
    let mut req = request(BODY);
    let o = SignOptions { expires_in: Some(Duration::seconds(60)), ..Default::default() };
    sign(rp, &mut req, &tpp.key, Some(&tpp.cert), &o).unwrap();
    verify(rp, &req, &VerifyOptions::default()).unwrap();
    let e = verify(rp, &req, &VerifyOptions { now: now + Duration::seconds(120), ..Default::default() }).unwrap_err();
    assert!(matches!(e, Error::Expired { .. }), "{e}");
    let e = verify(rp, &req, &VerifyOptions { now: now - Duration::minutes(30), ..Default::default() }).unwrap_err();
    assert!(matches!(e, Error::OutsideWindow { .. }), "{e}");
    // Tampered body: Content-Digest named.
    *req.body_mut() = b"{}".to_vec();
    let e = verify(rp, &req, &VerifyOptions::default()).unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { ref header, .. } if header == "Content-Digest"), "{e}");
}

#[test]
fn key_id_normalisations_all_verify() {
    let pki = Pki::new();
    let tpp = pki.self_signed("rsa", false, "0x00F00D");
    let bg = &profile::BERLIN_GROUP;
    for style in [
        KeyIdStyle::default(),
        KeyIdStyle { hex: HexCase::Upper, ..Default::default() },
        KeyIdStyle { serial: SerialForm::DerBytes, hex: HexCase::Upper, ..Default::default() },
        KeyIdStyle { dn: DnStyle::OpensslOneline, ..Default::default() },
        KeyIdStyle { dn: DnStyle::OpensslOneline, percent_spaces: false, ..Default::default() },
        KeyIdStyle { percent_spaces: false, ..Default::default() },
    ] {
        let key_id = style.key_id(&tpp.cert);
        let mut req = request(BODY);
        let o = SignOptions { key_id: Some(key_id.clone()), ..Default::default() };
        sign(bg, &mut req, &tpp.key, Some(&tpp.cert), &o).unwrap();
        verify(bg, &req, &VerifyOptions::default()).unwrap_or_else(|e| panic!("{key_id}: {e}"));
    }
    assert_eq!(KeyIdStyle { serial: SerialForm::DerBytes, ..Default::default() }.serial(&tpp.cert), "00f00d");
    // Hand-written variants banks use.
    for key_id in [
        "SN=F00D,CA=CN=Test TPP Seal,OID.2.5.4.97=PSDBE-NBB-0999.888.777,O=Test TPP SA,C=BE",
        "SN=f00d,CA=C=BE, O=Test TPP SA, organizationIdentifier=PSDBE-NBB-0999.888.777, CN=Test TPP Seal",
        "SN=0xF00D,CA=cn=test tpp seal,2.5.4.97=PSDBE-NBB-0999.888.777,o=test tpp sa,c=be",
    ] {
        psd2_httpsig::keyid::check_berlin_group(key_id, &tpp.cert, "Signature")
            .unwrap_or_else(|e| panic!("{key_id}: {e}"));
    }
}

#[test]
fn issuing_ca_is_checked() {
    let pki = Pki::new();
    pki.ca();
    let tpp = pki.issued("leaf", "0x2026");
    let ca = psd2_eidas::load::load_certificates(&pki.path("ca.pem"), None).unwrap();
    let bg = &profile::BERLIN_GROUP;
    let (req, _) = signed(bg, &tpp);
    verify(bg, &req, &VerifyOptions { ca: ca.clone(), ..Default::default() }).unwrap();
    let stranger = pki.self_signed("stranger", false, "0x3");
    let e = verify(bg, &req, &VerifyOptions { ca: vec![stranger.cert], ..Default::default() }).unwrap_err();
    assert!(matches!(e, Error::BadCertificate { .. }), "{e}");
    assert!(e.to_string().contains("was not issued by any given CA"), "{e}");
    let late = OffsetDateTime::now_utc() + Duration::days(60);
    let e =
        verify(bg, &req, &VerifyOptions { ca, now: late, skew: Duration::days(61), ..Default::default() }).unwrap_err();
    assert!(e.to_string().contains("is not valid at"), "{e}");
    let _ = Path::new(&tpp.key_path);
}

#[test]
fn cavage_created_and_expires_and_digest_warning() {
    let pki = Pki::new();
    let tpp = pki.self_signed("rsa", false, "0x12");
    let stet = &profile::STET;
    let mut req = request(BODY);
    let now = OffsetDateTime::now_utc();
    let o = SignOptions {
        extra_covered: vec!["(created)".into(), "(expires)".into()],
        expires_in: Some(Duration::seconds(30)),
        ..opts_for(stet, &tpp)
    };
    let s = sign(stet, &mut req, &tpp.key, Some(&tpp.cert), &o).unwrap();
    let sig = header(&req, "Signature");
    assert!(sig.contains(",created=") && sig.contains(",expires="), "{sig}");
    assert!(s.signing_string.contains("\n(created): "), "{}", s.signing_string);
    let vo = vopts_for(stet, &tpp);
    verify(stet, &req, &vo).unwrap();
    let late = VerifyOptions { now: now + Duration::minutes(2), ..vo.clone() };
    let e = verify(stet, &req, &late).unwrap_err();
    assert!(matches!(e, Error::Expired { .. }), "{e}");

    // A given Digest is kept verbatim; when it does not match the body the signer says so.
    let mut req = request(BODY);
    set(&mut req, "Digest", "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    let s = sign(&profile::BERLIN_GROUP, &mut req, &tpp.key, Some(&tpp.cert), &SignOptions::default()).unwrap();
    assert_eq!(header(&req, "Digest"), "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(s.warnings[0].contains("Digest"), "{:?}", s.warnings);
}

/// The chain is validated like a bank's TLS stack would (rustls-webpki), plus the anchor.
#[test]
fn path_validation_refuses_what_a_bank_refuses() {
    let bg = &profile::BERLIN_GROUP;
    let pki = Pki::new();
    pki.ca_for_days("1");
    let ca = psd2_eidas::load::load_certificates(&pki.path("ca.pem"), None).unwrap();
    let leaf = pki.issued("leaf", "0x10");
    // A leaf used as an intermediate: its "child" is refused.
    let child = pki.issued_by("child", "0x11", "leaf");
    let (req, _) = signed(bg, &child);
    let o = VerifyOptions { ca: ca.clone(), intermediates: vec![leaf.cert.clone()], ..Default::default() };
    let e = verify(bg, &req, &o).unwrap_err();
    assert!(e.to_string().contains("not a CA"), "{e}");
    // The leaf itself verifies, and says against which anchor.
    let (req, _) = signed(bg, &leaf);
    let v = verify(bg, &req, &VerifyOptions { ca: ca.clone(), ..Default::default() }).unwrap();
    assert_eq!(v.anchor.as_ref(), Some(&ca[0]));
    assert!(verify(bg, &req, &VerifyOptions::default()).unwrap().anchor.is_none());
    // The anchor expired (one day) while the leaf (30 days) is still valid: refused.
    let later = OffsetDateTime::now_utc() + Duration::days(3);
    let o = VerifyOptions { ca: ca.clone(), now: later, skew: Duration::days(4), ..Default::default() };
    let e = verify(bg, &req, &o).unwrap_err();
    assert!(
        e.to_string().contains("the CA C=BE, O=Test QTSP NV, CN=Test Issuing CA 2026")
            && e.to_string().contains("is not valid at"),
        "{e}"
    );
    // A seal made with the CA certificate itself: refused, even though it chains to itself.
    let ca_signer = pki.load("ca");
    let (req, _) = signed(bg, &ca_signer);
    let e = verify(bg, &req, &VerifyOptions { ca: ca.clone(), ..Default::default() }).unwrap_err();
    assert!(e.to_string().contains("is a CA certificate"), "{e}");
}

/// qcStatements of a PSD2 QWAC: as the QSealC's, with QcType web.
const QWAC_QC_STATEMENTS: &str = "30623008060604008e4601013013060604008e4601063009060704008e46010603304106060400819827023037\
                                  301330110607040081982701030c065053505f41490c184e6174696f6e616c2042616e6b206f662042656c\
                                  6769756d0c0642452d4e4242";

/// What may seal: under berlin-group, stet and ing only a QSealC with a PSD2 role; a CA never;
/// a development flag relaxes the eIDAS part (with a warning), never the CA part.
#[test]
fn seal_certificate_rules() {
    let pki = Pki::new();
    let plain = pki.self_signed_ext("plain", "0x21", 2048, "basicConstraints = critical, CA:FALSE");
    let qwac = pki.self_signed_ext(
        "qwac",
        "0x22",
        2048,
        &format!("basicConstraints = critical, CA:FALSE\nextendedKeyUsage = clientAuth\n1.3.6.1.5.5.7.1.3 = DER:{QWAC_QC_STATEMENTS}"),
    );
    let ca = pki.self_signed_ext("ca", "0x23", 2048, "basicConstraints = critical, CA:TRUE");
    for p in [&profile::BERLIN_GROUP, &profile::STET, &profile::ING_TOKEN, &profile::ING_CALL] {
        let (req, _) = signed(p, &plain);
        let e = verify(p, &req, &vopts_for(p, &plain)).unwrap_err();
        assert!(matches!(e, Error::NotASealCertificate { .. }), "{}: {e}", p.name);
        assert!(e.to_string().contains("it is not a QSealC") && e.to_string().contains("no PSD2 role"), "{e}");
        let dev = VerifyOptions { dangerous_skip_eidas_checks: true, ..vopts_for(p, &plain) };
        let v = verify(p, &req, &dev).unwrap();
        assert!(v.warnings.iter().any(|w| w.starts_with("eIDAS checks skipped (dangerous)")), "{:?}", v.warnings);

        let (req, _) = signed(p, &qwac);
        let e = verify(p, &req, &vopts_for(p, &qwac)).unwrap_err();
        assert!(e.to_string().contains("it is a QWAC (QcType web)"), "{}: {e}", p.name);

        let (req, _) = signed(p, &ca);
        let dev = VerifyOptions { dangerous_skip_eidas_checks: true, ..vopts_for(p, &ca) };
        let e = verify(p, &req, &dev).unwrap_err();
        assert!(e.to_string().contains("it is a CA certificate"), "{}: {e}", p.name);
    }
    // Profiles without a QSealC rule accept the plain certificate, warning that a PSD2 bank would not.
    for p in [&profile::RFC9421, &profile::BELFIUS_FALLBACK, &profile::BELFIUS_PIS] {
        let (req, _) = signed(p, &plain);
        let v = verify(p, &req, &vopts_for(p, &plain)).unwrap();
        assert!(
            v.warnings.iter().any(|w| w.contains("a PSD2 bank refuses such a seal")),
            "{}: {:?}",
            p.name,
            v.warnings
        );
        let (req, _) = signed(p, &ca);
        assert!(verify(p, &req, &vopts_for(p, &ca)).unwrap_err().to_string().contains("is a CA certificate"));
    }
}

/// RSA below 2048 bits is refused for the key itself, whatever the signature; the legacy policy
/// is an explicit opt-in. (This crate cannot load a 1024-bit private key: openssl signs.)
#[test]
fn rsa_1024_only_by_opt_in() {
    let pki = Pki::new();
    let ext = format!(
        "basicConstraints = critical, CA:FALSE\n1.3.6.1.5.5.7.1.3 = DER:{}",
        psd2_test_support::openssl::QSEALC_QC_STATEMENTS
    );
    // Same names and serial, so the keyId fits both.
    let strong = pki.self_signed_ext("strong", "0x24", 2048, &ext);
    let weak = pki.self_signed_cert("weak", "0x24", 1024, &ext);
    let bg = &profile::BERLIN_GROUP;
    let (mut req, s) = signed(bg, &strong);
    std::fs::write(pki.path("sstr"), &s.signing_string).unwrap();
    openssl(&["dgst", "-sha256", "-sign", &pki.p("weak.key"), "-out", &pki.p("weak.sig"), &pki.p("sstr")]);
    let sig = STANDARD.encode(std::fs::read(pki.path("weak.sig")).unwrap());
    let old = header(&req, "Signature").to_owned();
    let head = &old[..old.find("signature=\"").unwrap()];
    set(&mut req, "Signature", &format!("{head}signature=\"{sig}\""));
    set(&mut req, "TPP-Signature-Certificate", &STANDARD.encode(weak.der()));
    let e = verify(bg, &req, &VerifyOptions::default()).unwrap_err();
    assert!(matches!(e, Error::WeakKey { .. }), "{e}");
    assert!(e.to_string().contains("an RSA-1024 key is refused: the minimum is RSA 2048 bits"), "{e}");
    let legacy = VerifyOptions { key_policy: psd2_eidas::KeyPolicy::DangerousLegacyRsa1024, ..Default::default() };
    let v = verify(bg, &req, &legacy).unwrap();
    assert_eq!(v.certificate, weak);
}

/// A header that must appear once appears twice: refused, naming it.
#[test]
fn duplicate_headers_are_refused() {
    let pki = Pki::new();
    let tpp = pki.self_signed("rsa", false, "0x25");
    let bg = &profile::BERLIN_GROUP;
    for name in ["Signature", "TPP-Signature-Certificate", "Digest"] {
        let (mut req, _) = signed(bg, &tpp);
        let v = header(&req, name).to_owned();
        req.headers_mut().append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), v.parse().unwrap());
        let e = verify(bg, &req, &vopts_for(bg, &tpp)).unwrap_err();
        assert!(matches!(&e, Error::DuplicateHeader { header, count: 2 } if header == name), "{name}: {e}");
        assert_eq!(e.to_string(), format!("header {name} appears 2 times: a sealed request carries it once"));
    }
    let stet = &profile::STET;
    let (mut req, _) = signed(stet, &tpp);
    let v = header(&req, "Date").to_owned();
    req.headers_mut().append("date", v.parse().unwrap());
    let e = verify(stet, &req, &vopts_for(stet, &tpp)).unwrap_err();
    assert!(matches!(&e, Error::DuplicateHeader { header, .. } if header == "Date"), "{e}");
    // RFC 9421: the same label on two Signature-Input lines.
    let rfc = &profile::RFC9421;
    let (mut req, _) = signed(rfc, &tpp);
    let v = header(&req, "Signature-Input").to_owned();
    req.headers_mut().append("signature-input", v.parse().unwrap());
    let e = verify(rfc, &req, &vopts_for(rfc, &tpp)).unwrap_err();
    assert!(e.to_string().starts_with("header Signature-Input (label sig1) appears 2 times"), "{e}");
}

/// Verified says whether a signed time proved the request fresh; a berlin-group keyId without
/// CA= is accepted with a warning.
#[test]
fn freshness_and_key_id_warnings() {
    let pki = Pki::new();
    let tpp = pki.self_signed("rsa", false, "0x26");
    let cases: [(&Profile, Freshness); 4] = [
        (&profile::BERLIN_GROUP, Freshness::NotChecked { why: "" }),
        (&profile::STET, Freshness::Checked { signed: "Date" }),
        (&profile::RFC9421, Freshness::Checked { signed: "created" }),
        (&profile::BELFIUS_PIS, Freshness::NotChecked { why: "" }),
    ];
    for (p, want) in cases {
        let (req, _) = signed(p, &tpp);
        let v = verify(p, &req, &vopts_for(p, &tpp)).unwrap();
        match (&v.freshness, &want) {
            (Freshness::Checked { signed }, Freshness::Checked { signed: w }) => assert_eq!(signed, w, "{}", p.name),
            (Freshness::NotChecked { why }, Freshness::NotChecked { .. }) => assert!(!why.is_empty()),
            (got, _) => panic!("{}: {got}", p.name),
        }
        assert!(v.warnings.is_empty(), "{}: {:?}", p.name, v.warnings);
    }
    let bg = &profile::BERLIN_GROUP;
    let o = SignOptions { key_id: Some(format!("SN={}", tpp.cert.serial_hex())), ..SignOptions::default() };
    let mut req = request(BODY);
    sign(bg, &mut req, &tpp.key, Some(&tpp.cert), &o).unwrap();
    let v = verify(bg, &req, &VerifyOptions::default()).unwrap();
    assert_eq!(v.warnings, ["keyId has no CA= part (issuer name): strict Berlin Group banks refuse it"]);
}
