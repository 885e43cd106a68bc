//! The `supervision_cases` table: recomputed from a case's head when a record of the case is
//! stored (in that transaction), and moved along in time by the periodic evaluator.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use deadpool_postgres::GenericClient;
use domain::calendar::china_standard_time;
use serde::Deserialize;
use uuid::Uuid;

use super::assess::{self, Facts, Level};
use crate::api::App;
use crate::db::copy::{CopyIn, Rows};
use crate::ingest::store::{Writes, copies};
use tokio_postgres::types::Type;

/// Identifies the evaluator's lock among advisory locks ("egw_supv").
const LOCK_KEY: i64 = 0x6567_775f_7375_7076;

/// Cases recomputed per statement by the start-up catch-up.
const CATCH_UP_BATCH: i64 = 500;

/// The columns of `supervision_cases` written by a refresh, with their SQL types, in the order
/// of the fields of [`StateRow`] (`updated_at` is set by the statement).
const COLUMNS: &[(&str, &str)] = &[
    ("source_system", "text"),
    ("case_no", "text"),
    ("record_id", "uuid"),
    ("version", "bigint"),
    ("region_code", "text"),
    ("department", "text"),
    ("item_code", "text"),
    ("item_name", "text"),
    ("status", "text"),
    ("occurred_at", "timestamptz"),
    ("entered_at", "timestamptz"),
    ("entry_delay_secs", "bigint"),
    ("late_entry", "boolean"),
    ("accepted_at", "timestamptz"),
    ("limit_days", "integer"),
    ("deadline", "timestamptz"),
    ("warning_at", "timestamptz"),
    ("on_hold_since", "timestamptz"),
    ("level", "text"),
    ("error", "text"),
    ("completed_at", "timestamptz"),
    ("completed_on_time", "boolean"),
    ("completed_early", "boolean"),
];

/// One row of `supervision_cases`.
#[derive(Debug)]
struct StateRow {
    source_system: String,
    case_no: String,
    record_id: Uuid,
    version: i64,
    region_code: String,
    department: String,
    item_code: String,
    item_name: String,
    status: String,
    occurred_at: DateTime<FixedOffset>,
    entered_at: DateTime<FixedOffset>,
    entry_delay_secs: i64,
    late_entry: bool,
    accepted_at: Option<DateTime<FixedOffset>>,
    limit_days: u32,
    deadline: Option<DateTime<FixedOffset>>,
    warning_at: Option<DateTime<FixedOffset>>,
    on_hold_since: Option<DateTime<FixedOffset>>,
    level: &'static str,
    error: Option<String>,
    completed_at: Option<DateTime<FixedOffset>>,
    completed_on_time: Option<bool>,
    completed_early: Option<bool>,
}

/// `INSERT … SELECT FROM UNNEST(typed arrays) … ON CONFLICT DO UPDATE` over [`COLUMNS`] (binary
/// parameters: no JSON to build or parse). A row never replaces the state of a higher version
/// (the head moved on in a transaction that committed meanwhile), and the entry time only ever
/// moves earlier. Returns each row written, with whether it was inserted (not updated), and its
/// entry time and late-entry flag as stored: [`upsert`] checks them against what was computed.
static UPSERT: LazyLock<String> = LazyLock::new(|| {
    let names: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
    let set: Vec<String> = names[2..]
        .iter()
        .map(|&n| match n {
            "entered_at" => {
                "entered_at = LEAST(supervision_cases.entered_at, EXCLUDED.entered_at)".to_owned()
            }
            n => format!("{n} = EXCLUDED.{n}"),
        })
        .collect();
    format!(
        "INSERT INTO supervision_cases ({names}, updated_at)
         SELECT x.*, now() FROM UNNEST({arrays}) AS x({names})
         ORDER BY x.source_system, x.case_no
         ON CONFLICT (source_system, case_no) DO UPDATE SET {set}, updated_at = now()
           WHERE supervision_cases.version <= EXCLUDED.version
         RETURNING source_system, case_no, xmax = 0, entered_at, late_entry",
        names = names.join(", "),
        arrays = arrays(),
        set = set.join(", "),
    )
});

/// `$1::text[], $2::text[], …`: one typed array parameter per column of [`COLUMNS`].
fn arrays() -> String {
    let arrays: Vec<String> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, (_, t))| format!("${}::{t}[]", i + 1))
        .collect();
    arrays.join(", ")
}

