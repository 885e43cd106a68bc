//! `gateway audit verify`: recompute the chain from the stored rows and check it against the
//! head the parent acknowledged. Reports the first broken link (and the others, up to a limit);
//! exit 1 on any problem, 0 when the chain is sound.
//!
//! What the walk finds: a changed row (its recomputed hash is not its `row_hash`), a deleted row
//! (a gap in `chain_seq`), relinked chain columns (a `prev_hash` that is not the previous row's
//! `row_hash`). What only the parent's head finds: a chain cut short at the end (the newest rows
//! deleted), or rewritten and re-hashed up to the acknowledged seq.

use clap::Subcommand;
use serde::Serialize;

use super::chain::{Audited, FIELDS, GENESIS, Head};
use super::heads;
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the audit trail's hash chain: recompute every link from the rows, and compare
    /// with the head the parent node acknowledged (when the node has a parent). Exit 0 sound,
    /// 1 broken (the first broken link is reported).
    Verify {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Also fail when the parent's head cannot be fetched.
        #[arg(long)]
        strict: bool,
    },
}

/// Problems beyond this many are counted, not listed.
const MAX_LISTED: usize = 100;

/// Rows read per query while walking the chain.
const PAGE: i64 = 5_000;

/// One broken link.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Broken {
    /// The row's audited fields do not hash to its stored `row_hash`.
    Changed {
        seq: i64,
        id: i64,
        expected: String,
        stored: String,
    },
    /// `chain_seq` skips from `after` to `next`: the rows in between were deleted.
    Missing { from_seq: i64, to_seq: i64 },
    /// The row's `prev_hash` is not the previous row's `row_hash`.
    Relinked {
        seq: i64,
        id: i64,
        expected: String,
        stored: String,
    },
    /// The parent acknowledged seq `seq` with `hash`, and the local chain ends before it.
    Truncated {
        parent: String,
        seq: i64,
        hash: String,
        local_head_seq: i64,
    },
    /// The parent acknowledged seq `seq` with `hash`, and the local row at `seq` has another.
    Diverged {
        parent: String,
        seq: i64,
        hash: String,
        local: String,
    },
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Broken::Changed {
                seq,
                id,
                expected,
                stored,
            } => write!(
                f,
                "row id {id} (seq {seq}) was changed: its fields hash to {expected}, the chain stores {stored}"
            ),
            Broken::Missing { from_seq, to_seq } if from_seq == to_seq => {
                write!(f, "seq {from_seq} is missing: the row was deleted")
            }
            Broken::Missing { from_seq, to_seq } => write!(
                f,
                "seq {from_seq}..{to_seq} are missing: {} rows were deleted",
                to_seq - from_seq + 1
            ),
            Broken::Relinked {
                seq,
                id,
                expected,
                stored,
            } => write!(
                f,
                "row id {id} (seq {seq}) is relinked: prev_hash {stored}, the previous row's hash is {expected}"
            ),
            Broken::Truncated {
                parent,
                seq,
                hash,
                local_head_seq,
            } => write!(
                f,
                "the chain was truncated: parent {parent} acknowledged seq {seq} (hash {hash}), the local chain ends at seq {local_head_seq}"
            ),
            Broken::Diverged {
                parent,
                seq,
                hash,
                local,
            } => write!(
                f,
                "the chain was rewritten: parent {parent} acknowledged seq {seq} with hash {hash}, the local row at seq {seq} has {local}"
            ),
        }
    }
}

/// The walk over the stored chain, fed row by row in `chain_seq` order.
#[derive(Debug, Default)]
pub struct Walk {
    /// Rows walked.
    pub chained: i64,
    /// The last row walked.
    pub head: Option<Head>,
    pub problems: Vec<Broken>,
    /// Problems found (listed or not).
    pub problem_count: usize,
}

impl Walk {
    fn problem(&mut self, p: Broken) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(p);
        }
    }

    /// Check one row against the previous one. After a problem the walk goes on from the stored
    /// hashes, so every broken link is found, not only the first.
    pub fn row(&mut self, seq: i64, prev_hash: &[u8], row_hash: &[u8], row: &Audited) {
        let (expected_seq, expected_prev) = match &self.head {
            Some(h) => (h.seq + 1, h.hash.as_slice()),
            None => (1, GENESIS.as_slice()),
        };
        if seq != expected_seq {
            self.problem(Broken::Missing {
                from_seq: expected_seq,
                to_seq: seq - 1,
            });
        } else if prev_hash != expected_prev {
            self.problem(Broken::Relinked {
                seq,
                id: row.id,
                expected: hex::encode(expected_prev),
                stored: hex::encode(prev_hash),
            });
        }
        let recomputed = row.hash(prev_hash);
        if recomputed.as_slice() != row_hash {
            self.problem(Broken::Changed {
                seq,
                id: row.id,
                expected: hex::encode(recomputed),
                stored: hex::encode(row_hash),
            });
        }
        self.chained += 1;
        self.head = Some(Head {
            seq,
            hash: row_hash.to_vec(),
        });
    }
}

