//! Adding and removing second factors, and recovery codes. A factor counts
//! only once confirmed with a valid answer; SMS can be added only next to
//! a TOTP or WebAuthn factor and is never left as the only one.

use super::verify::TotpOffer;
use super::{ChallengeState, Mfa, MfaRefusal, SmsSent, random_id, random_token};
use crate::AuthError;
use crate::login::{MFA_TOKEN_PREFIX, secret_hash};
use autopmo_audit::{Actor, Outcome as AuditOutcome};
use autopmo_domain::User;
use autopmo_identity::mfa::totp;
use autopmo_store::mfa::{self, Challenge, Factor};
use autopmo_store::{StoreError, UnitOfWork};
use secrecy::SecretString;
use serde_json::{Value, json};

/// A started enrolment that the user confirms with a code or an answer.
#[derive(Debug)]
pub struct Started {
    /// The factor being added (TOTP, SMS), if it exists yet.
    pub factor_id: Option<String>,
    /// The token naming the ceremony (WebAuthn, SMS).
    pub token: Option<SecretString>,
    /// A TOTP secret to add to an authenticator app.
    pub totp: Option<TotpOffer>,
    /// WebAuthn creation options for the browser.
    pub webauthn: Option<Value>,
    /// Where the SMS code went (masked).
    pub sent_to: Option<String>,
}

fn check_name(name: &str) -> Result<String, MfaRefusal> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(MfaRefusal::Rule("a factor's name is 1–64 characters".to_owned()));
    }
    Ok(name.to_owned())
}

impl Mfa {
    fn offer(&self, secret: &[u8], account: &str) -> Result<TotpOffer, AuthError> {
        let uri = totp::otpauth_uri(secret, &self.policy.totp, &self.policy.issuer, account);
        let qr_svg = totp::qr_svg(&uri).map_err(|e| AuthError::Invalid(e.to_string()))?;
        Ok(TotpOffer { uri, qr_svg, secret: SecretString::from(totp::base32(secret)) })
    }

    fn new_secret(&self) -> Result<Vec<u8>, AuthError> {
        totp::generate_secret(&self.policy.totp).map_err(|e| AuthError::Invalid(e.to_string()))
    }

    /// During a login that must configure TOTP first: the secret to add.
    pub async fn offer_totp_at_login(
        &self,
        token: &str,
        name: &str,
    ) -> Result<Result<TotpOffer, MfaRefusal>, AuthError> {
        let name = match check_name(name) {
            Ok(n) => n,
            Err(r) => return Ok(Err(r)),
        };
        let mut uow = self.trail.store().begin().await?;
        let Some(challenge) = self.live(uow.conn(), token, &["enroll"]).await? else {
            return Ok(Err(MfaRefusal::InvalidCode));
        };
        let user_id = challenge.user_id.parse().map_err(|_| AuthError::Invalid("malformed user id".into()))?;
        let user = autopmo_store::users::get(uow.conn(), user_id).await?;
        let secret = self.new_secret()?;
        let state = ChallengeState {
            totp_secret: Some(self.seal(&secret)?),
            name: Some(name),
            ..ChallengeState::of(&challenge)
        };
        mfa::update_challenge_state(uow.conn(), &challenge.token_hash, &state.text()?).await?;
        uow.commit().await?;
        Ok(Ok(self.offer(&secret, user.username.as_str())?))
    }

    pub(super) async fn add_confirmed_totp(
        &self,
        uow: &mut UnitOfWork,
        user_id: &str,
        name: &str,
        sealed: &str,
        step: i64,
    ) -> Result<String, AuthError> {
        let now = self.now();
        let factor = Factor {
            id: random_id("mfa_")?,
            user_id: user_id.to_owned(),
            kind: "totp".to_owned(),
            name: name.to_owned(),
            secret: sealed.to_owned(),
            credential_id: None,
            confirmed_at: Some(now),
            last_step: Some(step),
            created_at: now,
            last_used_at: Some(now),
        };
        mfa::insert_factor(uow.conn(), &factor).await?;
        Ok(factor.id)
    }

    /// Replaces the user's recovery codes with ten new ones (shown once).
    pub(super) async fn replace_recovery_codes(
        &self,
        uow: &mut UnitOfWork,
        user_id: &str,
    ) -> Result<Vec<String>, AuthError> {
        let codes = autopmo_identity::mfa::recovery::generate(10).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let hashes: Vec<String> = codes.iter().map(|c| self.code_hash(c)).collect();
        mfa::replace_recovery_codes(uow.conn(), user_id, &hashes, self.now()).await?;
        Ok(codes)
    }

