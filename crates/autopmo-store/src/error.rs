//! What can go wrong in the store, in terms the callers can act on.

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record does not exist.
    #[error("not found")]
    NotFound,
    /// The record changed since the caller read it (ETag mismatch).
    #[error("the record was changed by someone else (current version {current})")]
    VersionMismatch {
        /// The version now stored.
        current: i64,
    },
    /// A uniqueness rule would be broken.
    #[error("already exists: {0}")]
    Duplicate(&'static str),
    /// A referenced record does not exist (or a record still in use would be orphaned).
    #[error("reference violated: {0}")]
    Reference(&'static str),
    /// A rule of the domain checked in the store (e.g. a dependency cycle).
    #[error("{0}")]
    Rule(String),
    /// The database cannot be reached, is locked too long, or is read-only.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database schema was migrated by a newer AutoPMO.
    #[error(
        "the database schema is at version {database}, newer than this AutoPMO understands \
         (up to {binary}); run the newer AutoPMO, or restore a backup taken before the upgrade"
    )]
    SchemaTooNew {
        /// Highest version applied in the database.
        database: i64,
        /// Highest version this binary knows.
        binary: i64,
    },
    /// A migration already applied differs from the one shipped.
    #[error("migration {version} ({name}) was changed after it was applied; refusing to continue")]
    MigrationChanged {
        /// Version number.
        version: i64,
        /// Its name.
        name: &'static str,
    },
    /// Stored data that cannot be read back into the domain types.
    #[error("corrupt row in {table}: {detail}")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl StoreError {
    pub(crate) fn corrupt(table: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Corrupt { table, detail: detail.to_string() }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match &error {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(error.to_string())
            }
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation => Self::Duplicate(constraint_label(db.message())),
                ErrorKind::ForeignKeyViolation => Self::Reference(constraint_label(db.message())),
                _ if is_unavailable(db.code().as_deref(), db.message()) => Self::Unavailable(db.message().to_owned()),
                _ => Self::Database(error),
            },
            _ => Self::Database(error),
        }
    }
}

/// SQLite busy/locked/read-only/full and PostgreSQL read-only, disk-full or
/// shutdown states: the request may succeed later, so callers answer 503.
fn is_unavailable(code: Option<&str>, message: &str) -> bool {
    let sqlite = matches!(code, Some("5" | "6" | "8" | "13" | "261" | "262" | "517" | "1032" | "776" | "10"));
    let postgres =
        code.is_some_and(|c| c == "25006" || c.starts_with("53") || c.starts_with("57P") || c.starts_with("08"));
    sqlite || postgres || message.contains("database is locked") || message.contains("readonly database")
}

/// The first matching well-known name in a driver message, so errors name the
/// rule without echoing SQL.
fn constraint_label(message: &str) -> &'static str {
    const KNOWN: &[(&str, &str)] = &[
        ("username", "username"),
        ("email", "email"),
        ("project_members", "project member"),
        ("task_dependencies", "task dependency"),
        ("owner", "owner"),
        ("assignee", "assignee"),
        ("api_tokens", "api token"),
        ("user_roles", "role"),
    ];
    KNOWN.iter().find(|(needle, _)| message.contains(needle)).map_or("record", |(_, label)| label)
}

/// Shorthand.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
