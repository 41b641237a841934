//! Units of work and the group commit behind them.
//!
//! A [`UnitOfWork`] is what one request changes, together with the audit
//! events that must go with it: all of it commits, or none of it. Units run
//! one at a time on the writer's connection, each inside its own `SAVEPOINT`
//! of a transaction that many units share; a flusher commits that
//! transaction as soon as it gets the connection, and every unit in it is
//! told the outcome of that one `COMMIT`. So durability stays per request
//! (a unit's `commit` returns only after the data is on disk) while the
//! fsync is shared by every unit of the batch.
//!
//! Audit events that go with no other change (the event of a read request,
//! a refusal, an alert) need no unit of their own: [`Writer::record`]
//! queues them and the flusher writes every queued batch into the shared
//! transaction just before its `COMMIT`, a few multi-row statements in all,
//! so a busy server pays a handful of round trips per commit for its
//! request events rather than three for each.
//!
//! The first statement of every shared transaction locks the audit chain's
//! head row, so the chain has one sequence across all processes writing to
//! the same database.

use crate::db::Backend;
use crate::error::{Result, StoreError};
use crate::recent::RecentReads;
use autopmo_audit::{AuditRecord, ChainHead};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Row};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as SyncMutex, PoisonError};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard, oneshot};

type Outcome = std::result::Result<(), String>;

/// Events queued by [`Writer::record`], and where their caller waits.
type Batch = (Vec<AuditRecord>, oneshot::Sender<std::result::Result<Vec<AuditRecord>, String>>);

/// The single writer of one store.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    backend: Backend,
    pool: AnyPool,
    state: Arc<Mutex<State>>,
    /// Units released into the open transaction, each with whether its
    /// commit makes the cache of recent reads stale
    /// ([`UnitOfWork::only_slides_sessions`]).
    waiters: SyncMutex<Vec<(oneshot::Sender<Outcome>, bool)>>,
    /// Events waiting to be written by the flusher.
    batches: SyncMutex<Vec<Batch>>,
    wake: Notify,
    /// Commits made by the flusher.
    commits: AtomicU64,
    /// Made stale by every commit that carries units of work.
    recent: Arc<RecentReads>,
    /// PostgreSQL: what ends a transaction that carries units of work, so
    /// that other servers hear of it (`crate::notify`).
    announce: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    conn: Option<PoolConnection<Any>>,
    in_tx: bool,
    /// The chain head inside the open transaction.
    head: Option<ChainHead>,
    head_dirty: bool,
    /// A unit was dropped without committing: undo it before anything else.
    rollback_to: Option<Option<ChainHead>>,
}

impl Writer {
    pub(crate) fn new(backend: Backend, pool: AnyPool, recent: Arc<RecentReads>, announce: Option<String>) -> Self {
        let inner = Arc::new(Inner {
            backend,
            pool,
            recent,
            announce,
            state: Arc::new(Mutex::new(State::default())),
            waiters: SyncMutex::new(Vec::new()),
            batches: SyncMutex::new(Vec::new()),
            wake: Notify::new(),
            commits: AtomicU64::new(0),
        });
        tokio::spawn(flush_loop(Arc::clone(&inner)));
        Self { inner }
    }

    /// Finishes: waits for the unit in progress, ends an idle transaction and
    /// hands the connection back to the pool, so that the pool can close.
    pub(crate) async fn close(&self) {
        let mut state = Arc::clone(&self.inner.state).lock_owned().await;
        if state.in_tx {
            // Every committed unit has been flushed (its caller waited for
            // it); what is left open was dropped.
            let _ = sqlx::raw_sql("ROLLBACK").execute(connection(&mut state)).await;
        }
        state.in_tx = false;
        state.head = None;
        state.rollback_to = None;
        state.conn = None;
    }

    /// How many shared transactions the flusher has committed.
    pub(crate) fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    /// Appends `records` to the chain, in order and together, durably: the
    /// flusher writes them into its next commit. Returns them chained
    /// (sequence and hashes set) once that commit is on disk; an error means
    /// none of them was stored. Cancel-safe: once called, the events are
    /// written whether or not the caller still waits.
    pub(crate) async fn record(&self, records: Vec<AuditRecord>) -> Result<Vec<AuditRecord>> {
        if records.is_empty() {
            return Ok(records);
        }
        let (tx, rx) = oneshot::channel();
        self.inner.batches.lock().unwrap_or_else(PoisonError::into_inner).push((records, tx));
        self.inner.wake.notify_one();
        match rx.await {
            Ok(Ok(records)) => Ok(records),
            Ok(Err(reason)) => Err(StoreError::Unavailable(format!("the audit trail cannot be written: {reason}"))),
            Err(_) => Err(StoreError::Unavailable("the writer stopped".to_owned())),
        }
    }

