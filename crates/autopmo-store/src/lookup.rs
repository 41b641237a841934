//! The reads every authenticated request makes before its handler runs:
//! its session with its user and their roles, and the project it names
//! with the project's members.
//!
//! On PostgreSQL they go through the read pool like every other read. On
//! SQLite they run on the calling thread, through a small pool of
//! `query_only` rusqlite connections to the same file (the `libsqlite3`
//! sqlx links): sqlx runs every SQLite connection on a worker thread of its
//! own, so each of its queries costs two thread hand-offs, which made up
//! most of a request's cost. These are point reads by primary key over
//! pages the OS has cached, in WAL mode, where readers never wait for the
//! writer. Should the file be busy anyway (a short busy timeout), or
//! anything else about the local connection fail, the read is made again
//! through the pool, so the answer is the same either way.

use crate::error::{Result, StoreError};
use crate::recent::{By, ProjectMembers, SessionUser};
use crate::row::{Columns, local};
use crate::{Store, projects, sessions, users};
use autopmo_domain::{ProjectId, User};
use rusqlite::{Connection, OpenFlags};
use sqlx::any::AnyRow;
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

/// Whether a session read for a request may be one made a moment ago.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// From the cache of recent reads (`crate::recent`) when it has a good
    /// entry: read at most the cache's bound ago, with no unit of work
    /// committed since.
    Recent,
    /// From the database (and kept for the next [`Freshness::Recent`] read).
    Current,
}

/// How long a same-thread read waits for a busy file before it is made
/// through the pool instead.
const LOCAL_BUSY: Duration = Duration::from_millis(50);

/// Same-thread read connections to a SQLite file.
#[derive(Debug)]
pub(crate) struct Local {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
}

impl Local {
    /// For a SQLite URL naming a file; `None` for an in-memory database
    /// (only the pool's connections see it).
    pub(crate) fn for_url(url: &str, max_idle: usize) -> Option<Self> {
        use std::str::FromStr;
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
        let path = options.get_filename();
        let name = path.to_string_lossy();
        if name.is_empty() || name == ":memory:" || url.contains("mode=memory") {
            return None;
        }
        Some(Self { path: path.to_owned(), idle: Mutex::new(Vec::new()), max_idle })
    }

    fn connect(&self) -> Result<Connection> {
        // No CREATE: the pool made the file and migrations made its tables.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(local)?;
        conn.busy_timeout(LOCAL_BUSY).map_err(local)?;
        conn.pragma_update(None, "query_only", true).map_err(local)?;
        Ok(conn)
    }

    /// Runs `read` on an idle connection (or a new one); a connection that
    /// failed is closed rather than kept.
    fn with<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = read(&conn);
        if !matches!(result, Err(StoreError::Unavailable(_))) {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < self.max_idle {
                idle.push(conn);
            }
        }
        result
    }
}

