//! Writing to standard output and standard error without ever panicking.
//!
//! `println!` panics when stdout is a full disk (`> /dev/full`), and Rust's standard streams treat
//! a closed descriptor (`>&-`, which the runtime turns into `/dev/null`) as success, so the
//! output would be lost with exit 0. Every result
//! line goes through [`write_out`] instead: a failed write is one line on stderr and exit 2, a
//! closed pipe (`| head`) the usual quiet exit 141. Warnings and errors go through [`write_err`],
//! which never fails the command by itself; a lost stderr line makes the exit status non-zero.

use std::fmt::Arguments;
use std::io::Write as _;
use std::os::fd::AsFd as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::CliError;

/// Whether a line to stderr could not be written.
static STDERR_LOST: AtomicBool = AtomicBool::new(false);

/// The exit status of a process that wrote to a closed pipe (128 + SIGPIPE).
pub(crate) const BROKEN_PIPE: u8 = 141;

/// Writes `args` to stdout and flushes; any failure is an error for the user.
pub(crate) fn write_out(args: Arguments<'_>) -> Result<(), CliError> {
    static OPEN: OnceLock<bool> = OnceLock::new();
    if !*OPEN.get_or_init(stdout_open) {
        return Err(CliError::input("cannot write to standard output: it is closed"));
    }
    let mut out = std::io::stdout().lock();
    out.write_fmt(args).and_then(|()| out.flush()).map_err(|e| match e.kind() {
        std::io::ErrorKind::BrokenPipe => CliError { code: BROKEN_PIPE, message: String::new() },
        _ => CliError::input(format!("cannot write to standard output: {e}")),
    })
}

/// Whether stdout is really open. Rust's runtime replaces a descriptor the caller closed (`>&-`)
/// with `/dev/null` opened read-write, so writes would "succeed" into nothing; a shell's
/// `> /dev/null` opens it write-only, which stays allowed.
fn stdout_open() -> bool {
    use rustix::fs::{FileType, OFlags, fstat, stat};
    let fd = std::io::stdout();
    let Ok(st) = fstat(fd.as_fd()) else { return false };
    let is_null = FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice
        && stat("/dev/null").is_ok_and(|null| null.st_rdev == st.st_rdev);
    let read_write = rustix::fs::fcntl_getfl(fd.as_fd()).is_ok_and(|f| (f & OFlags::ACCMODE) == OFlags::RDWR);
    !(is_null && read_write)
}

/// Writes `args` to stderr; a failure is remembered for the exit status, never a panic.
pub(crate) fn write_err(args: Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    if err.write_fmt(args).and_then(|()| err.flush()).is_err() {
        STDERR_LOST.store(true, Ordering::Relaxed);
    }
}

/// Writes one line to stderr with every control character escaped (`\n`, `\r`, `\t`, `\u{1b}`…):
/// a message quoting a header value or file name can never break the line or drive the terminal.
pub(crate) fn write_err_line(args: Arguments<'_>) {
    let line = escape_controls(&args.to_string());
    write_err(format_args!("{line}\n"));
}

/// `s` with control characters written as Rust escapes; everything else unchanged.
pub(crate) fn escape_controls(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars().map(|c| if c.is_control() { c.escape_default().collect() } else { c.to_string() }).collect()
}

/// Whether some stderr line was lost.
pub(crate) fn stderr_lost() -> bool {
    STDERR_LOST.load(Ordering::Relaxed)
}

/// `println!` to stdout, returning `Result<(), CliError>`.
macro_rules! outln {
    ($($t:tt)*) => { $crate::output::write_out(format_args!("{}\n", format_args!($($t)*))) };
}

/// `print!` to stdout, returning `Result<(), CliError>`.
macro_rules! out {
    ($($t:tt)*) => { $crate::output::write_out(format_args!($($t)*)) };
}

/// `eprintln!` that never panics, for one line: control characters are escaped.
macro_rules! errln {
    ($($t:tt)*) => { $crate::output::write_err_line(format_args!($($t)*)) };
}

/// `eprint!` that never panics.
macro_rules! err {
    ($($t:tt)*) => { $crate::output::write_err(format_args!($($t)*)) };
}

pub(crate) use {err, errln, out, outln};
