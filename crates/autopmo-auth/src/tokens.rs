//! Access tokens: RS256 keys shared by every replica through the store
//! (private halves sealed by the keyring), rotated on schedule, published as
//! a JWKS; and the check of a presented access token against its session.

use crate::AuthError;
use autopmo_crypto::jws::VerifiedPayload;
use autopmo_crypto::jws::{PublicKey, RsaBits, SigningKey};
use autopmo_identity::tokens::{
    AccessClaims, AccessGrant, KeyRecord, KeySet, RotationPolicy, TokenError, TokenKeys, TokenPolicy, issue_access,
    validate_access, verify_access_signature,
};
use autopmo_store::sessions::Session;
use autopmo_store::signing_keys::{self, StoredKey};
use autopmo_trail::AuditTrail;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use time::{Duration, OffsetDateTime};

const KEY_CONTEXT: &str = "autopmo/token-signing-key";

/// Verified access tokens remembered at most; beyond this the memory
/// starts afresh.
const VERIFIED_LIMIT: usize = 20_000;

/// Access tokens whose signature was checked, by the SHA-256 of the token.
/// A token's bytes never change, so its signature need only be checked
/// once; its claims (expiry, issuer, audience…) and its key (still
/// published) are checked again on every use, and its session by the
/// caller. Forgotten when the keys are reloaded.
type Verified = HashMap<[u8; 32], Arc<VerifiedPayload>>;

/// Issues and checks access tokens.
#[derive(Debug, Clone)]
pub struct Tokens {
    trail: AuditTrail,
    policy: TokenPolicy,
    rotation: RotationPolicy,
    keys: Arc<RwLock<Option<TokenKeys>>>,
    last_reload: Arc<RwLock<Option<OffsetDateTime>>>,
    verified: Arc<RwLock<Verified>>,
}

fn internal(e: impl std::fmt::Display) -> AuthError {
    AuthError::Password(format!("token keys: {e}"))
}

impl Tokens {
    /// The service; keys are loaded (or made) by [`load`](Self::load).
    pub fn new(trail: AuditTrail, policy: TokenPolicy) -> Self {
        let rotation = RotationPolicy::for_tokens(&policy);
        Self { trail, policy, rotation, keys: Arc::default(), last_reload: Arc::default(), verified: Arc::default() }
    }

    /// The policy.
    pub fn policy(&self) -> &TokenPolicy {
        &self.policy
    }

    /// Loads the keys from the store; makes the first one, or a new one when
    /// rotation is due (the previous keys stay published until their last
    /// token expires).
    pub async fn load(&self) -> Result<(), AuthError> {
        let now = self.trail.now();
        let mut current = self.read_store().await?;
        if current.key_set().rotation_due(now) || current.signer(now).is_none() {
            let key = SigningKey::generate(RsaBits::Rsa2048).map_err(internal)?;
            let der = key.to_pkcs8_der().map_err(internal)?;
            let (kek_id, sealed) = self.trail.keyring().seal_secret(&der, KEY_CONTEXT).map_err(internal)?;
            let stored = StoredKey {
                kid: key.kid().to_owned(),
                algorithm: "RS256".to_owned(),
                kek_id,
                private_key: sealed,
                public_jwk: key.public_jwk().to_string(),
                created_at: now,
                retired_at: None,
            };
            let mut uow = self.trail.store().begin().await?;
            signing_keys::insert(uow.conn(), &stored).await?;
            signing_keys::retire_others(uow.conn(), key.kid(), now).await?;
            uow.commit().await?;
            current = self.read_store().await?;
        }
        *self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(current);
        self.verified.write().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        *self.last_reload.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(now);
        Ok(())
    }

