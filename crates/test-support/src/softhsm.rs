//! A fresh SoftHSM2 token in a temp dir, with keys made by pkcs11-tool / openssl, for tests.
//!
//! Skipped with a message only when no module is found — never on CI (CI=true), where a missing
//! module fails the run. The first caller sets SOFTHSM2_CONF for the whole test process.
#![allow(unsafe_code, clippy::print_stderr)] // set_var before any thread reads it; the skip notice

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const PIN: &str = "1234";

pub struct Hsm {
    pub dir: tempfile::TempDir,
    pub module: PathBuf,
}

impl Hsm {
    /// A private-key URI for `object` with the module path.
    pub fn uri(&self, object: &str) -> String {
        format!("pkcs11:token=psd2-test;object={object};type=private?module-path={}", self.module.display())
    }
}

pub fn find_module() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PSD2_SIGN_PKCS11_MODULE") {
        return Some(PathBuf::from(p));
    }
    [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

pub fn run(cmd: &str, args: &[&str], dir: &Path) -> String {
    let out = Command::new(cmd).args(args).current_dir(dir).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Serialises the tests of one binary that use the token: SoftHSM's file store is shared by
/// every process the tests start, and concurrent writers can see each other's half-written
/// token files.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub fn hsm() -> Option<&'static Hsm> {
    static HSM: OnceLock<Option<Hsm>> = OnceLock::new();
    HSM.get_or_init(|| {
        let Some(module) = find_module() else {
            assert!(std::env::var("CI").is_err(), "no PKCS#11 module found on CI: install softhsm2");
            eprintln!("SKIPPED: no PKCS#11 module (install softhsm2 or set PSD2_SIGN_PKCS11_MODULE)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("tokens")).unwrap();
        let conf = d.join("softhsm2.conf");
        std::fs::write(&conf, format!("directories.tokendir = {}/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", d.display())).unwrap();
        // SAFETY: set once, before the module is loaded, by the first HSM test (under OnceLock).
        unsafe { std::env::set_var("SOFTHSM2_CONF", &conf) };
        run("softhsm2-util", &["--init-token", "--free", "--label", "psd2-test", "--so-pin", "87654321", "--pin", PIN], d);
        let m = module.display().to_string();
        let p11 = |args: &[&str]| {
            let mut all = vec!["--module", &m, "--token-label", "psd2-test", "--login", "--pin", PIN];
            all.extend_from_slice(args);
            run("pkcs11-tool", &all, d)
        };
        for (kt, id, label) in [("rsa:2048", "01", "qseal-rsa"), ("EC:prime256v1", "02", "qwac-ec")] {
            p11(&["--keypairgen", "--key-type", kt, "--id", id, "--label", label]);
            p11(&["--read-object", "--type", "pubkey", "--label", label, "-o", &format!("{label}.pub.der")]);
        }
        // pkcs11-tool 0.23 cannot export P-384 public keys: import an openssl-made key instead.
        run("openssl", &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "ec384.pem"], d);
        run("openssl", &["pkey", "-in", "ec384.pem", "-pubout", "-outform", "DER", "-out", "ec384.pub.der"], d);
        run("softhsm2-util", &["--import", "ec384.pem", "--token", "psd2-test", "--label", "ec384", "--id", "03", "--pin", PIN], d);
        Some(Hsm { dir, module })
    })
    .as_ref()
}