/// The first row of `sql` with `id` bound to `$1`, mapped.
fn one<T>(
    conn: &Connection,
    sql: &str,
    id: &str,
    map: impl FnOnce(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Option<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(local)?;
    let mut rows = stmt.query([id]).map_err(local)?;
    rows.next().map_err(local)?.map(map).transpose()
}

/// A session by its public id (bind it).
static SESSION: LazyLock<String> = LazyLock::new(|| format!("{} WHERE id = $1", sessions::COLUMNS));

/// A session by the hash of its secret (bind it).
static SESSION_BY_SECRET: LazyLock<String> = LazyLock::new(|| format!("{} WHERE secret_hash = $1", sessions::COLUMNS));

/// A session and its user with their roles, in one statement; the user's
/// columns are prefixed `u_` ([`Prefixed`]). Append the condition.
const SESSION_WITH_USER: &str = "SELECT s.id, s.user_id, s.kind, s.created_at, s.last_seen_at, \
     s.absolute_expires_at, s.auth_time, s.amr, s.revoked_at, s.revoked_reason, \
     u.id AS u_id, u.username AS u_username, u.email AS u_email, u.display_name AS u_display_name, \
     u.status AS u_status, u.created_at AS u_created_at, u.updated_at AS u_updated_at, u.version AS u_version, \
     (SELECT string_agg(role, ',') FROM user_roles r WHERE r.user_id = u.id) AS u_roles \
     FROM sessions s LEFT JOIN users u ON u.id = s.user_id";

/// A session and its user by the session's public id (bind it).
static SESSION_USER: LazyLock<String> = LazyLock::new(|| format!("{SESSION_WITH_USER} WHERE s.id = $1"));

/// A session and its user by the hash of the session's secret (bind it).
static SESSION_USER_BY_SECRET: LazyLock<String> =
    LazyLock::new(|| format!("{SESSION_WITH_USER} WHERE s.secret_hash = $1"));

/// A user with their roles, in one statement (bind the user's id).
const USER: &str = "SELECT id, username, email, display_name, status, created_at, updated_at, version, \
                    (SELECT string_agg(role, ',') FROM user_roles r WHERE r.user_id = users.id) AS roles \
                    FROM users WHERE id = $1";

/// A project with its members' ids, in one statement (bind its id).
const PROJECT: &str = "SELECT id, name, description, budget_minor, currency, owner_id, status, planned_start, \
                       planned_end, created_at, updated_at, version, \
                       (SELECT string_agg(user_id, ',') FROM project_members m WHERE m.project_id = projects.id) \
                       AS member_ids FROM projects WHERE id = $1";

/// A person by login name or email (both lowercased, bind once), with
/// roles and password, in one statement: what a login reads.
const PERSON: &str = "SELECT id, username, email, display_name, status, created_at, updated_at, version, \
                      (SELECT string_agg(role, ',') FROM user_roles r WHERE r.user_id = users.id) AS roles, \
                      password_hash, must_change_password \
                      FROM users WHERE kind = 'person' AND (username = $1 OR email_normalized = $1)";

/// A client address's brute-force state (bind its key).
const THROTTLE: &str = "SELECT state FROM address_throttles WHERE address_key = $1";

/// The values of a comma-joined column (`string_agg`), none when NULL.
fn joined(row: &impl Columns, column: &str) -> Result<Vec<String>> {
    Ok(row.opt_text(column)?.map(|all| all.split(',').map(str::to_owned).collect()).unwrap_or_default())
}

/// The columns of a joined table, read under a prefix.
struct Prefixed<'r, R> {
    row: &'r R,
    prefix: &'static str,
}

impl<R: Columns> Columns for Prefixed<'_, R> {
    fn text(&self, column: &str) -> Result<String> {
        self.row.text(&format!("{}{column}", self.prefix))
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        self.row.opt_text(&format!("{}{column}", self.prefix))
    }

    fn int(&self, column: &str) -> Result<i64> {
        self.row.int(&format!("{}{column}", self.prefix))
    }
}

fn session_user_from(row: &impl Columns) -> Result<SessionUser> {
    let session = sessions::from_row(row)?;
    let user = match row.opt_text("u_id")? {
        Some(_) => Some(user_from(&Prefixed { row, prefix: "u_" })?),
        None => None,
    };
    Ok((session, user))
}

fn user_from(row: &impl Columns) -> Result<User> {
    let mut user = users::from_row(row)?;
    user.roles = joined(row, "roles")?.iter().map(|r| users::parse_role(r)).collect::<Result<_>>()?;
    user.roles.sort();
    Ok(user)
}

/// A person and their password hash with its must-change flag (none for
/// an account without a password).
type Person = (User, Option<(String, bool)>);

fn person_from(row: &impl Columns) -> Result<Person> {
    let password =
        row.opt_text("password_hash")?.map(|hash| Ok::<_, StoreError>((hash, row.int("must_change_password")? != 0)));
    Ok((user_from(row)?, password.transpose()?))
}

fn project_from(row: &impl Columns) -> Result<ProjectMembers> {
    Ok((projects::from_row(row)?, joined(row, "member_ids")?))
}

impl Store {
    /// Whether the request lookups run on the calling thread (a SQLite
    /// file) rather than through the pool.
    pub fn same_thread_reads(&self) -> bool {
        self.local().is_some()
    }

    /// Runs `read` on a same-thread SQLite connection when there is one;
    /// `None` when there is none or it could not answer (then the caller
    /// reads through the pool).
    fn local_read<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Option<Result<T>> {
        match self.local()?.with(read) {
            Err(StoreError::Unavailable(e)) => {
                tracing::debug!(error = %e, "same-thread read refused; reading through the pool");
                None
            }
            other => Some(other),
        }
    }