    /// New recovery codes for the user; the old set stops working.
    pub async fn new_recovery_codes(&self, user_id: &str, actor: &Actor) -> Result<Vec<String>, AuthError> {
        let mut uow = self.trail.store().begin().await?;
        let codes = self.replace_recovery_codes(&mut uow, user_id).await?;
        let event = self
            .event("mfa.recovery_codes_generated", AuditOutcome::Success, actor, user_id)
            .with_metadata(&json!({"count": codes.len()}));
        self.record(&mut uow, event).await?;
        uow.commit().await?;
        Ok(codes)
    }

    /// The user's confirmed factors and how many recovery codes are left.
    pub async fn factors(&self, user_id: &str) -> Result<(Vec<Factor>, i64), AuthError> {
        let mut conn = self.trail.store().read().await?;
        let factors =
            mfa::factors(&mut conn, user_id).await?.into_iter().filter(|f| f.confirmed_at.is_some()).collect();
        Ok((factors, mfa::recovery_codes_left(&mut conn, user_id).await?))
    }

    /// Starts adding a factor of `kind` named `name` (for SMS, to `phone`).
    pub async fn begin(
        &self,
        user: &User,
        kind: &str,
        name: &str,
        phone: Option<&str>,
        actor: &Actor,
    ) -> Result<Result<Started, MfaRefusal>, AuthError> {
        let name = match check_name(name) {
            Ok(n) => n,
            Err(r) => return Ok(Err(r)),
        };
        let id = user.id.to_string();
        let now = self.now();
        // A text message goes out before the unit of work: no write waits
        // on the gateway.
        let mut texted = None;
        if kind == "sms" {
            let mut conn = self.trail.store().read().await?;
            let primary =
                mfa::factors(&mut conn, &id).await?.iter().any(|f| f.confirmed_at.is_some() && f.kind != "sms");
            drop(conn);
            if !primary {
                return Ok(Err(MfaRefusal::Rule(
                    "SMS is a backup only: add an authenticator app (TOTP) or a security key first".to_owned(),
                )));
            }
            let phone = match autopmo_identity::mfa::sms::normalize_phone(phone.unwrap_or_default()) {
                Ok(p) => p,
                Err(e) => return Ok(Err(MfaRefusal::Rule(e))),
            };
            match self.send_sms(&id, &phone, actor).await? {
                Ok(code) => texted = Some((phone, code)),
                Err(refusal) => return Ok(Err(refusal)),
            }
        }
        let mut uow = self.trail.store().begin().await?;
        let existing = mfa::factors(uow.conn(), &id).await?;
        if existing.iter().any(|f| f.name == name && f.confirmed_at.is_some()) {
            return Ok(Err(MfaRefusal::Rule(format!("a factor named {name:?} exists"))));
        }
        // An abandoned enrolment of the same name gives way.
        for stale in existing.iter().filter(|f| f.name == name && f.confirmed_at.is_none()) {
            mfa::delete_factor(uow.conn(), &id, &stale.id).await?;
        }
        let token = random_token(MFA_TOKEN_PREFIX)?;
        let mut challenge = Challenge {
            token_hash: secret_hash(&token),
            user_id: id.clone(),
            purpose: "register".to_owned(),
            state: "{}".to_owned(),
            attempts: 0,
            created_at: now,
            expires_at: now + self.policy.sms_ttl,
        };
        let started = match kind {
            "totp" => {
                let secret = self.new_secret()?;
                let factor_id = self.insert_unconfirmed(&mut uow, &id, "totp", &name, self.seal(&secret)?).await?;
                let offer = self.offer(&secret, user.username.as_str())?;
                Started { factor_id: Some(factor_id), token: None, totp: Some(offer), webauthn: None, sent_to: None }
            }
            "webauthn" => {
                let Some(webauthn) = &self.webauthn else {
                    return Ok(Err(MfaRefusal::Unavailable("WebAuthn is not configured".to_owned())));
                };
                let uuid = uuid::Uuid::parse_str(&id).map_err(|_| AuthError::Invalid("malformed user id".into()))?;
                let creds: Vec<_> = existing
                    .iter()
                    .filter(|f| f.kind == "webauthn" && f.confirmed_at.is_some())
                    .map(|f| autopmo_webauthn::StoredCredential(f.secret.clone()))
                    .collect();
                let display = user.display_name.as_str();
                let started = webauthn
                    .start_registration(uuid, user.username.as_str(), display, &creds)
                    .map_err(|e| AuthError::Invalid(e.to_string()))?;
                challenge.state =
                    ChallengeState { webauthn: Some(started.state), name: Some(name), ..ChallengeState::default() }
                        .text()?;
                mfa::insert_challenge(uow.conn(), &challenge).await?;
                let token = Some(SecretString::from(token));
                Started { factor_id: None, token, totp: None, webauthn: Some(started.options), sent_to: None }
            }
            "sms" => {
                let Some((phone, code)) = texted else {
                    return Ok(Err(MfaRefusal::Unavailable("SMS codes are not configured".to_owned())));
                };
                let factor_id =
                    self.insert_unconfirmed(&mut uow, &id, "sms", &name, self.seal(phone.as_bytes())?).await?;
                let expires_at = (now + self.policy.sms_ttl).unix_timestamp();
                let sms = SmsSent { code_hash: self.code_hash(&code), expires_at };
                challenge.state =
                    ChallengeState { factor_id: Some(factor_id.clone()), sms: Some(sms), ..ChallengeState::default() }
                        .text()?;
                mfa::insert_challenge(uow.conn(), &challenge).await?;
                let sent_to = Some(autopmo_identity::mfa::sms::mask_phone(&phone));
                Started {
                    factor_id: Some(factor_id),
                    token: Some(SecretString::from(token)),
                    totp: None,
                    webauthn: None,
                    sent_to,
                }
            }
            other => return Ok(Err(MfaRefusal::Unavailable(format!("unknown factor kind {other:?}")))),
        };
        uow.commit().await?;
        Ok(Ok(started))
    }

