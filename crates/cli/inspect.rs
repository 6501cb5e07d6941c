//! `psd2-sign inspect CERT [--json] [--require-role ROLE]...`

use std::process::ExitCode;

use psd2_eidas::inspect::{Kind, Report};
use psd2_eidas::{Identity, KeyRef, Role};

use crate::common::{CliError, PasswordArgs};
use crate::output::{out, outln};

/// Arguments of `inspect`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Certificate file (PEM, DER, bundle or PKCS#12), or a PKCS#11 URI of a certificate on a
    /// token; the first (leaf) certificate is shown.
    #[arg(value_name = "CERT")]
    cert: String,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Exit 1 unless the certificate grants this PSD2 role (PSP_AS, PSP_PI, PSP_AI, PSP_IC;
    /// short forms AS, PI, AI, IC). Repeatable.
    #[arg(long, value_name = "ROLE", value_parser = parse_role)]
    require_role: Vec<Role>,
    /// Also check that KEY (a key file, PKCS#12 or PKCS#11 URI) is the certificate's private key.
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
    #[command(flatten)]
    password: PasswordArgs,
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse().map_err(|e: psd2_eidas::Error| e.to_string())
}

/// Runs `inspect`.
pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let cert_ref: KeyRef = args.cert.parse()?;
    let secrets = args.password.secrets()?;
    let certs = psd2_eidas::open_certificates(&cert_ref, &secrets)?;
    if let Some(key) = &args.key {
        let id = Identity::load(&key.parse()?, Some(&cert_ref), &secrets)?;
        if id.certificate() != &certs[0] {
            let mismatch = psd2_eidas::Error::KeyMismatch { key: key.clone(), cert: certs[0].subject().to_display() };
            return Err(match cert_ref {
                KeyRef::File(p) => mismatch.in_file(p),
                _ => mismatch,
            }
            .into());
        }
    }
    let report = Report::new(&certs[0], time::OffsetDateTime::now_utc())?;
    if args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| CliError::input(e.to_string()))?;
        outln!("{json}")?;
    } else {
        out!("{}", render(&report))?;
    }
    let missing: Vec<Role> = args.require_role.iter().copied().filter(|r| !report.has_role(*r)).collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|r| r.name()).collect();
        let has = match &report.psd2 {
            Some(p) if !p.roles.is_empty() => format!("it has {}", p.roles.join(", ")),
            Some(_) => "its PSD2 statement lists no role".into(),
            None => "it has no PSD2 statement".into(),
        };
        return Err(CliError::check(format!("{}: missing PSD2 role {} ({has})", cert_ref, names.join(", "))));
    }
    Ok(ExitCode::SUCCESS)
}

fn render(r: &Report) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: &str| out.push_str(&format!("{k:<13} {v}\n"));
    line("Subject:", &r.subject);
    line("Issuer:", &r.issuer);
    line("Serial:", &r.serial);
    line("Valid:", &format!("{} to {}", r.not_before, r.not_after));
    let key = match r.key.curve {
        Some(c) => format!("{} {c}", r.key.kind.to_uppercase()),
        None => format!("{} {} bits", r.key.kind.to_uppercase(), r.key.bits),
    };
    line("Key:", &key);
    line(
        "Kind:",
        match r.kind {
            Kind::Qwac => "QWAC (qualified website authentication: mTLS)",
            Kind::Qseal => "QSealC (qualified electronic seal: request signing)",
            Kind::Other => "not a QWAC or QSealC (no QcType web/eseal)",
        },
    );
    if let Some(o) = &r.organization_identifier {
        let parts = r
            .organization_identifier_parts
            .as_ref()
            .map(|p| {
                let nca = p.nca.as_deref().map(|n| format!(", NCA {n}")).unwrap_or_default();
                format!(" (scheme {}, country {}{nca}, id {})", p.scheme, p.country, p.reference)
            })
            .unwrap_or_default();
        line("Org. id:", &format!("{o}{parts}"));
    }
    match &r.psd2 {
        Some(p) => {
            line("PSD2 roles:", &p.roles.join(", "));
            line("NCA:", &format!("{} ({})", p.nca_name, p.nca_id));
        }
        None => line("PSD2:", "no PSD2 statement"),
    }
    if let Some(q) = &r.qc {
        let types: Vec<String> = q.types.iter().map(|t| format!("{t:?}").to_lowercase()).collect();
        let mut qc = vec![
            if q.compliance { "QcCompliance".to_owned() } else { "no QcCompliance".to_owned() },
            format!("QcType {}", if types.is_empty() { "-".into() } else { types.join("+") }),
        ];
        if q.sscd {
            qc.push("QcSSCD".into());
        }
        if let Some(y) = q.retention_years {
            qc.push(format!("retention {y} years"));
        }
        if let Some(l) = &q.limit_value {
            qc.push(format!("limit {}e{} {}", l.amount, l.exponent, l.currency));
        }
        line("QC:", &qc.join(", "));
        for p in &q.pds {
            line("PDS:", &format!("{} ({})", p.url, p.language));
        }
    }
    let list = |v: &[String]| if v.is_empty() { "-".to_owned() } else { v.join(", ") };
    line("Key usage:", &list(&r.key_usage));
    line("Ext. usage:", &list(&r.extended_key_usage));
    if !r.subject_alt_names.is_empty() {
        line("Alt. names:", &r.subject_alt_names.join(", "));
    }
    if !r.certificate_policies.is_empty() {
        line("Policies:", &r.certificate_policies.join(", "));
    }
    line("SHA-256:", &r.fingerprint_sha256);
    for w in &r.warnings {
        line("Warning:", w);
    }
    out
}
