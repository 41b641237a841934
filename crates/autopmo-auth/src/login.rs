//! Password login with Keycloak's brute-force protection, per-address
//! throttling, and server-side sessions with single-use refresh tokens.
//!
//! The order matters:
//! 1. the client address's throttle is checked (a blocked address gets 429);
//! 2. the account is looked up by username or email, and its password is
//!    verified on the bounded hashing pool — always, against a dummy hash
//!    for an unknown user, a user without a password or a locked account, so
//!    all four refusals take the same time and give the same answer;
//! 3. the outcome is **settled in one unit of work**, which re-reads the
//!    lockout state: units run one at a time (and lock the audit head across
//!    replicas), so a burst of parallel wrong passwords is counted exactly,
//!    and a right password whose settlement comes after the lockout is
//!    refused — a burst cannot skip a lockout.

use crate::AuthError;
use autopmo_audit::{Actor, AuditRecord, Category, Outcome as AuditOutcome};
use autopmo_crypto::{PasswordHasher, Verification};
use autopmo_domain::{User, UserStatus};
use autopmo_identity::bruteforce::{
    AddressOutcome, AddressPolicy, AddressStatus, AddressThrottle, BruteForcePolicy, FailureKind, Outcome, Status,
    UserLoginFailures,
};
use autopmo_store::sessions::{self, RefreshToken, Session, SessionKind};
use autopmo_store::{UnitOfWork, credentials, users};
use autopmo_trail::AuditTrail;
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};

/// The prefix of refresh tokens (so secret scanners can spot a leaked one).
pub const REFRESH_PREFIX: &str = "apmo_rt_";

/// The prefix of session secrets (the browser cookie's value).
pub const SESSION_PREFIX: &str = "apmo_ses_";

/// How long a login refused for saturated hashing waits before its answer:
/// about the time the default queue (16 hashes per core, a hash of tens of
/// milliseconds) takes to move on.
pub const BUSY_DELAY: std::time::Duration = std::time::Duration::from_millis(250);

/// Session and brute-force settings.
#[derive(Debug, Clone)]
pub struct LoginPolicy {
    /// Keycloak's brute-force settings (§2.1).
    pub brute_force: BruteForcePolicy,
    /// Throttling per client address.
    pub address: AddressPolicy,
    /// Idle timeout, sliding (§2.3: 30 minutes).
    pub session_idle: Duration,
    /// Absolute session lifetime (§2.3: 8 hours).
    pub session_absolute: Duration,
    /// Refresh token lifetime (§2.3: 7 days), never beyond the session's end.
    pub refresh_ttl: Duration,
    /// `loginWithEmailAllowed`.
    pub login_with_email: bool,
    /// Who must pass a second factor at login (guide §2.2).
    pub mfa: MfaRequirement,
}

/// Who must pass a second factor at login. Whoever has a confirmed factor
/// uses it whatever this says.
#[derive(Debug, Clone)]
pub struct MfaRequirement {
    /// Accounts holding any of these roles (§2.2: admins).
    pub roles: Vec<autopmo_domain::Role>,
    /// Every account (production).
    pub everyone: bool,
    /// How long a login may wait for its second factor.
    pub challenge_ttl: Duration,
}

impl Default for MfaRequirement {
    fn default() -> Self {
        Self { roles: vec![autopmo_domain::Role::SystemAdmin], everyone: false, challenge_ttl: Duration::minutes(5) }
    }
}

impl MfaRequirement {
    /// Whether `user` must pass MFA.
    pub fn applies_to(&self, user: &User) -> bool {
        self.everyone || user.roles.iter().any(|r| self.roles.contains(r))
    }
}

/// A login whose password was right and that now waits for a second
/// factor — or, with `required_action`, for one to be configured first
/// (Keycloak's `CONFIGURE_TOTP`). No session exists yet.
#[derive(Debug)]
pub struct Pending {
    /// The user.
    pub user: User,
    /// The token that names this login (`apmo_mfa_…`; only its hash is stored).
    pub mfa_token: SecretString,
    /// The factors the user can answer with (`totp`, `webauthn`, `sms`, `recovery_code`).
    pub methods: Vec<String>,
    /// `CONFIGURE_TOTP` when the account must enrol a factor first.
    pub required_action: Option<&'static str>,
    /// Until when the token is good.
    pub expires_at: OffsetDateTime,
}

