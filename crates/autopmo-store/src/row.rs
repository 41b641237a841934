//! A row read by column name on either driver: sqlx's `AnyRow` (the pools)
//! and rusqlite's `Row` (the same-thread SQLite reads of [`crate::lookup`]),
//! so that one mapping per table serves both.

use crate::error::{Result, StoreError};

/// The column values the tables' mappings read.
pub(crate) trait Columns {
    /// A text column.
    fn text(&self, column: &str) -> Result<String>;
    /// A nullable text column.
    fn opt_text(&self, column: &str) -> Result<Option<String>>;
    /// An integer column.
    fn int(&self, column: &str) -> Result<i64>;
}

impl Columns for sqlx::any::AnyRow {
    fn text(&self, column: &str) -> Result<String> {
        Ok(sqlx::Row::try_get(self, column)?)
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        Ok(sqlx::Row::try_get(self, column)?)
    }

    fn int(&self, column: &str) -> Result<i64> {
        Ok(sqlx::Row::try_get(self, column)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, column: &str) -> Result<String> {
        self.get(column).map_err(local)
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        self.get(column).map_err(local)
    }

    fn int(&self, column: &str) -> Result<i64> {
        self.get(column).map_err(local)
    }
}

/// A rusqlite error in the store's terms: no row is [`StoreError::NotFound`],
/// a value of the wrong type [`StoreError::Corrupt`]; anything else
/// (busy, locked, I/O, …) is [`StoreError::Unavailable`], which makes a
/// same-thread lookup read through the pool instead.
pub(crate) fn local(error: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match &error {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        rusqlite::Error::SqliteFailure(e, _)
            if matches!(
                e.code,
                ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::ReadOnly
                    | ErrorCode::DiskFull
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::CannotOpen
            ) =>
        {
            StoreError::Unavailable(error.to_string())
        }
        rusqlite::Error::InvalidColumnType(..) | rusqlite::Error::InvalidColumnName(_) => {
            StoreError::Corrupt { table: "(read)", detail: error.to_string() }
        }
        _ => StoreError::Unavailable(format!("sqlite: {error}")),
    }
}
