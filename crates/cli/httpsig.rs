//! `psd2-sign sign` and `psd2-sign verify`: HTTP request signatures under a bank profile.

use std::process::ExitCode;

use psd2_eidas::{Certificate, KeyPolicy, KeyRef, Signer};
use psd2_httpsig::profile::{PisEncoding, Profile};
use psd2_httpsig::rfc9421::Algorithm;
use psd2_httpsig::{SignOptions, VerifyOptions};
use time::{Duration, OffsetDateTime};

use crate::common::{CliError, KeyArgs};
use crate::output::{err, errln, outln};

/// Output format of `sign`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// `{"headers": {...}, "signing_string": "..."}`.
    Json,
    /// One `Name: value` line per header to send.
    Headers,
    /// A curl command line sending the signed request.
    Curl,
}

/// The request both commands work on.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RequestArgs {
    /// Signature profile: berlin-group, belfius-pis, belfius-fallback, stet, ing (token call;
    /// with --key-id the later calls), ing-call, rfc9421.
    #[arg(long, value_name = "PROFILE")]
    profile: String,
    /// HTTP method.
    #[arg(long, value_name = "METHOD")]
    method: String,
    /// Request URL as sent (`https://host/path?query`); path and query are signed as written.
    #[arg(long, value_name = "URL")]
    url: String,
    /// A request header, `Name: value` (repeatable). Given headers are used verbatim.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// The request body: a regular file, or `-` for standard input (default: no body).
    #[arg(long, value_name = "FILE|-")]
    body: Option<String>,
    /// The largest body read, in bytes or with a unit (`512K`, `10M`); default 10M, ten times a
    /// 1000-payment bulk initiation.
    #[arg(long, value_name = "SIZE", value_parser = crate::common::parse_size, default_value = "10M")]
    max_body: u64,
    /// The time to use instead of the clock (RFC 3339, IMF-fixdate or Unix seconds): the `Date`
    /// and `created` written when signing, the verifier's clock when verifying.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    now: Option<OffsetDateTime>,
}

/// Arguments of `sign`.
#[derive(Debug, clap::Args)]
pub(crate) struct SignArgs {
    #[command(flatten)]
    req: RequestArgs,
    #[command(flatten)]
    key: KeyArgs,
    /// Output: json (headers and signing string), headers, or curl.
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    /// keyId to write instead of the profile's (stet: the https URL of the QSealC, required;
    /// ing: the client id, for calls after the token call).
    #[arg(long, value_name = "VALUE")]
    key_id: Option<String>,
    /// Also print the exact signing string and the digest input (stderr unless --format json).
    #[arg(long)]
    explain: bool,
    /// Also sign `date` (Berlin Group ASPSPs that follow the pre-Errata text).
    #[arg(long)]
    sign_date: bool,
    /// Also cover this header or pseudo-header, e.g. `(request-target)` (repeatable).
    #[arg(long, value_name = "NAME")]
    cover: Vec<String>,
    /// RFC 9421 algorithm (rsa-pss-sha512, rsa-v1_5-sha256, ecdsa-p256-sha256,
    /// ecdsa-p384-sha384, ed25519); default from the key.
    #[arg(long, value_name = "ALG", value_parser = parse_alg)]
    alg: Option<Algorithm>,
    /// Signature lifetime (`90s`, `5m`): RFC 9421 `expires`, cavage `(expires)` when covered.
    #[arg(long, value_name = "DURATION", value_parser = crate::common::parse_duration)]
    expires: Option<Duration>,
    /// Belfius PIS: base64url (RFC 7515) instead of the standard padded Base64 Belfius' clients use.
    #[arg(long)]
    base64url: bool,
}

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    req: RequestArgs,
    /// The signer's certificate — a file, or a chain file with it first, or a PKCS#11 URI of
    /// the certificate on a token (default: from
    /// TPP-Signature-Certificate; required for profiles that do not send it). With both, they
    /// must be the same certificate.
    #[arg(long, value_name = "CERT")]
    cert: Option<String>,
    /// Trusted CA certificate(s) (repeatable; a file may hold several): the signing certificate
    /// must chain to one of them (through the rest of a --cert chain file if needed): path
    /// validation (basicConstraints, pathLen, names, signatures) with every certificate,
    /// the anchor included, valid now. Without --ca the chain is not checked (and the output says so).
    #[arg(long, value_name = "CA")]
    ca: Vec<String>,
    /// Expect exactly this keyId (instead of checking it against the certificate).
    #[arg(long, value_name = "VALUE")]
    key_id: Option<String>,
    /// Clock-skew window for Date and created, in seconds or with a unit (`90s`, `5m`, `1h`).
    #[arg(long, value_name = "DURATION", value_parser = crate::common::parse_duration, default_value = "5m")]
    skew: Duration,
    /// Print the signing string rebuilt from the request (stderr), to diff against the signer's.
    #[arg(long)]
    explain: bool,
    /// Development only: accept a signer that is not a QSealC with a PSD2 role under a profile
    /// that demands one (berlin-group, stet, ing, ing-call), with a warning. A CA certificate
    /// is refused even so. A bank never does this.
    #[arg(long)]
    dangerous_skip_eidas_checks: bool,
    /// Accept RSA keys of 1024–2047 bits (PKCS#1 v1.5), as in old published test vectors.
    /// Such keys are breakable: never for real seals.
    #[arg(long)]
    allow_rsa_1024: bool,
    /// Also check that the signer's certificate is not revoked: OCSP from its
    /// authorityInfoAccess, else the CRL of its distribution point (needs --ca; a status that
    /// cannot be established fails the verification).
    #[arg(long, requires = "ca")]
    check_revocation: bool,
    /// A CRL file (PEM or DER) of the signer's issuer to check against, instead of fetching
    /// (implies --check-revocation).
    #[arg(long, value_name = "FILE", requires = "ca")]
    crl: Option<std::path::PathBuf>,
    /// Longest wait for a revocation source.
    #[arg(long, value_name = "DURATION", value_parser = crate::common::parse_std_duration, default_value = "10s")]
    revocation_timeout: std::time::Duration,
}

