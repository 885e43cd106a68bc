//! The working-day calendar (工作日历) and the supervision deadline of a case.
//!
//! Electronic supervision (电子监察) measures every case against its promised time limit
//! (承诺时限), which is given in *working days*. Which days are working days is not a rule
//! but a yearly decision: each November or so the State Council General Office publishes the
//! next year's holidays (放假) and the weekend days worked in exchange (调休上班). So the
//! calendar is reference data, one versioned file per year in `schemas/calendar/`
//! (`calendar.v1.schema.json`), transcribed from the notice with its document number and URL,
//! and checked when loaded. A date of a year with no file is an error
//! ([`CalendarError::OutOfRange`]), never a guess: a deadline computed from "probably Monday to
//! Friday" would be wrong by a week around the Spring Festival.
//!
//! # The rules (docs/calendar.md has them with examples)
//!
//! - **Working day**: a date of a covered year that is an adjusted working day, or that is
//!   Monday to Friday and not inside a holiday period.
//! - **Counting**: the acceptance date is the China Standard Time (+08:00) date of the instant
//!   of acceptance, whatever offset it was given in. Counting starts on the day *after* it
//!   (whether or not the acceptance day is a working day): day 1 is the first working day
//!   after the acceptance date.
//! - **Holds (挂起)**: a hold is the half-open interval `[start, end)`. A working day on which
//!   the case was on hold at any moment is not counted, so each such day moves the deadline by
//!   one working day. An open hold (no end yet) stops the clock: if it starts before the limit
//!   is used up there is no deadline ([`Deadline::OnHold`]); one that starts after the last
//!   counted day changes nothing.
//! - **Due**: 23:59:59+08:00 of the last counted day (of the acceptance day if the limit is 0).
//! - **Progress**: time used is working time: the part of each counted day that has passed,
//!   over `limit` whole days. [`Level::Warning`] from 80 % used, [`Level::Overdue`] once the
//!   due instant has passed. Wall-clock time would count the eight days of National Day as
//!   used and warn a case that still has 40 % of its working days left.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, TimeZone, Weekday};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::schema::JsonSchema;

/// The JSON Schema every calendar file must satisfy.
pub const SCHEMA_JSON: &str = include_str!("../../schemas/calendar.v1.schema.json");

/// The calendar files shipped with the gateway (`schemas/calendar/`), by file name. A test
/// checks that this list and the directory agree.
pub const BUNDLED: &[(&str, &str)] = &[
    (
        "cn-2024.json",
        include_str!("../../schemas/calendar/cn-2024.json"),
    ),
    (
        "cn-2025.json",
        include_str!("../../schemas/calendar/cn-2025.json"),
    ),
    (
        "cn-2026.json",
        include_str!("../../schemas/calendar/cn-2026.json"),
    ),
];

/// Seconds in a day of China Standard Time (no daylight saving since 1991).
const DAY_SECS: i64 = 86_400;
/// The warning threshold, 80 %, as a fraction (kept in integers: no rounding at the edge).
const WARNING_NUMERATOR: i64 = 4;
const WARNING_DENOMINATOR: i64 = 5;

/// China Standard Time, UTC+08:00, the time zone of every date in the calendar.
pub fn china_standard_time() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// A hold period (挂起): from its start to its end (exclusive), or still open (`None`).
pub type Hold = (DateTime<FixedOffset>, Option<DateTime<FixedOffset>>);

/// The supervision deadline of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// Due at this instant: 23:59:59+08:00 of the last counted working day.
    Due(DateTime<FixedOffset>),
    /// An open hold stopped the clock before the limit was used up: no deadline until the hold
    /// ends. `counted` working days had been counted before it.
    OnHold {
        since: DateTime<FixedOffset>,
        counted: u32,
    },
}

impl Deadline {
    /// The due instant, if the clock is running.
    pub fn due(&self) -> Option<DateTime<FixedOffset>> {
        match self {
            Deadline::Due(at) => Some(*at),
            Deadline::OnHold { .. } => None,
        }
    }
}

/// Supervision level of a case at an instant (预警 / 报警).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Less than 80 % of the working time used.
    Normal,
    /// At least 80 % of the working time used, not yet overdue (预警).
    Warning,
    /// The due instant has passed (报警).
    Overdue,
}

