//! One external provider: its discovery document, its JWKS (cached,
//! refreshed on an unknown `kid` at most every 30 s) and its token endpoint.

use super::{FederationError, IssuerConfig};
use crate::AuthError;
use autopmo_crypto::external_jwt::verify_external;
use autopmo_crypto::jws::PublicKey;
use autopmo_domain::Role;
use reqwest_tls as reqwest;
use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{PoisonError, RwLock};
use time::{Duration, OffsetDateTime};

/// The least time between two JWKS fetches caused by unknown `kid`s.
pub const JWKS_REFRESH_INTERVAL: Duration = Duration::seconds(30);
/// The largest document read from a provider.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// What discovery told us.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

#[derive(Debug, Default)]
struct Jwks {
    keys: HashMap<String, PublicKey>,
    fetched_at: Option<OffsetDateTime>,
}

#[derive(Debug)]
pub struct Provider {
    pub config: IssuerConfig,
    pub role_map: BTreeMap<String, Role>,
    http: reqwest::Client,
    metadata: tokio::sync::OnceCell<Metadata>,
    jwks: RwLock<Jwks>,
    refresh: tokio::sync::Mutex<()>,
}

/// An HTTP client for providers: TLS through rustls (aws-lc-rs, the
/// platform's roots), no redirects followed, 10 s per request.
pub fn http_client() -> Result<reqwest::Client, AuthError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| AuthError::Invalid(format!("HTTP client for identity providers: {e}")))
}

