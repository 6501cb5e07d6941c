//! The CA directory layout and safe file writing: every file is written to a temporary file in
//! its directory and then moved into place, so a reader never sees half a file; keys are created
//! with mode 0600; existing files are never replaced unless asked.
//!
//! ```text
//! DIR/README.txt                 says this is a test CA
//! DIR/ca.pem, DIR/ca.key         root CA (ca.pem is the trust anchor)
//! DIR/root-ca.cer                root CA, DER (the caIssuers URL of the issuing CAs)
//! DIR/qwac-ca.{pem,key,cer}      QWAC issuing CA
//! DIR/qseal-ca.{pem,key,cer}     QSealC issuing CA
//! DIR/base-url                   the http base URL the certificates point to
//! DIR/crl/NAME.crl (DER), DIR/crl/NAME.crl.pem    CRLs, at the CRL distribution point URLs
//! DIR/db/NAME.issued, DIR/db/NAME.revoked         issued serials and revocations
//! ```
//!
//! The database files have one record a line; their format and the rules for changing them are
//! described in the crate's private `db` module: a line that does not parse is an
//! [`Error::Database`] naming the file and line, and every change is a whole-file rewrite
//! through a temporary file and a rename.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::Error;

/// The name of the root CA in URLs and database files.
pub const ROOT: &str = "root-ca";

/// Paths inside a CA directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaLayout {
    dir: PathBuf,
}

impl CaLayout {
    /// The layout of `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The certificate (PEM) of CA `name` (`root-ca` is `ca.pem`, the trust anchor).
    pub fn cert(&self, name: &str) -> PathBuf {
        if name == ROOT { self.dir.join("ca.pem") } else { self.dir.join(format!("{name}.pem")) }
    }

    /// The private key (PKCS#8 PEM) of CA `name`.
    pub fn key(&self, name: &str) -> PathBuf {
        if name == ROOT { self.dir.join("ca.key") } else { self.dir.join(format!("{name}.key")) }
    }

    /// The key reference (a PKCS#11 URI, no PIN) of CA `name` when its key is held elsewhere.
    pub fn key_ref(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.keyref"))
    }

    /// The DER certificate of CA `name`, published at its caIssuers URL.
    pub fn cert_der(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.cer"))
    }

    /// The DER CRL of CA `name`, published at its CRL distribution point URL.
    pub fn crl(&self, name: &str) -> PathBuf {
        self.dir.join("crl").join(format!("{name}.crl"))
    }

    /// The same CRL as PEM (for `openssl verify -CRLfile`).
    pub fn crl_pem(&self, name: &str) -> PathBuf {
        self.dir.join("crl").join(format!("{name}.crl.pem"))
    }

    /// The database directory (`DIR/db`).
    pub fn db_dir(&self) -> PathBuf {
        self.dir.join("db")
    }

    /// The list of serials CA `name` issued.
    pub fn issued_db(&self, name: &str) -> PathBuf {
        self.dir.join("db").join(format!("{name}.issued"))
    }

    /// The revocations of CA `name`.
    pub fn revoked_db(&self, name: &str) -> PathBuf {
        self.dir.join("db").join(format!("{name}.revoked"))
    }

    /// The base URL file.
    pub fn base_url(&self) -> PathBuf {
        self.dir.join("base-url")
    }

    /// The README marking the directory as a test CA.
    pub fn readme(&self) -> PathBuf {
        self.dir.join("README.txt")
    }
}

/// One file to write.
#[derive(Debug, Clone)]
pub struct OutFile {
    /// Where.
    pub path: PathBuf,
    /// What (zeroized on drop: it may be a key).
    pub contents: Zeroizing<Vec<u8>>,
    /// A private key: created with mode 0600.
    pub secret: bool,
}

