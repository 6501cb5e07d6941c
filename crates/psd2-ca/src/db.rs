//! The CA database: one text file of issued serials and one of revocations per CA, one record a
//! line, fields separated by spaces:
//!
//! ```text
//! DIR/db/NAME.issued    SERIAL KIND NOT_AFTER SUBJECT      (KIND: qwac or qseal)
//! DIR/db/NAME.revoked   SERIAL REVOKED_AT SUBJECT
//! ```
//!
//! SERIAL is the serial number in hex (1 to 20 octets), times are seconds since 1970-01-01 UTC,
//! SUBJECT (the rest of the line) is informational. Blank lines are allowed; any other line that
//! does not parse is an [`Error::Database`] naming the file and the line, so a damaged file stops
//! the CA instead of silently dropping a revocation from the next CRL. Every change rewrites the
//! whole file through a temporary file and a rename, under a lock (`DIR/db/.lock`) that
//! serialises the processes using the CA.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::Error;
use crate::crl::Revocation;
use crate::profile::CertKind;
use crate::store::{OutFile, create_dir, write_files};

/// How long [`lock`] waits for another process to release the database.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// RFC 5280 §4.1.2.2: serial numbers are at most 20 octets.
const MAX_SERIAL_OCTETS: usize = 20;

/// One line of `NAME.issued`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IssuedEntry {
    /// Serial number, lower-case hex without leading zero octets.
    pub(crate) serial_hex: String,
    /// QWAC or QSealC.
    pub(crate) kind: CertKind,
    /// The certificate's notAfter.
    pub(crate) not_after: OffsetDateTime,
}

/// The exclusive lock on a CA's database, released on drop.
#[derive(Debug)]
pub(crate) struct DbLock {
    _file: File,
}

/// Takes the database lock of the CA whose database directory is `db_dir` (created if missing),
/// waiting up to ten seconds for another process.
pub(crate) fn lock(db_dir: &Path) -> Result<DbLock, Error> {
    create_dir(db_dir)?;
    let path = db_dir.join(".lock");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(DbLock { _file: file }),
            Err(TryLockError::WouldBlock) if start.elapsed() < LOCK_WAIT => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(TryLockError::WouldBlock) => return Err(Error::Locked(path)),
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
    }
}

/// `value` quoted for a message, control characters escaped, at most 64 characters.
fn quoted(value: &str) -> String {
    let mut s: String = value.chars().take(64).collect::<String>().escape_debug().collect();
    if value.chars().count() > 64 {
        s.push('…');
    }
    format!("'{s}'")
}

/// Splits off `n` whitespace-separated fields; the rest of the line (trimmed) comes last.
fn fields(line: &str, n: usize) -> Option<(Vec<&str>, &str)> {
    let mut rest = line.trim();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        if rest.is_empty() {
            return None;
        }
        let end = rest.find([' ', '\t']).unwrap_or(rest.len());
        out.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    (!rest.is_empty()).then_some((out, rest))
}

/// A serial number in hex, normalised to lower case without leading zero octets.
fn parse_serial(s: &str) -> Result<String, String> {
    let bad = |why: &str| format!("bad serial number {}: {why}", quoted(s));
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("not hexadecimal"));
    }
    if !s.len().is_multiple_of(2) {
        return Err(bad("an odd number of hex digits"));
    }
    let lower = s.to_ascii_lowercase();
    let mut t = lower.as_str();
    while t.len() > 2 && t.starts_with("00") {
        t = &t[2..];
    }
    if t.is_empty() || t.len() / 2 > MAX_SERIAL_OCTETS {
        return Err(bad("not 1 to 20 octets"));
    }
    Ok(t.to_owned())
}

fn parse_time(what: &str, s: &str) -> Result<OffsetDateTime, String> {
    s.parse::<i64>()
        .ok()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .ok_or_else(|| format!("bad {what} {} (expected seconds since 1970-01-01 UTC)", quoted(s)))
}

/// The data lines of `content` with their numbers, after the checks every line gets (UTF-8, no
/// control characters).
fn data_lines<'a>(path: &Path, content: &'a [u8]) -> Result<Vec<(usize, &'a str)>, Error> {
    let mut out = Vec::new();
    for (i, raw) in content.split(|b| *b == b'\n').enumerate() {
        let line = i + 1;
        let bad = |reason: String| Error::Database { path: path.to_path_buf(), line, reason };
        let text = std::str::from_utf8(raw).map_err(|_| bad("is not UTF-8 text".into()))?;
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.trim().is_empty() {
            continue;
        }
        if text.chars().any(|c| c.is_control() && c != '\t') {
            return Err(bad(format!("contains control characters: {}", quoted(text))));
        }
        out.push((line, text));
    }
    Ok(out)
}

