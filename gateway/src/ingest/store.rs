//! One transaction per batch. Rows are written in bulk (`INSERT … SELECT FROM UNNEST`), in key
//! order so concurrent batches touching the same cases lock them in the same order and never
//! deadlock. The unique key (source_system, case_no, version) decides duplicates and conflicts
//! even between concurrent pushes: `ON CONFLICT DO NOTHING` waits for the other transaction and
//! the follow-up read sees what it committed.
//!
//! A transaction first writes [`Writes::Fast`]: plain `INSERT`s, which cost PostgreSQL less
//! than `ON CONFLICT` (no speculative insertion, no confirmation record; bench/README.md). When
//! a key is already stored (a re-push, or another push of the same record committing first),
//! the statement fails with a unique violation, nothing is kept, and the transaction runs again
//! [`Writes::Careful`], as every transaction ran before; that source's transactions are then
//! written careful for a while ([`Duplicates`]), so one that re-sends overlapping windows does
//! not pay for a failed attempt on every push.
//!
//! Written fast, the records of a large transaction (at least `ingest.copy_from_rows`) go in
//! with binary `COPY` ([`crate::db::copy`]), as the benchmark's ceiling writes them. A key
//! stored already fails the `COPY` as it fails the `INSERT`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::BufMut;
use chrono::{DateTime, FixedOffset};
use deadpool_postgres::{Client, GenericClient};
use domain::FieldError;
use futures_util::future::try_join_all;
use tokio_postgres::types::{IsNull, ToSql, Type, accepts, to_sql_checked};
use uuid::Uuid;

use super::receipt::{Outcome, Receipt, RecordOutcome, Summary};
use super::{Invalid, Prepared, Valid};
use crate::certificates::Issuer;
use crate::db::copy::{CopyIn, Rows};
use crate::db::tx::Tx;
use crate::supervision::refresh::Head;

/// The batch as a whole: who sent it, through which adapter, when.
#[derive(Debug, Clone)]
pub struct BatchMeta {
    pub batch_id: Uuid,
    pub client_batch_id: Option<String>,
    pub adapter: String,
    pub principal_id: String,
    pub department: String,
    pub received_at: DateTime<FixedOffset>,
    /// When this batch replays quarantined records: (position in the payload, quarantine id).
    /// Those that are now stored (or found already stored) leave the quarantine in the same
    /// transaction.
    pub replay_of: Vec<(usize, Uuid)>,
    /// Queue what is stored for the parent node (false on the root node, which has none).
    pub forward: bool,
    /// Where the bodies of what is queued are kept for the drainers of this process (none
    /// outside `gateway serve`).
    pub recent: Option<std::sync::Arc<crate::federation::recent::Recent>>,
}

type Key = (String, String, i64);

fn key(v: &Valid) -> Key {
    (v.source_system.clone(), v.case_no.clone(), v.version)
}

/// [`key`] borrowed from the record: what a transaction's own maps are keyed by (an owned key
/// copied two strings for every record and every look-up).
fn key_of(v: &Valid) -> (&str, &str, i64) {
    (&v.source_system, &v.case_no, v.version)
}

/// A receipt stored earlier for this principal's client batch id.
pub async fn stored_receipt(
    db: &Client,
    principal_id: &str,
    client_batch_id: &str,
) -> anyhow::Result<Option<Receipt>> {
    // Rows stored before migration 0021 hold the receipt as jsonb.
    let row = db
        .query_opt(
            "SELECT coalesce(receipt_text, receipt::text) FROM ingest_batches
             WHERE principal_id = $1 AND client_batch_id = $2",
            &[&principal_id, &client_batch_id],
        )
        .await?;
    Ok(match row {
        Some(r) => Some(serde_json::from_str(r.get(0))?),
        None => None,
    })
}

/// How many times a transaction runs again after a [`HeadRace`] before its error is answered
/// (each race needs another push of the same case committing in between).
///
/// [`HeadRace`]: crate::supervision::refresh::HeadRace
const HEAD_RACE_RETRIES: u32 = 8;

/// How a transaction writes records and their cases' state rows, from the boldest to the most
/// careful (a transaction that fails one way runs again the next).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Writes {
    /// Plain `INSERT`s (or `COPY`) of what the transaction's reads found new, and with `COPY`
    /// the cases of a source's version 1 taken as new without reading their heads: a case's
    /// first version meets a stored head only when it arrives after a later one. A key or a
    /// state row stored already fails the statement (unique violation); a state row runs the
    /// transaction again [`Writes::Probed`], a record [`Writes::Careful`].
    Fast,
    /// As [`Writes::Fast`], with every case's head read.
    Probed,
    /// `ON CONFLICT`: waits for a concurrent transaction writing the same key, then skips the
    /// record (judged a duplicate or a conflict by the read that follows) or updates the state.
    Careful,
}

impl Writes {
    /// Whether records and new cases' state rows go in by plain `INSERT` or `COPY`.
    pub fn plain(self) -> bool {
        self < Writes::Careful
    }
}

/// Sources (pushing principals, children forwarding) whose transaction had to run again, when,
/// and how it ran then: their transactions start that way for [`Duplicates::CAREFUL_FOR`].
/// At most one entry per source, and sources are provisioned: the map stays small.
pub struct Duplicates(std::sync::Mutex<HashMap<String, (std::time::Instant, Writes)>>);

/// The process's [`Duplicates`].
pub static DUPLICATES: std::sync::LazyLock<Duplicates> =
    std::sync::LazyLock::new(|| Duplicates(Default::default()));

