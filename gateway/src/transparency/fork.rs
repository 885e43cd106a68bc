//! The fork guard: a node never signs a checkpoint that contradicts one its parent already
//! cosigned.
//!
//! A restore to a point in time (docs/backup.md) rolls the log back: the parent may hold a
//! cosigned checkpoint of a larger tree, or of a tree whose leaves the restored node no longer
//! has. Signing new checkpoints then would publish a second history — a fork. What the node
//! knows locally cannot tell (the restore rolled back whatever it kept), so the parent is asked:
//! the witness round ([`super::witness`]) learns the size the parent holds (`409
//! log.witness_conflict`) or that it refuses the tree as inconsistent (`422 log.inconsistent`).
//!
//! State lives in `tlog_fork_events` (the latest non-`forget` row counts):
//! - `hold`: written by `gateway db restore` (or `gateway log-fork hold`): sign nothing until
//!   the parent confirmed the log; a confirmation writes `clear`.
//! - `fork`: the parent holds a tree this log does not extend: sign nothing, log an error, set
//!   the `gateway_tlog_fork` gauge; only an operator resolves it (`gateway log-fork accept
//!   --reason`, recorded) — and the parent's operator must drop the checkpoint it holds
//!   (`gateway log-fork forget --child … --reason`) before it cosigns this log again.
//!
//! The sequencer calls [`guard`] before appending leaves and signing.

use clap::Subcommand;
use deadpool_postgres::GenericClient;

use crate::config::Config;

/// The latest state of this node's own log: (state, local size, parent size, reason).
pub struct Latest {
    pub state: String,
    pub at: chrono::DateTime<chrono::Utc>,
    pub local_size: Option<i64>,
    pub parent_size: Option<i64>,
    pub reason: String,
}

pub async fn latest(db: &impl GenericClient) -> anyhow::Result<Option<Latest>> {
    let row = db
        .query_opt(
            "SELECT state, at, local_size, parent_size, reason FROM tlog_fork_events
             WHERE state <> 'forget' ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await?;
    Ok(row.map(|r| Latest {
        state: r.get(0),
        at: r.get(1),
        local_size: r.get(2),
        parent_size: r.get(3),
        reason: r.get(4),
    }))
}

/// Whether signing is held (`hold` or `fork`).
pub fn holds(latest: &Option<Latest>) -> bool {
    latest
        .as_ref()
        .is_some_and(|l| l.state == "hold" || l.state == "fork")
}

/// Before the sequencer appends and signs: refuse while a fork or a hold is unresolved.
pub async fn guard(db: &impl GenericClient) -> anyhow::Result<()> {
    let latest = latest(db).await?;
    let fork = latest.as_ref().is_some_and(|l| l.state == "fork");
    metrics::gauge!("gateway_tlog_fork").set(if fork { 1.0 } else { 0.0 });
    metrics::gauge!("gateway_tlog_signing_held").set(if holds(&latest) { 1.0 } else { 0.0 });
    match latest {
        Some(l) if l.state == "fork" => anyhow::bail!(
            "not signing checkpoints: the parent cosigned size {} of this log, which the local \
             tree (size {}) does not extend; resolve with `gateway log-fork` (docs/backup.md)",
            l.parent_size.unwrap_or(-1),
            l.local_size.unwrap_or(-1)
        ),
        Some(l) if l.state == "hold" => anyhow::bail!(
            "not signing checkpoints until the parent confirms the log ({})",
            l.reason
        ),
        _ => Ok(()),
    }
}

/// Append an event.
pub async fn record(
    db: &impl GenericClient,
    state: &str,
    origin: Option<&str>,
    local_size: Option<u64>,
    parent_size: Option<u64>,
    reason: &str,
) -> anyhow::Result<()> {
    db.execute(
        "INSERT INTO tlog_fork_events (state, origin, local_size, parent_size, reason)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &state,
            &origin,
            &local_size.map(|s| s as i64),
            &parent_size.map(|s| s as i64),
            &reason,
        ],
    )
    .await?;
    Ok(())
}

/// The witness found that the parent holds `parent_size`, which the local tree of
/// `local_size` does not extend: hold signing (once per parent size) and say so loudly.
pub async fn detected(
    db: &impl GenericClient,
    witness: &str,
    local_size: u64,
    parent_size: u64,
    why: &str,
) -> anyhow::Result<()> {
    let latest = latest(db).await?;
    let known = latest.as_ref().is_some_and(|l| {
        (l.state == "fork" || l.state == "accepted") && l.parent_size == Some(parent_size as i64)
    });
    if !known {
        record(
            db,
            "fork",
            None,
            Some(local_size),
            Some(parent_size),
            &format!("witness {witness}: {why}"),
        )
        .await?;
        metrics::gauge!("gateway_tlog_fork").set(1.0);
        tracing::error!(
            witness,
            local_size,
            parent_size,
            why,
            "the transparency log would fork from what the parent cosigned: checkpoints are no \
             longer signed until an operator resolves it (gateway log-fork, docs/backup.md)"
        );
    }
    Ok(())
}

