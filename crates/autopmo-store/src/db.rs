//! Connecting to the database: pools, SQLite pragmas, health.

use crate::error::{Result, StoreError};
use crate::recent::{Bounds, RecentReads};
use crate::uow::{UnitOfWork, Writer};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// A pooled connection for reads; use it as `&mut *conn`.
pub type ReadConnection = sqlx::pool::PoolConnection<sqlx::Any>;

/// Which database engine is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// Name for logs and health output.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// How to connect.
#[derive(Clone)]
pub struct StoreOptions {
    /// `sqlite://…` or `postgres://…` (may hold a password: never logged).
    pub url: String,
    /// Largest pool size.
    pub max_connections: u32,
    /// How long to wait for a connection.
    pub acquire_timeout: Duration,
    /// SQLite busy timeout.
    pub sqlite_busy_timeout: Duration,
    /// SQLite `synchronous=FULL` (else `NORMAL`).
    pub sqlite_synchronous_full: bool,
    /// How long a session read for a request may be used again
    /// (`crate::recent`): at most one second; zero reads every time.
    pub session_cache: Duration,
    /// How long a project (with its members) read for a safe request may
    /// be used again (`crate::recent`): at most one second; zero reads
    /// every time.
    pub project_cache: Duration,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("url", &"<redacted>")
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl StoreOptions {
    /// Sensible defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
            sqlite_busy_timeout: Duration::from_secs(5),
            sqlite_synchronous_full: true,
            session_cache: crate::recent::MAX_BOUND,
            project_cache: crate::recent::MAX_BOUND,
        }
    }
}

/// The store: a pool for reads and the way to start a unit of work.
///
/// On SQLite the writer is a separate pool of one connection, so writes of
/// this process queue in memory instead of fighting over the file lock; on
/// PostgreSQL both are the same pool.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    backend: Backend,
    read: AnyPool,
    write: AnyPool,
    writer: Writer,
    /// Same-thread reads of a SQLite file (`crate::lookup`).
    local: Option<crate::lookup::Local>,
    /// Recently read sessions and projects (`crate::recent`).
    recent: Arc<RecentReads>,
    /// PostgreSQL: listens for other servers' commits (`crate::notify`).
    listener: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(listener) = &self.listener {
            listener.abort();
        }
    }
}

/// How long a pooled PostgreSQL connection may sit idle before it is
/// pinged on its way out of the pool.
const IDLE_BEFORE_PING: std::time::Duration = std::time::Duration::from_secs(30);