impl Duplicates {
    /// How long a source whose transaction ran again starts its transactions that way.
    pub const CAREFUL_FOR: std::time::Duration = std::time::Duration::from_secs(600);

    /// How a transaction for `sources` starts at `now`: the most careful way noted for one of
    /// them in the last [`Duplicates::CAREFUL_FOR`], else [`Writes::Fast`].
    pub fn first_writes<'a>(
        &self,
        sources: impl IntoIterator<Item = &'a str>,
        now: std::time::Instant,
    ) -> Writes {
        let seen = self.0.lock().expect("not poisoned");
        sources
            .into_iter()
            .filter_map(|s| seen.get(s))
            .filter(|(t, _)| now.duration_since(*t) < Self::CAREFUL_FOR)
            .map(|&(_, w)| w)
            .max()
            .unwrap_or(Writes::Fast)
    }

    /// A transaction of `sources` ran again `writes` at `now`.
    pub fn noted<'a>(
        &self,
        sources: impl IntoIterator<Item = &'a str>,
        now: std::time::Instant,
        writes: Writes,
    ) {
        let mut seen = self.0.lock().expect("not poisoned");
        for s in sources {
            let writes = match seen.get(s) {
                Some(&(t, w)) if now.duration_since(t) < Self::CAREFUL_FOR => w.max(writes),
                _ => writes,
            };
            seen.insert(s.to_owned(), (now, writes));
        }
    }
}

/// `ingest.copy_from_rows` by default: from this many rows a `COPY` (two round trips, and the
/// cases' heads read by a statement of their own) costs less than an `INSERT` of the rows.
pub const COPY_FROM_ROWS_DEFAULT: usize = 64;

/// `ingest.copy_from_rows` of the running process (set once at start).
pub static COPY_FROM_ROWS: AtomicUsize = AtomicUsize::new(COPY_FROM_ROWS_DEFAULT);

/// Whether [`insert_rows`] writes `rows` records with `COPY`: the transaction must then have
/// begun (its `BEGIN` answered) before the call, as a `COPY` sent alone would commit itself.
pub fn copies(writes: Writes, rows: usize) -> bool {
    let from = COPY_FROM_ROWS.load(Ordering::Relaxed);
    writes.plain() && from > 0 && rows >= from
}

/// The table of the unique violation `e` is (of a transaction writing plain), if it is one.
fn unique_violation(e: &anyhow::Error) -> Option<&str> {
    e.chain().find_map(|c| {
        let db = c.downcast_ref::<tokio_postgres::Error>()?.as_db_error()?;
        (db.code() == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
            .then(|| db.table().unwrap_or_default())
    })
}

/// Whether a transaction of `sources` that failed with `e` runs again, and how (`writes`
/// becomes that; the sources are noted in [`DUPLICATES`]). Written plain, after a unique
/// violation: of a case's state row in a [`Writes::Fast`] transaction (a version 1 that met a
/// head, or a case whose first state row a concurrent transaction wrote), once more
/// [`Writes::Probed`] (`gateway_ingest_probed_reruns_total`); otherwise once more
/// [`Writes::Careful`] (`gateway_ingest_careful_reruns_total`). After a head race, up to
/// [`HEAD_RACE_RETRIES`] times (`races` counts them, as does `gateway_ingest_head_races_total`).
pub fn run_again<'a>(
    e: &anyhow::Error,
    races: &mut u32,
    writes: &mut Writes,
    sources: impl IntoIterator<Item = &'a str>,
) -> bool {
    if writes.plain()
        && let Some(table) = unique_violation(e)
    {
        let (next, counter) = if *writes == Writes::Fast && table == "supervision_cases" {
            (Writes::Probed, "gateway_ingest_probed_reruns_total")
        } else {
            (Writes::Careful, "gateway_ingest_careful_reruns_total")
        };
        *writes = next;
        DUPLICATES.noted(sources, std::time::Instant::now(), next);
        metrics::counter!(counter).increment(1);
        tracing::debug!(error = %e, writes = ?next, "a key is stored already: running the transaction again");
        return true;
    }
    if *races >= HEAD_RACE_RETRIES || !crate::supervision::refresh::is_head_race(e) {
        return false;
    }
    *races += 1;
    metrics::counter!("gateway_ingest_head_races_total").increment(1);
    tracing::debug!(error = %e, races = *races, "running the transaction again");
    true
}

/// Write the batch's whole outcome atomically and return its receipt. When another request
/// with the same client batch id committed first, its receipt is returned and nothing is written.
pub async fn commit(
    db: &Client,
    meta: &BatchMeta,
    prepared: Prepared,
    issuer: &Issuer,
    dry_run: bool,
) -> anyhow::Result<Receipt> {
    let source = [meta.principal_id.as_str()];
    let mut writes = DUPLICATES.first_writes(source, std::time::Instant::now());
    let mut races = 0;
    loop {
        match commit_once(db, meta, &prepared, issuer, dry_run, writes).await {
            Err(e) if run_again(&e, &mut races, &mut writes, source) => continue,
            outcome => return outcome,
        }
    }
}

