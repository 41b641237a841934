//! The PMO's records, as the store returns them. Each carries a `version`
//! that grows by one on every change: it is the ETag a client sends back in
//! `If-Match` so that no update is silently lost.

use crate::ids::{CostEntryId, ProjectId, TaskId, UserId};
use crate::money::{Amount, Money};
use crate::status::{CostCategory, MemberKind, ProjectStatus, Role, TaskStatus, UserStatus};
use crate::text::{Description, DisplayName, Email, Note, ProjectName, TaskTitle, Username};
use crate::work::{Hours, Percent, PlannedDates};
use time::{Date, OffsetDateTime};

/// A person (or later, a service account) known to AutoPMO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Login name; never changes.
    pub username: Username,
    /// Email; unique regardless of case.
    pub email: Email,
    /// Name shown to people.
    pub display_name: DisplayName,
    /// May the user sign in.
    pub status: UserStatus,
    /// Roles held (§3.1), sorted.
    pub roles: Vec<Role>,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
    /// Optimistic-concurrency version.
    pub version: i64,
}

/// A project (§5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Id.
    pub id: ProjectId,
    /// Name, 1–255 characters.
    pub name: ProjectName,
    /// Description.
    pub description: Description,
    /// Budget, exact.
    pub budget: Money,
    /// Accountable user.
    pub owner_id: UserId,
    /// Life-cycle state.
    pub status: ProjectStatus,
    /// Planned start and end.
    pub planned: PlannedDates,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
    /// Optimistic-concurrency version.
    pub version: i64,
}

/// A user's membership of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The project.
    pub project_id: ProjectId,
    /// The user.
    pub user_id: UserId,
    /// How the user takes part.
    pub kind: MemberKind,
    /// Added.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
    /// Optimistic-concurrency version.
    pub version: i64,
}

/// A task of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Id.
    pub id: TaskId,
    /// Owning project.
    pub project_id: ProjectId,
    /// Title.
    pub title: TaskTitle,
    /// Description.
    pub description: Description,
    /// State.
    pub status: TaskStatus,
    /// Who works on it.
    pub assignee_id: Option<UserId>,
    /// Estimated effort.
    pub estimate_hours: Option<Hours>,
    /// Effort spent.
    pub actual_hours: Option<Hours>,
    /// Planned start and finish.
    pub planned: PlannedDates,
    /// Progress.
    pub percent_complete: Percent,
    /// Tasks of the same project that must finish first, sorted.
    pub depends_on: Vec<TaskId>,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
    /// Optimistic-concurrency version.
    pub version: i64,
}

/// Money spent on a project, in the project's currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostEntry {
    /// Id.
    pub id: CostEntryId,
    /// Project charged.
    pub project_id: ProjectId,
    /// Day the cost was incurred.
    pub entry_date: Date,
    /// How much, in the project's budget currency.
    pub amount: Amount,
    /// What for.
    pub category: CostCategory,
    /// Free-text note.
    pub note: Note,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
    /// Optimistic-concurrency version.
    pub version: i64,
}
