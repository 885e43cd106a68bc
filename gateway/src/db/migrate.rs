//! Schema migrations: SQL files embedded in the binary, applied in order, each in its own
//! transaction, under an advisory lock so several gateway processes starting together apply
//! each migration once.

use tokio_postgres::Client;

/// (version, name, SQL). Append only: never edit a migration that has shipped.
#[rustfmt::skip]
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "init", include_str!("../../migrations/0001_init.sql")),
    (2, "certificates", include_str!("../../migrations/0002_certificates.sql")),
    (3, "accounts_audit", include_str!("../../migrations/0003_accounts_audit.sql")),
    (4, "replay", include_str!("../../migrations/0004_replay.sql")),
    (5, "federation", include_str!("../../migrations/0005_federation.sql")),
    (6, "reference", include_str!("../../migrations/0006_reference.sql")),
    (7, "audit_chain", include_str!("../../migrations/0007_audit_chain.sql")),
    (8, "status_log", include_str!("../../migrations/0008_status_log.sql")),
    (9, "key_rotation", include_str!("../../migrations/0009_key_rotation.sql")),
    (10, "supervision", include_str!("../../migrations/0010_supervision.sql")),
    (11, "ops", include_str!("../../migrations/0011_ops.sql")),
    (12, "expiry", include_str!("../../migrations/0012_expiry.sql")),
    (13, "ingest_perf", include_str!("../../migrations/0013_ingest_perf.sql")),
    (14, "participants", include_str!("../../migrations/0014_participants.sql")),
    (15, "tlog_fork", include_str!("../../migrations/0015_tlog_fork.sql")),
    (16, "archive", include_str!("../../migrations/0016_archive.sql")),
    (17, "purpose_length", include_str!("../../migrations/0017_purpose_length.sql")),
    (18, "row_changes", include_str!("../../migrations/0018_row_changes.sql")),
    (19, "checkpoint_changes", include_str!("../../migrations/0019_checkpoint_changes.sql")),
    (20, "hot_foreign_keys", include_str!("../../migrations/0020_hot_foreign_keys.sql")),
    (21, "receipt_text", include_str!("../../migrations/0021_receipt_text.sql")),
    (
        22,
        "credentials_by_record",
        include_str!("../../migrations/0022_credentials_by_record.sql"),
    ),
    (23, "lz4_toast", include_str!("../../migrations/0023_lz4_toast.sql")),
    (
        24,
        "tlog_pending_leaf",
        include_str!("../../migrations/0024_tlog_pending_leaf.sql"),
    ),
    (
        25,
        "certificate_writes",
        include_str!("../../migrations/0025_certificate_writes.sql"),
    ),
    (26, "principal_locks", include_str!("../../migrations/0026_principal_locks.sql")),
    (27, "record_lookups", include_str!("../../migrations/0027_record_lookups.sql")),
    (28, "head_moves", include_str!("../../migrations/0028_head_moves.sql")),
    (
        29,
        "heads_in_supervision",
        include_str!("../../migrations/0029_heads_in_supervision.sql"),
    ),
    (
        30,
        "record_key_by_case",
        include_str!("../../migrations/0030_record_key_by_case.sql"),
    ),
    (
        31,
        "outbox_delete_on_send",
        include_str!("../../migrations/0031_outbox_delete_on_send.sql"),
    ),
    (
        32,
        "outbox_rows_of_many",
        include_str!("../../migrations/0032_outbox_rows_of_many.sql"),
    ),
    (
        33,
        "credential_text",
        include_str!("../../migrations/0033_credential_text.sql"),
    ),
];

/// The first line of a migration run outside a transaction, one statement at a time: index
/// builds over large tables, `CREATE INDEX CONCURRENTLY` (which a transaction refuses), so
/// writes go on while they run. Such a migration must be re-runnable from its start.
const NO_TRANSACTION: &str = "-- migrate: no transaction\n";

/// The statements of a migration: split where a line ends in `;`, comments and blank lines
/// left out (a `DO` block's inner statements end mid-line: one line for the block).
fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.ends_with(';') {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

/// Arbitrary constant identifying the migration lock among advisory locks.
const LOCK_KEY: i64 = 0x6567_775f_6d69_6772; // "egw_migr"

pub async fn run(client: &mut Client) -> anyhow::Result<Vec<i32>> {
    // Polled, not waited for: a session waiting in `pg_advisory_lock` holds a snapshot, which a
    // `CREATE INDEX CONCURRENTLY` of the process holding the lock would wait for in turn.
    loop {
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])
            .await?
            .get(0);
        if locked {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let result = apply(client).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await?;
    result
}

async fn apply(client: &mut Client) -> anyhow::Result<Vec<i32>> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await?;
    let mut applied = Vec::new();
    for &(version, name, sql) in MIGRATIONS {
        let done = client
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE version = $1",
                &[&version],
            )
            .await?
            .is_some();
        if done {
            continue;
        }
        let failed =
            |e: tokio_postgres::Error| anyhow::anyhow!("migration {version} ({name}) failed: {e}");
        if sql.starts_with(NO_TRANSACTION) {
            // Statement by statement (one string of several is a transaction block too), each
            // written to be run again should a later one fail.
            for statement in statements(sql) {
                client.batch_execute(&statement).await.map_err(failed)?;
            }
            client
                .execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    &[&version, &name],
                )
                .await?;
        } else {
            let tx = client.transaction().await?;
            tx.batch_execute(sql).await.map_err(failed)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[&version, &name],
            )
            .await?;
            tx.commit().await?;
        }
        tracing::info!(version, name, "applied migration");
        applied.push(version);
    }
    Ok(applied)
}

/// The newest migration this binary knows, for readiness checks.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_migration_outside_a_transaction_splits_into_its_statements() {
        let sql = "-- migrate: no transaction\n-- why\nDROP INDEX IF EXISTS a;\nCREATE INDEX CONCURRENTLY a\n    ON t (x);\n\nDROP INDEX IF EXISTS b;\n";
        assert!(sql.starts_with(NO_TRANSACTION));
        assert_eq!(
            statements(sql),
            [
                "DROP INDEX IF EXISTS a;\n",
                "CREATE INDEX CONCURRENTLY a\n    ON t (x);\n",
                "DROP INDEX IF EXISTS b;\n"
            ]
        );
        // The shipped ones: every statement of 0027 stands alone.
        let (_, _, sql27) = MIGRATIONS.iter().find(|m| m.0 == 27).unwrap();
        assert!(sql27.starts_with(NO_TRANSACTION));
        assert_eq!(statements(sql27).len(), 10);
        assert!(
            statements(sql27)
                .iter()
                .all(|s| s.matches(';').count() == 1)
        );
        // 0030's swap of constraints is one `DO` block among four index statements.
        let (_, _, sql30) = MIGRATIONS.iter().find(|m| m.0 == 30).unwrap();
        assert!(sql30.starts_with(NO_TRANSACTION));
        let statements30 = statements(sql30);
        assert_eq!(statements30.len(), 5);
        assert!(statements30[2].starts_with("DO $$") && statements30[2].ends_with("END $$;\n"));
    }
}