/// How a login ended.
#[derive(Debug)]
pub enum LoginResult {
    /// A session is open.
    Granted(Grant),
    /// A second factor is needed (see [`Pending`]).
    SecondFactor(Pending),
    /// Refused.
    Refused(Refusal),
}

/// The prefix of the token of a login waiting for its second factor.
pub const MFA_TOKEN_PREFIX: &str = "apmo_mfa_";

impl Default for LoginPolicy {
    fn default() -> Self {
        Self {
            brute_force: BruteForcePolicy::default(),
            address: AddressPolicy::default(),
            session_idle: Duration::minutes(30),
            session_absolute: Duration::hours(8),
            refresh_ttl: Duration::days(7),
            login_with_email: true,
            mfa: MfaRequirement::default(),
        }
    }
}

/// A login attempt.
#[derive(Debug)]
pub struct Attempt {
    /// Username (or email, when allowed).
    pub login: String,
    /// The password.
    pub password: SecretString,
    /// Client address, in clear (only its keyed hash is stored).
    pub address: Option<String>,
    /// The caller, sealed, for the audit trail.
    pub actor: Actor,
}

/// What a successful login hands out.
#[derive(Debug)]
pub struct Grant {
    /// The user.
    pub user: User,
    /// The new session.
    pub session: Session,
    /// The refresh token (shown once; only its hash is stored). Empty for a
    /// [`SessionKind::Browser`] session, which has none: the cookie is its
    /// only credential.
    pub refresh_token: SecretString,
    /// The session's secret (`apmo_ses_…`, the browser cookie's value; shown
    /// once, only its hash is stored). An API client never sees it.
    pub session_secret: SecretString,
    /// The user must set a new password before anything else.
    pub must_change_password: bool,
}

/// Why a login was refused. `InvalidCredentials` covers an unknown user, a
/// wrong password, a locked or disabled account: one answer for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The same for every kind of failure.
    InvalidCredentials,
    /// Too many failures from this address; try again after `until`.
    AddressBlocked {
        /// When.
        until: OffsetDateTime,
    },
}

/// What a login attempt is settled on.
struct Settlement<'a> {
    attempt: &'a Attempt,
    user: Option<&'a User>,
    stored: Option<&'a (String, bool)>,
    verification: Verification,
    gate: bool,
}

/// The login service.
#[derive(Debug, Clone)]
pub struct Logins {
    trail: AuditTrail,
    hasher: PasswordHasher,
    policy: LoginPolicy,
    address_key: [u8; 32],
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 (hex) of a presented secret: how tokens and session secrets are stored.
pub fn secret_hash(secret: &str) -> String {
    hex(&autopmo_crypto::sha256(secret.as_bytes()))
}

fn random_secret(prefix: &str) -> Result<String, AuthError> {
    let bytes = autopmo_crypto::random_bytes::<32>().map_err(|e| AuthError::Password(e.to_string()))?;
    Ok(format!("{prefix}{}", autopmo_crypto::base64url(&bytes)))
}

impl Logins {
    /// The service; client addresses are keyed with a key derived from the
    /// keyring, so every replica keys them alike and none stores them.
    pub fn new(trail: AuditTrail, hasher: PasswordHasher, policy: LoginPolicy) -> Self {
        let address_key = trail.keyring().derive_key("autopmo/address-throttle/v1");
        Self { trail, hasher, policy, address_key }
    }

    /// The policy in force.
    pub fn policy(&self) -> &LoginPolicy {
        &self.policy
    }

    fn address_key(&self, address: &str) -> String {
        hex(&autopmo_crypto::hmac_sha256(&self.address_key, address.as_bytes()))
    }

