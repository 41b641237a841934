//! Account administration: create, reset a password, disable, unlock — each
//! audited in the same transaction as the change.

use crate::AuthError;
use autopmo_audit::{Actor, AuditRecord, Category, Outcome};
use autopmo_crypto::PasswordHasher;
use autopmo_domain::{DisplayName, Email, Role, User, UserId, UserStatus, Username};
use autopmo_identity::bruteforce::UserLoginFailures;
use autopmo_identity::password_policy::PasswordPolicy;
use autopmo_store::{StoreError, credentials, sessions, users};
use autopmo_trail::AuditTrail;
use secrecy::{ExposeSecret, SecretString};

/// The account service.
#[derive(Debug, Clone)]
pub struct Accounts {
    trail: AuditTrail,
    hasher: PasswordHasher,
    policy: PasswordPolicy,
}

/// A new account.
#[derive(Debug)]
pub struct NewUser {
    /// Login name.
    pub username: Username,
    /// Email (unique regardless of case).
    pub email: Email,
    /// Name shown.
    pub display_name: DisplayName,
    /// Roles (§3.1).
    pub roles: Vec<Role>,
    /// Initial password, checked against the policy (none: the account
    /// cannot sign in with a password until one is set).
    pub password: Option<SecretString>,
    /// The user must choose a new password at first login.
    pub must_change_password: bool,
}

fn event(trail: &AuditTrail, event_type: &str, action: &str, user: UserId, actor: &Actor) -> AuditRecord {
    let mut record = AuditRecord::new(event_type, Category::Administrative, action, Outcome::Success, trail.now())
        .with_resource("user", Some(user.to_string()), None);
    record.actor = actor.clone();
    record
}

/// A one-time password: 24 characters from a 58-letter alphabet without
/// look-alikes (about 140 bits).
pub fn one_time_password() -> Result<SecretString, AuthError> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
    let bytes = autopmo_crypto::random_bytes::<24>().map_err(|e| AuthError::Password(e.to_string()))?;
    let text: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET.get(usize::from(*b) % ALPHABET.len()).copied().unwrap_or(b'x')))
        .collect();
    Ok(SecretString::from(text))
}

impl Accounts {
    /// The service over `trail`'s store, hashing with `hasher` and checking
    /// new passwords against `policy`.
    pub fn new(trail: AuditTrail, hasher: PasswordHasher, policy: PasswordPolicy) -> Self {
        Self { trail, hasher, policy }
    }

    /// Checks `password` for `username`/`email` against the policy.
    pub fn check_password(&self, password: &SecretString, username: &str, email: &str) -> Result<(), AuthError> {
        self.policy.check(password.expose_secret(), username, email).map_err(|violations| {
            AuthError::Invalid(violations.iter().map(|v| v.message.clone()).collect::<Vec<_>>().join("; "))
        })
    }

    /// Creates an account (audited as `user.created`; a `system_admin` grant
    /// also raises a `privileged_role_granted` alert).
    pub async fn create(&self, new: NewUser, actor: &Actor) -> Result<User, AuthError> {
        self.create_with(new, actor, None).await
    }

