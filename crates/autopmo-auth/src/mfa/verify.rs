//! Answering a second-factor challenge: completing a pending login, or
//! stepping up a session. One path checks every kind of answer, counts
//! every wrong one (the challenge's attempts, Keycloak's lockout, the MFA
//! counter) and records the outcome.

use super::{ChallengeState, Mfa, MfaRefusal, SmsSent, amr_of, random_id, random_token};
use crate::AuthError;
use crate::login::{Grant, MFA_TOKEN_PREFIX, secret_hash};
use autopmo_audit::{Actor, Outcome as AuditOutcome};
use autopmo_identity::bruteforce::{FailureKind, Outcome, Status, UserLoginFailures};
use autopmo_identity::mfa::totp;
use autopmo_store::mfa::{self, Challenge};
use autopmo_store::sessions::{self, Session, SessionKind};
use autopmo_store::{UnitOfWork, credentials, users};
use secrecy::SecretString;
use serde_json::{Value, json};

/// The methods a second factor can be answered with.
pub const METHODS: [&str; 4] = ["totp", "webauthn", "sms", "recovery_code"];

/// The methods that are sent a challenge before they are answered (see
/// `prompt`): a WebAuthn assertion request, an SMS code.
pub const CHALLENGED: [&str; 2] = ["webauthn", "sms"];

/// An answer to a challenge.
#[derive(Debug, Clone)]
pub struct Answer {
    /// `totp`, `webauthn`, `sms` or `recovery_code`.
    pub method: String,
    /// The code (TOTP, SMS, recovery code).
    pub code: Option<SecretString>,
    /// The WebAuthn assertion (`PublicKeyCredential` JSON).
    pub assertion: Option<Value>,
}

/// What a challenge sends back before it can be answered.
#[derive(Debug, Clone)]
pub enum Prompt {
    /// WebAuthn request options for the browser.
    WebAuthn(Value),
    /// An SMS went to this (masked) number.
    Sms {
        /// `+44•••••••123`.
        sent_to: String,
    },
}

/// A completed login.
#[derive(Debug)]
pub struct Completed {
    /// The session.
    pub grant: Grant,
    /// Recovery codes made when the login enrolled the first factor (shown once).
    pub recovery_codes: Option<Vec<String>>,
}

/// A TOTP secret offered during a login that must configure one.
#[derive(Debug)]
pub struct TotpOffer {
    /// `otpauth://totp/…`.
    pub uri: String,
    /// The same as an SVG QR code.
    pub qr_svg: String,
    /// The secret in base32, for typing in.
    pub secret: SecretString,
}

impl Mfa {
    /// The live challenge named by `token` for one of `purposes`.
    pub(super) async fn live(
        &self,
        conn: &mut autopmo_store::Connection,
        token: &str,
        purposes: &[&str],
    ) -> Result<Option<Challenge>, AuthError> {
        if !token.starts_with(MFA_TOKEN_PREFIX) || token.len() > 256 {
            return Ok(None);
        }
        let found = mfa::challenge(conn, &secret_hash(token)).await?;
        Ok(found.filter(|c| purposes.contains(&c.purpose.as_str()) && self.now() < c.expires_at))
    }

    /// For a pending login: starts a WebAuthn ceremony or sends an SMS code.
    pub async fn prompt_login(
        &self,
        token: &str,
        method: &str,
        actor: &Actor,
    ) -> Result<Result<Prompt, MfaRefusal>, AuthError> {
        let mut conn = self.trail.store().read().await?;
        let Some(challenge) = self.live(&mut conn, token, &["login"]).await? else {
            return Ok(Err(MfaRefusal::InvalidCode));
        };
        drop(conn);
        self.prompt(&challenge, method, actor).await
    }

    /// Starts a step-up of `session` by WebAuthn or SMS: a new challenge
    /// token and what to answer.
    pub async fn prompt_step_up(
        &self,
        user_id: &str,
        session_id: &str,
        method: &str,
        actor: &Actor,
    ) -> Result<Result<(SecretString, Prompt), MfaRefusal>, AuthError> {
        let now = self.now();
        let token = random_token(MFA_TOKEN_PREFIX)?;
        let challenge = Challenge {
            token_hash: secret_hash(&token),
            user_id: user_id.to_owned(),
            purpose: "step_up".to_owned(),
            state: ChallengeState { session_id: Some(session_id.to_owned()), ..ChallengeState::default() }.text()?,
            attempts: 0,
            created_at: now,
            expires_at: now + self.policy.sms_ttl,
        };
        let mut uow = self.trail.store().begin().await?;
        mfa::insert_challenge(uow.conn(), &challenge).await?;
        uow.commit().await?;
        let prompt = self.prompt(&challenge, method, actor).await?;
        Ok(prompt.map(|p| (SecretString::from(token), p)))
    }