    fn event(&self, event_type: &str, outcome: AuditOutcome, actor: &Actor, user: Option<&User>) -> AuditRecord {
        let mut record = AuditRecord::new(event_type, Category::Authentication, "login", outcome, self.trail.now());
        record.actor = actor.clone();
        if let Some(user) = user {
            record.actor.user_id = Some(user.id.to_string());
            record = record.with_resource("user", Some(user.id.to_string()), None);
        }
        record
    }

    async fn load<T: serde::de::DeserializeOwned + Default>(raw: Option<String>) -> T {
        raw.and_then(|r| serde_json::from_str(&r).ok()).unwrap_or_default()
    }

    /// Tries a password login; a success opens an API session (tokens).
    pub async fn login(&self, attempt: Attempt) -> Result<Result<Grant, Refusal>, AuthError> {
        self.login_as(attempt, SessionKind::Api).await
    }

    /// Tries a password login; a success opens a session of `kind`.
    ///
    /// This proves the password only: it is what a password change uses.
    /// An interactive login goes through [`authenticate`](Self::authenticate),
    /// which asks for the second factor.
    pub async fn login_as(&self, attempt: Attempt, kind: SessionKind) -> Result<Result<Grant, Refusal>, AuthError> {
        Ok(match self.run(attempt, kind, false).await? {
            LoginResult::Granted(grant) => Ok(grant),
            LoginResult::Refused(refusal) => Err(refusal),
            // Not reached: without the gate there is no second step.
            LoginResult::SecondFactor(_) => Err(Refusal::InvalidCredentials),
        })
    }

    /// An interactive login: the password, then — when the account has a
    /// confirmed second factor or must have one (§2.2) — no session but a
    /// [`Pending`] login that `/auth/mfa/verify` completes.
    pub async fn authenticate(&self, attempt: Attempt, kind: SessionKind) -> Result<LoginResult, AuthError> {
        self.run(attempt, kind, true).await
    }

    /// A login refused because hashing is saturated is answered only after
    /// [`BUSY_DELAY`]: a client that retries at once (a flood) then waits
    /// as long as the queue takes to move, and its refusals cannot become
    /// the load themselves. Waiting costs a timer, not CPU.
    async fn run(&self, attempt: Attempt, kind: SessionKind, gate: bool) -> Result<LoginResult, AuthError> {
        let result = self.run_once(attempt, kind, gate).await;
        if matches!(result, Err(AuthError::Busy)) {
            tokio::time::sleep(BUSY_DELAY).await;
        }
        result
    }

    async fn run_once(&self, attempt: Attempt, kind: SessionKind, gate: bool) -> Result<LoginResult, AuthError> {
        // Refused before any lookup when hashing could not take it: under
        // a login flood the refusals must cost as little as possible, and
        // this one reveals nothing about the account.
        if self.hasher.saturated() {
            return Err(AuthError::Busy);
        }
        let now = self.trail.now();
        let address_key = attempt.address.as_deref().map(|a| self.address_key(a));
        let store = self.trail.store();
        if let Some(key) = &address_key {
            let throttle: AddressThrottle = Self::load(store.address_throttle(key).await?).await;
            if let AddressStatus::Blocked { until } = throttle.check(now) {
                let mut record = self
                    .event("auth.login_failed", AuditOutcome::Denied, &attempt.actor, None)
                    .with_metadata(&serde_json::json!({"reason": "address_blocked"}));
                let mut uow = self.trail.store().begin().await?;
                uow.append_audit(&mut record).await?;
                uow.commit().await?;
                return Ok(LoginResult::Refused(Refusal::AddressBlocked { until }));
            }
        }
        let login = attempt.login.trim();
        let found = store.person_for_login(login).await?;
        let found = found.filter(|(u, _)| self.policy.login_with_email || u.username.as_str() == login.to_lowercase());
        let (user, stored) = match found {
            Some((user, stored)) => (Some(user), stored),
            None => (None, None),
        };
        // Always one argon2 verification, whatever is known.
        let verification = self.hasher.verify(&attempt.password, stored.as_ref().map(|(h, _)| h.as_str())).await?;
        let mut uow = self.trail.store().begin().await?;
        let inputs = Settlement { attempt: &attempt, user: user.as_ref(), stored: stored.as_ref(), verification, gate };
        let outcome = self.settle(&mut uow, inputs, address_key.as_deref(), kind, now).await?;
        uow.commit().await?;
        // An upgrade of an old hash, after the login committed.
        let proven = match &outcome {
            LoginResult::Granted(grant) => Some(grant.user.id),
            LoginResult::SecondFactor(pending) => Some(pending.user.id),
            LoginResult::Refused(_) => None,
        };
        if let (Some(id), Verification::Valid { needs_rehash: true }, Some((old, _))) = (proven, verification, &stored)
            && let Ok(new) = self.hasher.hash(&attempt.password).await
        {
            let mut uow = self.trail.store().begin().await?;
            credentials::upgrade_hash(uow.conn(), &id.to_string(), old, new.as_str()).await?;
            uow.commit().await?;
        }
        Ok(outcome)
    }

