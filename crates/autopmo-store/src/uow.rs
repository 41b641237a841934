//! A unit of work: one transaction that a change and everything that must go
//! with it (later: its audit event) commit in together.

use crate::db::Backend;
use crate::error::Result;
use sqlx::{Any, AnyConnection, Transaction};

/// One open write transaction. Dropping it without [`commit`](Self::commit)
/// rolls everything back.
#[derive(Debug)]
pub struct UnitOfWork {
    tx: Transaction<'static, Any>,
    backend: Backend,
}

impl UnitOfWork {
    pub(crate) fn new(tx: Transaction<'static, Any>, backend: Backend) -> Self {
        Self { tx, backend }
    }

    /// The connection the transaction runs on.
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// The engine in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Makes every change durable at once.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Undoes every change.
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}
