//! Opaque tokens: refresh, password-reset and invite tokens are not JWTs.
//! Each must be single-use and revocable, so the server keeps state for it
//! anyway; a random string says nothing to whoever holds it and cannot be
//! verified offline by mistake.
//!
//! A token is its purpose's prefix followed by 43 base64url characters (256
//! random bits). The prefix lets secret scanners spot a leaked one and makes
//! one purpose's token fail to parse as another's. The caller stores only a
//! hash of [`OpaqueToken::expose_secret`] (SHA-256 suffices for 256 random
//! bits), with the purpose.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};

/// Random bytes in every opaque token.
const RANDOM_BYTES: usize = 32;
/// base64url characters after the prefix.
const ENCODED_LEN: usize = 43;

/// What an opaque token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpaquePurpose {
    /// Exchanged for a new access token (and a new refresh token: they
    /// rotate on every use, and reuse revokes the family).
    Refresh,
    /// Lets its holder set a new password once.
    PasswordReset,
    /// Lets its holder create the invited account once.
    Invite,
}

impl OpaquePurpose {
    /// The prefix this purpose's tokens start with.
    pub const fn prefix(self) -> &'static str {
        match self {
            Self::Refresh => "apmo_rt_",
            Self::PasswordReset => "apmo_pwr_",
            Self::Invite => "apmo_inv_",
        }
    }
}

/// An opaque token in plain text: handed to its holder once, never stored
/// or logged. `Debug` shows only the purpose.
pub struct OpaqueToken {
    purpose: OpaquePurpose,
    secret: SecretString,
}

impl std::fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpaqueToken").field("purpose", &self.purpose).field("secret", &"<redacted>").finish()
    }
}

impl OpaqueToken {
    /// A new token from 32 bytes of the system's secure random generator.
    pub fn from_random(purpose: OpaquePurpose, random: [u8; RANDOM_BYTES]) -> Self {
        let secret = format!("{}{}", purpose.prefix(), URL_SAFE_NO_PAD.encode(random));
        Self { purpose, secret: SecretString::from(secret) }
    }

    /// A presented token, if it has the shape of `purpose`'s tokens; `None`
    /// otherwise (including another purpose's token). Whether it was issued
    /// is for the store to say.
    pub fn parse(purpose: OpaquePurpose, presented: &str) -> Option<Self> {
        let rest = presented.strip_prefix(purpose.prefix())?;
        if rest.len() != ENCODED_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(rest).ok()?;
        (bytes.len() == RANDOM_BYTES).then(|| Self { purpose, secret: SecretString::from(presented.to_owned()) })
    }

    /// What the token is for.
    pub fn purpose(&self) -> OpaquePurpose {
        self.purpose
    }

    /// The token text: to hand to its holder, or to hash for lookup.
    pub fn expose_secret(&self) -> &str {
        self.secret.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_never_cross_purposes() {
        let all = [OpaquePurpose::Refresh, OpaquePurpose::PasswordReset, OpaquePurpose::Invite];
        for purpose in all {
            let token = OpaqueToken::from_random(purpose, [7; 32]);
            assert!(token.expose_secret().starts_with(purpose.prefix()));
            assert_eq!(token.expose_secret().len(), purpose.prefix().len() + 43);
            let parsed = OpaqueToken::parse(purpose, token.expose_secret()).unwrap();
            assert_eq!(parsed.expose_secret(), token.expose_secret());
            assert!(!format!("{token:?}").contains(&token.expose_secret()[purpose.prefix().len()..]));
            for other in all.into_iter().filter(|o| *o != purpose) {
                assert!(OpaqueToken::parse(other, token.expose_secret()).is_none());
            }
        }
        assert_eq!(OpaquePurpose::Refresh.prefix(), "apmo_rt_");
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        let good = OpaqueToken::from_random(OpaquePurpose::Refresh, [1; 32]);
        let good = good.expose_secret();
        for bad in [
            String::new(),
            "apmo_rt_".to_owned(),
            format!("{good}A"),
            good[..good.len() - 1].to_owned(),
            good.replace("apmo_rt_", "APMO_RT_"),
            format!("{}+", &good[..good.len() - 1]),
            format!(" {good}"),
            format!("{}B", &good[..good.len() - 1]),
        ] {
            assert!(OpaqueToken::parse(OpaquePurpose::Refresh, &bad).is_none(), "{bad:?}");
        }
    }
}