    /// Waits for the writer, then opens a unit.
    ///
    /// Cancel-safe: the caller may be dropped at any point (a client that
    /// hangs up drops its request's future). The waiting and the statements
    /// that open the unit run in a task of their own, so the writer's
    /// bookkeeping always matches the connection's state; a unit opened for
    /// a caller that is gone is dropped, which undoes it.
    pub(crate) async fn begin(&self) -> Result<UnitOfWork> {
        let (tx, rx) = oneshot::channel();
        let writer = self.clone();
        tokio::spawn(async move {
            let mut guard = Arc::clone(&writer.inner.state).lock_owned().await;
            if tx.is_closed() {
                return;
            }
            let opened = match writer.open_unit(&mut guard).await {
                Ok(head_before) => Ok(UnitOfWork { guard: Some(guard), head_before, writer, stales: true }),
                Err(e) => {
                    discard(&mut guard).await;
                    Err(e)
                }
            };
            // A caller that is gone drops the unit here, which undoes it.
            let _ = tx.send(opened);
        });
        rx.await.map_err(|_| StoreError::Unavailable("the writer stopped".to_owned()))?
    }

    /// Prepares the shared transaction and opens a savepoint for one unit;
    /// returns the chain head before it.
    async fn open_unit(&self, state: &mut State) -> Result<Option<ChainHead>> {
        prepare(&self.inner, state).await?;
        let head_before = state.head.clone();
        sqlx::raw_sql("SAVEPOINT unit").execute(connection(state)).await?;
        Ok(head_before)
    }
}

/// Undoes a dropped unit, connects, and opens the shared transaction.
async fn prepare(inner: &Inner, state: &mut State) -> Result<()> {
    if let Some(head) = state.rollback_to.take() {
        let conn = connection(state);
        sqlx::raw_sql("ROLLBACK TO SAVEPOINT unit").execute(&mut *conn).await?;
        sqlx::raw_sql("RELEASE SAVEPOINT unit").execute(conn).await?;
        state.head = head;
    }
    if state.conn.is_none() {
        state.conn = Some(inner.pool.acquire().await?);
        state.in_tx = false;
    }
    if !state.in_tx {
        let begin = match inner.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        let lock = match inner.backend {
            Backend::Sqlite => "SELECT sequence, hash FROM audit_head WHERE id = 1",
            Backend::Postgres => "SELECT sequence, hash FROM audit_head WHERE id = 1 FOR UPDATE",
        };
        sqlx::raw_sql(begin).execute(connection(state)).await?;
        state.in_tx = true;
        let row = sqlx::query(lock).fetch_one(connection(state)).await?;
        state.head = Some(ChainHead { sequence: row.try_get(0)?, hash: row.try_get(1)? });
        state.head_dirty = false;
    }
    Ok(())
}

/// The writer's connection. Every caller holds the state lock after
/// `prepare`, which guarantees there is one.
fn connection(state: &mut State) -> &mut AnyConnection {
    match state.conn.as_mut() {
        Some(conn) => conn,
        None => unreachable!("the writer's connection is set by prepare() before any use"),
    }
}

/// Forgets the connection and the open transaction after an error; the next
/// unit starts afresh (the database rolls back what was not committed). The
/// connection is closed, never handed back to the pool: after an error its
/// transaction state is not known for sure.
async fn discard(state: &mut State) {
    if let Some(mut conn) = state.conn.take() {
        if state.in_tx {
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
        }
        let _ = conn.close().await;
    }
    state.in_tx = false;
    state.head = None;
    state.head_dirty = false;
    state.rollback_to = None;
}

async fn flush_loop(inner: Arc<Inner>) {
    loop {
        inner.wake.notified().await;
        gather(&inner).await;
        let mut state = Arc::clone(&inner.state).lock_owned().await;
        let waiters = std::mem::take(&mut *inner.waiters.lock().unwrap_or_else(PoisonError::into_inner));
        let batches = std::mem::take(&mut *inner.batches.lock().unwrap_or_else(PoisonError::into_inner));
        if waiters.is_empty() && batches.is_empty() {
            // Every released unit was committed by an earlier flush, so an
            // open transaction holds only units that were dropped: end it,
            // so that SQLite's write lock is not kept while idle.
            if state.in_tx && sqlx::raw_sql("ROLLBACK").execute(connection(&mut state)).await.is_err() {
                discard(&mut state).await;
            }
            state.in_tx = false;
            state.head = None;
            state.head_dirty = false;
            state.rollback_to = None;
            continue;
        }
        let (records, senders): (Vec<_>, Vec<_>) = batches.into_iter().unzip();
        let mut outcome = Ok(Vec::new());
        if !records.is_empty() {
            outcome = write_batches(&inner, &mut state, records).await;
        }
        // Whether a unit of this commit may have changed what requests read
        // (a session, a user, a role, a project, a membership): then nothing
        // read before it is used again, here or (told by the announcement)
        // on other servers.
        let stale = waiters.iter().any(|(_, stales)| *stales);
        let announce = if stale { inner.announce.as_deref() } else { None };
        let outcome = match outcome {
            Ok(written) => commit(&mut state, announce).await.map(|()| written),
            Err(e) => Err(e),
        };
        if outcome.is_ok() {
            inner.commits.fetch_add(1, Ordering::Relaxed);
        } else {
            discard(&mut state).await;
        }
        if stale {
            // Before any unit's caller hears of the commit.
            inner.recent.invalidate();
        }
        drop(state);
        for (waiter, _) in waiters {
            let _ = waiter.send(outcome.as_ref().map(drop).map_err(Clone::clone));
        }
        match outcome {
            Ok(written) => {
                for (records, sender) in written.into_iter().zip(senders) {
                    let _ = sender.send(Ok(records));
                }
            }
            Err(reason) => {
                for sender in senders {
                    let _ = sender.send(Err(reason.clone()));
                }
            }
        }
    }
}