async fn commit_once(
    db: &Client,
    meta: &BatchMeta,
    prepared: &Prepared,
    issuer: &Issuer,
    dry_run: bool,
    writes: Writes,
) -> anyhow::Result<Receipt> {
    let tx = begin(db, std::slice::from_ref(prepared), writes).await;
    let Stored {
        mut receipts,
        supervised,
        batches,
    } = write(&tx, &[meta], std::slice::from_ref(prepared), issuer, writes).await?;
    let receipt = receipts.pop().expect("one receipt per batch");
    if batches == 0 {
        // A retry of the same client batch raced us and won: answer what it stored.
        drop(tx);
        let client_batch_id = meta.client_batch_id.as_deref().unwrap_or_default();
        return stored_receipt(db, &meta.principal_id, client_batch_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("batch id conflict without a stored receipt"));
    }
    if dry_run {
        // Everything above ran exactly as for a real push; undo it and say so.
        tx.rollback().await?;
        return Ok(dry_run_receipt(receipt));
    }
    tx.commit().await?;
    supervised.committed();
    Ok(receipt)
}

/// Several pushes in one transaction (group commit, [`super::group`]): each gets the receipt it
/// would have got alone, in the order given. `None` when one of them repeats a client batch id
/// already stored: nothing was written, and the caller commits them one by one.
pub async fn commit_group(
    db: &Client,
    metas: &[&BatchMeta],
    prepared: &[Prepared],
    issuer: &Issuer,
) -> anyhow::Result<Option<Vec<Receipt>>> {
    let sources = || metas.iter().map(|m| m.principal_id.as_str());
    let mut writes = DUPLICATES.first_writes(sources(), std::time::Instant::now());
    let mut races = 0;
    loop {
        match commit_group_once(db, metas, prepared, issuer, writes).await {
            Err(e) if run_again(&e, &mut races, &mut writes, sources()) => continue,
            outcome => return outcome,
        }
    }
}

async fn commit_group_once(
    db: &Client,
    metas: &[&BatchMeta],
    prepared: &[Prepared],
    issuer: &Issuer,
    writes: Writes,
) -> anyhow::Result<Option<Vec<Receipt>>> {
    let tx = begin(db, prepared, writes).await;
    let Stored {
        receipts,
        supervised,
        batches,
    } = write(&tx, metas, prepared, issuer, writes).await?;
    if batches < metas.len() {
        return Ok(None); // dropping `tx` rolls it back
    }
    tx.commit().await?;
    supervised.committed();
    Ok(Some(receipts))
}

/// The transaction of `prepared`: on generic plans when its records go in by `INSERT`
/// ([`Tx::begin_small`]).
async fn begin<'a>(db: &'a Client, prepared: &[Prepared], writes: Writes) -> Tx<'a> {
    let rows = prepared.iter().map(|p| p.valid.len()).sum();
    if copies(writes, rows) {
        Tx::begin(db).await
    } else {
        Tx::begin_small(db).await
    }
}

/// What [`write`] did.
struct Stored {
    /// One per batch, in the order given.
    receipts: Vec<Receipt>,
    supervised: crate::supervision::refresh::Refreshed,
    /// How many `ingest_batches` rows were inserted (see [`insert_batches`]): fewer than the
    /// batches when a client batch id is already stored, and then the transaction must not
    /// commit.
    batches: usize,
}