/// The plain `INSERT` of state rows whose cases had none ([`Writes::plain`]), returning what
/// [`UPSERT`] returns. A row stored meanwhile fails it with a unique violation.
static INSERT_NEW: LazyLock<String> = LazyLock::new(|| {
    let names: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
    format!(
        "INSERT INTO supervision_cases ({names}, updated_at)
         SELECT x.*, now() FROM UNNEST({arrays}) AS x({names})
         ORDER BY x.source_system, x.case_no
         RETURNING source_system, case_no, true, entered_at, late_entry",
        names = names.join(", "),
        arrays = arrays(),
    )
});

/// A case's head moved in another transaction between this one's read of it and its write
/// of the state row (two versions of one case pushed at the same moment): the state computed
/// here, and which records are current, may be wrong. Nothing is left half-done: the caller
/// rolls the transaction back and runs it again, when the other has committed.
#[derive(Debug)]
pub struct HeadRace {
    pub source_system: String,
    pub case_no: String,
}

impl std::fmt::Display for HeadRace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the head of case {} of {} moved in a concurrent transaction",
            self.case_no, self.source_system
        )
    }
}

impl std::error::Error for HeadRace {}

/// Whether `e` is a [`HeadRace`]: the transaction is worth running again.
pub fn is_head_race(e: &anyhow::Error) -> bool {
    e.downcast_ref::<HeadRace>().is_some()
}

/// What a refresh did that is worth counting once its transaction has committed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[must_use = "call committed() after the transaction commits"]
pub struct Refreshed {
    /// Cases that got their first state row as late entries.
    pub new_late_entries: u64,
}

impl Refreshed {
    /// Count what the committed transaction stored (`gateway_supervision_late_entries_total`).
    pub fn committed(self) {
        metrics::counter!("gateway_supervision_late_entries_total")
            .increment(self.new_late_entries);
    }
}

/// Recompute the supervision state of the cases of `record_ids` (any versions) from each case's
/// head (the record its state row names), inside the caller's transaction. Cheap for ids of
/// records that were not stored: they name no case.
pub async fn refresh_records(db: &impl CopyIn, record_ids: &[Uuid]) -> anyhow::Result<Refreshed> {
    if record_ids.is_empty() {
        return Ok(Refreshed::default());
    }
    let stmt = db
        .prepare_cached(
            "WITH k AS (SELECT DISTINCT source_system, case_no FROM case_records WHERE record_id = ANY($1::uuid[]))
             SELECT r.source_system, r.case_no, r.record_id, r.version, r.region_code, r.department, r.item_code,
                    r.status, r.occurred_at, r.body,
                    -- the entry time only ever moves earlier (as the upsert writes it)
                    LEAST(h.entered_at, (SELECT min(a.ingested_at) FROM case_records a
                      WHERE a.source_system = k.source_system AND a.case_no = k.case_no))
             FROM k
             JOIN supervision_cases h ON h.source_system = k.source_system AND h.case_no = k.case_no
             JOIN case_records r ON r.record_id = h.record_id
             -- an archived head is of a finished case: its supervision state is final
             WHERE r.body IS NOT NULL
             ORDER BY r.source_system, r.case_no",
        )
        .await?;
    let heads = db.query(&stmt, &[&record_ids]).await?;
    let calendar = assess::calendar()?;
    let now = Utc::now().with_timezone(&china_standard_time());
    let rows: Vec<StateRow> = heads
        .iter()
        .map(|r| {
            let body: serde_json::Value = r.get(9);
            StateRow::new(
                HeadFields {
                    source_system: r.get(0),
                    case_no: r.get(1),
                    record_id: r.get(2),
                    version: r.get(3),
                    region_code: r.get(4),
                    department: r.get(5),
                    item_code: r.get(6),
                    status: r.get(7),
                    occurred_at: r.get(8),
                    entered_at: r.get(10),
                },
                Body::Tree(&body),
                calendar,
                now,
            )
        })
        .collect();
    // Each row was read from its state row: an update is expected.
    let expected = vec![false; rows.len()];
    upsert(db, &rows, &expected, Writes::Careful).await
}

/// A record's body as the refresh gets it: the JSON tree (a stored head read back), or the
/// fields supervision reads, already taken from the typed record by a push or a forwarding
/// receipt (no tree to keep or read again).
#[derive(Clone, Copy)]
pub enum Body<'a> {
    Tree(&'a serde_json::Value),
    Facts {
        facts: &'a Facts,
        item_name: &'a str,
    },
}