/// At most this many rounds of the scheduler gather events for one commit.
const GATHER_ROUNDS: usize = 16;

/// Rounds in a row that queue nothing more end the gathering.
const GATHER_QUIET: usize = 2;

/// Lets the requests that are ready to run reach their commit first.
///
/// A commit's cost is mostly per commit, not per event: the WAL frames of
/// the pages it changed (the last page of the table and of each index,
/// whether one event or sixty went in), the `fsync`, and every reader's
/// page cache emptied. Committing the moment one event is queued made a
/// busy server commit a handful of events at a time. So the flusher first
/// yields to the tasks that are ready, until [`GATHER_QUIET`] rounds in a
/// row queue nothing more (at most [`GATHER_ROUNDS`], and not past one full
/// insert statement): a lone event is committed at once, a busy server's
/// requests share one commit. A yield lets the runtime poll its sockets
/// too; no timer is involved, so an idle server adds no delay.
async fn gather(inner: &Inner) {
    let queued = || {
        let batches = inner.batches.lock().unwrap_or_else(PoisonError::into_inner).len();
        batches + inner.waiters.lock().unwrap_or_else(PoisonError::into_inner).len()
    };
    let mut seen = queued();
    let mut quiet = 0;
    for _ in 0..GATHER_ROUNDS {
        if seen >= crate::audit::INSERT_ROWS || quiet == GATHER_QUIET {
            break;
        }
        tokio::task::yield_now().await;
        let now = queued();
        quiet = if now > seen { 0 } else { quiet + 1 };
        seen = now;
    }
}

/// Chains the queued events and writes them into the shared transaction
/// (opening it if need be), batch after batch, in the order they were queued.
async fn write_batches(
    inner: &Inner,
    state: &mut State,
    batches: Vec<Vec<AuditRecord>>,
) -> std::result::Result<Vec<Vec<AuditRecord>>, String> {
    prepare(inner, state).await.map_err(|e| e.to_string())?;
    let Some(head) = state.head.as_mut() else {
        return Err("the audit chain head is not loaded".to_owned());
    };
    let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
    let mut all: Vec<AuditRecord> = batches.into_iter().flatten().collect();
    for record in &mut all {
        head.append(record);
    }
    state.head_dirty = true;
    crate::audit::insert_many(connection(state), &all).await.map_err(|e| e.to_string())?;
    let mut rest = all.into_iter();
    Ok(sizes.into_iter().map(|n| rest.by_ref().take(n).collect()).collect())
}

/// Commits the shared transaction; with `announce`, through that statement
/// instead of a bare `COMMIT` (one round trip either way).
async fn commit(state: &mut State, announce: Option<&str>) -> Outcome {
    let fail = |e: sqlx::Error| e.to_string();
    if !state.in_tx {
        return Err("the shared transaction was lost".to_owned());
    }
    if let Some(head) = state.rollback_to.take() {
        let conn = connection(state);
        sqlx::raw_sql("ROLLBACK TO SAVEPOINT unit").execute(&mut *conn).await.map_err(fail)?;
        sqlx::raw_sql("RELEASE SAVEPOINT unit").execute(conn).await.map_err(fail)?;
        state.head = head;
    }
    if state.head_dirty
        && let Some(head) = state.head.clone()
    {
        sqlx::query("UPDATE audit_head SET sequence = $1, hash = $2 WHERE id = 1")
            .bind(head.sequence)
            .bind(head.hash)
            .execute(connection(state))
            .await
            .map_err(fail)?;
    }
    let end = sqlx::AssertSqlSafe(announce.unwrap_or("COMMIT"));
    sqlx::raw_sql(end).execute(connection(state)).await.map_err(fail)?;
    state.in_tx = false;
    state.head = None;
    state.head_dirty = false;
    Ok(())
}