    async fn settle(
        &self,
        uow: &mut UnitOfWork,
        inputs: Settlement<'_>,
        address_key: Option<&str>,
        kind: SessionKind,
        now: OffsetDateTime,
    ) -> Result<LoginResult, AuthError> {
        let Settlement { attempt, user, stored, verification, gate } = inputs;
        let refuse = |reason: &str| -> AuditRecord {
            self.event("auth.login_failed", AuditOutcome::Denied, &attempt.actor, user)
                .with_metadata(&serde_json::json!({"reason": reason}))
        };
        let Some(user) = user else {
            self.address_failure(uow, address_key, &attempt.actor, now).await?;
            uow.append_audit(&mut refuse("invalid_credentials")).await?;
            return Ok(LoginResult::Refused(Refusal::InvalidCredentials));
        };
        let id = user.id.to_string();
        let failures: UserLoginFailures = Self::load(credentials::login_failures(uow.conn(), &id).await?).await;
        // The state as it is now, after every earlier attempt settled.
        if failures.check(&self.policy.brute_force, now) != Status::Allowed {
            uow.append_audit(&mut refuse("account_locked")).await?;
            return Ok(LoginResult::Refused(Refusal::InvalidCredentials));
        }
        if user.status != UserStatus::Active || stored.is_none() {
            self.address_failure(uow, address_key, &attempt.actor, now).await?;
            uow.append_audit(&mut refuse(if user.status == UserStatus::Active {
                "no_password"
            } else {
                "account_disabled"
            }))
            .await?;
            return Ok(LoginResult::Refused(Refusal::InvalidCredentials));
        }
        if !verification.is_valid() {
            let (next, outcome) = failures.on_failure(&self.policy.brute_force, now, FailureKind::Password);
            let state = serde_json::to_string(&next).map_err(|e| AuthError::Invalid(e.to_string()))?;
            credentials::save_login_failures(uow.conn(), &id, &state, now).await?;
            self.address_failure(uow, address_key, &attempt.actor, now).await?;
            uow.append_audit(&mut refuse("invalid_credentials")).await?;
            if outcome != Outcome::NoNewLockout {
                self.lockout(uow, user, outcome, &attempt.actor, now).await?;
            }
            return Ok(LoginResult::Refused(Refusal::InvalidCredentials));
        }
        // The password is right. With a second factor due, the counters stay
        // as they are until it is passed: a known password must not reset
        // the lockout that wrong codes build up.
        let must_change = stored.is_some_and(|(_, m)| *m);
        if gate
            && !must_change
            && let Some(pending) = self.gate(uow, user, attempt, kind, now).await?
        {
            return Ok(LoginResult::SecondFactor(pending));
        }
        // Success.
        let cleared = serde_json::to_string(&failures.on_success()).map_err(|e| AuthError::Invalid(e.to_string()))?;
        credentials::save_login_failures(uow.conn(), &id, &cleared, now).await?;
        if let Some(key) = address_key {
            let throttle: AddressThrottle = Self::load(credentials::address_throttle(uow.conn(), key).await?).await;
            let state = serde_json::to_string(&throttle.on_success()).map_err(|e| AuthError::Invalid(e.to_string()))?;
            credentials::save_address_throttle(uow.conn(), key, &state, now).await?;
        }
        let grant = self.open_session_of(uow, user, kind, vec!["pwd".to_owned()], must_change, now).await?;
        let kind_name = match kind {
            SessionKind::Browser => "browser",
            SessionKind::Api => "api",
        };
        let mut record = self.event("auth.login", AuditOutcome::Success, &attempt.actor, Some(user)).with_metadata(
            &serde_json::json!({"method": "password", "session_id": grant.session.id, "session_kind": kind_name}),
        );
        record.session_id = Some(grant.session.id.clone());
        uow.append_audit(&mut record).await?;
        Ok(LoginResult::Granted(grant))
    }