impl OutFile {
    /// A public file (mode 0644 before umask).
    pub fn public(path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Self {
        Self { path: path.into(), contents: Zeroizing::new(contents.into()), secret: false }
    }

    /// A private key file (mode 0600).
    pub fn secret(path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Self {
        Self { path: path.into(), contents: Zeroizing::new(contents.into()), secret: true }
    }
}

/// Checks that `path` can name a file to write: not an existing directory, and not ending in a
/// path separator (`out/`); otherwise [`Error::IsADirectory`].
pub fn check_file_path(path: &Path) -> Result<(), Error> {
    let s = path.as_os_str().as_encoded_bytes();
    let trailing_separator = s.last().is_some_and(|b| *b == b'/' || (cfg!(windows) && *b == b'\\'));
    if trailing_separator || path.is_dir() || path.as_os_str().is_empty() {
        return Err(Error::IsADirectory(path.to_path_buf()));
    }
    Ok(())
}

/// Creates the directory `path` and its parents; a file in the way is reported as such.
pub(crate) fn create_dir(path: &Path) -> Result<(), Error> {
    fs::create_dir_all(path).map_err(|e| {
        let in_the_way = path.ancestors().find(|a| a.symlink_metadata().is_ok_and(|m| !m.is_dir()));
        match in_the_way {
            Some(file) => Error::io(file, std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory")),
            None => Error::io(path, e),
        }
    })
}

/// Fails with [`Error::Exists`] for the first path that exists.
pub fn check_absent<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<(), Error> {
    for p in paths {
        if p.symlink_metadata().is_ok() {
            return Err(Error::Exists(p.to_path_buf()));
        }
    }
    Ok(())
}

fn temp_path(path: &Path) -> PathBuf {
    let mut r = [0u8; 6];
    let _ = aws_lc_rs::rand::fill(&mut r);
    let tag: String = r.iter().map(|b| format!("{b:02x}")).collect();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{tag}.tmp"))
}

fn write_temp(file: &OutFile) -> Result<PathBuf, Error> {
    let tmp = temp_path(&file.path);
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(if file.secret { 0o600 } else { 0o644 });
    let result = opts.open(&tmp).and_then(|mut f| {
        f.write_all(&file.contents)?;
        f.sync_all()
    });
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(Error::io(&file.path, e))
        }
    }
}

/// Writes all `files` or none: each goes to a temporary file first, then is moved into place.
/// Without `overwrite` an existing file is an [`Error::Exists`] and nothing is written (a file
/// appearing concurrently is detected too: files are linked into place, never renamed over).
/// Parent directories are created.
pub fn write_files(files: &[OutFile], overwrite: bool) -> Result<(), Error> {
    for f in files {
        check_file_path(&f.path)?;
    }
    if !overwrite {
        check_absent(files.iter().map(|f| f.path.as_path()))?;
    }
    for f in files {
        if let Some(parent) = f.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_dir(parent)?;
        }
    }
    let mut temps = Vec::new();
    for f in files {
        match write_temp(f) {
            Ok(t) => temps.push(t),
            Err(e) => {
                temps.iter().for_each(|t| drop(fs::remove_file(t)));
                return Err(e);
            }
        }
    }
    let mut published: Vec<&Path> = Vec::new();
    let mut failure = None;
    for (f, tmp) in files.iter().zip(&temps) {
        let r = if overwrite {
            fs::rename(tmp, &f.path)
        } else {
            fs::hard_link(tmp, &f.path).and_then(|()| fs::remove_file(tmp))
        };
        match r {
            Ok(()) => published.push(&f.path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                failure = Some(Error::Exists(f.path.clone()));
                break;
            }
            Err(e) => {
                failure = Some(Error::io(&f.path, e));
                break;
            }
        }
    }
    if let Some(e) = failure {
        temps.iter().for_each(|t| drop(fs::remove_file(t)));
        if !overwrite {
            published.iter().for_each(|p| drop(fs::remove_file(p)));
        }
        return Err(e);
    }
    sync_dirs(files)
}

/// Makes the renames and links of `files` durable: fsync of each parent directory (Unix).
fn sync_dirs(files: &[OutFile]) -> Result<(), Error> {
    #[cfg(unix)]
    {
        let mut done: Vec<&Path> = Vec::new();
        for f in files {
            let parent = f.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if !done.contains(&parent) {
                fs::File::open(parent).and_then(|d| d.sync_all()).map_err(|e| Error::io(parent, e))?;
                done.push(parent);
            }
        }
    }
    #[cfg(not(unix))]
    let _ = files;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("sub/a.pem");
        let k = dir.path().join("sub/a.key");
        write_files(&[OutFile::public(&a, "A"), OutFile::secret(&k, "K")], false).unwrap();
        assert_eq!(fs::read_to_string(&a).unwrap(), "A");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(fs::metadata(&k).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let b = dir.path().join("sub/b.pem");
        let err = write_files(&[OutFile::public(&b, "B"), OutFile::public(&a, "A2")], false).unwrap_err();
        assert!(matches!(err, Error::Exists(p) if p == a));
        assert!(!b.exists(), "nothing half-written");
        assert_eq!(fs::read_to_string(&a).unwrap(), "A");
        write_files(&[OutFile::public(&a, "A3")], true).unwrap();
        assert_eq!(fs::read_to_string(&a).unwrap(), "A3");
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
