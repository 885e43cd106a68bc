//! The working-day calendar: the bundled data against its schema and its sources, and the
//! deadline rules of docs/calendar.md on real holidays (National Day and Mid-Autumn 2025,
//! Spring Festival 2026, New Year 2026).

use std::path::PathBuf;

use chrono::{DateTime, FixedOffset, NaiveDate};
use domain::calendar::{self, Calendar, CalendarError, Deadline, Hold, Level};
use domain::schema::JsonSchema;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/calendar")
}

fn cal() -> Calendar {
    Calendar::bundled().expect("the bundled calendar loads")
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn t(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn due(s: &str) -> Deadline {
    Deadline::Due(t(s))
}

/// The deadline with no holds, as an RFC 3339 string.
fn deadline(accepted_at: &str, limit: u32) -> String {
    cal()
        .deadline(t(accepted_at), limit, &[])
        .unwrap()
        .due()
        .unwrap()
        .to_rfc3339()
}

fn level(accepted_at: &str, limit: u32, holds: &[Hold], now: &str) -> Level {
    cal()
        .progress(t(accepted_at), limit, holds, t(now))
        .unwrap()
}

// ---- the data --------------------------------------------------------------------------------

#[test]
fn bundled_list_matches_the_directory() {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    let bundled: Vec<&str> = calendar::BUNDLED.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, bundled, "add new files to calendar::BUNDLED");
    let loaded = Calendar::load(&dir()).unwrap();
    let versions = |c: &Calendar| {
        c.years()
            .map(|y| (y.year, y.version.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(versions(&loaded), versions(&cal()));
    assert_eq!(
        versions(&loaded),
        [
            (2024, "2024.1".to_owned()),
            (2025, "2025.1".to_owned()),
            (2026, "2026.1".to_owned())
        ]
    );
}

#[test]
fn every_file_validates_against_the_schema() {
    let schema = JsonSchema::compile(calendar::SCHEMA_JSON).unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        let value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let errors = schema.errors(&value);
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        seen += 1;
    }
    assert_eq!(seen, 3);
}

#[test]
fn schema_catches_a_broken_file() {
    let schema = JsonSchema::compile(calendar::SCHEMA_JSON).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(calendar::BUNDLED[1].1).unwrap();
    v["holidays"][0]["from"] = "2025-1-1".into();
    v["source"]
        .as_object_mut()
        .unwrap()
        .remove("document_number");
    let paths: Vec<String> = schema.errors(&v).into_iter().map(|e| e.path).collect();
    assert!(
        paths.contains(&"/holidays/0/from".to_owned())
            && paths.contains(&"/source/document_number".to_owned()),
        "{paths:?}"
    );
}

/// Every date of an entry appears in the notice's own sentence as the notice writes it
/// (`1月28日`, `至2月4日` or `至6日`, `共8天`), so an entry cannot drift from its source.
#[test]
fn every_entry_agrees_with_its_notice_text() {
    let md = |d: NaiveDate| {
        format!(
            "{}月{}日",
            chrono::Datelike::month(&d),
            chrono::Datelike::day(&d)
        )
    };
    let mut periods = 0;
    for year in cal().years() {
        for p in &year.holidays {
            let text = &p.notice_text;
            assert!(text.contains(&md(p.from)), "{}: {text}", p.from);
            let same_month = chrono::Datelike::month(&p.from) == chrono::Datelike::month(&p.to);
            let to_short = format!("至{}日", chrono::Datelike::day(&p.to));
            assert!(
                p.from == p.to
                    || text.contains(&md(p.to))
                    || (same_month && text.contains(&to_short)),
                "{}: {text}",
                p.to
            );
            assert!(
                text.contains(&format!("共{}天", p.days)) || p.days == 1,
                "{}: {text}",
                p.days
            );
            for w in &p.adjusted_working_days {
                assert!(text.contains(&md(*w)), "{w}: {text}");
            }
            // Every day the notice says is worked (上班) is listed.
            let worked = text
                .split('。')
                .filter(|s| s.ends_with("上班"))
                .map(|s| s.matches("日（").count())
                .sum::<usize>();
            assert_eq!(worked, p.adjusted_working_days.len(), "{text}");
            periods += 1;
        }
    }
    assert_eq!(periods, 7 + 6 + 7);
}

#[test]
fn every_year_names_its_notice() {
    let expected = [
        (
            2024,
            "国办发明电〔2023〕7号",
            "2023-10-25",
            "content_6911527",
        ),
        (
            2025,
            "国办发明电〔2024〕12号",
            "2024-11-12",
            "content_6986382",
        ),
        (
            2026,
            "国办发明电〔2025〕7号",
            "2025-11-04",
            "content_7047090",
        ),
    ];
    let years: Vec<_> = cal().years().cloned().collect();
    assert_eq!(years.len(), expected.len());
    for (y, (year, number, issued, url)) in years.iter().zip(expected) {
        assert_eq!(y.year, year);
        assert_eq!(y.calendar, "cn");
        assert_eq!(y.source.issuer, "国务院办公厅");
        assert_eq!(
            y.source.title,
            format!("国务院办公厅关于{year}年部分节假日安排的通知")
        );
        assert_eq!(y.source.document_number, number);
        assert_eq!(y.source.issued_on, d(issued));
        assert_eq!(y.effective_from, d(issued));
        assert!(y.source.url.starts_with("https://www.gov.cn/"));
        assert!(y.source.url.contains(url), "{}", y.source.url);
    }
}

#[test]
fn working_days_per_year() {
    let c = cal();
    for (year, expected) in [(2024, 251), (2025, 248), (2026, 248)] {
        let first = NaiveDate::from_ymd_opt(year, 1, 1).unwrap();
        let count = first
            .iter_days()
            .take_while(|d| chrono::Datelike::year(d) == year)
            .filter(|&d| c.is_working_day(d).unwrap())
            .count();
        assert_eq!(count, expected, "{year}");
    }
}

#[test]
fn holidays_and_adjusted_working_days() {
    let c = cal();
    let working = |s: &str| c.is_working_day(d(s)).unwrap();
    // National Day and Mid-Autumn 2025: 1–8 October off, Sunday 28 September and Saturday
    // 11 October worked.
    assert!(working("2025-09-26"));
    assert!(!working("2025-09-27"), "an ordinary Saturday");
    assert!(working("2025-09-28"), "adjusted working Sunday");
    for day in 1..=8 {
        assert!(!working(&format!("2025-10-{day:02}")), "2025-10-{day:02}");
    }
    assert!(working("2025-10-09"));
    assert!(working("2025-10-11"), "adjusted working Saturday");
    assert!(!working("2025-10-12"));
    // Spring Festival 2026: 15–23 February off, Saturdays 14 and 28 February worked.
    assert!(working("2026-02-14"));
    assert!(!working("2026-02-16"));
    assert!(!working("2026-02-23"), "a Monday inside the holiday");
    assert!(working("2026-02-24"));
    assert!(working("2026-02-28"));
    // 2024's Spring Festival's Eve was only "encouraged" off: it is a working day.
    assert!(working("2024-02-09"));
    assert!(!working("2024-02-10"));
    // New Year 2026 takes a Friday and Saturday, and Sunday 4 January is worked.
    assert!(!working("2026-01-02"));
    assert!(working("2026-01-04"));
}

#[test]
fn dates_outside_the_data_are_errors() {
    let c = cal();
    for s in ["2023-12-31", "2027-01-01", "1999-05-03"] {
        match c.is_working_day(d(s)) {
            Err(CalendarError::OutOfRange { date, covered }) => {
                assert_eq!(date, d(s));
                assert_eq!(covered, "2024–2026");
            }
            other => panic!("{s}: {other:?}"),
        }
    }
    assert!(c.covers(d("2024-01-01")) && c.covers(d("2026-12-31")));
    assert!(!c.covers(d("2027-01-01")));
}

// ---- counting --------------------------------------------------------------------------------

#[test]
fn add_working_days_starts_the_day_after() {
    let c = cal();
    let add = |s: &str, n| c.add_working_days(d(s), n).unwrap();
    assert_eq!(add("2025-09-30", 0), d("2025-09-30"));
    assert_eq!(add("2025-09-30", 1), d("2025-10-09"));
    assert_eq!(add("2025-09-30", 3), d("2025-10-11"));
    assert_eq!(add("2025-09-26", 1), d("2025-09-28"));
    assert_eq!(
        add("2025-12-30", 3),
        d("2026-01-05"),
        "across the year boundary"
    );
    // The start day is not looked at: the day before the data may be a start.
    assert_eq!(add("2023-12-31", 1), d("2024-01-02"));
}

#[test]
fn deadline_across_national_day_and_mid_autumn_2025() {
    assert_eq!(
        deadline("2025-09-30T10:00:00+08:00", 1),
        "2025-10-09T23:59:59+08:00"
    );
    assert_eq!(
        deadline("2025-09-30T10:00:00+08:00", 3),
        "2025-10-11T23:59:59+08:00"
    );
    assert_eq!(
        deadline("2025-09-30T10:00:00+08:00", 5),
        "2025-10-14T23:59:59+08:00"
    );
    // Accepted on Friday: the next working day is the adjusted Sunday.
    assert_eq!(
        deadline("2025-09-26T16:00:00+08:00", 1),
        "2025-09-28T23:59:59+08:00"
    );
    assert_eq!(
        deadline("2025-09-26T16:00:00+08:00", 4),
        "2025-10-09T23:59:59+08:00"
    );
}

#[test]
fn deadline_across_spring_festival_2026() {
    let friday = "2026-02-13T09:00:00+08:00";
    assert_eq!(deadline(friday, 1), "2026-02-14T23:59:59+08:00");
    assert_eq!(deadline(friday, 2), "2026-02-24T23:59:59+08:00");
    assert_eq!(deadline(friday, 5), "2026-02-27T23:59:59+08:00");
    assert_eq!(deadline(friday, 6), "2026-02-28T23:59:59+08:00");
    assert_eq!(deadline(friday, 7), "2026-03-02T23:59:59+08:00");
}

#[test]
fn acceptance_on_a_holiday_or_adjusted_working_day() {
    // Counting starts the day after acceptance even when acceptance was on a holiday.
    assert_eq!(
        deadline("2025-10-03T11:00:00+08:00", 1),
        "2025-10-09T23:59:59+08:00"
    );
    assert_eq!(
        deadline("2025-10-08T11:00:00+08:00", 2),
        "2025-10-10T23:59:59+08:00"
    );
    assert_eq!(
        deadline("2025-10-11T11:00:00+08:00", 1),
        "2025-10-13T23:59:59+08:00"
    );
    // A limit of 0 (immediate case) is due at the end of the acceptance day.
    assert_eq!(
        deadline("2025-10-03T11:00:00+08:00", 0),
        "2025-10-03T23:59:59+08:00"
    );
}

#[test]
fn acceptance_date_is_taken_in_china_standard_time() {
    // 15:30Z is 23:30 on Thursday 25 September in Beijing; 16:10Z is 00:10 on Friday 26th.
    assert_eq!(
        deadline("2025-09-25T15:30:00Z", 1),
        "2025-09-26T23:59:59+08:00"
    );
    assert_eq!(
        deadline("2025-09-25T16:10:00Z", 1),
        "2025-09-28T23:59:59+08:00"
    );
    // The same instants given at +08:00 and at another offset agree.
    assert_eq!(
        deadline("2025-09-25T23:30:00+08:00", 1),
        "2025-09-26T23:59:59+08:00"
    );
    assert_eq!(
        deadline("2025-09-25T17:10:00+01:00", 1),
        "2025-09-28T23:59:59+08:00"
    );
}

#[test]
fn deadline_past_the_data_is_an_error() {
    let c = cal();
    let accepted = t("2026-12-28T10:00:00+08:00");
    assert_eq!(
        c.deadline(accepted, 3, &[]).unwrap(),
        due("2026-12-31T23:59:59+08:00")
    );
    match c.deadline(accepted, 4, &[]) {
        Err(CalendarError::OutOfRange { date, .. }) => assert_eq!(date, d("2027-01-01")),
        other => panic!("{other:?}"),
    }
    // A huge limit runs into the end of the data, not out of memory.
    let huge = c.deadline(accepted, u32::MAX, &[]);
    assert!(
        matches!(huge, Err(CalendarError::OutOfRange { .. })),
        "{huge:?}"
    );
    let err = c.add_working_days(d("2023-12-28"), 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "2023-12-29 is outside the calendar's data (years covered: 2024–2026)"
    );
}

// ---- holds -----------------------------------------------------------------------------------

const MONDAY: &str = "2025-11-03T10:00:00+08:00";

fn closed(from: &str, to: &str) -> Hold {
    (t(from), Some(t(to)))
}

fn open(from: &str) -> Hold {
    (t(from), None)
}

fn with_holds(holds: &[Hold]) -> Deadline {
    cal().deadline(t(MONDAY), 5, holds).unwrap()
}

#[test]
fn holds_extend_the_deadline_by_the_working_days_they_touch() {
    assert_eq!(with_holds(&[]), due("2025-11-10T23:59:59+08:00"));
    // Wednesday 10:00 to Thursday 09:00: both days are not counted.
    let two_days = closed("2025-11-05T10:00:00+08:00", "2025-11-06T09:00:00+08:00");
    assert_eq!(with_holds(&[two_days]), due("2025-11-12T23:59:59+08:00"));
    // Two hours on Wednesday take the whole day out.
    let two_hours = closed("2025-11-05T14:00:00+08:00", "2025-11-05T16:00:00+08:00");
    assert_eq!(with_holds(&[two_hours]), due("2025-11-11T23:59:59+08:00"));
    // Overlapping holds count each day once.
    assert_eq!(
        with_holds(&[two_days, two_hours]),
        due("2025-11-12T23:59:59+08:00")
    );
    // Over a weekend only, ending at Monday 00:00 (the end is exclusive): no change.
    let weekend = closed("2025-11-08T00:00:00+08:00", "2025-11-10T00:00:00+08:00");
    assert_eq!(with_holds(&[weekend]), due("2025-11-10T23:59:59+08:00"));
    // On the acceptance day, which is never counted: no change.
    let same_day = closed("2025-11-03T15:00:00+08:00", "2025-11-03T17:00:00+08:00");
    assert_eq!(with_holds(&[same_day]), due("2025-11-10T23:59:59+08:00"));
    // Holds given in UTC are placed on China Standard Time days: 16:30Z is Wednesday 00:30.
    let utc = closed("2025-11-04T16:30:00Z", "2025-11-04T18:00:00Z");
    assert_eq!(with_holds(&[utc]), due("2025-11-11T23:59:59+08:00"));
    let late_tuesday = closed("2025-11-04T15:00:00Z", "2025-11-04T15:59:00Z");
    assert_eq!(
        with_holds(&[late_tuesday]),
        due("2025-11-11T23:59:59+08:00")
    );
}

#[test]
fn an_open_hold_stops_the_clock() {
    assert_eq!(
        with_holds(&[open("2025-11-05T10:00:00+08:00")]),
        Deadline::OnHold {
            since: t("2025-11-05T10:00:00+08:00"),
            counted: 1
        }
    );
    // Starting on the due day, it takes that day out too.
    assert_eq!(
        with_holds(&[open("2025-11-10T09:00:00+08:00")]),
        Deadline::OnHold {
            since: t("2025-11-10T09:00:00+08:00"),
            counted: 4
        }
    );
    // After the deadline it changes nothing: an overdue case stays overdue.
    assert_eq!(
        with_holds(&[open("2025-11-11T09:00:00+08:00")]),
        due("2025-11-10T23:59:59+08:00")
    );
    // The earliest open hold decides; a closed hold after it does not matter.
    let holds = [
        open("2025-11-07T09:00:00+08:00"),
        open("2025-11-05T10:00:00+08:00"),
        closed("2025-11-06T09:00:00+08:00", "2025-11-06T10:00:00+08:00"),
    ];
    assert_eq!(
        with_holds(&holds),
        Deadline::OnHold {
            since: t("2025-11-05T10:00:00+08:00"),
            counted: 1
        }
    );
    assert_eq!(with_holds(&holds).due(), None);
    // An open hold running past the data still has no deadline: nothing is guessed.
    let c = cal();
    let late = c
        .deadline(
            t("2026-12-28T10:00:00+08:00"),
            10,
            &[open("2026-12-30T10:00:00+08:00")],
        )
        .unwrap();
    assert!(
        matches!(late, Deadline::OnHold { counted: 1, .. }),
        "{late:?}"
    );
}

#[test]
fn invalid_holds_are_refused() {
    let c = cal();
    let before = c.deadline(t(MONDAY), 5, &[open("2025-11-03T09:00:00+08:00")]);
    assert!(
        matches!(before, Err(CalendarError::HoldBeforeAcceptance { .. })),
        "{before:?}"
    );
    let reversed = closed("2025-11-05T10:00:00+08:00", "2025-11-05T09:00:00+08:00");
    let reversed = c.deadline(t(MONDAY), 5, &[reversed]);
    assert!(
        matches!(reversed, Err(CalendarError::HoldEndsBeforeStart { .. })),
        "{reversed:?}"
    );
    let progress = c.progress(
        t(MONDAY),
        5,
        &[open("2025-01-01T00:00:00+08:00")],
        t(MONDAY),
    );
    assert!(progress.is_err());
}

// ---- progress --------------------------------------------------------------------------------

#[test]
fn warning_at_80_percent_of_working_time_then_overdue() {
    let at = |now: &str| level(MONDAY, 5, &[], now);
    assert_eq!(at("2025-11-03T12:00:00+08:00"), Level::Normal);
    // Four whole working days (Tuesday to Friday) are 80 % of five.
    assert_eq!(at("2025-11-07T23:59:59+08:00"), Level::Normal);
    assert_eq!(at("2025-11-08T00:00:00+08:00"), Level::Warning);
    assert_eq!(at("2025-11-09T12:00:00+08:00"), Level::Warning, "weekend");
    assert_eq!(at("2025-11-10T23:59:59+08:00"), Level::Warning);
    assert_eq!(at("2025-11-10T23:59:59.500+08:00"), Level::Overdue);
    assert_eq!(at("2025-11-11T00:00:00+08:00"), Level::Overdue);
    assert_eq!(at("2026-06-01T00:00:00+08:00"), Level::Overdue);
    // Given in UTC: Friday 16:00Z is Saturday 00:00 in Beijing.
    assert_eq!(at("2025-11-07T15:59:59Z"), Level::Normal);
    assert_eq!(at("2025-11-07T16:00:00Z"), Level::Warning);
    // Before acceptance (clock skew) nothing is used.
    assert_eq!(at("2025-11-01T00:00:00+08:00"), Level::Normal);
}

#[test]
fn a_one_day_limit_warns_at_19_12() {
    let at = |now: &str| level(MONDAY, 1, &[], now);
    assert_eq!(at("2025-11-04T19:11:59+08:00"), Level::Normal);
    assert_eq!(at("2025-11-04T19:12:00+08:00"), Level::Warning);
    assert_eq!(at("2025-11-05T00:00:00+08:00"), Level::Overdue);
}

#[test]
fn holidays_do_not_use_time() {
    // Ten working days from Friday 26 September 2025: 28, 29, 30 September, then 9, 10, 11,
    // 13, 14, 15, 16 October. Due 16 October.
    let accepted = "2025-09-26T10:00:00+08:00";
    assert_eq!(deadline(accepted, 10), "2025-10-16T23:59:59+08:00");
    let at = |now: &str| level(accepted, 10, &[], now);
    assert_eq!(
        at("2025-10-05T12:00:00+08:00"),
        Level::Normal,
        "3 of 10 days used"
    );
    // Wall-clock time would be past 80 % here; working time is at 7.5 of 10 days.
    assert_eq!(at("2025-10-14T12:00:00+08:00"), Level::Normal);
    assert_eq!(at("2025-10-15T00:00:00+08:00"), Level::Warning);
    assert_eq!(at("2025-10-17T00:00:00+08:00"), Level::Overdue);
}

#[test]
fn progress_with_holds() {
    // Not counted: Wednesday and Thursday. Counted: 4, 7, 10, 11, 12 November.
    let hold = [closed(
        "2025-11-05T10:00:00+08:00",
        "2025-11-06T09:00:00+08:00",
    )];
    let at = |now: &str| level(MONDAY, 5, &hold, now);
    assert_eq!(
        at("2025-11-08T00:00:00+08:00"),
        Level::Normal,
        "2 of 5 days used"
    );
    assert_eq!(at("2025-11-11T23:59:59+08:00"), Level::Normal);
    assert_eq!(at("2025-11-12T00:00:00+08:00"), Level::Warning);
    assert_eq!(at("2025-11-13T00:00:00+08:00"), Level::Overdue);

    // An open hold freezes the level: never overdue while on hold.
    let early = [open("2025-11-05T10:00:00+08:00")];
    assert_eq!(
        level(MONDAY, 5, &early, "2026-03-01T00:00:00+08:00"),
        Level::Normal
    );
    let late = [open("2025-11-10T09:00:00+08:00")];
    assert_eq!(
        level(MONDAY, 5, &late, "2026-03-01T00:00:00+08:00"),
        Level::Warning
    );
    // ...but a case already overdue when put on hold stays overdue.
    let after = [open("2025-11-12T09:00:00+08:00")];
    assert_eq!(
        level(MONDAY, 5, &after, "2025-11-12T10:00:00+08:00"),
        Level::Overdue
    );
}

#[test]
fn a_zero_limit_is_normal_until_the_end_of_the_acceptance_day() {
    assert_eq!(
        level(MONDAY, 0, &[], "2025-11-03T23:00:00+08:00"),
        Level::Normal
    );
    assert_eq!(
        level(MONDAY, 0, &[], "2025-11-04T00:00:00+08:00"),
        Level::Overdue
    );
}

#[test]
fn progress_past_the_data_is_an_error() {
    let err = cal()
        .progress(
            t("2026-12-28T10:00:00+08:00"),
            5,
            &[],
            t("2026-12-29T10:00:00+08:00"),
        )
        .unwrap_err();
    assert!(matches!(err, CalendarError::OutOfRange { .. }), "{err}");
}

// ---- loading ---------------------------------------------------------------------------------

/// A minimal valid year file; `holidays` is the JSON array of periods.
fn year_file(year: i32, holidays: &str) -> String {
    format!(
        r#"{{
            "schema": "calendar/v1", "calendar": "cn", "year": {year}, "version": "{year}.1",
            "effective_from": "{prev}-11-01",
            "source": {{
                "issuer": "国务院办公厅", "title": "test", "document_number": "test",
                "issued_on": "{prev}-11-01", "url": "https://www.gov.cn/test"
            }},
            "holidays": {holidays}
        }}"#,
        prev = year - 1
    )
}

fn period(from: &str, to: &str, days: u32, worked: &[&str]) -> String {
    let worked: Vec<String> = worked.iter().map(|w| format!("{w:?}")).collect();
    format!(
        r#"{{"name": "test", "name_en": "test", "from": "{from}", "to": "{to}", "days": {days},
            "adjusted_working_days": [{}], "notice_text": "test"}}"#,
        worked.join(", ")
    )
}

