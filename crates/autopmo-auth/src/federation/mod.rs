//! OIDC federation: AutoPMO as a relying party of external OpenID
//! providers such as Keycloak (design decision 2, `docs/federation.md`).
//!
//! - [`Federation::verify_bearer`] accepts an external provider's RS256 JWT
//!   access token (`aud` contains the configured audience, `autopmo-api` by
//!   default), checked through the provider's discovered JWKS, cached and
//!   refreshed on an unknown `kid` (at most every 30 s per issuer).
//! - [`Federation::start_login`] and [`Federation::finish_login`] run the
//!   browser's authorization-code flow with PKCE (S256), a single-use
//!   `state` (10 minutes) and a `nonce` checked in the ID token.
//! - Either way the external identity (issuer, subject) is found, linked
//!   to a local user by verified email, or provisioned, as configured; the
//!   provider's roles (e.g. Keycloak's `realm_access.roles`) are mapped to
//!   AutoPMO roles.

mod claims;
mod provider;
mod users;

pub use claims::{TIME_LEEWAY_SECS, unverified_issuer};

use crate::AuthError;
use crate::login::{Grant, Logins, secret_hash};
use autopmo_audit::{Actor, AuditRecord, Category, Outcome};
use autopmo_domain::{Role, User};
use autopmo_trail::AuditTrail;
use provider::Provider;
use reqwest_tls as reqwest;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::sync::Arc;
use time::Duration;

/// How long a browser login may take between its start and the callback.
pub const LOGIN_TTL: Duration = Duration::minutes(10);

/// What to do with an external identity that is not linked to a user yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provisioning {
    /// Link it to the local user with the same email if the provider says
    /// the email is verified; otherwise create a user.
    #[default]
    Create,
    /// Link it to the local user with the same, verified, email; never create.
    LinkVerifiedEmail,
    /// Refuse it: only identities linked already may sign in.
    None,
}

/// One configured external issuer.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// Short name used in URLs (`/api/v1/auth/oidc/{name}/login`).
    pub name: String,
    /// The issuer identifier, exactly as the provider's tokens carry it.
    pub issuer: String,
    /// Our client id at the provider.
    pub client_id: String,
    /// Our client secret (`client_secret_basic`).
    pub client_secret: SecretString,
    /// Scopes asked for in the browser flow (`openid` is always included).
    pub scopes: Vec<String>,
    /// The audience bearer tokens must carry.
    pub audience: String,
    /// Dotted path of the roles claim, e.g. `realm_access.roles`.
    pub role_claim: String,
    /// Provider role → AutoPMO role name (§3.1).
    pub role_map: BTreeMap<String, String>,
    /// Unlinked identities.
    pub provisioning: Provisioning,
}

/// Why a federated login or token was refused. The caller answers all but
/// [`Unavailable`](Self::Unavailable) alike (401); the reason is for the
/// log and the audit trail.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// No issuer of that name is configured.
    #[error("no such identity provider")]
    UnknownIssuer,
    /// Refused; the reason is for the server log and the audit trail.
    #[error("federated login refused: {0}")]
    Refused(&'static str),
    /// The provider could not be reached or answered nonsense.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
    /// Our side failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<autopmo_store::StoreError> for FederationError {
    fn from(e: autopmo_store::StoreError) -> Self {
        Self::Auth(e.into())
    }
}

impl From<autopmo_trail::TrailError> for FederationError {
    fn from(e: autopmo_trail::TrailError) -> Self {
        Self::Auth(e.into())
    }
}

/// A caller authenticated by an external bearer token.
#[derive(Debug, Clone)]
pub struct FederatedCaller {
    /// The local user.
    pub user: User,
    /// Their roles, as mapped from this token.
    pub roles: Vec<Role>,
    /// The issuer's configured name.
    pub issuer_name: String,
}

/// The configured external issuers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Federation(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    trail: AuditTrail,
    public_url: String,
    providers: Vec<Provider>,
    login_key: [u8; 32],
}

