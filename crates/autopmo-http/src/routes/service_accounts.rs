//! Service accounts for agents and integrations, and their API keys
//! (system administrators: `users:manage`, decided before the handler).
//!
//! A service account holds scoped roles (never `system_admin`) and cannot
//! log in; it calls the API with its keys (`apmo_sak_…`), shown once at
//! creation and stored only as SHA-256. Its roles are read on every
//! request, so a role change applies to every key at once. Every change is
//! audited ([`autopmo_auth::service_accounts`]); the secret never is.

use super::roles::{admin_error, changed_by, parse_roles};
use super::{finish, or_404};
use crate::audit::Audit;
use crate::authz::rules::{RouteRule, Rule, TargetRef, rule};
use crate::extract::if_match::{IfMatch, OptionalIfMatch, etag_header};
use crate::extract::json::ValidJson;
use crate::extract::path::Ids;
use crate::extract::principal::Principal;
use crate::extract::query::{ValidQuery, list_params};
use crate::problem::ApiError;
use crate::schema;
use crate::state::AppState;
use crate::views::{PageView, Whole};
use autopmo_auth::service_accounts::{self as accounts, DEFAULT_KEY_DAYS, MAX_KEY_DAYS, NewServiceAccount};
use autopmo_domain::{DisplayName, FieldError, Note, UserId, Username, ValidationErrors};
use autopmo_store::service_accounts::{self, ServiceAccount, ServiceAccountSort};
use autopmo_store::tokens::{self, KeyId, KeyInfo};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_accounts, create_account))
        .routes(routes!(get_account, update_account, disable_account))
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

const MANAGE: Rule = Rule::Guarded("users:manage", TargetRef::Type("user"));

/// What each route needs (see `crate::authz`).
pub(crate) const RULES: &[RouteRule] = &[
    rule("GET", "/api/v1/service-accounts", MANAGE),
    rule("POST", "/api/v1/service-accounts", MANAGE),
    rule("GET", "/api/v1/service-accounts/{account_id}", MANAGE),
    rule("PATCH", "/api/v1/service-accounts/{account_id}", MANAGE),
    rule("DELETE", "/api/v1/service-accounts/{account_id}", MANAGE),
    rule("GET", "/api/v1/service-accounts/{account_id}/keys", MANAGE),
    rule("POST", "/api/v1/service-accounts/{account_id}/keys", MANAGE),
    rule("DELETE", "/api/v1/service-accounts/{account_id}/keys/{key_id}", MANAGE),
];

fn ts(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// A service account.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountView {
    /// Id (a user id: it is the actor of the account's requests).
    pub id: String,
    /// Name (username rules; unique among all users).
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Roles (§3.1), sorted; never `system_admin`.
    pub roles: Vec<String>,
    /// `active` or `disabled`.
    pub status: String,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last changed (RFC 3339).
    pub updated_at: String,
    /// Version; the ETag is this number in quotes.
    pub version: i64,
}

impl From<ServiceAccount> for ServiceAccountView {
    fn from(a: ServiceAccount) -> Self {
        Self {
            id: a.user.id.to_string(),
            name: a.user.username.as_str().to_owned(),
            description: a.description,
            roles: a.user.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            status: a.user.status.as_str().to_owned(),
            created_at: ts(a.user.created_at),
            updated_at: ts(a.user.updated_at),
            version: a.user.version,
        }
    }
}

/// An API key of a service account: never its secret or hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// Id.
    pub id: String,
    /// What it is for.
    pub name: String,
    /// Issued (RFC 3339).
    pub created_at: String,
    /// It stops working then (RFC 3339).
    pub expires_at: Option<String>,
    /// Revoked then (RFC 3339); `null` while it may be used.
    pub revoked_at: Option<String>,
}

impl From<KeyInfo> for KeyView {
    fn from(k: KeyInfo) -> Self {
        Self {
            id: k.id.to_string(),
            name: k.name,
            created_at: ts(k.created_at),
            expires_at: k.expires_at.map(ts),
            revoked_at: k.revoked_at.map(ts),
        }
    }
}

/// A key just issued, with its secret: shown this once, never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewKeyView {
    /// The key's metadata.
    #[serde(flatten)]
    pub key: KeyView,
    /// `apmo_sak_…`: send it as `Authorization: Bearer …`. Only its SHA-256
    /// is kept; store it safely now.
    pub secret: String,
}