/// A stored record's place among its case's versions, as the insert that stored it found the
/// case's head (its state row) before: [`crate::ingest::store::insert_rows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// Not the head: a higher version of the case is stored, or was stored alongside.
    History,
    /// The head of a case that had no stored version: every version of it is being written.
    New,
    /// The head, in place of a lower stored version; `entered_at`: the case's entry time so
    /// far (the earliest `ingested_at` of its stored versions).
    Moved { entered_at: DateTime<Utc> },
}

/// A record this transaction has just stored, as the refresh needs it (built from what the
/// ingest and forwarding paths hold in memory).
pub struct Written<'a> {
    pub source_system: &'a str,
    pub case_no: &'a str,
    pub record_id: Uuid,
    pub version: i64,
    pub region_code: String,
    pub department: &'a str,
    pub item_code: &'a str,
    pub status: &'a str,
    pub occurred_at: DateTime<FixedOffset>,
    pub ingested_at: DateTime<FixedOffset>,
    pub body: Body<'a>,
    pub head: Head,
}

impl<'a> Written<'a> {
    /// A record the ingest path stored; `head` as in [`Written::head`].
    pub fn valid(v: &'a crate::ingest::Valid, head: Head) -> Self {
        Written {
            source_system: &v.source_system,
            case_no: &v.case_no,
            record_id: v.record_id,
            version: v.version,
            region_code: v.region.to_string(),
            department: &v.department,
            item_code: &v.item_code,
            status: &v.status,
            occurred_at: v.occurred_at,
            ingested_at: v.ingested_at,
            body: Body::Facts {
                facts: &v.facts,
                item_name: &v.item_name,
            },
            head,
        }
    }

    fn case(&self) -> (&'a str, &'a str) {
        (self.source_system, self.case_no)
    }
}