/// `https://…`, or plain HTTP to the loopback interface (tests, a local proxy).
pub fn acceptable_url(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else { return false };
    match parsed.scheme() {
        "https" => parsed.host_str().is_some(),
        "http" => matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")),
        _ => false,
    }
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> FederationError {
    FederationError::Unavailable(format!("{what}: {e}"))
}

impl Provider {
    pub fn new(config: IssuerConfig, http: reqwest::Client) -> Result<Self, AuthError> {
        let bad = |what: String| AuthError::Invalid(format!("oidc issuer {:?}: {what}", config.name));
        if config.name.is_empty()
            || config.name.len() > 64
            || !config.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad("name must be 1 to 64 letters, digits, - or _".to_owned()));
        }
        if !acceptable_url(&config.issuer) {
            return Err(bad("issuer must be an https:// URL (plain http only on the loopback interface)".to_owned()));
        }
        if config.client_id.is_empty() || config.audience.is_empty() || config.role_claim.is_empty() {
            return Err(bad("client_id, audience and role_claim must not be empty".to_owned()));
        }
        let mut role_map = BTreeMap::new();
        for (theirs, ours) in &config.role_map {
            let role = Role::parse(ours).map_err(|e| bad(format!("role_map.{theirs}: {}", e.message)))?;
            role_map.insert(theirs.clone(), role);
        }
        Ok(Self {
            config,
            role_map,
            http,
            metadata: tokio::sync::OnceCell::new(),
            jwks: RwLock::default(),
            refresh: tokio::sync::Mutex::new(()),
        })
    }

    async fn get_json(&self, url: &str, what: &str) -> Result<Map<String, Value>, FederationError> {
        let response = self.http.get(url).send().await.map_err(|e| unavailable(what, e))?;
        if !response.status().is_success() {
            return Err(unavailable(what, format!("HTTP {}", response.status())));
        }
        read_json(response, what).await
    }

    /// The discovery document, fetched once (again after a failure).
    pub async fn metadata(&self) -> Result<&Metadata, FederationError> {
        self.metadata
            .get_or_try_init(|| async {
                let url = format!("{}/.well-known/openid-configuration", self.config.issuer.trim_end_matches('/'));
                let doc = self.get_json(&url, "discovery").await?;
                if doc.get("issuer").and_then(Value::as_str) != Some(self.config.issuer.as_str()) {
                    return Err(unavailable("discovery", "its issuer is not the configured one"));
                }
                let endpoint = |name: &str| -> Result<String, FederationError> {
                    doc.get(name)
                        .and_then(Value::as_str)
                        .filter(|u| acceptable_url(u))
                        .map(str::to_owned)
                        .ok_or_else(|| unavailable("discovery", format!("{name} missing or not https")))
                };
                Ok(Metadata {
                    authorization_endpoint: endpoint("authorization_endpoint")?,
                    token_endpoint: endpoint("token_endpoint")?,
                    jwks_uri: endpoint("jwks_uri")?,
                })
            })
            .await
    }

    /// Fetches the JWKS unless it was fetched less than 30 s ago (or,
    /// with `force`, at all).
    async fn refresh_jwks(&self, now: OffsetDateTime, force: bool) -> Result<(), FederationError> {
        let _one_at_a_time = self.refresh.lock().await;
        let last = self.jwks.read().unwrap_or_else(PoisonError::into_inner).fetched_at;
        let due = match last {
            None => true,
            Some(at) => force && now - at >= JWKS_REFRESH_INTERVAL,
        };
        if !due {
            return Ok(());
        }
        let uri = self.metadata().await?.jwks_uri.clone();
        let doc = self.get_json(&uri, "jwks").await?;
        let mut keys = HashMap::new();
        for jwk in doc.get("keys").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
            // Keys for encryption or other algorithms are skipped, not fatal.
            if let Ok(key) = PublicKey::from_jwk(jwk) {
                keys.insert(key.kid().to_owned(), key);
            }
        }
        tracing::info!(issuer = %self.config.issuer, keys = keys.len(), "identity provider keys fetched");
        *self.jwks.write().unwrap_or_else(PoisonError::into_inner) = Jwks { keys, fetched_at: Some(now) };
        Ok(())
    }

    fn key(&self, kid: &str) -> Option<PublicKey> {
        self.jwks.read().unwrap_or_else(PoisonError::into_inner).keys.get(kid).cloned()
    }

    /// Checks the token's header and signature (claims are the caller's).
    pub async fn verify(&self, token: &str, now: OffsetDateTime) -> Result<Map<String, Value>, FederationError> {
        self.refresh_jwks(now, false).await?;
        match verify_external(token, &|kid| self.key(kid)) {
            Ok(payload) => Ok(payload.claims().clone()),
            Err(e) if e.reason() == "unknown kid" => {
                self.refresh_jwks(now, true).await?;
                verify_external(token, &|kid| self.key(kid))
                    .map(|p| p.claims().clone())
                    .map_err(|e| FederationError::Refused(e.reason()))
            }
            Err(e) => Err(FederationError::Refused(e.reason())),
        }
    }

    /// Exchanges an authorization code (with its PKCE verifier) for the ID token.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<String, FederationError> {
        let endpoint = self.metadata().await?.token_endpoint.clone();
        let response = self
            .http
            .post(&endpoint)
            .basic_auth(&self.config.client_id, Some(self.config.client_secret.expose_secret()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .map_err(|e| unavailable("token endpoint", e))?;
        let status = response.status();
        if status.is_client_error() {
            tracing::info!(issuer = %self.config.issuer, %status, "authorization code refused by the provider");
            return Err(FederationError::Refused("code exchange refused"));
        }
        if !status.is_success() {
            return Err(unavailable("token endpoint", format!("HTTP {status}")));
        }
        let body = read_json(response, "token endpoint").await?;
        body.get("id_token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(FederationError::Refused("no id_token in the token response"))
    }
}

async fn read_json(response: reqwest::Response, what: &str) -> Result<Map<String, Value>, FederationError> {
    if response.content_length().is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64) {
        return Err(unavailable(what, "document too large"));
    }
    let bytes = response.bytes().await.map_err(|e| unavailable(what, e))?;
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(unavailable(what, "document too large"));
    }
    serde_json::from_slice(&bytes).map_err(|e| unavailable(what, e))
}
