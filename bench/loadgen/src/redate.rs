//! Moving the dates of a fixture record, in its native bytes, by whole days.
//!
//! The fixtures' records happened in November 2026. Sent as they are, every record the bench
//! pushes weeks later is a late entry and most of its cases are overdue, and the supervision
//! work a record costs (which partial indexes take its state row) moves with the calendar.
//! [`crate::batches::Load`] moves each record's dates so that its latest timestamp falls on the
//! day before the run, keeping every interval inside the record.
//!
//! Only ASCII digits and the separators around them are read or written, so the same pass
//! works on UTF-8, GBK and GB18030 bytes. Years outside 2000–2099 are left alone (birth dates
//! of adults, region codes and identifiers read as digits), as is any digit run touching an
//! ASCII letter (credit codes, identifiers).

use chrono::{Duration, NaiveDate};

/// Date separators between year, month and day: ASCII, then 年/月 in UTF-8 and in GBK/GB18030.
const YEAR_SEPARATORS: &[&[u8]] = &[b"-", b"/", "年".as_bytes(), b"\xC4\xEA"];
const MONTH_SEPARATORS: &[&[u8]] = &[b"-", b"/", "月".as_bytes(), b"\xD4\xC2"];

/// Epoch milliseconds taken for a timestamp: 2023-11 … 2030-03.
const EPOCH_MS: std::ops::Range<u64> = 1_700_000_000_000..1_900_000_000_000;

/// `bytes` with every date found moved by `days`:
/// - `YYYY-MM-DD`, `YYYY/M/D`, `YYYY年M月D日` (any width of month and day, kept);
/// - `YYYYMMDD` alone or followed by a time (`YYYYMMDDhhmm`, `YYYYMMDDhhmmss`: HL7);
/// - epoch milliseconds (13 digits).
pub fn redate(bytes: &[u8], days: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 8);
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || (i > 0 && bytes[i - 1].is_ascii_digit()) {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let run = digits(bytes, i);
        let touches_letter = (i > 0 && bytes[i - 1].is_ascii_alphabetic())
            || bytes.get(i + run).is_some_and(u8::is_ascii_alphabetic);
        let moved = if touches_letter {
            None
        } else {
            moved_run(bytes, i, run, days)
        };
        match moved {
            Some((replacement, consumed)) => {
                out.extend_from_slice(&replacement);
                i += consumed;
            }
            None => {
                out.extend_from_slice(&bytes[i..i + run]);
                i += run;
            }
        }
    }
    out
}

/// Length of the run of ASCII digits at `at`.
fn digits(bytes: &[u8], at: usize) -> usize {
    bytes[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count()
}

fn number(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |n, b| n * 10 + u64::from(b - b'0'))
}

fn date(year: u64, month: u64, day: u64) -> Option<NaiveDate> {
    if !(2000..=2099).contains(&year) {
        return None;
    }
    NaiveDate::from_ymd_opt(year as i32, month as u32, day as u32)
}

/// The replacement of the digit run of length `run` at `at` (and what follows it, for a
/// separated date), with how many bytes it replaces; `None` when it is no date.
fn moved_run(bytes: &[u8], at: usize, run: usize, days: i64) -> Option<(Vec<u8>, usize)> {
    let digits_at = &bytes[at..at + run];
    match run {
        13 if EPOCH_MS.contains(&number(digits_at)) => {
            let ms = number(digits_at) as i64 + days * 86_400_000;
            Some((ms.to_string().into_bytes(), run))
        }
        8 | 12 | 14 => {
            let d = &digits_at[..8];
            let moved =
                date(number(&d[..4]), number(&d[4..6]), number(&d[6..8]))? + Duration::days(days);
            let mut out = moved.format("%Y%m%d").to_string().into_bytes();
            out.extend_from_slice(&digits_at[8..]);
            Some((out, run))
        }
        4 => separated(bytes, at, days),
        _ => None,
    }
}

