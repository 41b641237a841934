//! Budget approvals (guide §3.3): a budget above the threshold, asked for
//! by someone who is not a system_admin, waits here until a system_admin
//! approves or rejects it. At most one request per project is pending; a
//! newer one supersedes it.

use crate::codec::{field, parse_ts, ts};
use crate::error::{Result, StoreError};
use crate::page::{Arg, ListParams, Page, SortKey, Statement, finish};
use autopmo_domain::{Amount, Currency, Money, ProjectId, UserId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

const TABLE: &str = "budget_approvals";
const COLUMNS: &str = "SELECT id, project_id, requester_id, kind, previous_minor, requested_minor, currency, status, \
     decided_by, decided_at, reason, created_at, updated_at, version FROM budget_approvals";

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalStatus {
    /// Waiting for a system_admin.
    Pending,
    /// Approved: the budget took effect.
    Approved,
    /// Rejected: the budget stayed.
    Rejected,
    /// Replaced by a newer request for the same project.
    Superseded,
}

impl ApprovalStatus {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Superseded => "superseded",
        }
    }

    /// Parses a stable name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Rejected, Self::Superseded].into_iter().find(|s| s.as_str() == raw)
    }
}

/// A request for a budget above the threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// Its id.
    pub id: Uuid,
    /// The project.
    pub project_id: ProjectId,
    /// Who asked.
    pub requester_id: UserId,
    /// `create` (a new project) or `raise` (a changed budget).
    pub kind: String,
    /// The budget in force when asked.
    pub previous: Money,
    /// The budget asked for.
    pub requested: Money,
    /// Where it stands.
    pub status: ApprovalStatus,
    /// Who decided.
    pub decided_by: Option<UserId>,
    /// When.
    pub decided_at: Option<OffsetDateTime>,
    /// Why (the requester's justification, then the decider's reason).
    pub reason: String,
    /// Asked at.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
    /// Optimistic-concurrency version.
    pub version: i64,
}

/// Approvals are listed newest first by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApprovalSort {
    /// By time asked.
    #[default]
    CreatedAt,
}

impl SortKey for ApprovalSort {
    fn column(self) -> &'static str {
        "created_at"
    }

    fn name(self) -> &'static str {
        "created_at"
    }
}

/// Which approvals to list.
#[derive(Debug, Clone, Default)]
pub struct ApprovalFilter {
    /// Only these requesters' (none: everyone's).
    pub requester_id: Option<UserId>,
    /// Only in this status.
    pub status: Option<ApprovalStatus>,
    /// Only for this project.
    pub project_id: Option<ProjectId>,
}

