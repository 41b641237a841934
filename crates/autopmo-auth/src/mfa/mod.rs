//! Multi-factor authentication (guide §2.2): TOTP, WebAuthn, SMS as a
//! backup only, recovery codes; completing a login that waits for its
//! second factor; step-up of a session before privileged operations.
//!
//! - [`enroll`]: adding and removing factors, recovery codes.
//! - [`verify`]: answering a challenge — at login (`/auth/mfa/verify`) or
//!   to step up a session. Wrong answers count toward Keycloak's lockout
//!   and in their own counter (DESIGN.md decision 3), and a pending login
//!   takes five wrong answers at most.
//!
//! Secrets never sit in clear: TOTP secrets and phone numbers are sealed by
//! the keyring; recovery codes and SMS codes are kept as keyed hashes.

pub mod enroll;
pub mod verify;

use crate::AuthError;
use crate::login::Logins;
use crate::sms::SmsGateway;
use autopmo_audit::{Actor, AuditRecord, Category, Outcome};
use autopmo_identity::mfa::totp::TotpPolicy;
use autopmo_store::UnitOfWork;
use autopmo_trail::AuditTrail;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// The keyring context TOTP secrets and phone numbers are sealed under.
const SEAL_CONTEXT: &str = "autopmo/mfa-factor/v1";

/// Settings.
#[derive(Debug, Clone)]
pub struct MfaPolicy {
    /// TOTP (§2.2: HmacSHA256, 6 digits, 30 s).
    pub totp: TotpPolicy,
    /// The issuer authenticator apps show.
    pub issuer: String,
    /// A step-up is good this long.
    pub step_up: Duration,
    /// Wrong answers a pending login or ceremony takes before it is void.
    pub max_attempts: i64,
    /// Life of an SMS code.
    pub sms_ttl: Duration,
    /// Least time between two SMS to one user.
    pub sms_interval: Duration,
    /// Most SMS to one user per hour.
    pub sms_per_hour: i64,
}

impl Default for MfaPolicy {
    fn default() -> Self {
        Self {
            totp: TotpPolicy::default(),
            issuer: "AutoPMO".to_owned(),
            step_up: Duration::minutes(5),
            max_attempts: 5,
            sms_ttl: Duration::minutes(5),
            sms_interval: Duration::seconds(60),
            sms_per_hour: 5,
        }
    }
}

/// Why an MFA request was refused. Wrong answers of every kind share one
/// answer (`InvalidCode`), as wrong passwords do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MfaRefusal {
    /// Wrong code or assertion, unknown or spent token, locked account.
    #[error("the code or token is not valid")]
    InvalidCode,
    /// The method is not available to this user (not enrolled, or SMS
    /// without a gateway).
    #[error("{0}")]
    Unavailable(String),
    /// A rule refuses (SMS as the only factor, the last factor of an
    /// account that must have one, a duplicate name…).
    #[error("{0}")]
    Rule(String),
    /// Too many SMS: try again after the given seconds.
    #[error("too many text messages; try again in {0} s")]
    SmsRateLimited(i64),
    /// The SMS gateway could not deliver; the user's other factors still work.
    #[error("the text message could not be sent: {0}")]
    SmsFailed(String),
}

/// The MFA service.
#[derive(Debug, Clone)]
pub struct Mfa {
    pub(crate) trail: AuditTrail,
    pub(crate) logins: Logins,
    pub(crate) policy: MfaPolicy,
    pub(crate) webauthn: Option<autopmo_webauthn::WebAuthn>,
    pub(crate) sms: Option<Arc<dyn SmsGateway>>,
    pub(crate) code_key: [u8; 32],
}

impl Mfa {
    /// The service; recovery and SMS codes are hashed with a key derived
    /// from the keyring (the same on every replica).
    pub fn new(trail: AuditTrail, logins: Logins, policy: MfaPolicy) -> Self {
        let code_key = trail.keyring().derive_key("autopmo/mfa-codes/v1");
        Self { trail, logins, policy, webauthn: None, sms: None, code_key }
    }

    /// Offers WebAuthn with this relying party.
    #[must_use]
    pub fn with_webauthn(mut self, webauthn: autopmo_webauthn::WebAuthn) -> Self {
        self.webauthn = Some(webauthn);
        self
    }

    /// Offers SMS codes through this gateway.
    #[must_use]
    pub fn with_sms(mut self, gateway: Arc<dyn SmsGateway>) -> Self {
        self.sms = Some(gateway);
        self
    }