/// `YYYY<sep>M<sep>D` at `at` (month and day one or two digits, widths kept when they fit).
fn separated(bytes: &[u8], at: usize, days: i64) -> Option<(Vec<u8>, usize)> {
    let year = number(&bytes[at..at + 4]);
    let after = |from: usize, seps: &[&[u8]]| -> Option<(usize, usize)> {
        let sep = seps.iter().find(|s| bytes[from..].starts_with(s))?;
        let start = from + sep.len();
        let width = digits(bytes, start.min(bytes.len()));
        (1..=2).contains(&width).then_some((start, width))
    };
    let (month_at, month_width) = after(at + 4, YEAR_SEPARATORS)?;
    let (day_at, day_width) = after(month_at + month_width, MONTH_SEPARATORS)?;
    let month = number(&bytes[month_at..month_at + month_width]);
    let day = number(&bytes[day_at..day_at + day_width]);
    let moved = date(year, month, day)? + Duration::days(days);
    let (year_sep, month_sep) = (
        &bytes[at + 4..month_at],
        &bytes[month_at + month_width..day_at],
    );
    let pad = |n: u32, width: usize| {
        if width == 2 {
            format!("{n:02}")
        } else {
            n.to_string()
        }
    };
    use chrono::Datelike;
    let mut out = moved.year().to_string().into_bytes();
    out.extend_from_slice(year_sep);
    out.extend_from_slice(pad(moved.month(), month_width).as_bytes());
    out.extend_from_slice(month_sep);
    out.extend_from_slice(pad(moved.day(), day_width).as_bytes());
    Some((out, day_at + day_width - at))
}

#[cfg(test)]
mod tests {
    use super::redate;

    fn moved(text: &str, days: i64) -> String {
        String::from_utf8(redate(text.as_bytes(), days)).unwrap()
    }

    #[test]
    fn separated_dates_move_in_their_own_spelling() {
        assert_eq!(
            moved("\"applyTime\": \"2026-11-18 09:12:00\"", 17),
            "\"applyTime\": \"2026-12-05 09:12:00\""
        );
        assert_eq!(moved("2026/11/24 10:00", 8), "2026/12/02 10:00");
        assert_eq!(
            moved("2026年11月18日 09时55分", 40),
            "2026年12月28日 09时55分"
        );
        // Padded stays padded, across a year; unpadded stays unpadded.
        assert_eq!(moved("2026年12月30日", 3), "2027年01月02日");
        assert_eq!(moved("2026年9月5日", 30), "2026年10月5日");
    }

    #[test]
    fn gbk_separators_are_read_as_bytes() {
        let gbk = b"\xC9\xEA 2026\xC4\xEA11\xD4\xC218\xC8\xD5".to_vec();
        let expected = b"\xC9\xEA 2026\xC4\xEA12\xD4\xC205\xC8\xD5".to_vec();
        assert_eq!(redate(&gbk, 17), expected);
    }

    #[test]
    fn digit_dates_hl7_times_and_epoch_milliseconds_move() {
        assert_eq!(
            moved("EVN|Z01|20261118102955+0800", 17),
            "EVN|Z01|20261205102955+0800"
        );
        assert_eq!(moved("||202611150842+0800|M", 1), "||202611160842+0800|M");
        assert_eq!(moved("SCJG-XF-20261118-0001", 17), "SCJG-XF-20261205-0001");
        assert_eq!(
            moved("\"banjie\": 1795164000000,", 2),
            "\"banjie\": 1795336800000,"
        );
    }

    #[test]
    fn what_is_no_recent_date_stays() {
        for text in [
            "1993年5月12日",                         // an adult's birth date
            "1995-08-20",                            // the same, spelled otherwise
            "621002101000",                          // a region code (year 6210)
            "621002199305121234",                    // an identity card number
            "91621002MA7101234G 11621002013870050A", // credit codes
            "GA-HX-JZZ-2026111742",                  // digits that are no date (10)
            "20140010",                              // a licence number (month 00)
            "0934-8213456",                          // a phone number
        ] {
            assert_eq!(moved(text, 17), text);
        }
    }
}