/// A service account's keys, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyListView {
    /// The keys, revoked and expired ones included.
    pub items: Vec<KeyView>,
}

/// A new service account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccount {
    /// Name: 3–64 of `a-z 0-9 . _ -`, starting with a letter or digit.
    name: String,
    /// What it is for (up to 1,000 characters).
    #[serde(default)]
    description: String,
    /// Its roles, each once; not `system_admin`.
    #[schema(value_type = std::collections::BTreeSet<schema::ServiceRole>)]
    roles: Vec<String>,
}

/// A change to a service account; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateServiceAccount {
    /// What it is for.
    #[serde(default, deserialize_with = "crate::views::not_null")]
    #[schema(nullable = false)]
    description: Option<String>,
    /// The complete new set of roles; not `system_admin`.
    #[serde(default, deserialize_with = "crate::views::not_null")]
    #[schema(value_type = Option<std::collections::BTreeSet<schema::ServiceRole>>, nullable = false)]
    roles: Option<Vec<String>>,
}

/// A new key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// What the key is for (1–128 characters), e.g. `ci`.
    name: String,
    /// Days until it expires, 1–3650 (default 90).
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 3650)]
    expires_in_days: Option<Whole>,
}

/// List parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ServiceAccountQuery {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    cursor: Option<String>,
    /// `name` or `created_at`, `-` prefix for descending.
    #[param(pattern = r"^-?(name|created_at)$")]
    sort: Option<String>,
}

/// Lists service accounts.
#[utoipa::path(get, path = "/api/v1/service-accounts", tag = "service-accounts", params(ServiceAccountQuery),
    security(("bearer" = [])),
    responses((status = 200, body = PageView<ServiceAccountView>), (status = 400, description = "Invalid parameters"),
        (status = 401, description = "Unauthenticated"), (status = 403, description = "Not a system administrator")))]
async fn list_accounts(
    State(state): State<AppState>,
    _principal: Principal,
    ValidQuery(q): ValidQuery<ServiceAccountQuery>,
) -> Result<Json<PageView<ServiceAccountView>>, ApiError> {
    let params = list_params(
        q.limit,
        q.cursor.as_deref(),
        q.sort.as_deref(),
        &[ServiceAccountSort::Name, ServiceAccountSort::CreatedAt],
        ServiceAccountSort::Name,
    )?;
    let mut conn = state.store.read().await?;
    let page = service_accounts::list(&mut conn, &params).await?;
    Ok(Json(PageView::from_page(page, ServiceAccountView::from)))
}

/// Creates a service account (`service_account.created`).
#[utoipa::path(post, path = "/api/v1/service-accounts", tag = "service-accounts", request_body = CreateServiceAccount,
    security(("bearer" = [])),
    responses((status = 201, body = ServiceAccountView, headers(("ETag" = String, description = "Version, for If-Match"))),
        (status = 400, description = "Malformed request"), (status = 401, description = "Unauthenticated"),
        (status = 403, description = "Not a system administrator"), (status = 409, description = "The name is taken"),
        (status = 422, description = "Invalid values, or system_admin")))]
async fn create_account(
    State(state): State<AppState>,
    _principal: Principal,
    audit: Audit,
    ValidJson(body): ValidJson<CreateServiceAccount>,
) -> Result<(StatusCode, HeaderMap, Json<ServiceAccountView>), ApiError> {
    let mut e = ValidationErrors::new();
    let name = e.check("name", Username::parse(&body.name));
    let description = e.check("description", Note::parse(&body.description));
    let roles = parse_roles(&mut e, "roles", &body.roles, true);
    let (Some(name), Some(description), Some(roles)) = (name, description, roles) else {
        return Err(e.into());
    };
    let by = changed_by(&state, &audit);
    let mut uow = state.store.begin().await?;
    let account = accounts::create(&mut uow, NewServiceAccount { name, description, roles }, &by, state.now())
        .await
        .map_err(|e| admin_error(e, "roles", "service account"))?;
    audit.0.resource("service_account", account.user.id);
    audit.commit(&state, uow, StatusCode::CREATED, Vec::new()).await?;
    Ok((StatusCode::CREATED, etag_header(account.user.version), Json(account.into())))
}

