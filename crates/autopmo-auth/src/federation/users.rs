//! Finding, linking and provisioning the local user of an external
//! identity, and mapping the provider's roles.

use super::provider::Provider;
use super::{FederationError, Provisioning, claims};
use autopmo_audit::{Actor, AuditRecord, Category, Outcome};
use autopmo_domain::{DisplayName, Email, Role, User, UserId, UserStatus, Username};
use autopmo_store::{UnitOfWork, federation, users};
use autopmo_trail::AuditTrail;
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// What [`resolve`] found.
#[derive(Debug)]
pub struct Resolved {
    pub user: User,
    pub created: bool,
    pub linked: bool,
}

/// The AutoPMO roles the token's role claim maps to; `None` when the token
/// has no such claim (the user's roles are then left as they are).
fn mapped_roles(provider: &Provider, claims: &Map<String, Value>) -> Option<Vec<Role>> {
    let values = claims::role_values(claims, &provider.config.role_claim)?;
    let mut roles: Vec<Role> = values.iter().filter_map(|v| provider.role_map.get(v).copied()).collect();
    roles.sort();
    roles.dedup();
    Some(roles)
}

fn subject(claims: &Map<String, Value>) -> Result<&str, FederationError> {
    claims.get("sub").and_then(Value::as_str).ok_or(FederationError::Refused("sub missing"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Finds the user of the token's identity, linking or provisioning it as
/// configured, and sets their roles to the mapped ones; inside `uow`.
pub async fn resolve(
    uow: &mut UnitOfWork,
    trail: &AuditTrail,
    provider: &Provider,
    claims: &Map<String, Value>,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Resolved, FederationError> {
    let issuer = provider.config.issuer.as_str();
    let sub = subject(claims)?;
    let roles = mapped_roles(provider, claims);
    if let Some(id) = federation::find_identity(uow.conn(), issuer, sub).await? {
        let mut user = users::get(uow.conn(), id).await?;
        if user.status != UserStatus::Active {
            return Err(FederationError::Refused("account not active"));
        }
        federation::touch_identity(uow.conn(), issuer, sub, now).await?;
        sync_roles(uow, &mut user, roles, actor, now).await?;
        return Ok(Resolved { user, created: false, linked: false });
    }
    if provider.config.provisioning == Provisioning::None {
        return Err(FederationError::Refused("identity not linked and provisioning is off"));
    }
    let email = claims
        .get("email")
        .and_then(Value::as_str)
        .and_then(|e| Email::parse(e).ok())
        .ok_or(FederationError::Refused("no usable email claim"))?;
    let verified = claims.get("email_verified").and_then(Value::as_bool) == Some(true);
    let existing =
        users::find_by_login(uow.conn(), email.as_str()).await?.filter(|u| u.email.normalized() == email.normalized());
    if let Some(mut user) = existing {
        if !verified {
            return Err(FederationError::Refused("email not verified by the provider"));
        }
        if user.status != UserStatus::Active {
            return Err(FederationError::Refused("account not active"));
        }
        federation::link_identity(uow.conn(), issuer, sub, user.id, now).await?;
        sync_roles(uow, &mut user, roles, actor, now).await?;
        return Ok(Resolved { user, created: false, linked: true });
    }
    if provider.config.provisioning != Provisioning::Create {
        return Err(FederationError::Refused("no local user with this verified email"));
    }
    let user = create(uow, trail, provider, claims, sub, email, roles.unwrap_or_default(), actor, now).await?;
    Ok(Resolved { user, created: true, linked: true })
}

#[expect(clippy::too_many_arguments, reason = "one provisioning, all of its inputs")]
async fn create(
    uow: &mut UnitOfWork,
    trail: &AuditTrail,
    provider: &Provider,
    claims: &Map<String, Value>,
    sub: &str,
    email: Email,
    roles: Vec<Role>,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<User, FederationError> {
    let issuer = provider.config.issuer.as_str();
    let preferred =
        claims.get("preferred_username").and_then(Value::as_str).and_then(|p| Username::parse(&p.to_lowercase()).ok());
    let username = match preferred {
        Some(name) if !users::username_taken(uow.conn(), name.as_str()).await? => name,
        _ => {
            let digest = autopmo_crypto::sha256(format!("{issuer}\0{sub}").as_bytes());
            let short: String = hex(&digest).chars().take(16).collect();
            Username::parse(&format!("fed-{short}")).map_err(|_| FederationError::Refused("no usable username"))?
        }
    };
    let display_name = claims
        .get("name")
        .and_then(Value::as_str)
        .and_then(|n| DisplayName::parse(n).ok())
        .or_else(|| DisplayName::parse(username.as_str()).ok())
        .ok_or(FederationError::Refused("no usable display name"))?;
    let user = User {
        id: UserId::new(),
        username,
        email,
        display_name,
        status: UserStatus::Active,
        roles,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    users::insert(uow.conn(), &user).await?;
    federation::link_identity(uow.conn(), issuer, sub, user.id, now).await?;
    let mut created =
        AuditRecord::new("user.created", Category::Administrative, "create", Outcome::Success, trail.now())
            .with_resource("user", Some(user.id.to_string()), None)
            .with_metadata(&serde_json::json!({
                "roles": user.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                "password_set": false,
                "federated_issuer": issuer,
            }));
    created.actor = actor.clone();
    uow.append_audit(&mut created).await?;
    if user.roles.contains(&Role::SystemAdmin) {
        privileged_alert(uow, &user, actor, now).await?;
    }
    Ok(user)
}

async fn privileged_alert(
    uow: &mut UnitOfWork,
    user: &User,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), FederationError> {
    let mut alert = autopmo_trail::monitor::alert(
        "privileged_role_granted",
        "high",
        &format!("the system_admin role was granted to user {} by an identity provider's role mapping", user.id),
        now,
        actor.clone(),
    );
    uow.append_audit(&mut alert).await?;
    Ok(())
}

/// The provider is authoritative for the roles of its users: when the token
/// carries the role claim, the user's roles become the mapped ones.
async fn sync_roles(
    uow: &mut UnitOfWork,
    user: &mut User,
    roles: Option<Vec<Role>>,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), FederationError> {
    let Some(roles) = roles else { return Ok(()) };
    let mut held = user.roles.clone();
    held.sort();
    if held == roles {
        return Ok(());
    }
    federation::set_roles(uow.conn(), user.id, &roles, now).await?;
    // A role change ends the user's sessions (a new one is opened after this
    // when the change comes with a login), and is recorded with the old and
    // the new roles.
    let ended =
        autopmo_store::sessions::revoke_all_for_user(uow.conn(), &user.id.to_string(), "roles_changed", now).await?;
    let names = |r: &[Role]| r.iter().map(|x| x.as_str()).collect::<Vec<_>>();
    let mut record = autopmo_audit::AuditRecord::new(
        "user.roles_changed",
        autopmo_audit::Category::Authorization,
        "update",
        autopmo_audit::Outcome::Success,
        now,
    )
    .with_resource("user", Some(user.id.to_string()), None)
    .with_metadata(&serde_json::json!({
        "old_roles": names(&held),
        "new_roles": names(&roles),
        "via": "federation",
        "sessions_ended": ended,
    }));
    record.actor = actor.clone();
    uow.append_audit(&mut record).await?;
    let granted_admin = roles.contains(&Role::SystemAdmin) && !held.contains(&Role::SystemAdmin);
    user.roles = roles;
    if granted_admin {
        privileged_alert(uow, user, actor, now).await?;
    }
    Ok(())
}

/// For a bearer token: the linked user when nothing needs writing (the
/// common case, one read); otherwise [`resolve`] in a unit of work, audited
/// as `auth.federated_login` (`method: bearer`). The caller's roles are the
/// ones mapped from this token (or the user's, if it has no role claim).
pub async fn resolve_for_bearer(
    trail: &AuditTrail,
    provider: &Provider,
    claims: &Map<String, Value>,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(User, Vec<Role>), FederationError> {
    let sub = subject(claims)?;
    let roles = mapped_roles(provider, claims);
    let mut conn = trail.store().read().await?;
    if let Some(id) = federation::find_identity(&mut conn, &provider.config.issuer, sub).await? {
        let user = users::get(&mut conn, id).await?;
        drop(conn);
        if user.status != UserStatus::Active {
            return Err(FederationError::Refused("account not active"));
        }
        let mut held = user.roles.clone();
        held.sort();
        if roles.as_ref().is_none_or(|r| *r == held) {
            let roles = roles.unwrap_or(held);
            return Ok((user, roles));
        }
    } else {
        drop(conn);
    }
    let mut uow = trail.store().begin().await?;
    let resolved = resolve(&mut uow, trail, provider, claims, actor, now).await?;
    let mut record = super::event(trail, Outcome::Success, actor, &provider.config.name, Some(&resolved.user))
        .with_metadata(&serde_json::json!({
            "issuer": provider.config.issuer,
            "method": "bearer",
            "provisioned": resolved.created,
            "linked": resolved.linked,
            "roles": resolved.user.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        }));
    uow.append_audit(&mut record).await?;
    uow.commit().await?;
    let roles = resolved.user.roles.clone();
    Ok((resolved.user, roles))
}
