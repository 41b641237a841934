//! Role administration (guide §3.1, §8.2 "role assignment/removal").
//!
//! A user's roles are replaced as a whole by a system administrator (over
//! the API or at the command line). In the same unit of work the change
//! ends every session of the user — their access tokens stop working on the
//! next request, since every request re-reads the roles — and is recorded
//! as `user.roles_changed` with the old and the new roles, what was added
//! and what was removed (Keycloak's admin events do not say). Granting
//! `system_admin` also raises the `privileged_role_granted` alert.
//!
//! Two rules hold whoever asks: the last active system administrator keeps
//! `system_admin` (or nobody could administer roles any more), and a
//! service account never holds `system_admin`.

use crate::AuthError;
use autopmo_audit::{Actor, AuditRecord, Category, Outcome};
use autopmo_domain::{Role, User, UserId, UserStatus};
use autopmo_store::users::{self, UserKind};
use autopmo_store::{StoreError, UnitOfWork, sessions};
use autopmo_trail::AuditTrail;
use time::OffsetDateTime;

/// Why `system_admin` is refused to a service account.
pub const SERVICE_ADMIN_REFUSED: &str = "service accounts hold scoped roles; system_admin is for people";

/// Who makes an administrative change, as the audit trail records it: the
/// sealed actor, and the request and session it came in (none at the
/// command line).
#[derive(Debug, Clone, Default)]
pub struct ChangedBy {
    /// The caller (sealed personal fields).
    pub actor: Actor,
    /// The request's id.
    pub request_id: Option<String>,
    /// The caller's session.
    pub session_id: Option<String>,
}

impl ChangedBy {
    /// An event of `event_type` by this caller about `resource` `id`.
    pub(crate) fn event(
        &self,
        event_type: &str,
        category: Category,
        action: &str,
        resource: (&str, String),
        now: OffsetDateTime,
    ) -> AuditRecord {
        let record = AuditRecord::new(event_type, category, action, Outcome::Success, now).with_resource(
            resource.0,
            Some(resource.1),
            None,
        );
        self.stamp(record)
    }

    /// `record` as this caller's.
    pub(crate) fn stamp(&self, mut record: AuditRecord) -> AuditRecord {
        record.actor = self.actor.clone();
        record.request_id.clone_from(&self.request_id);
        record.session_id.clone_from(&self.session_id);
        record
    }
}

/// What a role change did.
#[derive(Debug, Clone)]
pub struct RoleChange {
    /// The user, with their roles and version after the change.
    pub user: User,
    /// The roles before, sorted.
    pub old: Vec<Role>,
    /// The roles after, sorted.
    pub new: Vec<Role>,
    /// How many sessions the change ended.
    pub sessions_ended: u64,
}

impl RoleChange {
    /// Whether anything changed (a request with the same set changes nothing).
    pub fn changed(&self) -> bool {
        self.old != self.new
    }

    /// The roles granted.
    pub fn added(&self) -> Vec<Role> {
        self.new.iter().filter(|r| !self.old.contains(r)).copied().collect()
    }

    /// The roles taken away.
    pub fn removed(&self) -> Vec<Role> {
        self.old.iter().filter(|r| !self.new.contains(r)).copied().collect()
    }
}

/// The stable names of `roles`.
pub fn names(roles: &[Role]) -> Vec<&'static str> {
    roles.iter().map(|r| r.as_str()).collect()
}

/// Sorts and deduplicates `roles`.
pub fn normalized(mut roles: Vec<Role>) -> Vec<Role> {
    roles.sort();
    roles.dedup();
    roles
}

/// Replaces the roles of `user` with `roles` inside `uow` (see the module
/// doc). `expected_version`, when given, must be the user's current version
/// (`StoreError::VersionMismatch` otherwise). The same set changes nothing:
/// no session ends and no event is written.
pub async fn change(
    uow: &mut UnitOfWork,
    user: UserId,
    roles: Vec<Role>,
    expected_version: Option<i64>,
    by: &ChangedBy,
    now: OffsetDateTime,
) -> Result<RoleChange, AuthError> {
    let found = match users::get(uow.conn(), user).await {
        Ok(found) => found,
        Err(StoreError::NotFound) => return Err(AuthError::UnknownUser),
        Err(e) => return Err(e.into()),
    };
    if let Some(expected) = expected_version
        && expected != found.version
    {
        return Err(StoreError::VersionMismatch { current: found.version }.into());
    }
    let new = normalized(roles);
    let old = normalized(found.roles.clone());
    if old == new {
        return Ok(RoleChange { user: found, old, new, sessions_ended: 0 });
    }
    if new.contains(&Role::SystemAdmin) && users::kind(uow.conn(), user).await? == UserKind::Service {
        return Err(AuthError::Invalid(SERVICE_ADMIN_REFUSED.to_owned()));
    }
    let loses_admin = old.contains(&Role::SystemAdmin) && !new.contains(&Role::SystemAdmin);
    if loses_admin
        && found.status == UserStatus::Active
        && users::count_active_with_role(uow.conn(), Role::SystemAdmin).await? <= 1
    {
        return Err(AuthError::LastAdministrator);
    }
    users::set_roles(uow.conn(), user, &new, now).await?;
    let sessions_ended = sessions::revoke_all_for_user(uow.conn(), &user.to_string(), "roles_changed", now).await?;
    let mut after = users::get(uow.conn(), user).await?;
    after.roles.sort();
    let change = RoleChange { user: after, old, new, sessions_ended };
    let mut record = by
        .event("user.roles_changed", Category::Authorization, "update", ("user", user.to_string()), now)
        .with_metadata(&serde_json::json!({
            "old_roles": names(&change.old),
            "new_roles": names(&change.new),
            "added": names(&change.added()),
            "removed": names(&change.removed()),
            "sessions_ended": sessions_ended,
            "version": change.user.version,
            "via": "administration",
        }));
    uow.append_audit(&mut record).await?;
    if change.added().contains(&Role::SystemAdmin) {
        let alert = autopmo_trail::monitor::alert(
            "privileged_role_granted",
            "high",
            &format!("the system_admin role was granted to user {user}"),
            now,
            by.actor.clone(),
        );
        uow.append_audit(&mut by.stamp(alert)).await?;
    }
    Ok(change)
}

/// As [`change`], in a unit of work of its own (the command line).
pub async fn change_now(
    trail: &AuditTrail,
    user: UserId,
    roles: Vec<Role>,
    by: &ChangedBy,
) -> Result<RoleChange, AuthError> {
    let mut uow = trail.store().begin().await?;
    let change = change(&mut uow, user, roles, None, by, trail.now()).await?;
    uow.commit().await?;
    Ok(change)
}
