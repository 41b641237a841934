//! Password reset by email (`resetPasswordAllowed`, guide §2.1) and password
//! change.
//!
//! **Reset.** [`Passwords::request_reset`] takes a username or email. For an
//! active account it issues a single-use token (`apmo_pwr_` + 256 random
//! bits), stores only its SHA-256, valid for 30 minutes, and hands a link to
//! the [`Mailer`] in the background. The caller learns nothing: unknown,
//! disabled and locked accounts go through the same steps (the token is
//! made, the same queries run) and get the same answer, and delivery happens
//! after the answer, so neither its outcome nor its duration shows. At most
//! [`MAX_RESETS_PER_WINDOW`] mails per account are sent within the token
//! lifetime. [`Passwords::confirm_reset`] spends the token with a
//! conditional update (of two concurrent confirmations exactly one wins),
//! sets the new password (checked against the policy), ends every session
//! of the user and withdraws their other reset tokens — in one unit of work
//! with its audit events. An unknown, spent or expired token gets one error.
//!
//! **Change.** [`Passwords::change_password`] proves the current password
//! through [`Logins::login`], so a wrong one counts towards the brute-force
//! lockout like any failed login; then it sets the new one the same way.
//! A user whose `must_change_password` is set (the bootstrap administrator)
//! may do it without an access token — they cannot get one before.

use crate::AuthError;
use crate::login::{Attempt, Logins, Refusal, secret_hash};
use crate::mail::{Mail, Mailer};
use autopmo_audit::{Actor, AuditRecord, Category, Outcome};
use autopmo_crypto::PasswordHasher;
use autopmo_domain::{FieldError, User, UserId, UserStatus};
use autopmo_identity::password_policy::PasswordPolicy;
use autopmo_identity::tokens::{OpaquePurpose, OpaqueToken};
use autopmo_store::password_resets::{self, PasswordReset};
use autopmo_store::{UnitOfWork, credentials, sessions, users};
use autopmo_trail::AuditTrail;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// How long a reset link works.
pub const RESET_TTL: Duration = Duration::minutes(30);

/// Reset mails one account can be sent within [`RESET_TTL`]; further
/// requests are answered alike but send nothing.
pub const MAX_RESETS_PER_WINDOW: i64 = 5;

/// The path of the reset page under the public URL; the token follows in
/// the fragment (`#token=…`), which browsers never send to a server.
pub const RESET_PAGE: &str = "/reset-password";

/// Why a confirmation or change was refused.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The reset token is unknown, spent or expired (one answer for all).
    #[error("the reset link is invalid or has expired")]
    InvalidToken,
    /// The current password is wrong, or the account cannot sign in.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failures from this address.
    #[error("too many failed attempts from this address")]
    AddressBlocked {
        /// Until when.
        until: OffsetDateTime,
    },
    /// Without an access token, only an account that must change its
    /// password may change it.
    #[error("sign in and send an access token to change this password")]
    TokenRequired,
    /// The new password is not acceptable (policy violations, or unchanged).
    #[error("the new password is not acceptable")]
    Rejected(Vec<FieldError>),
    /// Anything else.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<autopmo_store::StoreError> for PasswordError {
    fn from(e: autopmo_store::StoreError) -> Self {
        Self::Auth(e.into())
    }
}

impl From<autopmo_crypto::PasswordError> for PasswordError {
    fn from(e: autopmo_crypto::PasswordError) -> Self {
        Self::Auth(e.into())
    }
}

/// A request to change a password by proving the current one.
#[derive(Debug)]
pub struct PasswordChange {
    /// Login name or email (for an authenticated caller: theirs).
    pub login: String,
    /// The user the access token belongs to; `None` without one.
    pub authenticated_as: Option<UserId>,
    /// The current password.
    pub current: SecretString,
    /// The new password.
    pub new: SecretString,
    /// Client address, in clear (for the brute-force throttle).
    pub address: Option<String>,
    /// The caller, sealed.
    pub actor: Actor,
}

