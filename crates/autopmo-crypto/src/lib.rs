#![doc = include_str!("../README.md")]

mod digest;
pub mod external_jwt;
mod hash_threads;
pub mod jws;
mod keyring;
pub mod password;
mod seal;

pub use digest::{base64url, constant_time_eq, hmac_sha1, hmac_sha256, hmac_sha512, sha256};
pub use keyring::{Keyring, PublicSigningKey, Signature, verify_signature};
pub use password::{PasswordError, PasswordHash, PasswordHasher, Verification};
pub use seal::DataKey;

/// A cryptographic failure. Messages never include key material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The keyring file cannot be read or written.
    #[error("keyring {path}: {reason}")]
    Keyring {
        /// File or directory.
        path: String,
        /// Why.
        reason: String,
    },
    /// Sealed or wrapped data is malformed, was tampered with, or belongs to another key or subject.
    #[error("cannot open sealed data: {0}")]
    Open(&'static str),
    /// The system random generator failed.
    #[error("no secure randomness available")]
    Random,
    /// A key of unknown id was asked for.
    #[error("unknown key id {0}")]
    UnknownKey(String),
}

/// `N` bytes from the operating system's secure random generator.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    use aws_lc_rs::rand::SecureRandom;
    let mut out = [0u8; N];
    aws_lc_rs::rand::SystemRandom::new().fill(&mut out).map_err(|_| CryptoError::Random)?;
    Ok(out)
}
