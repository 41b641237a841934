//! The one error type of the crate.

/// Why a WebAuthn operation failed. Messages are safe to show to a user: they never contain key
/// material, stored state or a user's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebAuthnError {
    /// The relying party settings are invalid (RP id, origin or name).
    #[error("invalid WebAuthn settings: {0}")]
    Config(String),
    /// The client's answer does not verify (wrong challenge, origin, credential or signature, or
    /// malformed), or the user has no credential to authenticate with.
    #[error("WebAuthn ceremony refused: {0}")]
    Ceremony(String),
    /// Server-side data is unusable: a stored ceremony state or credential cannot be read, or the
    /// server passed invalid input. A bug or corrupted data, not the client's fault.
    #[error("WebAuthn state unusable: {0}")]
    State(String),
}