/// Parses `--now`: Unix seconds, RFC 3339 or IMF-fixdate.
pub(crate) fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    if let Ok(secs) = s.trim().parse::<i64>() {
        return OffsetDateTime::from_unix_timestamp(secs).map_err(|e| e.to_string());
    }
    psd2_httpsig::parse_date(s).map_err(|e| e.to_string())
}

fn parse_alg(s: &str) -> Result<Algorithm, String> {
    Algorithm::from_name(s).ok_or_else(|| format!("unknown RFC 9421 algorithm '{s}'"))
}

/// The request as given, with the header names as the user spelled them.
struct Built {
    req: http::Request<Vec<u8>>,
    given: Vec<(String, String)>,
    body_file: Option<String>,
}

fn build(args: &RequestArgs) -> Result<Built, CliError> {
    let method = http::Method::from_bytes(args.method.trim().to_ascii_uppercase().as_bytes())
        .map_err(|_| CliError::input(format!("invalid --method '{}'", args.method)))?;
    crate::common::check_request_url(&args.url, "--url")?;
    // What is signed is the URL as written (path and query verbatim), not a normalised form.
    let uri: http::Uri = args.url.parse().map_err(|e| CliError::input(format!("--url '{}': {e}", args.url)))?;
    let body = match args.body.as_deref() {
        None => Vec::new(),
        Some(src) => crate::common::read_body(src, args.max_body, "--body")?,
    };
    let mut req = http::Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    let mut given = Vec::new();
    for h in &args.headers {
        let shown = crate::output::escape_controls(h);
        let Some((name, value)) = h.split_once(':') else {
            return Err(CliError::input(format!("-H '{shown}': expected 'Name: value'")));
        };
        let (name, value) = (name.trim(), value.trim());
        let hn = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| CliError::input(format!("-H '{shown}': invalid header name")))?;
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(CliError::input(format!(
                "-H '{shown}': the value contains a control character (CR, LF, NUL…), which HTTP does not allow"
            )));
        }
        let hv = http::HeaderValue::from_str(value)
            .map_err(|_| CliError::input(format!("-H '{shown}': invalid header value")))?;
        req.headers_mut().append(hn, hv);
        given.push((name.to_owned(), value.to_owned()));
    }
    Ok(Built { req, given, body_file: args.body.clone().filter(|b| b != "-") })
}

fn profile(args: &RequestArgs, key_id_given: bool) -> Result<&'static Profile, CliError> {
    Ok(Profile::by_name(&args.profile).map_err(|e| CliError::input(e.to_string()))?.resolve(key_id_given))
}