/// Stores a pending request, superseding a pending one for the same project.
/// Returns the superseded request's id, if there was one.
pub async fn request(conn: &mut AnyConnection, a: &Approval) -> Result<Option<Uuid>> {
    let previous = sqlx::query("SELECT id FROM budget_approvals WHERE project_id = $1 AND status = 'pending'")
        .bind(a.project_id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    let superseded = match previous {
        Some(row) => {
            let id: String = row.try_get(0)?;
            sqlx::query(
                "UPDATE budget_approvals SET status = 'superseded', updated_at = $1, version = version + 1 \
                 WHERE id = $2",
            )
            .bind(ts(a.created_at))
            .bind(&id)
            .execute(&mut *conn)
            .await?;
            Some(field(TABLE, id.parse::<Uuid>())?)
        }
        None => None,
    };
    sqlx::query(
        "INSERT INTO budget_approvals (id, project_id, requester_id, kind, previous_minor, requested_minor, currency, \
         status, decided_by, decided_at, reason, created_at, updated_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, $9, $10, $11, $12)",
    )
    .bind(a.id.to_string())
    .bind(a.project_id.to_string())
    .bind(a.requester_id.to_string())
    .bind(&a.kind)
    .bind(a.previous.amount.minor())
    .bind(a.requested.amount.minor())
    .bind(a.requested.currency.code())
    .bind(a.status.as_str())
    .bind(&a.reason)
    .bind(ts(a.created_at))
    .bind(ts(a.updated_at))
    .bind(a.version)
    .execute(conn)
    .await?;
    Ok(superseded)
}

/// Reads one request.
pub async fn get(conn: &mut AnyConnection, id: Uuid) -> Result<Approval> {
    let mut stmt = Statement::new(COLUMNS);
    stmt.push(" WHERE id = ").bind(Arg::Text(id.to_string()));
    let row = stmt.query().fetch_optional(conn).await?.ok_or(StoreError::NotFound)?;
    from_row(&row)
}

/// Records the decision on a pending request; `StoreError::Rule` if it is
/// no longer pending (decided or superseded meanwhile).
pub async fn decide(
    conn: &mut AnyConnection,
    id: Uuid,
    status: ApprovalStatus,
    by: UserId,
    reason: &str,
    at: OffsetDateTime,
) -> Result<Approval> {
    let done = sqlx::query(
        "UPDATE budget_approvals SET status = $1, decided_by = $2, decided_at = $3, reason = $4, updated_at = $3, \
         version = version + 1 WHERE id = $5 AND status = 'pending'",
    )
    .bind(status.as_str())
    .bind(by.to_string())
    .bind(ts(at))
    .bind(reason)
    .bind(id.to_string())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        let current = get(conn, id).await?;
        return Err(StoreError::Rule(format!("the request is already {}", current.status.as_str())));
    }
    get(conn, id).await
}

/// Lists requests, newest first unless asked otherwise.
pub async fn list(
    conn: &mut AnyConnection,
    filter: &ApprovalFilter,
    params: &ListParams<ApprovalSort>,
) -> Result<Page<Approval>> {
    let mut stmt = Statement::new(COLUMNS);
    stmt.push(" WHERE 1 = 1")
        .filter_eq("requester_id", filter.requester_id.map(|u| u.to_string()))
        .filter_eq("status", filter.status.map(|s| s.as_str().to_owned()))
        .filter_eq("project_id", filter.project_id.map(|p| p.to_string()));
    stmt.paginate(params)?;
    let rows = stmt.query().fetch_all(conn).await?;
    let items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    Ok(finish(items, params, |a| (ts(a.created_at), a.id.to_string())))
}

fn money(minor: i64, currency: Currency) -> Result<Money> {
    let amount = Amount::from_minor(minor, currency)
        .ok_or_else(|| StoreError::corrupt(TABLE, format!("amount {minor} out of range")))?;
    Ok(Money { amount, currency })
}

fn from_row(row: &AnyRow) -> Result<Approval> {
    let currency = field(TABLE, Currency::parse(&row.try_get::<String, _>("currency")?))?;
    let decided_by: Option<String> = row.try_get("decided_by")?;
    let decided_at: Option<String> = row.try_get("decided_at")?;
    Ok(Approval {
        id: field(TABLE, row.try_get::<String, _>("id")?.parse::<Uuid>())?,
        project_id: field(TABLE, row.try_get::<String, _>("project_id")?.parse::<ProjectId>())?,
        requester_id: field(TABLE, row.try_get::<String, _>("requester_id")?.parse::<UserId>())?,
        kind: row.try_get("kind")?,
        previous: money(row.try_get("previous_minor")?, currency)?,
        requested: money(row.try_get("requested_minor")?, currency)?,
        status: ApprovalStatus::parse(&row.try_get::<String, _>("status")?)
            .ok_or_else(|| StoreError::corrupt(TABLE, "unknown status"))?,
        decided_by: decided_by.map(|u| field(TABLE, u.parse::<UserId>())).transpose()?,
        decided_at: decided_at.map(|t| parse_ts(TABLE, &t)).transpose()?,
        reason: row.try_get("reason")?,
        created_at: parse_ts(TABLE, &row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(TABLE, &row.try_get::<String, _>("updated_at")?)?,
        version: row.try_get("version")?,
    })
}