    /// Starts the ceremony of `method` for `challenge`. No unit of work is
    /// held while the SMS gateway is called: a slow gateway never holds up
    /// the writes of others.
    async fn prompt(
        &self,
        challenge: &Challenge,
        method: &str,
        actor: &Actor,
    ) -> Result<Result<Prompt, MfaRefusal>, AuthError> {
        let mut conn = self.trail.store().read().await?;
        let factors = mfa::factors(&mut conn, &challenge.user_id).await?;
        drop(conn);
        let confirmed: Vec<_> = factors.into_iter().filter(|f| f.confirmed_at.is_some() && f.kind == method).collect();
        let mut state = ChallengeState::of(challenge);
        let prompt = match method {
            "webauthn" => {
                let Some(webauthn) = &self.webauthn else {
                    return Ok(Err(MfaRefusal::Unavailable("WebAuthn is not configured".to_owned())));
                };
                if confirmed.is_empty() {
                    return Ok(Err(MfaRefusal::Unavailable("no security key or passkey is registered".to_owned())));
                }
                let creds: Vec<_> =
                    confirmed.iter().map(|f| autopmo_webauthn::StoredCredential(f.secret.clone())).collect();
                let started = webauthn.start_authentication(&creds).map_err(|e| AuthError::Invalid(e.to_string()))?;
                state.webauthn = Some(started.state);
                Prompt::WebAuthn(started.options)
            }
            "sms" => {
                let Some(factor) = confirmed.first() else {
                    return Ok(Err(MfaRefusal::Unavailable("no phone is registered for SMS codes".to_owned())));
                };
                let phone = String::from_utf8(self.open(&factor.secret)?.to_vec())
                    .map_err(|_| AuthError::Invalid("malformed phone number".into()))?;
                let code = match self.send_sms(&challenge.user_id, &phone, actor).await? {
                    Ok(code) => code,
                    Err(refusal) => return Ok(Err(refusal)),
                };
                state.sms = Some(SmsSent {
                    code_hash: self.code_hash(&code),
                    expires_at: (self.now() + self.policy.sms_ttl).unix_timestamp(),
                });
                Prompt::Sms { sent_to: autopmo_identity::mfa::sms::mask_phone(&phone) }
            }
            other => return Ok(Err(MfaRefusal::Unavailable(format!("{other} needs no challenge: answer directly")))),
        };
        let mut uow = self.trail.store().begin().await?;
        mfa::update_challenge_state(uow.conn(), &challenge.token_hash, &state.text()?).await?;
        uow.commit().await?;
        Ok(Ok(prompt))
    }

    /// Sends a fresh SMS code to `phone`, rate-limited per user; the code.
    /// The gateway is called outside any unit of work.
    pub(super) async fn send_sms(
        &self,
        user_id: &str,
        phone: &str,
        actor: &Actor,
    ) -> Result<Result<String, MfaRefusal>, AuthError> {
        let Some(gateway) = &self.sms else {
            return Ok(Err(MfaRefusal::Unavailable("SMS codes are not configured".to_owned())));
        };
        let now = self.now();
        let mut conn = self.trail.store().read().await?;
        if mfa::sms_sent_since(&mut conn, user_id, now - self.policy.sms_interval).await? > 0 {
            return Ok(Err(MfaRefusal::SmsRateLimited(self.policy.sms_interval.whole_seconds())));
        }
        if mfa::sms_sent_since(&mut conn, user_id, now - time::Duration::hours(1)).await? >= self.policy.sms_per_hour {
            return Ok(Err(MfaRefusal::SmsRateLimited(3600)));
        }
        drop(conn);
        let code = autopmo_identity::mfa::sms::generate_code().map_err(|e| AuthError::Invalid(e.to_string()))?;
        let id = random_id("sms_")?;
        let message = crate::sms::SmsMessage {
            to: phone.to_owned(),
            body: format!("{} code: {code}. It expires in 5 minutes. Do not share it.", self.policy.issuer),
            id: id.clone(),
        };
        let masked = autopmo_identity::mfa::sms::mask_phone(phone);
        if let Err(e) = gateway.send(&message).await {
            let event = self
                .event("mfa.sms_failed", AuditOutcome::Failure, actor, user_id)
                .with_metadata(&json!({"to": masked, "gateway": gateway.name(), "error": e.to_string()}));
            self.trail.record(event).await?;
            return Ok(Err(MfaRefusal::SmsFailed(e.to_string())));
        }
        let mut uow = self.trail.store().begin().await?;
        mfa::record_sms(uow.conn(), &id, user_id, now).await?;
        let event = self
            .event("mfa.sms_sent", AuditOutcome::Success, actor, user_id)
            .with_metadata(&json!({"to": masked, "gateway": gateway.name()}));
        self.record(&mut uow, event).await?;
        uow.commit().await?;
        Ok(Ok(code))
    }