    /// The row of `sql` with `id` bound to `$1`, mapped by `local` on a
    /// same-thread connection or by `pooled` through the pool. (Callers
    /// pass `local` as a closure: a generic mapping function named directly
    /// would fix the rusqlite row's lifetime.)
    async fn fetch<T>(
        &self,
        sql: &str,
        id: &str,
        local: impl FnOnce(&rusqlite::Row<'_>) -> Result<T>,
        pooled: impl FnOnce(&AnyRow) -> Result<T>,
    ) -> Result<Option<T>> {
        if let Some(found) = self.local_read(|c| one(c, sql, id, local)) {
            return found;
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *self.read().await?).await?;
        row.as_ref().map(pooled).transpose()
    }

    /// A session by its public id (the `sid` of an access token) with its
    /// user and their roles: what every request authenticated by an access
    /// token needs. With [`Freshness::Recent`] it may come from the
    /// cache of recent reads (`crate::recent`); otherwise one round trip to
    /// PostgreSQL.
    pub async fn session_with_user(&self, id: &str, freshness: Freshness) -> Result<Option<SessionUser>> {
        self.session_user(By::Id, freshness, &SESSION, &SESSION_USER, id).await
    }

    /// A session by the hash of its secret (the browser cookie), with its
    /// user and their roles; as [`session_with_user`](Self::session_with_user).
    pub async fn session_with_user_by_secret(
        &self,
        secret_hash: &str,
        freshness: Freshness,
    ) -> Result<Option<SessionUser>> {
        self.session_user(By::Secret, freshness, &SESSION_BY_SECRET, &SESSION_USER_BY_SECRET, secret_hash).await
    }

    /// A session found by `key` and its user: from the cache when allowed
    /// and good, else read (and kept). Through the pool (PostgreSQL) one
    /// joined statement, `joined`: one round trip instead of two. On the
    /// calling thread (SQLite) two point reads on one connection, `session`
    /// then the user: SQLite prepares a join statement again at every use
    /// once its key is bound anew (the statement's `RePrepare` counter
    /// counts every execution), which made the join cost about ten times as
    /// much as when kept prepared.
    async fn session_user(
        &self,
        by: By,
        freshness: Freshness,
        session: &str,
        joined: &str,
        key: &str,
    ) -> Result<Option<SessionUser>> {
        let recent = self.recent();
        recent.through(recent.sessions(by), key, freshness, self.read_session_user(session, joined, key)).await
    }

    async fn read_session_user(&self, session: &str, joined: &str, key: &str) -> Result<Option<SessionUser>> {
        let local = self.local_read(|c| {
            let Some(found) = one(c, session, key, |r| sessions::from_row(r))? else { return Ok(None) };
            let user = one(c, USER, &found.user_id, |r| user_from(r))?;
            Ok(Some((found, user)))
        });
        if let Some(found) = local {
            return found;
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(joined)).bind(key).fetch_optional(&mut *self.read().await?).await?;
        row.as_ref().map(session_user_from).transpose()
    }

    /// The person a login names (login name or email, case-insensitive;
    /// never a service account), with their password: what
    /// `users::find_by_login` and `credentials::password` read, in one
    /// statement.
    pub async fn person_for_login(&self, login: &str) -> Result<Option<Person>> {
        let login = login.trim().to_lowercase();
        self.fetch(PERSON, &login, |r| person_from(r), person_from).await
    }

    /// A client address's brute-force state, as stored (see
    /// `credentials::address_throttle`).
    pub async fn address_throttle(&self, key: &str) -> Result<Option<String>> {
        self.fetch(THROTTLE, key, |r| r.text("state"), |r| r.text("state")).await
    }

    /// A project and the ids of its members ([`StoreError::NotFound`] if
    /// there is none). With [`Freshness::Recent`] it may come from the
    /// cache of recent reads (`crate::recent`): ask for it only where a
    /// copy up to the cache's bound old is good enough to decide on, a
    /// safe request's, never where the answer is a change.
    pub async fn project_with_members(&self, id: ProjectId, freshness: Freshness) -> Result<ProjectMembers> {
        let key = id.to_string();
        let recent = self.recent();
        let read = self.fetch(PROJECT, &key, |r| project_from(r), project_from);
        recent.through(recent.projects(), &key, freshness, read).await?.ok_or(StoreError::NotFound)
    }
}