/// The state rows of the cases of records the caller has just written (and, with them, each
/// case's head: the state row names it), built from them in memory instead of read back. Cases
/// whose head is an older stored record (an earlier version arriving late) are refreshed from
/// the store. The results are the same as `refresh_records` over the ids of `written` after the
/// heads had moved. Fails with [`HeadRace`] when a concurrent transaction moved one of the
/// heads since the insert read it.
pub async fn refresh_heads(
    db: &impl CopyIn,
    written: &[Written<'_>],
    writes: Writes,
) -> anyhow::Result<Refreshed> {
    use std::collections::{HashMap, HashSet};
    if written.is_empty() {
        return Ok(Refreshed::default());
    }
    // Entry: the earliest stamp among the case's versions, those stored before (summed up in
    // the state row the insert read) and those written here.
    let mut first_stamp: HashMap<(&str, &str), DateTime<Utc>> = HashMap::new();
    for w in written {
        let mut stamp = as_stored(w.ingested_at);
        if let Head::Moved { entered_at } = w.head {
            stamp = stamp.min(entered_at);
        }
        let e = first_stamp.entry(w.case()).or_insert(stamp);
        *e = (*e).min(stamp);
    }
    let calendar = assess::calendar()?;
    let now = Utc::now().with_timezone(&china_standard_time());
    let mut heads: Vec<&Written> = written.iter().filter(|w| w.head != Head::History).collect();
    heads.sort_by(|a, b| a.case().cmp(&b.case()));
    let rows: Vec<StateRow> = heads
        .iter()
        .map(|w| {
            StateRow::new(
                HeadFields {
                    source_system: w.source_system.to_owned(),
                    case_no: w.case_no.to_owned(),
                    record_id: w.record_id,
                    version: w.version,
                    region_code: w.region_code.clone(),
                    department: w.department.to_owned(),
                    item_code: w.item_code.to_owned(),
                    status: w.status.to_owned(),
                    occurred_at: as_stored(w.occurred_at),
                    entered_at: first_stamp[&w.case()],
                },
                w.body,
                calendar,
                now,
            )
        })
        .collect();
    let expected: Vec<bool> = heads.iter().map(|w| w.head == Head::New).collect();
    // Records of cases whose head is not among them went to history: their head is an older
    // stored record, read back.
    let headed: HashSet<(&str, &str)> = heads.iter().map(|w| w.case()).collect();
    let history: Vec<Uuid> = written
        .iter()
        .filter(|w| !headed.contains(&w.case()))
        .map(|w| w.record_id)
        .collect();
    let mut refreshed = upsert(db, &rows, &expected, writes).await?;
    refreshed.new_late_entries += refresh_records(db, &history).await?.new_late_entries;
    Ok(refreshed)
}

/// An instant as PostgreSQL stores it from a binary parameter: microseconds since 2000-01-01,
/// truncated toward zero (as tokio-postgres converts it), so the in-memory path writes exactly
/// what a read-back of the stored record would give.
fn as_stored(t: DateTime<FixedOffset>) -> DateTime<Utc> {
    let base = DateTime::<Utc>::from_timestamp(946_684_800, 0).expect("a valid instant");
    match (t.with_timezone(&Utc) - base).num_microseconds() {
        Some(us) => base + chrono::TimeDelta::microseconds(us),
        None => t.with_timezone(&Utc),
    }
}

/// Write state rows (sorted by case key, so concurrent transactions lock in one order);
/// `expected[i]`: whether `rows[i]` should be a new row (its case had no state row when the
/// head was read). A row that was not written (a higher version's state is stored), was
/// inserted or updated against that expectation, or whose stored entry time is earlier than the
/// one its state was computed from, means the head moved meanwhile: [`HeadRace`].
/// Written plain ([`Writes::plain`]), the expected-new rows go in by plain `INSERT`, after the
/// upsert of the others (each statement in key order: two transactions wait on each other's
/// updates, or on each other's inserts, but never one on an update and the other on an insert).
async fn upsert(
    db: &impl CopyIn,
    rows: &[StateRow],
    expected: &[bool],
    writes: Writes,
) -> anyhow::Result<Refreshed> {
    if rows.is_empty() {
        return Ok(Refreshed::default());
    }
    let (mut plain, mut upserted): (Vec<&StateRow>, Vec<&StateRow>) = (Vec::new(), Vec::new());
    for (row, &new) in rows.iter().zip(expected) {
        if writes.plain() && new {
            plain.push(row);
        } else {
            upserted.push(row);
        }
    }
    let mut returned = Vec::with_capacity(rows.len());
    if !upserted.is_empty() {
        returned.extend(write_rows(db, &UPSERT, &upserted).await?);
    }
    // Rows inserted plain are written as given, or the statement fails: what a `RETURNING`
    // would say of them is known.
    let copied = if copies(writes, plain.len()) {
        copy_rows(db, &plain).await?;
        plain
    } else {
        if !plain.is_empty() {
            returned.extend(write_rows(db, &INSERT_NEW, &plain).await?);
        }
        Vec::new()
    };
    let mut new_late_entries = 0;
    let mut found = std::collections::HashMap::with_capacity(rows.len());
    for r in &returned {
        let (inserted, entered_at, late): (bool, DateTime<Utc>, bool) =
            (r.get(2), r.get(3), r.get(4));
        found.insert(
            (r.get::<_, &str>(0), r.get::<_, &str>(1)),
            (inserted, entered_at),
        );
        new_late_entries += u64::from(inserted && late);
    }
    for r in &copied {
        found.insert(
            (r.source_system.as_str(), r.case_no.as_str()),
            (true, r.entered_at.with_timezone(&Utc)),
        );
        new_late_entries += u64::from(r.late_entry);
    }
    for (row, &new) in rows.iter().zip(expected) {
        let as_computed = found
            .get(&(row.source_system.as_str(), row.case_no.as_str()))
            .is_some_and(|&(inserted, entered_at)| inserted == new && entered_at == row.entered_at);
        if !as_computed {
            return Err(HeadRace {
                source_system: row.source_system.clone(),
                case_no: row.case_no.clone(),
            }
            .into());
        }
    }
    Ok(Refreshed { new_late_entries })
}

/// `sql` ([`UPSERT`] or [`INSERT_NEW`]) over `rows`, as typed arrays in the order of [`COLUMNS`].
async fn write_rows(
    db: &impl GenericClient,
    sql: &str,
    rows: &[&StateRow],
) -> anyhow::Result<Vec<tokio_postgres::Row>> {
    let stmt = db.prepare_cached(sql).await?;
    macro_rules! col {
        ($f:ident) => {
            rows.iter().map(|r| &r.$f).collect::<Vec<_>>()
        };
    }
    let limit_days: Vec<i32> = rows.iter().map(|r| r.limit_days as i32).collect();
    let (source_system, case_no, record_id, version) = (
        col!(source_system),
        col!(case_no),
        col!(record_id),
        col!(version),
    );
    let (region_code, department, item_code, item_name, status) = (
        col!(region_code),
        col!(department),
        col!(item_code),
        col!(item_name),
        col!(status),
    );
    let (occurred_at, entered_at, entry_delay_secs, late_entry, accepted_at) = (
        col!(occurred_at),
        col!(entered_at),
        col!(entry_delay_secs),
        col!(late_entry),
        col!(accepted_at),
    );
    let (deadline, warning_at, on_hold_since, level, error) = (
        col!(deadline),
        col!(warning_at),
        col!(on_hold_since),
        col!(level),
        col!(error),
    );
    let (completed_at, completed_on_time, completed_early) = (
        col!(completed_at),
        col!(completed_on_time),
        col!(completed_early),
    );
    // In the order of COLUMNS.
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 23] = [
        &source_system,
        &case_no,
        &record_id,
        &version,
        &region_code,
        &department,
        &item_code,
        &item_name,
        &status,
        &occurred_at,
        &entered_at,
        &entry_delay_secs,
        &late_entry,
        &accepted_at,
        &limit_days,
        &deadline,
        &warning_at,
        &on_hold_since,
        &level,
        &error,
        &completed_at,
        &completed_on_time,
        &completed_early,
    ];
    Ok(db.query(&stmt, &params).await?)
}

