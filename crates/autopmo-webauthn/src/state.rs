//! The ceremony state kept server-side between start and finish: a versioned envelope around the
//! `webauthn-rs` state, so the stored format can change without misreading old rows.

use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{Passkey, PasskeyAuthentication, PasskeyRegistration};

use crate::WebAuthnError;

/// Registration state.
#[derive(Serialize, Deserialize)]
pub(crate) struct RegistrationState {
    v: RegistrationVersion,
    registration: PasskeyRegistration,
}

#[derive(Serialize, Deserialize)]
enum RegistrationVersion {
    #[serde(rename = "registration-1")]
    V1,
}

impl RegistrationState {
    pub(crate) fn new(registration: PasskeyRegistration) -> Self {
        Self { v: RegistrationVersion::V1, registration }
    }

    pub(crate) fn registration(&self) -> &PasskeyRegistration {
        &self.registration
    }
}

/// Authentication state. Keeps the allowed passkeys so that finishing can return the updated one.
#[derive(Serialize, Deserialize)]
pub(crate) struct AuthenticationState {
    v: AuthenticationVersion,
    authentication: PasskeyAuthentication,
    credentials: Vec<Passkey>,
}

#[derive(Serialize, Deserialize)]
enum AuthenticationVersion {
    #[serde(rename = "authentication-1")]
    V1,
}

impl AuthenticationState {
    pub(crate) fn new(authentication: PasskeyAuthentication, credentials: Vec<Passkey>) -> Self {
        Self { v: AuthenticationVersion::V1, authentication, credentials }
    }

    pub(crate) fn authentication(&self) -> &PasskeyAuthentication {
        &self.authentication
    }

    /// Takes the allowed passkeys out (finishing consumes the state).
    pub(crate) fn into_credentials(self) -> Vec<Passkey> {
        self.credentials
    }
}

pub(crate) fn encode<T: Serialize>(state: &T) -> Result<String, WebAuthnError> {
    serde_json::to_string(state).map_err(|_| WebAuthnError::State("cannot serialise the ceremony state".to_owned()))
}

pub(crate) fn decode<'a, T: Deserialize<'a>>(state: &'a str) -> Result<T, WebAuthnError> {
    serde_json::from_str(state).map_err(|_| {
        WebAuthnError::State("the stored ceremony state is unreadable or belongs to another ceremony".to_owned())
    })
}