    async fn insert_unconfirmed(
        &self,
        uow: &mut UnitOfWork,
        user_id: &str,
        kind: &str,
        name: &str,
        secret: String,
    ) -> Result<String, AuthError> {
        let factor = Factor {
            id: random_id("mfa_")?,
            user_id: user_id.to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            secret,
            credential_id: None,
            confirmed_at: None,
            last_step: None,
            created_at: self.now(),
            last_used_at: None,
        };
        mfa::insert_factor(uow.conn(), &factor).await?;
        Ok(factor.id)
    }

    /// Confirms a started enrolment: a TOTP code for `factor_id`, the SMS
    /// code or the WebAuthn credential for `token`. Returns the factor's id,
    /// and recovery codes when it is the user's first factor.
    pub async fn confirm(
        &self,
        user_id: &str,
        factor_id: Option<&str>,
        token: Option<&str>,
        code: Option<&str>,
        credential: Option<&Value>,
        actor: &Actor,
    ) -> Result<Result<(String, Option<Vec<String>>), MfaRefusal>, AuthError> {
        let now = self.now();
        let mut uow = self.trail.store().begin().await?;
        let first = !mfa::factors(uow.conn(), user_id).await?.iter().any(|f| f.confirmed_at.is_some());
        let challenge = match token {
            Some(t) => match self.live(uow.conn(), t, &["register"]).await? {
                Some(c) if c.user_id == user_id => Some(c),
                _ => return Ok(Err(MfaRefusal::InvalidCode)),
            },
            None => None,
        };
        let state = challenge.as_ref().map(ChallengeState::of).unwrap_or_default();
        let code = code.unwrap_or_default().trim().to_owned();
        let (confirmed_id, kind) = if let Some(started) = state.webauthn.as_deref() {
            let (Some(webauthn), Some(credential)) = (&self.webauthn, credential) else {
                return Ok(Err(MfaRefusal::InvalidCode));
            };
            let Ok(stored) = webauthn.finish_registration(credential, started) else {
                return self.wrong(uow, challenge.as_ref(), user_id, "webauthn", actor).await;
            };
            let credential_id = stored.credential_id().map_err(|e| AuthError::Invalid(e.to_string()))?;
            let name = state.name.clone().unwrap_or_else(|| "security key".to_owned());
            let factor = Factor {
                id: random_id("mfa_")?,
                user_id: user_id.to_owned(),
                kind: "webauthn".to_owned(),
                name,
                secret: stored.0,
                credential_id: Some(credential_id),
                confirmed_at: Some(now),
                last_step: None,
                created_at: now,
                last_used_at: None,
            };
            match mfa::insert_factor(uow.conn(), &factor).await {
                Err(StoreError::Duplicate(_)) => {
                    return Ok(Err(MfaRefusal::Rule("a factor with that name exists".to_owned())));
                }
                other => other?,
            }
            (factor.id, "webauthn")
        } else {
            let id = factor_id.or(state.factor_id.as_deref()).unwrap_or_default().to_owned();
            let factor = match mfa::factor(uow.conn(), user_id, &id).await {
                Ok(f) if f.confirmed_at.is_none() => f,
                Ok(_) | Err(StoreError::NotFound) => return Ok(Err(MfaRefusal::InvalidCode)),
                Err(e) => return Err(e.into()),
            };
            let right = match factor.kind.as_str() {
                "totp" => {
                    let secret = self.open(&factor.secret)?;
                    match totp::verify(&secret, &self.policy.totp, &code, now.unix_timestamp(), None) {
                        Some(step) => mfa::use_totp_step(uow.conn(), &factor.id, step, now).await?,
                        None => false,
                    }
                }
                "sms" => self.sms_matches(state.sms.as_ref(), &code),
                _ => false,
            };
            if !right {
                return self.wrong(uow, challenge.as_ref(), user_id, &factor.kind, actor).await;
            }
            mfa::confirm_factor(uow.conn(), &factor.id, now).await?;
            (factor.id, if factor.kind == "totp" { "totp" } else { "sms" })
        };
        if let Some(c) = &challenge {
            mfa::spend_challenge(uow.conn(), &c.token_hash, now).await?;
        }
        let codes = if first { Some(self.replace_recovery_codes(&mut uow, user_id).await?) } else { None };
        let event = self
            .event("mfa.enrolled", AuditOutcome::Success, actor, user_id)
            .with_metadata(&json!({"kind": kind, "factor_id": confirmed_id, "recovery_codes_made": codes.is_some()}));
        self.record(&mut uow, event).await?;
        uow.commit().await?;
        Ok(Ok((confirmed_id, codes)))
    }