impl Store {
    /// Connects (creating a SQLite file if needed). Does not migrate.
    pub async fn connect(options: &StoreOptions) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if options.url.starts_with("postgres://") || options.url.starts_with("postgresql://") {
            Backend::Postgres
        } else if options.url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::Unavailable("unsupported database URL scheme".to_owned()));
        };
        let connect_options = AnyConnectOptions::from_str(&options.url)
            .map_err(|e| StoreError::Unavailable(format!("invalid database URL: {}", redact_error(&e))))?;
        let pragmas = sqlite_pragmas(options);
        let pool = |max: u32| {
            let pragmas = pragmas.clone();
            AnyPoolOptions::new()
                .max_connections(max)
                .min_connections(0)
                .acquire_timeout(options.acquire_timeout)
                // A round trip before every use would double the cost of a
                // read: a connection is checked only when it has sat idle
                // long enough for the server to have gone away, and a
                // SQLite file never goes away.
                .test_before_acquire(false)
                .before_acquire(move |conn, meta| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite || meta.idle_for < IDLE_BEFORE_PING {
                            return Ok(true);
                        }
                        sqlx::Connection::ping(conn).await?;
                        Ok(true)
                    })
                })
                .after_connect(move |conn, _meta| {
                    let pragmas = pragmas.clone();
                    Box::pin(async move {
                        if conn.backend_name().eq_ignore_ascii_case("sqlite") {
                            for pragma in pragmas {
                                conn.execute(sqlx::AssertSqlSafe(pragma)).await?;
                            }
                        }
                        Ok(())
                    })
                })
                .connect_with(connect_options.clone())
        };
        let (read, write) = match backend {
            Backend::Postgres => {
                let pool = pool(options.max_connections).await.map_err(connect_error)?;
                (pool.clone(), pool)
            }
            Backend::Sqlite => {
                // The writer first: it creates the file and switches it to WAL.
                // Two connections: the group-commit writer's, and one for
                // migrations and checks.
                let write = pool(2).await.map_err(connect_error)?;
                let read = pool(options.max_connections).await.map_err(connect_error)?;
                (read, write)
            }
        };
        let recent =
            Arc::new(RecentReads::new(Bounds { sessions: options.session_cache, projects: options.project_cache }));
        // Other servers on the same PostgreSQL database are told of this
        // one's commits, and this one of theirs.
        let (announce, listener) = match backend {
            Backend::Postgres => {
                let id = uuid::Uuid::new_v4().to_string();
                let (ready, listening) = tokio::sync::oneshot::channel();
                let listener =
                    crate::notify::spawn_listener(options.url.clone(), id.clone(), Arc::clone(&recent), ready);
                // Once connected, this store hears of every later commit
                // elsewhere; should listening fail, the cache's bound holds
                // (the listener logs and keeps trying).
                let _ = tokio::time::timeout(options.acquire_timeout, listening).await;
                (Some(crate::notify::commit_statement(&id)), Some(listener))
            }
            Backend::Sqlite => (None, None),
        };
        let writer = Writer::new(backend, write.clone(), Arc::clone(&recent), announce);
        let local = match backend {
            Backend::Sqlite => crate::lookup::Local::for_url(&options.url, options.max_connections as usize),
            Backend::Postgres => None,
        };
        Ok(Self { inner: Arc::new(Inner { backend, read, write, writer, local, recent, listener }) })
    }

    /// The engine in use.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// The same-thread SQLite reads, if the store has them.
    pub(crate) fn local(&self) -> Option<&crate::lookup::Local> {
        self.inner.local.as_ref()
    }

    /// Recently read sessions and projects.
    pub(crate) fn recent(&self) -> &RecentReads {
        &self.inner.recent
    }

    /// How many times the cache of recent reads has been made stale (by this
    /// store's commits and other servers' notifications): for tests.
    #[doc(hidden)]
    pub fn recent_reads_generation(&self) -> u64 {
        self.inner.recent.generation()
    }

    /// The pool for reads.
    pub fn reader(&self) -> &AnyPool {
        &self.inner.read
    }

    /// A pooled connection for reads.
    pub async fn read(&self) -> Result<ReadConnection> {
        Ok(self.inner.read.acquire().await?)
    }

    /// Appends audit events that go with no other change (in order and
    /// together), durably, batched with every other caller's into the next
    /// group commit. Returns them chained; an error means none was stored.
    pub async fn record_audit(
        &self,
        records: Vec<autopmo_audit::AuditRecord>,
    ) -> Result<Vec<autopmo_audit::AuditRecord>> {
        self.inner.writer.record(records).await
    }

    /// How many group commits this store has made since it was opened (each
    /// one `COMMIT` shared by the units and events it carried).
    pub fn commits(&self) -> u64 {
        self.inner.writer.commits()
    }

    /// Starts a unit of work (waiting for the writer): a change and its
    /// audit events, committed together by the group commit.
    pub async fn begin(&self) -> Result<UnitOfWork> {
        self.inner.writer.begin().await
    }

    /// A plain transaction outside the group commit, for migrations.
    pub(crate) async fn begin_direct(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.inner.backend {
            // IMMEDIATE takes the write lock up front, so a transaction never
            // fails half-way when another process holds the file.
            Backend::Sqlite => self.inner.write.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.inner.write.begin().await?,
        })
    }

    /// A round trip to the database.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.inner.read).await?;
        Ok(())
    }

    /// Runs the engine's own consistency check: SQLite's `integrity_check`
    /// and `foreign_key_check`; on PostgreSQL, a check that no row points at
    /// a missing parent. Returns the problems found (empty when sound).
    pub async fn integrity_check(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        match self.inner.backend {
            Backend::Sqlite => {
                let rows = sqlx::query("PRAGMA integrity_check").fetch_all(&self.inner.write).await?;
                for row in rows {
                    let line: String = sqlx::Row::try_get(&row, 0)?;
                    if line != "ok" {
                        problems.push(line);
                    }
                }
                let rows = sqlx::query("PRAGMA foreign_key_check").fetch_all(&self.inner.write).await?;
                problems.extend(rows.iter().map(|_| "foreign key violation".to_owned()));
            }
            Backend::Postgres => {
                const ORPHANS: &[(&str, &str)] = &[
                    (
                        "tasks without project",
                        "SELECT COUNT(*) FROM tasks t WHERE NOT EXISTS (SELECT 1 FROM projects p WHERE p.id = t.project_id)",
                    ),
                    (
                        "members without project",
                        "SELECT COUNT(*) FROM project_members m WHERE NOT EXISTS (SELECT 1 FROM projects p WHERE p.id = m.project_id)",
                    ),
                    (
                        "costs without project",
                        "SELECT COUNT(*) FROM cost_entries c WHERE NOT EXISTS (SELECT 1 FROM projects p WHERE p.id = c.project_id)",
                    ),
                    (
                        "projects without owner",
                        "SELECT COUNT(*) FROM projects p WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p.owner_id)",
                    ),
                ];
                for (what, sql) in ORPHANS {
                    let n: i64 = sqlx::query_scalar(*sql).fetch_one(&self.inner.read).await?;
                    if n != 0 {
                        problems.push(format!("{n} {what}"));
                    }
                }
            }
        }
        Ok(problems)
    }

    /// Closes the pools, waiting for connections in use.
    pub async fn close(&self) {
        if let Some(listener) = &self.inner.listener {
            listener.abort();
        }
        self.inner.writer.close().await;
        self.inner.read.close().await;
        self.inner.write.close().await;
    }
}

fn sqlite_pragmas(options: &StoreOptions) -> Vec<String> {
    vec![
        "PRAGMA journal_mode = WAL".to_owned(),
        "PRAGMA foreign_keys = ON".to_owned(),
        format!("PRAGMA busy_timeout = {}", options.sqlite_busy_timeout.as_millis()),
        format!("PRAGMA synchronous = {}", if options.sqlite_synchronous_full { "FULL" } else { "NORMAL" }),
    ]
}

fn connect_error(error: sqlx::Error) -> StoreError {
    StoreError::Unavailable(format!("cannot connect to the database: {}", redact_error(&error)))
}

/// Driver errors can echo the URL; never let a password through.
pub(crate) fn redact_error(error: &dyn std::fmt::Display) -> String {
    let text = error.to_string();
    if let Some((head, rest)) = text.split_once("://")
        && let Some((_, tail)) = rest.split_once('@')
    {
        return format!("{head}://***@{tail}");
    }
    text
}
