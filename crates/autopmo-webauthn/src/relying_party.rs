//! The relying party: registration and authentication ceremonies.

use webauthn_rs::prelude::{Passkey, PublicKeyCredential, RegisterPublicKeyCredential, Uuid, WebauthnError};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use crate::state::{self, AuthenticationState, RegistrationState};
use crate::{Authenticated, Challenge, StoredCredential, WebAuthnConfig, WebAuthnError};

/// A WebAuthn relying party, built once at start-up and shared (cheap to clone).
///
/// Registrations and authentications require user verification (PIN or biometrics on the
/// authenticator), so a passkey is a complete multi-factor credential on its own.
#[derive(Debug, Clone)]
pub struct WebAuthn {
    inner: Webauthn,
}

impl WebAuthn {
    /// Builds the relying party.
    ///
    /// # Errors
    /// [`WebAuthnError::Config`] if the origin is not `https://domain[:port]` (or
    /// `http://localhost[:port]`), if `rp_id` is not the origin's host or a parent domain of it, or
    /// if `rp_name` is empty.
    pub fn new(config: &WebAuthnConfig) -> Result<Self, WebAuthnError> {
        let origin = config.origin()?;
        let name = config.name()?;
        let inner = WebauthnBuilder::new(&config.rp_id, &origin)
            .map_err(|_| WebAuthnError::Config("rp_id: must be the origin's host or a parent domain of it".to_owned()))?
            .rp_name(name)
            .build()
            .map_err(|e| WebAuthnError::Config(e.to_string()))?;
        Ok(Self { inner })
    }

    /// Starts registering a new credential for a user.
    ///
    /// `user_id` is the account's stable id (authenticators may store it); `username` and
    /// `display_name` are what an authenticator may show (an empty display name falls back to the
    /// username). `existing` are the user's registered credentials: the browser refuses to register
    /// an authenticator that already holds one of them, and so does
    /// [`finish_registration`](Self::finish_registration).
    ///
    /// # Errors
    /// [`WebAuthnError::State`] if `username` is empty or a stored credential is unreadable.
    pub fn start_registration(
        &self,
        user_id: Uuid,
        username: &str,
        display_name: &str,
        existing: &[StoredCredential],
    ) -> Result<Challenge, WebAuthnError> {
        if username.trim().is_empty() {
            return Err(WebAuthnError::State("a user name is required".to_owned()));
        }
        let display_name = if display_name.trim().is_empty() { username } else { display_name };
        let exclude =
            existing.iter().map(|c| c.passkey().map(|p| p.cred_id().clone())).collect::<Result<Vec<_>, _>>()?;
        let exclude = if exclude.is_empty() { None } else { Some(exclude) };
        let (options, registration) = self
            .inner
            .start_passkey_registration(user_id, username, display_name, exclude)
            .map_err(|e| WebAuthnError::State(e.to_string()))?;
        Ok(Challenge { options: to_json(&options)?, state: state::encode(&RegistrationState::new(registration))? })
    }

    /// Verifies the browser's answer (`RegisterPublicKeyCredential` JSON) to the challenge whose
    /// state is `state`, and returns the credential to store.
    ///
    /// Delete the state before calling this, whatever the outcome: a state answers one challenge
    /// once. Then refuse the credential if its [`credential_id`](StoredCredential::credential_id) is
    /// already registered to another account.
    ///
    /// # Errors
    /// [`WebAuthnError::Ceremony`] if the answer is malformed or does not verify (another
    /// challenge, origin or RP id, no user verification, an excluded credential, a bad signature);
    /// [`WebAuthnError::State`] if the state is unreadable or is not a registration state.
    pub fn finish_registration(
        &self,
        response: &serde_json::Value,
        state: &str,
    ) -> Result<StoredCredential, WebAuthnError> {
        let state: RegistrationState = state::decode(state)?;
        let response: RegisterPublicKeyCredential = from_client(response)?;
        let passkey = self.inner.finish_passkey_registration(&response, state.registration()).map_err(refused)?;
        StoredCredential::from_passkey(&passkey)
    }

    /// Starts authenticating a user with one of their registered credentials.
    ///
    /// # Errors
    /// [`WebAuthnError::Ceremony`] if `credentials` is empty (the user has no credential);
    /// [`WebAuthnError::State`] if a stored credential is unreadable.
    pub fn start_authentication(&self, credentials: &[StoredCredential]) -> Result<Challenge, WebAuthnError> {
        if credentials.is_empty() {
            return Err(WebAuthnError::Ceremony("no WebAuthn credential is registered".to_owned()));
        }
        let passkeys = credentials.iter().map(StoredCredential::passkey).collect::<Result<Vec<_>, _>>()?;
        let (options, authentication) =
            self.inner.start_passkey_authentication(&passkeys).map_err(|e| WebAuthnError::State(e.to_string()))?;
        Ok(Challenge {
            options: to_json(&options)?,
            state: state::encode(&AuthenticationState::new(authentication, passkeys))?,
        })
    }

    /// Verifies the browser's answer (`PublicKeyCredential` JSON) to the challenge whose state is
    /// `state`.
    ///
    /// Delete the state before calling this, whatever the outcome: a state answers one challenge
    /// once. Store [`Authenticated::updated`] when it is `Some`.
    ///
    /// # Errors
    /// [`WebAuthnError::Ceremony`] if the answer is malformed or does not verify (another
    /// challenge, origin or RP id, a credential that was not allowed, no user verification, a bad
    /// signature, a counter that went backwards — a possibly cloned authenticator);
    /// [`WebAuthnError::State`] if the state is unreadable or is not an authentication state.
    pub fn finish_authentication(
        &self,
        response: &serde_json::Value,
        state: &str,
    ) -> Result<Authenticated, WebAuthnError> {
        let state: AuthenticationState = state::decode(state)?;
        let response: PublicKeyCredential = from_client(response)?;
        let result = self.inner.finish_passkey_authentication(&response, state.authentication()).map_err(refused)?;
        let mut used: Option<Passkey> = state.into_credentials().into_iter().find(|p| p.cred_id() == result.cred_id());
        let updated = match used.as_mut().and_then(|p| p.update_credential(&result).map(|changed| (p, changed))) {
            Some((passkey, true)) => Some(StoredCredential::from_passkey(passkey)?),
            Some((_, false)) => None,
            // webauthn-rs only accepts allowed credentials, and they are all in the state.
            None => return Err(WebAuthnError::State("the credential used is not in the ceremony state".to_owned())),
        };
        Ok(Authenticated { credential_id: base64url(result.cred_id()), counter: result.counter(), updated })
    }
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn to_json<T: serde::Serialize>(options: &T) -> Result<serde_json::Value, WebAuthnError> {
    serde_json::to_value(options).map_err(|_| WebAuthnError::State("cannot serialise the challenge".to_owned()))
}

/// Parses the client's JSON answer; a malformed answer is the client's fault.
fn from_client<T: serde::de::DeserializeOwned>(response: &serde_json::Value) -> Result<T, WebAuthnError> {
    T::deserialize(response).map_err(|e| WebAuthnError::Ceremony(format!("malformed response: {e}")))
}

/// The answer does not verify. webauthn-rs's messages are fixed texts without data.
fn refused(e: WebauthnError) -> WebAuthnError {
    WebAuthnError::Ceremony(e.to_string())
}