/// Where a year's data comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub issuer: String,
    pub title: String,
    /// The notice's document number (发文字号), e.g. `国办发明电〔2024〕12号`.
    pub document_number: String,
    pub issued_on: NaiveDate,
    pub url: String,
    #[serde(default)]
    pub republished: Vec<String>,
}

/// One holiday period of a notice, with the weekend days worked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolidayPeriod {
    pub name: String,
    pub name_en: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The length the notice states (共N天).
    pub days: u32,
    pub adjusted_working_days: Vec<NaiveDate>,
    /// The notice's sentence, verbatim.
    pub notice_text: String,
}

/// One year of a calendar, as loaded from `{calendar}-{year}.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct YearData {
    pub calendar: String,
    pub year: i32,
    /// `{year}.{n}`; a deadline can record the versions it was computed with.
    pub version: String,
    pub effective_from: NaiveDate,
    pub source: Source,
    pub holidays: Vec<HolidayPeriod>,
    #[serde(default)]
    pub notes: Vec<String>,
}

/// Why calendar data was refused, or a date or hold could not be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CalendarError {
    #[error("cannot read calendar data {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no calendar files given (expected {{calendar}}-{{year}}.json)")]
    NoData,
    #[error("calendar file {file} is not valid JSON: {source}")]
    Json {
        file: String,
        source: serde_json::Error,
    },
    #[error("calendar file {file} does not match calendar.v1.schema.json: {reason}")]
    Schema { file: String, reason: String },
    #[error("calendar file {file}: {reason}")]
    Invalid { file: String, reason: String },
    #[error("calendar year {year} is given twice ({first} and {second})")]
    DuplicateYear {
        year: i32,
        first: String,
        second: String,
    },
    #[error("{date} is outside the calendar's data (years covered: {covered})")]
    OutOfRange { date: NaiveDate, covered: String },
    #[error("hold from {start} ends before it starts ({end})")]
    HoldEndsBeforeStart {
        start: DateTime<FixedOffset>,
        end: DateTime<FixedOffset>,
    },
    #[error("hold from {start} starts before the case was accepted ({accepted_at})")]
    HoldBeforeAcceptance {
        start: DateTime<FixedOffset>,
        accepted_at: DateTime<FixedOffset>,
    },
}

/// What a notice says of a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listed {
    Holiday,
    AdjustedWorkingDay,
}

/// Loaded, merged calendar years.
#[derive(Debug, Clone)]
pub struct Calendar {
    years: BTreeMap<i32, (String, YearData)>,
    days: HashMap<NaiveDate, Listed>,
    working: WorkingDays,
}

/// Whether each day from the first covered year's 1 January to the last one's 31 December is
/// a covered working day, by day number, from `years` and `days` once they are merged. A
/// deadline's walk asks once a day, for every case stored: a hash and a B-tree look-up a day
/// before, a tenth of the node's supervision work (bench/README.md, tenth session).
#[derive(Debug, Clone, Default)]
struct WorkingDays {
    /// `num_days_from_ce` of the first covered year's 1 January.
    first_day: i32,
    first_year: i32,
    /// Per year from `first_year`: in the data or not.
    covered: Vec<bool>,
    /// Per day from `first_day`: a working day.
    working: Vec<bool>,
}

impl WorkingDays {
    fn of(years: &BTreeMap<i32, (String, YearData)>, days: &HashMap<NaiveDate, Listed>) -> Self {
        let (Some(&first_year), Some(&last_year)) = (years.keys().next(), years.keys().last())
        else {
            return WorkingDays::default();
        };
        let jan1 = |y| NaiveDate::from_ymd_opt(y, 1, 1).expect("a calendar year is a valid year");
        let (start, end) = (jan1(first_year), jan1(last_year + 1));
        let working = start
            .iter_days()
            .take_while(|d| *d < end)
            .map(|d| match days.get(&d) {
                Some(Listed::Holiday) => false,
                Some(Listed::AdjustedWorkingDay) => true,
                None => !is_weekend(d),
            })
            .collect();
        WorkingDays {
            first_day: start.num_days_from_ce(),
            first_year,
            covered: (first_year..=last_year)
                .map(|y| years.contains_key(&y))
                .collect(),
            working,
        }
    }

    /// Whether `date` is a working day; `None` when its year is not covered.
    fn get(&self, date: NaiveDate) -> Option<bool> {
        let year = usize::try_from(date.year() - self.first_year).ok()?;
        if !*self.covered.get(year)? {
            return None;
        }
        let day = usize::try_from(date.num_days_from_ce() - self.first_day).ok()?;
        self.working.get(day).copied()
    }
}

