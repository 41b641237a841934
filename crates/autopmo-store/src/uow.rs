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
//! The first statement of every shared transaction locks the audit chain's
//! head row, so the chain has one sequence across all processes writing to
//! the same database.

use crate::db::Backend;
use crate::error::{Result, StoreError};
use autopmo_audit::{AuditRecord, ChainHead};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Row};
use std::sync::{Arc, Mutex as SyncMutex, PoisonError};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard, oneshot};

type Outcome = std::result::Result<(), String>;

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
    waiters: SyncMutex<Vec<oneshot::Sender<Outcome>>>,
    wake: Notify,
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
    pub(crate) fn new(backend: Backend, pool: AnyPool) -> Self {
        let inner = Arc::new(Inner {
            backend,
            pool,
            state: Arc::new(Mutex::new(State::default())),
            waiters: SyncMutex::new(Vec::new()),
            wake: Notify::new(),
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

    /// Waits for the writer, then opens a unit.
    pub(crate) async fn begin(&self) -> Result<UnitOfWork> {
        let mut guard = Arc::clone(&self.inner.state).lock_owned().await;
        if let Err(e) = self.prepare(&mut guard).await {
            discard(&mut guard).await;
            return Err(e);
        }
        let head_before = guard.head.clone();
        let conn = connection(&mut guard);
        if let Err(e) = sqlx::raw_sql("SAVEPOINT unit").execute(conn).await {
            discard(&mut guard).await;
            return Err(e.into());
        }
        Ok(UnitOfWork { guard: Some(guard), head_before, writer: self.clone() })
    }

    /// Undoes a dropped unit, connects, and opens the shared transaction.
    async fn prepare(&self, state: &mut State) -> Result<()> {
        if let Some(head) = state.rollback_to.take() {
            let conn = connection(state);
            sqlx::raw_sql("ROLLBACK TO SAVEPOINT unit").execute(&mut *conn).await?;
            sqlx::raw_sql("RELEASE SAVEPOINT unit").execute(conn).await?;
            state.head = head;
        }
        if state.conn.is_none() {
            state.conn = Some(self.inner.pool.acquire().await?);
            state.in_tx = false;
        }
        if !state.in_tx {
            let begin = match self.inner.backend {
                Backend::Sqlite => "BEGIN IMMEDIATE",
                Backend::Postgres => "BEGIN",
            };
            let lock = match self.inner.backend {
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
/// unit starts afresh (the database rolls back what was not committed).
async fn discard(state: &mut State) {
    if let Some(mut conn) = state.conn.take()
        && state.in_tx
    {
        let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
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
        let mut state = Arc::clone(&inner.state).lock_owned().await;
        let waiters = std::mem::take(&mut *inner.waiters.lock().unwrap_or_else(PoisonError::into_inner));
        if waiters.is_empty() {
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
        let outcome = commit(&mut state).await;
        if outcome.is_err() {
            discard(&mut state).await;
        }
        drop(state);
        for waiter in waiters {
            let _ = waiter.send(outcome.clone());
        }
    }
}

async fn commit(state: &mut State) -> Outcome {
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
    sqlx::raw_sql("COMMIT").execute(connection(state)).await.map_err(fail)?;
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
    /// it has committed. An error means none of it was stored.
    pub async fn commit(mut self) -> Result<()> {
        let mut guard = self.guard.take().ok_or_else(|| StoreError::Unavailable("unit already finished".to_owned()))?;
        if let Err(e) = sqlx::raw_sql("RELEASE SAVEPOINT unit").execute(connection(&mut guard)).await {
            guard.rollback_to = Some(self.head_before.take());
            return Err(e.into());
        }
        let (tx, rx) = oneshot::channel();
        self.writer.inner.waiters.lock().unwrap_or_else(PoisonError::into_inner).push(tx);
        drop(guard);
        self.writer.inner.wake.notify_one();
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(StoreError::Unavailable(format!("commit failed: {reason}"))),
            Err(_) => Err(StoreError::Unavailable("the writer stopped".to_owned())),
        }
    }

    /// Undoes the unit now.
    pub async fn rollback(mut self) -> Result<()> {
        let head = self.head_before.take();
        let Some(mut guard) = self.guard.take() else {
            return Ok(());
        };
        let conn = connection(&mut guard);
        let undo = async {
            sqlx::raw_sql("ROLLBACK TO SAVEPOINT unit").execute(&mut *conn).await?;
            sqlx::raw_sql("RELEASE SAVEPOINT unit").execute(&mut *conn).await
        };
        if let Err(e) = undo.await {
            discard(&mut guard).await;
            return Err(e.into());
        }
        guard.head = head;
        Ok(())
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