    async fn wrong<T>(
        &self,
        mut uow: UnitOfWork,
        challenge: Option<&Challenge>,
        user_id: &str,
        kind: &str,
        actor: &Actor,
    ) -> Result<Result<T, MfaRefusal>, AuthError> {
        if let Some(c) = challenge
            && mfa::count_attempt(uow.conn(), &c.token_hash).await? >= self.policy.max_attempts
        {
            mfa::spend_challenge(uow.conn(), &c.token_hash, self.now()).await?;
        }
        let event = self
            .event("mfa.enrolment_failed", AuditOutcome::Failure, actor, user_id)
            .with_metadata(&json!({"kind": kind}));
        self.record(&mut uow, event).await?;
        uow.commit().await?;
        Ok(Err(MfaRefusal::InvalidCode))
    }

    /// Removes a factor (the caller has stepped up). SMS is never left as
    /// the only factor, and an account that must use MFA keeps one.
    pub async fn remove(
        &self,
        user: &User,
        factor_id: &str,
        required: bool,
        actor: &Actor,
    ) -> Result<Result<(), MfaRefusal>, AuthError> {
        let id = user.id.to_string();
        let mut uow = self.trail.store().begin().await?;
        let factors = mfa::factors(uow.conn(), &id).await?;
        let Some(target) = factors.iter().find(|f| f.id == factor_id) else {
            return Ok(Err(MfaRefusal::Unavailable("no such factor".to_owned())));
        };
        let primaries_left =
            factors.iter().filter(|f| f.id != factor_id && f.kind != "sms" && f.confirmed_at.is_some()).count();
        let sms_left = factors.iter().any(|f| f.id != factor_id && f.kind == "sms" && f.confirmed_at.is_some());
        if target.kind != "sms" && target.confirmed_at.is_some() && primaries_left == 0 {
            if required {
                return Ok(Err(MfaRefusal::Rule(
                    "this account must use MFA: add another factor before removing its last one".to_owned(),
                )));
            }
            if sms_left {
                return Ok(Err(MfaRefusal::Rule(
                    "SMS is never the only factor: remove the SMS factor first, or add another".to_owned(),
                )));
            }
        }
        mfa::delete_factor(uow.conn(), &id, factor_id).await?;
        let event = self
            .event("mfa.removed", AuditOutcome::Success, actor, &id)
            .with_metadata(&json!({"kind": target.kind, "name": target.name, "factor_id": factor_id}));
        self.record(&mut uow, event).await?;
        uow.commit().await?;
        Ok(Ok(()))
    }
}
