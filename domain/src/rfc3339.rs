//! RFC 3339 date-times read and written without chrono's general machinery, for the forms
//! records carry: `2026-11-20T09:30:00+08:00`, with an optional fraction of 1-9 digits and `Z`
//! or a `±HH:MM` offset. chrono reads its relaxed RFC 3339 through a table-driven parser and
//! writes through `fmt`, a few thousand instructions each way; a record has five or so times,
//! read once from its draft and written once more for its canonical form, which made them a
//! tenth of a record's preparation.
//!
//! Anything else (other spellings chrono accepts, years outside 0-9999, leap seconds, offsets
//! with seconds) goes to chrono itself, so the values read and the text written are always
//! chrono's: [`parse`] gives what `str::parse::<DateTime<FixedOffset>>` gives, [`Text`] what
//! `Display`/`Serialize` (`Z` for UTC) or `to_rfc3339` (`+00:00`) writes.
//!
//! The record's time fields use this through `#[serde(with = "crate::rfc3339")]` (and
//! [`option`] for optional ones).

use std::fmt;

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, TimeZone,
    Timelike,
};
use serde::{Deserializer, Serializer, de};

/// The longest text the fast path writes: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+HH:MM`.
const MAX: usize = 35;

/// A formatted date-time, on the stack when it took the fast path.
pub enum Text {
    Short { buf: [u8; MAX], len: u8 },
    Long(String),
}

impl Text {
    pub fn as_str(&self) -> &str {
        match self {
            // Only ASCII digits and punctuation are written to `buf`.
            Text::Short { buf, len } => std::str::from_utf8(&buf[..*len as usize]).expect("ASCII"),
            Text::Long(s) => s,
        }
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `dt` as chrono's `Serialize` writes it (fraction in 3, 6 or 9 digits when not zero, `Z`
/// for a zero offset) when `zulu`, else as its `to_rfc3339` does (`+00:00`).
pub fn format(dt: &DateTime<FixedOffset>, zulu: bool) -> Text {
    fast_format(dt, zulu).unwrap_or_else(|| {
        Text::Long(if zulu {
            dt.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        } else {
            dt.to_rfc3339()
        })
    })
}

fn fast_format(dt: &DateTime<FixedOffset>, zulu: bool) -> Option<Text> {
    let offset = dt.offset().local_minus_utc();
    // chrono rounds an offset's seconds; such offsets do not occur in records.
    if offset % 60 != 0 {
        return None;
    }
    let local = dt.naive_utc().checked_add_offset(*dt.offset())?;
    let (year, nano) = (local.year(), local.nanosecond());
    if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
        return None; // a signed year or a leap second: chrono's own spelling
    }
    let mut buf = [0u8; MAX];
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        buf[len..len + bytes.len()].copy_from_slice(bytes);
        len += bytes.len();
    };
    let two = |n: u32| [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8];
    put(&two(year as u32 / 100));
    put(&two(year as u32 % 100));
    put(b"-");
    put(&two(local.month()));
    put(b"-");
    put(&two(local.day()));
    put(b"T");
    put(&two(local.hour()));
    put(b":");
    put(&two(local.minute()));
    put(b":");
    put(&two(local.second()));
    let (digits, mut value) = match nano {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (3, n / 1_000_000),
        n if n % 1_000 == 0 => (6, n / 1_000),
        n => (9, n),
    };
    if digits > 0 {
        let mut fraction = [b'.'; 10];
        for d in (1..=digits).rev() {
            fraction[d] = b'0' + (value % 10) as u8;
            value /= 10;
        }
        put(&fraction[..=digits]);
    }
    if zulu && offset == 0 {
        put(b"Z");
    } else {
        let minutes = offset.unsigned_abs() / 60;
        put(if offset < 0 { b"-" } else { b"+" });
        put(&two(minutes / 60));
        put(b":");
        put(&two(minutes % 60));
    }
    Some(Text::Short {
        buf,
        len: len as u8,
    })
}

/// `s.parse::<DateTime<FixedOffset>>()`: chrono's relaxed RFC 3339, the record fields'
/// deserialization.
pub fn parse(s: &str) -> Result<DateTime<FixedOffset>, chrono::ParseError> {
    match fast_parse(s.as_bytes()) {
        Some(dt) => Ok(dt),
        None => s.parse(),
    }
}