    /// As [`create`](Self::create), spending the invite whose token hash is
    /// `invite` in the same transaction (so one invite makes one account).
    pub(crate) async fn create_with(
        &self,
        new: NewUser,
        actor: &Actor,
        invite: Option<&str>,
    ) -> Result<User, AuthError> {
        let hash = match &new.password {
            Some(password) => {
                self.check_password(password, new.username.as_str(), new.email.as_str())?;
                Some(self.hasher.hash(password).await?)
            }
            None => None,
        };
        let now = self.trail.now();
        let mut roles = new.roles;
        roles.sort();
        roles.dedup();
        let user = User {
            id: UserId::new(),
            username: new.username,
            email: new.email,
            display_name: new.display_name,
            status: UserStatus::Active,
            roles,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let role_names: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
        let mut created = event(&self.trail, "user.created", "create", user.id, actor)
            .with_metadata(&serde_json::json!({"roles": role_names, "password_set": hash.is_some()}));
        let mut uow = self.trail.store().begin().await?;
        if let Some(token_hash) = invite
            && !autopmo_store::invites::spend(uow.conn(), token_hash, now).await?
        {
            return Err(AuthError::Invalid("this invitation is not valid (unknown, used or expired)".to_owned()));
        }
        match users::insert(uow.conn(), &user).await {
            Ok(()) => {}
            Err(StoreError::Duplicate(what)) => return Err(AuthError::Duplicate(what)),
            Err(e) => return Err(e.into()),
        }
        if let Some(hash) = &hash {
            credentials::set_password(uow.conn(), &user.id.to_string(), hash.as_str(), new.must_change_password, now)
                .await?;
        }
        uow.append_audit(&mut created).await?;
        if user.roles.contains(&Role::SystemAdmin) {
            let mut alert = autopmo_trail::monitor::alert(
                "privileged_role_granted",
                "high",
                &format!("the system_admin role was granted to new user {}", user.id),
                now,
                actor.clone(),
            );
            uow.append_audit(&mut alert).await?;
        }
        uow.commit().await?;
        Ok(user)
    }

    /// Sets a new password (checked against the policy unless it is a
    /// generated one-time password), ends every session of the user, and
    /// records `user.password_changed`.
    pub async fn set_password(
        &self,
        user: &User,
        password: &SecretString,
        must_change: bool,
        actor: &Actor,
    ) -> Result<u64, AuthError> {
        if !must_change {
            self.check_password(password, user.username.as_str(), user.email.as_str())?;
        }
        let hash = self.hasher.hash(password).await?;
        let now = self.trail.now();
        let id = user.id.to_string();
        let mut uow = self.trail.store().begin().await?;
        credentials::set_password(uow.conn(), &id, hash.as_str(), must_change, now).await?;
        let ended = sessions::revoke_all_for_user(uow.conn(), &id, "password_changed", now).await?;
        let mut record = event(&self.trail, "user.password_changed", "update", user.id, actor)
            .with_metadata(&serde_json::json!({"temporary": must_change, "sessions_ended": ended}));
        uow.append_audit(&mut record).await?;
        uow.commit().await?;
        Ok(ended)
    }

    /// Disables an account and ends its sessions (`user.disabled`).
    pub async fn disable(&self, user: &User, actor: &Actor) -> Result<u64, AuthError> {
        let now = self.trail.now();
        let id = user.id.to_string();
        let mut uow = self.trail.store().begin().await?;
        users::set_status(uow.conn(), user.id, UserStatus::Disabled, now).await?;
        let ended = sessions::revoke_all_for_user(uow.conn(), &id, "user_disabled", now).await?;
        let mut record = event(&self.trail, "user.disabled", "disable", user.id, actor)
            .with_metadata(&serde_json::json!({"sessions_ended": ended}));
        uow.append_audit(&mut record).await?;
        uow.commit().await?;
        Ok(ended)
    }

    /// Clears a lockout (temporary or permanent) and re-enables a locked
    /// account (`user.unlocked`). A disabled account stays disabled.
    pub async fn unlock(&self, user: &User, actor: &Actor) -> Result<(), AuthError> {
        let now = self.trail.now();
        let id = user.id.to_string();
        let cleared =
            serde_json::to_string(&UserLoginFailures::default()).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let mut uow = self.trail.store().begin().await?;
        credentials::save_login_failures(uow.conn(), &id, &cleared, now).await?;
        if user.status == UserStatus::Locked {
            users::set_status(uow.conn(), user.id, UserStatus::Active, now).await?;
        }
        let mut record = event(&self.trail, "user.unlocked", "unlock", user.id, actor);
        uow.append_audit(&mut record).await?;
        uow.commit().await?;
        Ok(())
    }

    /// On a server whose database has no user at all, creates `admin` with
    /// the `system_admin` role and a one-time password it must change at
    /// first login; returns the password to show once. `None` when users exist.
    pub async fn bootstrap(&self, actor: &Actor) -> Result<Option<(User, SecretString)>, AuthError> {
        let mut conn = self.trail.store().read().await?;
        let any = users::list(
            &mut conn,
            &autopmo_store::ListParams {
                limit: 1,
                cursor: None,
                sort: users::UserSort::CreatedAt,
                direction: autopmo_store::Direction::Asc,
            },
        )
        .await?;
        drop(conn);
        if !any.items.is_empty() {
            return Ok(None);
        }
        let password = one_time_password()?;
        let new = NewUser {
            username: Username::parse("admin").map_err(|e| AuthError::Invalid(e.message))?,
            email: Email::parse("admin@localhost.localdomain").map_err(|e| AuthError::Invalid(e.message))?,
            display_name: DisplayName::parse("Administrator").map_err(|e| AuthError::Invalid(e.message))?,
            roles: vec![Role::SystemAdmin],
            password: None,
            must_change_password: true,
        };
        let user = self.create(new, actor).await?;
        self.set_password(&user, &password, true, actor).await?;
        Ok(Some((user, password)))
    }

    /// A user by login name or email.
    pub async fn find(&self, login: &str) -> Result<User, AuthError> {
        let mut conn = self.trail.store().read().await?;
        users::find_by_login(&mut conn, login).await?.ok_or(AuthError::UnknownUser)
    }
}

/// A new invitation: the token to hand over (shown once) and its end.
#[derive(Debug)]
pub struct Invitation {
    /// `apmo_inv_…`; only its hash is stored.
    pub token: SecretString,
    /// It cannot be used after this.
    pub expires_at: time::OffsetDateTime,
}

impl Accounts {
    /// Invites `email` with `roles`: a single-use token valid for `ttl`
    /// (`user.invited`). Accounts come from an administrator or an invite,
    /// never from self-registration.
    pub async fn invite(
        &self,
        email: &Email,
        roles: Vec<Role>,
        ttl: time::Duration,
        invited_by: Option<UserId>,
        actor: &Actor,
    ) -> Result<Invitation, AuthError> {
        let now = self.trail.now();
        let random = autopmo_crypto::random_bytes::<32>().map_err(|e| AuthError::Password(e.to_string()))?;
        let token = format!("apmo_inv_{}", autopmo_crypto::base64url(&random));
        let role_names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        let invite = autopmo_store::invites::Invite {
            token_hash: crate::login::secret_hash(&token),
            email_normalized: email.normalized(),
            roles: serde_json::to_string(&role_names).map_err(|e| AuthError::Invalid(e.to_string()))?,
            created_by: invited_by.map(|u| u.to_string()),
            created_at: now,
            expires_at: now + ttl,
            used_at: None,
        };
        let mut record = AuditRecord::new("user.invited", Category::Administrative, "invite", Outcome::Success, now)
            .with_metadata(&serde_json::json!({"roles": role_names, "expires_at": invite.expires_at.unix_timestamp()}));
        record.actor = actor.clone();
        let mut uow = self.trail.store().begin().await?;
        autopmo_store::invites::insert(uow.conn(), &invite).await?;
        uow.append_audit(&mut record).await?;
        uow.commit().await?;
        Ok(Invitation { token: SecretString::from(token), expires_at: invite.expires_at })
    }

    /// Creates the invited account: the email and roles come from the
    /// invitation, the username, name and password from the person. The
    /// invitation is spent in the same transaction.
    pub async fn accept_invite(
        &self,
        token: &str,
        username: Username,
        display_name: DisplayName,
        password: SecretString,
        actor: &Actor,
    ) -> Result<User, AuthError> {
        let refused = || AuthError::Invalid("this invitation is not valid (unknown, used or expired)".to_owned());
        if !token.starts_with("apmo_inv_") || token.len() > 128 {
            return Err(refused());
        }
        let hash = crate::login::secret_hash(token);
        let mut conn = self.trail.store().read().await?;
        let invite = autopmo_store::invites::valid(&mut conn, &hash, self.trail.now()).await?.ok_or_else(refused)?;
        drop(conn);
        let email = Email::parse(&invite.email_normalized).map_err(|_| refused())?;
        let names: Vec<String> = serde_json::from_str(&invite.roles).map_err(|_| refused())?;
        let roles = names.iter().map(|r| Role::parse(r).map_err(|_| refused())).collect::<Result<Vec<_>, _>>()?;
        let new =
            NewUser { username, email, display_name, roles, password: Some(password), must_change_password: false };
        self.create_with(new, actor, Some(&hash)).await
    }
}