impl Calendar {
    /// Parse, check and merge calendar files, given as (file name, bytes).
    ///
    /// Refused: invalid JSON or schema; a name other than `{calendar}-{year}.json`; a version
    /// not of its year; files of different calendars; a year given twice; a period whose
    /// length is not the notice's day count, or with no Monday-to-Friday date (it would change
    /// nothing, so it is a typo); an adjusted working day that is not a Saturday or Sunday; a
    /// date outside the file's year (or the December before, where New Year periods may
    /// start); and any date listed twice, in particular as both holiday and working day.
    pub fn from_json<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Self, CalendarError> {
        let schema = JsonSchema::compile(SCHEMA_JSON).expect("bundled calendar schema compiles");
        let mut cal = Calendar {
            years: BTreeMap::new(),
            days: HashMap::new(),
            working: WorkingDays::default(),
        };
        let mut listed_in: HashMap<NaiveDate, String> = HashMap::new();
        for (file, bytes) in files {
            let data = parse_file(&schema, file, bytes)?;
            check_year(file, &data)?;
            if let Some((_, first)) = cal.years.values().next()
                && first.calendar != data.calendar
            {
                return Err(invalid(
                    file,
                    format!(
                        "calendar {:?} cannot be merged with calendar {:?}",
                        data.calendar, first.calendar
                    ),
                ));
            }
            if let Some((first, _)) = cal.years.get(&data.year) {
                return Err(CalendarError::DuplicateYear {
                    year: data.year,
                    first: first.clone(),
                    second: file.to_owned(),
                });
            }
            for (date, kind) in listed_dates(&data) {
                cal.list(file, date, kind, &mut listed_in)?;
            }
            cal.years.insert(data.year, (file.to_owned(), data));
        }
        if cal.years.is_empty() {
            return Err(CalendarError::NoData);
        }
        cal.working = WorkingDays::of(&cal.years, &cal.days);
        Ok(cal)
    }

