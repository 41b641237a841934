//! What every handler can reach.

use autopmo_domain::Clock;
use autopmo_store::Store;
use autopmo_trail::AuditTrail;
use std::sync::Arc;
use std::time::Duration;

/// Request limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body, in bytes.
    pub max_body_bytes: usize,
    /// Deepest JSON nesting.
    pub max_json_depth: usize,
    /// Time allowed per request.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_body_bytes: 1024 * 1024, max_json_depth: 32, request_timeout: Duration::from_secs(30) }
    }
}

/// Shared application state: one allocation, so that handing it to every
/// middleware and extractor of a request is one reference count, not a
/// copy of every service's handles. Its fields are read through `Deref`.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Debug, Clone)]
pub struct Services {
    /// The store.
    pub store: Store,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Request limits.
    pub limits: Limits,
    /// The audit trail.
    pub trail: AuditTrail,
    /// Security event rules.
    pub monitor: autopmo_trail::monitor::Monitor,
    /// Password logins and sessions.
    pub logins: autopmo_auth::login::Logins,
    /// Access tokens.
    pub tokens: autopmo_auth::tokens::Tokens,
    /// Password reset by email and password change.
    pub passwords: autopmo_auth::reset::Passwords,
    /// Account administration (invitations).
    pub accounts: autopmo_auth::accounts::Accounts,
    /// `sslRequired` and trusted proxies.
    pub transport: Arc<crate::transport::Transport>,
    /// External OIDC issuers (none unless configured).
    pub federation: Option<autopmo_auth::federation::Federation>,
    /// The permission matrix and policies in force (reloadable).
    pub authz: crate::authz::Authz,
    /// Guide §3.3's budget approval rule.
    pub budget_rule: crate::budget::BudgetRule,
    /// Second factors, MFA logins and step-up (guide §2.2).
    pub mfa: autopmo_auth::mfa::Mfa,
}

impl AppState {
    /// A state over `store` with `clock` and `limits`.
    ///
    /// Logins use the default policies and OWASP password hashing; tokens are
    /// issued for `issuer` (the public URL). Token keys are loaded by
    /// [`AppState::load_keys`].
    pub fn new(trail: AuditTrail, clock: Arc<dyn Clock>, limits: Limits) -> Self {
        Self::with_auth(trail, clock, limits, "http://127.0.0.1:8080", autopmo_auth::login::LoginPolicy::default())
    }

    /// As [`new`](Self::new), with the token issuer and login policy given.
    pub fn with_auth(
        trail: AuditTrail,
        clock: Arc<dyn Clock>,
        limits: Limits,
        issuer: &str,
        login_policy: autopmo_auth::login::LoginPolicy,
    ) -> Self {
        Self::with_passwords(
            trail,
            clock,
            limits,
            issuer,
            login_policy,
            autopmo_crypto::PasswordHasher::default(),
            autopmo_identity::password_policy::PasswordPolicy::default(),
        )
    }

    /// As [`with_auth`](Self::with_auth), with the password hashing and the
    /// password policy given (both configurable).
    pub fn with_passwords(
        trail: AuditTrail,
        clock: Arc<dyn Clock>,
        limits: Limits,
        issuer: &str,
        login_policy: autopmo_auth::login::LoginPolicy,
        hasher: autopmo_crypto::PasswordHasher,
        password_policy: autopmo_identity::password_policy::PasswordPolicy,
    ) -> Self {
        // The only failure is a keyring without a signing key, which cannot be loaded in the first place.
        let logins = autopmo_auth::login::Logins::new(trail.clone(), hasher.clone(), login_policy);
        let accounts = autopmo_auth::accounts::Accounts::new(trail.clone(), hasher.clone(), password_policy.clone());
        let passwords =
            autopmo_auth::reset::Passwords::new(trail.clone(), hasher, password_policy, logins.clone(), issuer);
        let tokens =
            autopmo_auth::tokens::Tokens::new(trail.clone(), autopmo_identity::tokens::TokenPolicy::new(issuer));
        let mfa = autopmo_auth::mfa::Mfa::new(trail.clone(), logins.clone(), autopmo_auth::mfa::MfaPolicy::default());
        Self(Arc::new(Services {
            store: trail.store().clone(),
            clock,
            limits,
            trail,
            monitor: autopmo_trail::monitor::Monitor::default(),
            logins,
            tokens,
            passwords,
            accounts,
            transport: Arc::default(),
            federation: None,
            authz: crate::authz::Authz::default(),
            budget_rule: crate::budget::BudgetRule::default(),
            mfa,
        }))
    }

    /// The services, to change while the state is being built.
    fn services(&mut self) -> &mut Services {
        Arc::make_mut(&mut self.0)
    }

    /// With these transport rules (`sslRequired`, trusted proxies).
    #[must_use]
    pub fn with_transport(mut self, transport: crate::transport::Transport) -> Self {
        self.services().transport = Arc::new(transport);
        self
    }

    /// Sends password-reset links through `mailer` (without one, reset
    /// requests are answered alike and no mail is sent).
    #[must_use]
    pub fn with_mailer(mut self, mailer: Arc<dyn autopmo_auth::mail::Mailer>) -> Self {
        let passwords = self.passwords.clone().with_mailer(mailer);
        self.services().passwords = passwords;
        self
    }

    /// Accepts logins and bearer tokens from these external OIDC issuers.
    #[must_use]
    pub fn with_federation(mut self, federation: autopmo_auth::federation::Federation) -> Self {
        self.services().federation = (!federation.is_empty()).then_some(federation);
        self
    }

    /// Decides with this matrix and these policies.
    #[must_use]
    pub fn with_authz(mut self, authz: crate::authz::Authz) -> Self {
        self.services().authz = authz;
        self
    }

    /// Uses this MFA service (its policy, WebAuthn relying party, SMS gateway).
    #[must_use]
    pub fn with_mfa(mut self, mfa: autopmo_auth::mfa::Mfa) -> Self {
        self.services().mfa = mfa;
        self
    }

    /// Applies this budget approval rule.
    #[must_use]
    pub fn with_budget_rule(mut self, rule: crate::budget::BudgetRule) -> Self {
        self.services().budget_rule = rule;
        self
    }

    /// Loads (or makes) the token signing keys; call once before serving.
    pub async fn load_keys(&self) -> Result<(), autopmo_auth::AuthError> {
        self.tokens.load().await
    }

    /// The current time at the precision the store keeps (microseconds), so
    /// that what a write returns is exactly what a later read returns.
    pub fn now(&self) -> time::OffsetDateTime {
        let now = self.clock.now();
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000).unwrap_or(now)
    }
}
