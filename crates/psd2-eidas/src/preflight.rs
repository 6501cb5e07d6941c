//! Preflight of a TPP's certificates against what a bank checks: one [`Report`] of
//! [`Check`]s (PASS / WARN / FAIL), for `psd2-sign check`.
//!
//! [`preflight`] looks at a QWAC and a QSealC together (key, QcStatements, PSD2 roles for the
//! [`Operation`]s, NCA, organisation, the QWAC's extended key usage, 2-QWACs, key type, the
//! chain up to a trust anchor, validity); [`renewal`] compares a new certificate with the one
//! it replaces. Nothing here goes to the network: a missing issuer is reported with its
//! caIssuers URL, "not fetched". Checks made elsewhere (revocation) are appended with
//! [`Report::push`] / [`Report::add`]; [`Report::certificates`] gives them each certificate
//! with the issuer found for it.
//!
//! ```
//! use psd2_eidas::preflight::{self, CertificateInput, Operation, Options, Status};
//! use psd2_eidas::load::load_certificates;
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-certs/rsa");
//! let qwac = CertificateInput::new(load_certificates(format!("{dir}/qwac-chain.pem").as_ref(), None)?)?;
//! let qseal = CertificateInput::new(load_certificates(format!("{dir}/qseal-chain.pem").as_ref(), None)?)?;
//! let mut opts = Options::default();
//! opts.operations = vec![Operation::Ais, Operation::Pis];
//! opts.anchors = load_certificates(format!("{dir}/ca.pem").as_ref(), None)?;
//! let now = time::macros::datetime!(2026-12-01 00:00 UTC);
//! let report = preflight::preflight(&qwac, &qseal, &opts, now);
//! assert_eq!(report.status(), Status::Warn); // no key given, clientAuth going away
//! assert!(report.checks.iter().all(|c| c.status != Status::Fail));
//! # Ok::<(), psd2_eidas::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::Serialize;
use time::OffsetDateTime;
use time::macros::datetime;
use x509_parser::extensions::{GeneralName, ParsedExtension};

use crate::inspect::{OID_ORGANIZATION_IDENTIFIER, rfc3339};
use crate::qc::QcType;
use crate::{Certificate, Curve, KeyKind, OrganizationIdentifier, Role, Signer};

/// Policy QNCP-w-gen (ETSI TS 119 411-5): carried by a 2-QWAC.
pub const OID_POLICY_QNCP_W_GEN: &str = "0.4.0.194112.1.6";
/// EKU id-kp-tls-binding (ETSI TS 119 411-5): the only EKU of a 2-QWAC.
pub const OID_EKU_TLS_BINDING: &str = "0.4.0.194115.1.0";
/// Access method caIssuers of the authorityInfoAccess extension.
pub const OID_AD_CA_ISSUERS: &str = "1.3.6.1.5.5.7.48.2";

/// Chrome root policy: public TLS subordinate CAs serverAuth-only from this day.
pub const CLIENT_AUTH_SUBCA_SUNSET: OffsetDateTime = datetime!(2026-06-15 00:00 UTC);
/// Chrome root policy: public TLS leaf certificates serverAuth-only from this day.
pub const CLIENT_AUTH_LEAF_SUNSET: OffsetDateTime = datetime!(2027-03-15 00:00 UTC);

/// Days before expiry from which [`preflight`] warns, unless told otherwise.
pub const DEFAULT_WARN_DAYS: i64 = 30;

/// Which certificate a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Subject {
    /// The QWAC (mTLS).
    Qwac,
    /// The QSealC (request seals).
    Qseal,
    /// Both certificates together (the same organisation…), or both sides of a renewal.
    Both,
    /// The new certificate of a renewal.
    New,
    /// The current certificate of a renewal.
    Current,
}