    /// Whether `code` is the unexpired SMS code `sent`.
    pub(super) fn sms_matches(&self, sent: Option<&SmsSent>, code: &str) -> bool {
        sent.is_some_and(|s| {
            self.now().unix_timestamp() < s.expires_at
                && !code.is_empty()
                && autopmo_crypto::constant_time_eq(s.code_hash.as_bytes(), self.code_hash(code).as_bytes())
        })
    }

    /// Completes a pending login with `answer`: a session, or a refusal
    /// (every wrong answer counted).
    pub async fn complete_login(
        &self,
        token: &str,
        answer: &Answer,
        actor: &Actor,
    ) -> Result<Result<Completed, MfaRefusal>, AuthError> {
        let mut uow = self.trail.store().begin().await?;
        let Some(challenge) = self.live(uow.conn(), token, &["login", "enroll"]).await? else {
            return Ok(Err(MfaRefusal::InvalidCode));
        };
        let user_id: autopmo_domain::UserId =
            challenge.user_id.parse().map_err(|_| AuthError::Invalid("malformed user id".into()))?;
        let user = users::get(uow.conn(), user_id).await?;
        let checked = self.check(&mut uow, &challenge, answer, actor).await?;
        let Some(recovery_codes) = checked else {
            uow.commit().await?;
            return Ok(Err(MfaRefusal::InvalidCode));
        };
        if user.status != autopmo_domain::UserStatus::Active
            || !mfa::spend_challenge(uow.conn(), &challenge.token_hash, self.now()).await?
        {
            return Ok(Err(MfaRefusal::InvalidCode));
        }
        let kind = match ChallengeState::of(&challenge).session_kind.as_deref() {
            Some("browser") => SessionKind::Browser,
            _ => SessionKind::Api,
        };
        let now = self.now();
        let amr = vec!["pwd".to_owned(), amr_of(&answer.method).to_owned()];
        let grant = self.logins.open_session_of(&mut uow, &user, kind, amr, false, now).await?;
        let mut record = self
            .event("auth.login", AuditOutcome::Success, actor, &challenge.user_id)
            .with_metadata(&json!({"method": "password+mfa", "factor": answer.method, "session_id": grant.session.id}));
        record.session_id = Some(grant.session.id.clone());
        self.record(&mut uow, record).await?;
        uow.commit().await?;
        Ok(Ok(Completed { grant, recovery_codes }))
    }