/// Everything of the batches `metas` (with what `prepare` made of each), in `tx`. The records
/// of all of them go through the same statements, in key order, judged in the order given: a
/// record repeated in a later batch is judged against the earlier one, like a re-push.
async fn write(
    tx: &Tx<'_>,
    metas: &[&BatchMeta],
    prepared: &[Prepared],
    issuer: &Issuer,
    writes: Writes,
) -> anyhow::Result<Stored> {
    let db = tx.client();
    let mut valid: Vec<(usize, &Valid)> = Vec::new();
    for (m, p) in prepared.iter().enumerate() {
        valid.extend(p.valid.iter().map(|v| (m, v)));
    }
    // Stable: equal keys stay in batch order.
    valid.sort_by(|(_, a), (_, b)| {
        (&a.source_system, &a.case_no, a.version).cmp(&(&b.source_system, &b.case_no, b.version))
    });

    // The first occurrence of each key is inserted; later ones are judged against whatever
    // the store then holds for that key, like any re-push.
    let mut first: HashMap<(&str, &str, i64), usize> = HashMap::with_capacity(valid.len());
    let mut primaries = Vec::new();
    for (i, (_, v)) in valid.iter().enumerate() {
        if let std::collections::hash_map::Entry::Vacant(e) = first.entry(key_of(v)) {
            e.insert(i);
            primaries.push(i);
        }
    }
    if copies(writes, primaries.len()) {
        tx.begun().await?;
    }
    // Records, with the heads of their cases as stored before: one statement (two with `COPY`).
    let inserted = insert_records(
        db,
        primaries.iter().map(|&i| (metas[valid[i].0], valid[i].1)),
        writes,
    )
    .await?;
    // `BEGIN` went ahead of the records statement and is answered by now; nothing after
    // this may run outside the transaction.
    tx.begun().await?;
    let missing: Vec<&Valid> = primaries
        .iter()
        .map(|&i| valid[i].1)
        .filter(|v| !inserted.contains_key(&v.record_id))
        .collect();
    let existing = existing_records(db, &missing).await?;

    // What the store holds for each key now: (record id, content hash).
    let stored = |v: &Valid| -> (Uuid, Vec<u8>) {
        let p = valid[first[&key_of(v)]].1;
        if inserted.contains_key(&p.record_id) {
            (p.record_id, p.content_hash.clone())
        } else {
            existing[&key(p)].clone()
        }
    };

    let mut outcomes: Vec<Vec<RecordOutcome>> = vec![Vec::new(); metas.len()];
    let mut accepted: Vec<&Valid> = Vec::new();
    let mut accepted_in: Vec<usize> = Vec::new();
    let mut conflicts: Vec<(usize, &Valid, Uuid, FieldError)> = Vec::new();
    for (m, v) in &valid {
        let (stored_id, stored_hash) = stored(v);
        let outcome = if stored_id == v.record_id {
            accepted.push(v);
            accepted_in.push(*m);
            continue; // `current` is known only after the heads are updated
        } else if stored_hash == v.content_hash {
            Outcome::Duplicate {
                record_id: stored_id,
            }
        } else {
            let quarantine_id = Uuid::now_v7();
            let error = FieldError::new(
                "/version",
                "record.version_conflict",
                format!(
                    "case {} version {} was already received with different content (record {stored_id}); send a new version",
                    v.case_no, v.version
                ),
            );
            conflicts.push((*m, v, quarantine_id, error.clone()));
            Outcome::VersionConflict {
                existing_record_id: stored_id,
                quarantine_id: Some(quarantine_id),
                errors: vec![error],
            }
        };
        outcomes[*m].push(outcome_for(v, outcome));
    }

    let current: HashSet<Uuid> = inserted
        .iter()
        .filter(|(_, head)| **head != Head::History)
        .map(|(id, _)| *id)
        .collect();
    // Electronic supervision follows each touched case's head, built from the records in
    // memory (a read-back of what was just written cost half of PostgreSQL's time); the state
    // rows it writes are the heads.
    let written: Vec<crate::supervision::refresh::Written> = accepted
        .iter()
        .map(|v| crate::supervision::refresh::Written::valid(v, inserted[&v.record_id]))
        .collect();
    let queued: Vec<(&Valid, usize)> = accepted
        .iter()
        .zip(&accepted_in)
        .filter(|(_, m)| metas[**m].forward)
        .map(|(v, m)| (*v, *m))
        .collect();
    // Before the COMMIT that makes the outbox rows claimable (see `federation::recent`).
    // The batches of a group are one process's: one place to keep them.
    if let Some(recent) = metas.iter().find_map(|m| m.recent.as_ref()) {
        recent.keep(
            queued
                .iter()
                .filter(|(_, m)| metas[*m].recent.is_some())
                .map(|(v, _)| (v.record_id, v.body_json.clone())),
        );
    }
    let outbox: Vec<Uuid> = queued.iter().map(|(v, _)| v.record_id).collect();
    // Quarantine ids are chosen here, so the rows and the receipts naming them are independent.
    let mut quarantined: Vec<Vec<QuarantineRow>> = metas.iter().map(|_| Vec::new()).collect();
    for (m, p) in prepared.iter().enumerate() {
        for inv in &p.invalid {
            let id = Uuid::now_v7();
            quarantined[m].push(QuarantineRow::rejected(inv, id));
            outcomes[m].push(RecordOutcome {
                position: inv.position,
                location: inv.location.clone(),
                case_no: inv.case_no.clone(),
                version: None,
                outcome: Outcome::Rejected {
                    quarantine_id: Some(id),
                    errors: inv.errors.clone(),
                },
            });
        }
    }
    for (m, v, id, error) in &conflicts {
        quarantined[*m].push(QuarantineRow {
            id: *id,
            position: Some(v.position as i32),
            location: Some(v.location.clone()),
            case_no: Some(v.case_no.clone()),
            reason: "version_conflict",
            errors: serde_json::json!([error]),
            raw: v.raw.clone(),
        });
    }

    // What is left goes out together (tokio-postgres pipelines statements polled at once):
    // a small push's round trips to PostgreSQL, each a wake-up of both sides, are most of its
    // latency. None of these reads what another writes.
    let receipts = async {
        // One signing time for the group: its batches arrived within the same moment.
        let received = metas.iter().map(|m| m.received_at).max();
        let forward = metas.iter().any(|m| m.forward);
        let mut certificates = crate::certificates::issue::issue(
            db,
            issuer,
            &accepted,
            &current,
            forward,
            received.map_or_else(chrono::Utc::now, |r| r.with_timezone(&chrono::Utc)),
        )
        .await?;
        for (v, m) in accepted.iter().zip(&accepted_in) {
            let outcome = Outcome::Accepted {
                record_id: v.record_id,
                current: current.contains(&v.record_id),
                warnings: v.warnings.clone(),
                certificates: certificates.remove(&v.record_id).unwrap_or_default(),
            };
            outcomes[*m].push(outcome_for(v, outcome));
        }
        let receipts: Vec<Receipt> = metas
            .iter()
            .zip(outcomes)
            .map(|(meta, mut outcomes)| {
                outcomes.sort_by_key(|o| o.position);
                Receipt {
                    batch_id: meta.batch_id,
                    client_batch_id: meta.client_batch_id.clone(),
                    adapter: meta.adapter.clone(),
                    principal: meta.principal_id.clone(),
                    received_at: meta.received_at.to_rfc3339(),
                    dry_run: false,
                    summary: Summary::count(&outcomes),
                    records: outcomes,
                }
            })
            .collect();
        let replayed = try_join_all(
            metas
                .iter()
                .zip(&receipts)
                .map(|(meta, r)| mark_replayed(db, &meta.replay_of, &r.records)),
        );
        let (stored, _) = tokio::try_join!(insert_batches(db, metas, &receipts), replayed)?;
        anyhow::Ok((receipts, stored))
    };
    let quarantine = try_join_all(metas.iter().zip(&quarantined).zip(prepared).map(
        |((meta, rows), p)| async move {
            insert_quarantine(db, meta, rows).await?;
            if !rows.is_empty() {
                db.execute(
                    "INSERT INTO ingest_payloads (batch_id, adapter, principal_id, received_at, payload)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    &[
                        &meta.batch_id,
                        &meta.adapter,
                        &meta.principal_id,
                        &meta.received_at,
                        &p.payload.as_ref(),
                    ],
                )
                .await?;
            }
            anyhow::Ok(())
        },
    ));
    let outbox = crate::federation::outbox::queue(db, "record", &outbox);
    let (receipts, supervised, quarantine, outbox) = tokio::join!(
        receipts,
        crate::supervision::refresh::refresh_heads(db, &written, writes),
        quarantine,
        outbox
    );
    let mut errors = Vec::new();
    let receipts = receipts.map_err(|e| errors.push(e));
    let supervised = supervised.map_err(|e| errors.push(e));
    let _ = quarantine.map_err(|e| errors.push(e));
    let _ = outbox.map_err(|e| errors.push(e));
    if let Some(e) = cause(errors) {
        return Err(e);
    }
    let (Ok((receipts, batches)), Ok(supervised)) = (receipts, supervised) else {
        unreachable!("no statement failed");
    };
    Ok(Stored {
        receipts,
        supervised,
        batches,
    })
}