/// `COPY` of [`COLUMNS`] (`updated_at` takes its default, `now()`).
static COPY: LazyLock<String> = LazyLock::new(|| {
    let names: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
    format!(
        "COPY supervision_cases ({}) FROM STDIN (FORMAT binary)",
        names.join(", ")
    )
});

/// The types of [`COLUMNS`].
static TYPES: LazyLock<Vec<Type>> = LazyLock::new(|| {
    COLUMNS
        .iter()
        .map(|(_, t)| match *t {
            "text" => Type::TEXT,
            "uuid" => Type::UUID,
            "bigint" => Type::INT8,
            "integer" => Type::INT4,
            "boolean" => Type::BOOL,
            "timestamptz" => Type::TIMESTAMPTZ,
            other => unreachable!("no column of type {other}"),
        })
        .collect()
});

/// New state rows by `COPY` (in the order given: key order), as [`INSERT_NEW`] inserts them.
async fn copy_rows(db: &impl CopyIn, rows: &[&StateRow]) -> anyhow::Result<()> {
    let mut data = Rows::new(&TYPES, rows.len() * 400);
    for r in rows {
        let limit_days = r.limit_days as i32;
        // In the order of COLUMNS.
        data.push(&[
            &r.source_system,
            &r.case_no,
            &r.record_id,
            &r.version,
            &r.region_code,
            &r.department,
            &r.item_code,
            &r.item_name,
            &r.status,
            &r.occurred_at,
            &r.entered_at,
            &r.entry_delay_secs,
            &r.late_entry,
            &r.accepted_at,
            &limit_days,
            &r.deadline,
            &r.warning_at,
            &r.on_hold_since,
            &r.level,
            &r.error,
            &r.completed_at,
            &r.completed_on_time,
            &r.completed_early,
        ])?;
    }
    data.send(db, &COPY).await?;
    Ok(())
}

/// The columns of a state row that come from the head record itself.
struct HeadFields {
    source_system: String,
    case_no: String,
    record_id: Uuid,
    version: i64,
    region_code: String,
    department: String,
    item_code: String,
    status: String,
    occurred_at: DateTime<Utc>,
    /// The earliest `ingested_at` among the case's versions.
    entered_at: DateTime<Utc>,
}