/// One request's changes and audit events: committed together or not at
/// all. Dropping it without [`commit`](Self::commit) undoes it.
#[derive(Debug)]
pub struct UnitOfWork {
    guard: Option<OwnedMutexGuard<State>>,
    head_before: Option<ChainHead>,
    writer: Writer,
    /// Its commit makes the cache of recent reads stale (unless told
    /// otherwise).
    stales: bool,
}

impl UnitOfWork {
    fn state(&mut self) -> &mut State {
        match self.guard.as_mut() {
            Some(guard) => guard,
            None => unreachable!("a unit holds the writer until commit or drop"),
        }
    }

    /// The connection the unit runs on.
    pub fn conn(&mut self) -> &mut AnyConnection {
        connection(self.state())
    }

    /// The engine in use.
    pub fn backend(&self) -> Backend {
        self.writer.inner.backend
    }

    /// Declares that this unit changes nothing a kept read holds that a
    /// stale copy could wrongly grant: it only slides a session's idle
    /// timeout forward. Its commit then leaves the cache of recent reads
    /// (`crate::recent`) as it is, here and on other servers. Every other
    /// unit makes it stale.
    pub fn only_slides_sessions(&mut self) {
        self.stales = false;
    }

    /// Links `record` to the audit chain (setting its sequence and hashes)
    /// and writes it in this unit.
    pub async fn append_audit(&mut self, record: &mut AuditRecord) -> Result<()> {
        let state = self.state();
        let Some(head) = state.head.as_mut() else {
            return Err(StoreError::Unavailable("the audit chain head is not loaded".to_owned()));
        };
        head.append(record);
        state.head_dirty = true;
        // Whatever stops the event from being written makes the whole unit
        // fail as "unavailable": the caller answers 503 and changes nothing.
        crate::audit::insert(connection(state), record)
            .await
            .map_err(|e| StoreError::Unavailable(format!("the audit trail cannot be written: {e}")))
    }

    /// Makes the unit durable: returns once the shared transaction holding
    /// it has committed. An error means none of it was stored. If the caller
    /// is dropped while waiting, the unit is committed all the same (it was
    /// complete) or, if its release failed, undone.
    pub async fn commit(mut self) -> Result<()> {
        let mut guard = self.guard.take().ok_or_else(|| StoreError::Unavailable("unit already finished".to_owned()))?;
        let head_before = self.head_before.take();
        let writer = self.writer.clone();
        let stales = self.stales;
        let (tx, rx) = oneshot::channel();
        // The release and the hand-over to the flusher run in their own task,
        // so that no cancellation can separate them.
        let released = tokio::spawn(async move {
            if let Err(e) = sqlx::raw_sql("RELEASE SAVEPOINT unit").execute(connection(&mut guard)).await {
                guard.rollback_to = Some(head_before);
                drop(guard);
                writer.inner.wake.notify_one();
                return Err(StoreError::from(e));
            }
            writer.inner.waiters.lock().unwrap_or_else(PoisonError::into_inner).push((tx, stales));
            drop(guard);
            writer.inner.wake.notify_one();
            Ok(())
        });
        released.await.map_err(|e| StoreError::Unavailable(format!("the writer failed: {e}")))??;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(StoreError::Unavailable(format!("commit failed: {reason}"))),
            Err(_) => Err(StoreError::Unavailable("the writer stopped".to_owned())),
        }
    }

    /// Undoes the unit now. (Cancel-safe: a caller dropped half-way leaves
    /// the undo to the next user of the writer.)
    pub async fn rollback(mut self) -> Result<()> {
        let head = self.head_before.take();
        let Some(mut guard) = self.guard.take() else {
            return Ok(());
        };
        // Until the undo has run, the writer knows that it is owed.
        guard.rollback_to = Some(head);
        let undone = tokio::spawn(async move {
            let Some(head) = guard.rollback_to.take() else { return Ok(()) };
            let conn = connection(&mut guard);
            let undo = async {
                sqlx::raw_sql("ROLLBACK TO SAVEPOINT unit").execute(&mut *conn).await?;
                sqlx::raw_sql("RELEASE SAVEPOINT unit").execute(&mut *conn).await
            };
            if let Err(e) = undo.await {
                discard(&mut guard).await;
                return Err(StoreError::from(e));
            }
            guard.head = head;
            Ok(())
        });
        undone.await.map_err(|e| StoreError::Unavailable(format!("the writer failed: {e}")))?
    }
}

impl Drop for UnitOfWork {
    fn drop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            guard.rollback_to = Some(self.head_before.take());
            drop(guard);
            self.writer.inner.wake.notify_one();
        }
    }
}
