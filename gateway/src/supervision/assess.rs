//! The supervision state of one case, from its canonical body and the calendar. Pure: the
//! caller gives the instant of first entry and "now".

use std::sync::LazyLock;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate};
use domain::calendar::{self, Calendar, CalendarError, Deadline};
use domain::record::{Hold, Status, TimeLimits, Timestamps};
use serde::{Deserialize, Serialize};

type Instant = DateTime<FixedOffset>;

/// The bundled working-day calendar (`schemas/calendar/`), loaded once per process.
static CALENDAR: LazyLock<Result<Calendar, CalendarError>> = LazyLock::new(Calendar::bundled);

/// The bundled calendar; an error only if the shipped data is broken (a test would catch it).
pub fn calendar() -> anyhow::Result<&'static Calendar> {
    CALENDAR
        .as_ref()
        .map_err(|e| anyhow::anyhow!("the bundled working-day calendar does not load: {e}"))
}

/// An entry delay longer than this is a late-entry alarm (录入超过48小时).
pub fn late_entry_after() -> Duration {
    Duration::hours(48)
}

/// The fields of a canonical record that supervision reads (everything else is ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct Facts {
    pub timestamps: Timestamps,
    pub time_limits: TimeLimits,
    pub status: Status,
    #[serde(default)]
    pub holds: Vec<Hold>,
}

/// The processing level of a case (the entry alarm is separate: [`Assessment::late_entry`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Not accepted yet: no clock.
    Pending,
    /// Clock running, less than 80 % of the working time used.
    Normal,
    /// At least 80 % used, not overdue (预警).
    Warning,
    /// The deadline has passed (报警).
    Overdue,
    /// Completed (办结); see `completed_on_time` and `completed_early`.
    Completed,
    /// Rejected (不予受理) or withdrawn: no deadline to meet.
    Closed,
    /// Cannot be assessed; the assessment's `error` says why.
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Pending => "pending",
            Level::Normal => "normal",
            Level::Warning => "warning",
            Level::Overdue => "overdue",
            Level::Completed => "completed",
            Level::Closed => "closed",
            Level::Error => "error",
        }
    }
}

/// The supervision state of a case at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// First entry minus occurrence.
    pub entry_delay: Duration,
    /// More than 48 hours.
    pub late_entry: bool,
    pub accepted_at: Option<Instant>,
    /// Working days: the promised limit, else the legal one.
    pub limit_days: u32,
    /// 23:59:59+08:00 of the last counted day; `None` without a running or finished clock.
    pub deadline: Option<Instant>,
    /// The instant 80 % of the working time is used (running clocks with a limit above 0).
    pub warning_at: Option<Instant>,
    /// An open hold stopped the clock at this instant (no deadline until it ends).
    pub on_hold_since: Option<Instant>,
    pub level: Level,
    /// Why the case could not be assessed (`level` is [`Level::Error`]).
    pub error: Option<String>,
    pub completed_at: Option<Instant>,
    pub completed_on_time: Option<bool>,
    pub completed_early: Option<bool>,
}

/// The state of a case whose current version says `facts`, first entered at `entered_at`.
///
/// **Early completion** is completion on a calendar day (China Standard Time) before the
/// deadline's day: the case had at least one day of its limit to spare. This is what 提前办结
/// means in the supervision reports (finished before the promised limit), measured in the
/// limit's own unit, days. Not "within 50 % of the time": the promised limit is already set at
/// most at half the legal one (Zhenping's implementation-list rule), so a second halving would
/// measure the promise twice. A limit of 0 (即办件) cannot be completed early.
pub fn assess(cal: &Calendar, facts: &Facts, entered_at: Instant, now: Instant) -> Assessment {
    let ts = &facts.timestamps;
    let entry_delay = entered_at - ts.occurred;
    let limit = &facts.time_limits;
    let mut a = Assessment {
        entry_delay,
        late_entry: entry_delay > late_entry_after(),
        accepted_at: ts.accepted,
        limit_days: limit.promised_days.unwrap_or(limit.legal_days),
        deadline: None,
        warning_at: None,
        on_hold_since: None,
        level: Level::Pending,
        error: None,
        completed_at: None,
        completed_on_time: None,
        completed_early: None,
    };
    let assessed = match (facts.status, ts.accepted) {
        (Status::Rejected | Status::Withdrawn, _) => {
            a.level = Level::Closed;
            Ok(())
        }
        (Status::Completed, accepted) => completed(cal, facts, accepted, &mut a),
        (_, None) => Ok(()),
        (_, Some(accepted)) => running(cal, facts, accepted, now, &mut a),
    };
    if let Err(e) = assessed {
        a.level = Level::Error;
        a.error = Some(e);
        a.deadline = None;
        a.warning_at = None;
        a.on_hold_since = None;
        a.completed_on_time = None;
        a.completed_early = None;
    }
    a
}