/// Digits `b[at..at + n]` as a number, if they are all ASCII digits.
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    b.get(at..at + n)?.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// `DateTime::parse_from_rfc3339(s)`: RFC 3339 as the standard spells it.
pub fn parse_strict(s: &str) -> Result<DateTime<FixedOffset>, chrono::ParseError> {
    match fast_parse(s.as_bytes()) {
        Some(dt) => Ok(dt),
        None => DateTime::parse_from_rfc3339(s),
    }
}

/// `dt.to_rfc3339()`.
pub fn to_string(dt: &DateTime<FixedOffset>) -> String {
    format(dt, false).as_str().to_owned()
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)` exactly, or `None` (chrono decides).
fn fast_parse(b: &[u8]) -> Option<DateTime<FixedOffset>> {
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let date =
        NaiveDate::from_ymd_opt(digits(b, 0, 4)? as i32, digits(b, 5, 2)?, digits(b, 8, 2)?)?;
    let (hour, minute, second) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    if second > 59 {
        return None; // a leap second
    }
    let mut at = 19;
    let mut nano = 0;
    if b[at] == b'.' {
        let n = b[at + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if !(1..=9).contains(&n) {
            return None;
        }
        nano = digits(b, at + 1, n)? * 10u32.pow(9 - n as u32);
        at += 1 + n;
    }
    let offset = match b.get(at..)? {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (digits(b, at + 1, 2)?, digits(b, at + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let secs = (h * 3600 + m * 60) as i32;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nano)?;
    FixedOffset::east_opt(offset)?
        .from_local_datetime(&NaiveDateTime::new(date, time))
        .single()
}

/// `serialize_with`: as chrono's `Serialize`.
pub fn serialize<S: Serializer>(dt: &DateTime<FixedOffset>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(format(dt, true).as_str())
}

/// `deserialize_with`: as chrono's `Deserialize`, same errors.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<FixedOffset>, D::Error> {
    d.deserialize_str(Visitor)
}

struct Visitor;

impl de::Visitor<'_> for Visitor {
    type Value = DateTime<FixedOffset>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an RFC 3339 formatted date and time string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        parse(value).map_err(E::custom)
    }
}

/// The same for `Option<DateTime<FixedOffset>>` fields (`null` or absent is `None`).
pub mod option {
    use super::*;

    struct Ser<'a>(&'a DateTime<FixedOffset>);

    impl serde::Serialize for Ser<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            super::serialize(self.0, s)
        }
    }

    struct De(DateTime<FixedOffset>);

    impl<'de> serde::Deserialize<'de> for De {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            super::deserialize(d).map(De)
        }
    }

    pub fn serialize<S: Serializer>(
        dt: &Option<DateTime<FixedOffset>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match dt {
            Some(dt) => s.serialize_some(&Ser(dt)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<FixedOffset>>, D::Error> {
        <Option<De> as serde::Deserialize>::deserialize(d).map(|o| o.map(|De(dt)| dt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every spelling the fast path takes, and some it leaves to chrono, read as chrono reads
    /// them and written back as chrono writes them.
    #[test]
    fn reads_and_writes_as_chrono_does() {
        let fast = [
            "2026-11-20T09:30:00+08:00",
            "2026-11-20T01:30:00Z",
            "2026-11-20T01:30:00+00:00",
            "2026-11-20T01:30:00-00:00",
            "2026-11-20T01:30:00-05:30",
            "2026-11-20T01:30:00.5+08:00",
            "2026-11-20T01:30:00.123+08:00",
            "2026-11-20T01:30:00.120000+08:00",
            "2026-11-20T01:30:00.123456+08:00",
            "2026-11-20T01:30:00.123456789+08:00",
            "2026-11-20T01:30:00.000000001Z",
            "2026-11-20T01:30:00.000+08:00",
            "0000-01-01T00:00:00+08:00",
            "9999-12-31T23:59:59-23:59",
            "2024-02-29T12:00:00+14:00",
        ];
        // Other spellings (chrono accepts some), and what no one accepts.
        let slow = [
            "2026-11-20T01:30:00.1234567891+08:00",
            "2026-06-30T23:59:60Z",
            "2026-11-20 09:30:00+08:00",
            "2026-11-20t09:30:00z",
            "2026-11-20T09:30:00 +08:00",
            "2026-11-20T09:30:00UTC",
            "2026-11-20T09:30:00+0800",
            "2026-11-20T9:30:00+08:00",
            "+12026-11-20T09:30:00+08:00",
            "2026-02-30T09:30:00+08:00",
            "2026-11-20T24:00:00+08:00",
            "2026-11-20T09:60:00+08:00",
            "2026-11-20T09:30:00+24:00",
            "2026-11-20T09:30:00.+08:00",
            "2026-11-20T09:30:00",
            "2026-11-20T09:30:00+08:00 ",
            "2026-11-20T09:30:00+08:00x",
            "２０２６-11-20T09:30:00+08:00",
            "",
        ];
        for (text, expect_fast) in fast
            .iter()
            .map(|t| (t, true))
            .chain(slow.iter().map(|t| (t, false)))
        {
            assert_eq!(fast_parse(text.as_bytes()).is_some(), expect_fast, "{text}");
            let ours = parse(text);
            assert_eq!(ours, text.parse::<DateTime<FixedOffset>>(), "{text}");
            assert_eq!(
                parse_strict(text),
                DateTime::parse_from_rfc3339(text),
                "{text}"
            );
            if let Ok(dt) = ours {
                assert_eq!(
                    format(&dt, true).as_str(),
                    serde_json::to_value(dt).unwrap().as_str().unwrap(),
                    "{text}"
                );
                assert_eq!(to_string(&dt), dt.to_rfc3339(), "{text}");
            }
        }
    }

    /// Times across the range, every offset in quarter hours, and fractions of every length.
    #[test]
    fn writes_as_chrono_across_the_range() {
        let mut n = 0u64;
        for year in [0, 1, 99, 1000, 1970, 2000, 2026, 9999] {
            for offset_quarters in -95..=95 {
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let offset = FixedOffset::east_opt(offset_quarters * 900).unwrap();
                let nano = match n % 5 {
                    0 => 0,
                    1 => (n >> 8) as u32 % 1000 * 1_000_000,
                    2 => (n >> 8) as u32 % 1_000_000 * 1000,
                    3 => (n >> 8) as u32 % 1_000_000_000,
                    _ => 1_000_000_000 + (n >> 8) as u32 % 1000, // leap second
                };
                let day = NaiveDate::from_yo_opt(year, 1 + (n >> 20) as u32 % 365).unwrap();
                let time = NaiveTime::from_hms_nano_opt(23, 59, 59, nano)
                    .or(NaiveTime::from_hms_opt(0, 0, 0));
                let Some(dt) = offset
                    .from_local_datetime(&NaiveDateTime::new(day, time.unwrap()))
                    .single()
                else {
                    continue;
                };
                let expected = serde_json::to_value(dt).unwrap();
                assert_eq!(format(&dt, true).as_str(), expected.as_str().unwrap());
                assert_eq!(format(&dt, false).as_str(), dt.to_rfc3339());
                let back = parse(format(&dt, true).as_str()).unwrap();
                assert_eq!(back, dt);
                assert_eq!(back.offset(), dt.offset());
            }
        }
    }

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Times {
        #[serde(with = "super")]
        at: DateTime<FixedOffset>,
        #[serde(
            default,
            with = "super::option",
            skip_serializing_if = "Option::is_none"
        )]
        until: Option<DateTime<FixedOffset>>,
    }

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct ChronoTimes {
        at: DateTime<FixedOffset>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<DateTime<FixedOffset>>,
    }

    /// As fields, the same JSON and the same errors as chrono's own implementations.
    #[test]
    fn fields_as_chronos() {
        for json in [
            r#"{"at":"2026-11-20T09:30:00+08:00"}"#,
            r#"{"at":"2026-11-20T09:30:00+08:00","until":null}"#,
            r#"{"at":"2026-11-20T09:30:00.25Z","until":"2026-11-21T09:30:00+08:00"}"#,
            r#"{"at":"2026-11-20 09:30:00 UTC"}"#,
            r#"{"at":"2026-13-20T09:30:00+08:00"}"#,
            r#"{"at":"2026-11-20T09:30:00+08:00","until":"soon"}"#,
            r#"{"at":20261120}"#,
        ] {
            let ours = serde_json::from_str::<Times>(json);
            let chronos = serde_json::from_str::<ChronoTimes>(json);
            match (&ours, &chronos) {
                (Ok(o), Ok(c)) => {
                    assert_eq!((o.at, o.until), (c.at, c.until), "{json}");
                    assert_eq!(
                        serde_json::to_string(o).unwrap(),
                        serde_json::to_string(c).unwrap()
                    );
                    let value = serde_json::to_value(o).unwrap();
                    assert_eq!(serde_json::from_value::<Times>(value).unwrap(), *o);
                }
                (Err(o), Err(c)) => assert_eq!(o.to_string(), c.to_string(), "{json}"),
                _ => panic!("{json}: ours {ours:?}, chrono's {chronos:?}"),
            }
        }
    }
}
