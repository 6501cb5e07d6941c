//! Fault mode (docs/sandbox-api.md, "Fault mode"): dropped handshakes, lost responses, 503s and
//! a delay, so that a client's time-outs and retries can be tried against real TLS.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The faults the sandbox plays. Each counter counts down once: the next `N` connections,
/// requests, … get the fault, later ones do not. `Faults::default()` plays none.
///
/// ```
/// use psd2_sandbox::Faults;
/// let f: Faults = "drop-handshakes=1,lose-responses=2,fail=3,delay=200ms".parse()?;
/// assert_eq!((f.drop_handshakes, f.lose_responses, f.fail), (1, 2, 3));
/// assert_eq!(f.delay, std::time::Duration::from_millis(200));
/// assert_eq!(f.to_string(), "drop-handshakes=1,lose-responses=2,fail=3,delay=200ms");
/// # Ok::<(), psd2_sandbox::FaultsError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// The next N TLS connections are closed during the handshake (after the ClientHello).
    pub drop_handshakes: u32,
    /// The next N requests are processed, then their connection is closed without an answer.
    pub lose_responses: u32,
    /// The next N requests get `503 SERVICE_UNAVAILABLE` without being processed.
    pub fail: u32,
    /// Every answer waits this long.
    pub delay: Duration,
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// `true` when no fault is left to play.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }

    /// Takes one from `counter` if it is above 0.
    pub(crate) fn take(counter: &mut u32) -> bool {
        let hit = *counter > 0;
        *counter = counter.saturating_sub(1);
        hit
    }
}

/// Why a fault SPEC was refused ([`Faults::from_str`]); the messages quote the item, control
/// characters escaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FaultsError {
    /// The SPEC is empty, or has an empty item (`a=1,,b=2`).
    #[error("empty fault item: expected drop-handshakes=N, lose-responses=N, fail=N or delay=DURATION")]
    Empty,
    /// An item names no known fault.
    #[error("unknown fault {:?}: expected drop-handshakes, lose-responses, fail or delay", .0)]
    Unknown(String),
    /// A fault is given twice.
    #[error("fault {:?} is given twice", .0)]
    Duplicate(String),
    /// A count or duration is not valid.
    #[error("{name}={value:?}: {why}")]
    Value {
        /// The fault.
        name: String,
        /// The value as given.
        value: String,
        /// What a value must look like.
        why: &'static str,
    },
}

impl FromStr for Faults {
    type Err = FaultsError;

    /// A comma list of `drop-handshakes=N`, `lose-responses=N`, `fail=N`, `delay=DURATION`
    /// (`DURATION`: a whole number with `ms` or `s`, e.g. `200ms`, `2s`).
    fn from_str(spec: &str) -> Result<Self, FaultsError> {
        let mut f = Faults::default();
        let mut seen: Vec<&str> = Vec::new();
        for item in spec.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(FaultsError::Empty);
            }
            let Some((name, value)) = item.split_once('=') else {
                return Err(FaultsError::Unknown(item.to_owned()));
            };
            let (name, value) = (name.trim(), value.trim());
            let value_err = |why| FaultsError::Value { name: name.to_owned(), value: value.to_owned(), why };
            let count = || value.parse::<u32>().map_err(|_| value_err("not a count (0 to 4294967295)"));
            match name {
                "drop-handshakes" => f.drop_handshakes = count()?,
                "lose-responses" => f.lose_responses = count()?,
                "fail" => f.fail = count()?,
                "delay" => {
                    f.delay = parse_duration(value).ok_or_else(|| value_err("not a duration like 200ms or 2s"))?
                }
                _ => return Err(FaultsError::Unknown(name.to_owned())),
            }
            if seen.contains(&name) {
                return Err(FaultsError::Duplicate(name.to_owned()));
            }
            seen.push(name);
        }
        Ok(f)
    }
}

/// `200ms`, `2s` (at most an hour).
fn parse_duration(s: &str) -> Option<Duration> {
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    if digits.is_empty() {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        _ => return None,
    };
    (d <= Duration::from_secs(3600)).then_some(d)
}

impl fmt::Display for Faults {
    /// The SPEC form, e.g. `fail=2,delay=200ms` (`none` when there is no fault).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items = Vec::new();
        for (name, n) in
            [("drop-handshakes", self.drop_handshakes), ("lose-responses", self.lose_responses), ("fail", self.fail)]
        {
            if n > 0 {
                items.push(format!("{name}={n}"));
            }
        }
        if !self.delay.is_zero() {
            items.push(format!("delay={}ms", self.delay.as_millis()));
        }
        if items.is_empty() { f.write_str("none") } else { f.write_str(&items.join(",")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let f: Faults = "fail=2".parse().unwrap_or_default();
        assert_eq!(f, Faults { fail: 2, ..Faults::default() });
        assert_eq!("delay=2s".parse::<Faults>().map(|f| f.delay), Ok(Duration::from_secs(2)));
        assert_eq!(Faults::default().to_string(), "none");
        for (bad, want) in [
            ("", FaultsError::Empty),
            ("fail=1,", FaultsError::Empty),
            ("boom=1", FaultsError::Unknown("boom".into())),
            ("fail", FaultsError::Unknown("fail".into())),
            ("fail=1,fail=2", FaultsError::Duplicate("fail".into())),
        ] {
            assert_eq!(bad.parse::<Faults>(), Err(want), "{bad}");
        }
        for bad in ["fail=-1", "fail=x", "delay=200", "delay=ms", "delay=1h", "delay=3601s"] {
            assert!(matches!(bad.parse::<Faults>(), Err(FaultsError::Value { .. })), "{bad}");
        }
        let e = "lose-responses=\u{1b}".parse::<Faults>().err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(e, "lose-responses=\"\\u{1b}\": not a count (0 to 4294967295)");
    }
}
