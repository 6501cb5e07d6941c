//! Outside input never panics: every parser and `verify` get thousands of random and mutated
//! header values (a deterministic generator, so failures reproduce) and must answer with a value.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use psd2_httpsig::profile::{self, PisEncoding};
use psd2_httpsig::{Message, VerifyOptions, cavage, digest, keyid, rfc9421};

/// xorshift64*: small, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const PIECES: &[&str] = &[
    "\"",
    "\\",
    ",",
    "=",
    ";",
    ":",
    "(",
    ")",
    " ",
    "\t",
    "é",
    "€",
    "#",
    "%20",
    "%",
    "+",
    ".",
    "-",
    "_",
    "*",
    "?",
    "keyId",
    "signature",
    "headers",
    "algorithm",
    "created",
    "expires",
    "SN=",
    "CA=",
    "CN",
    "sha-256",
    "SHA256",
    "sig1",
    "@method",
    "@query-param",
    "name",
    "key",
    "sf",
    "bs",
    "req",
    "rsa-sha256",
    "hs2019",
    "AAAA",
    "==",
    "9fa1",
    "0",
    "-1",
    "99999999999999999999",
    "/",
    "a",
    "Z",
    "\u{0}",
    "OID.2.5.4.97",
    "2.5.4.97=#0c03414243",
];

fn random_text(rng: &mut Rng) -> String {
    let n = rng.below(24);
    (0..n).map(|_| rng.pick(PIECES)).collect()
}

fn mutate(rng: &mut Rng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    for _ in 0..=rng.below(4) {
        if chars.is_empty() {
            break;
        }
        let at = rng.below(chars.len());
        match rng.below(3) {
            0 => {
                chars.remove(at);
            }
            1 => {
                let piece = rng.pick(PIECES);
                for (k, c) in piece.chars().enumerate() {
                    chars.insert(at + k, c);
                }
            }
            _ => chars.truncate(at),
        }
    }
    chars.into_iter().collect()
}

#[test]
fn parsers_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let valid = [
        r#"keyId="SN=9FA1,CA=CN=D-TRUST%20CA",algorithm="rsa-sha256",headers="digest x-request-id",signature="YWJj""#,
        r#"sig1=("@method" "@query-param";name="Pet" "content-digest";sf);created=1618884473;keyid="k";alg="ed25519""#,
        "sig1=:YWJj:, sig2=:ZGVm:",
        "SN=9fa1,CA=CN=Test%20CA,2.5.4.97=#0c03414243,O=Example\\, Inc.,C=BE",
        "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=, SHA-512=abc",
    ];
    let req = http::Request::post("https://example.com/foo?Pet=dog&a=%zz&b=%C3%A9")
        .header("Content-Digest", "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:")
        .header("Date", "Tue, 20 Apr 2021 02:07:55 GMT")
        .body(())
        .unwrap();
    let msg = Message::request(&req);
    let cert_pem = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/psd2-certs/ing-sandbox-example-qsealc.pem"
    ))
    .unwrap();
    let cert = psd2_eidas::Certificate::from_pem_or_der(&cert_pem).unwrap().remove(0);
    for round in 0..4000 {
        let input = if round % 2 == 0 { random_text(&mut rng) } else { mutate(&mut rng, valid[round % valid.len()]) };
        let _ = cavage::SignatureParams::parse(&input, "Signature");
        let _ = cavage::SignatureParams::parse(&format!("Signature {input}"), "Authorization");
        let _ = rfc9421::parse(&input, &input);
        let _ = rfc9421::parse(&input, "sig1=:YWJj:");
        if let Ok(sigs) = rfc9421::parse(&input, &input) {
            for s in sigs {
                let _ = rfc9421::signature_base(&msg, &s.params);
            }
        }
        let _ = keyid::parse(&input);
        let _ = keyid::check_berlin_group(&input, &cert, "Signature");
        let _ = keyid::dn_matches(&input, cert.issuer());
        let _ = digest::verify_rfc3230(&input, b"x");
        let _ = digest::verify_content_digest(&input, b"x");
        let _ = psd2_httpsig::decode_certificate_header(&input);
        // The Belfius PIS JWS-like Signature, through the profile's verifier.
        if let Ok(v) = http::HeaderValue::from_str(&input) {
            let mut pis = http::Request::post("https://b.example/payments").body(b"x".to_vec()).unwrap();
            pis.headers_mut().insert("Signature", v);
            let o = VerifyOptions { certificate: Some(cert.clone()), ..Default::default() };
            let _ = psd2_httpsig::verify(&profile::BELFIUS_PIS, &pis, &o);
        }
        let _ = psd2_httpsig::parse_date(&input);
        let _ = profile::Profile::by_name(&input);
    }
    let _ = PisEncoding::Url;
}

#[test]
fn verify_never_panics_on_mutated_requests() {
    let mut rng = Rng(42);
    let key = psd2_eidas::FileKey::generate_p256().unwrap();
    for profile in profile::ALL {
        for round in 0..300 {
            let mut b = http::Request::post("https://bank.example/v1/payments?x=1");
            for name in [
                "Signature",
                "Authorization",
                "Signature-Input",
                "Digest",
                "Content-Digest",
                "Date",
                "TPP-Signature-Certificate",
                "X-Request-ID",
            ] {
                if rng.below(3) > 0 {
                    let v = if round % 2 == 0 { random_text(&mut rng) } else { mutate(&mut rng, "SN=1,CA=CN=x") };
                    if let Ok(v) = http::HeaderValue::from_str(&v) {
                        b = b.header(name, v);
                    }
                }
            }
            let req = b.body(random_text(&mut rng).into_bytes()).unwrap();
            let _ = psd2_httpsig::verify(profile, &req, &VerifyOptions::default());
            let _ = psd2_httpsig::rebuilt_signing_string(profile, &req);
        }
        // Signing with a P-256 key under every profile answers (an error for RS256-only ones).
        let mut req = http::Request::post("https://bank.example/x").body(Vec::new()).unwrap();
        let o = psd2_httpsig::SignOptions { key_id: Some("k".into()), ..Default::default() };
        let _ = psd2_httpsig::sign(profile, &mut req, &key, None, &o);
    }
}
