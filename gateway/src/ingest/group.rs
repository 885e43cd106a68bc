//! Group commit: concurrent small pushes share one transaction.
//!
//! A single-record push cost PostgreSQL about a millisecond of CPU, most of it per transaction
//! (BEGIN, COMMIT and its WAL flush, a round trip per statement), not per row. Pushes of at
//! most `ingest.group_commit_records` records therefore go to a few committer tasks
//! (`ingest.group_commit_workers`); a committer that becomes free takes every push waiting (up
//! to [`GROUP_RECORDS`] records) and writes them with the bulk statements a large batch uses, in
//! one transaction ([`store::commit_group`]). An idle node commits a push at once (a free
//! committer is waiting for it); under load a queue forms while the committers are busy, and
//! the groups grow with it.
//!
//! Nothing about a push changes: it is acknowledged only after the COMMIT that made it durable,
//! and gets the receipt it would have got alone. A group that fails (or holds a client batch id
//! already stored) is rolled back and its pushes committed one by one.

use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::Prepared;
use super::receipt::Receipt;
use super::store::{self, BatchMeta};
use crate::certificates::Issuer;

/// Most records one group transaction writes (the batch size that ingests fastest, bench/).
pub const GROUP_RECORDS: usize = 500;

struct Push {
    meta: BatchMeta,
    prepared: Prepared,
    reply: oneshot::Sender<anyhow::Result<Receipt>>,
}

/// The queue of pushes waiting for a committer.
pub struct GroupCommit {
    queue: mpsc::UnboundedSender<Push>,
    max_records: usize,
}

impl GroupCommit {
    /// Start `workers` committer tasks. Pushes of more than `max_records` records (and all of
    /// them when `max_records` or `workers` is 0) are left to the caller to commit alone.
    pub fn start(pool: Pool, issuer: Arc<Issuer>, workers: usize, max_records: usize) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..workers {
            tokio::spawn(committer(pool.clone(), issuer.clone(), rx.clone()));
        }
        GroupCommit {
            queue,
            max_records: if workers == 0 { 0 } else { max_records },
        }
    }

    /// Whether a push of `records` records goes through a group.
    pub fn takes(&self, records: usize) -> bool {
        records <= self.max_records
    }

    /// Commit the push in the next group; its receipt once that group is durable.
    pub async fn commit(&self, meta: BatchMeta, prepared: Prepared) -> anyhow::Result<Receipt> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Push {
                meta,
                prepared,
                reply,
            })
            .map_err(|_| anyhow::anyhow!("the group committers have stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the group committer stopped before answering"))?
    }
}

async fn committer(pool: Pool, issuer: Arc<Issuer>, rx: Arc<Mutex<mpsc::UnboundedReceiver<Push>>>) {
    loop {
        let group = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else {
                return; // the gateway is shutting down
            };
            let mut records = first.prepared.len();
            let mut group = vec![first];
            while records < GROUP_RECORDS {
                match rx.try_recv() {
                    Ok(push) => {
                        records += push.prepared.len();
                        group.push(push);
                    }
                    Err(_) => break,
                }
            }
            group
        };
        metrics::histogram!("gateway_ingest_group_pushes").record(group.len() as f64);
        // In a task of its own: were it to panic, its pushes are answered with an error (their
        // reply channels are dropped) and this committer goes on with the next group.
        let job = tokio::spawn(commit(pool.clone(), issuer.clone(), group));
        if let Err(e) = job.await {
            tracing::error!(error = %e, "group commit task failed");
        }
    }
}

/// Commit the group and answer each push.
async fn commit(pool: Pool, issuer: Arc<Issuer>, group: Vec<Push>) {
    let issuer = issuer.as_ref();
    let db = match pool.get().await {
        Ok(db) => db,
        Err(e) => {
            let msg = format!("no database connection: {e}");
            for push in group {
                let _ = push.reply.send(Err(anyhow::anyhow!(msg.clone())));
            }
            return;
        }
    };
    if let [_] = group.as_slice() {
        let push = group.into_iter().next().expect("one push");
        let receipt = store::commit(&db, &push.meta, push.prepared, issuer, false).await;
        let _ = push.reply.send(receipt);
        return;
    }
    let (metas, rest): (Vec<BatchMeta>, Vec<_>) = group
        .into_iter()
        .map(|p| (p.meta, (p.prepared, p.reply)))
        .unzip();
    let (prepared, replies): (Vec<Prepared>, Vec<_>) = rest.into_iter().unzip();
    let refs: Vec<&BatchMeta> = metas.iter().collect();
    match store::commit_group(&db, &refs, &prepared, issuer).await {
        Ok(Some(receipts)) => {
            for (reply, receipt) in replies.into_iter().zip(receipts) {
                let _ = reply.send(Ok(receipt));
            }
            return;
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(
            pushes = metas.len(),
            error = format!("{e:#}"),
            "group commit failed; committing its pushes one by one"
        ),
    }
    for ((meta, prepared), reply) in metas.iter().zip(prepared).zip(replies) {
        let receipt = store::commit(&db, meta, prepared, issuer, false).await;
        let _ = reply.send(receipt);
    }
}