/// The password service: reset by email and change.
#[derive(Debug, Clone)]
pub struct Passwords {
    trail: AuditTrail,
    hasher: PasswordHasher,
    policy: PasswordPolicy,
    logins: Logins,
    mailer: Option<Arc<dyn Mailer>>,
    public_url: String,
}

fn field(code: &'static str, message: impl Into<String>) -> FieldError {
    FieldError::new("new_password", code, message)
}

impl Passwords {
    /// The service; reset links point at `public_url`. Without a mailer
    /// ([`with_mailer`](Self::with_mailer)) reset requests are answered and
    /// logged, and no mail is sent.
    pub fn new(
        trail: AuditTrail,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        logins: Logins,
        public_url: &str,
    ) -> Self {
        Self { trail, hasher, policy, logins, mailer: None, public_url: public_url.trim_end_matches('/').to_owned() }
    }

    /// Sends reset links through `mailer`.
    #[must_use]
    pub fn with_mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// Whether a mailer is configured.
    pub fn mail_configured(&self) -> bool {
        self.mailer.is_some()
    }

    /// The link a reset mail carries.
    pub fn reset_link(&self, token: &str) -> String {
        format!("{}{RESET_PAGE}#token={token}", self.public_url)
    }

    fn record(
        &self,
        event_type: &str,
        action: &str,
        outcome: Outcome,
        actor: &Actor,
        user: Option<&User>,
    ) -> AuditRecord {
        let mut record = AuditRecord::new(event_type, Category::Authentication, action, outcome, self.trail.now());
        record.actor = actor.clone();
        if let Some(user) = user {
            record = record.with_resource("user", Some(user.id.to_string()), None);
        }
        record
    }

    /// Asks for a reset link for `login` (username or email). The outcome
    /// is the same whether or not such an account exists; only a store or
    /// audit failure is an error.
    pub async fn request_reset(&self, login: &str, actor: &Actor) -> Result<(), AuthError> {
        let now = self.trail.now();
        let token = OpaqueToken::from_random(
            OpaquePurpose::PasswordReset,
            autopmo_crypto::random_bytes::<32>().map_err(|e| AuthError::Password(e.to_string()))?,
        );
        let token_hash = secret_hash(token.expose_secret());
        let mut conn = self.trail.store().read().await?;
        let login = login.trim();
        let found = if login.is_empty() { None } else { users::find_by_login(&mut conn, login).await? };
        drop(conn);
        let eligible = found.filter(|u| u.status == UserStatus::Active);
        let mut uow = self.trail.store().begin().await?;
        // The same query for everyone (only an eligible account's count
        // matters), inside the unit: units run one at a time, so concurrent
        // requests cannot exceed the limit.
        let subject = eligible.as_ref().map_or_else(String::new, |u| u.id.to_string());
        let recent = password_resets::issued_since(uow.conn(), &subject, now - RESET_TTL).await?;
        let delivery = match &eligible {
            None => "none",
            Some(_) if recent >= MAX_RESETS_PER_WINDOW => "throttled",
            Some(_) if self.mailer.is_none() => "mail_not_configured",
            Some(_) => "queued",
        };
        if let ("queued", Some(user)) = (delivery, &eligible) {
            let reset = PasswordReset {
                token_hash,
                user_id: user.id.to_string(),
                created_at: now,
                expires_at: now + RESET_TTL,
                used_at: None,
            };
            password_resets::insert(uow.conn(), &reset).await?;
        }
        // The submitted login is not recorded: it may be the address of
        // someone who has no account.
        let metadata = serde_json::json!({
            "account": if eligible.is_some() { "active" } else { "unknown_or_inactive" },
            "delivery": delivery,
            "expires_in_minutes": RESET_TTL.whole_minutes(),
        });
        let mut record = self
            .record("auth.password_reset_requested", "password_reset", Outcome::Success, actor, eligible.as_ref())
            .with_metadata(&metadata);
        uow.append_audit(&mut record).await?;
        uow.commit().await?;
        match (&self.mailer, eligible) {
            (None, _) => {
                tracing::warn!("password reset requested, but mail is not configured ([smtp]): no mail sent");
            }
            (Some(mailer), Some(user)) if delivery == "queued" => {
                let mail = Mail {
                    to: user.email.as_str().to_owned(),
                    subject: "Reset your AutoPMO password".to_owned(),
                    body: SecretString::from(self.reset_mail(&user, token.expose_secret())),
                };
                tokio::spawn(deliver(self.trail.clone(), Arc::clone(mailer), mail, user.id));
            }
            _ => {}
        }
        Ok(())
    }