impl StateRow {
    /// The state of a case from its head's columns and body, assessed at `now`.
    fn new(
        head: HeadFields,
        body: Body<'_>,
        calendar: &domain::calendar::Calendar,
        now: DateTime<FixedOffset>,
    ) -> StateRow {
        let body = match body {
            Body::Tree(tree) => tree,
            Body::Facts { facts, item_name } => {
                return StateRow::from_facts(head, item_name.to_owned(), Ok(facts), calendar, now);
            }
        };
        let item_name = body["service_item"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let facts = Facts::deserialize(body).map_err(|e| e.to_string());
        StateRow::from_facts(
            head,
            item_name,
            facts.as_ref().map_err(Clone::clone),
            calendar,
            now,
        )
    }

    fn from_facts(
        head: HeadFields,
        item_name: String,
        facts: Result<&Facts, String>,
        calendar: &domain::calendar::Calendar,
        now: DateTime<FixedOffset>,
    ) -> StateRow {
        let cst = |t: DateTime<Utc>| t.with_timezone(&china_standard_time());
        let entered_at = cst(head.entered_at);
        let mut row = StateRow {
            source_system: head.source_system,
            case_no: head.case_no,
            record_id: head.record_id,
            version: head.version,
            region_code: head.region_code,
            department: head.department,
            item_code: head.item_code,
            item_name,
            status: head.status,
            occurred_at: cst(head.occurred_at),
            entered_at,
            entry_delay_secs: 0,
            late_entry: false,
            accepted_at: None,
            limit_days: 0,
            deadline: None,
            warning_at: None,
            on_hold_since: None,
            level: Level::Error.as_str(),
            error: None,
            completed_at: None,
            completed_on_time: None,
            completed_early: None,
        };
        match facts {
            Ok(facts) => row.assessed(assess::assess(calendar, facts, entered_at, now)),
            Err(e) => row.error = Some(format!("the stored record does not read: {e}")),
        }
        row
    }

    fn assessed(&mut self, a: assess::Assessment) {
        self.entry_delay_secs = a.entry_delay.num_seconds();
        self.late_entry = a.late_entry;
        self.accepted_at = a.accepted_at;
        self.limit_days = a.limit_days;
        self.deadline = a.deadline;
        self.warning_at = a.warning_at;
        self.on_hold_since = a.on_hold_since;
        self.level = a.level.as_str();
        self.error = a.error;
        self.completed_at = a.completed_at;
        self.completed_on_time = a.completed_on_time;
        self.completed_early = a.completed_early;
    }
}

/// Move running clocks past their warning instant or deadline (nothing else changes with time).
const TRANSITIONS: &str = "UPDATE supervision_cases
     SET level = CASE WHEN deadline < now() THEN 'overdue' ELSE 'warning' END, updated_at = now()
     WHERE level IN ('normal', 'warning')
       AND (deadline < now() OR (level = 'normal' AND warning_at <= now()))";

/// One evaluator round under the lock: the start-up catch-up (cases after `cursor` whose state
/// is an `error`: not assessable then, perhaps now with a newer calendar, or marked by migration
/// 0029), then the time transitions. `None`: another process holds
/// the lock. Returns the new cursor (`None` once the catch-up has walked every case).
async fn evaluate_once(
    db: &mut deadpool_postgres::Client,
    cursor: Option<(String, String)>,
) -> anyhow::Result<Option<Option<(String, String)>>> {
    let tx = db.transaction().await?;
    let locked: bool = tx
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await?
        .get(0);
    if !locked {
        return Ok(None);
    }
    let mut refreshed = Refreshed::default();
    let mut next = None;
    if let Some((system, case_no)) = &cursor {
        let rows = tx
            .query(
                "SELECT record_id, source_system, case_no FROM supervision_cases
                 WHERE (source_system, case_no) > ($1, $2) AND level = 'error'
                 ORDER BY source_system, case_no LIMIT $3",
                &[system, case_no, &CATCH_UP_BATCH],
            )
            .await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.get(0)).collect();
        refreshed = refresh_records(&tx, &ids).await?;
        if rows.len() as i64 == CATCH_UP_BATCH {
            next = rows.last().map(|r| (r.get(1), r.get(2)));
        }
    }
    let moved = tx.execute(TRANSITIONS, &[]).await?;
    tx.commit().await?;
    refreshed.committed();
    if moved > 0 {
        tracing::debug!(moved, "supervision levels moved on");
    }
    Ok(Some(next))
}

/// Set `gateway_supervision_alerts{level}`: the node's alerts by kind, as the alerts API lists
/// them (every process reports the same node-wide numbers), at most every
/// `supervision.alerts_gauge_interval_ms`.
async fn report_alerts(db: &impl GenericClient) -> anyhow::Result<()> {
    let row = db
        .query_one(
            "SELECT count(*) FILTER (WHERE late_entry), count(*) FILTER (WHERE level = 'warning'),
                    count(*) FILTER (WHERE level = 'overdue'), count(*) FILTER (WHERE level = 'error')
             FROM supervision_cases WHERE late_entry OR level IN ('warning', 'overdue', 'error')",
            &[],
        )
        .await?;
    for (i, kind) in super::api::ALARMS.iter().enumerate() {
        metrics::gauge!("gateway_supervision_alerts", "level" => *kind)
            .set(row.get::<_, i64>(i) as f64);
    }
    Ok(())
}