impl Federation {
    /// The issuers in `configs`, for a server reached at `public_url`.
    /// Fails on a role map naming an unknown AutoPMO role, a duplicate
    /// name or issuer, or an issuer URL that is neither `https://` nor
    /// plain HTTP on the loopback interface.
    pub fn new(trail: AuditTrail, public_url: &str, configs: Vec<IssuerConfig>) -> Result<Self, AuthError> {
        let http = provider::http_client()?;
        let mut providers: Vec<Provider> = Vec::new();
        for config in configs {
            if providers.iter().any(|p| p.config.name == config.name || p.config.issuer == config.issuer) {
                return Err(AuthError::Invalid(format!("oidc issuer {:?} is configured twice", config.name)));
            }
            providers.push(Provider::new(config, http.clone())?);
        }
        let login_key = trail.keyring().derive_key("autopmo/oidc-login/v1");
        Ok(Self(Arc::new(Inner {
            trail,
            public_url: public_url.trim_end_matches('/').to_owned(),
            providers,
            login_key,
        })))
    }

    /// Whether any issuer is configured.
    pub fn is_empty(&self) -> bool {
        self.0.providers.is_empty()
    }

    /// Whether `iss` is a configured issuer (exact comparison).
    pub fn knows_issuer(&self, iss: &str) -> bool {
        self.0.providers.iter().any(|p| p.config.issuer == iss)
    }

    fn by_name(&self, name: &str) -> Result<&Provider, FederationError> {
        self.0.providers.iter().find(|p| p.config.name == name).ok_or(FederationError::UnknownIssuer)
    }

    /// Checks an external bearer token (signature through the issuer's
    /// JWKS, `iss`, `aud`, times) and finds, links or provisions its user.
    pub async fn verify_bearer(&self, token: &str, actor: &Actor) -> Result<FederatedCaller, FederationError> {
        let iss = unverified_issuer(token).ok_or(FederationError::Refused("no iss"))?;
        let provider = self
            .0
            .providers
            .iter()
            .find(|p| p.config.issuer == iss)
            .ok_or(FederationError::Refused("unknown issuer"))?;
        let now = self.0.trail.now();
        let claims = provider.verify(token, now).await?;
        claims::check_times_and_audience(&claims, &provider.config.issuer, &provider.config.audience, now)
            .map_err(FederationError::Refused)?;
        let (user, roles) = users::resolve_for_bearer(&self.0.trail, provider, &claims, actor, now).await?;
        Ok(FederatedCaller { user, roles, issuer_name: provider.config.name.clone() })
    }

    fn derived(&self, purpose: &str, state: &str) -> String {
        let mut input = purpose.as_bytes().to_vec();
        input.push(0);
        input.extend_from_slice(state.as_bytes());
        autopmo_crypto::base64url(&autopmo_crypto::hmac_sha256(&self.0.login_key, &input))
    }

    /// Where the provider sends the browser back.
    pub fn redirect_uri(&self, name: &str) -> String {
        format!("{}/api/v1/auth/oidc/{name}/callback", self.0.public_url)
    }

