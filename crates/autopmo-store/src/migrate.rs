//! Versioned schema migrations, one tree for both backends.
//!
//! Each migration runs once, inside one transaction together with its row in
//! `autopmo_schema_migrations` (both engines have transactional DDL). Several
//! processes starting at once are serialised (an advisory lock on PostgreSQL,
//! the write lock on SQLite). A database migrated by a newer AutoPMO is
//! refused rather than guessed at.

use crate::codec::ts;
use crate::db::{Backend, Store};
use crate::error::{Result, StoreError};
use sha2::{Digest, Sha256};
use sqlx::Row;
use time::OffsetDateTime;

/// One migration shipped with this binary.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number; applied in increasing order.
    pub version: i64,
    /// A short name.
    pub name: &'static str,
    /// The statements, separated by `;` at line ends.
    pub sql: &'static str,
}

/// Every migration this binary knows.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "pmo_domain", sql: include_str!("../migrations/0001_pmo_domain.sql") },
    Migration { version: 2, name: "audit", sql: include_str!("../migrations/0002_audit.sql") },
    Migration {
        version: 3,
        name: "audit_archive_siem",
        sql: include_str!("../migrations/0003_audit_archive_siem.sql"),
    },
    Migration { version: 4, name: "identity", sql: include_str!("../migrations/0004_identity.sql") },
    Migration { version: 5, name: "federation", sql: include_str!("../migrations/0005_federation.sql") },
    Migration { version: 6, name: "realm_settings", sql: include_str!("../migrations/0006_realm_settings.sql") },
    Migration { version: 7, name: "authorization", sql: include_str!("../migrations/0007_authorization.sql") },
    Migration { version: 8, name: "mfa", sql: include_str!("../migrations/0008_mfa.sql") },
    Migration {
        version: 9,
        name: "audit_category_order",
        sql: include_str!("../migrations/0009_audit_category_order.sql"),
    },
];

/// The schema version this binary expects.
pub fn latest_version() -> i64 {
    MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0)
}

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this call.
    pub applied: Vec<i64>,
    /// The version the database is at now.
    pub current: i64,
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS autopmo_schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

/// Brings the schema up to date.
pub async fn migrate(store: &Store, now: OffsetDateTime) -> Result<MigrationReport> {
    let mut tx = store.begin_direct().await?;
    if store.backend() == Backend::Postgres {
        // Serialise concurrent migrators; released at commit or rollback.
        sqlx::query("SELECT pg_advisory_xact_lock(7261837)").execute(&mut *tx).await?;
    }
    sqlx::query(CREATE_TABLE).execute(&mut *tx).await?;
    let applied = applied(&mut tx).await?;
    check_applied(&applied)?;
    let mut report = MigrationReport { applied: Vec::new(), current: 0 };
    for migration in MIGRATIONS {
        if applied.iter().any(|(v, _)| *v == migration.version) {
            continue;
        }
        for statement in statements(migration.sql) {
            sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO autopmo_schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(migration.version)
        .bind(migration.name)
        .bind(checksum(migration.sql))
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        report.applied.push(migration.version);
    }
    tx.commit().await?;
    report.current = latest_version();
    Ok(report)
}

/// The schema version of the database (0 when never migrated), checked
/// against this binary.
pub async fn current_version(store: &Store) -> Result<i64> {
    let mut conn = store.reader().acquire().await?;
    let exists = match store.backend() {
        Backend::Sqlite => {
            sqlx::query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'autopmo_schema_migrations'")
                .fetch_optional(&mut *conn)
                .await?
        }
        Backend::Postgres => {
            sqlx::query("SELECT 1 FROM information_schema.tables WHERE table_name = 'autopmo_schema_migrations' AND table_schema = current_schema()")
                .fetch_optional(&mut *conn)
                .await?
        }
    };
    if exists.is_none() {
        return Ok(0);
    }
    let applied = applied(&mut conn).await?;
    check_applied(&applied)?;
    Ok(applied.iter().map(|(v, _)| *v).max().unwrap_or(0))
}

async fn applied(conn: &mut sqlx::AnyConnection) -> Result<Vec<(i64, String)>> {
    let rows =
        sqlx::query("SELECT version, checksum FROM autopmo_schema_migrations ORDER BY version").fetch_all(conn).await?;
    rows.iter().map(|r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<String, _>(1)?))).collect()
}

fn check_applied(applied: &[(i64, String)]) -> Result<()> {
    let newest = applied.iter().map(|(v, _)| *v).max().unwrap_or(0);
    if newest > latest_version() {
        return Err(StoreError::SchemaTooNew { database: newest, binary: latest_version() });
    }
    for (version, sum) in applied {
        if let Some(m) = MIGRATIONS.iter().find(|m| m.version == *version)
            && checksum(m.sql) != *sum
        {
            return Err(StoreError::MigrationChanged { version: *version, name: m.name });
        }
    }
    Ok(())
}

fn statements(sql: &str) -> impl Iterator<Item = String> + '_ {
    let without_comments: Vec<&str> = sql.lines().filter(|l| !l.trim_start().starts_with("--")).collect();
    let joined = without_comments.join("\n");
    joined
        .split(";\n")
        .map(|s| s.trim().trim_end_matches(';').trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .into_iter()
}

fn checksum(sql: &str) -> String {
    Sha256::digest(sql.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_and_drops_comments() {
        let parts: Vec<String> = statements("-- hi\nCREATE TABLE a (x TEXT);\n\nCREATE INDEX i ON a (x);\n").collect();
        assert_eq!(parts, vec!["CREATE TABLE a (x TEXT)", "CREATE INDEX i ON a (x)"]);
    }

    #[test]
    fn versions_are_increasing_and_unique() {
        let versions: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(latest_version(), *versions.last().unwrap());
    }
}