    /// Load every `*.json` file of a directory (e.g. `schemas/calendar/`), in name order.
    pub fn load(dir: &Path) -> Result<Self, CalendarError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| CalendarError::Io { path, source }
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            if path.extension().is_some_and(|e| e == "json") && path.is_file() {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let bytes = std::fs::read(&path).map_err(io(&path))?;
                files.push((name, bytes));
            }
        }
        files.sort();
        Self::from_json(files.iter().map(|(n, b)| (n.as_str(), b.as_slice())))
    }

    /// The calendar shipped in `schemas/calendar/`.
    pub fn bundled() -> Result<Self, CalendarError> {
        Self::from_json(BUNDLED.iter().map(|(n, t)| (*n, t.as_bytes())))
    }

    /// The loaded years, in order.
    pub fn years(&self) -> impl Iterator<Item = &YearData> {
        self.years.values().map(|(_, data)| data)
    }

    /// True if the date's year is in the data.
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.years.contains_key(&date.year())
    }

    /// Whether a date is a working day; a date of a year not in the data is an error.
    pub fn is_working_day(&self, date: NaiveDate) -> Result<bool, CalendarError> {
        self.working
            .get(date)
            .ok_or_else(|| self.out_of_range(date))
    }

    /// The `n`th working day after `start` (`start` itself when `n` is 0). Only the days after
    /// `start` are looked at, and each must be covered by the data.
    pub fn add_working_days(&self, start: NaiveDate, n: u32) -> Result<NaiveDate, CalendarError> {
        match self.count(start, n, &Holds::default())? {
            Count::Done(days) => Ok(days.last().copied().unwrap_or(start)),
            Count::Stopped { .. } => unreachable!("no holds, nothing stops the count"),
        }
    }

    /// The deadline of a case accepted at `accepted_at` with a limit of `limit_working_days`,
    /// given its hold periods (see the module documentation for the exact rules).
    pub fn deadline(
        &self,
        accepted_at: DateTime<FixedOffset>,
        limit_working_days: u32,
        holds: &[Hold],
    ) -> Result<Deadline, CalendarError> {
        let holds = Holds::new(accepted_at, holds)?;
        let start = cst_date(accepted_at);
        Ok(match self.count(start, limit_working_days, &holds)? {
            Count::Done(days) => Deadline::Due(due_instant(days.last().copied().unwrap_or(start))),
            Count::Stopped { since, counted } => Deadline::OnHold {
                since,
                counted: counted.len() as u32,
            },
        })
    }

    /// The supervision level of the case at `now`.
    ///
    /// Time used is working time: for each counted day (working, not on hold), the part of it
    /// that has passed at `now`; [`Level::Warning`] once that is at least 80 % of
    /// `limit_working_days` whole days, [`Level::Overdue`] once `now` is after the due instant.
    /// On an open hold the clock is stopped, so the level stays what it was (never overdue).
    /// With a limit of 0 the level is normal until the due instant, then overdue.
    pub fn progress(
        &self,
        accepted_at: DateTime<FixedOffset>,
        limit_working_days: u32,
        holds: &[Hold],
        now: DateTime<FixedOffset>,
    ) -> Result<Level, CalendarError> {
        let holds = Holds::new(accepted_at, holds)?;
        let start = cst_date(accepted_at);
        let counted = match self.count(start, limit_working_days, &holds)? {
            Count::Done(days) => {
                if now > due_instant(days.last().copied().unwrap_or(start)) {
                    return Ok(Level::Overdue);
                }
                days
            }
            Count::Stopped { counted, .. } => counted,
        };
        let used: i64 = counted.iter().map(|&d| seconds_passed(d, now)).sum();
        let limit = i64::from(limit_working_days) * DAY_SECS;
        Ok(
            if limit > 0 && used * WARNING_DENOMINATOR >= limit * WARNING_NUMERATOR {
                Level::Warning
            } else {
                Level::Normal
            },
        )
    }

    /// Walk the days after `start`, collecting working days not on hold, until there are `n`
    /// or an open hold stops the clock.
    fn count(&self, start: NaiveDate, n: u32, holds: &Holds) -> Result<Count, CalendarError> {
        // Not `with_capacity(n)`: `n` comes from case data; the walk ends with the data anyway.
        let mut counted = Vec::new();
        let mut day = start;
        while counted.len() < n as usize {
            day = day.succ_opt().ok_or_else(|| self.out_of_range(day))?;
            if let Some(since) = holds.open_on(day) {
                return Ok(Count::Stopped { since, counted });
            }
            if self.is_working_day(day)? && !holds.touch(day) {
                counted.push(day);
            }
        }
        Ok(Count::Done(counted))
    }

    /// Record one listed date, refusing a date listed twice.
    fn list(
        &mut self,
        file: &str,
        date: NaiveDate,
        kind: Listed,
        listed_in: &mut HashMap<NaiveDate, String>,
    ) -> Result<(), CalendarError> {
        if let Some(previous) = self.days.insert(date, kind) {
            let other = &listed_in[&date];
            let reason = if previous == kind {
                format!("{date} is listed twice (also in {other})")
            } else {
                format!(
                    "{date} is listed both as a holiday and as an adjusted working day (also in {other})"
                )
            };
            return Err(invalid(file, reason));
        }
        listed_in.insert(date, file.to_owned());
        Ok(())
    }

    fn out_of_range(&self, date: NaiveDate) -> CalendarError {
        CalendarError::OutOfRange {
            date,
            covered: year_ranges(self.years.keys().copied()),
        }
    }
}

/// The result of a walk: all `n` days, or the days counted before an open hold.
enum Count {
    Done(Vec<NaiveDate>),
    Stopped {
        since: DateTime<FixedOffset>,
        counted: Vec<NaiveDate>,
    },
}

/// Checked hold periods of one case.
#[derive(Default)]
struct Holds {
    closed: Vec<(DateTime<FixedOffset>, DateTime<FixedOffset>)>,
    /// The start of the earliest open hold.
    open: Option<DateTime<FixedOffset>>,
}

impl Holds {
    fn new(accepted_at: DateTime<FixedOffset>, holds: &[Hold]) -> Result<Self, CalendarError> {
        let mut out = Holds::default();
        for &(start, end) in holds {
            if start < accepted_at {
                return Err(CalendarError::HoldBeforeAcceptance { start, accepted_at });
            }
            match end {
                Some(end) if end < start => {
                    return Err(CalendarError::HoldEndsBeforeStart { start, end });
                }
                Some(end) => out.closed.push((start, end)),
                None => out.open = Some(out.open.map_or(start, |o| o.min(start))),
            }
        }
        Ok(out)
    }