/// The whole report.
#[derive(Debug, Serialize)]
struct Report {
    sound: bool,
    chained: i64,
    /// Rows committed but not chained yet (the chainer links them within a second or so).
    pending: i64,
    head: Option<HeadJson>,
    first_problem: Option<Broken>,
    problems: Vec<Broken>,
    problem_count: usize,
    parent: ParentCheck,
}

#[derive(Debug, Serialize)]
struct HeadJson {
    seq: i64,
    hash: String,
}

/// The check against the parent's acknowledged head.
#[derive(Debug, Serialize)]
struct ParentCheck {
    /// `consistent`, `broken`, `no_head` (the parent holds none yet), `skipped` (could not
    /// ask), `none` (this node has no parent).
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    held: Option<heads::HeldHead>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

pub async fn run(cmd: AuditCommand, config: &Config) -> anyhow::Result<()> {
    let AuditCommand::Verify { json, strict } = cmd;
    let pool = crate::db::connect(config).await?;
    let db = pool.get().await?;
    let mut walk = Walk::default();
    let mut after = 0i64;
    loop {
        let rows = db
            .query(
                &format!(
                    "SELECT chain_seq, prev_hash, row_hash, {FIELDS} FROM audit_log
                     WHERE chain_seq > $1 ORDER BY chain_seq LIMIT $2"
                ),
                &[&after, &PAGE],
            )
            .await?;
        for r in &rows {
            let seq: i64 = r.get(0);
            // The table's checks keep both hashes set on a chained row; a tampered table may not.
            let hash = |i: usize| r.get::<_, Option<&[u8]>>(i).unwrap_or_default();
            walk.row(seq, hash(1), hash(2), &Audited::from_row(r, 3));
            after = seq;
        }
        if (rows.len() as i64) < PAGE {
            break;
        }
    }
    let pending: i64 = db
        .query_one(
            "SELECT count(*) FROM audit_log WHERE chain_seq IS NULL",
            &[],
        )
        .await?
        .get(0);

    let parent = match &config.federation.parent {
        None => ParentCheck {
            status: "none",
            region: None,
            held: None,
            detail: None,
        },
        Some(p) => {
            let fetched = async {
                let client = crate::client::ExchangeClient::to_parent(config, p)?;
                heads::fetch_held(&client).await
            }
            .await;
            let mut check = ParentCheck {
                status: "consistent",
                region: Some(p.region.clone()),
                held: None,
                detail: None,
            };
            match fetched {
                Err(e) => {
                    check.status = "skipped";
                    check.detail = Some(format!("cannot fetch the parent's head: {e:#}"));
                }
                Ok((None, _)) => check.status = "no_head",
                Ok((Some(held), earlier)) => {
                    let local: Option<Vec<u8>> = db
                        .query_opt(
                            "SELECT row_hash FROM audit_log WHERE chain_seq = $1",
                            &[&held.seq],
                        )
                        .await?
                        .map(|r| r.get(0));
                    let local_head_seq = walk.head.as_ref().map_or(0, |h| h.seq);
                    let problem = match local {
                        _ if local_head_seq < held.seq => Some(Broken::Truncated {
                            parent: p.region.clone(),
                            seq: held.seq,
                            hash: held.hash.clone(),
                            local_head_seq,
                        }),
                        Some(h) if hex::encode(&h) == held.hash => None,
                        // A row deleted at exactly that seq is already a gap of the walk; it
                        // still differs from what the parent acknowledged.
                        local => Some(Broken::Diverged {
                            parent: p.region.clone(),
                            seq: held.seq,
                            hash: held.hash.clone(),
                            local: local.map_or("no row".into(), hex::encode),
                        }),
                    };
                    // Every earlier acknowledgement must still match: a chain rewritten and
                    // re-hashed, then acknowledged higher, still differs from those.
                    let problem = match problem {
                        Some(p) => Some(p),
                        None => first_diverged(&db, &p.region, &earlier).await?,
                    };
                    if let Some(problem) = problem {
                        check.status = "broken";
                        check.detail = Some(problem.to_string());
                        walk.problem(problem);
                    }
                    check.held = Some(held);
                }
            }
            check
        }
    };
    let skipped_but_strict = strict && parent.status == "skipped";
    let report = Report {
        sound: walk.problem_count == 0 && !skipped_but_strict,
        chained: walk.chained,
        pending,
        head: walk.head.as_ref().map(|h| HeadJson {
            seq: h.seq,
            hash: hex::encode(&h.hash),
        }),
        first_problem: walk.problems.first().cloned(),
        problems: walk.problems.clone(),
        problem_count: walk.problem_count,
        parent,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    if let Some(first) = &report.first_problem {
        anyhow::bail!("the audit chain is broken: {first}");
    }
    anyhow::ensure!(
        !skipped_but_strict,
        "the parent's head could not be checked (--strict)"
    );
    Ok(())
}

fn print_text(r: &Report) {
    match &r.head {
        Some(h) => println!(
            "audit chain: {} row(s) chained, head seq {} hash {}; {} row(s) waiting to be chained",
            r.chained, h.seq, h.hash, r.pending
        ),
        None => println!(
            "audit chain: no row chained yet; {} row(s) waiting to be chained",
            r.pending
        ),
    }
    let p = &r.parent;
    let region = p.region.as_deref().unwrap_or("-");
    match (p.status, &p.held) {
        ("none", _) => println!("parent: none (a root node: truncation cannot be checked here)"),
        ("no_head", _) => println!("parent {region}: holds no head for this node yet"),
        ("consistent", Some(h)) => println!(
            "parent {region}: acknowledged seq {} hash {}: consistent",
            h.seq, h.hash
        ),
        _ => println!(
            "parent {region}: {} ({})",
            p.status,
            p.detail.as_deref().unwrap_or("")
        ),
    }
    if let Some(first) = &r.first_problem {
        println!("first broken link: {first}");
        for p in r.problems.iter().skip(1) {
            println!("also: {p}");
        }
        if r.problem_count > r.problems.len() {
            println!("… and {} more", r.problem_count - r.problems.len());
        }
    } else if r.sound {
        println!("sound");
    }
}

/// The oldest of `earlier` (heads the parent acknowledged) whose row differs locally.
async fn first_diverged(
    db: &deadpool_postgres::Client,
    parent: &str,
    earlier: &[heads::HeldHead],
) -> anyhow::Result<Option<Broken>> {
    for head in earlier.iter().rev() {
        let local: Option<Vec<u8>> = db
            .query_opt(
                "SELECT row_hash FROM audit_log WHERE chain_seq = $1",
                &[&head.seq],
            )
            .await?
            .map(|r| r.get(0));
        if local.as_ref().map(hex::encode).as_deref() != Some(head.hash.as_str()) {
            return Ok(Some(Broken::Diverged {
                parent: parent.to_owned(),
                seq: head.seq,
                hash: head.hash.clone(),
                local: local.map_or("no row".into(), hex::encode),
            }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: i64) -> Vec<(i64, Vec<u8>, Vec<u8>, Audited)> {
        let mut prev = GENESIS.to_vec();
        (1..=n)
            .map(|seq| {
                let row = Audited {
                    id: seq + 10,
                    at: chrono::DateTime::from_timestamp(1_800_000_000 + seq, 0).unwrap(),
                    principal_id: "xifeng-approver".into(),
                    principal_kind: "certificate".into(),
                    role: "approver".into(),
                    node_region: "621000000000".into(),
                    action: "records.query".into(),
                    target: format!("case_no=C{seq}"),
                    purpose: "审批".into(),
                    results: 1,
                    request_id: None,
                };
                let hash = row.hash(&prev).to_vec();
                (seq, std::mem::replace(&mut prev, hash.clone()), hash, row)
            })
            .collect()
    }

    fn walk(rows: &[(i64, Vec<u8>, Vec<u8>, Audited)]) -> Walk {
        let mut w = Walk::default();
        for (seq, prev, hash, row) in rows {
            w.row(*seq, prev, hash, row);
        }
        w
    }

    #[test]
    fn a_sound_chain_has_no_problem() {
        let w = walk(&rows(5));
        assert_eq!((w.chained, w.problem_count), (5, 0));
        assert_eq!(w.head.unwrap().seq, 5);
    }

    #[test]
    fn a_changed_row_is_the_only_broken_link() {
        let mut r = rows(5);
        r[2].3.purpose = "好奇".into();
        let w = walk(&r);
        assert_eq!(w.problem_count, 1, "{:?}", w.problems);
        assert!(
            matches!(&w.problems[0], Broken::Changed { seq: 3, id: 13, expected, stored }
                if *stored == hex::encode(&r[2].2) && *expected != *stored)
        );
    }

    #[test]
    fn a_deleted_row_is_a_gap() {
        let mut r = rows(6);
        r.drain(2..4);
        let w = walk(&r);
        assert_eq!(
            w.problems,
            [Broken::Missing {
                from_seq: 3,
                to_seq: 4
            }]
        );
    }

    #[test]
    fn relinked_chain_columns_are_found() {
        let mut r = rows(3);
        // Row 3 re-hashed over another prev_hash (consistent with itself, not with row 2).
        r[2].1 = GENESIS.to_vec();
        r[2].2 = r[2].3.hash(&GENESIS).to_vec();
        let w = walk(&r);
        assert_eq!(w.problem_count, 1);
        assert!(matches!(w.problems[0], Broken::Relinked { seq: 3, .. }));
    }
}