    /// The settings.
    pub fn policy(&self) -> &MfaPolicy {
        &self.policy
    }

    /// Whether a session authenticated by `amr` at `auth_time` may do a
    /// privileged operation now: a second factor within the step-up window.
    pub fn stepped_up(&self, amr: &[String], auth_time: OffsetDateTime, now: OffsetDateTime) -> bool {
        amr.iter().any(|m| SECOND_FACTORS.contains(&m.as_str())) && now - auth_time <= self.policy.step_up
    }

    pub(crate) fn seal(&self, secret: &[u8]) -> Result<String, AuthError> {
        let (kek, sealed) = self.trail.keyring().seal_secret(secret, SEAL_CONTEXT).map_err(crypto)?;
        Ok(format!("{kek}:{sealed}"))
    }

    pub(crate) fn open(&self, stored: &str) -> Result<zeroize::Zeroizing<Vec<u8>>, AuthError> {
        let (kek, sealed) =
            stored.split_once(':').ok_or_else(|| AuthError::Invalid("malformed sealed secret".into()))?;
        self.trail.keyring().open_secret(kek, sealed, SEAL_CONTEXT).map_err(crypto)
    }

    pub(crate) fn code_hash(&self, code: &str) -> String {
        autopmo_identity::mfa::recovery::hash(&self.code_key, code)
    }

    pub(crate) fn event(&self, event_type: &str, outcome: Outcome, actor: &Actor, user_id: &str) -> AuditRecord {
        let mut record = AuditRecord::new(event_type, Category::Authentication, "mfa", outcome, self.trail.now());
        record.actor = actor.clone();
        record.actor.user_id = Some(user_id.to_owned());
        record.with_resource("user", Some(user_id.to_owned()), None)
    }

    pub(crate) async fn record(&self, uow: &mut UnitOfWork, mut record: AuditRecord) -> Result<(), AuthError> {
        uow.append_audit(&mut record).await?;
        Ok(())
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.trail.now()
    }
}

/// What a pending challenge needs to finish, stored with it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub(crate) struct ChallengeState {
    /// A login's session kind (`api`, `browser`).
    pub session_kind: Option<String>,
    /// A step-up's session.
    pub session_id: Option<String>,
    /// A WebAuthn ceremony in progress (opaque).
    pub webauthn: Option<String>,
    /// An SMS code sent.
    pub sms: Option<SmsSent>,
    /// `CONFIGURE_TOTP`: the offered secret, sealed.
    pub totp_secret: Option<String>,
    /// The name of the factor being added.
    pub name: Option<String>,
    /// The factor being confirmed.
    pub factor_id: Option<String>,
}

/// An SMS code that was sent: its keyed hash and its end (unix seconds).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct SmsSent {
    pub code_hash: String,
    pub expires_at: i64,
}

impl ChallengeState {
    pub(crate) fn of(challenge: &autopmo_store::mfa::Challenge) -> Self {
        serde_json::from_str(&challenge.state).unwrap_or_default()
    }

    pub(crate) fn text(&self) -> Result<String, AuthError> {
        serde_json::to_string(self).map_err(|e| AuthError::Invalid(e.to_string()))
    }
}

/// `amr` values (RFC 8176) that prove a second factor; `rc` is a recovery code.
pub const SECOND_FACTORS: [&str; 5] = ["otp", "hwk", "swk", "sms", "rc"];

/// The `amr` value of a method.
pub fn amr_of(method: &str) -> &'static str {
    match method {
        "totp" => "otp",
        "webauthn" => "hwk",
        "sms" => "sms",
        _ => "rc",
    }
}

fn crypto(e: autopmo_crypto::CryptoError) -> AuthError {
    AuthError::Invalid(format!("keyring: {e}"))
}

pub(crate) fn random_token(prefix: &str) -> Result<String, AuthError> {
    let bytes = autopmo_crypto::random_bytes::<32>().map_err(|e| AuthError::Password(e.to_string()))?;
    Ok(format!("{prefix}{}", autopmo_crypto::base64url(&bytes)))
}

pub(crate) fn random_id(prefix: &str) -> Result<String, AuthError> {
    let bytes = autopmo_crypto::random_bytes::<16>().map_err(|e| AuthError::Password(e.to_string()))?;
    Ok(format!("{prefix}{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}