    /// The open hold's start, if it covers any part of `day` (and so every later day).
    fn open_on(&self, day: NaiveDate) -> Option<DateTime<FixedOffset>> {
        self.open.filter(|&since| since < day_end(day))
    }

    /// True if a closed hold covers any part of `day`.
    fn touch(&self, day: NaiveDate) -> bool {
        if self.closed.is_empty() {
            return false;
        }
        let (from, to) = (day_start(day), day_end(day));
        self.closed
            .iter()
            .any(|&(start, end)| start < to && end > from)
    }
}

#[derive(Deserialize)]
struct YearFile {
    #[serde(rename = "schema")]
    _schema: String,
    #[serde(flatten)]
    data: YearData,
}

fn parse_file(schema: &JsonSchema, file: &str, bytes: &[u8]) -> Result<YearData, CalendarError> {
    let json = |source| CalendarError::Json {
        file: file.to_owned(),
        source,
    };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(json)?;
    if let Some(e) = schema.errors(&value).into_iter().next() {
        return Err(CalendarError::Schema {
            file: file.to_owned(),
            reason: e.to_string(),
        });
    }
    let parsed: YearFile = serde_json::from_value(value).map_err(json)?;
    Ok(parsed.data)
}

/// The checks of one file on its own (see [`Calendar::from_json`]).
fn check_year(file: &str, data: &YearData) -> Result<(), CalendarError> {
    let expected = format!("{}-{}.json", data.calendar, data.year);
    if file != expected {
        return Err(invalid(file, format!("the file must be named {expected}")));
    }
    if !data.version.starts_with(&format!("{}.", data.year)) {
        return Err(invalid(
            file,
            format!("version {} is not of year {}", data.version, data.year),
        ));
    }
    let earliest = NaiveDate::from_ymd_opt(data.year - 1, 12, 1).expect("valid date");
    let latest = NaiveDate::from_ymd_opt(data.year, 12, 31).expect("valid date");
    let in_span = |d: &NaiveDate| (earliest..=latest).contains(d);
    for p in &data.holidays {
        let bad =
            |why: String| invalid(file, format!("{} ({} to {}): {why}", p.name, p.from, p.to));
        if !in_span(&p.from) || !in_span(&p.to) {
            return Err(bad(format!(
                "dates must lie between {earliest} and {latest}"
            )));
        }
        let length = (p.to - p.from).num_days() + 1;
        if length != i64::from(p.days) {
            return Err(bad(format!(
                "{length} dates, but the notice says {} days",
                p.days
            )));
        }
        if p.from.iter_days().take(p.days as usize).all(is_weekend) {
            return Err(bad(
                "no date is Monday to Friday, so the period changes nothing".into(),
            ));
        }
        for d in &p.adjusted_working_days {
            if !in_span(d) {
                return Err(bad(format!(
                    "adjusted working day {d} must lie between {earliest} and {latest}"
                )));
            }
            if !is_weekend(*d) {
                return Err(bad(format!(
                    "adjusted working day {d} is a {}, not a weekend day",
                    d.weekday()
                )));
            }
        }
    }
    Ok(())
}

/// Every date a year's file lists, with what it says of it.
fn listed_dates(data: &YearData) -> Vec<(NaiveDate, Listed)> {
    let mut out = Vec::new();
    for p in &data.holidays {
        let period = p.from.iter_days().take(p.days as usize);
        out.extend(period.map(|d| (d, Listed::Holiday)));
        let worked = p.adjusted_working_days.iter();
        out.extend(worked.map(|&d| (d, Listed::AdjustedWorkingDay)));
    }
    out
}

