//! CLI conventions: `completions bash|zsh|fish`, `-v`/`-vv` diagnostics on stderr (and
//! `RUST_LOG`), and a default run that prints nothing besides its usual output.

use crate::util::{bin, run, stderr, stdout};

const CERT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/test-certs/rsa/qseal.pem");
const KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/test-certs/rsa/qseal.key");

#[test]
fn completion_scripts() {
    let o = run(&["completions", "bash"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bash = stdout(&o);
    // clap_complete names the function `_psd2__sign` ('-' doubled to '__').
    assert!(bash.contains("_psd2__sign()"), "{bash}");
    assert!(bash.contains("complete -F _psd2__sign"), "{bash}");
    for word in ["inspect", "sign", "verify", "send", "completions", "--verbose"] {
        assert!(bash.contains(word), "bash script lacks {word}");
    }
    assert!(o.stderr.is_empty(), "{}", stderr(&o));

    let o = run(&["completions", "zsh"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("#compdef psd2-sign"), "{}", stdout(&o));

    let o = run(&["completions", "fish"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("complete -c psd2-sign"), "{}", stdout(&o));
}

#[test]
fn unknown_shell_is_a_usage_error() {
    for args in [&["completions", "powershell"][..], &["completions"][..]] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{args:?}: {}", stdout(&o));
    }
    let o = run(&["completions", "tcsh"]);
    assert!(stderr(&o).contains("possible values: bash, zsh, fish"), "{}", stderr(&o));
}

#[test]
fn default_run_prints_no_diagnostics() {
    let o = run(&["inspect", CERT]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!o.stdout.is_empty());
    assert!(o.stderr.is_empty(), "stderr: {}", stderr(&o));
}

#[test]
fn verbose_logs_the_loaded_file_and_keeps_stdout() {
    let plain = run(&["inspect", CERT]);
    assert!(plain.status.success(), "{}", stderr(&plain));
    for args in [&["-v", "inspect", CERT][..], &["inspect", CERT, "--verbose"][..]] {
        let o = run(args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert_eq!(o.stdout, plain.stdout, "{args:?}: -v changes stdout");
        let err = stderr(&o);
        let line = err.lines().find(|l| l.contains("loaded")).unwrap_or_else(|| panic!("{args:?}: no log line: {err}"));
        assert!(line.contains("INFO") && line.contains(CERT) && line.contains("certificate"), "{line}");
        assert!(!err.contains("DEBUG"), "-v is info only: {err}");
    }
    let o = run(&["-vv", "inspect", CERT]);
    assert_eq!(o.stdout, plain.stdout);
    let err = stderr(&o);
    assert!(err.contains("DEBUG") && err.contains("PSDBE-NBB-0999.888.777"), "-vv shows the subject: {err}");
}

#[test]
fn rust_log_wins_over_verbose() {
    let o = bin().args(["-vv", "inspect", CERT]).env("RUST_LOG", "off").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "RUST_LOG=off silences -vv: {}", stderr(&o));

    let o = bin().args(["inspect", CERT]).env("RUST_LOG", "psd2_eidas=debug").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("DEBUG") && err.contains(CERT), "RUST_LOG alone turns logging on: {err}");
}

#[test]
fn debug_log_of_sign_holds_no_key_and_no_body() {
    let dir = tempfile::tempdir().unwrap();
    let marker = "body-marker-7c1e5f";
    let body = dir.path().join("body.json");
    std::fs::write(&body, format!(r#"{{"instructedAmount":{{"amount":"1.00"}},"note":"{marker}"}}"#)).unwrap();
    let body = body.display().to_string();
    let args = [
        "sign",
        "--profile",
        "berlin-group",
        "--key",
        KEY,
        "--cert",
        CERT,
        "--method",
        "POST",
        "--url",
        "https://bank.example/v1/payments?token=query-secret",
        "--body",
        &body,
    ];
    for verbose in ["-vv", "-vvv"] {
        let o = bin().arg(verbose).args(args).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("Signature"), "{}", stdout(&o));
        let err = stderr(&o);
        assert!(err.contains(KEY) && err.contains("private key"), "the key file is logged: {err}");
        for secret in ["PRIVATE KEY", "-----BEGIN", marker, "instructedAmount", "query-secret"] {
            assert!(!err.contains(secret), "{verbose}: stderr shows {secret:?}: {err}");
        }
        // Nothing of the key file's base64 either.
        let pem = std::fs::read_to_string(KEY).unwrap();
        for line in pem.lines().filter(|l| !l.starts_with("-----") && l.len() > 20) {
            assert!(!err.contains(line), "{verbose}: stderr shows key material");
        }
    }
}

/// Output that cannot be written is one line and a non-zero exit, never a panic (exit 101) or a
/// silent success, for every kind of command that prints.
#[test]
fn unwritable_output_is_an_error_not_a_panic() {
    let cert = concat!(env!("CARGO_MANIFEST_DIR"), "/test-certs/rsa/qseal.pem");
    let key = concat!(env!("CARGO_MANIFEST_DIR"), "/test-certs/rsa/qseal.key");
    let cases: Vec<Vec<&str>> = vec![
        vec!["inspect", cert],
        vec!["inspect", cert, "--json"],
        vec![
            "sign",
            "--profile",
            "berlin-group",
            "--key",
            key,
            "--cert",
            cert,
            "--method",
            "GET",
            "--url",
            "https://b.example/x",
        ],
        vec!["completions", "bash"],
    ];
    for args in &cases {
        // A full disk.
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let o = bin().args(args).stdout(full).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.starts_with("psd2-sign: cannot write to standard output: ") && e.lines().count() == 1,
            "{args:?}: {e}"
        );
        // A closed pipe (the reader went away, as with `| head`): the usual quiet 141.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = bin().args(args).stdout(writer).output().unwrap();
        assert_eq!(o.status.code(), Some(141), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{args:?}");
        // A closed descriptor (`>&-`): the output would be lost, so the run fails.
        // Without libfaketime in this child: under the CI's faketime pass it would open its shared
        // memory on the freed descriptor 1 before psd2-sign starts.
        let o = std::process::Command::new("sh")
            .env_remove("LD_PRELOAD")
            .arg("-c")
            .arg("exec \"$0\" \"$@\" >&-")
            .arg(env!("CARGO_BIN_EXE_psd2-sign"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("cannot write to standard output: it is closed"), "{args:?}: {}", stderr(&o));
        // `> /dev/null` is a choice, not an error.
        let null = std::fs::OpenOptions::new().write(true).open("/dev/null").unwrap();
        assert_eq!(bin().args(args).stdout(null).status().unwrap().code(), Some(0), "{args:?}");
    }
}