/// Which of the errors of statements sent together to report: after one fails, PostgreSQL
/// refuses those sent behind it ("current transaction is aborted"), which say nothing.
fn cause(mut errors: Vec<anyhow::Error>) -> Option<anyhow::Error> {
    // Stable: of the errors that are causes, the first polled.
    errors.sort_by_key(|e| {
        e.downcast_ref::<tokio_postgres::Error>()
            .and_then(tokio_postgres::Error::code)
            == Some(&tokio_postgres::error::SqlState::IN_FAILED_SQL_TRANSACTION)
    });
    errors.into_iter().next()
}

/// The batches' `ingest_batches` rows, with their receipts, in one statement; how many were
/// inserted (fewer than given when a client batch id is already stored: by a retry that
/// committed first, or one still in flight, which this waits for).
async fn insert_batches(
    tx: &impl GenericClient,
    metas: &[&BatchMeta],
    receipts: &[Receipt],
) -> anyhow::Result<usize> {
    let count = |f: fn(&Summary) -> usize| -> Vec<i32> {
        receipts.iter().map(|r| f(&r.summary) as i32).collect()
    };
    // Text, not jsonb: stored to be answered again as it is, never queried inside.
    let bodies: Vec<String> = receipts
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<_, _>>()?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO ingest_batches (batch_id, client_batch_id, principal_id, adapter, received_at,
                records, accepted, duplicates, conflicts, rejected, receipt_text)
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                $6::int4[], $7::int4[], $8::int4[], $9::int4[], $10::int4[], $11::text[])
             ON CONFLICT DO NOTHING",
        )
        .await?;
    let inserted = tx
        .execute(
            &stmt,
            &[
                &metas.iter().map(|m| m.batch_id).collect::<Vec<_>>(),
                &metas
                    .iter()
                    .map(|m| m.client_batch_id.as_deref())
                    .collect::<Vec<_>>(),
                &metas
                    .iter()
                    .map(|m| m.principal_id.as_str())
                    .collect::<Vec<_>>(),
                &metas.iter().map(|m| m.adapter.as_str()).collect::<Vec<_>>(),
                &metas.iter().map(|m| m.received_at).collect::<Vec<_>>(),
                &count(|s| s.records),
                &count(|s| s.accepted),
                &count(|s| s.duplicate),
                &count(|s| s.version_conflict),
                &count(|s| s.rejected),
                &bodies,
            ],
        )
        .await?;
    Ok(inserted as usize)
}

/// Quarantined records that a replay stored (or found stored) leave the quarantine.
async fn mark_replayed(
    tx: &impl GenericClient,
    replay_of: &[(usize, Uuid)],
    outcomes: &[RecordOutcome],
) -> anyhow::Result<()> {
    let mut ids = Vec::new();
    let mut records = Vec::new();
    for (position, quarantine_id) in replay_of {
        let stored = outcomes
            .iter()
            .find(|o| o.position == *position)
            .and_then(|o| match &o.outcome {
                Outcome::Accepted { record_id, .. } | Outcome::Duplicate { record_id } => {
                    Some(*record_id)
                }
                _ => None,
            });
        if let Some(record_id) = stored {
            ids.push(*quarantine_id);
            records.push(record_id);
        }
    }
    if !ids.is_empty() {
        tx.execute(
            "UPDATE quarantine q SET replayed_at = now(), last_replay_at = now(), replay_attempts = replay_attempts + 1,
                 replay_record_id = u.rec
             FROM UNNEST($1::uuid[], $2::uuid[]) AS u(id, rec) WHERE q.id = u.id",
            &[&ids, &records],
        )
        .await?;
    }
    Ok(())
}

/// A rolled-back receipt: nothing it names was stored, so drop ids that would point nowhere.
fn dry_run_receipt(mut receipt: Receipt) -> Receipt {
    receipt.dry_run = true;
    for r in &mut receipt.records {
        match &mut r.outcome {
            Outcome::Rejected { quarantine_id, .. }
            | Outcome::VersionConflict { quarantine_id, .. } => *quarantine_id = None,
            Outcome::Accepted { certificates, .. } => {
                certificates.iter_mut().for_each(|c| c.credential_id = None)
            }
            Outcome::Duplicate { .. } => {}
        }
    }
    receipt
}