/// Reads one service account.
#[utoipa::path(get, path = "/api/v1/service-accounts/{account_id}", tag = "service-accounts",
    params(("account_id" = String, Path, description = "Service account id")),
    security(("bearer" = [])),
    responses((status = 200, body = ServiceAccountView, headers(("ETag" = String, description = "Version, for If-Match"))),
        (status = 401, description = "Unauthenticated"), (status = 403, description = "Not a system administrator"),
        (status = 404, description = "No such service account")))]
async fn get_account(
    State(state): State<AppState>,
    _principal: Principal,
    ids: Ids,
) -> Result<(HeaderMap, Json<ServiceAccountView>), ApiError> {
    let id: UserId = ids.get("account_id", "service account")?;
    let mut conn = state.store.read().await?;
    let account = service_accounts::get(&mut conn, id).await.map_err(or_404("service account"))?;
    Ok((etag_header(account.user.version), Json(account.into())))
}

/// Changes a service account's description or roles. Needs `If-Match`. A
/// role change is recorded as `user.roles_changed` with the old and new
/// roles, like a person's; the keys stay valid (they carry no roles).
#[utoipa::path(patch, path = "/api/v1/service-accounts/{account_id}", tag = "service-accounts",
    request_body = UpdateServiceAccount,
    params(("account_id" = String, Path, description = "Service account id"),
        ("If-Match" = String, Header, description = "ETag from the last read")),
    security(("bearer" = [])),
    responses((status = 200, body = ServiceAccountView, headers(("ETag" = String, description = "Version, for If-Match"))),
        (status = 400, description = "Malformed request"), (status = 401, description = "Unauthenticated"),
        (status = 403, description = "Not a system administrator"), (status = 404, description = "No such service account"),
        (status = 412, description = "Changed since read"), (status = 422, description = "Invalid values, or system_admin"),
        (status = 428, description = "If-Match missing")))]
async fn update_account(
    State(state): State<AppState>,
    _principal: Principal,
    audit: Audit,
    ids: Ids,
    if_match: IfMatch,
    ValidJson(body): ValidJson<UpdateServiceAccount>,
) -> Result<(HeaderMap, Json<ServiceAccountView>), ApiError> {
    let id: UserId = ids.get("account_id", "service account")?;
    let mut e = ValidationErrors::new();
    let description = body.description.as_deref().map(|d| e.check("description", Note::parse(d)));
    let roles = body.roles.as_deref().map(|r| parse_roles(&mut e, "roles", r, true));
    finish(e)?;
    let by = changed_by(&state, &audit);
    let mut uow = state.store.begin().await?;
    let (account, _) =
        accounts::update(&mut uow, id, description.flatten(), roles.flatten(), if_match.0, &by, state.now())
            .await
            .map_err(|e| admin_error(e, "roles", "service account"))?;
    audit.0.resource("service_account", id);
    audit.commit(&state, uow, StatusCode::OK, Vec::new()).await?;
    Ok((etag_header(account.user.version), Json(account.into())))
}

/// Disables a service account and revokes all its keys
/// (`service_account.disabled`). It stays listed, disabled; its keys answer
/// 401 from now on.
#[utoipa::path(delete, path = "/api/v1/service-accounts/{account_id}", tag = "service-accounts",
    params(("account_id" = String, Path, description = "Service account id"),
        ("If-Match" = Option<String>, Header, description = "ETag from the last read")),
    security(("bearer" = [])),
    responses((status = 204, description = "Disabled, every key revoked"), (status = 401, description = "Unauthenticated"),
        (status = 403, description = "Not a system administrator"), (status = 404, description = "No such service account"),
        (status = 412, description = "Changed since read")))]
async fn disable_account(
    State(state): State<AppState>,
    _principal: Principal,
    audit: Audit,
    ids: Ids,
    OptionalIfMatch(version): OptionalIfMatch,
) -> Result<StatusCode, ApiError> {
    let id: UserId = ids.get("account_id", "service account")?;
    let by = changed_by(&state, &audit);
    let mut uow = state.store.begin().await?;
    accounts::disable(&mut uow, id, version, &by, state.now())
        .await
        .map_err(|e| admin_error(e, "roles", "service account"))?;
    audit.0.resource("service_account", id);
    audit.commit(&state, uow, StatusCode::NO_CONTENT, Vec::new()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists a service account's keys (metadata only: never a secret or hash).
#[utoipa::path(get, path = "/api/v1/service-accounts/{account_id}/keys", tag = "service-accounts",
    params(("account_id" = String, Path, description = "Service account id")),
    security(("bearer" = [])),
    responses((status = 200, body = KeyListView), (status = 401, description = "Unauthenticated"),
        (status = 403, description = "Not a system administrator"), (status = 404, description = "No such service account")))]
