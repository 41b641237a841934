//! Service accounts for agents and integrations: created, changed and
//! disabled by a system administrator, each change audited in the same unit
//! of work (`service_account.created`, `.updated`, `.disabled`,
//! `.key_created`, `.key_revoked`; role changes as `user.roles_changed`,
//! exactly as for people — see [`crate::roles`]).
//!
//! A service account holds scoped roles (never `system_admin`) and has no
//! password: it cannot log in, reset a password, accept an invitation or be
//! linked to an external identity. It calls the API with its own keys
//! (`apmo_sak_…`, 256 random bits, shown once, only the SHA-256 stored).
//! A key carries no roles: the account's roles are read on every request,
//! so a role change applies to every key at once. Disabling the account
//! revokes every key.

use crate::AuthError;
use crate::roles::{self, ChangedBy, RoleChange, SERVICE_ADMIN_REFUSED};
use autopmo_audit::Category;
use autopmo_domain::{DisplayName, Email, Note, Role, User, UserId, UserStatus, Username};
use autopmo_store::service_accounts::{self, EMAIL_DOMAIN, ServiceAccount};
use autopmo_store::{StoreError, UnitOfWork, tokens, users};
use autopmo_trail::AuditTrail;
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};

/// Days a key lives when the caller does not say.
pub const DEFAULT_KEY_DAYS: i64 = 90;
/// The longest a key may live, in days.
pub const MAX_KEY_DAYS: i64 = 3650;

/// A new service account, its values parsed.
#[derive(Debug, Clone)]
pub struct NewServiceAccount {
    /// Its name (username rules; unique among all users).
    pub name: Username,
    /// What it is for.
    pub description: Note,
    /// Its roles (not `system_admin`).
    pub roles: Vec<Role>,
}

/// A key just issued: the secret is shown once and never stored.
#[derive(Debug)]
pub struct IssuedKey {
    /// The key's metadata.
    pub key: tokens::KeyInfo,
    /// `apmo_sak_…`.
    pub secret: SecretString,
}

fn account_event(
    by: &ChangedBy,
    event_type: &str,
    action: &str,
    id: UserId,
    now: OffsetDateTime,
) -> autopmo_audit::AuditRecord {
    by.event(event_type, Category::Administrative, action, ("service_account", id.to_string()), now)
}

fn not_found(e: StoreError) -> AuthError {
    match e {
        StoreError::NotFound => AuthError::UnknownUser,
        other => other.into(),
    }
}

/// Refuses `system_admin` for a service account.
pub fn check_roles(roles: &[Role]) -> Result<(), AuthError> {
    if roles.contains(&Role::SystemAdmin) { Err(AuthError::Invalid(SERVICE_ADMIN_REFUSED.to_owned())) } else { Ok(()) }
}

/// Creates a service account inside `uow` (`service_account.created`).
pub async fn create(
    uow: &mut UnitOfWork,
    new: NewServiceAccount,
    by: &ChangedBy,
    now: OffsetDateTime,
) -> Result<ServiceAccount, AuthError> {
    check_roles(&new.roles)?;
    let email = Email::parse(&format!("{}@{EMAIL_DOMAIN}", new.name.as_str()))
        .map_err(|e| AuthError::Invalid(format!("name: {}", e.message)))?;
    let display_name =
        DisplayName::parse(new.name.as_str()).map_err(|e| AuthError::Invalid(format!("name: {}", e.message)))?;
    let account = ServiceAccount {
        user: User {
            id: UserId::new(),
            username: new.name,
            email,
            display_name,
            status: UserStatus::Active,
            roles: roles::normalized(new.roles),
            created_at: now,
            updated_at: now,
            version: 1,
        },
        description: new.description.into_inner(),
    };
    if users::username_taken(uow.conn(), account.user.username.as_str()).await? {
        return Err(AuthError::Duplicate("name"));
    }
    match service_accounts::insert(uow.conn(), &account).await {
        Ok(()) => {}
        Err(StoreError::Duplicate(_)) => return Err(AuthError::Duplicate("name")),
        Err(e) => return Err(e.into()),
    }
    let mut record = account_event(by, "service_account.created", "create", account.user.id, now).with_metadata(
        &serde_json::json!({"name": account.user.username.as_str(), "roles": roles::names(&account.user.roles)}),
    );
    uow.append_audit(&mut record).await?;
    Ok(account)
}

