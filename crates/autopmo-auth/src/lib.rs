#![doc = include_str!("../README.md")]

pub mod accounts;
pub mod federation;
pub mod login;
pub mod mail;
pub mod mfa;
pub mod realm;
pub mod reset;
pub mod roles;
pub mod service_accounts;
pub mod sms;
pub mod tokens;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The input is not acceptable; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// A user with that name or email exists.
    #[error("a user with that {0} already exists")]
    Duplicate(&'static str),
    /// No such user.
    #[error("no such user")]
    UnknownUser,
    /// The change would leave no active system administrator.
    #[error("the last active system administrator cannot lose the system_admin role")]
    LastAdministrator,
    /// The account is not active (disabled or locked).
    #[error("the account is not active")]
    Inactive,
    /// No such API key (of this account, not revoked).
    #[error("no such key")]
    UnknownKey,
    /// The password hashing pool is saturated.
    #[error("too many password checks at once; retry shortly")]
    Busy,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] autopmo_store::StoreError),
    /// The audit trail failed.
    #[error(transparent)]
    Trail(#[from] autopmo_trail::TrailError),
    /// Hashing failed.
    #[error("password hashing: {0}")]
    Password(String),
}

impl From<autopmo_crypto::PasswordError> for AuthError {
    fn from(e: autopmo_crypto::PasswordError) -> Self {
        match e {
            autopmo_crypto::PasswordError::Busy => Self::Busy,
            other => Self::Password(other.to_string()),
        }
    }
}
