//! `psd2-sign check`: the preflight of a TPP's QWAC and QSealC (or of a renewal), one line per
//! check, JSON, or a Prometheus textfile; exit 1 on any FAIL.

use std::process::ExitCode;
use std::sync::Arc;

use psd2_eidas::preflight::{self, Bank, CertificateInput, Operation, Options, Report, Status};
use psd2_eidas::{Certificate, KeyRef, Secrets, Signer};
use time::OffsetDateTime;

use crate::common::{CliError, PasswordArgs, with_hint};
use crate::output::out;

/// Output formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// `PASS|WARN|FAIL  id  certificate: message`, one line per check.
    Text,
    /// One JSON object: the overall status, the checks, the certificates.
    Json,
    /// A Prometheus textfile-collector exposition: days left and every check's status.
    Prometheus,
}

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The QWAC: a certificate or chain file (leaf first), a PKCS#12 file, or a PKCS#11 URI.
    #[arg(long, value_name = "CERT", required_unless_present = "renewal")]
    qwac: Option<String>,
    /// The QWAC's private key (key file, PKCS#12 or PKCS#11 URI): checked to belong to it.
    #[arg(long, value_name = "KEY", requires = "qwac")]
    qwac_key: Option<String>,
    /// The QSealC: a certificate or chain file (leaf first), a PKCS#12 file, or a PKCS#11 URI.
    #[arg(long, value_name = "CERT", required_unless_present = "renewal")]
    qseal: Option<String>,
    /// The QSealC's private key: checked to belong to it.
    #[arg(long, value_name = "KEY", requires = "qseal")]
    qseal_key: Option<String>,
    /// The services used (comma-separated AIS, PIS, CAF): the PSD2 roles they need are checked.
    #[arg(long = "for", value_name = "OPS", value_delimiter = ',', value_parser = parse_operation, default_value = "AIS,PIS,CAF")]
    operations: Vec<Operation>,
    /// Trust anchors (repeatable; a file may hold several): each chain must reach one of them.
    /// Without --ca the chain is not validated (a WARN says so).
    #[arg(long, value_name = "ANCHOR")]
    ca: Vec<String>,
    /// The bank whose key rules apply (belfius, banx).
    #[arg(long, value_name = "BANK", value_parser = parse_bank)]
    bank: Option<Bank>,
    /// WARN when fewer days of validity (or of overlap, for a renewal) are left.
    #[arg(long, value_name = "N", default_value_t = preflight::DEFAULT_WARN_DAYS, value_parser = clap::value_parser!(i64).range(0..=3650))]
    warn_days: i64,
    /// Output: text (one line per check), json, or prometheus (textfile collector).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// The time to judge validity at instead of the clock (RFC 3339, IMF-fixdate or Unix seconds).
    #[arg(long, value_name = "TIME", value_parser = crate::httpsig::parse_time)]
    now: Option<OffsetDateTime>,
    /// Renewal: the new certificate (chain) to compare with --current, instead of a preflight.
    #[arg(long, value_name = "NEW", requires = "current", conflicts_with_all = ["qwac", "qseal", "ca", "bank"])]
    renewal: Option<String>,
    /// Renewal: the certificate (chain) in use today.
    #[arg(long, value_name = "OLD", requires = "renewal")]
    current: Option<String>,
    /// A CRL file (PEM or DER; repeatable) to check the certificates against, in addition to the
    /// CRL distribution points they name.
    #[arg(long, value_name = "FILE")]
    crl: Vec<std::path::PathBuf>,
    /// The OCSP responder to ask instead of the one each certificate's authorityInfoAccess names.
    #[arg(long, value_name = "URL")]
    ocsp: Option<String>,
    /// Do not check revocation (a WARN says so).
    #[arg(long, conflicts_with_all = ["crl", "ocsp"])]
    no_revocation: bool,
    /// Longest wait for one revocation source.
    #[arg(long, value_name = "DURATION", value_parser = crate::common::parse_std_duration, default_value = "5s")]
    revocation_timeout: std::time::Duration,
    #[command(flatten)]
    password: PasswordArgs,
}