/// `gateway log-fork …`: inspect and resolve the fork guard.
#[derive(Subcommand, Debug)]
pub enum ForkCommand {
    /// Show the guard's state and its history.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Hold signing until the parent confirmed the log (after restoring the database by other
    /// means than `gateway db restore`, which does this itself).
    Hold {
        #[arg(long)]
        reason: String,
    },
    /// Accept a detected fork: sign again from the local tree. The parent still refuses to
    /// cosign until its operator runs `gateway log-fork forget` for this node.
    Accept {
        /// Why (recorded with the time and the sizes).
        #[arg(long)]
        reason: String,
    },
    /// As a witness (the parent): drop the checkpoint held for a child's log, so the child's
    /// next checkpoint is cosigned as a new start. Recorded with the held size.
    Forget {
        /// The child's region code.
        #[arg(long)]
        child: String,
        #[arg(long)]
        reason: String,
    },
}

pub async fn run(cmd: ForkCommand, config: &Config) -> anyhow::Result<()> {
    let pool = crate::db::connect(config).await?;
    let db = pool.get().await?;
    match cmd {
        ForkCommand::Status { json } => {
            let rows = db
                .query(
                    "SELECT seq, at, state, origin, local_size, parent_size, reason
                     FROM tlog_fork_events ORDER BY seq",
                    &[],
                )
                .await?;
            let latest = latest(&db).await?;
            let state = latest.as_ref().map_or("clear", |l| l.state.as_str());
            if json {
                let events: Vec<_> = rows
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "seq": r.get::<_, i64>(0),
                            "at": r.get::<_, chrono::DateTime<chrono::Utc>>(1),
                            "state": r.get::<_, String>(2),
                            "origin": r.get::<_, Option<String>>(3),
                            "local_size": r.get::<_, Option<i64>>(4),
                            "parent_size": r.get::<_, Option<i64>>(5),
                            "reason": r.get::<_, String>(6),
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "state": state,
                        "signing": !holds(&latest),
                        "events": events,
                    }))?
                );
            } else {
                println!(
                    "state: {state} (signing {})",
                    if holds(&latest) { "held" } else { "allowed" }
                );
                for r in &rows {
                    println!(
                        "{} {} {:<8} local {:?} parent {:?} {}",
                        r.get::<_, i64>(0),
                        r.get::<_, chrono::DateTime<chrono::Utc>>(1),
                        r.get::<_, String>(2),
                        r.get::<_, Option<i64>>(4),
                        r.get::<_, Option<i64>>(5),
                        r.get::<_, String>(6)
                    );
                }
            }
        }
        ForkCommand::Hold { reason } => {
            let size = super::store::size(&db).await?;
            record(&db, "hold", None, Some(size), None, &reason).await?;
            println!("signing held at size {size} until the parent confirms the log");
        }
        ForkCommand::Accept { reason } => {
            let latest = latest(&db).await?;
            let Some(l) = latest.filter(|l| l.state == "fork") else {
                anyhow::bail!("no fork to accept (see `gateway log-fork status`)");
            };
            let size = super::store::size(&db).await?;
            record(
                &db,
                "accepted",
                None,
                Some(size),
                l.parent_size.map(|s| s as u64),
                &reason,
            )
            .await?;
            println!(
                "fork accepted: signing resumes from size {size}; the parent's operator must run \
                 `gateway log-fork forget --child {} --reason …` before it cosigns again",
                config.node.region
            );
        }
        ForkCommand::Forget { child, reason } => {
            let pattern = format!("%/log/{child}");
            let held = db
                .query_opt(
                    "DELETE FROM tlog_witnessed WHERE origin LIKE $1 RETURNING origin, tree_size",
                    &[&pattern],
                )
                .await?;
            let Some(held) = held else {
                anyhow::bail!("this node holds no checkpoint of {child}'s log");
            };
            let (origin, size): (String, i64) = (held.get(0), held.get(1));
            record(
                &db,
                "forget",
                Some(&origin),
                None,
                Some(size as u64),
                &reason,
            )
            .await?;
            println!("dropped the checkpoint of size {size} held for {origin}");
        }
    }
    Ok(())
}
