//! [`CertificateAuthority`]: a test PKI shaped like a QTSP's, one root and one issuing CA per
//! kind, kept in a directory (see [`crate::store`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use psd2_eidas::{Certificate, Signer, load};
use rcgen::Issuer;
use time::OffsetDateTime;

use crate::key::{KeyType, RcgenSigner};
use crate::profile::{CertKind, IssuerUrls, ca_name, issuing_ca_params, root_params, validity};
use crate::qc::Pds;
use crate::store::{CaLayout, OutFile, ROOT, write_files};
use crate::{Error, issue::random_serial};

/// The base URL certificates of a new CA point to (CRLs, CA certificates, OCSP, PDS).
pub const DEFAULT_BASE_URL: &str = "http://pki.test-qtsp.example.com";

/// A CA key held outside the CA directory (e.g. in an HSM): its reference, stored in
/// `DIR/NAME.keyref` so that [`CertificateAuthority::open_with`] finds it again, and the signer.
#[derive(Debug, Clone)]
pub struct ExternalKey {
    /// The key reference as [`psd2_eidas::open_signer`] takes it (`pkcs11:…`), without a PIN.
    pub reference: String,
    /// The opened key.
    pub signer: Arc<dyn Signer>,
}

impl PartialEq for ExternalKey {
    fn eq(&self, other: &Self) -> bool {
        self.reference == other.reference
    }
}

impl Eq for ExternalKey {}

/// How to create a CA ([`CertificateAuthority::init`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitOptions {
    /// Key type of the three CA keys.
    pub key_type: KeyType,
    /// Validity of the CA certificates in days.
    pub days: u32,
    /// `http://host[:port][/path]` that the CRL distribution point, caIssuers and OCSP URLs
    /// start with; the PDS URL is its https form.
    pub base_url: String,
    /// Replace an existing CA in the directory.
    pub overwrite: bool,
    /// notBefore of the CA certificates (default: now).
    pub not_before: Option<OffsetDateTime>,
    /// The key of both issuing CAs, held outside the directory (an HSM key); `None` generates
    /// file keys. The root key is always generated (a test root stays offline in the file).
    pub issuing_key: Option<ExternalKey>,
}

impl Default for InitOptions {
    fn default() -> Self {
        Self {
            key_type: KeyType::Rsa2048,
            days: 7300,
            base_url: DEFAULT_BASE_URL.into(),
            overwrite: false,
            not_before: None,
            issuing_key: None,
        }
    }
}

/// One CA of the PKI: its certificate and key.
#[derive(Debug, Clone)]
pub(crate) struct CaEntry {
    pub(crate) name: &'static str,
    pub(crate) cert: Certificate,
    pub(crate) key: Arc<dyn Signer>,
}

impl CaEntry {
    /// An rcgen issuer over this CA's certificate and key.
    pub(crate) fn issuer(&self) -> Result<Issuer<'static, RcgenSigner>, Error> {
        let signer = RcgenSigner::new(self.key.clone())?;
        Issuer::from_ca_cert_der(&self.cert.der().to_vec().into(), signer)
            .map_err(|e| Error::Generate { what: "issuer", reason: format!("{}: {e}", self.name) })
    }
}