async fn list_keys(
    State(state): State<AppState>,
    _principal: Principal,
    ids: Ids,
) -> Result<Json<KeyListView>, ApiError> {
    let id: UserId = ids.get("account_id", "service account")?;
    let mut conn = state.store.read().await?;
    service_accounts::get(&mut conn, id).await.map_err(or_404("service account"))?;
    let keys = tokens::list_for_user(&mut conn, id).await?;
    Ok(Json(KeyListView { items: keys.into_iter().map(KeyView::from).collect() }))
}

/// Issues a key for an active service account: the secret is in this
/// answer only (`service_account.key_created`, without the secret).
#[utoipa::path(post, path = "/api/v1/service-accounts/{account_id}/keys", tag = "service-accounts",
    request_body = CreateKey,
    params(("account_id" = String, Path, description = "Service account id")),
    security(("bearer" = [])),
    responses((status = 201, body = NewKeyView), (status = 400, description = "Malformed request"),
        (status = 401, description = "Unauthenticated"), (status = 403, description = "Not a system administrator"),
        (status = 404, description = "No such service account"), (status = 409, description = "The account is disabled"),
        (status = 422, description = "Invalid values")))]
async fn create_key(
    State(state): State<AppState>,
    _principal: Principal,
    audit: Audit,
    ids: Ids,
    ValidJson(body): ValidJson<CreateKey>,
) -> Result<(StatusCode, Json<NewKeyView>), ApiError> {
    let id: UserId = ids.get("account_id", "service account")?;
    let mut e = ValidationErrors::new();
    let name = e.check("name", DisplayName::parse(&body.name));
    let days = body.expires_in_days.map_or(DEFAULT_KEY_DAYS, |d| d.0);
    if !(1..=MAX_KEY_DAYS).contains(&days) {
        e.push(FieldError::new("expires_in_days", "out_of_range", format!("must be from 1 to {MAX_KEY_DAYS}")));
    }
    let Some(name) = name else { return Err(e.into()) };
    finish(e)?;
    let by = changed_by(&state, &audit);
    let mut uow = state.store.begin().await?;
    let issued = accounts::create_key(&mut uow, id, &name, days, &by, state.now())
        .await
        .map_err(|e| admin_error(e, "expires_in_days", "service account"))?;
    audit.0.resource("service_account", id);
    audit.commit(&state, uow, StatusCode::CREATED, Vec::new()).await?;
    let secret = issued.secret.expose_secret().to_owned();
    Ok((StatusCode::CREATED, Json(NewKeyView { key: issued.key.into(), secret })))
}

/// Revokes a key (`service_account.key_revoked`): it answers 401 from now on.
#[utoipa::path(delete, path = "/api/v1/service-accounts/{account_id}/keys/{key_id}", tag = "service-accounts",
    params(("account_id" = String, Path, description = "Service account id"),
        ("key_id" = String, Path, description = "Key id")),
    security(("bearer" = [])),
    responses((status = 204, description = "Revoked"), (status = 401, description = "Unauthenticated"),
        (status = 403, description = "Not a system administrator"),
        (status = 404, description = "No such service account, or no such key not yet revoked")))]
async fn revoke_key(
    State(state): State<AppState>,
    _principal: Principal,
    audit: Audit,
    ids: Ids,
) -> Result<StatusCode, ApiError> {
    let id: UserId = ids.get("account_id", "service account")?;
    let key: KeyId = ids.get("key_id", "key")?;
    let by = changed_by(&state, &audit);
    let mut uow = state.store.begin().await?;
    accounts::revoke_key(&mut uow, id, key, &by, state.now())
        .await
        .map_err(|e| admin_error(e, "key_id", "service account"))?;
    audit.0.resource("service_account", id);
    audit.commit(&state, uow, StatusCode::NO_CONTENT, Vec::new()).await?;
    Ok(StatusCode::NO_CONTENT)
}