/// Parses every record of `content` with `parse` (which gets the fields and returns the serial
/// and the record); a line that does not parse or repeats a serial is an error.
fn parse_records<T>(
    path: &Path,
    content: &[u8],
    n_fields: usize,
    format: &str,
    parse: impl Fn(&[&str]) -> Result<(String, T), String>,
) -> Result<Vec<T>, Error> {
    let mut seen: Vec<(String, usize)> = Vec::new();
    let mut out = Vec::new();
    for (line, text) in data_lines(path, content)? {
        let bad = |reason: String| Error::Database { path: path.to_path_buf(), line, reason };
        let found = text.split_whitespace().count();
        let (f, _subject) = fields(text, n_fields)
            .ok_or_else(|| bad(format!("expected {} fields ({format}), found {found}", n_fields + 1)))?;
        let (serial, record) = parse(&f).map_err(bad)?;
        if let Some((_, first)) = seen.iter().find(|(s, _)| *s == serial) {
            return Err(bad(format!("serial number {serial} is listed again (first on line {first})")));
        }
        seen.push((serial, line));
        out.push(record);
    }
    Ok(out)
}

fn parse_issued(path: &Path, content: &[u8]) -> Result<Vec<IssuedEntry>, Error> {
    parse_records(path, content, 3, "SERIAL KIND NOT_AFTER SUBJECT", |f| {
        let serial_hex = parse_serial(f[0])?;
        let kind = match f[1] {
            "qwac" => CertKind::Qwac,
            "qseal" => CertKind::Qseal,
            other => return Err(format!("unknown certificate kind {} (expected qwac or qseal)", quoted(other))),
        };
        let not_after = parse_time("notAfter", f[2])?;
        Ok((serial_hex.clone(), IssuedEntry { serial_hex, kind, not_after }))
    })
}

fn parse_revoked(path: &Path, content: &[u8]) -> Result<Vec<Revocation>, Error> {
    parse_records(path, content, 2, "SERIAL REVOKED_AT SUBJECT", |f| {
        let serial_hex = parse_serial(f[0])?;
        let revoked_at = parse_time("revocation time", f[1])?;
        Ok((serial_hex.clone(), Revocation { serial_hex, revoked_at }))
    })
}

/// The most a database file may hold: 64 MiB, some 500 000 records.
const MAX_DB_FILE: u64 = 64 << 20;

/// The file's content; an absent file is empty. A FIFO, device or oversized file is refused.
fn read(path: &Path) -> Result<Vec<u8>, Error> {
    match psd2_eidas::load::read_limited(path, MAX_DB_FILE, "CA database file") {
        Ok(b) => Ok(b.to_vec()),
        Err(psd2_eidas::Error::NotFound) => Ok(Vec::new()),
        Err(e) => Err(Error::Eidas(e.in_file(path))),
    }
}

/// The records of an issued-serials file (none when it does not exist).
pub(crate) fn read_issued(path: &Path) -> Result<Vec<IssuedEntry>, Error> {
    parse_issued(path, &read(path)?)
}

/// The records of a revocations file (none when it does not exist).
pub(crate) fn read_revoked(path: &Path) -> Result<Vec<Revocation>, Error> {
    parse_revoked(path, &read(path)?)
}

/// A subject for the informational last field: control characters escaped, never empty.
fn subject_field(subject: &str) -> String {
    let s: String = subject
        .trim()
        .chars()
        .map(|c| if c.is_control() { c.escape_debug().collect() } else { c.to_string() })
        .collect();
    if s.is_empty() { "-".into() } else { s }
}

/// Appends one line to `content` (adding a missing final newline first).
fn with_line(mut content: Vec<u8>, line: &str) -> Vec<u8> {
    if !content.is_empty() && !content.ends_with(b"\n") {
        content.push(b'\n');
    }
    content.extend_from_slice(line.as_bytes());
    content.push(b'\n');
    content
}

/// Rewrites `path` atomically with `content`.
fn replace(path: &Path, content: Vec<u8>) -> Result<(), Error> {
    write_files(&[OutFile::public(path, content)], true)
}

/// Records an issued certificate (the caller holds the [`lock`]). The file is parsed first:
/// a damaged file is reported, not extended.
pub(crate) fn add_issued(path: &Path, entry: &IssuedEntry, subject: &str) -> Result<(), Error> {
    let line = format!(
        "{} {} {} {}",
        entry.serial_hex,
        entry.kind.name(),
        entry.not_after.unix_timestamp(),
        subject_field(subject)
    );
    let content = with_line(read(path)?, &line);
    parse_issued(path, &content)?;
    replace(path, content)
}

