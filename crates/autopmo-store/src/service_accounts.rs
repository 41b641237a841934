//! Service accounts: users of kind `service`, for agents and integrations.
//!
//! A service account has a name (username rules), a description, roles and
//! a status, and no password: it authenticates only with its own API keys
//! (`apmo_sak_…`, see [`crate::tokens`]). The `email` column needs a unique
//! value, so it holds the reserved `<name>@service-accounts.invalid`
//! (`.invalid` can never be delivered to, RFC 2606): nobody can reset a
//! password to it or prove it to an identity provider.

use crate::codec::ts;
use crate::error::{Result, StoreError};
use crate::page::{Arg, ListParams, Page, SortKey, Statement};
use crate::users::{self, UserKind};
use autopmo_domain::{User, UserId};
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

/// The reserved email domain of service accounts.
pub const EMAIL_DOMAIN: &str = "service-accounts.invalid";

/// A service account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    /// The user behind it (name = `username`; email reserved, see the module doc).
    pub user: User,
    /// What it is for.
    pub description: String,
}

/// Columns a service-account list can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServiceAccountSort {
    /// By name (the default).
    #[default]
    Name,
    /// By creation time.
    CreatedAt,
}

impl SortKey for ServiceAccountSort {
    fn column(self) -> &'static str {
        match self {
            Self::Name => "username",
            Self::CreatedAt => "created_at",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::CreatedAt => "created_at",
        }
    }
}

/// Stores a new service account with its roles.
pub async fn insert(conn: &mut AnyConnection, account: &ServiceAccount) -> Result<()> {
    users::insert_as(conn, &account.user, UserKind::Service, &account.description).await
}

/// Reads one service account; `NotFound` for a person's id too.
pub async fn get(conn: &mut AnyConnection, id: UserId) -> Result<ServiceAccount> {
    let mut stmt = Statement::new(users::COLUMNS);
    stmt.push(" WHERE kind = 'service' AND id = ").bind(Arg::Text(id.to_string()));
    let row = stmt.query().fetch_optional(&mut *conn).await?.ok_or(StoreError::NotFound)?;
    let description: String = row.try_get("description")?;
    let user = users::with_roles(conn, users::from_row(&row)?).await?;
    Ok(ServiceAccount { user, description })
}

/// Reads one service account by name (case-insensitive).
pub async fn find_by_name(conn: &mut AnyConnection, name: &str) -> Result<Option<ServiceAccount>> {
    let mut stmt = Statement::new(users::COLUMNS);
    stmt.push(" WHERE kind = 'service' AND username = ").bind(Arg::Text(name.trim().to_lowercase()));
    let Some(row) = stmt.query().fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let description: String = row.try_get("description")?;
    let user = users::with_roles(conn, users::from_row(&row)?).await?;
    Ok(Some(ServiceAccount { user, description }))
}

/// Lists service accounts.
pub async fn list(conn: &mut AnyConnection, params: &ListParams<ServiceAccountSort>) -> Result<Page<ServiceAccount>> {
    let page = users::list_of(conn, params, Some(UserKind::Service), |u, sort| match sort {
        ServiceAccountSort::Name => u.username.as_str().to_owned(),
        ServiceAccountSort::CreatedAt => ts(u.created_at),
    })
    .await?;
    let items = page.items.into_iter().map(|l| ServiceAccount { user: l.user, description: l.description }).collect();
    Ok(Page { items, next_cursor: page.next_cursor })
}

/// Sets the description and counts a new version.
pub async fn set_description(
    conn: &mut AnyConnection,
    id: UserId,
    description: &str,
    now: OffsetDateTime,
) -> Result<()> {
    let result = sqlx::query(
        "UPDATE users SET description = $1, updated_at = $2, version = version + 1 WHERE id = $3 AND kind = 'service'",
    )
    .bind(description)
    .bind(ts(now))
    .bind(id.to_string())
    .execute(conn)
    .await?;
    if result.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}
