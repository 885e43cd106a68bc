//! The unusual-access report for supervisors (`GET /v1/audit/unusual`): in a time window,
//!
//! - **over-readers**: consumers who looked up far more distinct targets (holders, certificates,
//!   cases) than their peers of the same role — more than [`OVER_READ_FACTOR`] times the
//!   role's median and at least [`OVER_READ_MIN`];
//! - **out of hours**: lookups outside 08:00–18:00 China time on working days, or on a rest day
//!   (weekends and official holidays per the working-day calendar; a date outside the
//!   calendar's data counts as a working day and is flagged `calendar_unknown`);
//! - **purpose mismatches**: lookups whose purpose code names departments
//!   (`schemas/purposes/purposes.json`, `departments`) other than the consumer's.
//!
//! Rows chained into the audit trail are the evidence; the report only reads them.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, Timelike, Utc};
use serde::Serialize;

/// How many times the role's median a consumer's distinct targets must exceed.
pub const OVER_READ_FACTOR: f64 = 3.0;
/// And at least this many distinct targets.
pub const OVER_READ_MIN: i64 = 10;
/// Office hours, China time.
const OPENS: u32 = 8;
const CLOSES: u32 = 18;

#[derive(Debug, Serialize, PartialEq)]
pub struct OverReader {
    pub principal: String,
    pub role: String,
    pub distinct_targets: i64,
    pub role_median: f64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct OutOfHours {
    pub principal: String,
    pub at: DateTime<Utc>,
    pub action: String,
    pub target: String,
    /// `night` (working day, outside office hours), `rest_day`, or `calendar_unknown`.
    pub why: &'static str,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct PurposeMismatch {
    pub principal: String,
    pub department: String,
    pub purpose: String,
    pub lookups: i64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub over_readers: Vec<OverReader>,
    pub out_of_hours: Vec<OutOfHours>,
    pub purpose_mismatches: Vec<PurposeMismatch>,
}

fn median(values: &mut [i64]) -> f64 {
    values.sort_unstable();
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2] as f64,
        n => (values[n / 2 - 1] + values[n / 2]) as f64 / 2.0,
    }
}

/// Consumers far above their role's median of distinct targets.
pub fn over_readers(counts: &[(String, String, i64)]) -> Vec<OverReader> {
    let mut by_role: HashMap<&str, Vec<i64>> = HashMap::new();
    for (_, role, n) in counts {
        by_role.entry(role).or_default().push(*n);
    }
    let medians: HashMap<&str, f64> = by_role
        .into_iter()
        .map(|(role, mut ns)| (role, median(&mut ns)))
        .collect();
    let mut out: Vec<OverReader> = counts
        .iter()
        .filter(|(_, role, n)| {
            *n >= OVER_READ_MIN && (*n as f64) > OVER_READ_FACTOR * medians[role.as_str()]
        })
        .map(|(principal, role, n)| OverReader {
            principal: principal.clone(),
            role: role.clone(),
            distinct_targets: *n,
            role_median: medians[role.as_str()],
        })
        .collect();
    out.sort_by_key(|o| std::cmp::Reverse(o.distinct_targets));
    out
}

/// Why a lookup at `at` is out of hours, if it is.
pub fn out_of_hours(
    at: DateTime<Utc>,
    calendar: &domain::calendar::Calendar,
) -> Option<&'static str> {
    let local = at.with_timezone(&FixedOffset::east_opt(8 * 3600).expect("UTC+8"));
    match calendar.is_working_day(local.date_naive()) {
        Ok(false) => Some("rest_day"),
        Ok(true) if !(OPENS..CLOSES).contains(&local.hour()) => Some("night"),
        Ok(true) => None,
        Err(_) => Some("calendar_unknown"),
    }
}

pub async fn report(
    db: &impl deadpool_postgres::GenericClient,
    purposes: &domain::purposes::PurposeList,
    calendar: &domain::calendar::Calendar,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Report> {
    let counts: Vec<(String, String, i64)> = db
        .query(
            "SELECT principal_id, role, count(DISTINCT target) FROM audit_log
             WHERE at >= $1 AND at < $2 GROUP BY principal_id, role",
            &[&from, &to],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let rows = db
        .query(
            "SELECT principal_id, at, action, target FROM audit_log
             WHERE at >= $1 AND at < $2 ORDER BY at LIMIT 100000",
            &[&from, &to],
        )
        .await?;
    let mut late = Vec::new();
    for r in &rows {
        let at: DateTime<Utc> = r.get(1);
        if let Some(why) = out_of_hours(at, calendar) {
            late.push(OutOfHours {
                principal: r.get(0),
                at,
                action: r.get(2),
                target: r.get(3),
                why,
            });
        }
        if late.len() >= 1000 {
            break;
        }
    }
    // The code is the purpose's first word ("other: …" keeps its text after the code).
    let used = db
        .query(
            "SELECT a.principal_id, p.department, split_part(a.purpose, ':', 1), count(*)
             FROM audit_log a JOIN principals p ON p.id = a.principal_id
             WHERE a.at >= $1 AND a.at < $2 AND p.department IS NOT NULL
             GROUP BY 1, 2, 3 ORDER BY 1, 3",
            &[&from, &to],
        )
        .await?;
    let mismatches = used
        .iter()
        .filter_map(|r| {
            let (principal, department, purpose, n): (String, String, String, i64) =
                (r.get(0), r.get(1), r.get(2), r.get(3));
            let expected = &purposes.get(&purpose)?.departments;
            (!expected.is_empty() && !expected.contains(&department)).then_some(PurposeMismatch {
                principal,
                department,
                purpose,
                lookups: n,
            })
        })
        .collect();
    Ok(Report {
        from,
        to,
        over_readers: over_readers(&counts),
        out_of_hours: late,
        purpose_mismatches: mismatches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_over_reader_stands_out_from_its_role_and_a_busy_role_does_not() {
        let counts: Vec<(String, String, i64)> = [
            ("a1", "approver", 4),
            ("a2", "approver", 5),
            ("a3", "approver", 6),
            ("a4", "approver", 60),
            ("s1", "supervisor", 40),
            ("s2", "supervisor", 45),
        ]
        .iter()
        .map(|(p, r, n)| (p.to_string(), r.to_string(), *n))
        .collect();
        let found = over_readers(&counts);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].principal.as_str(), found[0].role_median),
            ("a4", 5.5)
        );
    }

    #[test]
    fn nights_rest_days_and_dates_outside_the_calendar_are_out_of_hours() {
        let calendar = domain::calendar::Calendar::bundled().unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // Wednesday 2026-11-25.
        assert_eq!(
            out_of_hours(at("2026-11-25T10:00:00+08:00"), &calendar),
            None
        );
        assert_eq!(
            out_of_hours(at("2026-11-25T23:30:00+08:00"), &calendar),
            Some("night")
        );
        // Given in UTC: 2026-11-25T00:30Z is 08:30 in China.
        assert_eq!(out_of_hours(at("2026-11-25T00:30:00Z"), &calendar), None);
        // National Day, and a Saturday.
        assert_eq!(
            out_of_hours(at("2026-10-02T10:00:00+08:00"), &calendar),
            Some("rest_day")
        );
        assert_eq!(
            out_of_hours(at("2026-11-28T10:00:00+08:00"), &calendar),
            Some("rest_day")
        );
        assert_eq!(
            out_of_hours(at("2031-01-06T10:00:00+08:00"), &calendar),
            Some("calendar_unknown")
        );
    }
}