/// The spelling used when printing a header this tool added.
fn display_name(lower: &str) -> String {
    const KNOWN: [&str; 10] = [
        "Digest",
        "Content-Digest",
        "Date",
        "X-Request-ID",
        "Request-Id",
        "TPP-Signature-Certificate",
        "Signature",
        "Signature-Input",
        "Authorization",
        "Client-Id",
    ];
    KNOWN.iter().find(|k| k.eq_ignore_ascii_case(lower)).map_or_else(|| lower.to_owned(), |k| (*k).to_owned())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Loads the signing key and, when there is one, its certificate. Profiles that need no
/// certificate (belfius-pis, stet, ing calls) accept a bare key.
fn load_key(args: &KeyArgs, needs_cert: bool) -> Result<(std::sync::Arc<dyn Signer>, Option<Certificate>), CliError> {
    match args.identity() {
        Ok(id) => Ok((id.signer().clone(), Some(id.certificate().clone()))),
        Err(e) if !needs_cert && args.cert.is_none() => {
            // A bare key (file or token) is enough for profiles that send no certificate.
            let key: KeyRef = args.key.parse()?;
            let secrets = args.password.secrets()?;
            match psd2_eidas::open_signer(&key, &secrets) {
                Ok(k) => Ok((k, None)),
                Err(_) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// What a bank will say about sealing with `cert`: a QWAC, a CA certificate or a certificate
/// without eIDAS content is not a seal (`verify` refuses it under the PSD2 profiles).
fn seal_warnings(cert: &Certificate) -> Vec<String> {
    use psd2_eidas::qc::QcType;
    let who = format!("{} (serial {})", cert.subject().to_display(), cert.serial_hex());
    if cert.parsed().is_ok_and(|x| x.is_ca()) {
        return vec![format!("{who} is a CA certificate: banks refuse a seal made with it")];
    }
    let types = cert.qc_statements().ok().flatten().map(|q| q.types).unwrap_or_default();
    if types.contains(&QcType::Eseal) {
        Vec::new()
    } else if types.contains(&QcType::Web) {
        vec![format!("{who} is a QWAC (for TLS), not a QSealC: PSD2 banks refuse a seal made with it")]
    } else {
        vec![format!("{who} is not an eIDAS QSealC: PSD2 banks refuse a seal made with it")]
    }
}

/// Runs `sign`.
pub(crate) fn run_sign(args: SignArgs) -> Result<ExitCode, CliError> {
    let profile = profile(&args.req, args.key_id.is_some())?;
    let (key, cert) = load_key(&args.key, profile.needs_certificate(args.key_id.is_some()))?;
    // Sealing with a certificate that is not valid now only earns a refusal from the bank; with
    // --now (signing for another time, e.g. to reproduce an example) it is a warning.
    if let (Some(c), None) = (&cert, args.req.now) {
        c.check_valid_at(OffsetDateTime::now_utc())?;
    }
    let mut built = build(&args.req)?;
    let mut extra = args.cover.clone();
    if args.sign_date {
        extra.push("date".into());
    }
    let opts = SignOptions {
        now: args.req.now.unwrap_or_else(OffsetDateTime::now_utc),
        key_id: args.key_id.clone(),
        extra_covered: extra,
        pis_encoding: if args.base64url { PisEncoding::Url } else { PisEncoding::Standard },
        rfc9421_algorithm: args.alg,
        expires_in: args.expires,
        ..SignOptions::default()
    };
    if let Some(c) = &cert {
        for w in seal_warnings(c) {
            errln!("psd2-sign: warning: {w}");
        }
    }
    let signed =
        psd2_httpsig::sign(profile, &mut built.req, key.as_ref(), cert.as_ref(), &opts).map_err(|e| match e {
            psd2_httpsig::Error::InvalidOption { option, why } => {
                let flag = match option {
                    "key_id" => "--key-id",
                    "extra_covered" => "--cover",
                    "expires_in" => "--expires",
                    other => other,
                };
                CliError::input(format!("{flag}: {why}"))
            }
            other => CliError::input(other.to_string()),
        })?;
    for w in &signed.warnings {
        errln!("psd2-sign: warning: {w}");
    }
    let mut headers: Vec<(String, String)> = built.given.clone();
    for (n, v) in &signed.added {
        let v = v.to_str().unwrap_or_default().to_owned();
        let name = display_name(n.as_str());
        headers.retain(|(g, _)| !g.eq_ignore_ascii_case(&name));
        headers.push((name, v));
    }
    let body = built.req.body();
    let explain = |out: &mut String| {
        out.push_str(&format!(
            "profile: {}\nalgorithm: {}\nkeyId: {}\ncovered: {}\nbody: {} bytes, {}\nsigning string ({} bytes, between the lines):\n-----\n{}\n-----\n",
            profile.name,
            signed.algorithm,
            signed.key_id.as_deref().unwrap_or("-"),
            if signed.covered.is_empty() { "the body".to_owned() } else { signed.covered.join(" ") },
            body.len(),
            psd2_httpsig::digest::rfc3230_digest(psd2_httpsig::digest::DigestAlgorithm::Sha256, "SHA-256", body),
            signed.signing_string.len(),
            signed.signing_string
        ));
    };
    match args.format {
        Format::Json => {
            let js = |s: &str| serde_json::to_string(s).unwrap_or_default();
            let mut out = String::from("{\n  \"headers\": {");
            // Several values of one header become one comma-separated value (a JSON object
            // cannot repeat a name).
            let mut merged: Vec<(String, String)> = Vec::new();
            for (n, v) in &headers {
                match merged.iter_mut().find(|(m, _)| m.eq_ignore_ascii_case(n)) {
                    Some((_, mv)) => {
                        mv.push_str(", ");
                        mv.push_str(v);
                    }
                    None => merged.push((n.clone(), v.clone())),
                }
            }
            for (i, (n, v)) in merged.iter().enumerate() {
                out.push_str(if i == 0 { "\n    " } else { ",\n    " });
                out.push_str(&format!("{}: {}", js(n), js(v)));
            }
            out.push_str("\n  },\n");
            out.push_str(&format!("  \"signing_string\": {}", js(&signed.signing_string)));
            if args.explain {
                out.push_str(&format!(
                    ",\n  \"profile\": {},\n  \"algorithm\": {},\n  \"key_id\": {},\n  \"covered\": [{}],\n  \"body_length\": {}",
                    js(profile.name),
                    js(&signed.algorithm),
                    signed.key_id.as_deref().map_or_else(|| "null".to_owned(), js),
                    signed.covered.iter().map(|c| js(c)).collect::<Vec<_>>().join(", "),
                    body.len()
                ));
            }
            out.push_str("\n}");
            outln!("{out}")?;
        }
        Format::Headers => {
            for (n, v) in &headers {
                outln!("{n}: {v}")?;
            }
        }
        Format::Curl => {
            let mut cmd = format!("curl -X {} {}", built.req.method(), shell_quote(&args.req.url));
            for (n, v) in &headers {
                cmd.push_str(&format!(" \\\n  -H {}", shell_quote(&format!("{n}: {v}"))));
            }
            match (&built.body_file, body.is_empty()) {
                (_, true) => {}
                (Some(f), false) => cmd.push_str(&format!(" \\\n  --data-binary {}", shell_quote(&format!("@{f}")))),
                (None, false) => match std::str::from_utf8(body) {
                    Ok(text) => cmd.push_str(&format!(" \\\n  --data-binary {}", shell_quote(text))),
                    Err(_) => {
                        return Err(CliError::input(
                            "a binary body read from stdin cannot be written into a curl command: give --body FILE",
                        ));
                    }
                },
            }
            outln!("{cmd}")?;
        }
    }
    if args.explain && args.format != Format::Json {
        let mut out = String::new();
        explain(&mut out);
        err!("{out}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Certificates from a file or, for a `pkcs11:` URI, from the token (PIN as for keys).
fn load_certs(reference: &str) -> Result<Vec<Certificate>, CliError> {
    let secrets = crate::common::env_secrets();
    Ok(psd2_eidas::open_certificates(&reference.parse()?, &secrets)?)
}

/// The certificate among `pool` that issued `cert` (same name, and its key verifies).
fn issuer_of(cert: &Certificate, intermediates: &[Certificate], anchors: &[Certificate]) -> Option<Certificate> {
    intermediates.iter().chain(anchors).find(|c| c.subject() == cert.issuer()).cloned()
}

/// The revocation status of `cert`: from the CRL file when given, else OCSP, else the CRL of
/// its distribution point. A source that cannot be asked is an error naming it.
fn revocation(
    cert: &Certificate,
    issuer: &Certificate,
    now: OffsetDateTime,
    crl: Option<&std::path::Path>,
    timeout: std::time::Duration,
) -> Result<psd2_client::revocation::Verdict, CliError> {
    use psd2_client::revocation;
    let fail = |e: psd2_client::Error| CliError::check(format!("verification failed: {e}"));
    if let Some(path) = crl {
        let data = psd2_eidas::load::read_limited(path, 64 << 20, "CRL file")
            .map_err(|e| CliError::input(format!("--crl {}: {e}", path.display())))?;
        let der = revocation::crl_der(&data)
            .ok_or_else(|| CliError::input(format!("--crl {}: no X509 CRL block", path.display())))?;
        return revocation::check_crl(&der, cert, issuer, now, &format!("CRL {}", path.display())).map_err(fail);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::input(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let checker = revocation::RevocationChecker::new(timeout).map_err(fail)?;
        if !revocation::ocsp_urls(cert).is_empty() {
            match checker.ocsp(cert, issuer, None, now).await {
                Ok(v) => return Ok(v),
                Err(e) if revocation::crl_urls(cert).is_empty() => return Err(fail(e)),
                Err(_) => {}
            }
        }
        checker.crl(cert, issuer, None, now).await.map_err(fail)
    })
}

/// Runs `verify`.
pub(crate) fn run_verify(args: VerifyArgs) -> Result<ExitCode, CliError> {
    let profile = profile(&args.req, args.key_id.is_some())?;
    let built = build(&args.req)?;
    // --cert may be a chain file: the first certificate is the signer's, the others may
    // complete the path to --ca.
    let (certificate, intermediates) = match &args.cert {
        Some(p) => {
            let mut chain = load_certs(p)?;
            let leaf = chain.remove(0);
            (Some(leaf), chain)
        }
        None => (None, Vec::new()),
    };
    let mut ca = Vec::new();
    for p in &args.ca {
        ca.extend(load_certs(p)?);
    }
    let opts = VerifyOptions {
        now: args.req.now.unwrap_or_else(OffsetDateTime::now_utc),
        skew: args.skew,
        certificate,
        key_id: args.key_id.clone(),
        ca,
        intermediates,
        rfc9421_label: None,
        key_policy: if args.allow_rsa_1024 { KeyPolicy::DangerousLegacyRsa1024 } else { KeyPolicy::Strict },
        dangerous_skip_eidas_checks: args.dangerous_skip_eidas_checks,
    };
    if args.explain {
        match psd2_httpsig::rebuilt_signing_string(profile, &built.req) {
            Ok(s) => err!(
                "signing string rebuilt by the verifier ({} bytes, between the lines):\n-----\n{s}\n-----\n",
                s.len()
            ),
            Err(e) => errln!("psd2-sign: cannot rebuild the signing string: {e}"),
        }
    }
    let v = psd2_httpsig::verify(profile, &built.req, &opts)
        .map_err(|e| CliError::check(format!("verification failed ({}): {e}", profile.name)))?;
    let cert = &v.certificate;
    if let (psd2_httpsig::profile::KeyIdSource::BerlinGroup(_), Some(k), None) =
        (profile.key_id, v.key_id.as_deref(), args.key_id.as_deref())
        && let Err(expected) = psd2_httpsig::keyid::exact_string_verdict(k, cert)
    {
        errln!(
            "psd2-sign: note: keyId accepted after normalisation, but an exact-string verifier \
             (adorsys xs2a) would refuse it; it expects {expected}"
        );
    }
    outln!(
        "OK: {} signature ({}) by {} (serial {}); covered: {}{}",
        profile.name,
        v.algorithm,
        cert.subject().to_display(),
        cert.serial_hex(),
        if v.covered.is_empty() { "the body".to_owned() } else { v.covered.join(" ") },
        v.digest_header.map(|d| format!("; {d} matches the body")).unwrap_or_default()
    )?;
    match &v.anchor {
        Some(a) => outln!("chain: validated to {} (serial {})", a.subject().to_display(), a.serial_hex())?,
        None => outln!("chain: not checked (no --ca given)")?,
    }
    outln!("freshness: {}", v.freshness)?;
    if args.check_revocation || args.crl.is_some() {
        let issuer = issuer_of(cert, &opts.intermediates, &opts.ca).ok_or_else(|| {
            CliError::check("revocation: the signer's issuer is neither in the chain nor among the --ca")
        })?;
        let verdict = revocation(cert, &issuer, opts.now, args.crl.as_deref(), args.revocation_timeout)?;
        match &verdict.status {
            psd2_client::revocation::Status::Good => outln!("revocation: good ({})", verdict.source)?,
            psd2_client::revocation::Status::Revoked { at, reason } => {
                return Err(CliError::check(format!(
                    "verification failed ({}): certificate {} (serial {}) is revoked since {at}{} ({})",
                    profile.name,
                    cert.subject().to_display(),
                    cert.serial_hex(),
                    reason.as_deref().map(|r| format!(", {r}")).unwrap_or_default(),
                    verdict.source
                )));
            }
            _ => {
                return Err(CliError::check(format!(
                    "verification failed ({}): the revocation status of {} is unknown to {}",
                    profile.name,
                    cert.subject().to_display(),
                    verdict.source
                )));
            }
        }
    }
    for w in &v.warnings {
        errln!("psd2-sign: warning: {w}");
    }
    Ok(ExitCode::SUCCESS)
}
