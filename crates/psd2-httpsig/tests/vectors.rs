//! Every published vector in tests/vectors (cavage-10 Appendix C, RFC 9421 Appendix B and
//! §4.3, RFC 9530 Appendix D), byte-exact where the algorithm is deterministic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use psd2_eidas::{KeyPolicy, PublicKey, SignatureScheme, Signer};
use psd2_httpsig::cavage::{self, SignatureParams};
use psd2_httpsig::digest::{self, DigestAlgorithm};
use psd2_httpsig::rfc9421::{self, Algorithm, VerifyingKey};
use psd2_httpsig::{Error, Message};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors");

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{VECTORS}/{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn text(rel: &str) -> String {
    String::from_utf8(read(rel)).unwrap()
}

fn json(rel: &str) -> serde_json::Value {
    serde_json::from_slice(&read(rel)).unwrap()
}

fn spki(rel: &str) -> PublicKey {
    let blocks = psd2_eidas::pem::parse(&read(rel)).unwrap();
    PublicKey::from_spki(&blocks[0].der).unwrap()
}

fn key(rel: &str) -> psd2_eidas::FileKey {
    psd2_eidas::load::load_key(std::path::Path::new(&format!("{VECTORS}/{rel}")), None).unwrap()
}

/// Parses an HTTP/1.1 message file: request or response, CRLF or LF, body cut to Content-Length.
enum Parsed {
    Request(http::Request<Vec<u8>>),
    Response(http::Response<Vec<u8>>),
}

fn parse_http(raw: &[u8]) -> Parsed {
    let s = String::from_utf8(raw.to_vec()).unwrap();
    let (head, body) = s.split_once("\r\n\r\n").or_else(|| s.split_once("\n\n")).unwrap();
    let mut lines = head.lines().map(|l| l.trim_end_matches('\r'));
    let start = lines.next().unwrap();
    let mut headers = Vec::new();
    for l in lines {
        let (n, v) = l.split_once(':').unwrap();
        headers.push((n.trim().to_owned(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(body.len());
    let body = body.as_bytes()[..len].to_vec();
    if let Some(rest) = start.strip_prefix("HTTP/1.1 ") {
        let status: u16 = rest[..3].parse().unwrap();
        let mut b = http::Response::builder().status(status);
        for (n, v) in &headers {
            b = b.header(n, v);
        }
        Parsed::Response(b.body(body).unwrap())
    } else {
        let mut parts = start.split(' ');
        let (method, target) = (parts.next().unwrap(), parts.next().unwrap());
        let mut b = http::Request::builder().method(method).uri(target);
        for (n, v) in &headers {
            b = b.header(n, v);
        }
        Parsed::Request(b.body(body).unwrap())
    }
}

fn request(rel: &str) -> http::Request<Vec<u8>> {
    match parse_http(&read(rel)) {
        Parsed::Request(r) => r,
        Parsed::Response(_) => panic!("{rel} is a response"),
    }
}

// ---------------------------------------------------------------- cavage-10, Appendix C

#[test]
fn cavage10_signing_strings_and_signatures() {
    let req = request("cavage10/request.http");
    assert_eq!(req.body().as_slice(), br#"{"hello": "world"}"#);
    let msg = Message::request(&req);
    let pk = spki("cavage10/test-key.pub.pem");
    let v = json("cavage10/vectors.json");
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let file = text(&format!("cavage10/{id}.signing-string.txt"));
        // The Signature header of the vector, parsed; the signing string rebuilt from the request.
        let params = SignatureParams::parse(case["signature_header"].as_str().unwrap(), "Signature").unwrap();
        assert_eq!(params.headers.as_ref().map(|h| h.join(" ")).as_deref(), case["headers_param"].as_str(), "{id}");
        let built = cavage::signing_string(&msg, &params.covered(), None, None).unwrap();
        assert_eq!(built, file, "{id}: signing string");
        assert_eq!(built, case["signing_string"].as_str().unwrap(), "{id}");
        // The signature verifies with the 1024-bit key (deterministic PKCS#1 v1.5), but only by
        // the explicit legacy opt-in: the default policy refuses the key itself.
        let scheme = cavage::scheme_for(params.algorithm.as_deref(), pk.kind(), "Signature").unwrap();
        assert_eq!(scheme, SignatureScheme::RsaPkcs1Sha256);
        let sig = params.signature_bytes("Signature").unwrap();
        let weak = pk.verify(scheme, built.as_bytes(), &sig).unwrap_err();
        assert!(matches!(weak, psd2_eidas::Error::WeakKey { .. }), "{id}: {weak}");
        assert_eq!(weak.to_string(), "an RSA-1024 key is refused: the minimum is RSA 2048 bits");
        pk.verify_with(KeyPolicy::DangerousLegacyRsa1024, scheme, built.as_bytes(), &sig).unwrap();
        assert_eq!(STANDARD.encode(&sig), case["signature"].as_str().unwrap());
        // Serialising the parsed parameters gives the vector's header values back byte for byte.
        assert_eq!(params.to_header_value(), case["signature_header"].as_str().unwrap(), "{id}");
        let auth = cavage::Carrier::Authorization.value(&params);
        assert_eq!(auth, case["authorization_header"].as_str().unwrap(), "{id}");
        let from_auth = SignatureParams::parse(&auth, "Authorization").unwrap();
        assert_eq!(from_auth, params);
        // A changed request no longer verifies.
        let mut other = built.clone();
        other.push(' ');
        assert!(matches!(
            pk.verify_with(KeyPolicy::DangerousLegacyRsa1024, scheme, other.as_bytes(), &sig),
            Err(psd2_eidas::Error::BadSignature)
        ));
    }
}

#[test]
fn cavage10_digest_of_request() {
    let req = request("cavage10/request.http");
    let got = req.headers()["digest"].to_str().unwrap();
    assert_eq!(digest::rfc3230_digest(DigestAlgorithm::Sha256, "SHA-256", req.body()), got);
    digest::verify_rfc3230(got, req.body()).unwrap();
}

// ---------------------------------------------------------------- RFC 9421

fn rfc9421_case(id: &str) -> serde_json::Value {
    json("rfc9421/vectors.json")["cases"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone()
}

fn headers_of(id: &str) -> (String, String) {
    let t = text(&format!("rfc9421/{id}.headers.txt"));
    let mut input = None;
    let mut sig = None;
    for l in t.lines() {
        if let Some(v) = l.strip_prefix("Signature-Input: ") {
            input = Some(v.to_owned());
        } else if let Some(v) = l.strip_prefix("Signature: ") {
            sig = Some(v.to_owned());
        }
    }
    (input.unwrap(), sig.unwrap())
}

/// Checks base byte-exactness and verification of a B.2 case; returns (base, parsed signature).
fn check_b2(id: &str, msg: &Message<'_>, key: VerifyingKey<'_>) -> (String, rfc9421::ParsedSignature) {
    let (input, sig) = headers_of(id);
    let case = rfc9421_case(id);
    assert_eq!(input, case["signature_input"].as_str().unwrap());
    let parsed = rfc9421::parse(&input, &sig).unwrap().remove(0);
    let base = rfc9421::signature_base(msg, &parsed.params).unwrap();
    assert_eq!(base, text(&format!("rfc9421/{id}.signature-base.txt")), "{id}: signature base");
    // The Signature-Input member re-serialises byte for byte.
    assert_eq!(rfc9421::signature_input_value(&parsed.label, &parsed.params).unwrap(), input);
    assert_eq!(rfc9421::signature_value(&parsed.label, &parsed.signature).unwrap(), sig);
    let alg = Algorithm::from_name(case["alg"].as_str().unwrap()).unwrap();
    rfc9421::verify(alg, key, &base, &parsed.signature).unwrap_or_else(|e| panic!("{id}: {e}"));
    // Any change to the base breaks it.
    let tampered = base.replacen(':', ";", 1);
    assert!(rfc9421::verify(alg, key, &tampered, &parsed.signature).is_err(), "{id}");
    (base, parsed)
}

#[test]
fn rfc9421_b2_1_to_b2_3_rsa_pss_verify() {
    let req = request("rfc9421/test-request.http");
    let msg = Message::request(&req);
    let pk = spki("rfc9421/test-key-rsa-pss.pub.pem");
    for id in ["b2_1", "b2_2", "b2_3"] {
        check_b2(id, &msg, VerifyingKey::Public(&pk));
    }
    // The PKCS#8 id-RSASSA-PSS private key loads, and what it signs verifies (PSS is randomised).
    let k = key("rfc9421/test-key-rsa-pss.priv.pem");
    assert_eq!(k.public_key().raw(), pk.raw());
    let (base, _) = check_b2("b2_1", &msg, VerifyingKey::Public(&pk));
    let sig = rfc9421::sign(Algorithm::RsaPssSha512, &k, &base).unwrap();
    rfc9421::verify(Algorithm::RsaPssSha512, VerifyingKey::Public(&pk), &base, &sig).unwrap();
}

#[test]
fn rfc9421_b2_4_ecdsa_response_verify() {
    let Parsed::Response(resp) = parse_http(&read("rfc9421/test-response.http")) else { panic!() };
    let msg = Message::response(&resp);
    let pk = spki("rfc9421/test-key-ecc-p256.pub.pem");
    check_b2("b2_4", &msg, VerifyingKey::Public(&pk));
    // The corrected test-response digest matches its body; the draft source's does not.
    digest::verify_content_digest(resp.headers()["content-digest"].to_str().unwrap(), resp.body()).unwrap();
    let Parsed::Response(draft) = parse_http(&read("rfc9421/test-response.as-in-draft-source.http")) else { panic!() };
    assert!(matches!(
        digest::verify_content_digest(draft.headers()["content-digest"].to_str().unwrap(), draft.body()),
        Err(Error::DigestMismatch { .. })
    ));
    // ECDSA signing with the SEC1 key verifies (randomised).
    let k = key("rfc9421/test-key-ecc-p256.priv.pem");
    let base = text("rfc9421/b2_4.signature-base.txt");
    let sig = rfc9421::sign(Algorithm::EcdsaP256Sha256, &k, &base).unwrap();
    assert_eq!(sig.len(), 64);
    rfc9421::verify(Algorithm::EcdsaP256Sha256, VerifyingKey::Public(&pk), &base, &sig).unwrap();
}

#[test]
fn rfc9421_b2_5_hmac_byte_exact() {
    let req = request("rfc9421/test-request.http");
    let msg = Message::request(&req);
    let secret = STANDARD.decode(text("rfc9421/test-shared-secret.b64").trim()).unwrap();
    let (base, parsed) = check_b2("b2_5", &msg, VerifyingKey::Hmac(&secret));
    assert_eq!(rfc9421::hmac_sha256(&secret, &base), parsed.signature);
    assert!(rfc9421::verify(Algorithm::HmacSha256, VerifyingKey::Hmac(b"wrong"), &base, &parsed.signature).is_err());
}

#[test]
fn rfc9421_b2_6_ed25519_byte_exact() {
    let req = request("rfc9421/test-request.http");
    let msg = Message::request(&req);
    let pk = spki("rfc9421/test-key-ed25519.pub.pem");
    let (base, parsed) = check_b2("b2_6", &msg, VerifyingKey::Public(&pk));
    let k = key("rfc9421/test-key-ed25519.priv.pem");
    assert_eq!(rfc9421::sign(Algorithm::Ed25519, &k, &base).unwrap(), parsed.signature);
}

#[test]
fn rfc9421_b2_signature_params_rebuilt_from_scratch() {
    // B.2.2 built with the builder API, not parsed: same Signature-Input and base.
    let req = request("rfc9421/test-request.http");
    let mut p = rfc9421::SignatureParams::new();
    p.component("@authority").unwrap().component("content-digest").unwrap();
    p.component_with("@query-param", &[("name", Some("Pet"))]).unwrap();
    p.set_created(1618884473).unwrap().set_keyid("test-key-rsa-pss").unwrap().set_tag("header-example").unwrap();
    assert_eq!(rfc9421::signature_input_value("sig-b22", &p).unwrap(), headers_of("b2_2").0);
    assert_eq!(rfc9421::signature_base(&Message::request(&req), &p).unwrap(), text("rfc9421/b2_2.signature-base.txt"));
}

/// Rebuilds a request from the lines of a signature base (for the §4.3 and B.3/B.4 examples,
/// whose messages are given only in prose).
fn request_from_base(base: &str, split_multi: &[&str]) -> http::Request<Vec<u8>> {
    let (mut method, mut path, mut query, mut authority) = ("GET".to_owned(), "/".to_owned(), String::new(), None);
    let mut fields = Vec::new();
    for line in base.lines() {
        let (id, value) = line.split_once(": ").unwrap();
        let name = id.split(';').next().unwrap().trim_matches('"');
        match name {
            "@method" => method = value.to_owned(),
            "@path" => path = value.to_owned(),
            "@query" => query = value.to_owned(),
            "@authority" => authority = Some(value.to_owned()),
            "@signature-params" => {}
            field if split_multi.contains(&field) => {
                fields.extend(value.split(", ").map(|v| (field.to_owned(), v.to_owned())));
            }
            field => fields.push((field.to_owned(), value.to_owned())),
        }
    }
    let uri = format!("https://{}{path}{}", authority.unwrap(), if query == "?" { "" } else { &query });
    let mut b = http::Request::builder().method(method.as_str()).uri(uri);
    for (n, v) in fields {
        b = b.header(n, v);
    }
    b.body(Vec::new()).unwrap()
}

fn check_extra(id: &str, split_multi: &[&str]) -> (String, String, Vec<u8>) {
    let case = rfc9421_case(id);
    let base_file = text(&format!("rfc9421/{id}.signature-base.txt"));
    let req = request_from_base(&base_file, split_multi);
    let parsed = rfc9421::parse(case["signature_input"].as_str().unwrap(), case["signature"].as_str().unwrap())
        .unwrap()
        .remove(0);
    let base = rfc9421::signature_base(&Message::request(&req), &parsed.params).unwrap();
    assert_eq!(base, base_file, "{id}");
    (case["alg"].as_str().unwrap().to_owned(), base, parsed.signature)
}

#[test]
fn rfc9421_s4_3_rsa_v1_5_resigned_byte_exact() {
    let (alg, base, sig) = check_extra("s4_3_proxy_sig", &[]);
    assert_eq!(alg, "rsa-v1_5-sha256");
    let k = key("rfc9421/test-key-rsa.priv.pem");
    assert_eq!(rfc9421::sign(Algorithm::RsaV15Sha256, &k, &base).unwrap(), sig);
    rfc9421::verify(Algorithm::RsaV15Sha256, VerifyingKey::Public(k.public_key()), &base, &sig).unwrap();
}

#[test]
fn rfc9421_b3_ecdsa_and_b4_ed25519() {
    let (_, base, sig) = check_extra("appB3_ttrp", &[]);
    let pk = spki("rfc9421/test-key-ecc-p256.pub.pem");
    rfc9421::verify(Algorithm::EcdsaP256Sha256, VerifyingKey::Public(&pk), &base, &sig).unwrap();
    let (_, base, sig) = check_extra("appB4_transform", &["accept"]);
    let k = key("rfc9421/test-key-ed25519.priv.pem");
    assert_eq!(rfc9421::sign(Algorithm::Ed25519, &k, &base).unwrap(), sig);
}

#[test]
fn rfc9421_missing_component_is_an_error() {
    let req = http::Request::post("https://example.com/foo").body(()).unwrap();
    let mut p = rfc9421::SignatureParams::new();
    p.component("content-digest").unwrap();
    let e = rfc9421::signature_base(&Message::request(&req), &p).unwrap_err();
    assert!(matches!(&e, Error::MissingHeader { header, .. } if header == "content-digest"), "{e}");
}

// ---------------------------------------------------------------- RFC 9530

#[test]
fn rfc9530_sample_digests() {
    let v = json("rfc9530/digest-vectors.json");
    let body = br#"{"hello": "world"}"#;
    for alg in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512] {
        let want = v["sample_digest_values"][alg.rfc9530_key()].as_str().unwrap();
        assert_eq!(digest::content_digest(alg, body), format!("{}={want}", alg.rfc9530_key()));
        digest::verify_content_digest(&format!("{}={want}", alg.rfc9530_key()), body).unwrap();
    }
    let with_lf = b"{\"hello\": \"world\"}\n";
    for ex in v["examples"].as_array().unwrap() {
        let h = ex["header"].as_str().unwrap();
        let what = ex["what"].as_str().unwrap();
        if let Some(val) = h.strip_prefix("Content-Digest: ") {
            if what.contains("multi-algorithm") {
                // Syntax example only: its sha-256 value is of another body.
                assert!(matches!(digest::verify_content_digest(val, with_lf), Err(Error::DigestMismatch { .. })));
            } else if what.contains("empty") {
                digest::verify_content_digest(val, b"").unwrap();
                assert_eq!(digest::content_digest(DigestAlgorithm::Sha256, b""), val);
            } else {
                digest::verify_content_digest(val, with_lf).unwrap();
            }
        } else if let Some(val) = h.strip_prefix("Digest: ") {
            assert_eq!(digest::rfc3230_digest(DigestAlgorithm::Sha256, "SHA-256", body), val);
            digest::verify_rfc3230(val, body).unwrap();
        }
    }
}

// ---------------------------------------------------------------- the ING sandbox QSealC

#[test]
fn ing_sandbox_qsealc_key_ids() {
    let cert =
        psd2_eidas::Certificate::from_pem_or_der(&read("psd2-certs/ing-sandbox-example-qsealc.pem")).unwrap().remove(0);
    // ING's token call writes SN=5E4299BE (upper-case, no CA).
    let ing = psd2_httpsig::key_id_for(&psd2_httpsig::profile::ING_TOKEN, Some(&cert), None).unwrap();
    assert_eq!(ing.as_deref(), Some("SN=5E4299BE"));
    psd2_httpsig::keyid::check_berlin_group("SN=5E4299BE", &cert, "Authorization").unwrap();
    // Berlin Group default: what the adorsys verifier compares.
    let bg = psd2_httpsig::key_id_for(&psd2_httpsig::profile::BERLIN_GROUP, Some(&cert), None).unwrap().unwrap();
    assert_eq!(bg, "SN=5e4299be,CA=C=NL,ST=Amsterdam,L=Amsterdam,O=ING,OU=ING,CN=AppCertificateMeansAPI");
    let e = psd2_httpsig::keyid::check_berlin_group("SN=5E4299BF", &cert, "Signature").unwrap_err();
    assert!(matches!(e, Error::KeyIdSerialMismatch { .. }), "{e}");
}