fn parse_operation(s: &str) -> Result<Operation, String> {
    s.parse()
}

fn parse_bank(s: &str) -> Result<Bank, String> {
    s.parse()
}

/// Runs `check`.
pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let secrets = args.password.secrets()?;
    let now = args.now.unwrap_or_else(OffsetDateTime::now_utc);
    let report = match (&args.renewal, &args.current) {
        (Some(new), Some(current)) => {
            let new = certificates("--renewal", new, &secrets)?;
            let current = certificates("--current", current, &secrets)?;
            preflight::renewal(&new, &current, args.warn_days, now)
        }
        _ => {
            let (Some(qwac), Some(qseal)) = (&args.qwac, &args.qseal) else {
                return Err(CliError::input("check needs --qwac and --qseal (or --renewal NEW --current OLD)"));
            };
            let qwac = input("--qwac", qwac, "--qwac-key", args.qwac_key.as_deref(), &secrets)?;
            let qseal = input("--qseal", qseal, "--qseal-key", args.qseal_key.as_deref(), &secrets)?;
            let mut opts = Options::default();
            opts.operations = args.operations.clone();
            opts.bank = args.bank;
            opts.warn_days = args.warn_days;
            for ca in &args.ca {
                opts.anchors.extend(certificates("--ca", ca, &secrets)?);
            }
            let mut report = preflight::preflight(&qwac, &qseal, &opts, now);
            fetch_missing_issuers(
                &mut report,
                &[(preflight::Subject::Qwac, &qwac), (preflight::Subject::Qseal, &qseal)],
                &opts.anchors,
                now,
                args.revocation_timeout,
            )?;
            revocation_checks(&mut report, &args, now)?;
            report
        }
    };
    let format = if args.json { Format::Json } else { args.format };
    let text = match format {
        Format::Text => text(&report),
        Format::Json => json(&report)?,
        Format::Prometheus => prometheus(&report),
    };
    out!("{text}")?;
    Ok(if report.failed() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// A chain that lacks an issuer is completed from the certificate's caIssuers URL, as a bank's TLS
/// stack would not do but a TPP must know: the `chain` check is made again with what was fetched
/// (and says so), and the issuer found is kept for the revocation checks. A fetch that fails
/// leaves the check as it was, with the reason added.
fn fetch_missing_issuers(
    report: &mut preflight::Report,
    inputs: &[(preflight::Subject, &preflight::CertificateInput)],
    anchors: &[Certificate],
    now: OffsetDateTime,
    timeout: std::time::Duration,
) -> Result<(), CliError> {
    if anchors.is_empty() {
        return Ok(());
    }
    let checker =
        psd2_client::revocation::RevocationChecker::new(timeout).map_err(|e| CliError::input(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::input(format!("cannot start the async runtime: {e}")))?;
    for (subject, input) in inputs {
        let mut chain = input.chain().to_vec();
        let mut fetched = Vec::new();
        let mut failures = Vec::new();
        // At most a few hops (issuing CA, then an intermediate above it).
        for _ in 0..3 {
            let Some(missing) = preflight::missing_issuer(&chain, anchors) else { break };
            let mut got = None;
            for url in &missing.ca_issuers {
                match runtime.block_on(checker.ca_issuer(url)) {
                    Ok(certs) => match certs.into_iter().find(|c| c.subject() == missing.certificate.issuer()) {
                        Some(c) => {
                            got = Some((url.clone(), c));
                            break;
                        }
                        None => failures.push(format!("{url} does not hold {}", missing.issuer)),
                    },
                    Err(e) => failures.push(e.to_string()),
                }
            }
            let Some((url, c)) = got else { break };
            fetched.push(url);
            chain.push(c);
        }
        let Some(pos) = report.checks.iter().position(|c| c.id == "chain" && c.subject == *subject) else { continue };
        if !fetched.is_empty() {
            let mut check = preflight::check_chain(*subject, &chain, anchors, now);
            check.message = format!("{} (issuer fetched from {})", check.message, fetched.join(", "));
            report.checks[pos] = check;
            if let Some(info) = report.certificates.iter_mut().find(|i| i.subject == *subject)
                && info.issuer.is_none()
            {
                info.issuer = chain.get(1).cloned();
            }
        } else if !failures.is_empty() {
            let c = &mut report.checks[pos];
            c.message = format!("{}; fetching it failed: {}", c.message, failures.join("; "));
        }
    }
    Ok(())
}

/// The revocation checks of the QWAC and the QSealC, appended to the report: `ocsp` (the
/// responder of --ocsp or of the certificate's authorityInfoAccess) and `crl` (the --crl files,
/// else the certificate's CRL distribution point), each PASS (good), FAIL (revoked, or unknown
/// to the source) or WARN (no source, or none reachable: said, never a silent PASS).
fn revocation_checks(report: &mut preflight::Report, args: &Args, now: OffsetDateTime) -> Result<(), CliError> {
    use preflight::Status;
    use psd2_client::revocation::{self, RevocationChecker, Status as R};
    let targets: Vec<(preflight::Subject, Certificate, Option<Certificate>)> = report
        .certificates
        .iter()
        .filter(|c| matches!(c.subject, preflight::Subject::Qwac | preflight::Subject::Qseal))
        .map(|c| (c.subject, c.certificate.clone(), c.issuer.clone()))
        .collect();
    if args.no_revocation {
        for (subject, _, _) in &targets {
            report.add("revocation", *subject, Status::Warn, "not checked (--no-revocation)");
        }
        return Ok(());
    }
    let mut crls = Vec::new();
    for path in &args.crl {
        let data = psd2_eidas::load::read_limited(path, 64 << 20, "CRL file")
            .map_err(|e| CliError::input(format!("--crl {}: {e}", path.display())))?;
        let der = revocation::crl_der(&data)
            .ok_or_else(|| CliError::input(format!("--crl {}: no X509 CRL block", path.display())))?;
        crls.push((path.display().to_string(), der));
    }
    let checker = RevocationChecker::new(args.revocation_timeout).map_err(|e| CliError::input(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::input(format!("cannot start the async runtime: {e}")))?;
    let verdict = |v: &revocation::Verdict| match &v.status {
        R::Good => (Status::Pass, format!("not revoked ({})", v.source)),
        R::Revoked { at, reason } => (
            Status::Fail,
            format!(
                "REVOKED since {at}{} ({}): the bank refuses it",
                reason.as_deref().map(|r| format!(", {r}")).unwrap_or_default(),
                v.source
            ),
        ),
        _ => (Status::Fail, format!("unknown to {}: it does not vouch for this certificate", v.source)),
    };
    for (subject, cert, issuer) in targets {
        let Some(issuer) = issuer else {
            report.add(
                "revocation",
                subject,
                Status::Warn,
                "could not check: the issuer is not known (give the chain)",
            );
            continue;
        };
        // OCSP.
        let ocsp_url = args.ocsp.clone().or_else(|| revocation::ocsp_urls(&cert).into_iter().next());
        match ocsp_url {
            Some(url) => match runtime.block_on(checker.ocsp(&cert, &issuer, Some(&url), now)) {
                Ok(v) => {
                    let (st, msg) = verdict(&v);
                    report.add("ocsp", subject, st, msg);
                }
                Err(e) => report.add("ocsp", subject, Status::Warn, format!("could not check: {e}")),
            },
            None => report.add(
                "ocsp",
                subject,
                Status::Warn,
                "could not check: no OCSP responder (authorityInfoAccess, --ocsp)",
            ),
        }
        // CRL: a given file that covers it, else the distribution point.
        let from_file = crls
            .iter()
            .find_map(|(name, der)| revocation::check_crl(der, &cert, &issuer, now, &format!("CRL {name}")).ok());
        let result = match from_file {
            Some(v) => Ok(v),
            None => match revocation::crl_urls(&cert).into_iter().next() {
                Some(url) => runtime.block_on(checker.crl(&cert, &issuer, Some(&url), now)).map_err(|e| e.to_string()),
                None => Err("no CRL distribution point and no --crl file covering it".to_owned()),
            },
        };
        match result {
            Ok(v) => {
                let (st, msg) = verdict(&v);
                report.add("crl", subject, st, msg);
            }
            Err(e) => report.add("crl", subject, Status::Warn, format!("could not check: {e}")),
        }
    }
    Ok(())
}

/// The certificates a reference names; errors name the flag.
fn certificates(flag: &str, reference: &str, secrets: &Secrets) -> Result<Vec<Certificate>, CliError> {
    let bad = |e: psd2_eidas::Error| CliError::input(format!("{flag}: {}", with_hint(&e)));
    let r: KeyRef = reference.parse().map_err(bad)?;
    psd2_eidas::open_certificates(&r, secrets).map_err(bad)
}

/// A certificate chain with its key, when one is given.
fn input(
    flag: &str,
    reference: &str,
    key_flag: &str,
    key: Option<&str>,
    secrets: &Secrets,
) -> Result<CertificateInput, CliError> {
    let chain = certificates(flag, reference, secrets)?;
    let input = CertificateInput::new(chain).map_err(|e| CliError::input(format!("{flag}: {e}")))?;
    let Some(key) = key else { return Ok(input) };
    let bad = |e: psd2_eidas::Error| CliError::input(format!("{key_flag}: {}", with_hint(&e)));
    let signer: Arc<dyn Signer> = psd2_eidas::open_signer(&key.parse().map_err(bad)?, secrets).map_err(bad)?;
    Ok(input.with_key(signer))
}

fn text(r: &Report) -> String {
    let width = r.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
    r.checks
        .iter()
        .map(|c| {
            let message = crate::output::escape_controls(&c.message);
            format!("{}  {:<width$}  {}: {message}\n", c.status, c.id, c.subject)
        })
        .collect()
}

fn json(r: &Report) -> Result<String, CliError> {
    let value = serde_json::json!({
        "status": r.status(),
        "checks": r.checks,
        "certificates": r.certificates,
    });
    serde_json::to_string_pretty(&value).map(|s| s + "\n").map_err(|e| CliError::input(e.to_string()))
}

/// A Prometheus label value: `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// One gauge family: its HELP and TYPE lines, then `name{labels} value` per sample.
fn family(s: &mut String, name: &str, help: &str, samples: impl IntoIterator<Item = (String, i64)>) {
    s.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
    for (labels, value) in samples {
        s.push_str(&format!("{name}{{{labels}}} {value}\n"));
    }
}

fn prometheus(r: &Report) -> String {
    let mut s = String::new();
    let cert =
        |c: &preflight::CertificateInfo| format!("certificate=\"{}\",serial=\"{}\"", c.subject, label(&c.serial));
    family(
        &mut s,
        "psd2_sign_certificate_days_left",
        "Whole days until the certificate's notAfter (negative once expired).",
        r.certificates.iter().map(|c| (cert(c), c.days_left)),
    );
    family(
        &mut s,
        "psd2_sign_certificate_not_after_seconds",
        "The certificate's notAfter, in seconds since 1970.",
        r.certificates.iter().map(|c| (cert(c), c.certificate.not_after().unix_timestamp())),
    );
    let checks = r.checks.iter().flat_map(|c| {
        [Status::Pass, Status::Warn, Status::Fail].map(|status| {
            let labels = format!(
                "id=\"{}\",certificate=\"{}\",status=\"{}\"",
                label(&c.id),
                c.subject,
                status.name().to_ascii_lowercase()
            );
            (labels, i64::from(c.status == status))
        })
    });
    family(&mut s, "psd2_sign_check", "A preflight check: 1 for the status it has, 0 for the others.", checks);
    let failed = r.checks.iter().filter(|c| c.status == Status::Fail).count();
    let failed = i64::try_from(failed).unwrap_or(i64::MAX);
    s.push_str("# HELP psd2_sign_checks_failed How many checks failed.\n# TYPE psd2_sign_checks_failed gauge\n");
    s.push_str(&format!("psd2_sign_checks_failed {failed}\n"));
    s
}