fn invalid(file: &str, reason: String) -> CalendarError {
    CalendarError::Invalid {
        file: file.to_owned(),
        reason,
    }
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The China Standard Time date of an instant.
fn cst_date(at: DateTime<FixedOffset>) -> NaiveDate {
    at.with_timezone(&china_standard_time()).date_naive()
}

fn cst_instant(date: NaiveDate, time: NaiveTime) -> DateTime<FixedOffset> {
    china_standard_time()
        .from_local_datetime(&date.and_time(time))
        .single()
        .expect("a fixed offset maps every local time exactly once")
}

/// 00:00:00+08:00 of `date`.
fn day_start(date: NaiveDate) -> DateTime<FixedOffset> {
    cst_instant(date, NaiveTime::MIN)
}

/// 00:00:00+08:00 of the day after `date` (exclusive end of `date`).
fn day_end(date: NaiveDate) -> DateTime<FixedOffset> {
    day_start(date) + chrono::Duration::days(1)
}

/// 23:59:59+08:00 of `date`.
fn due_instant(date: NaiveDate) -> DateTime<FixedOffset> {
    cst_instant(
        date,
        NaiveTime::from_hms_opt(23, 59, 59).expect("valid time"),
    )
}

/// How many seconds of `date` (China Standard Time) have passed at `now`, 0 to 86 400.
fn seconds_passed(date: NaiveDate, now: DateTime<FixedOffset>) -> i64 {
    (now - day_start(date)).num_seconds().clamp(0, DAY_SECS)
}

/// `2024–2026` or `2024, 2026–2027`: the covered years for error messages.
fn year_ranges(years: impl Iterator<Item = i32>) -> String {
    let mut runs: Vec<(i32, i32)> = Vec::new();
    for y in years {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == y => *last = y,
            _ => runs.push((y, y)),
        }
    }
    let mut out = String::new();
    for (i, (first, last)) in runs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if first == last {
            let _ = write!(out, "{first}");
        } else {
            let _ = write!(out, "{first}–{last}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The day table answers what the definition says (a covered year; a listed date as
    /// listed, else Monday to Friday) on every day around the data, with a year missing in the
    /// middle too.
    #[test]
    fn the_day_table_is_the_definition() {
        let by_definition = |cal: &Calendar, date: NaiveDate| {
            cal.years
                .contains_key(&date.year())
                .then(|| match cal.days.get(&date) {
                    Some(Listed::Holiday) => false,
                    Some(Listed::AdjustedWorkingDay) => true,
                    None => !is_weekend(date),
                })
        };
        let gap = BUNDLED.iter().filter(|(n, _)| *n != "cn-2025.json");
        let calendars = [
            Calendar::bundled().unwrap(),
            Calendar::from_json(gap.map(|(n, t)| (*n, t.as_bytes()))).unwrap(),
        ];
        for cal in &calendars {
            let from = NaiveDate::from_ymd_opt(2022, 12, 1).unwrap();
            let mut holidays = 0;
            for date in from.iter_days().take(366 * 6) {
                let expected = by_definition(cal, date);
                assert_eq!(cal.is_working_day(date).ok(), expected, "{date}");
                holidays += usize::from(expected == Some(false) && !is_weekend(date));
            }
            assert!(
                holidays > 30,
                "the listed holidays were looked at: {holidays}"
            );
        }
        let gap = &calendars[1];
        assert!(
            gap.is_working_day(NaiveDate::from_ymd_opt(2025, 6, 3).unwrap())
                .is_err()
        );
        assert!(
            !gap.is_working_day(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap())
                .unwrap()
        );
    }

    #[test]
    fn year_ranges_are_compact() {
        assert_eq!(year_ranges([2024, 2025, 2026].into_iter()), "2024–2026");
        assert_eq!(
            year_ranges([2024, 2026, 2027].into_iter()),
            "2024, 2026–2027"
        );
        assert_eq!(year_ranges([2025].into_iter()), "2025");
    }

    #[test]
    fn seconds_passed_is_clamped_to_the_day() {
        let d = NaiveDate::from_ymd_opt(2025, 11, 4).unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap();
        assert_eq!(seconds_passed(d, at("2025-11-03T23:00:00+08:00")), 0);
        assert_eq!(seconds_passed(d, at("2025-11-04T06:00:00+08:00")), 6 * 3600);
        // 06:00+08:00 given in UTC is the same instant.
        assert_eq!(seconds_passed(d, at("2025-11-03T22:00:00Z")), 6 * 3600);
        assert_eq!(seconds_passed(d, at("2025-11-06T00:00:00+08:00")), DAY_SECS);
    }

    #[test]
    fn due_instant_is_the_last_second_in_china_standard_time() {
        let d = NaiveDate::from_ymd_opt(2025, 10, 11).unwrap();
        assert_eq!(due_instant(d).to_rfc3339(), "2025-10-11T23:59:59+08:00");
        assert_eq!(day_end(d).to_rfc3339(), "2025-10-12T00:00:00+08:00");
    }
}
