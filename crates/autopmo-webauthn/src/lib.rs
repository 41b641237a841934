#![doc = include_str!("../README.md")]

mod config;
mod credential;
mod error;
mod relying_party;
#[cfg(feature = "soft-authenticator")]
pub mod soft;
mod state;

pub use config::WebAuthnConfig;
pub use credential::{Authenticated, Challenge, StoredCredential};
pub use error::WebAuthnError;
pub use relying_party::WebAuthn;