    /// After a right password: the session stands when no second factor is
    /// due; otherwise it is withdrawn (in the same unit of work: it never
    /// existed) and a pending login is made instead.
    async fn gate(
        &self,
        uow: &mut UnitOfWork,
        user: &User,
        attempt: &Attempt,
        kind: SessionKind,
        now: OffsetDateTime,
    ) -> Result<Option<Pending>, AuthError> {
        let id = user.id.to_string();
        let factors = autopmo_store::mfa::factors(uow.conn(), &id).await?;
        let mut methods: Vec<String> = Vec::new();
        for f in factors.iter().filter(|f| f.confirmed_at.is_some()) {
            if !methods.contains(&f.kind) {
                methods.push(f.kind.clone());
            }
        }
        // One order whatever the enrolment order: strongest first.
        let rank = |m: &String| ["webauthn", "totp", "sms"].iter().position(|k| k == m).unwrap_or(usize::MAX);
        methods.sort_by_key(rank);
        let required = self.policy.mfa.applies_to(user);
        if methods.is_empty() && !required {
            return Ok(None);
        }
        if autopmo_store::mfa::recovery_codes_left(uow.conn(), &id).await? > 0 {
            methods.push("recovery_code".to_owned());
        }
        let required_action = methods.is_empty().then_some("CONFIGURE_TOTP");
        let token = random_secret(MFA_TOKEN_PREFIX)?;
        let kind = match kind {
            SessionKind::Browser => "browser",
            SessionKind::Api => "api",
        };
        let expires_at = now + self.policy.mfa.challenge_ttl;
        let challenge = autopmo_store::mfa::Challenge {
            token_hash: secret_hash(&token),
            user_id: id,
            purpose: if required_action.is_some() { "enroll" } else { "login" }.to_owned(),
            state: serde_json::json!({ "session_kind": kind }).to_string(),
            attempts: 0,
            created_at: now,
            expires_at,
        };
        autopmo_store::mfa::insert_challenge(uow.conn(), &challenge).await?;
        let mut record =
            self.event("auth.mfa_required", AuditOutcome::Success, &attempt.actor, Some(user)).with_metadata(
                &serde_json::json!({"methods": methods, "required_action": required_action, "session_kind": kind}),
            );
        record.action = "login".to_owned();
        uow.append_audit(&mut record).await?;
        Ok(Some(Pending {
            user: user.clone(),
            mfa_token: SecretString::from(token),
            methods,
            required_action,
            expires_at,
        }))
    }

