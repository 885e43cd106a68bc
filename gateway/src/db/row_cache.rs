//! Rows that nearly every request reads and that seldom change (principals, certificate
//! statuses, this node's latest checkpoints), held in memory and kept current across every process that shares the database.
//!
//! Triggers (migration 0018) `NOTIFY gateway_rows, '<table>:<key>'` when such a row changes;
//! PostgreSQL delivers the notification when the change commits. Each process listens on a
//! connection of its own ([`spawn`]) and forgets the key it hears. A copy is used only while
//! that connection is listening: when it drops, every copy is forgotten and lookups read the
//! database until it listens again (changes made meanwhile went unheard). A lookup that raced
//! with a change keeps nothing ([`Ticket`]), so a copy is never older than the last
//! notification this process received: a change made anywhere is seen here once its
//! notification arrives, well under a millisecond after the commit on one network.
//! `database.row_cache = false` turns it off: every request then reads the rows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio_postgres::{AsyncMessage, NoTls};

use crate::principals::Principal;
use crate::transparency::store::LatestCheckpoints;

/// The channel the triggers notify.
pub const CHANNEL: &str = "gateway_rows";

/// A bound on each table's copies: past it they are all forgotten and read again.
const MAX: usize = 100_000;

/// The tables held in memory.
pub struct Rows {
    /// Principals by id.
    pub principals: Held<Principal>,
    /// Certificate status (`valid`, `suspended`, `revoked`) by identifier.
    pub statuses: Held<String>,
    /// This node's latest checkpoint and latest cosigned size, under [`OWN_LOG`].
    pub checkpoints: Held<LatestCheckpoints>,
}

/// The key of [`Rows::checkpoints`]' one entry.
pub const OWN_LOG: &str = "own";

impl Default for Rows {
    fn default() -> Self {
        Rows {
            principals: Held::new("principals"),
            statuses: Held::new("certificates"),
            checkpoints: Held::new("tlog_checkpoints"),
        }
    }
}

impl Rows {
    /// What a notification's payload (`<table>:<key>`) says changed.
    fn heard(&self, payload: &str) {
        match payload.split_once(':') {
            Some(("principals", id)) => self.principals.forget(id),
            Some(("certificates", identifier)) => self.statuses.forget(identifier),
            Some(("tlog_checkpoints", _)) => self.checkpoints.forget(OWN_LOG),
            // Not ours to know: forgetting everything is always safe.
            _ => self.set_listening(self.principals.listening()),
        }
    }

    fn set_listening(&self, listening: bool) {
        self.principals.set_listening(listening);
        self.statuses.set_listening(listening);
        self.checkpoints.set_listening(listening);
        metrics::gauge!("gateway_row_cache_listening").set(if listening { 1.0 } else { 0.0 });
    }
}

/// One table's copies.
pub struct Held<V> {
    table: &'static str,
    state: Mutex<State<V>>,
    /// The read counters (from memory, from the database), registered on the first read (when
    /// the process's recorder is installed) instead of looked up by name on every read.
    reads: std::sync::OnceLock<[metrics::Counter; 2]>,
}

struct State<V> {
    listening: bool,
    /// Moves on every change heard and every change of `listening`.
    generation: u64,
    map: HashMap<String, V>,
}

impl<V> Held<V> {
    fn new(table: &'static str) -> Self {
        Held {
            table,
            state: Mutex::new(State {
                listening: false,
                generation: 0,
                map: HashMap::new(),
            }),
            reads: std::sync::OnceLock::new(),
        }
    }
}

/// Taken before reading a row from the database, handed back to keep what was read: it is
/// kept only if nothing changed meanwhile.
#[must_use]
pub struct Ticket(Option<u64>);

impl<V: Clone> Held<V> {
    fn state(&self) -> MutexGuard<'_, State<V>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The copy of `key`, if one is held and current (the caller reads the row otherwise).
    pub fn get(&self, key: &str) -> Option<V> {
        let copy = {
            let state = self.state();
            state
                .listening
                .then(|| state.map.get(key).cloned())
                .flatten()
        };
        let [memory, database] = self.reads.get_or_init(|| {
            let table = self.table;
            ["memory", "database"].map(|from| {
                metrics::counter!("gateway_row_cache_reads_total", "table" => table, "from" => from)
            })
        });
        if copy.is_some() { memory } else { database }.increment(1);
        copy
    }