/// Records a revocation (the caller holds the [`lock`]). The file is parsed first: a damaged
/// file is reported, not extended.
pub(crate) fn add_revoked(path: &Path, r: &Revocation, subject: &str) -> Result<(), Error> {
    let line = format!("{} {} {}", r.serial_hex, r.revoked_at.unix_timestamp(), subject_field(subject));
    let content = with_line(read(path)?, &line);
    parse_revoked(path, &content)?;
    replace(path, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(s).unwrap()
    }

    #[test]
    fn a_bad_timestamp_is_an_error_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db").join("qseal-ca.revoked");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "4a01 1780000000 CN=a\n\n4a02 17800x0000 CN=b\n").unwrap();
        let err = read_revoked(&path).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(&err, Error::Database { line: 3, path: p, .. } if *p == path), "{msg}");
        assert!(msg.starts_with(&format!("{}: line 3: bad revocation time '17800x0000'", path.display())), "{msg}");
        // Nor can a revocation be added to a damaged file.
        let r = Revocation { serial_hex: "4a03".into(), revoked_at: t(1_780_000_100) };
        assert!(matches!(add_revoked(&path, &r, "CN=c").unwrap_err(), Error::Database { line: 3, .. }));
    }

    #[test]
    fn every_kind_of_bad_line_is_reported() {
        let path = Path::new("db/x.issued");
        for (content, line, needle) in [
            ("zz qwac 1780000000 CN=a\n", 1, "bad serial number 'zz': not hexadecimal"),
            ("abc qwac 1780000000 CN=a\n", 1, "odd number"),
            (&format!("{} qwac 1780000000 CN=a\n", "11".repeat(21)), 1, "1 to 20 octets"),
            ("4a01 qwac 1780000000\n", 1, "expected 4 fields (SERIAL KIND NOT_AFTER SUBJECT), found 3"),
            ("\n4a01 qsig 1780000000 CN=a\n", 2, "unknown certificate kind 'qsig'"),
            ("4a01 qwac 99999999999999999 CN=a\n", 1, "bad notAfter"),
            ("4a01 qwac 1780000000 CN=a\n4A01 qseal 1780000000 CN=b\n", 2, "listed again (first on line 1)"),
            ("4a01 qwac 1780000000 CN=\u{1b}[31m\n", 1, "control characters: '4a01 qwac 1780000000 CN=\\u{1b}[31m'"),
        ] {
            let err = parse_issued(path, content.as_bytes()).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, Error::Database { line: l, .. } if l == line), "{content:?}: {msg}");
            assert!(msg.contains(needle), "{content:?}: {msg}");
            assert!(!msg.contains('\u{1b}') && !msg.contains('\n'), "{msg}");
        }
        let err = parse_revoked(path, b"4a01 1780000000 CN=a\n\xff\xfe\n").unwrap_err().to_string();
        assert!(err.contains("line 2: is not UTF-8"), "{err}");
    }

    #[test]
    fn a_revocation_survives_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db").join("qwac-ca.revoked");
        let _lock = lock(path.parent().unwrap()).unwrap();
        let first = Revocation { serial_hex: "00c1f0".into(), revoked_at: t(1_780_000_000) };
        // A subject with a newline cannot split the record.
        add_revoked(&path, &first, "CN=evil\nfake 1 line").unwrap();
        // A hand-edited file without a final newline is extended, not merged into.
        let mut content = std::fs::read(&path).unwrap();
        content.extend_from_slice(b"  0A0B\t1780000001   O=x, CN=y");
        std::fs::write(&path, content).unwrap();
        let second = Revocation { serial_hex: "7f".into(), revoked_at: t(1_780_000_002) };
        add_revoked(&path, &second, "").unwrap();
        let all = read_revoked(&path).unwrap();
        assert_eq!(
            all,
            vec![
                Revocation { serial_hex: "c1f0".into(), revoked_at: t(1_780_000_000) },
                Revocation { serial_hex: "0a0b".into(), revoked_at: t(1_780_000_001) },
                second.clone(),
            ]
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("CN=evil\\nfake 1 line"), "{text}");
        assert_eq!(text.lines().count(), 3, "{text}");
        // A duplicate is refused and the file stays as it was.
        let err = add_revoked(&path, &second, "again").unwrap_err();
        assert!(err.to_string().contains("listed again"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        let leftovers = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .count();
        assert_eq!(leftovers, 0);

        let issued = dir.path().join("db").join("qwac-ca.issued");
        let e = IssuedEntry { serial_hex: "4a01".into(), kind: CertKind::Qseal, not_after: t(1_790_000_000) };
        add_issued(&issued, &e, "CN=a").unwrap();
        assert_eq!(read_issued(&issued).unwrap(), vec![e]);
    }

    #[test]
    fn the_committed_test_databases_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-certs");
        for set in ["ec", "rsa"] {
            for name in ["qwac-ca.issued", "qseal-ca.issued"] {
                let entries = read_issued(&root.join(set).join("db").join(name)).unwrap();
                assert!(!entries.is_empty(), "{set}/{name}");
            }
        }
    }
}