fn outcome_for(v: &Valid, outcome: Outcome) -> RecordOutcome {
    RecordOutcome {
        position: v.position,
        location: v.location.clone(),
        case_no: Some(v.case_no.clone()),
        version: Some(v.version),
        outcome,
    }
}

/// Insert the records, each with its batch (see [`insert_rows`]).
async fn insert_records<'a>(
    tx: &impl CopyIn,
    rows: impl Iterator<Item = (&'a BatchMeta, &'a Valid)>,
    writes: Writes,
) -> anyhow::Result<HashMap<Uuid, Head>> {
    let regions: Vec<(&BatchMeta, &Valid, String)> =
        rows.map(|(m, v)| (m, v, v.region.to_string())).collect();
    let rows: Vec<RecordRow> = regions
        .iter()
        .map(|(m, v, region)| RecordRow {
            record_id: v.record_id,
            batch_id: m.batch_id,
            source_system: &v.source_system,
            case_no: &v.case_no,
            version: v.version,
            department: &v.department,
            region_code: region,
            item_code: &v.item_code,
            status: &v.status,
            occurred_at: v.occurred_at,
            ingested_at: v.ingested_at,
            content_hash: &v.content_hash,
            body_json: &v.body_json,
        })
        .collect();
    insert_rows(tx, None, &rows, writes).await
}

/// The records statement of [`insert_rows`], with `$on_conflict` after the rows.
macro_rules! insert_records_sql {
    ($on_conflict:literal) => {
        concat!(
            "WITH ins AS (
               INSERT INTO case_records (record_id, source_system, case_no, version, department, region_code,
                  item_code, status, occurred_at, ingested_at, batch_id, content_hash, body, forwarded_from)
               SELECT u.id, u.sys, u.case_no, u.ver, u.dept, u.region, u.item, u.status, u.occ, u.ing, u.batch,
                      u.hash, u.body, $14
               FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[], $7::text[],
                           $8::text[], $9::timestamptz[], $10::timestamptz[], $11::uuid[], $12::bytea[],
                           $13::jsonb[])
                    AS u(id, sys, case_no, ver, dept, region, item, status, occ, ing, batch, hash, body)
               ",
            $on_conflict,
            "
               RETURNING record_id, source_system, case_no)
             SELECT ins.record_id, s.version, s.entered_at
             FROM ins LEFT JOIN supervision_cases s
               ON s.source_system = ins.source_system AND s.case_no = ins.case_no"
        )
    };
}

/// A `case_records` row to insert.
pub struct RecordRow<'a> {
    pub record_id: Uuid,
    /// The `ingest_batches` row of the push (or a fresh id per forwarded request).
    pub batch_id: Uuid,
    pub source_system: &'a str,
    pub case_no: &'a str,
    pub version: i64,
    pub department: &'a str,
    pub region_code: &'a str,
    pub item_code: &'a str,
    pub status: &'a str,
    pub occurred_at: DateTime<FixedOffset>,
    pub ingested_at: DateTime<FixedOffset>,
    pub content_hash: &'a [u8],
    /// The body as JSON text.
    pub body_json: &'a [u8],
}

/// Insert records (in the order given: key order, so concurrent transactions lock alike),
/// skipping any whose id or (source, case, version) is already stored ([`Writes::Careful`]; a
/// [`Writes::Fast`] insert fails on one instead), in one statement that
/// also reads each case's head as its state row holds it. Returns the ids inserted, each with
/// its place among its case's versions ([`Head`]): a case's highest version inserted here is its
/// new head unless a higher one was stored. The head itself moves with the case's state row,
/// written by [`crate::supervision::refresh::refresh_heads`] in the same transaction.
/// `forwarded_from`: the child node a forwarded batch came from.
pub async fn insert_rows<'a>(
    tx: &impl CopyIn,
    forwarded_from: Option<&str>,
    rows: &[RecordRow<'a>],
    writes: Writes,
) -> anyhow::Result<HashMap<Uuid, Head>> {
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    // The head each inserted record's case had: (version, entry time), or none.
    let prior = if copies(writes, rows.len()) {
        copy_rows(tx, forwarded_from, rows, writes).await?
    } else {
        insert_each(tx, forwarded_from, rows, writes).await?
    };
    // Each case's highest version inserted.
    let mut top: HashMap<(&str, &str), i64> = HashMap::new();
    for r in rows.iter().filter(|r| prior.contains_key(&r.record_id)) {
        let v = top.entry((r.source_system, r.case_no)).or_insert(r.version);
        *v = (*v).max(r.version);
    }
    Ok(rows
        .iter()
        .filter_map(|r| {
            let before = prior.get(&r.record_id)?;
            let head = match before {
                _ if top[&(r.source_system, r.case_no)] != r.version => Head::History,
                None => Head::New,
                Some((stored, _)) if *stored >= r.version => Head::History,
                Some((_, entered_at)) => Head::Moved {
                    entered_at: *entered_at,
                },
            };
            Some((r.record_id, head))
        })
        .collect())
}

/// What a case's head was before the transaction's records: (version, entry time), or none.
type Prior = HashMap<Uuid, Option<(i64, DateTime<chrono::Utc>)>>;