/// A test CA issuing PSD2 QWACs and QSealCs: a root CA and two issuing CAs (`qwac-ca`,
/// `qseal-ca`), with every certificate clearly named as a test certificate.
///
/// ```
/// use psd2_ca::{CertificateAuthority, CertKind, EvSubject, InitOptions, IssueRequest, KeyType, Psd2Subject};
/// use psd2_eidas::Role;
///
/// let dir = tempfile::tempdir()?;
/// let ca = CertificateAuthority::init(dir.path(), &InitOptions { key_type: KeyType::P256, ..Default::default() })?;
/// let subject = Psd2Subject {
///     organization: "Example TPP NV".into(),
///     organization_identifier: "PSDBE-NBB-0999.888.777".into(),
///     roles: vec![Role::AccountInformation, Role::PaymentInitiation],
///     nca_name: "National Bank of Belgium".into(),
///     nca_id: "BE-NBB".into(),
///     country: None,
/// };
/// let mut req = IssueRequest::new(CertKind::Qwac, subject);
/// req.ev = EvSubject { domains: vec!["tpp.example.com".into()], locality: Some("Brussels".into()), ..Default::default() };
/// let issued = ca.issue(&req)?;
/// let psd2 = issued.certificate.qc_statements()?.and_then(|q| q.psd2).expect("PSD2 statement");
/// assert!(psd2.has_role(Role::AccountInformation));
/// assert_eq!(issued.chain.len(), 2); // the leaf and the QWAC issuing CA
/// issued.write(&dir.path().join("qwac"))?; // qwac.pem, qwac-chain.pem, qwac.key
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    pub(crate) layout: CaLayout,
    pub(crate) base_url: String,
    pub(crate) root: CaEntry,
    pub(crate) qwac: CaEntry,
    pub(crate) qseal: CaEntry,
}

fn check_base_url(url: &str) -> Result<String, Error> {
    let u = url.trim().trim_end_matches('/');
    let rest = u.strip_prefix("http://").or_else(|| u.strip_prefix("https://"));
    match rest {
        Some(r) if !r.is_empty() && r.is_ascii() && !r.contains(char::is_whitespace) => Ok(u.to_owned()),
        _ => Err(Error::input("base URL", format!("'{}' is not an http(s) URL", url.trim().escape_debug()))),
    }
}

