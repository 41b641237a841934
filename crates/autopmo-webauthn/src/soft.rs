//! A software authenticator for tests: answers WebAuthn challenges as a browser with a passkey
//! would, so that the server side runs real ceremonies (real P-256 keys and signatures, real
//! client data) without a browser or hardware. Never use it outside tests: its keys live in memory
//! and it claims user verification without asking anyone.
//!
//! Built on `webauthn-authenticator-rs`'s `SoftPasskey`, which performs the client checks of the
//! WebAuthn specification (the RP id must be the origin's host or a parent of it; `https://`, or
//! `http://localhost`). It ignores `excludeCredentials`, so this wrapper refuses, as an
//! authenticator must (`InvalidStateError`), to register when it holds an excluded credential.

use std::collections::HashSet;
use std::fmt;

use serde::Deserialize as _;
use webauthn_authenticator_rs::WebauthnAuthenticator as _;
use webauthn_authenticator_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

/// An in-memory passkey authenticator behind a browser-like client.
pub struct SoftAuthenticator {
    passkey: SoftPasskey,
    credential_ids: HashSet<Vec<u8>>,
}

impl fmt::Debug for SoftAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftAuthenticator").field("credentials", &self.credential_ids.len()).finish_non_exhaustive()
    }
}

impl Default for SoftAuthenticator {
    fn default() -> Self {
        Self::new()
    }
}

impl SoftAuthenticator {
    /// An authenticator without credentials, which reports user verification as done.
    pub fn new() -> Self {
        Self { passkey: SoftPasskey::new(true), credential_ids: HashSet::new() }
    }

    /// Answers a registration challenge (`Challenge::options`, `{"publicKey": {...}}`) as a browser
    /// at `origin` would: creates a key pair and returns the `RegisterPublicKeyCredential` JSON to
    /// send to the server.
    ///
    /// # Errors
    /// A description of the refusal: malformed options or origin, an RP id that does not belong to
    /// the origin, an insecure origin, or an excluded credential held by this authenticator.
    pub fn register(&mut self, origin: &str, options: &serde_json::Value) -> Result<serde_json::Value, String> {
        let origin = Url::parse(origin).map_err(|e| format!("origin: {e}"))?;
        let options = CreationChallengeResponse::deserialize(options).map_err(|e| format!("options: {e}"))?;
        let excluded = options.public_key.exclude_credentials.iter().flatten();
        if excluded.into_iter().any(|descriptor| self.credential_ids.contains(&descriptor.id)) {
            return Err("InvalidStateError: this authenticator holds an excluded credential".to_owned());
        }
        let credential = self.passkey.do_registration(origin, options).map_err(|e| format!("registration: {e:?}"))?;
        self.credential_ids.insert(credential.raw_id.clone());
        serde_json::to_value(&credential).map_err(|e| format!("serialise: {e}"))
    }

    /// Answers an authentication challenge (`Challenge::options`) as a browser at `origin` would:
    /// signs with a credential from `allowCredentials` that this authenticator holds and returns the
    /// `PublicKeyCredential` JSON to send to the server.
    ///
    /// # Errors
    /// A description of the refusal: malformed options or origin, an RP id that does not belong to
    /// the origin, or no allowed credential held here.
    pub fn authenticate(&mut self, origin: &str, options: &serde_json::Value) -> Result<serde_json::Value, String> {
        let origin = Url::parse(origin).map_err(|e| format!("origin: {e}"))?;
        let options = RequestChallengeResponse::deserialize(options).map_err(|e| format!("options: {e}"))?;
        let assertion =
            self.passkey.do_authentication(origin, options).map_err(|e| format!("authentication: {e:?}"))?;
        serde_json::to_value(&assertion).map_err(|e| format!("serialise: {e}"))
    }
}