    fn reset_mail(&self, user: &User, token: &str) -> String {
        format!(
            "Hello {name},\n\n\
             someone asked to reset the password of your AutoPMO account \"{username}\".\n\n\
             To choose a new password, open this link within {minutes} minutes:\n\n\
             {link}\n\n\
             The link works once. If you did not ask for this, ignore this mail:\n\
             your password stays as it is.\n",
            name = user.display_name.as_str(),
            username = user.username.as_str(),
            minutes = RESET_TTL.whole_minutes(),
            link = self.reset_link(token),
        )
    }

    /// Sets `new` as the password of the account `token` was issued for.
    pub async fn confirm_reset(&self, token: &str, new: &SecretString, actor: &Actor) -> Result<(), PasswordError> {
        let token =
            OpaqueToken::parse(OpaquePurpose::PasswordReset, token.trim()).ok_or(PasswordError::InvalidToken)?;
        let hash = secret_hash(token.expose_secret());
        let now = self.trail.now();
        let mut conn = self.trail.store().read().await?;
        let reset = password_resets::by_hash(&mut conn, &hash).await?;
        let reset = reset.filter(|r| r.used_at.is_none() && now < r.expires_at).ok_or(PasswordError::InvalidToken)?;
        let user_id: UserId = reset.user_id.parse().map_err(|_| PasswordError::InvalidToken)?;
        let user = match users::get(&mut conn, user_id).await {
            Ok(user) => user,
            Err(autopmo_store::StoreError::NotFound) => return Err(PasswordError::InvalidToken),
            Err(e) => return Err(e.into()),
        };
        drop(conn);
        if user.status != UserStatus::Active {
            return Err(PasswordError::InvalidToken);
        }
        // The token is not spent by a refused password: the user may try another.
        self.check(&user, new)?;
        let password_hash = self.hasher.hash(new).await?;
        let now = self.trail.now();
        let mut uow = self.trail.store().begin().await?;
        // Of two concurrent confirmations, exactly one spends the token.
        if !password_resets::spend(uow.conn(), &hash, now).await? {
            return Err(PasswordError::InvalidToken);
        }
        let ended = self.store_password(&mut uow, &user, password_hash.as_str(), "reset", actor, now).await?;
        let mut record = self
            .record("auth.password_reset_completed", "password_reset", Outcome::Success, actor, Some(&user))
            .with_metadata(&serde_json::json!({"sessions_ended": ended}));
        record.actor.user_id = Some(user.id.to_string());
        uow.append_audit(&mut record).await?;
        uow.commit().await?;
        Ok(())
    }