    /// Take before reading the row from the database.
    pub fn ticket(&self) -> Ticket {
        let state = self.state();
        Ticket(state.listening.then_some(state.generation))
    }

    /// Keep `value`, read from the database after `ticket` was taken, unless something changed
    /// since (or this process was not listening).
    pub fn keep(&self, ticket: Ticket, key: &str, value: V) {
        let mut state = self.state();
        if ticket.0 != Some(state.generation) || !state.listening {
            return;
        }
        if state.map.len() >= MAX {
            state.map.clear();
        }
        state.map.insert(key.to_owned(), value);
    }

    fn forget(&self, key: &str) {
        let mut state = self.state();
        state.generation += 1;
        state.map.remove(key);
    }

    /// Whether copies are kept (this process is listening for changes).
    pub fn listening(&self) -> bool {
        self.state().listening
    }

    fn set_listening(&self, listening: bool) {
        let mut state = self.state();
        state.generation += 1;
        state.map.clear();
        state.listening = listening;
    }
}

/// Listen for changes for as long as the process runs, reconnecting after a second when the
/// connection drops.
pub fn spawn(rows: Arc<Rows>, url: String) -> anyhow::Result<()> {
    let config: tokio_postgres::Config = url.parse()?;
    tokio::spawn(async move {
        let mut warned = false;
        loop {
            match listen(&rows, &config).await {
                Ok(()) => tracing::warn!("the row cache's listening connection closed"),
                Err(e) if !warned => {
                    tracing::warn!(error = %e, "the row cache cannot listen; reading rows from the database until it can");
                    warned = true;
                }
                Err(_) => {}
            }
            rows.set_listening(false);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    Ok(())
}

/// One listening connection, until it drops.
async fn listen(rows: &Arc<Rows>, config: &tokio_postgres::Config) -> anyhow::Result<()> {
    let mut config = config.clone();
    config.application_name("exchange-gateway row cache");
    config.connect_timeout(Duration::from_secs(5));
    let (client, mut connection) = config.connect(NoTls).await?;
    let heard = rows.clone();
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => heard.heard(n.payload()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    // Anything read before now may have changed unheard: start from nothing.
    rows.set_listening(true);
    tracing::info!("row cache listening for changes");
    let ended = driver.await;
    rows.set_listening(false);
    drop(client);
    ended??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_nothing_while_not_listening() {
        let held = Held::<u32>::new("t");
        let ticket = held.ticket();
        held.keep(ticket, "a", 1);
        assert_eq!(held.get("a"), None);
        held.set_listening(true);
        let ticket = held.ticket();
        held.keep(ticket, "a", 1);
        assert_eq!(held.get("a"), Some(1));
        held.set_listening(false);
        assert_eq!(held.get("a"), None, "a copy outlived the connection");
    }

    #[test]
    fn a_read_that_raced_with_a_change_is_not_kept() {
        let held = Held::<u32>::new("t");
        held.set_listening(true);
        let ticket = held.ticket();
        // The row changes (and is notified) while the lookup reads the old one.
        held.forget("a");
        held.keep(ticket, "a", 1);
        assert_eq!(held.get("a"), None);
        // A ticket from before the connection dropped and came back is no good either.
        let ticket = held.ticket();
        held.set_listening(false);
        held.set_listening(true);
        held.keep(ticket, "a", 1);
        assert_eq!(held.get("a"), None);
    }

    #[test]
    fn a_notification_forgets_its_key_only() {
        let rows = Rows::default();
        rows.set_listening(true);
        for id in ["a", "b"] {
            let ticket = rows.statuses.ticket();
            rows.statuses.keep(ticket, id, "valid".into());
        }
        rows.heard("certificates:a");
        assert_eq!(rows.statuses.get("a"), None);
        assert_eq!(rows.statuses.get("b").as_deref(), Some("valid"));
        rows.heard("something:else");
        assert_eq!(rows.statuses.get("b"), None);
        assert!(
            rows.statuses.listening(),
            "an unknown payload stops listening"
        );
    }
}