    /// Starts a browser login with issuer `name`: records a single-use
    /// `state` and returns the provider's authorization URL (PKCE S256,
    /// `state`, `nonce`) to redirect the browser to.
    pub async fn start_login(&self, name: &str) -> Result<String, FederationError> {
        let provider = self.by_name(name)?;
        let metadata = provider.metadata().await?;
        let state = autopmo_crypto::base64url(
            &autopmo_crypto::random_bytes::<32>().map_err(|e| AuthError::Password(e.to_string()))?,
        );
        let verifier = self.derived("pkce", &state);
        let challenge = autopmo_crypto::base64url(&autopmo_crypto::sha256(verifier.as_bytes()));
        let nonce = self.derived("nonce", &state);
        let now = self.0.trail.now();
        let mut uow = self.0.trail.store().begin().await?;
        autopmo_store::federation::insert_login(uow.conn(), &secret_hash(&state), name, now, now + LOGIN_TTL).await?;
        uow.commit().await?;
        let mut scopes = vec!["openid".to_owned()];
        scopes.extend(provider.config.scopes.iter().filter(|s| *s != "openid").cloned());
        let url = reqwest::Url::parse_with_params(
            &metadata.authorization_endpoint,
            &[
                ("response_type", "code"),
                ("client_id", provider.config.client_id.as_str()),
                ("redirect_uri", self.redirect_uri(name).as_str()),
                ("scope", scopes.join(" ").as_str()),
                ("state", state.as_str()),
                ("nonce", nonce.as_str()),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
        )
        .map_err(|e| FederationError::Unavailable(format!("authorization endpoint: {e}")))?;
        Ok(url.into())
    }

    /// Finishes a browser login: spends the `state` (once, within 10
    /// minutes), exchanges `code` with the PKCE verifier, checks the ID
    /// token (signature, `iss`, `aud`, `azp`, times, `nonce`), finds, links
    /// or provisions the user and opens a session — audited as
    /// `auth.federated_login` in the session's unit of work. A refusal is
    /// audited too.
    pub async fn finish_login(
        &self,
        logins: &Logins,
        name: &str,
        code: &str,
        state: &str,
        actor: &Actor,
    ) -> Result<Grant, FederationError> {
        let provider = self.by_name(name)?;
        let result = self.finish(logins, provider, code, state, actor).await;
        if let Err(FederationError::Refused(reason)) = &result {
            let mut record = self.event(Outcome::Denied, actor, name, None).with_metadata(&serde_json::json!({
                "issuer": provider.config.issuer, "method": "authorization_code", "reason": reason,
            }));
            let mut uow = self.0.trail.store().begin().await?;
            uow.append_audit(&mut record).await?;
            uow.commit().await?;
        }
        result
    }

    async fn finish(
        &self,
        logins: &Logins,
        provider: &Provider,
        code: &str,
        state: &str,
        actor: &Actor,
    ) -> Result<Grant, FederationError> {
        let name = provider.config.name.as_str();
        let now = self.0.trail.now();
        if state.is_empty() || state.len() > 128 || code.is_empty() || code.len() > 2048 {
            return Err(FederationError::Refused("malformed callback"));
        }
        // Spent first, in its own unit: a replay is refused whatever happens next.
        let mut uow = self.0.trail.store().begin().await?;
        let taken = autopmo_store::federation::take_login(uow.conn(), &secret_hash(state), now).await?;
        uow.commit().await?;
        if taken.as_deref() != Some(name) {
            return Err(FederationError::Refused("unknown, expired or spent state"));
        }
        let id_token = provider.exchange_code(code, &self.redirect_uri(name), &self.derived("pkce", state)).await?;
        let claims = provider.verify(&id_token, now).await?;
        claims::check_id_token(&claims, &provider.config.issuer, &provider.config.client_id, now)
            .map_err(FederationError::Refused)?;
        if claims.get("nonce").and_then(|v| v.as_str()) != Some(self.derived("nonce", state).as_str()) {
            return Err(FederationError::Refused("nonce mismatch"));
        }
        let amr = match claims.get("amr").and_then(|v| v.as_array()) {
            Some(list) if !list.is_empty() => {
                list.iter().filter_map(|v| v.as_str()).map(|s| format!("fed:{s}")).take(8).collect()
            }
            _ => vec!["fed".to_owned()],
        };
        let mut uow = self.0.trail.store().begin().await?;
        let resolved = users::resolve(&mut uow, &self.0.trail, provider, &claims, actor, now).await?;
        let grant = logins.open_session(&mut uow, &resolved.user, amr, false, now).await?;
        let mut record =
            self.event(Outcome::Success, actor, name, Some(&resolved.user)).with_metadata(&serde_json::json!({
                "issuer": provider.config.issuer,
                "method": "authorization_code",
                "session_id": grant.session.id,
                "provisioned": resolved.created,
                "linked": resolved.linked,
                "roles": resolved.user.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            }));
        record.session_id = Some(grant.session.id.clone());
        uow.append_audit(&mut record).await?;
        uow.commit().await?;
        Ok(grant)
    }

    fn event(&self, outcome: Outcome, actor: &Actor, name: &str, user: Option<&User>) -> AuditRecord {
        event(&self.0.trail, outcome, actor, name, user)
    }
}

fn event(trail: &AuditTrail, outcome: Outcome, actor: &Actor, name: &str, user: Option<&User>) -> AuditRecord {
    let mut record = AuditRecord::new("auth.federated_login", Category::Authentication, "login", outcome, trail.now());
    record.actor = actor.clone();
    if let Some(user) = user {
        record.actor.user_id = Some(user.id.to_string());
        record = record.with_resource("user", Some(user.id.to_string()), None);
    } else {
        record = record.with_resource("identity_provider", Some(name.to_owned()), None);
    }
    record
}