impl Subject {
    /// `qwac`, `qseal`, `both`, `new`, `current`.
    pub fn name(self) -> &'static str {
        match self {
            Subject::Qwac => "qwac",
            Subject::Qseal => "qseal",
            Subject::Both => "both",
            Subject::New => "new",
            Subject::Current => "current",
        }
    }

    /// How messages name it: `QWAC`, `QSealC`, …
    fn label(self) -> &'static str {
        match self {
            Subject::Qwac => "QWAC",
            Subject::Qseal => "QSealC",
            Subject::Both => "both certificates",
            Subject::New => "new certificate",
            Subject::Current => "current certificate",
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The verdict of one check. Ordered: `Pass < Warn < Fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Pass,
    /// Works today, but needs attention (or could not be checked).
    Warn,
    /// The bank will refuse it.
    Fail,
}

impl Status {
    /// `PASS`, `WARN`, `FAIL`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One check: what was checked, on which certificate, the verdict and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// A stable identifier (`roles`, `chain`, `validity`, …), unique per subject in a report.
    pub id: String,
    /// The certificate concerned.
    pub subject: Subject,
    /// The verdict.
    pub status: Status,
    /// One readable sentence.
    pub message: String,
}

impl Check {
    /// A check.
    pub fn new(id: impl Into<String>, subject: Subject, status: Status, message: impl Into<String>) -> Self {
        Self { id: id.into(), subject, status, message: message.into() }
    }
}

/// A certificate the report is about, for checks appended later (revocation) and for
/// monitoring (days left).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateInfo {
    /// Which one.
    pub subject: Subject,
    /// The leaf certificate.
    #[serde(skip)]
    pub certificate: Certificate,
    /// Its issuer, when found (the validated path, else the given chain or anchors by name).
    #[serde(skip)]
    pub issuer: Option<Certificate>,
    /// Serial, lower-case hex.
    pub serial: String,
    /// notAfter, RFC 3339.
    pub not_after: String,
    /// Whole days from `now` to notAfter (negative once expired).
    pub days_left: i64,
}

/// The result of a preflight: the checks in order, and the certificates they concern.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The checks, in the order they were made; append with [`Report::push`].
    pub checks: Vec<Check>,
    /// The leaf certificates checked.
    pub certificates: Vec<CertificateInfo>,
}

impl Report {
    /// Appends a check (the extension point for checks made elsewhere, e.g. revocation).
    pub fn push(&mut self, check: Check) {
        self.checks.push(check);
    }

    /// Appends a check made of its parts.
    pub fn add(&mut self, id: &str, subject: Subject, status: Status, message: impl Into<String>) {
        self.push(Check::new(id, subject, status, message));
    }

    /// The worst status (`Pass` for an empty report).
    pub fn status(&self) -> Status {
        self.checks.iter().map(|c| c.status).max().unwrap_or(Status::Pass)
    }

    /// True when some check failed.
    pub fn failed(&self) -> bool {
        self.status() == Status::Fail
    }

    /// The certificate entry for `subject`.
    pub fn certificate(&self, subject: Subject) -> Option<&CertificateInfo> {
        self.certificates.iter().find(|c| c.subject == subject)
    }
}

/// A PSD2 service the TPP calls the bank for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum Operation {
    /// Account information (AIS): PSP_AI.
    Ais,
    /// Payment initiation (PIS): PSP_PI; the initiation is sealed with the QSealC.
    Pis,
    /// Confirmation of funds (CAF, PIIS): PSP_IC.
    Caf,
}

impl Operation {
    /// All three.
    pub const ALL: [Operation; 3] = [Operation::Ais, Operation::Pis, Operation::Caf];

    /// `AIS`, `PIS`, `CAF`.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Ais => "AIS",
            Operation::Pis => "PIS",
            Operation::Caf => "CAF",
        }
    }

    /// The role the QWAC needs for the operation's calls (the client's call table).
    pub fn role(self) -> Role {
        match self {
            Operation::Ais => Role::AccountInformation,
            Operation::Pis => Role::PaymentInitiation,
            Operation::Caf => Role::IssuingCards,
        }
    }

    /// Whether Belfius/Banx seal a request of this operation with the QSealC (only the payment
    /// initiation is, belfius-api.md §9).
    pub fn sealed_at_belfius(self) -> bool {
        self == Operation::Pis
    }
}

impl FromStr for Operation {
    type Err = String;

    /// `AIS`, `PIS`, `CAF` (also `PIIS`), in any case.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_uppercase().as_str() {
            "AIS" => Ok(Operation::Ais),
            "PIS" => Ok(Operation::Pis),
            "CAF" | "PIIS" => Ok(Operation::Caf),
            _ => Err(format!("unknown operation '{}' (expected AIS, PIS or CAF)", s.escape_debug())),
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A bank whose certificate rules are known (docs/belfius-api.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Bank {
    /// Belfius.
    Belfius,
    /// Banx (the Belfius API on another host).
    Banx,
}

impl FromStr for Bank {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "belfius" => Ok(Bank::Belfius),
            "banx" => Ok(Bank::Banx),
            _ => Err(format!("unknown bank '{}' (expected belfius or banx)", s.escape_debug())),
        }
    }
}

impl Bank {
    /// `Belfius`, `Banx`.
    pub fn name(self) -> &'static str {
        match self {
            Bank::Belfius => "Belfius",
            Bank::Banx => "Banx",
        }
    }
}

/// One certificate to check: its chain, leaf first, and optionally its private key.
#[derive(Debug, Clone)]
pub struct CertificateInput {
    chain: Vec<Certificate>,
    key: Option<Arc<dyn Signer>>,
}

impl CertificateInput {
    /// A chain, leaf first (the rest: intermediates, in any order). Fails when empty.
    pub fn new(chain: Vec<Certificate>) -> Result<Self, crate::Error> {
        if chain.is_empty() {
            return Err(crate::Error::NoCertificate);
        }
        Ok(Self { chain, key: None })
    }

    /// With the private key that should belong to the leaf.
    pub fn with_key(mut self, key: Arc<dyn Signer>) -> Self {
        self.key = Some(key);
        self
    }

    /// The leaf.
    pub fn leaf(&self) -> &Certificate {
        &self.chain[0]
    }

    /// The chain, leaf first.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }
}

/// What [`preflight`] checks against.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// The services used; the roles needed follow from them. Empty: roles are not checked (WARN).
    pub operations: Vec<Operation>,
    /// Trust anchors (roots or issuing CAs) the chains must reach. Empty: WARN.
    pub anchors: Vec<Certificate>,
    /// The bank, for its key rules; `None`: the rules every bank shares.
    pub bank: Option<Bank>,
    /// WARN when fewer days are left ([`DEFAULT_WARN_DAYS`]).
    pub warn_days: i64,
}

impl Default for Options {
    fn default() -> Self {
        Self { operations: Vec::new(), anchors: Vec::new(), bank: None, warn_days: DEFAULT_WARN_DAYS }
    }
}

/// Checks a QWAC and a QSealC together at `now`. Never fails: what cannot be read is a FAIL
/// check, what cannot be checked a WARN.
pub fn preflight(qwac: &CertificateInput, qseal: &CertificateInput, opts: &Options, now: OffsetDateTime) -> Report {
    let mut report = Report::default();
    for (subject, input) in [(Subject::Qwac, qwac), (Subject::Qseal, qseal)] {
        let leaf = input.leaf();
        check_key(&mut report, subject, leaf, input.key.as_deref());
        check_qc(&mut report, subject, leaf);
        check_roles(&mut report, subject, leaf, opts);
        check_nca(&mut report, subject, leaf);
        if subject == Subject::Qwac {
            check_client_auth(&mut report, Subject::Qwac, leaf);
            check_two_qwac(&mut report, Subject::Qwac, leaf);
        }
        check_key_type(&mut report, subject, leaf, opts);
        report.push(check_chain(subject, input.chain(), &opts.anchors, now));
        check_validity(&mut report, subject, leaf, now, opts.warn_days);
        let issuer = find_issuer(leaf, input.chain(), &opts.anchors, now);
        report.certificates.push(info(subject, leaf, issuer, now));
    }
    check_same_organisation(&mut report, qwac.leaf(), qseal.leaf());
    report
}

/// Compares a `new` certificate (chain, leaf first) with the `current` one it replaces:
/// the same organizationIdentifier, roles not narrowed, the same issuer or not, the overlap of
/// the validity periods (WARN under `warn_days`), and each one's validity at `now`.
pub fn renewal(new: &[Certificate], current: &[Certificate], warn_days: i64, now: OffsetDateTime) -> Report {
    let mut report = Report::default();
    let (Some(n), Some(c)) = (new.first(), current.first()) else {
        report.add("renewal", Subject::Both, Status::Fail, "no certificate given");
        return report;
    };
    compare_organisations(
        &mut report,
        (n, "the new certificate"),
        (c, "the current one"),
        "a bank registers the TPP by it",
    );
    let (tn, tc) = (qc_types(n), qc_types(c));
    if tn == tc {
        report.add("qc-type", Subject::Both, Status::Pass, format!("same QcType {}", types_text(&tn)));
    } else {
        report.add(
            "qc-type",
            Subject::Both,
            Status::Fail,
            format!("the new certificate has QcType {}, the current one {}", types_text(&tn), types_text(&tc)),
        );
    }
    match (n.psd2_roles(), c.psd2_roles()) {
        (Ok(rn), Ok(rc)) => {
            let dropped: Vec<&str> = rc.iter().filter(|r| !rn.contains(r)).map(|r| r.name()).collect();
            if dropped.is_empty() {
                report.add("roles", Subject::Both, Status::Pass, format!("roles kept: {}", roles_text(&rn)));
            } else {
                report.add(
                    "roles",
                    Subject::Both,
                    Status::Fail,
                    format!(
                        "the new certificate drops {} (new: {}; current: {})",
                        dropped.join(", "),
                        roles_text(&rn),
                        roles_text(&rc)
                    ),
                );
            }
        }
        (Err(e), _) | (_, Err(e)) => report.add("roles", Subject::Both, Status::Fail, format!("roles unreadable: {e}")),
    }
    let issuer_of = |leaf: &Certificate, chain: &[Certificate]| {
        chain.iter().skip(1).find(|x| x.subject() == leaf.issuer()).map(|x| x.public_key().clone())
    };
    let (kn, kc) = (issuer_of(n, new), issuer_of(c, current));
    let same_key = match (&kn, &kc) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    if n.issuer() == c.issuer() && same_key {
        let how = if kn.is_some() && kc.is_some() { "" } else { " (by name: a chain without the CA was given)" };
        report.add("issuer", Subject::Both, Status::Pass, format!("same issuing CA {}{how}", n.issuer().to_display()));
    } else {
        let qtsp = |x: &Certificate| x.issuer().get("2.5.4.10").map(str::to_owned);
        let same_qtsp = qtsp(n).is_some() && qtsp(n) == qtsp(c);
        let which = if n.issuer() == c.issuer() {
            "a CA of the same name with another key"
        } else if same_qtsp {
            "another CA of the same QTSP"
        } else {
            "another QTSP"
        };
        report.add(
            "issuer",
            Subject::Both,
            Status::Warn,
            format!(
                "issued by {} ({which}), the current one by {}: some banks must install the new chain before the switch, and some accept one certificate at a time",
                n.issuer().to_display(),
                c.issuer().to_display()
            ),
        );
    }
    let start = n.not_before().max(c.not_before());
    let end = n.not_after().min(c.not_after());
    if end < start {
        report.add(
            "overlap",
            Subject::Both,
            Status::Fail,
            format!(
                "no overlap: the current certificate ends {}, the new one starts {}",
                rfc3339(c.not_after()),
                rfc3339(n.not_before())
            ),
        );
    } else {
        let days = (end - start).whole_days();
        let status = if days < warn_days { Status::Warn } else { Status::Pass };
        report.add(
            "overlap",
            Subject::Both,
            status,
            format!("the validity periods overlap {days} days ({} to {})", rfc3339(start), rfc3339(end)),
        );
    }
    if qc_types(n).contains(&QcType::Web) {
        check_client_auth(&mut report, Subject::New, n);
        check_two_qwac(&mut report, Subject::New, n);
    }
    for (subject, cert, chain) in [(Subject::New, n, new), (Subject::Current, c, current)] {
        check_validity(&mut report, subject, cert, now, warn_days);
        let issuer = find_issuer(cert, chain, &[], now);
        report.certificates.push(info(subject, cert, issuer, now));
    }
    report
}

fn info(subject: Subject, cert: &Certificate, issuer: Option<Certificate>, now: OffsetDateTime) -> CertificateInfo {
    CertificateInfo {
        subject,
        certificate: cert.clone(),
        issuer,
        serial: cert.serial_hex(),
        not_after: rfc3339(cert.not_after()),
        days_left: (cert.not_after() - now).whole_days(),
    }
}

fn shown(v: Option<&str>) -> String {
    v.map_or_else(|| "(none)".to_owned(), |s| s.escape_debug().to_string())
}

fn org_id(cert: &Certificate) -> Option<String> {
    cert.subject().get(OID_ORGANIZATION_IDENTIFIER).map(str::to_owned)
}

fn qc_types(cert: &Certificate) -> Vec<QcType> {
    cert.qc_statements().ok().flatten().map(|q| q.types).unwrap_or_default()
}

fn types_text(t: &[QcType]) -> String {
    if t.is_empty() {
        return "(none)".into();
    }
    t.iter()
        .map(|t| match t {
            QcType::Esign => "esign",
            QcType::Eseal => "eseal",
            QcType::Web => "web",
        })
        .collect::<Vec<_>>()
        .join("+")
}

fn roles_text(r: &[Role]) -> String {
    if r.is_empty() { "no role".into() } else { r.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ") }
}

/// The key belongs to the leaf: same public key, and a test signature verifies.
fn check_key(report: &mut Report, subject: Subject, leaf: &Certificate, key: Option<&dyn Signer>) {
    let id = "key-match";
    let Some(key) = key else {
        report.add(
            id,
            subject,
            Status::Warn,
            "no private key given: whether it belongs to the certificate was not checked",
        );
        return;
    };
    if key.public_key() != leaf.public_key() {
        report.add(
            id,
            subject,
            Status::Fail,
            format!("the key ({}) does not belong to the certificate: their public keys differ", key.describe()),
        );
        return;
    }
    let scheme = leaf.public_key().kind().default_scheme();
    let probe = b"psd2-sign preflight: does the key belong to the certificate?";
    match key.sign(scheme, probe).and_then(|sig| leaf.public_key().verify(scheme, probe, &sig)) {
        Ok(()) => {
            report.add(id, subject, Status::Pass, format!("the key ({}) belongs to the certificate", key.describe()))
        }
        Err(e) => report.add(
            id,
            subject,
            Status::Fail,
            format!("a test signature with the key ({}) does not verify with the certificate: {e}", key.describe()),
        ),
    }
}

/// QcCompliance and the QcType the subject needs (web for the QWAC, eseal for the QSealC).
fn check_qc(report: &mut Report, subject: Subject, leaf: &Certificate) {
    let qc = match leaf.qc_statements() {
        Ok(Some(q)) => q,
        Ok(None) => {
            let why = "no qcStatements extension: not an EU qualified certificate";
            report.add("qc-compliance", subject, Status::Fail, why);
            report.add("qc-type", subject, Status::Fail, why);
            return;
        }
        Err(e) => {
            report.add("qc-compliance", subject, Status::Fail, e.to_string());
            report.add("qc-type", subject, Status::Fail, e.to_string());
            return;
        }
    };
    if qc.compliance {
        report.add("qc-compliance", subject, Status::Pass, "QcCompliance: an EU qualified certificate");
    } else {
        report.add(
            "qc-compliance",
            subject,
            Status::Fail,
            "no QcCompliance statement: not an EU qualified certificate",
        );
    }
    let (want, what) = match subject {
        Subject::Qseal => (QcType::Eseal, "eseal (a QSealC, for seals)"),
        _ => (QcType::Web, "web (a QWAC, for TLS)"),
    };
    if qc.types.contains(&want) {
        report.add("qc-type", subject, Status::Pass, format!("QcType {what}"));
    } else {
        report.add(
            "qc-type",
            subject,
            Status::Fail,
            format!("QcType is {}, the {} needs {what}", types_text(&qc.types), subject.label()),
        );
    }
}

/// The roles the operations need: the QWAC the role of every call; the QSealC PSP_PI for a
/// payment initiation (sealed); for AIS/CAF the QSealC's role matters only to banks that seal
/// every request (not Belfius/Banx): a WARN there.
fn check_roles(report: &mut Report, subject: Subject, leaf: &Certificate, opts: &Options) {
    let id = "roles";
    let roles = match leaf.psd2_roles() {
        Ok(r) => r,
        Err(e) => {
            report.add(id, subject, Status::Fail, format!("PSD2 roles unreadable: {e}"));
            return;
        }
    };
    if opts.operations.is_empty() {
        report.add(
            id,
            subject,
            Status::Warn,
            format!("no operations given: {} not checked against them", roles_text(&roles)),
        );
        return;
    }
    let mut missing: Vec<String> = Vec::new();
    let mut optional: Vec<String> = Vec::new();
    for op in &opts.operations {
        let role = op.role();
        if roles.contains(&role) {
            continue;
        }
        let needed = match subject {
            Subject::Qseal => op.sealed_at_belfius(),
            _ => true,
        };
        let entry = format!("{} (for {op})", role.name());
        if needed {
            missing.push(entry);
        } else if opts.bank.is_none() {
            optional.push(entry);
        }
    }
    let has = format!("it has {}", roles_text(&roles));
    if !missing.is_empty() {
        report.add(id, subject, Status::Fail, format!("the {} lacks {}; {has}", subject.label(), missing.join(", ")));
    } else if !optional.is_empty() {
        report.add(
            id,
            subject,
            Status::Warn,
            format!(
                "the {} lacks {}: banks that seal every request need it (Belfius and Banx seal only payment initiations); {has}",
                subject.label(),
                optional.join(", ")
            ),
        );
    } else {
        let ops: Vec<&str> = opts.operations.iter().map(|o| o.name()).collect();
        report.add(id, subject, Status::Pass, format!("{} cover {}", roles_text(&roles), ops.join(", ")));
    }
}

/// Known NCAs and the names their certificates carry.
const NCA_NAMES: &[(&str, &[&str])] =
    &[("BE-NBB", &["National Bank of Belgium", "Nationale Bank van België", "Banque nationale de Belgique", "NBB"])];

/// NCAId and NCAName against the organizationIdentifier (`PSDBE-NBB-…` ↔ `BE-NBB`).
fn check_nca(report: &mut Report, subject: Subject, leaf: &Certificate) {
    let id = "nca";
    let psd2 = match leaf.qc_statements() {
        Ok(q) => q.and_then(|q| q.psd2),
        Err(e) => {
            report.add(id, subject, Status::Fail, e.to_string());
            return;
        }
    };
    let Some(p) = psd2 else {
        report.add(id, subject, Status::Fail, "no PSD2 statement (ETSI TS 119 495): no NCA, no roles");
        return;
    };
    if let Err(e) = crate::check_nca_id(&p.nca_id) {
        report.add(id, subject, Status::Fail, e);
        return;
    }
    let Some(raw) = org_id(leaf) else {
        report.add(id, subject, Status::Fail, "no subject organizationIdentifier: the bank cannot identify the TPP");
        return;
    };
    let org = match OrganizationIdentifier::parse(&raw) {
        Ok(o) => o,
        Err(e) => {
            report.add(id, subject, Status::Fail, e.to_string());
            return;
        }
    };
    let Some(implied) = org.nca_id() else {
        report.add(
            id,
            subject,
            Status::Warn,
            format!(
                "organizationIdentifier {raw} is not of the PSD scheme: the NCAId {} cannot be checked against it",
                p.nca_id
            ),
        );
        return;
    };
    if implied != p.nca_id {
        report.add(
            id,
            subject,
            Status::Fail,
            format!("NCAId {} disagrees with organizationIdentifier {raw}, which names the NCA {implied}", p.nca_id),
        );
        return;
    }
    if let Some((_, names)) = NCA_NAMES.iter().find(|(nca, _)| *nca == p.nca_id)
        && !names.iter().any(|n| n.eq_ignore_ascii_case(p.nca_name.trim()))
    {
        report.add(
            id,
            subject,
            Status::Warn,
            format!(
                "NCAId {} agrees with {raw}, but NCAName '{}' is not the name of {} ('{}')",
                p.nca_id,
                p.nca_name.escape_debug(),
                p.nca_id,
                names[0]
            ),
        );
        return;
    }
    report.add(
        id,
        subject,
        Status::Pass,
        format!("NCA {} ({}) agrees with organizationIdentifier {raw}", p.nca_id, p.nca_name.escape_debug()),
    );
}

/// The QWAC and the QSealC name the same organisation (organizationIdentifier).
fn check_same_organisation(report: &mut Report, qwac: &Certificate, qseal: &Certificate) {
    compare_organisations(report, (qwac, "the QWAC"), (qseal, "the QSealC"), "the bank expects one TPP");
}

/// The `organisation` check: both certificates carry the same organizationIdentifier.
fn compare_organisations(report: &mut Report, a: (&Certificate, &str), b: (&Certificate, &str), why: &str) {
    let (x, y) = (org_id(a.0), org_id(b.0));
    match (&x, &y) {
        (Some(x), Some(y)) if x == y => {
            report.add("organisation", Subject::Both, Status::Pass, format!("both certificates are for {x}"))
        }
        _ => report.add(
            "organisation",
            Subject::Both,
            Status::Fail,
            format!(
                "{} is for organizationIdentifier {}, {} for {}: {why}",
                a.1,
                shown(x.as_deref()),
                b.1,
                shown(y.as_deref())
            ),
        ),
    }
}

/// The extended key usages of `cert` by name or OID (`None` without the extension).
fn eku_oids(cert: &Certificate) -> Result<Option<Vec<String>>, String> {
    crate::inspect::extended_key_usages(&cert.parsed().map_err(|e| e.to_string())?)
}

const CLIENT_AUTH: &str = "clientAuth";

/// clientAuth in the QWAC's EKU (FAIL without), and the WARN that it is going away.
fn check_client_auth(report: &mut Report, subject: Subject, leaf: &Certificate) {
    let ekus = match eku_oids(leaf) {
        Ok(e) => e,
        Err(e) => {
            report.add("client-auth", subject, Status::Fail, e);
            return;
        }
    };
    let Some(ekus) = ekus else {
        report.add(
            "client-auth",
            subject,
            Status::Fail,
            "no extKeyUsage extension: a bank checking the EKU strictly (as webpki does) refuses it for mTLS, which needs clientAuth",
        );
        return;
    };
    if !ekus.iter().any(|o| o == CLIENT_AUTH) {
        report.add(
            "client-auth",
            subject,
            Status::Fail,
            format!(
                "extKeyUsage lacks clientAuth ({}): the bank refuses it as a TLS client certificate",
                if ekus.is_empty() { "none".into() } else { ekus.join(", ") }
            ),
        );
        return;
    }
    report.add("client-auth", subject, Status::Pass, "extKeyUsage has clientAuth");
    // Its renewal is issued before notAfter: after the sub-CA date, QTSPs' new hierarchies are
    // serverAuth-only.
    if leaf.not_after() >= CLIENT_AUTH_SUBCA_SUNSET {
        report.add(
            "client-auth-sunset",
            subject,
            Status::Warn,
            format!(
                "QTSPs are dropping clientAuth: Chrome root policy makes TLS hierarchies serverAuth-only for subordinate CAs from {} and for leaf certificates from {}; the renewal of this QWAC (valid to {}) may lack it: ask the QTSP, and the bank whether it accepts a QWAC without clientAuth",
                CLIENT_AUTH_SUBCA_SUNSET.date(),
                CLIENT_AUTH_LEAF_SUNSET.date(),
                leaf.not_after().date()
            ),
        );
    }
}

/// A 2-QWAC (ETSI TS 119 411-5) cannot authenticate a TLS client.
fn check_two_qwac(report: &mut Report, subject: Subject, leaf: &Certificate) {
    let id = "2-qwac";
    let policies: Vec<String> = match leaf.parsed() {
        Ok(x) => x
            .extensions()
            .iter()
            .filter_map(|e| match e.parsed_extension() {
                ParsedExtension::CertificatePolicies(p) => {
                    Some(p.iter().map(|pi| pi.policy_id.to_id_string()).collect::<Vec<_>>())
                }
                _ => None,
            })
            .flatten()
            .collect(),
        Err(e) => {
            report.add(id, subject, Status::Fail, e.to_string());
            return;
        }
    };
    let ekus = eku_oids(leaf).ok().flatten().unwrap_or_default();
    let mut why = Vec::new();
    if policies.iter().any(|p| p == OID_POLICY_QNCP_W_GEN) {
        why.push(format!("policy QNCP-w-gen {OID_POLICY_QNCP_W_GEN}"));
    }
    if ekus.iter().any(|e| e == OID_EKU_TLS_BINDING) {
        why.push(format!("EKU id-kp-tls-binding {OID_EKU_TLS_BINDING}"));
    }
    if why.is_empty() {
        report.add(id, subject, Status::Pass, "not a 2-QWAC");
    } else {
        report.add(
            id,
            subject,
            Status::Fail,
            format!(
                "a 2-QWAC ({}): ETSI TS 119 411-5 binds it to a website through a TLS-bound signature, it is not a TLS certificate and cannot authenticate the TPP in mutual TLS; a 1-QWAC is needed",
                why.join(", ")
            ),
        );
    }
}

/// Key type and size: RSA from 2048 bits, P-256, P-384; for Belfius/Banx, an RSA QSealC when
/// payments are initiated (the PIS seal is RS256, belfius-api.md §9.2).
fn check_key_type(report: &mut Report, subject: Subject, leaf: &Certificate, opts: &Options) {
    let id = "key-type";
    let kind = leaf.public_key().kind();
    let general = match kind {
        KeyKind::Rsa { bits } if bits < 2048 => Err(format!("RSA {bits} bits: banks and QTSPs require at least 2048")),
        KeyKind::Rsa { .. } | KeyKind::Ec(Curve::P256 | Curve::P384) => Ok(()),
        KeyKind::Ed25519 => {
            Err("Ed25519: not accepted for eIDAS certificates by QTSPs and banks (RSA ≥ 2048, P-256, P-384)".into())
        }
    };
    if let Err(why) = general {
        report.add(id, subject, Status::Fail, why);
        return;
    }
    let Some(bank) = opts.bank else {
        report.add(id, subject, Status::Pass, format!("{kind} (RSA ≥ 2048, P-256 and P-384 are accepted)"));
        return;
    };
    let rsa = matches!(kind, KeyKind::Rsa { .. });
    match subject {
        Subject::Qseal if !rsa && opts.operations.contains(&Operation::Pis) => report.add(
            id,
            subject,
            Status::Fail,
            format!("{kind}: {} verifies the payment-initiation seal as RS256 (RSA PKCS#1 v1.5 SHA-256), so the QSealC must be RSA", bank.name()),
        ),
        Subject::Qseal if !rsa => report.add(
            id,
            subject,
            Status::Warn,
            format!("{kind}: {} seals only payment initiations, as RS256: an RSA QSealC is needed once PIS is used", bank.name()),
        ),
        Subject::Qseal => report.add(id, subject, Status::Pass, format!("{kind}: {} seals with RS256", bank.name())),
        _ => report.add(
            id,
            subject,
            Status::Pass,
            format!("{kind} (the key types {} accepts in TLS are not documented; RSA ≥ 2048, P-256 and P-384 are assumed)", bank.name()),
        ),
    }
}

/// Validity at `now`: FAIL outside it, WARN with fewer than `warn_days` left.
fn check_validity(report: &mut Report, subject: Subject, leaf: &Certificate, now: OffsetDateTime, warn_days: i64) {
    let id = "validity";
    if now < leaf.not_before() {
        report.add(id, subject, Status::Fail, format!("not yet valid: valid from {}", rfc3339(leaf.not_before())));
        return;
    }
    if now > leaf.not_after() {
        report.add(id, subject, Status::Fail, format!("expired on {}", rfc3339(leaf.not_after())));
        return;
    }
    let days = (leaf.not_after() - now).whole_days();
    let status = if days < warn_days { Status::Warn } else { Status::Pass };
    let renew = if status == Status::Warn { ": renew it now" } else { "" };
    report.add(id, subject, status, format!("{days} days left (valid to {}){renew}", rfc3339(leaf.not_after())));
}

/// An issuer the chain needs and was not given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingIssuer {
    /// The certificate whose issuer is missing.
    pub certificate: Certificate,
    /// The issuer's name, readable.
    pub issuer: String,
    /// caIssuers URLs of `certificate`'s authorityInfoAccess (where the issuer could be fetched).
    pub ca_issuers: Vec<String>,
}

/// Walks `chain` (leaf first) by names up to an anchor: the first certificate whose issuer is
/// neither in the chain nor among the anchors, or `None` when the names connect.
pub fn missing_issuer(chain: &[Certificate], anchors: &[Certificate]) -> Option<MissingIssuer> {
    let mut cur = chain.first()?;
    for _ in 0..=chain.len() {
        if anchors.iter().any(|a| a.subject() == cur.issuer()) {
            return None;
        }
        if cur.subject() == cur.issuer() {
            // Self-issued and not an anchor: the root itself is what is missing.
            break;
        }
        match chain.iter().find(|c| c.subject() == cur.issuer() && *c != cur) {
            Some(next) => cur = next,
            None => break,
        }
    }
    Some(MissingIssuer { certificate: cur.clone(), issuer: cur.issuer().to_display(), ca_issuers: ca_issuers(cur) })
}

/// The caIssuers URLs of a certificate's authorityInfoAccess.
pub fn ca_issuers(cert: &Certificate) -> Vec<String> {
    let Ok(x) = cert.parsed() else { return Vec::new() };
    let mut urls = Vec::new();
    for ext in x.extensions() {
        if let ParsedExtension::AuthorityInfoAccess(aia) = ext.parsed_extension() {
            for d in aia.iter() {
                if d.access_method.to_id_string() == OID_AD_CA_ISSUERS
                    && let GeneralName::URI(u) = &d.access_location
                {
                    urls.push((*u).to_owned());
                }
            }
        }
    }
    urls
}

/// The issuer of `leaf`: from the path to an anchor when one validates, else the first
/// certificate of the chain or the anchors with the issuer's name.
fn find_issuer(
    leaf: &Certificate,
    chain: &[Certificate],
    anchors: &[Certificate],
    now: OffsetDateTime,
) -> Option<Certificate> {
    if let Ok(path) = validate_path(chain, anchors, now) {
        return path.into_iter().nth(1);
    }
    chain.iter().skip(1).chain(anchors).find(|c| c.subject() == leaf.issuer()).cloned()
}

/// Accepts any extended key usage: the EKU is its own check.
struct AnyEku;

impl webpki::ExtendedKeyUsageValidator for AnyEku {
    fn validate(&self, _: webpki::KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

/// Validates `chain` (leaf first; the rest untrusted intermediates) up to one of `anchors` with
/// rustls-webpki at `at`; returns the path, leaf first, anchor last.
fn validate_path(
    chain: &[Certificate],
    anchors: &[Certificate],
    at: OffsetDateTime,
) -> Result<Vec<Certificate>, webpki::Error> {
    use rustls_pki_types::{CertificateDer, UnixTime};
    let leaf = chain.first().ok_or(webpki::Error::BadDer)?;
    let ee_der = CertificateDer::from(leaf.der());
    let ee = webpki::EndEntityCert::try_from(&ee_der)?;
    let anchor_ders: Vec<CertificateDer<'_>> = anchors.iter().map(|a| CertificateDer::from(a.der())).collect();
    let trust = anchor_ders.iter().map(webpki::anchor_from_trusted_cert).collect::<Result<Vec<_>, _>>()?;
    let inter: Vec<CertificateDer<'_>> = chain[1..].iter().map(|c| CertificateDer::from(c.der())).collect();
    let secs = u64::try_from(at.unix_timestamp()).unwrap_or(0);
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs));
    let path = ee.verify_for_usage(webpki::ALL_VERIFICATION_ALGS, &trust, &inter, time, AnyEku, None, None)?;
    let mut out = vec![leaf.clone()];
    out.extend(path.intermediate_certificates().filter_map(|c| Certificate::from_der(c.der().as_ref()).ok()));
    let ta = path.anchor();
    if let Some((a, _)) = anchors
        .iter()
        .zip(&trust)
        .find(|(_, t)| t.subject == ta.subject && t.subject_public_key_info == ta.subject_public_key_info)
    {
        out.push(a.clone());
    }
    Ok(out)
}

/// The chain check alone: `chain` (leaf first) validated up to one of `anchors` (rustls-webpki:
/// signatures, names, CA constraints, validity). Validity is judged at `now`, or within the
/// leaf's own period when `now` is outside it (the `validity` check reports that). An issuer
/// that was not given is named with its caIssuers URL, not fetched. Public so that a caller
/// who fetched missing issuers can run it again with them.
pub fn check_chain(subject: Subject, chain: &[Certificate], anchors: &[Certificate], now: OffsetDateTime) -> Check {
    let id = "chain";
    let Some(leaf) = chain.first() else {
        return Check::new(id, subject, Status::Fail, "no certificate given");
    };
    if leaf.parsed().is_ok_and(|x| x.is_ca()) {
        return Check::new(
            id,
            subject,
            Status::Fail,
            format!(
                "the first certificate ({}) is a CA certificate: give the chain leaf first",
                leaf.subject().to_display()
            ),
        );
    }
    if anchors.is_empty() {
        let missing = match missing_issuer(chain, anchors) {
            Some(m) => format!("; the chain ends at the issuer {}", describe_missing(&m)),
            None => String::new(),
        };
        return Check::new(
            id,
            subject,
            Status::Warn,
            format!("no trust anchor given: the path to a root was not validated{missing}"),
        );
    }
    let at = if leaf.not_before() <= leaf.not_after() { now.clamp(leaf.not_before(), leaf.not_after()) } else { now };
    match validate_path(chain, anchors, at) {
        Ok(path) => {
            if let Some(bad) = path.iter().skip(1).find(|c| !c.is_valid_at(now)) {
                return Check::new(
                    id,
                    subject,
                    Status::Fail,
                    format!(
                        "the CA {} is not valid at {} (valid {} to {})",
                        bad.subject().to_display(),
                        rfc3339(now),
                        rfc3339(bad.not_before()),
                        rfc3339(bad.not_after())
                    ),
                );
            }
            let names: Vec<String> = path.iter().skip(1).map(|c| c.subject().to_display()).collect();
            Check::new(id, subject, Status::Pass, format!("complete up to the anchor: {}", names.join(" <- ")))
        }
        Err(webpki::Error::UnknownIssuer) => match missing_issuer(chain, anchors) {
            Some(m) => Check::new(
                id,
                subject,
                Status::Fail,
                format!(
                    "incomplete: no certificate of the issuer {} was given (neither in the chain nor among the anchors)",
                    describe_missing(&m)
                ),
            ),
            None => Check::new(
                id,
                subject,
                Status::Fail,
                format!(
                    "{} was not issued by any given anchor (a CA of that name was given, but its key did not sign it)",
                    leaf.subject().to_display()
                ),
            ),
        },
        Err(
            webpki::Error::InvalidSignatureForPublicKey
            | webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_),
        ) => {
            // The names connect (to an anchor or an intermediate), a key does not.
            let top = chain.iter().rev().find(|c| anchors.iter().any(|a| a.subject() == c.issuer())).unwrap_or(leaf);
            Check::new(
                id,
                subject,
                Status::Fail,
                format!(
                    "the path does not verify: a CA named '{}' was given, but its key did not sign '{}' (another CA of the same name, or a wrong chain)",
                    top.issuer().to_display(),
                    top.subject().to_display()
                ),
            )
        }
        Err(e) => Check::new(id, subject, Status::Fail, format!("path validation failed: {}", webpki_reason(&e))),
    }
}

fn describe_missing(m: &MissingIssuer) -> String {
    let aia = if m.ca_issuers.is_empty() {
        "it has no caIssuers URL".to_owned()
    } else {
        format!("caIssuers {} (not fetched)", m.ca_issuers.join(", "))
    };
    format!("'{}' of '{}'; {aia}", m.issuer, m.certificate.subject().to_display())
}

fn webpki_reason(e: &webpki::Error) -> String {
    use webpki::Error as W;
    match e {
        W::CaUsedAsEndEntity => "the leaf is a CA certificate".into(),
        W::EndEntityUsedAsCa => "an issuer on the path is not a CA (no basicConstraints CA:TRUE)".into(),
        W::PathLenConstraintViolated => "a CA on the path allows no further CAs below it (pathLenConstraint)".into(),
        W::CertExpired { .. } | W::CertNotValidYet { .. } => "a CA on the path is outside its validity".into(),
        W::UnsupportedCertVersion => "a certificate is not X.509 v3".into(),
        other => other.to_string(),
    }
}