/// A completed case: on time, early or late. Holds end at completion at the latest.
fn completed(
    cal: &Calendar,
    facts: &Facts,
    accepted: Option<Instant>,
    a: &mut Assessment,
) -> Result<(), String> {
    a.level = Level::Completed;
    let done = facts
        .timestamps
        .completed
        .ok_or("the case is completed but has no completion time (timestamps.completed)")?;
    a.completed_at = Some(done);
    let Some(accepted) = accepted else {
        return Ok(()); // the schema requires it; without it there is nothing to measure
    };
    let holds: Vec<calendar::Hold> = facts
        .holds
        .iter()
        .filter(|h| h.start < done)
        .map(|h| (h.start, Some(h.end.map_or(done, |end| end.min(done)))))
        .collect();
    let deadline = cal
        .deadline(accepted, a.limit_days, &holds)
        .map_err(reason)?;
    // Every hold is closed here, so the clock always has a deadline.
    if let Deadline::Due(due) = deadline {
        a.deadline = Some(due);
        a.completed_on_time = Some(done <= due);
        a.completed_early = Some(cst_date(done) < cst_date(due));
    }
    Ok(())
}

/// An accepted case still being handled: its level now, deadline and warning instant.
fn running(
    cal: &Calendar,
    facts: &Facts,
    accepted: Instant,
    now: Instant,
    a: &mut Assessment,
) -> Result<(), String> {
    let holds: Vec<calendar::Hold> = facts.holds.iter().map(|h| (h.start, h.end)).collect();
    let limit = a.limit_days;
    a.level = match cal.progress(accepted, limit, &holds, now).map_err(reason)? {
        calendar::Level::Normal => Level::Normal,
        calendar::Level::Warning => Level::Warning,
        calendar::Level::Overdue => Level::Overdue,
    };
    match cal.deadline(accepted, limit, &holds).map_err(reason)? {
        Deadline::Due(due) => {
            a.deadline = Some(due);
            a.warning_at = warning_instant(cal, accepted, limit, &holds)?;
        }
        Deadline::OnHold { since, .. } => a.on_hold_since = Some(since),
    }
    Ok(())
}

/// The instant at which 80 % of the working time is used (calendar.md, "Warning and
/// overdue"): time used is the passed part of each counted day, so with a threshold of
/// `m` whole days and `r` seconds it is reached `r` seconds into the `m + 1`th counted day, or
/// at the end of the `m`th when `r` is 0. The `k`th counted day is the day of the deadline of a
/// `k`-day limit with the same holds. A test checks the result against [`Calendar::progress`].
/// `None` for a limit of 0 (no working time, no warning).
fn warning_instant(
    cal: &Calendar,
    accepted: Instant,
    limit: u32,
    holds: &[calendar::Hold],
) -> Result<Option<Instant>, String> {
    const DAY: i64 = 86_400;
    if limit == 0 {
        return Ok(None);
    }
    // 80 % of `limit` days, in seconds: exact, as a day's seconds are a multiple of 5.
    let threshold = i64::from(limit) * DAY * 4 / 5;
    let (whole, rest) = (threshold / DAY, threshold % DAY);
    let (day, offset) = if rest == 0 {
        (whole, DAY)
    } else {
        (whole + 1, rest)
    };
    let counted_day = match cal.deadline(accepted, day as u32, holds).map_err(reason)? {
        Deadline::Due(due) => cst_date(due),
        // Only asked for running clocks, which have no open hold.
        Deadline::OnHold { .. } => return Ok(None),
    };
    let start = counted_day
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_local_timezone(calendar::china_standard_time())
        .single()
        .expect("a fixed offset maps every local time once");
    Ok(Some(start + Duration::seconds(offset)))
}

fn cst_date(at: Instant) -> NaiveDate {
    at.with_timezone(&calendar::china_standard_time())
        .date_naive()
}