fn load(files: &[(&str, &str)]) -> Result<Calendar, CalendarError> {
    Calendar::from_json(files.iter().map(|(n, t)| (*n, t.as_bytes())))
}

fn invalid_reason(files: &[(&str, &str)]) -> String {
    match load(files) {
        Err(CalendarError::Invalid { reason, .. }) => reason,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn a_minimal_file_loads_and_a_new_year_period_may_start_in_december() {
    // 2030: 29 December 2029 (Saturday) is worked, 31 December 2029 to 1 January 2030 is off.
    let file = year_file(
        2030,
        &format!(
            "[{}]",
            period("2029-12-31", "2030-01-01", 2, &["2029-12-29"])
        ),
    );
    let c = load(&[("cn-2030.json", &file)]).unwrap();
    assert!(!c.is_working_day(d("2030-01-01")).unwrap());
    assert!(c.is_working_day(d("2030-01-02")).unwrap());
    // 2029 itself is not covered by the 2030 file.
    assert!(c.is_working_day(d("2029-12-31")).is_err());
}

#[test]
fn loading_refuses_inconsistent_data() {
    let ok = period("2030-01-01", "2030-01-01", 1, &[]);
    let one = |p: &str| year_file(2030, &format!("[{ok}, {p}]"));
    let cases: Vec<(String, &str)> = vec![
        (
            one(&period("2030-06-03", "2030-06-05", 4, &[])),
            "notice says 4 days",
        ),
        (
            one(&period("2030-06-01", "2030-06-02", 2, &[])),
            "no date is Monday to Friday",
        ),
        (
            one(&period("2030-06-03", "2030-06-03", 1, &["2030-06-04"])),
            "not a weekend day",
        ),
        (
            one(&period(
                "2030-06-03",
                "2030-06-03",
                1,
                &["2030-01-05", "2030-01-05"],
            )),
            "",
        ),
        (
            one(&period("2031-01-01", "2031-01-01", 1, &[])),
            "must lie between",
        ),
        (
            one(&period("2029-11-30", "2029-11-30", 1, &[])),
            "must lie between",
        ),
        (
            one(&period("2030-06-01", "2030-06-03", 3, &["2030-06-02"])),
            "both as a holiday",
        ),
        (
            one(&period("2030-01-01", "2030-01-01", 1, &[])),
            "listed twice",
        ),
    ];
    for (file, expected) in cases {
        match load(&[("cn-2030.json", &file)]) {
            Err(CalendarError::Invalid { reason, .. }) => {
                assert!(reason.contains(expected), "{reason}")
            }
            // Duplicate adjusted working days are caught by the schema (uniqueItems).
            Err(CalendarError::Schema { .. }) if expected.is_empty() => {}
            other => panic!("{expected}: {other:?}"),
        }
    }
}

#[test]
fn loading_refuses_conflicts_between_files() {
    // 2030 gives 27–29 December 2030 off; 2031's New Year makes Sunday 29 December worked.
    let a = year_file(
        2030,
        &format!("[{}]", period("2030-12-27", "2030-12-29", 3, &[])),
    );
    let b = year_file(
        2031,
        &format!(
            "[{}]",
            period("2031-01-01", "2031-01-01", 1, &["2030-12-29"])
        ),
    );
    let reason = invalid_reason(&[("cn-2030.json", &a), ("cn-2031.json", &b)]);
    assert!(reason.contains("2030-12-29 is listed both"), "{reason}");
    assert!(reason.contains("cn-2030.json"), "{reason}");
    // The same year twice.
    let dup = load(&[("cn-2030.json", &a), ("cn-2030.json", &a)]);
    assert!(
        matches!(dup, Err(CalendarError::DuplicateYear { year: 2030, .. })),
        "{dup:?}"
    );
    // Files of another calendar.
    let other = year_file(
        2031,
        &format!("[{}]", period("2031-01-01", "2031-01-01", 1, &[])),
    )
    .replace(r#""calendar": "cn""#, r#""calendar": "gs""#);
    let reason = invalid_reason(&[("cn-2030.json", &a), ("gs-2031.json", &other)]);
    assert!(reason.contains("cannot be merged"), "{reason}");
}

#[test]
fn loading_refuses_bad_files() {
    let a = year_file(
        2030,
        &format!("[{}]", period("2030-01-01", "2030-01-01", 1, &[])),
    );
    let reason = invalid_reason(&[("cn-2031.json", &a)]);
    assert!(reason.contains("must be named cn-2030.json"), "{reason}");
    let reason = invalid_reason(&[("cn-2030.json", &a.replace("\"2030.1\"", "\"2029.1\""))]);
    assert!(reason.contains("not of year 2030"), "{reason}");
    assert!(matches!(
        load(&[("cn-2030.json", "{")]),
        Err(CalendarError::Json { .. })
    ));
    let no_source = a.replace("\"source\"", "\"sauce\"");
    assert!(matches!(
        load(&[("cn-2030.json", &no_source)]),
        Err(CalendarError::Schema { .. })
    ));
    assert!(matches!(load(&[]), Err(CalendarError::NoData)));
    let missing = Calendar::load(&dir().join("no-such-dir"));
    assert!(
        matches!(missing, Err(CalendarError::Io { .. })),
        "{missing:?}"
    );
}

#[test]
fn a_corrected_bundled_file_is_checked_too() {
    // 4 October 2025 is a Saturday inside the holiday: listing it as worked is a conflict.
    let bad = calendar::BUNDLED[1].1.replace(
        r#"["2025-09-28", "2025-10-11"]"#,
        r#"["2025-09-28", "2025-10-04"]"#,
    );
    assert_ne!(bad, calendar::BUNDLED[1].1);
    let reason = invalid_reason(&[("cn-2025.json", &bad)]);
    assert!(reason.contains("2025-10-04 is listed both"), "{reason}");
}