impl CertificateAuthority {
    /// Creates a new CA in `dir` (created if missing). Refuses to replace an existing CA unless
    /// [`InitOptions::overwrite`]; with it, the databases of the old CA are cleared.
    pub fn init(dir: &Path, options: &InitOptions) -> Result<Self, Error> {
        let layout = CaLayout::new(dir);
        let base_url = check_base_url(&options.base_url)?;
        let names = [ROOT, "qwac-ca", "qseal-ca"];
        let mut files = Vec::new();
        let (nb, na) = validity(options.not_before.unwrap_or_else(OffsetDateTime::now_utc), options.days)?;

        let make_key = || -> Result<(Arc<dyn Signer>, OutFile), Error> {
            let key = options.key_type.generate()?;
            let pem = psd2_eidas::pem::encode("PRIVATE KEY", &key.to_pkcs8_der()?);
            let signer: Arc<dyn Signer> = Arc::new(key);
            Ok((signer, OutFile::secret(PathBuf::new(), pem.into_bytes())))
        };

        let (root_key, mut root_key_file) = make_key()?;
        root_key_file.path = layout.key(ROOT);
        let root_signer = RcgenSigner::new(root_key.clone())?;
        let root_params = root_params(
            &random_serial()?,
            nb,
            na,
            ca_name("psd2-sign TEST Root CA - NOT FOR PRODUCTION")?,
            root_key.public_key().raw(),
        );
        let root_cert = root_params.self_signed(&root_signer).map_err(Error::generate("root CA certificate"))?;
        let root_issuer = Issuer::new(root_params, root_signer);
        let root = CaEntry { name: ROOT, cert: Certificate::from_der(root_cert.der())?, key: root_key };
        files.push(OutFile::public(layout.cert(ROOT), root.cert.to_pem().into_bytes()));
        files.push(OutFile::public(layout.cert_der(ROOT), root.cert.der().to_vec()));
        files.push(root_key_file);

        let root_urls = urls_for(&base_url, ROOT, false);
        let mut issuing = Vec::new();
        for (kind, name, cn) in [
            (CertKind::Qwac, "qwac-ca", "psd2-sign TEST QWAC Issuing CA - NOT FOR PRODUCTION"),
            (CertKind::Qseal, "qseal-ca", "psd2-sign TEST QSealC Issuing CA - NOT FOR PRODUCTION"),
        ] {
            let (key, key_file) = match &options.issuing_key {
                Some(ext) => {
                    let reference = psd2_eidas::redact_pin(&ext.reference);
                    (ext.signer.clone(), OutFile::public(layout.key_ref(name), format!("{reference}\n").into_bytes()))
                }
                None => {
                    let (key, mut file) = make_key()?;
                    file.path = layout.key(name);
                    (key, file)
                }
            };
            let params =
                issuing_ca_params(kind, &random_serial()?, nb, na, ca_name(cn)?, key.public_key().raw(), &root_urls);
            let subject_key = RcgenSigner::new(key.clone())?;
            let cert =
                params.signed_by(&subject_key, &root_issuer).map_err(Error::generate("issuing CA certificate"))?;
            let entry = CaEntry { name, cert: Certificate::from_der(cert.der())?, key };
            files.push(OutFile::public(layout.cert(name), entry.cert.to_pem().into_bytes()));
            files.push(OutFile::public(layout.cert_der(name), entry.cert.der().to_vec()));
            files.push(key_file);
            issuing.push(entry);
        }
        files.push(OutFile::public(layout.base_url(), format!("{base_url}\n")));
        files.push(OutFile::public(layout.readme(), README.as_bytes().to_vec()));
        if options.overwrite {
            for n in names {
                for p in [layout.issued_db(n), layout.revoked_db(n), layout.crl(n), layout.crl_pem(n)] {
                    match std::fs::remove_file(&p) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(p, e)),
                        _ => {}
                    }
                }
            }
        }
        write_files(&files, options.overwrite)?;
        let qseal = issuing.pop();
        let qwac = issuing.pop();
        let (Some(qwac), Some(qseal)) = (qwac, qseal) else {
            return Err(Error::Generate { what: "issuing CAs", reason: "missing".into() });
        };
        let ca = Self { layout, base_url, root, qwac, qseal };
        ca.write_crls()?;
        Ok(ca)
    }

    /// Opens the CA in `dir` with no secrets: file keys, or token keys whose URI carries a
    /// `pin-source` (use [`open_with`](Self::open_with) to give a PIN or a prompt).
    pub fn open(dir: &Path) -> Result<Self, Error> {
        Self::open_with(dir, &psd2_eidas::Secrets::none())
    }

    /// Opens the CA in `dir`; `secrets` unlock CA keys held in a token (`NAME.keyref`).
    pub fn open_with(dir: &Path, secrets: &psd2_eidas::Secrets) -> Result<Self, Error> {
        let layout = CaLayout::new(dir);
        if !dir.is_dir() {
            let reason = if dir.exists() { "not a directory" } else { "no such directory" };
            return Err(Error::NotACa { path: dir.to_path_buf(), reason: reason.into() });
        }
        let missing =
            |path: &Path| Error::NotACa { path: dir.to_path_buf(), reason: format!("{} is missing", file_name(path)) };
        let load_entry = |name: &'static str| -> Result<CaEntry, Error> {
            let cert_path = layout.cert(name);
            if cert_path.symlink_metadata().is_err() {
                return Err(missing(&cert_path));
            }
            let mut certs = load::load_certificates(&cert_path, None)?;
            if certs.len() != 1 {
                return Err(Error::NotACa {
                    path: dir.to_path_buf(),
                    reason: format!("{} holds {} certificates, expected one", file_name(&cert_path), certs.len()),
                });
            }
            let cert = certs.remove(0);
            let key_ref = layout.key_ref(name);
            let key: Arc<dyn Signer> = if key_ref.symlink_metadata().is_ok() {
                let in_keyref = |e: psd2_eidas::Error| Error::Eidas(e.in_file(&key_ref));
                let reference = small_text(&key_ref).map_err(in_keyref)?;
                let reference: psd2_eidas::KeyRef = reference.trim().parse().map_err(in_keyref)?;
                psd2_eidas::open_signer(&reference, secrets).map_err(in_keyref)?
            } else {
                let key_path = layout.key(name);
                if key_path.symlink_metadata().is_err() {
                    return Err(missing(&key_path));
                }
                Arc::new(load::load_key(&key_path, None)?)
            };
            if key.public_key() != cert.public_key() {
                return Err(Error::NotACa {
                    path: dir.to_path_buf(),
                    reason: format!("the {name} key does not match its certificate"),
                });
            }
            Ok(CaEntry { name, cert, key })
        };
        let root = load_entry(ROOT)?;
        let qwac = load_entry("qwac-ca")?;
        let qseal = load_entry("qseal-ca")?;
        let base_url_path = layout.base_url();
        let base_url = match small_text(&base_url_path) {
            Ok(s) => check_base_url(&s).map_err(|e| match e {
                Error::InvalidInput { reason, .. } => {
                    Error::NotACa { path: dir.to_path_buf(), reason: format!("base-url: {reason}") }
                }
                other => other,
            })?,
            Err(psd2_eidas::Error::NotFound) => return Err(missing(&base_url_path)),
            Err(e) => return Err(Error::Eidas(e.in_file(&base_url_path))),
        };
        Ok(Self { layout, base_url, root, qwac, qseal })
    }

    /// The directory layout.
    pub fn layout(&self) -> &CaLayout {
        &self.layout
    }

    /// The root CA certificate: the trust anchor (`DIR/ca.pem`).
    pub fn root_certificate(&self) -> &Certificate {
        &self.root.cert
    }

    /// The issuing CA certificate for `kind`.
    pub fn issuing_certificate(&self, kind: CertKind) -> &Certificate {
        &self.issuing(kind).cert
    }

    /// The key type of the issuing CA for `kind` (the default for the certificates it issues).
    pub fn issuing_key_type(&self, kind: CertKind) -> Option<KeyType> {
        KeyType::of(self.issuing(kind).key.public_key().kind())
    }

    /// The base URL the certificates point to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub(crate) fn issuing(&self, kind: CertKind) -> &CaEntry {
        match kind {
            CertKind::Qwac => &self.qwac,
            CertKind::Qseal => &self.qseal,
        }
    }

    pub(crate) fn urls(&self, name: &str) -> IssuerUrls {
        urls_for(&self.base_url, name, true)
    }

    pub(crate) fn pds(&self) -> Vec<Pds> {
        let host_path = self.base_url.trim_start_matches("http://").trim_start_matches("https://");
        vec![Pds { url: format!("https://{host_path}/pds/pds-en.pdf"), language: "en".into() }]
    }
}

