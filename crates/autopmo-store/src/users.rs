//! Users and their roles.
//!
//! A user is a person (who signs in) or a service account (kind `service`,
//! for agents and integrations: no password, authenticated by its own API
//! keys; see [`crate::service_accounts`]). Lookups by login name or email
//! ([`find_by_login`]) find people only, so that sign-in, password reset and
//! identity-provider linking never reach a service account.

use crate::codec::{field, parse_ts, ts};
use crate::error::{Result, StoreError};
use crate::page::{Arg, ListParams, Page, SortKey, Statement, finish};
use crate::row::Columns;
use autopmo_domain::{DisplayName, Email, Role, User, UserId, UserStatus, Username};
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

const TABLE: &str = "users";
pub(crate) const COLUMNS: &str =
    "SELECT id, username, email, display_name, status, created_at, updated_at, version, kind, description FROM users";

/// What a user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserKind {
    /// A person, who may sign in.
    Person,
    /// A service account (agents, integrations): API keys only.
    Service,
}

impl UserKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::Service => "service",
        }
    }

    pub(crate) fn parse(raw: &str) -> Result<Self> {
        match raw {
            "person" => Ok(Self::Person),
            "service" => Ok(Self::Service),
            other => Err(StoreError::corrupt(TABLE, format!("kind {other}"))),
        }
    }
}

/// Columns a user list can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserSort {
    /// By login name (the default).
    #[default]
    Username,
    /// By creation time.
    CreatedAt,
}

impl SortKey for UserSort {
    fn column(self) -> &'static str {
        match self {
            Self::Username => "username",
            Self::CreatedAt => "created_at",
        }
    }

    fn name(self) -> &'static str {
        self.column()
    }
}

/// Stores a new person with their roles.
pub async fn insert(conn: &mut AnyConnection, user: &User) -> Result<()> {
    insert_as(conn, user, UserKind::Person, "").await
}

/// Stores a new user of `kind` with its roles and description.
pub(crate) async fn insert_as(conn: &mut AnyConnection, user: &User, kind: UserKind, description: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, username, email, email_normalized, display_name, status, created_at, updated_at, \
         version, kind, description) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(user.id.to_string())
    .bind(user.username.as_str())
    .bind(user.email.as_str())
    .bind(user.email.normalized())
    .bind(user.display_name.as_str())
    .bind(user.status.as_str())
    .bind(ts(user.created_at))
    .bind(ts(user.updated_at))
    .bind(user.version)
    .bind(kind.as_str())
    .bind(description)
    .execute(&mut *conn)
    .await?;
    for role in &user.roles {
        grant_role(conn, user.id, *role, user.created_at).await?;
    }
    Ok(())
}