    async fn address_failure(
        &self,
        uow: &mut UnitOfWork,
        key: Option<&str>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(), AuthError> {
        let Some(key) = key else { return Ok(()) };
        let throttle: AddressThrottle = Self::load(credentials::address_throttle(uow.conn(), key).await?).await;
        let (next, outcome) = throttle.on_failure(&self.policy.address, now);
        let state = serde_json::to_string(&next).map_err(|e| AuthError::Invalid(e.to_string()))?;
        credentials::save_address_throttle(uow.conn(), key, &state, now).await?;
        if let AddressOutcome::Blocked { until, consecutive_blocks } = outcome {
            let mut alert = autopmo_trail::monitor::alert(
                "address_blocked",
                "high",
                &format!("too many failed logins from one address: blocked until {until} (block {consecutive_blocks})"),
                now,
                actor.clone(),
            );
            uow.append_audit(&mut alert).await?;
        }
        Ok(())
    }

    pub(crate) async fn lockout(
        &self,
        uow: &mut UnitOfWork,
        user: &User,
        outcome: Outcome,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(), AuthError> {
        let (detail, permanent) = match outcome {
            Outcome::TemporarilyLocked { until, .. } => (format!("locked until {until}"), false),
            _ => ("disabled until an administrator unlocks it".to_owned(), true),
        };
        if permanent {
            users::set_status(uow.conn(), user.id, UserStatus::Locked, now).await?;
            sessions::revoke_all_for_user(uow.conn(), &user.id.to_string(), "account_locked", now).await?;
        }
        let mut record = self
            .event("auth.account_locked", AuditOutcome::Success, actor, Some(user))
            .with_metadata(&serde_json::json!({"permanent": permanent, "detail": detail}));
        uow.append_audit(&mut record).await?;
        let mut alert = autopmo_trail::monitor::alert(
            "account_lockout",
            if permanent { "high" } else { "medium" },
            &format!("account {} {detail} after repeated failed logins", user.id),
            now,
            actor.clone(),
        );
        uow.append_audit(&mut alert).await?;
        Ok(())
    }

    /// Opens an API session for `user` (authenticated by `amr`) with a
    /// first refresh token, inside `uow`.
    pub async fn open_session(
        &self,
        uow: &mut UnitOfWork,
        user: &User,
        amr: Vec<String>,
        must_change_password: bool,
        now: OffsetDateTime,
    ) -> Result<Grant, AuthError> {
        self.open_session_of(uow, user, SessionKind::Api, amr, must_change_password, now).await
    }

    /// Opens a session of `kind` for `user` (authenticated by `amr`) inside
    /// `uow`. An API session gets a first refresh token; a browser session
    /// gets none (its secret, the cookie, is its only credential).
    pub async fn open_session_of(
        &self,
        uow: &mut UnitOfWork,
        user: &User,
        kind: SessionKind,
        amr: Vec<String>,
        must_change_password: bool,
        now: OffsetDateTime,
    ) -> Result<Grant, AuthError> {
        let session = Session {
            id: format!("ses_{}", uuid_like()?),
            user_id: user.id.to_string(),
            kind,
            created_at: now,
            last_seen_at: now,
            absolute_expires_at: now + self.policy.session_absolute,
            auth_time: now,
            amr,
            revoked: None,
        };
        let secret = random_secret(SESSION_PREFIX)?;
        sessions::insert(uow.conn(), &session, &secret_hash(&secret)).await?;
        let session_secret = SecretString::from(secret);
        if kind == SessionKind::Browser {
            return Ok(Grant {
                user: user.clone(),
                session,
                refresh_token: SecretString::from(String::new()),
                session_secret,
                must_change_password,
            });
        }
        let refresh = random_secret(REFRESH_PREFIX)?;
        let token = RefreshToken {
            token_hash: secret_hash(&refresh),
            session_id: session.id.clone(),
            family_id: format!("fam_{}", uuid_like()?),
            issued_at: now,
            expires_at: (now + self.policy.refresh_ttl).min(session.absolute_expires_at),
            used_at: None,
        };
        sessions::insert_refresh(uow.conn(), &token).await?;
        Ok(Grant {
            user: user.clone(),
            session,
            refresh_token: SecretString::from(refresh),
            session_secret,
            must_change_password,
        })
    }
}

fn uuid_like() -> Result<String, AuthError> {
    let bytes = autopmo_crypto::random_bytes::<16>().map_err(|e| AuthError::Password(e.to_string()))?;
    Ok(hex(&bytes))
}