/// Changes a service account's description and roles inside `uow`.
/// `expected_version` must be its current version. A new description is
/// recorded as `service_account.updated`; new roles as `user.roles_changed`
/// (keys stay valid: they carry no roles).
pub async fn update(
    uow: &mut UnitOfWork,
    id: UserId,
    description: Option<Note>,
    new_roles: Option<Vec<Role>>,
    expected_version: i64,
    by: &ChangedBy,
    now: OffsetDateTime,
) -> Result<(ServiceAccount, Option<RoleChange>), AuthError> {
    let account = service_accounts::get(uow.conn(), id).await.map_err(not_found)?;
    if account.user.version != expected_version {
        return Err(StoreError::VersionMismatch { current: account.user.version }.into());
    }
    if let Some(roles) = &new_roles {
        check_roles(roles)?;
    }
    let description = description.map(Note::into_inner).filter(|d| *d != account.description);
    let mut version = expected_version;
    if let Some(text) = &description {
        service_accounts::set_description(uow.conn(), id, text, now).await?;
        version += 1;
        let mut record = account_event(by, "service_account.updated", "update", id, now)
            .with_metadata(&serde_json::json!({"fields": ["description"], "version": version}));
        uow.append_audit(&mut record).await?;
    }
    let change = match new_roles {
        Some(roles) => Some(roles::change(uow, id, roles, Some(version), by, now).await?),
        None => None,
    };
    let account = service_accounts::get(uow.conn(), id).await?;
    Ok((account, change.filter(RoleChange::changed)))
}

/// Disables a service account and revokes all its keys inside `uow`
/// (`service_account.disabled`); returns how many keys were revoked. An
/// account already disabled is left as it is (`None`).
pub async fn disable(
    uow: &mut UnitOfWork,
    id: UserId,
    expected_version: Option<i64>,
    by: &ChangedBy,
    now: OffsetDateTime,
) -> Result<Option<u64>, AuthError> {
    let account = service_accounts::get(uow.conn(), id).await.map_err(not_found)?;
    if let Some(expected) = expected_version
        && expected != account.user.version
    {
        return Err(StoreError::VersionMismatch { current: account.user.version }.into());
    }
    if account.user.status == UserStatus::Disabled {
        return Ok(None);
    }
    users::set_status(uow.conn(), id, UserStatus::Disabled, now).await?;
    let revoked = tokens::revoke_all_for_user(uow.conn(), id, now).await?;
    let mut record = account_event(by, "service_account.disabled", "disable", id, now)
        .with_metadata(&serde_json::json!({"keys_revoked": revoked}));
    uow.append_audit(&mut record).await?;
    Ok(Some(revoked))
}

/// Issues a key for an active service account inside `uow`, valid for
/// `days` (1–3650) (`service_account.key_created`; never the secret).
pub async fn create_key(
    uow: &mut UnitOfWork,
    id: UserId,
    name: &DisplayName,
    days: i64,
    by: &ChangedBy,
    now: OffsetDateTime,
) -> Result<IssuedKey, AuthError> {
    if !(1..=MAX_KEY_DAYS).contains(&days) {
        return Err(AuthError::Invalid(format!("expires_in_days must be from 1 to {MAX_KEY_DAYS}")));
    }
    let account = service_accounts::get(uow.conn(), id).await.map_err(not_found)?;
    if account.user.status != UserStatus::Active {
        return Err(AuthError::Inactive);
    }
    let random = autopmo_crypto::random_bytes::<32>().map_err(|e| AuthError::Password(e.to_string()))?;
    let expires_at = now + Duration::days(days);
    let issued = tokens::issue_service_key(uow.conn(), id, name.as_str(), random, now, Some(expires_at)).await?;
    let key = tokens::get(uow.conn(), issued.id).await?;
    let mut record = account_event(by, "service_account.key_created", "create", id, now).with_metadata(
        &serde_json::json!({"key_id": key.id.to_string(), "key_name": key.name, "expires_at": expires_at.unix_timestamp()}),
    );
    uow.append_audit(&mut record).await?;
    Ok(IssuedKey { key, secret: SecretString::from(issued.secret) })
}

/// Revokes one key of a service account inside `uow`
/// (`service_account.key_revoked`). A key already revoked, or another
/// user's, is `UnknownKey`.
pub async fn revoke_key(
    uow: &mut UnitOfWork,
    id: UserId,
    key_id: tokens::KeyId,
    by: &ChangedBy,
    now: OffsetDateTime,
) -> Result<tokens::KeyInfo, AuthError> {
    service_accounts::get(uow.conn(), id).await.map_err(not_found)?;
    let key = match tokens::get(uow.conn(), key_id).await {
        Ok(key) if key.user_id == id && key.revoked_at.is_none() => key,
        Ok(_) | Err(StoreError::NotFound) => return Err(AuthError::UnknownKey),
        Err(e) => return Err(e.into()),
    };
    tokens::revoke(uow.conn(), key_id, now).await?;
    let mut record = account_event(by, "service_account.key_revoked", "revoke", id, now)
        .with_metadata(&serde_json::json!({"key_id": key.id.to_string(), "key_name": key.name}));
    uow.append_audit(&mut record).await?;
    Ok(tokens::KeyInfo { revoked_at: Some(now), ..key })
}

/// Runs `work` in a unit of work of its own and commits (the command line).
pub async fn in_own_unit<T>(
    trail: &AuditTrail,
    work: impl AsyncFnOnce(&mut UnitOfWork, OffsetDateTime) -> Result<T, AuthError>,
) -> Result<T, AuthError> {
    let mut uow = trail.store().begin().await?;
    let out = work(&mut uow, trail.now()).await?;
    uow.commit().await?;
    Ok(out)
}
