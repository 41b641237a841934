//! Users and their roles.

use crate::codec::{field, parse_ts, ts};
use crate::error::{Result, StoreError};
use crate::page::{Arg, ListParams, Page, SortKey, Statement, finish};
use autopmo_domain::{DisplayName, Email, Role, User, UserId, UserStatus, Username};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

const TABLE: &str = "users";
const COLUMNS: &str = "SELECT id, username, email, display_name, status, created_at, updated_at, version FROM users";

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

/// Stores a new user with its roles.
pub async fn insert(conn: &mut AnyConnection, user: &User) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, username, email, email_normalized, display_name, status, created_at, updated_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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

/// Reads one user by login name (case-insensitive) or email (case-insensitive).
pub async fn find_by_login(conn: &mut AnyConnection, login: &str) -> Result<Option<User>> {
    let login = login.trim().to_lowercase();
    let mut stmt = Statement::new(COLUMNS);
    stmt.push(" WHERE username = ")
        .bind(Arg::Text(login.clone()))
        .push(" OR email_normalized = ")
        .bind(Arg::Text(login));
    let Some(row) = stmt.query().fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    Ok(Some(with_roles(conn, from_row(&row)?).await?))
}

/// Whether a user exists.
pub async fn exists(conn: &mut AnyConnection, id: UserId) -> Result<bool> {
    let row = sqlx::query("SELECT 1 FROM users WHERE id = $1").bind(id.to_string()).fetch_optional(conn).await?;
    Ok(row.is_some())
}

/// Lists users.
pub async fn list(conn: &mut AnyConnection, params: &ListParams<UserSort>) -> Result<Page<User>> {
    let mut stmt = Statement::new(COLUMNS);
    stmt.push(" WHERE 1 = 1").paginate(params)?;
    let rows = stmt.query().fetch_all(&mut *conn).await?;
    let mut users = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    let mut stmt = Statement::new("SELECT user_id, role FROM user_roles WHERE user_id IN ");
    stmt.bind_list(users.iter().map(|u| u.id.to_string()));
    let roles = stmt.query().fetch_all(&mut *conn).await?;
    for row in &roles {
        let user_id: String = row.try_get(0)?;
        let role = field(TABLE, Role::parse(&row.try_get::<String, _>(1)?))?;
        if let Some(user) = users.iter_mut().find(|u| u.id.to_string() == user_id) {
            user.roles.push(role);
        }
    }
    users.iter_mut().for_each(|u| u.roles.sort());
    Ok(finish(users, params, |u| {
        let key = match params.sort {
            UserSort::Username => u.username.as_str().to_owned(),
            UserSort::CreatedAt => ts(u.created_at),
        };
        (key, u.id.to_string())
    }))
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

async fn with_roles(conn: &mut AnyConnection, mut user: User) -> Result<User> {
    let rows = sqlx::query("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
        .bind(user.id.to_string())
        .fetch_all(conn)
        .await?;
    user.roles =
        rows.iter().map(|r| field(TABLE, Role::parse(&r.try_get::<String, _>(0)?))).collect::<Result<Vec<_>>>()?;
    user.roles.sort();
    Ok(user)
}

fn from_row(row: &AnyRow) -> Result<User> {
    Ok(User {
        id: field(TABLE, row.try_get::<String, _>("id")?.parse::<UserId>())?,
        username: field(TABLE, Username::parse(&row.try_get::<String, _>("username")?))?,
        email: field(TABLE, Email::parse(&row.try_get::<String, _>("email")?))?,
        display_name: field(TABLE, DisplayName::parse(&row.try_get::<String, _>("display_name")?))?,
        status: field(TABLE, UserStatus::parse(&row.try_get::<String, _>("status")?))?,
        roles: Vec::new(),
        created_at: parse_ts(TABLE, &row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(TABLE, &row.try_get::<String, _>("updated_at")?)?,
        version: row.try_get("version")?,
    })
}