/// The records statement: `INSERT … SELECT FROM UNNEST`, reading the heads as it inserts.
async fn insert_each(
    tx: &impl GenericClient,
    forwarded_from: Option<&str>,
    rows: &[RecordRow<'_>],
    writes: Writes,
) -> anyhow::Result<Prior> {
    let col =
        |f: for<'r> fn(&'r RecordRow<'_>) -> &'r str| rows.iter().map(f).collect::<Vec<&str>>();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.record_id).collect();
    let batches: Vec<Uuid> = rows.iter().map(|r| r.batch_id).collect();
    let versions: Vec<i64> = rows.iter().map(|r| r.version).collect();
    let occurred: Vec<DateTime<FixedOffset>> = rows.iter().map(|r| r.occurred_at).collect();
    let ingested: Vec<DateTime<FixedOffset>> = rows.iter().map(|r| r.ingested_at).collect();
    let hashes: Vec<&[u8]> = rows.iter().map(|r| r.content_hash).collect();
    let bodies: Vec<Jsonb> = rows.iter().map(|r| Jsonb(r.body_json)).collect();
    let stmt = tx
        .prepare_cached(match writes {
            Writes::Fast | Writes::Probed => insert_records_sql!(""),
            Writes::Careful => insert_records_sql!("ON CONFLICT DO NOTHING"),
        })
        .await?;
    let returned = tx
        .query(
            &stmt,
            &[
                &ids,
                &col(|r| r.source_system),
                &col(|r| r.case_no),
                &versions,
                &col(|r| r.department),
                &col(|r| r.region_code),
                &col(|r| r.item_code),
                &col(|r| r.status),
                &occurred,
                &ingested,
                &batches,
                &hashes,
                &bodies,
                &forwarded_from,
            ],
        )
        .await?;
    let mut prior = Prior::with_capacity(returned.len());
    for r in &returned {
        let head = r.get::<_, Option<i64>>(1).map(|v| (v, r.get(2)));
        prior.insert(r.get(0), head);
    }
    Ok(prior)
}

const COPY_RECORDS: &str = "COPY case_records (record_id, source_system, case_no, version, department, \
     region_code, item_code, status, occurred_at, ingested_at, batch_id, content_hash, body, \
     forwarded_from) FROM STDIN (FORMAT binary)";

const COPY_TYPES: [Type; 14] = [
    Type::UUID,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::TIMESTAMPTZ,
    Type::UUID,
    Type::BYTEA,
    Type::JSONB,
    Type::TEXT,
];

/// The records by `COPY`, after a read of their cases' heads (the statement's snapshot, as
/// the `INSERT`'s join reads them). Every row is inserted or the `COPY` fails.
///
/// [`Writes::Fast`] reads no head for a case whose lowest version here is 1 (rows come in key
/// order: a case's first row): it is taken as new, its state row is inserted plain, and a head
/// stored after all fails that insert (see [`run_again`]). A 500-key read was a quarter of
/// PostgreSQL's statement time in sustained ingest (bench/README.md).
async fn copy_rows(
    tx: &impl CopyIn,
    forwarded_from: Option<&str>,
    rows: &[RecordRow<'_>],
    writes: Writes,
) -> anyhow::Result<Prior> {
    let mut cases: Vec<(&str, &str)> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let first = i == 0
            || (rows[i - 1].source_system, rows[i - 1].case_no) != (r.source_system, r.case_no);
        if first && !(writes == Writes::Fast && r.version == 1) {
            cases.push((r.source_system, r.case_no));
        }
    }
    let found = if cases.is_empty() {
        Vec::new()
    } else {
        let (systems, numbers): (Vec<&str>, Vec<&str>) = cases.into_iter().unzip();
        let stmt = tx
            .prepare_cached(
                "SELECT k.sys, k.case_no, s.version, s.entered_at
                 FROM UNNEST($1::text[], $2::text[]) AS k(sys, case_no)
                 JOIN supervision_cases s ON s.source_system = k.sys AND s.case_no = k.case_no",
            )
            .await?;
        tx.query(&stmt, &[&systems, &numbers]).await?
    };
    let heads: HashMap<(&str, &str), (i64, DateTime<chrono::Utc>)> = found
        .iter()
        .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3))))
        .collect();
    let mut data = Rows::new(
        &COPY_TYPES,
        rows.iter().map(|r| r.body_json.len() + 256).sum(),
    );
    let mut prior = Prior::with_capacity(rows.len());
    for r in rows {
        data.push(&[
            &r.record_id,
            &r.source_system,
            &r.case_no,
            &r.version,
            &r.department,
            &r.region_code,
            &r.item_code,
            &r.status,
            &r.occurred_at,
            &r.ingested_at,
            &r.batch_id,
            &r.content_hash,
            &Jsonb(r.body_json),
            &forwarded_from,
        ])?;
        prior.insert(
            r.record_id,
            heads.get(&(r.source_system, r.case_no)).copied(),
        );
    }
    let copied = data.send(tx, COPY_RECORDS).await?;
    metrics::counter!("gateway_ingest_copied_records_total").increment(copied);
    Ok(prior)
}

/// (record id, content hash) of stored records with the keys of `rows`.
async fn existing_records(
    tx: &impl GenericClient,
    rows: &[&Valid],
) -> anyhow::Result<HashMap<Key, (Uuid, Vec<u8>)>> {
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let systems: Vec<&str> = rows.iter().map(|v| v.source_system.as_str()).collect();
    let cases: Vec<&str> = rows.iter().map(|v| v.case_no.as_str()).collect();
    let versions: Vec<i64> = rows.iter().map(|v| v.version).collect();
    let stmt = tx
        .prepare_cached(
            "SELECT c.source_system, c.case_no, c.version, c.record_id, c.content_hash
             FROM case_records c
             JOIN UNNEST($1::text[], $2::text[], $3::int8[]) AS k(sys, case_no, ver)
               ON c.source_system = k.sys AND c.case_no = k.case_no AND c.version = k.ver",
        )
        .await?;
    let found = tx.query(&stmt, &[&systems, &cases, &versions]).await?;
    Ok(found
        .iter()
        .map(|r| ((r.get(0), r.get(1), r.get(2)), (r.get(3), r.get(4))))
        .collect())
}

