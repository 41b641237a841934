//! What crosses the crate boundary: stored credentials, challenges, authentication results.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use webauthn_rs::prelude::Passkey;

use crate::WebAuthnError;

/// A registered credential as stored: the opaque JSON text of the `webauthn-rs` passkey (credential
/// id, public key, signature counter, flags). It holds no secret; store it with the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential(pub String);

impl StoredCredential {
    /// The credential id, base64url without padding, as browsers report it (`PublicKeyCredential.id`).
    /// Unique per authenticator credential: refuse to register one that another account holds.
    ///
    /// # Errors
    /// [`WebAuthnError::State`] if the text is not a stored credential.
    pub fn credential_id(&self) -> Result<String, WebAuthnError> {
        Ok(URL_SAFE_NO_PAD.encode(self.passkey()?.cred_id()))
    }

    pub(crate) fn passkey(&self) -> Result<Passkey, WebAuthnError> {
        serde_json::from_str(&self.0).map_err(|_| WebAuthnError::State("a stored credential is unreadable".to_owned()))
    }

    pub(crate) fn from_passkey(passkey: &Passkey) -> Result<Self, WebAuthnError> {
        serde_json::to_string(passkey)
            .map(Self)
            .map_err(|_| WebAuthnError::State("cannot serialise a credential".to_owned()))
    }
}

/// The first half of a ceremony: what to send to the browser and what to keep.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// The options to send to the browser, `{"publicKey": {...}}`, for `navigator.credentials.create`
    /// (registration) or `.get` (authentication) once its base64url fields are decoded.
    pub options: serde_json::Value,
    /// Opaque ceremony state to store server-side, bound to the user's session, and pass to the
    /// matching `finish_*` call exactly once. Never send it to the client.
    pub state: String,
}

/// A successful authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// Which credential signed (base64url, as [`StoredCredential::credential_id`]).
    pub credential_id: String,
    /// The authenticator's signature counter (0 for authenticators without one, as most synced
    /// passkeys).
    pub counter: u32,
    /// The credential with its new counter or backup state, when either changed: store it in place
    /// of the old one, or the next authentication may be refused as a possible clone.
    pub updated: Option<StoredCredential>,
}