    /// Steps up `session` with `answer` (a TOTP or recovery code directly;
    /// WebAuthn and SMS with the token of [`prompt_step_up`](Self::prompt_step_up)).
    pub async fn step_up(
        &self,
        session: &Session,
        token: Option<&str>,
        answer: &Answer,
        actor: &Actor,
    ) -> Result<Result<Session, MfaRefusal>, AuthError> {
        let mut uow = self.trail.store().begin().await?;
        let challenge = match token {
            Some(token) => match self.live(uow.conn(), token, &["step_up"]).await? {
                Some(c)
                    if c.user_id == session.user_id
                        && ChallengeState::of(&c).session_id.as_deref() == Some(session.id.as_str()) =>
                {
                    c
                }
                _ => return Ok(Err(MfaRefusal::InvalidCode)),
            },
            None if matches!(answer.method.as_str(), "totp" | "recovery_code") => Challenge {
                token_hash: String::new(),
                user_id: session.user_id.clone(),
                purpose: "step_up".to_owned(),
                state: "{}".to_owned(),
                attempts: 0,
                created_at: self.now(),
                expires_at: self.now(),
            },
            None => return Ok(Err(MfaRefusal::InvalidCode)),
        };
        if self.check(&mut uow, &challenge, answer, actor).await?.is_none() {
            uow.commit().await?;
            return Ok(Err(MfaRefusal::InvalidCode));
        }
        if !challenge.token_hash.is_empty() {
            mfa::spend_challenge(uow.conn(), &challenge.token_hash, self.now()).await?;
        }
        let mut amr = session.amr.clone();
        let method = amr_of(&answer.method).to_owned();
        if !amr.contains(&method) {
            amr.push(method);
        }
        let now = self.now();
        sessions::step_up(uow.conn(), &session.id, &amr, now).await?;
        let mut record = self
            .event("auth.step_up", AuditOutcome::Success, actor, &session.user_id)
            .with_metadata(&json!({"factor": answer.method, "amr": amr}));
        record.session_id = Some(session.id.clone());
        self.record(&mut uow, record).await?;
        uow.commit().await?;
        Ok(Ok(Session { auth_time: now, amr, ..session.clone() }))
    }

    /// Checks `answer` against the user's factors (or the factor being
    /// enrolled). `Some(recovery codes made)` when right; `None` when
    /// wrong, counted everywhere it must be.
    pub(super) async fn check(
        &self,
        uow: &mut UnitOfWork,
        challenge: &Challenge,
        answer: &Answer,
        actor: &Actor,
    ) -> Result<Option<Option<Vec<String>>>, AuthError> {
        let id = challenge.user_id.clone();
        let failures: UserLoginFailures = credentials::login_failures(uow.conn(), &id)
            .await?
            .and_then(|raw| serde_json::from_str(&raw).ok())
            .unwrap_or_default();
        let now = self.now();
        let brute = &self.logins.policy().brute_force;
        if failures.check(brute, now) != Status::Allowed || challenge.attempts >= self.policy.max_attempts {
            // Unchecked, but an attempt at this challenge all the same.
            if !challenge.token_hash.is_empty()
                && mfa::count_attempt(uow.conn(), &challenge.token_hash).await? >= self.policy.max_attempts
            {
                mfa::spend_challenge(uow.conn(), &challenge.token_hash, now).await?;
            }
            let event = self
                .event("auth.mfa_failed", AuditOutcome::Denied, actor, &id)
                .with_metadata(&json!({"method": answer.method, "reason": "locked"}));
            self.record(uow, event).await?;
            return Ok(None);
        }
        let result = self.matches(uow, challenge, answer).await?;
        if let Some(made) = result {
            let cleared =
                serde_json::to_string(&failures.on_success()).map_err(|e| AuthError::Invalid(e.to_string()))?;
            credentials::save_login_failures(uow.conn(), &id, &cleared, now).await?;
            let mut event = self
                .event("auth.mfa_verified", AuditOutcome::Success, actor, &id)
                .with_metadata(&json!({"method": answer.method, "purpose": challenge.purpose}));
            event.action = "verify".to_owned();
            self.record(uow, event).await?;
            if answer.method == "recovery_code" {
                let left = mfa::recovery_codes_left(uow.conn(), &id).await?;
                let event = self
                    .event("mfa.recovery_code_used", AuditOutcome::Success, actor, &id)
                    .with_metadata(&json!({"remaining": left}));
                self.record(uow, event).await?;
            }
            return Ok(Some(made));
        }
        let kind = if answer.method == "recovery_code" { FailureKind::RecoveryCode } else { FailureKind::Mfa };
        let (next, outcome) = failures.on_failure(brute, now, kind);
        let state = serde_json::to_string(&next).map_err(|e| AuthError::Invalid(e.to_string()))?;
        credentials::save_login_failures(uow.conn(), &id, &state, now).await?;
        if !challenge.token_hash.is_empty() {
            let attempts = mfa::count_attempt(uow.conn(), &challenge.token_hash).await?;
            if attempts >= self.policy.max_attempts {
                mfa::spend_challenge(uow.conn(), &challenge.token_hash, now).await?;
            }
        }
        let event = self.event("auth.mfa_failed", AuditOutcome::Denied, actor, &id).with_metadata(
            &json!({"method": answer.method, "reason": "invalid_code", "mfa_failures": next.mfa_failures}),
        );
        self.record(uow, event).await?;
        if outcome != Outcome::NoNewLockout {
            let user_id: autopmo_domain::UserId =
                id.parse().map_err(|_| AuthError::Invalid("malformed user id".into()))?;
            let user = users::get(uow.conn(), user_id).await?;
            self.logins.lockout(uow, &user, outcome, actor, now).await?;
        }
        Ok(None)
    }

