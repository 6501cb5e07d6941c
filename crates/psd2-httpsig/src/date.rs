//! `Date` header forms: IMF-fixdate (RFC 9110) and ISO 8601 (Belfius fallback).

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::error::{Error, Result};
use crate::profile::DateForm;

const IMF: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT");
const ISO: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// Formats `t` (converted to UTC, whole seconds) in the given form.
pub fn format(form: DateForm, t: OffsetDateTime) -> Result<String> {
    let t = t.to_offset(UtcOffset::UTC);
    let f = match form {
        DateForm::ImfFixdate => IMF,
        DateForm::Iso8601 => ISO,
    };
    t.format(f).map_err(|e| Error::Unsupported(format!("formatting the date: {e}")))
}

/// Parses a `Date` value in IMF-fixdate or ISO 8601 / RFC 3339 form.
pub fn parse(value: &str) -> Result<OffsetDateTime> {
    let v = value.trim();
    if let Ok(t) = PrimitiveDateTime::parse(v, IMF) {
        return Ok(t.assume_utc());
    }
    if let Ok(t) = OffsetDateTime::parse(v, &Rfc3339) {
        return Ok(t);
    }
    Err(Error::BadTime {
        header: "Date".into(),
        value: value.to_owned(),
        expected: "IMF-fixdate (Sun, 06 Nov 1994 08:49:37 GMT) or ISO 8601 (1994-11-06T08:49:37Z) date".into(),
    })
}

/// Parses a `Date` value that must be in exactly `form` (what a profile's bank expects).
pub(crate) fn parse_form(form: DateForm, value: &str) -> Result<OffsetDateTime> {
    let v = value.trim();
    let (parsed, expected) = match form {
        DateForm::ImfFixdate => (
            PrimitiveDateTime::parse(v, IMF).map(PrimitiveDateTime::assume_utc).ok(),
            "IMF-fixdate, e.g. Sun, 06 Nov 1994 08:49:37 GMT",
        ),
        DateForm::Iso8601 => (OffsetDateTime::parse(v, &Rfc3339).ok(), "ISO 8601, e.g. 1994-11-06T08:49:37Z"),
    };
    parsed.ok_or_else(|| Error::BadTime {
        header: "Date".into(),
        value: value.to_owned(),
        expected: format!("{expected} (the form this profile sends)"),
    })
}

/// `3m 10s`, `1h 2m 0s`…
pub(crate) fn human(d: time::Duration) -> String {
    let s = d.whole_seconds().unsigned_abs();
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}h {m}m {s}s")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use time::macros::datetime;

    #[test]
    fn round_trips() {
        let t = datetime!(2014-01-05 21:31:40 UTC);
        assert_eq!(format(DateForm::ImfFixdate, t).unwrap(), "Sun, 05 Jan 2014 21:31:40 GMT");
        assert_eq!(format(DateForm::Iso8601, t).unwrap(), "2014-01-05T21:31:40Z");
        assert_eq!(parse("Sun, 05 Jan 2014 21:31:40 GMT").unwrap(), t);
        assert_eq!(parse("2014-01-05T21:31:40Z").unwrap(), t);
        assert!(parse("yesterday").is_err());
    }
}