    async fn read_store(&self) -> Result<TokenKeys, AuthError> {
        let mut conn = self.trail.store().read().await?;
        let stored = signing_keys::all(&mut conn).await?;
        drop(conn);
        let mut records = Vec::new();
        let mut keys = Vec::new();
        for k in stored {
            let der = self.trail.keyring().open_secret(&k.kek_id, &k.private_key, KEY_CONTEXT).map_err(internal)?;
            keys.push(SigningKey::from_pkcs8_der(&der).map_err(internal)?);
            records.push(KeyRecord { kid: k.kid, created_at: k.created_at, retired_at: k.retired_at });
        }
        let set = KeySet::new(records, self.rotation).map_err(internal)?;
        TokenKeys::new(set, keys).map_err(internal)
    }

    /// Loads the keys if they were not loaded yet.
    async fn ensure_loaded(&self) -> Result<(), AuthError> {
        let loaded = self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner).is_some();
        if loaded { Ok(()) } else { self.load().await }
    }

    /// An access token for `session` of a user with `roles`.
    pub async fn issue(&self, session: &Session, roles: &[String]) -> Result<(String, Duration), AuthError> {
        self.ensure_loaded().await?;
        let now = self.trail.now();
        let guard = self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let keys = guard.as_ref().ok_or_else(|| internal("not loaded"))?;
        let signer = keys.signer(now).ok_or_else(|| internal("no signing key"))?;
        let grant = AccessGrant {
            sub: session.user_id.clone(),
            sid: session.id.clone(),
            roles: roles.to_vec(),
            amr: session.amr.clone(),
            auth_time: session.auth_time,
        };
        let jti = autopmo_crypto::base64url(&autopmo_crypto::random_bytes::<16>().map_err(internal)?);
        let claims = AccessClaims::new(&self.policy, &grant, jti, now);
        Ok((issue_access(signer, &claims).map_err(internal)?, self.policy.access_ttl()))
    }

    fn key_for(&self, kid: &str, now: OffsetDateTime) -> Option<PublicKey> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .and_then(|k| k.verifying_key(kid, now))
    }

    /// Verifies a presented access token: signature, `typ`, claims. `None`
    /// for anything invalid (the reason goes to the log only). A key made by
    /// another replica is picked up from the store (at most every 5 s).
    pub async fn verify(&self, token: &str) -> Option<AccessClaims> {
        if self.ensure_loaded().await.is_err() {
            return None;
        }
        let now = self.trail.now();
        let first = self.verify_remembered(token, now);
        match first {
            Ok(claims) => Some(claims),
            Err(e) => {
                let stale = self
                    .last_reload
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .is_none_or(|at| now - at > Duration::seconds(5));
                if stale && e.reason().contains("kid") && self.load().await.is_ok() {
                    return self.verify_remembered(token, now).ok();
                }
                tracing::debug!(reason = e.reason(), "access token refused");
                None
            }
        }
    }

    /// Checks `token`: its signature once (then remembered by its hash),
    /// its key and its claims every time.
    fn verify_remembered(&self, token: &str, now: OffsetDateTime) -> Result<AccessClaims, TokenError> {
        let digest = autopmo_crypto::sha256(token.as_bytes());
        let remembered =
            self.verified.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&digest).map(Arc::clone);
        if let Some(payload) = remembered
            && self.key_for(payload.kid(), now).is_some()
        {
            return validate_access(&payload, &self.policy, now);
        }
        let payload = verify_access_signature(token, &|kid| self.key_for(kid, now))?;
        let claims = validate_access(&payload, &self.policy, now)?;
        let mut verified = self.verified.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() >= VERIFIED_LIMIT {
            verified.clear();
        }
        verified.insert(digest, Arc::new(payload));
        Ok(claims)
    }

    /// The published keys.
    pub async fn jwks(&self) -> serde_json::Value {
        if let Err(e) = self.ensure_loaded().await {
            tracing::error!(error = %e, "token keys could not be loaded");
        }
        let now = self.trail.now();
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map_or_else(|| serde_json::json!({"keys": []}), |k| k.jwks(now))
    }
}
