//! The claims of each signed-token purpose, and their validation (RFC 8725
//! §3.8–3.11): issuer, audience, `exp`/`nbf`/`iat` with bounded leeway, a
//! lifetime no longer than the policy's, and every required claim present,
//! of the right type and not empty.

use super::{JwtPurpose, TokenError, TokenPolicy};
use autopmo_crypto::jws::{self, KeyError, PublicKey, SigningKey, VerifiedPayload};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// Longest `sub`, `sid` or `jti` accepted, in bytes.
const MAX_ID_LEN: usize = 256;

/// The claims of an access token (`typ: at+jwt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessClaims {
    /// Issuer: the configured issuer URL.
    pub iss: String,
    /// Audience: always `autopmo-api`.
    pub aud: String,
    /// The user id.
    pub sub: String,
    /// The server-side session this token belongs to; revoking the session
    /// revokes the token.
    pub sid: String,
    /// The user's roles when the token was issued.
    pub roles: Vec<String>,
    /// Authentication methods (RFC 8176: `pwd`, `otp`, `mfa`, …).
    pub amr: Vec<String>,
    /// When the user last authenticated (for step-up decisions).
    #[serde(with = "time::serde::timestamp")]
    pub auth_time: OffsetDateTime,
    /// Unique token id.
    pub jti: String,
    /// Issued at.
    #[serde(with = "time::serde::timestamp")]
    pub iat: OffsetDateTime,
    /// Not before.
    #[serde(with = "time::serde::timestamp")]
    pub nbf: OffsetDateTime,
    /// Expiry.
    #[serde(with = "time::serde::timestamp")]
    pub exp: OffsetDateTime,
}

/// Who an access token is for: what the session knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    /// The user id.
    pub sub: String,
    /// The session id.
    pub sid: String,
    /// The user's roles.
    pub roles: Vec<String>,
    /// Authentication methods used in this session.
    pub amr: Vec<String>,
    /// When the user last authenticated.
    pub auth_time: OffsetDateTime,
}

impl AccessClaims {
    /// Claims for a new access token, valid from `now` for the policy's
    /// access lifetime. `jti` must be unique (random or a UUIDv7).
    pub fn new(policy: &TokenPolicy, grant: &AccessGrant, jti: impl Into<String>, now: OffsetDateTime) -> Self {
        let now = whole_seconds(now);
        Self {
            iss: policy.issuer().to_owned(),
            aud: JwtPurpose::Access.audience().to_owned(),
            sub: grant.sub.clone(),
            sid: grant.sid.clone(),
            roles: grant.roles.clone(),
            amr: grant.amr.clone(),
            auth_time: whole_seconds(grant.auth_time),
            jti: jti.into(),
            iat: now,
            nbf: now,
            exp: now.saturating_add(policy.access_ttl()),
        }
    }
}

/// The claims of an MFA challenge token (`typ: mfa-challenge+jwt`): the
/// password step passed for `sub`; a second factor is still owed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MfaChallengeClaims {
    /// Issuer.
    pub iss: String,
    /// Audience: always `autopmo-mfa`.
    pub aud: String,
    /// The user id.
    pub sub: String,
    /// Methods passed so far (`pwd`).
    pub amr: Vec<String>,
    /// Unique token id, so the caller can make the challenge single-use.
    pub jti: String,
    /// Issued at.
    #[serde(with = "time::serde::timestamp")]
    pub iat: OffsetDateTime,
    /// Not before.
    #[serde(with = "time::serde::timestamp")]
    pub nbf: OffsetDateTime,
    /// Expiry (five minutes after `iat`).
    #[serde(with = "time::serde::timestamp")]
    pub exp: OffsetDateTime,
}

impl MfaChallengeClaims {
    /// Claims for a new challenge for `sub`, who passed `amr`.
    pub fn new(
        policy: &TokenPolicy,
        sub: impl Into<String>,
        amr: Vec<String>,
        jti: impl Into<String>,
        now: OffsetDateTime,
    ) -> Self {
        let now = whole_seconds(now);
        Self {
            iss: policy.issuer().to_owned(),
            aud: JwtPurpose::MfaChallenge.audience().to_owned(),
            sub: sub.into(),
            amr,
            jti: jti.into(),
            iat: now,
            nbf: now,
            exp: now.saturating_add(policy.ttl(JwtPurpose::MfaChallenge)),
        }
    }
}

fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t.unix_timestamp()).unwrap_or(t)
}

/// Signs an access token.
pub fn issue_access(key: &SigningKey, claims: &AccessClaims) -> Result<String, KeyError> {
    key.sign(JwtPurpose::Access.typ(), claims)
}

/// Signs an MFA challenge token.
pub fn issue_mfa_challenge(key: &SigningKey, claims: &MfaChallengeClaims) -> Result<String, KeyError> {
    key.sign(JwtPurpose::MfaChallenge.typ(), claims)
}

/// Verifies an access token's signature (`keys` maps a `kid` to a key that
/// may verify now, e.g. [`TokenKeys::verifying_key`](super::TokenKeys::verifying_key))
/// and validates its claims.
pub fn verify_access(
    token: &str,
    keys: &dyn Fn(&str) -> Option<PublicKey>,
    policy: &TokenPolicy,
    now: OffsetDateTime,
) -> Result<AccessClaims, TokenError> {
    validate_access(&verify_access_signature(token, keys)?, policy, now)
}