    /// Whether `answer` is right; a right one is used up (TOTP step,
    /// recovery code, SMS code). For a login enrolling its first TOTP, a
    /// right code confirms the new factor and makes recovery codes.
    async fn matches(
        &self,
        uow: &mut UnitOfWork,
        challenge: &Challenge,
        answer: &Answer,
    ) -> Result<Option<Option<Vec<String>>>, AuthError> {
        use secrecy::ExposeSecret;
        let id = &challenge.user_id;
        let now = self.now();
        let code = answer.code.as_ref().map(|c| c.expose_secret().trim().to_owned()).unwrap_or_default();
        let state = ChallengeState::of(challenge);
        if challenge.purpose == "enroll" {
            // CONFIGURE_TOTP: only the offered secret can answer.
            let (Some(sealed), "totp") = (state.totp_secret.as_deref(), answer.method.as_str()) else {
                return Ok(None);
            };
            let secret = self.open(sealed)?;
            let Some(step) = totp::verify(&secret, &self.policy.totp, &code, now.unix_timestamp(), None) else {
                return Ok(None);
            };
            let name = state.name.clone().unwrap_or_else(|| "authenticator".to_owned());
            let factor_id = self.add_confirmed_totp(uow, id, &name, sealed, step).await?;
            let codes = self.replace_recovery_codes(uow, id).await?;
            let event = self
                .event("mfa.enrolled", AuditOutcome::Success, &autopmo_audit::Actor::default(), id)
                .with_metadata(&json!({"kind": "totp", "name": name, "factor_id": factor_id, "at_login": true}));
            self.record(uow, event).await?;
            return Ok(Some(Some(codes)));
        }
        let factors = mfa::factors(uow.conn(), id).await?;
        let confirmed = factors.into_iter().filter(|f| f.confirmed_at.is_some());
        match answer.method.as_str() {
            "totp" => {
                for factor in confirmed.filter(|f| f.kind == "totp") {
                    let secret = self.open(&factor.secret)?;
                    if let Some(step) =
                        totp::verify(&secret, &self.policy.totp, &code, now.unix_timestamp(), factor.last_step)
                        && mfa::use_totp_step(uow.conn(), &factor.id, step, now).await?
                    {
                        return Ok(Some(None));
                    }
                }
                Ok(None)
            }
            "recovery_code" => {
                let ok =
                    !code.is_empty() && mfa::use_recovery_code(uow.conn(), id, &self.code_hash(&code), now).await?;
                Ok(ok.then_some(None))
            }
            "sms" => {
                if self.sms_matches(state.sms.as_ref(), &code) {
                    // Single use: the code goes with the challenge's state.
                    let spent = ChallengeState { sms: None, ..state };
                    mfa::update_challenge_state(uow.conn(), &challenge.token_hash, &spent.text()?).await?;
                    return Ok(Some(None));
                }
                Ok(None)
            }
            "webauthn" => {
                let (Some(webauthn), Some(started), Some(assertion)) =
                    (&self.webauthn, state.webauthn.as_deref(), answer.assertion.as_ref())
                else {
                    return Ok(None);
                };
                let Ok(done) = webauthn.finish_authentication(assertion, started) else {
                    return Ok(None);
                };
                let factor =
                    confirmed.into_iter().find(|f| f.credential_id.as_deref() == Some(done.credential_id.as_str()));
                let Some(factor) = factor else { return Ok(None) };
                let updated = done.updated.map(|c| c.0);
                mfa::touch_factor(uow.conn(), &factor.id, updated.as_deref(), now).await?;
                let spent = ChallengeState { webauthn: None, ..state.clone() };
                mfa::update_challenge_state(uow.conn(), &challenge.token_hash, &spent.text()?).await?;
                Ok(Some(None))
            }
            _ => Ok(None),
        }
    }
}