/// Start the evaluator: a background task for the life of the process, one round every
/// `supervision.evaluate_interval_ms`. Fails (so `serve` does not start) if the bundled
/// calendar does not load.
pub fn spawn(app: Arc<App>) -> anyhow::Result<()> {
    assess::calendar()?;
    let interval = Duration::from_millis(app.config.supervision.evaluate_interval_ms.max(1));
    let gauge_interval = Duration::from_millis(app.config.supervision.alerts_gauge_interval_ms);
    tokio::spawn(async move {
        // The catch-up walks every case once per process start, from the first key.
        let mut cursor = Some((String::new(), String::new()));
        let mut counted: Option<std::time::Instant> = None;
        loop {
            let round = async {
                let mut db = app.pool.get().await?;
                let next = evaluate_once(&mut db, cursor.clone()).await?;
                // The count reads every alert row, a burst of PostgreSQL's time that grows with
                // the store: not every round.
                if counted.is_none_or(|at| at.elapsed() >= gauge_interval) {
                    report_alerts(&db).await?;
                    counted = Some(std::time::Instant::now());
                }
                anyhow::Ok(next)
            }
            .await;
            match round {
                // A full catch-up batch: go on at once.
                Ok(Some(next @ Some(_))) => {
                    cursor = next;
                    continue;
                }
                Ok(Some(None)) => cursor = None,
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "supervision evaluation failed"),
            }
            tokio::time::sleep(interval).await;
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn head() -> HeadFields {
        HeadFields {
            source_system: "sys".into(),
            case_no: "c1".into(),
            record_id: Uuid::nil(),
            version: 1,
            region_code: "621002000000".into(),
            department: "market_regulation".into(),
            item_code: "620130001000".into(),
            status: "accepted".into(),
            occurred_at: "2026-11-16T01:00:00Z".parse().unwrap(),
            entered_at: "2026-11-16T02:00:00Z".parse().unwrap(),
        }
    }

    /// Taken from the typed record, a body's facts give the row its stored tree gives: every
    /// adapter's expected records (bodies that do not read as a record only come as trees).
    #[test]
    fn typed_facts_and_tree_give_the_same_row() {
        let calendar = assess::calendar().unwrap();
        let now = Utc::now().with_timezone(&china_standard_time());
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../adapters/fixtures");
        let mut bodies = Vec::new();
        for dir in std::fs::read_dir(root).unwrap() {
            let path = dir.unwrap().path().join("batch-valid.expected.json");
            if let Ok(bytes) = std::fs::read(&path) {
                bodies.extend(serde_json::from_slice::<Vec<Value>>(&bytes).unwrap());
            }
        }
        assert!(bodies.len() >= 8);
        let mut with_holds = 0;
        for body in bodies {
            let r: domain::record::CaseRecord = serde_json::from_value(body.clone()).unwrap();
            with_holds += usize::from(!r.holds.is_empty());
            let facts = Facts {
                timestamps: r.timestamps.clone(),
                time_limits: r.time_limits.clone(),
                status: r.status,
                holds: r.holds.clone(),
            };
            let typed = Body::Facts {
                facts: &facts,
                item_name: &r.service_item.name,
            };
            let from_tree = StateRow::new(head(), Body::Tree(&body), calendar, now);
            let from_typed = StateRow::new(head(), typed, calendar, now);
            assert_eq!(
                format!("{from_typed:?}"),
                format!("{from_tree:?}"),
                "{body}"
            );
        }
        assert!(with_holds > 0, "some fixture records have holds");
    }

    /// A stored body supervision cannot read gives an error row, not a failed refresh.
    #[test]
    fn an_unreadable_tree_is_an_error_row() {
        let calendar = assess::calendar().unwrap();
        let now = Utc::now().with_timezone(&china_standard_time());
        for body in [
            json!({"service_item": {"name": "x"}, "timestamps": "not an object"}),
            json!({"service_item": {"name": 7}}),
            json!([]),
        ] {
            let row = StateRow::new(head(), Body::Tree(&body), calendar, now);
            assert_eq!(row.level, "error", "{body}");
            assert!(row.error.is_some(), "{body}");
        }
    }
}