    /// Changes a password after proving the current one (see the module
    /// documentation). Every session of the user ends.
    pub async fn change_password(&self, change: PasswordChange) -> Result<(), PasswordError> {
        let attempt = Attempt {
            login: change.login,
            password: SecretString::from(change.current.expose_secret().to_owned()),
            address: change.address,
            actor: change.actor.clone(),
        };
        let grant = match self.logins.login(attempt).await? {
            Ok(grant) => grant,
            Err(Refusal::InvalidCredentials) => return Err(PasswordError::InvalidCredentials),
            Err(Refusal::AddressBlocked { until }) => return Err(PasswordError::AddressBlocked { until }),
        };
        // The session the proof opened is not for use.
        let refuse = async |reason: &str, error: PasswordError| -> Result<(), PasswordError> {
            let mut uow = self.trail.store().begin().await?;
            sessions::revoke(uow.conn(), &grant.session.id, reason, self.trail.now()).await?;
            uow.commit().await?;
            Err(error)
        };
        match change.authenticated_as {
            Some(id) if id != grant.user.id => {
                return refuse("password_change_refused", PasswordError::InvalidCredentials).await;
            }
            None if !grant.must_change_password => {
                return refuse("password_change_refused", PasswordError::TokenRequired).await;
            }
            _ => {}
        }
        let checked = if change.new.expose_secret() == change.current.expose_secret() {
            Err(PasswordError::Rejected(vec![field("unchanged", "the new password must differ from the current one")]))
        } else {
            self.check(&grant.user, &change.new)
        };
        if let Err(e) = checked {
            return refuse("password_change_refused", e).await;
        }
        let password_hash = match self.hasher.hash(&change.new).await {
            Ok(h) => h,
            Err(e) => return refuse("password_change_refused", e.into()).await,
        };
        let now = self.trail.now();
        let mut uow = self.trail.store().begin().await?;
        self.store_password(&mut uow, &grant.user, password_hash.as_str(), "change", &change.actor, now).await?;
        uow.commit().await?;
        Ok(())
    }

    fn check(&self, user: &User, new: &SecretString) -> Result<(), PasswordError> {
        self.policy.check(new.expose_secret(), user.username.as_str(), user.email.as_str()).map_err(|violations| {
            PasswordError::Rejected(violations.into_iter().map(|v| field(v.code.as_str(), v.message)).collect())
        })
    }

    /// Stores the hash, ends every session of the user, withdraws their
    /// unused reset tokens, and records `user.password_changed`.
    async fn store_password(
        &self,
        uow: &mut UnitOfWork,
        user: &User,
        hash: &str,
        method: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<u64, PasswordError> {
        let id = user.id.to_string();
        credentials::set_password(uow.conn(), &id, hash, false, now).await?;
        let ended = sessions::revoke_all_for_user(uow.conn(), &id, "password_changed", now).await?;
        let withdrawn = password_resets::withdraw_for_user(uow.conn(), &id, now).await?;
        let mut record =
            AuditRecord::new("user.password_changed", Category::Administrative, "update", Outcome::Success, now)
                .with_resource("user", Some(id.clone()), None)
                .with_metadata(&serde_json::json!({
                    "temporary": false,
                    "method": method,
                    "sessions_ended": ended,
                    "reset_tokens_withdrawn": withdrawn,
                }));
        record.actor = actor.clone();
        record.actor.user_id = Some(id);
        uow.append_audit(&mut record).await?;
        Ok(ended)
    }
}

/// Sends one reset mail; a failure is logged and recorded (the caller was
/// answered long ago, alike for every account).
async fn deliver(trail: AuditTrail, mailer: Arc<dyn Mailer>, mail: Mail, user: UserId) {
    let Err(error) = mailer.send(&mail).await else { return };
    // The server's message may quote the address: the log masks it, the
    // trail gets only the kind of failure.
    tracing::warn!(%error, %user, "the password reset mail could not be sent");
    let kind = match error {
        crate::mail::MailError::Config(_) => "config",
        crate::mail::MailError::Message(_) => "message",
        crate::mail::MailError::Smtp(_) => "smtp",
    };
    let record = AuditRecord::new(
        "auth.password_reset_mail_failed",
        Category::Authentication,
        "password_reset",
        Outcome::Failure,
        trail.now(),
    )
    .with_resource("user", Some(user.to_string()), None)
    .with_metadata(&serde_json::json!({"error": kind}));
    if let Err(e) = trail.record(record).await {
        tracing::error!(error = %e, "recording a failed password reset mail");
    }
}