/// Checks an access token's shape, header and signature, not its claims:
/// for a caller that keeps verified payloads and validates the claims
/// ([`validate_access`]) on every use.
pub fn verify_access_signature(
    token: &str,
    keys: &dyn Fn(&str) -> Option<PublicKey>,
) -> Result<VerifiedPayload, TokenError> {
    Ok(jws::verify(token, JwtPurpose::Access.typ(), keys)?)
}

/// Verifies an MFA challenge token and validates its claims.
pub fn verify_mfa_challenge(
    token: &str,
    keys: &dyn Fn(&str) -> Option<PublicKey>,
    policy: &TokenPolicy,
    now: OffsetDateTime,
) -> Result<MfaChallengeClaims, TokenError> {
    let payload = jws::verify(token, JwtPurpose::MfaChallenge.typ(), keys)?;
    validate_mfa_challenge(&payload, policy, now)
}

/// `aud` as RFC 7519 allows it: one string or an array of strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(aud) => aud == audience,
            Self::Many(auds) => auds.iter().any(|aud| aud == audience),
        }
    }
}

/// The claims every purpose has.
#[derive(Deserialize)]
struct Registered {
    iss: String,
    aud: Audience,
    sub: String,
    jti: String,
    #[serde(with = "time::serde::timestamp")]
    iat: OffsetDateTime,
    #[serde(with = "time::serde::timestamp")]
    nbf: OffsetDateTime,
    #[serde(with = "time::serde::timestamp")]
    exp: OffsetDateTime,
}

#[derive(Deserialize)]
struct AccessOnly {
    sid: String,
    roles: Vec<String>,
    amr: Vec<String>,
    #[serde(with = "time::serde::timestamp")]
    auth_time: OffsetDateTime,
}

#[derive(Deserialize)]
struct MfaOnly {
    amr: Vec<String>,
}

fn read<'a, T: Deserialize<'a>>(payload: &'a VerifiedPayload) -> Result<T, TokenError> {
    T::deserialize(payload.claims()).map_err(|_| TokenError::new("claims missing or of the wrong type"))
}

fn usable_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN
}

/// The checks common to every purpose.
fn check_registered(
    claims: &Registered,
    purpose: JwtPurpose,
    policy: &TokenPolicy,
    now: OffsetDateTime,
) -> Result<(), TokenError> {
    if claims.iss.is_empty() || claims.iss != policy.issuer() {
        return Err(TokenError::new("wrong issuer"));
    }
    if !claims.aud.contains(purpose.audience()) {
        return Err(TokenError::new("wrong audience"));
    }
    if !usable_id(&claims.sub) || !usable_id(&claims.jti) {
        return Err(TokenError::new("sub or jti empty or too long"));
    }
    let leeway = policy.leeway();
    if claims.exp <= now.saturating_sub(leeway) {
        return Err(TokenError::new("expired"));
    }
    let skewed_now = now.saturating_add(leeway);
    if claims.nbf > skewed_now {
        return Err(TokenError::new("not yet valid (nbf)"));
    }
    if claims.iat > skewed_now {
        return Err(TokenError::new("issued in the future (iat)"));
    }
    let lifetime: Duration = claims.exp - claims.iat;
    if lifetime <= Duration::ZERO || lifetime > policy.ttl(purpose) {
        return Err(TokenError::new("lifetime outside the policy"));
    }
    Ok(())
}

/// Validates the claims of a verified access token at `now`.
pub fn validate_access(
    payload: &VerifiedPayload,
    policy: &TokenPolicy,
    now: OffsetDateTime,
) -> Result<AccessClaims, TokenError> {
    let registered: Registered = read(payload)?;
    let access: AccessOnly = read(payload)?;
    check_registered(&registered, JwtPurpose::Access, policy, now)?;
    if !usable_id(&access.sid) {
        return Err(TokenError::new("sid empty or too long"));
    }
    if access.auth_time > registered.iat.saturating_add(policy.leeway()) {
        return Err(TokenError::new("auth_time after iat"));
    }
    Ok(AccessClaims {
        iss: registered.iss,
        aud: JwtPurpose::Access.audience().to_owned(),
        sub: registered.sub,
        sid: access.sid,
        roles: access.roles,
        amr: access.amr,
        auth_time: access.auth_time,
        jti: registered.jti,
        iat: registered.iat,
        nbf: registered.nbf,
        exp: registered.exp,
    })
}

/// Validates the claims of a verified MFA challenge token at `now`.
pub fn validate_mfa_challenge(
    payload: &VerifiedPayload,
    policy: &TokenPolicy,
    now: OffsetDateTime,
) -> Result<MfaChallengeClaims, TokenError> {
    let registered: Registered = read(payload)?;
    let mfa: MfaOnly = read(payload)?;
    check_registered(&registered, JwtPurpose::MfaChallenge, policy, now)?;
    Ok(MfaChallengeClaims {
        iss: registered.iss,
        aud: JwtPurpose::MfaChallenge.audience().to_owned(),
        sub: registered.sub,
        amr: mfa.amr,
        jti: registered.jti,
        iat: registered.iat,
        nbf: registered.nbf,
        exp: registered.exp,
    })
}