/// Gives `user` a role (no-op if held).
pub async fn grant_role(conn: &mut AnyConnection, user: UserId, role: Role, at: OffsetDateTime) -> Result<()> {
    let held = sqlx::query("SELECT 1 FROM user_roles WHERE user_id = $1 AND role = $2")
        .bind(user.to_string())
        .bind(role.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    if held.is_none() {
        sqlx::query("INSERT INTO user_roles (user_id, role, granted_at) VALUES ($1, $2, $3)")
            .bind(user.to_string())
            .bind(role.as_str())
            .bind(ts(at))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Reads one user.
pub async fn get(conn: &mut AnyConnection, id: UserId) -> Result<User> {
    let mut stmt = Statement::new(COLUMNS);
    stmt.push(" WHERE id = ").bind(Arg::Text(id.to_string()));
    let row = stmt.query().fetch_optional(&mut *conn).await?.ok_or(StoreError::NotFound)?;
    with_roles(conn, from_row(&row)?).await
}

/// Reads one person by login name (case-insensitive) or email
/// (case-insensitive). Service accounts are never found: they cannot sign
/// in, reset a password or be linked to an external identity.
pub async fn find_by_login(conn: &mut AnyConnection, login: &str) -> Result<Option<User>> {
    let login = login.trim().to_lowercase();
    let mut stmt = Statement::new(COLUMNS);
    stmt.push(" WHERE kind = 'person' AND (username = ")
        .bind(Arg::Text(login.clone()))
        .push(" OR email_normalized = ")
        .bind(Arg::Text(login))
        .push(")");
    let Some(row) = stmt.query().fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    Ok(Some(with_roles(conn, from_row(&row)?).await?))
}

/// Reads one user of either kind by login name (case-insensitive), with its kind.
pub async fn find_by_username(conn: &mut AnyConnection, username: &str) -> Result<Option<(User, UserKind)>> {
    let mut stmt = Statement::new(COLUMNS);
    stmt.push(" WHERE username = ").bind(Arg::Text(username.trim().to_lowercase()));
    let Some(row) = stmt.query().fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let kind = UserKind::parse(&row.try_get::<String, _>("kind")?)?;
    Ok(Some((with_roles(conn, from_row(&row)?).await?, kind)))
}

/// Whether a login name is taken by a user of either kind.
pub async fn username_taken(conn: &mut AnyConnection, username: &str) -> Result<bool> {
    let row = sqlx::query("SELECT 1 FROM users WHERE username = $1")
        .bind(username.trim().to_lowercase())
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

/// What a user is.
pub async fn kind(conn: &mut AnyConnection, id: UserId) -> Result<UserKind> {
    let row = sqlx::query("SELECT kind FROM users WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    UserKind::parse(&row.try_get::<String, _>("kind")?)
}

/// Whether a user exists.
pub async fn exists(conn: &mut AnyConnection, id: UserId) -> Result<bool> {
    let row = sqlx::query("SELECT 1 FROM users WHERE id = $1").bind(id.to_string()).fetch_optional(conn).await?;
    Ok(row.is_some())
}

/// Lists users (people and service accounts).
pub async fn list(conn: &mut AnyConnection, params: &ListParams<UserSort>) -> Result<Page<User>> {
    let page = list_of(conn, params, None, |u, sort| match sort {
        UserSort::Username => u.username.as_str().to_owned(),
        UserSort::CreatedAt => ts(u.created_at),
    })
    .await?;
    Ok(Page { items: page.items.into_iter().map(|l| l.user).collect(), next_cursor: page.next_cursor })
}

/// A listed user with the columns only some callers need.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub(crate) user: User,
    pub(crate) description: String,
}

/// Lists users of `kind` (all when `None`); `key` gives a user's value of
/// the sort column, for the cursor.
pub(crate) async fn list_of<S: SortKey>(
    conn: &mut AnyConnection,
    params: &ListParams<S>,
    kind: Option<UserKind>,
    key: impl Fn(&User, S) -> String,
) -> Result<Page<Listed>> {
    let mut stmt = Statement::new(COLUMNS);
    stmt.push(" WHERE 1 = 1").filter_eq("kind", kind.map(|k| k.as_str().to_owned())).paginate(params)?;
    let rows = stmt.query().fetch_all(&mut *conn).await?;
    let mut users = rows
        .iter()
        .map(|row| Ok(Listed { user: from_row(row)?, description: row.try_get("description")? }))
        .collect::<Result<Vec<_>>>()?;
    let mut stmt = Statement::new("SELECT user_id, role FROM user_roles WHERE user_id IN ");
    stmt.bind_list(users.iter().map(|u| u.user.id.to_string()));
    let roles = stmt.query().fetch_all(&mut *conn).await?;
    for row in &roles {
        let user_id: String = row.try_get(0)?;
        let role = field(TABLE, Role::parse(&row.try_get::<String, _>(1)?))?;
        if let Some(listed) = users.iter_mut().find(|u| u.user.id.to_string() == user_id) {
            listed.user.roles.push(role);
        }
    }
    users.iter_mut().for_each(|u| u.user.roles.sort());
    Ok(finish(users, params, |u| (key(&u.user, params.sort), u.user.id.to_string())))
}

/// Sets a user's status.
pub async fn set_status(conn: &mut AnyConnection, id: UserId, status: UserStatus, at: OffsetDateTime) -> Result<()> {
    let result = sqlx::query("UPDATE users SET status = $1, updated_at = $2, version = version + 1 WHERE id = $3")
        .bind(status.as_str())
        .bind(ts(at))
        .bind(id.to_string())
        .execute(conn)
        .await?;
    if result.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

/// Replaces `user`'s roles with `roles` and counts a new version of the
/// user (so that an `If-Match` read before the change no longer matches).
pub async fn set_roles(conn: &mut AnyConnection, user: UserId, roles: &[Role], now: OffsetDateTime) -> Result<()> {
    let result = sqlx::query("UPDATE users SET updated_at = $1, version = version + 1 WHERE id = $2")
        .bind(ts(now))
        .bind(user.to_string())
        .execute(&mut *conn)
        .await?;
    if result.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1").bind(user.to_string()).execute(&mut *conn).await?;
    for role in roles {
        grant_role(conn, user, *role, now).await?;
    }
    Ok(())
}

/// How many active users hold `role`.
pub async fn count_active_with_role(conn: &mut AnyConnection, role: Role) -> Result<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) FROM user_roles r JOIN users u ON u.id = r.user_id WHERE r.role = $1 AND u.status = 'active'",
    )
    .bind(role.as_str())
    .fetch_one(conn)
    .await?;
    Ok(row.try_get::<i64, _>(0)?)
}

pub(crate) async fn with_roles(conn: &mut AnyConnection, mut user: User) -> Result<User> {
    let rows = sqlx::query(ROLES).bind(user.id.to_string()).fetch_all(conn).await?;
    user.roles = rows.iter().map(|r| parse_role(&r.try_get::<String, _>(0)?)).collect::<Result<Vec<_>>>()?;
    user.roles.sort();
    Ok(user)
}

/// A user's roles (bind the user's id).
const ROLES: &str = "SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role";

/// A stored role name.
pub(crate) fn parse_role(raw: &str) -> Result<Role> {
    field(TABLE, Role::parse(raw))
}

pub(crate) fn from_row(row: &impl Columns) -> Result<User> {
    Ok(User {
        id: field(TABLE, row.text("id")?.parse::<UserId>())?,
        username: field(TABLE, Username::parse(&row.text("username")?))?,
        email: field(TABLE, Email::parse(&row.text("email")?))?,
        display_name: field(TABLE, DisplayName::parse(&row.text("display_name")?))?,
        status: field(TABLE, UserStatus::parse(&row.text("status")?))?,
        roles: Vec::new(),
        created_at: parse_ts(TABLE, &row.text("created_at")?)?,
        updated_at: parse_ts(TABLE, &row.text("updated_at")?)?,
        version: row.int("version")?,
    })
}
