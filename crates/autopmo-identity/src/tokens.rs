//! The tokens AutoPMO issues, one purpose per type, so that none can be
//! presented where another is expected.
//!
//! - Signed tokens (RS256 JWS, checked by `autopmo_crypto::jws`): each
//!   [`JwtPurpose`] has its own `typ` header and its own audience, and its own
//!   claims type — [`AccessClaims`] (15 minutes, `aud = autopmo-api`) and
//!   [`MfaChallengeClaims`] (the step between password and second factor).
//! - Opaque tokens ([`OpaqueToken`]): refresh, password reset and invite
//!   tokens are random strings with a recognisable prefix per purpose, stored
//!   only as hashes, because each must be revocable and used once.
//!
//! Signing keys carry a `kid` and rotate ([`KeySet`], [`TokenKeys`]); a
//! retired key stays in the JWKS until every token it signed has expired.
//! [`discovery`] is the `/.well-known/openid-configuration` document.
//!
//! Every refusal is the one [`TokenError`]: the HTTP layer answers all of them
//! with the same 401 and logs [`TokenError::reason`].

mod claims;
mod discovery;
mod keys;
mod opaque;

pub use claims::{
    AccessClaims, AccessGrant, MfaChallengeClaims, issue_access, issue_mfa_challenge, validate_access,
    validate_mfa_challenge, verify_access, verify_access_signature, verify_mfa_challenge,
};
pub use discovery::{JWKS_PATH, LOGIN_PATH, LOGOUT_PATH, REFRESH_PATH, discovery};
pub use keys::{DEFAULT_ROTATION_PERIOD, KeyRecord, KeySet, KeySetError, RotationPolicy, TokenKeys};
pub use opaque::{OpaquePurpose, OpaqueToken};

use autopmo_crypto::jws::JwsError;
use time::Duration;

/// `typ` header of access tokens (RFC 9068).
pub const ACCESS_TYP: &str = "at+jwt";
/// Audience of access tokens.
pub const ACCESS_AUDIENCE: &str = "autopmo-api";
/// `typ` header of MFA challenge tokens.
pub const MFA_CHALLENGE_TYP: &str = "mfa-challenge+jwt";
/// Audience of MFA challenge tokens.
pub const MFA_CHALLENGE_AUDIENCE: &str = "autopmo-mfa";

/// How long an access token lives unless configured otherwise.
pub const DEFAULT_ACCESS_TTL: Duration = Duration::minutes(15);
/// How long an MFA challenge token lives.
pub const MFA_CHALLENGE_TTL: Duration = Duration::minutes(5);
/// The most clock skew any check allows.
pub const MAX_LEEWAY: Duration = Duration::seconds(60);
/// The longest access-token lifetime a policy accepts.
pub const MAX_ACCESS_TTL: Duration = Duration::hours(1);

/// The signed-token purposes. Each has its own `typ` and audience, checked
/// on every verification, so one purpose's token is refused as another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwtPurpose {
    /// A bearer token for the API.
    Access,
    /// Proof that the password step passed; exchanged for a session once
    /// the second factor is given.
    MfaChallenge,
}

impl JwtPurpose {
    /// The `typ` header value.
    pub const fn typ(self) -> &'static str {
        match self {
            Self::Access => ACCESS_TYP,
            Self::MfaChallenge => MFA_CHALLENGE_TYP,
        }
    }

    /// The `aud` claim value.
    pub const fn audience(self) -> &'static str {
        match self {
            Self::Access => ACCESS_AUDIENCE,
            Self::MfaChallenge => MFA_CHALLENGE_AUDIENCE,
        }
    }
}

/// A token was refused. There is one kind: every refusal becomes the same
/// 401 with the same body. [`reason`](Self::reason) is for the server log;
/// it never holds anything taken from the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid token")]
pub struct TokenError {
    reason: &'static str,
}

impl TokenError {
    pub(crate) const fn new(reason: &'static str) -> Self {
        Self { reason }
    }

    /// Why the token was refused (server log only).
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl From<JwsError> for TokenError {
    fn from(e: JwsError) -> Self {
        Self::new(e.reason())
    }
}

/// What makes a token valid here: who issues it, how long it lives and how
/// much clock skew is forgiven. The audience of each purpose is fixed
/// ([`JwtPurpose::audience`]), not configurable, so configuration cannot make
/// two purposes share one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPolicy {
    issuer: String,
    access_ttl: Duration,
    leeway: Duration,
}

impl TokenPolicy {
    /// The policy for `issuer` (from config; by default the public URL),
    /// with 15-minute access tokens and 60 seconds of leeway.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self { issuer: issuer.into(), access_ttl: DEFAULT_ACCESS_TTL, leeway: MAX_LEEWAY }
    }

    /// Sets the access-token lifetime, kept between one minute and [`MAX_ACCESS_TTL`].
    #[must_use]
    pub fn with_access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl.clamp(Duration::minutes(1), MAX_ACCESS_TTL);
        self
    }

    /// Sets the clock-skew leeway, kept between zero and [`MAX_LEEWAY`].
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.clamp(Duration::ZERO, MAX_LEEWAY);
        self
    }

    /// The `iss` of every token issued and accepted.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The access-token audience, `autopmo-api`.
    pub fn audience(&self) -> &'static str {
        ACCESS_AUDIENCE
    }

    /// Access-token lifetime.
    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// Clock-skew leeway.
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// How long `purpose`'s tokens live.
    pub fn ttl(&self, purpose: JwtPurpose) -> Duration {
        match purpose {
            JwtPurpose::Access => self.access_ttl,
            JwtPurpose::MfaChallenge => MFA_CHALLENGE_TTL,
        }
    }

    /// The longest any token signed under this policy can still be accepted
    /// after it was issued: how long a retired key must stay published.
    pub fn longest_acceptance(&self) -> Duration {
        self.access_ttl.max(MFA_CHALLENGE_TTL) + self.leeway
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_never_share_typ_or_audience() {
        let all = [JwtPurpose::Access, JwtPurpose::MfaChallenge];
        for a in all {
            for b in all {
                if a != b {
                    assert_ne!(a.typ(), b.typ());
                    assert_ne!(a.audience(), b.audience());
                }
            }
        }
    }

    #[test]
    fn policy_bounds() {
        let p =
            TokenPolicy::new("https://pmo.example").with_leeway(Duration::minutes(5)).with_access_ttl(Duration::DAY);
        assert_eq!(p.leeway(), MAX_LEEWAY);
        assert_eq!(p.access_ttl(), MAX_ACCESS_TTL);
        assert_eq!(p.audience(), "autopmo-api");
        let p = TokenPolicy::new("x").with_leeway(Duration::seconds(-5));
        assert_eq!(p.leeway(), Duration::ZERO);
        assert_eq!(TokenPolicy::new("x").access_ttl(), Duration::minutes(15));
        assert_eq!(TokenPolicy::new("x").longest_acceptance(), Duration::minutes(16));
    }
}