/// The last component of `path`, for messages about a file of the CA directory.
fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn urls_for(base: &str, name: &str, ocsp: bool) -> IssuerUrls {
    IssuerUrls {
        crl: format!("{base}/crl/{name}.crl"),
        ca_issuers: format!("{base}/{name}.cer"),
        ocsp: ocsp.then(|| format!("{base}/ocsp/{name}")),
    }
}

const README: &str = "\
THIS IS A TEST CA. NOT FOR PRODUCTION. NOT A QUALIFIED TRUST SERVICE PROVIDER.

Made by `psd2-sign ca init`. Its certificates imitate the profiles of PSD2 QWACs and QSealCs
(ETSI EN 319 412, TS 119 495, CA/Browser Forum) for tests, sandboxes and examples only. The
private keys next to this file are not protected: never trust this CA for anything real.

ca.pem        the root CA: the trust anchor of this test PKI
qwac-ca.pem   the issuing CA for QWACs;  qseal-ca.pem  the issuing CA for QSealCs
crl/          CRLs, at the paths their distribution point URLs name (psd2-sign ca crl)
db/           issued serials and revocations
";

/// A small text file of the CA directory (a key reference, the base URL): a regular file of at
/// most 64 KiB, UTF-8.
fn small_text(path: &std::path::Path) -> Result<String, psd2_eidas::Error> {
    let data = psd2_eidas::load::read_limited(path, 64 * 1024, "CA text file")?;
    String::from_utf8(data.to_vec())
        .map_err(|_| psd2_eidas::Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text")))
}