fn reason(e: CalendarError) -> String {
    format!("cannot compute the deadline: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn at(s: &str) -> Instant {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    /// A case's facts: `timestamps`, `status`, promised limit and holds as given.
    fn facts(timestamps: Value, status: &str, promised: u32, holds: Value) -> Facts {
        serde_json::from_value(json!({
            "timestamps": timestamps,
            "time_limits": {"legal_days": 20, "promised_days": promised},
            "status": status,
            "holds": holds,
        }))
        .unwrap()
    }

    /// Accepted on Friday 26 September 2025 with 10 working days: the count runs through the
    /// adjusted working Sunday 28 September, skips National Day (1–8 October), counts the
    /// adjusted working Saturday 11 October and ends on Thursday 16 October.
    fn national_day(status: &str, completed: Option<&str>, holds: Value) -> Facts {
        let mut ts = json!({
            "occurred": "2025-09-26T09:00:00+08:00",
            "received": "2025-09-26T09:05:00+08:00",
            "accepted": "2025-09-26T10:00:00+08:00",
        });
        if let Some(c) = completed {
            ts["completed"] = json!(c);
        }
        facts(ts, status, 10, holds)
    }

    fn cal() -> &'static Calendar {
        calendar().unwrap()
    }

    fn assess_at(f: &Facts, now: &str) -> Assessment {
        assess(cal(), f, at("2025-09-26T09:30:00+08:00"), at(now))
    }

    /// A case accepted on Monday 3 November 2025 at 09:30 with a limit of `limit`, at `now`.
    fn monday(limit: u32, now: &str) -> Assessment {
        let f = facts(
            json!({"occurred": "2025-11-03T09:00:00+08:00", "received": "2025-11-03T09:00:00+08:00",
                   "accepted": "2025-11-03T09:30:00+08:00"}),
            "accepted",
            limit,
            json!([]),
        );
        assess(cal(), &f, at("2025-11-03T10:00:00+08:00"), at(now))
    }

    #[test]
    fn late_entry_is_more_than_48_hours_after_occurrence() {
        let f = national_day("in_progress", None, json!([]));
        let occurred = at("2025-09-26T09:00:00+08:00");
        let now = at("2025-09-29T09:00:00+08:00");
        let exactly = assess(cal(), &f, occurred + Duration::hours(48), now);
        assert_eq!(exactly.entry_delay, Duration::hours(48));
        assert!(!exactly.late_entry, "exactly 48 hours is in time");
        let later = assess(
            cal(),
            &f,
            occurred + Duration::hours(48) + Duration::seconds(1),
            now,
        );
        assert!(later.late_entry);
        // The alarm is its own dimension: the processing level is unaffected.
        assert_eq!((exactly.level, later.level), (Level::Normal, Level::Normal));
    }

    #[test]
    fn deadline_skips_a_holiday_and_counts_adjusted_working_weekends() {
        let a = assess_at(
            &national_day("in_progress", None, json!([])),
            "2025-09-29T12:00:00+08:00",
        );
        assert_eq!(a.limit_days, 10);
        assert_eq!(a.deadline, Some(at("2025-10-16T23:59:59+08:00")));
        assert_eq!(a.level, Level::Normal);
        assert_eq!((a.on_hold_since, &a.error), (None, &None));
    }

    #[test]
    fn a_hold_period_moves_the_deadline() {
        // On hold from Monday 13 October 10:00 to Tuesday 14 October 09:00: both working days
        // are touched, so the deadline moves two working days, to Monday 20 October.
        let holds = json!([{"reason": "专家评审", "start": "2025-10-13T10:00:00+08:00", "end": "2025-10-14T09:00:00+08:00"}]);
        let a = assess_at(
            &national_day("in_progress", None, holds),
            "2025-10-15T12:00:00+08:00",
        );
        assert_eq!(a.deadline, Some(at("2025-10-20T23:59:59+08:00")));
        // An open hold stops the clock: no deadline, the level frozen where it was.
        let open = json!([{"reason": "听证", "start": "2025-10-13T10:00:00+08:00"}]);
        let a = assess_at(
            &national_day("on_hold", None, open),
            "2025-12-01T12:00:00+08:00",
        );
        assert_eq!(a.deadline, None);
        assert_eq!(a.warning_at, None);
        assert_eq!(a.on_hold_since, Some(at("2025-10-13T10:00:00+08:00")));
        assert_eq!(
            a.level,
            Level::Normal,
            "6 of 10 days were used before the hold"
        );
    }

    #[test]
    fn warning_from_80_percent_of_the_working_time() {
        // Eight counted days are over at the end of Tuesday 14 October.
        let f = national_day("in_progress", None, json!([]));
        let before = assess_at(&f, "2025-10-14T23:59:59+08:00");
        assert_eq!(before.level, Level::Normal);
        let from = assess_at(&f, "2025-10-15T00:00:00+08:00");
        assert_eq!(from.level, Level::Warning);
        for a in [&before, &from] {
            assert_eq!(a.warning_at, Some(at("2025-10-15T00:00:00+08:00")));
        }
        // A one-day limit warns at 19:12 of its day (80 % of 24 hours).
        let a = monday(1, "2025-11-04T19:11:59+08:00");
        assert_eq!(a.level, Level::Normal);
        assert_eq!(a.warning_at, Some(at("2025-11-04T19:12:00+08:00")));
    }

    /// The warning instant is where [`Calendar::progress`] turns to warning, for limits of 1 to
    /// 25 days accepted on every day of autumn 2025 (National Day, adjusted weekends), with and
    /// without a hold.
    #[test]
    fn the_warning_instant_agrees_with_the_calendar() {
        let mut checked = 0;
        for day in 0..60 {
            let accepted = at("2025-09-01T15:30:00+08:00") + Duration::days(day);
            for limit in 1..=25 {
                for hold in [false, true] {
                    let holds: Vec<calendar::Hold> = if hold {
                        let start = accepted + Duration::days(2);
                        vec![(start, Some(start + Duration::hours(30)))]
                    } else {
                        Vec::new()
                    };
                    let warning = warning_instant(cal(), accepted, limit, &holds)
                        .unwrap()
                        .unwrap();
                    let level = |t| cal().progress(accepted, limit, &holds, t).unwrap();
                    assert_eq!(
                        level(warning),
                        calendar::Level::Warning,
                        "{accepted} {limit} {hold}"
                    );
                    assert_eq!(
                        level(warning - Duration::seconds(1)),
                        calendar::Level::Normal,
                        "{accepted} {limit} {hold}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 60 * 25 * 2);
    }

    #[test]
    fn overdue_once_the_deadline_has_passed() {
        let f = national_day("in_progress", None, json!([]));
        assert_eq!(
            assess_at(&f, "2025-10-16T23:59:59+08:00").level,
            Level::Warning
        );
        let a = assess_at(&f, "2025-10-17T00:00:00+08:00");
        assert_eq!(a.level, Level::Overdue);
        assert_eq!(a.deadline, Some(at("2025-10-16T23:59:59+08:00")));
        // A limit of 0 (即办件) is due at the end of the acceptance day, with no warning.
        let a = monday(0, "2025-11-04T00:00:00+08:00");
        assert_eq!((a.level, a.warning_at), (Level::Overdue, None));
        assert_eq!(a.deadline, Some(at("2025-11-03T23:59:59+08:00")));
    }

    #[test]
    fn completed_on_time_early_or_late() {
        let cases = [
            // (completed, on time, early)
            ("2025-10-10T16:00:00+08:00", true, true),
            ("2025-10-15T23:59:59+08:00", true, true),
            ("2025-10-16T18:00:00+08:00", true, false),
            ("2025-10-16T23:59:59+08:00", true, false),
            ("2025-10-17T09:00:00+08:00", false, false),
        ];
        for (done, on_time, early) in cases {
            let f = national_day("completed", Some(done), json!([]));
            // Long after: a completed case no longer moves.
            let a = assess_at(&f, "2026-03-01T00:00:00+08:00");
            assert_eq!(a.level, Level::Completed, "{done}");
            assert_eq!(a.completed_at, Some(at(done)));
            assert_eq!(
                (a.completed_on_time, a.completed_early),
                (Some(on_time), Some(early)),
                "{done}"
            );
            assert_eq!(a.warning_at, None);
        }
        // A hold still open at completion ends there: 16 and 17 October are held, so the
        // deadline is Monday 20 October and a completion on the 17th is on time (and early).
        let open = json!([{"reason": "检测", "start": "2025-10-16T08:00:00+08:00"}]);
        let f = national_day("completed", Some("2025-10-17T09:00:00+08:00"), open);
        let a = assess_at(&f, "2026-03-01T00:00:00+08:00");
        assert_eq!(a.deadline, Some(at("2025-10-20T23:59:59+08:00")));
        assert_eq!(
            (a.completed_on_time, a.completed_early),
            (Some(true), Some(true))
        );
    }

    #[test]
    fn a_later_version_updates_the_state() {
        // Version 1: overdue. Version 2 of the same case: completed late; version 3: the source
        // corrected `occurred`, which also corrects the entry delay (first entry is unchanged).
        let entered = at("2025-09-26T09:30:00+08:00");
        let now = at("2025-10-20T12:00:00+08:00");
        let v1 = national_day("in_progress", None, json!([]));
        assert_eq!(assess(cal(), &v1, entered, now).level, Level::Overdue);
        let v2 = national_day("completed", Some("2025-10-17T09:00:00+08:00"), json!([]));
        let a = assess(cal(), &v2, entered, now);
        assert_eq!(a.level, Level::Completed);
        assert_eq!(a.completed_on_time, Some(false));
        let mut v3 = v2.clone();
        v3.timestamps.occurred = at("2025-09-22T09:00:00+08:00");
        let a = assess(cal(), &v3, entered, now);
        assert!(a.late_entry);
        assert_eq!(
            a.entry_delay,
            Duration::hours(4 * 24) + Duration::minutes(30)
        );
    }

    #[test]
    fn a_date_outside_the_calendar_is_an_error_not_a_guess() {
        // 15 working days from 20 December 2026 run into 2027, which has no data.
        let f = facts(
            json!({"occurred": "2026-12-20T09:00:00+08:00", "received": "2026-12-20T09:00:00+08:00",
                   "accepted": "2026-12-20T10:00:00+08:00"}),
            "in_progress",
            15,
            json!([]),
        );
        let entered = |f: &Facts, now| assess(cal(), f, at("2026-12-20T11:00:00+08:00"), at(now));
        let a = entered(&f, "2026-12-21T09:00:00+08:00");
        assert_eq!(a.level, Level::Error);
        let error = a.error.unwrap();
        assert!(
            error.contains("2027-01-01") && error.contains("outside"),
            "{error}"
        );
        assert_eq!((a.deadline, a.warning_at), (None, None));
        // The entry dimension is still assessed.
        assert!(!a.late_entry);
        // A completed case that cannot be measured keeps its completion time, unassessed.
        let mut done = f.clone();
        done.status = Status::Completed;
        done.timestamps.completed = Some(at("2026-12-28T10:00:00+08:00"));
        let a = entered(&done, "2026-12-29T09:00:00+08:00");
        assert_eq!(a.level, Level::Error);
        assert_eq!(a.completed_at, Some(at("2026-12-28T10:00:00+08:00")));
        assert_eq!(a.completed_on_time, None);
    }

    #[test]
    fn no_clock_before_acceptance_nor_after_rejection() {
        let received = json!({"occurred": "2025-11-03T09:00:00+08:00", "received": "2025-11-03T09:05:00+08:00"});
        for (status, level) in [("received", Level::Pending), ("rejected", Level::Closed)] {
            let f = facts(received.clone(), status, 5, json!([]));
            let a = assess(
                cal(),
                &f,
                at("2025-11-03T10:00:00+08:00"),
                at("2026-01-01T00:00:00+08:00"),
            );
            assert_eq!((a.level, a.deadline), (level, None), "{status}");
        }
    }

    #[test]
    fn the_legal_limit_applies_when_nothing_was_promised() {
        let f: Facts = serde_json::from_value(json!({
            "timestamps": {"occurred": "2025-11-03T09:00:00+08:00", "received": "2025-11-03T09:00:00+08:00",
                           "accepted": "2025-11-03T09:30:00+08:00"},
            "time_limits": {"legal_days": 2},
            "status": "accepted",
            "other_fields": "are ignored",
        }))
        .unwrap();
        let a = assess(
            cal(),
            &f,
            at("2025-11-03T10:00:00+08:00"),
            at("2025-11-03T12:00:00+08:00"),
        );
        assert_eq!(a.limit_days, 2);
        assert_eq!(a.deadline, Some(at("2025-11-05T23:59:59+08:00")));
    }
}