/// JSON already serialized, sent as a `jsonb` parameter as it is (no `serde_json::Value` tree
/// built or serialized again just to be written out).
#[derive(Debug)]
pub struct Jsonb<'a>(pub &'a [u8]);

impl ToSql for Jsonb<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.put_u8(1); // jsonb binary format version
        out.extend_from_slice(self.0);
        Ok(IsNull::No)
    }
    accepts!(JSONB);
    to_sql_checked!();
}

/// A quarantined record (or, with no position, a whole undecodable payload).
pub struct QuarantineRow {
    pub id: Uuid,
    pub position: Option<i32>,
    pub location: Option<String>,
    pub case_no: Option<String>,
    pub reason: &'static str,
    pub errors: serde_json::Value,
    pub raw: Vec<u8>,
}

impl QuarantineRow {
    fn rejected(inv: &Invalid, id: Uuid) -> Self {
        QuarantineRow {
            id,
            position: Some(inv.position as i32),
            location: Some(inv.location.clone()),
            case_no: inv.case_no.clone(),
            reason: "rejected",
            errors: serde_json::json!(inv.errors),
            raw: inv.raw.clone(),
        }
    }
}

pub async fn insert_quarantine(
    db: &impl GenericClient,
    meta: &BatchMeta,
    rows: &[QuarantineRow],
) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let positions: Vec<Option<i32>> = rows.iter().map(|r| r.position).collect();
    let locations: Vec<Option<&str>> = rows.iter().map(|r| r.location.as_deref()).collect();
    let cases: Vec<Option<&str>> = rows.iter().map(|r| r.case_no.as_deref()).collect();
    let reasons: Vec<&str> = rows.iter().map(|r| r.reason).collect();
    let errors: Vec<&serde_json::Value> = rows.iter().map(|r| &r.errors).collect();
    let raws: Vec<&[u8]> = rows.iter().map(|r| r.raw.as_slice()).collect();
    db.execute(
        "INSERT INTO quarantine (id, batch_id, adapter, principal_id, department, position, source_location,
            case_no, reason, errors, raw, received_at)
         SELECT u.id, $2, $3, $4, $5, u.pos, u.loc, u.case_no, u.reason, u.errors, u.raw, $6
         FROM UNNEST($1::uuid[], $7::int4[], $8::text[], $9::text[], $10::text[], $11::jsonb[], $12::bytea[])
              AS u(id, pos, loc, case_no, reason, errors, raw)",
        &[
            &ids,
            &meta.batch_id,
            &meta.adapter,
            &meta.principal_id,
            &meta.department,
            &meta.received_at,
            &positions,
            &locations,
            &cases,
            &reasons,
            &errors,
            &raws,
        ],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{Duplicates, Writes};

    #[test]
    fn a_source_whose_transaction_ran_again_starts_that_way_for_a_while() {
        let d = Duplicates(Default::default());
        let t0 = Instant::now();
        assert_eq!(d.first_writes(["a", "b"], t0), Writes::Fast);
        d.noted(["b"], t0, Writes::Careful);
        assert_eq!(d.first_writes(["a"], t0), Writes::Fast);
        // A group with one such source among others is written careful.
        assert_eq!(d.first_writes(["a", "b"], t0), Writes::Careful);
        let later = t0 + Duplicates::CAREFUL_FOR - Duration::from_secs(1);
        assert_eq!(d.first_writes(["b"], later), Writes::Careful);
        assert_eq!(
            d.first_writes(["b"], t0 + Duplicates::CAREFUL_FOR),
            Writes::Fast
        );
        // Noted again: careful from then on.
        let again = t0 + Duplicates::CAREFUL_FOR * 2;
        d.noted(["b"], again, Writes::Careful);
        assert_eq!(d.first_writes(["b"], again), Writes::Careful);
        // A source noted probed, then careful, stays careful; the most careful of a group wins.
        d.noted(["a"], again, Writes::Probed);
        assert_eq!(d.first_writes(["a"], again), Writes::Probed);
        assert_eq!(d.first_writes(["a", "b"], again), Writes::Careful);
        d.noted(["a"], again, Writes::Careful);
        d.noted(["a"], again, Writes::Probed);
        assert_eq!(d.first_writes(["a"], again), Writes::Careful);
        // Once that has lapsed, a new note is what counts.
        let last = again + Duplicates::CAREFUL_FOR;
        d.noted(["a"], last, Writes::Probed);
        assert_eq!(d.first_writes(["a"], last), Writes::Probed);
    }

    #[test]
    fn only_a_unique_violation_of_a_plain_transaction_runs_it_again() {
        let mut writes = Writes::Careful;
        let mut races = 0;
        let other = anyhow::anyhow!("connection reset");
        assert!(!super::run_again(&other, &mut races, &mut writes, ["c"]));
        for plain in [Writes::Fast, Writes::Probed] {
            writes = plain;
            assert!(!super::run_again(&other, &mut races, &mut writes, ["c"]));
            assert_eq!(writes, plain);
        }
        assert!(Writes::Fast.plain() && Writes::Probed.plain() && !Writes::Careful.plain());
    }
}
