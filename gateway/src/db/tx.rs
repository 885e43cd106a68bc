//! A transaction whose `BEGIN` travels with its first statement.
//!
//! tokio-postgres' `Client::transaction` awaits `BEGIN` alone before it hands out the
//! transaction: a round trip of its own, a wake-up of the backend and of the caller on cores
//! they share with everything else. A small push makes four round trips (`BEGIN`, the records,
//! the rest, `COMMIT`), so that one was a quarter of its latency (bench/README.md). [`Tx`]
//! sends `BEGIN` without waiting; tokio-postgres pipelines the statements sent behind it, and
//! the caller awaits `BEGIN`'s answer ([`Tx::begun`]) once its first statement is answered too.
//!
//! Like tokio-postgres' own transaction, a [`Tx`] dropped before [`Tx::commit`] or
//! [`Tx::rollback`] sends `ROLLBACK` on its way out, so the pooled connection is handed on
//! outside any transaction (the next caller's statements queue behind that `ROLLBACK`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::Poll;

use deadpool_postgres::Client;
use futures_util::FutureExt;

type Answer<'a> = Pin<Box<dyn Future<Output = Result<(), tokio_postgres::Error>> + Send + 'a>>;

/// An open transaction on a pooled connection; statements go through [`Tx::client`].
pub struct Tx<'a> {
    client: &'a Client,
    /// `BEGIN`'s answer, until someone has awaited it.
    begin: Mutex<Option<Answer<'a>>>,
    open: bool,
}

impl<'a> Tx<'a> {
    /// Send `BEGIN` and return without its answer.
    pub async fn begin(client: &'a Client) -> Tx<'a> {
        Self::begin_with(client, "BEGIN").await
    }

    /// [`Tx::begin`] for a transaction of a few rows: its statements run on generic plans.
    /// PostgreSQL planned the records statement of a small push afresh on every call (a
    /// custom plan: 0.18 ms of its 0.7), as its generic plan's estimate is higher; for a few
    /// rows both plans are the same index probes. Larger transactions keep custom plans,
    /// which size their joins to the arrays they are given.
    pub async fn begin_small(client: &'a Client) -> Tx<'a> {
        Self::begin_with(
            client,
            "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan",
        )
        .await
    }

    async fn begin_with(client: &'a Client, begin: &'a str) -> Tx<'a> {
        let mut begin: Answer<'a> = Box::pin(client.batch_execute(begin));
        // tokio-postgres sends a request when its future is first polled: this one goes out
        // now, ahead of every statement of the transaction.
        let answer = std::future::poll_fn(|cx| Poll::Ready(begin.as_mut().poll(cx))).await;
        let begin = match answer {
            Poll::Ready(done) => Box::pin(std::future::ready(done)),
            Poll::Pending => begin,
        };
        Tx {
            client,
            begin: Mutex::new(Some(begin)),
            open: true,
        }
    }

    /// The connection, to send the transaction's statements on.
    pub fn client(&self) -> &'a Client {
        self.client
    }

    /// Wait for `BEGIN`'s answer (at once, after the first time). Await it before anything
    /// that would be wrong outside the transaction, at the latest before [`Tx::commit`].
    pub async fn begun(&self) -> Result<(), tokio_postgres::Error> {
        let pending = self.begin.lock().expect("not poisoned").take();
        match pending {
            Some(answer) => answer.await,
            None => Ok(()),
        }
    }

    /// `COMMIT`, once `BEGIN` has been answered.
    pub async fn commit(mut self) -> Result<(), tokio_postgres::Error> {
        self.begun().await?;
        self.open = false;
        self.client.batch_execute("COMMIT").await
    }

    /// `ROLLBACK`, awaited.
    pub async fn rollback(mut self) -> Result<(), tokio_postgres::Error> {
        self.open = false;
        self.client.batch_execute("ROLLBACK").await
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            // Polled once, the request is queued on the connection; its answer is dropped.
            let _ = self.client.batch_execute("ROLLBACK").now_or_never();
        }
    }
}
