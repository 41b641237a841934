//! Cost entries: money spent on a project, in the project's currency.

use super::{ensure_project, finish, or_404};
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
use crate::views::{CostView, DecimalText, PageView, not_null};
use autopmo_domain::{
    Amount, CostCategory, CostEntry, CostEntryId, Currency, FieldError, Note, ProjectId, ValidationErrors,
};
use autopmo_store::costs::{self, CostFilter, CostSort};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_costs, create_cost)).routes(routes!(get_cost, update_cost, delete_cost))
}

/// What each route needs (see `crate::authz`).
pub(crate) const RULES: &[RouteRule] = &[
    rule("POST", "/api/v1/projects/{project_id}/costs", Rule::Guarded("projects:update", TargetRef::Project)),
    rule("GET", "/api/v1/projects/{project_id}/costs", Rule::Guarded("projects:read", TargetRef::Project)),
    rule("GET", "/api/v1/projects/{project_id}/costs/{cost_id}", Rule::Guarded("projects:read", TargetRef::Project)),
    rule(
        "PATCH",
        "/api/v1/projects/{project_id}/costs/{cost_id}",
        Rule::Guarded("projects:update", TargetRef::Project),
    ),
    rule(
        "DELETE",
        "/api/v1/projects/{project_id}/costs/{cost_id}",
        Rule::Guarded("projects:update", TargetRef::Project),
    ),
];

/// A new cost entry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCost {
    /// YYYY-MM-DD.
    #[schema(format = Date)]
    entry_date: String,
    /// Decimal string in the project's currency, greater than zero.
    #[schema(value_type = String, example = "1250.00")]
    amount: DecimalText,
    /// `labor`, `materials`, `equipment`, `services`, `software`, `travel` or `other`.
    #[schema(value_type = schema::CostCategory)]
    category: String,
    /// Up to 1,000 characters.
    #[serde(default)]
    #[schema(max_length = 1_000)]
    note: String,
}

/// Changes to a cost entry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCost {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, format = Date)]
    entry_date: Option<String>,
    #[schema(value_type = Option<String>, nullable = false)]
    #[serde(default, deserialize_with = "not_null")]
    amount: Option<DecimalText>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = Option<schema::CostCategory>, nullable = false)]
    category: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, max_length = 1_000)]
    note: Option<String>,
}

/// List parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CostQuery {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    cursor: Option<String>,
    /// `created_at` or `entry_date`; `-` prefix for descending.
    #[param(pattern = r"^-?(created_at|entry_date)$")]
    sort: Option<String>,
    /// Only this category.
    #[param(value_type = Option<schema::CostCategory>, inline)]
    category: Option<String>,
}

fn amount(e: &mut ValidationErrors, raw: &DecimalText, currency: Currency) -> Option<Amount> {
    let parsed = Amount::parse(&raw.0, currency).and_then(|a| {
        if a.minor() > 0 { Ok(a) } else { Err(FieldError::new("amount", "not_positive", "must be greater than zero")) }
    });
    e.check("amount", parsed)
}

/// Records a cost.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/costs", tag = "costs", request_body = CreateCost,
    params(("project_id" = String, Path)), security(("bearer" = [])),
    responses((status = 201, body = CostView), (status = 401, description = "Unauthenticated"), (status = 404, description = "No such project"),
        (status = 422, description = "Invalid values")))]
async fn create_cost(
    State(state): State<AppState>,
    _principal: Principal,
    audit: Audit,
    ids: Ids,
    ValidJson(body): ValidJson<CreateCost>,
) -> Result<(StatusCode, HeaderMap, Json<CostView>), ApiError> {
    let project_id: ProjectId = ids.get("project_id", "project")?;
    let mut uow = state.store.begin().await?;
    let project = ensure_project(uow.conn(), project_id).await?;
    let currency = project.budget.currency;
    let mut e = ValidationErrors::new();
    let entry_date = e.check("entry_date", autopmo_domain::work::parse_date(&body.entry_date));
    let amount = amount(&mut e, &body.amount, currency);
    let category = e.check("category", CostCategory::parse(&body.category));
    let note = e.check("note", Note::parse(&body.note));
    let (Some(entry_date), Some(amount), Some(category), Some(note)) = (entry_date, amount, category, note) else {
        return Err(e.into());
    };
    let now = state.now();
    let entry = CostEntry {
        id: CostEntryId::new(),
        project_id,
        entry_date,
        amount,
        category,
        note,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    costs::insert(uow.conn(), &entry).await?;
    audit.commit(&state, uow, StatusCode::CREATED, vec![audit.event(&state, "cost.created", "create", "cost_entry", entry.id, None).with_metadata(&serde_json::json!({"project_id": project_id.to_string(), "amount": entry.amount.to_string_in(currency), "currency": currency.code(), "category": entry.category.as_str()}))]).await?;
    Ok((StatusCode::CREATED, etag_header(entry.version), Json(CostView::new(entry, currency))))
}

/// Lists a project's costs.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/costs", tag = "costs", params(("project_id" = String, Path), CostQuery),
    security(("bearer" = [])),
    responses((status = 200, body = PageView<CostView>), (status = 401, description = "Unauthenticated"), (status = 404, description = "No such project")))]
async fn list_costs(
    State(state): State<AppState>,
    _principal: Principal,
    ids: Ids,
    ValidQuery(q): ValidQuery<CostQuery>,
) -> Result<Json<PageView<CostView>>, ApiError> {
    let project_id: ProjectId = ids.get("project_id", "project")?;
    let params = list_params(
        q.limit,
        q.cursor.as_deref(),
        q.sort.as_deref(),
        &[CostSort::CreatedAt, CostSort::EntryDate],
        CostSort::CreatedAt,
    )?;
    let mut e = ValidationErrors::new();
    let category = q.category.as_deref().map(|c| e.check("category", CostCategory::parse(c)));
    finish(e)?;
    let mut conn = state.store.read().await?;
    let project = ensure_project(&mut conn, project_id).await?;
    let page = costs::list(&mut conn, project_id, &CostFilter { category: category.flatten() }, &params).await?;
    Ok(Json(PageView::from_page(page, |c| CostView::new(c, project.budget.currency))))
}

/// Reads a cost entry.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/costs/{cost_id}", tag = "costs",
    params(("project_id" = String, Path), ("cost_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CostView), (status = 401, description = "Unauthenticated"), (status = 404, description = "No such cost entry")))]
async fn get_cost(
    State(state): State<AppState>,
    _principal: Principal,
    ids: Ids,
) -> Result<(HeaderMap, Json<CostView>), ApiError> {
    let project_id: ProjectId = ids.get("project_id", "project")?;
    let id: CostEntryId = ids.get("cost_id", "cost entry")?;
    let mut conn = state.store.read().await?;
    let project = ensure_project(&mut conn, project_id).await?;
    let entry = costs::get(&mut conn, project_id, id).await.map_err(or_404("cost entry"))?;
    Ok((etag_header(entry.version), Json(CostView::new(entry, project.budget.currency))))
}

/// Updates a cost entry. Needs `If-Match`.
#[utoipa::path(patch, path = "/api/v1/projects/{project_id}/costs/{cost_id}", tag = "costs", request_body = UpdateCost,
    params(("project_id" = String, Path), ("cost_id" = String, Path), ("If-Match" = String, Header)), security(("bearer" = [])),
    responses((status = 200, body = CostView), (status = 401, description = "Unauthenticated"), (status = 404, description = "No such cost entry"),
        (status = 412, description = "Changed since read"), (status = 422, description = "Invalid values"), (status = 428, description = "If-Match missing")))]
async fn update_cost(
    State(state): State<AppState>,
    _principal: Principal,
    audit: Audit,
    ids: Ids,
    if_match: IfMatch,
    ValidJson(body): ValidJson<UpdateCost>,
) -> Result<(HeaderMap, Json<CostView>), ApiError> {
    let project_id: ProjectId = ids.get("project_id", "project")?;
    let id: CostEntryId = ids.get("cost_id", "cost entry")?;
    let mut uow = state.store.begin().await?;
    let project = ensure_project(uow.conn(), project_id).await?;
    let mut c = costs::get(uow.conn(), project_id, id).await.map_err(or_404("cost entry"))?;
    if_match.check(c.version)?;
    let mut e = ValidationErrors::new();
    if let Some(raw) = &body.entry_date {
        c.entry_date = e.check("entry_date", autopmo_domain::work::parse_date(raw)).unwrap_or(c.entry_date);
    }
    if let Some(raw) = &body.amount {
        c.amount = amount(&mut e, raw, project.budget.currency).unwrap_or(c.amount);
    }
    if let Some(raw) = &body.category {
        c.category = e.check("category", CostCategory::parse(raw)).unwrap_or(c.category);
    }
    if let Some(raw) = &body.note {
        c.note = e.check("note", Note::parse(raw)).unwrap_or(c.note);
    }
    finish(e)?;
    c.updated_at = state.now();
    let saved = costs::update(uow.conn(), &c, if_match.0).await.map_err(or_404("cost entry"))?;
    audit.commit(&state, uow, StatusCode::OK, vec![audit.event(&state, "cost.updated", "update", "cost_entry", saved.id, None).with_metadata(&serde_json::json!({"project_id": project_id.to_string(), "amount": saved.amount.to_string_in(project.budget.currency), "version": saved.version}))]).await?;
    Ok((etag_header(saved.version), Json(CostView::new(saved, project.budget.currency))))
}

/// Deletes a cost entry. `If-Match` is optional.
#[utoipa::path(delete, path = "/api/v1/projects/{project_id}/costs/{cost_id}", tag = "costs",
    params(("project_id" = String, Path), ("cost_id" = String, Path), ("If-Match" = Option<String>, Header)), security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, description = "Unauthenticated"), (status = 404, description = "No such cost entry"),
        (status = 412, description = "Changed since read")))]
async fn delete_cost(
    State(state): State<AppState>,
    _principal: Principal,
    audit: Audit,
    ids: Ids,
    OptionalIfMatch(version): OptionalIfMatch,
) -> Result<StatusCode, ApiError> {
    let project_id: ProjectId = ids.get("project_id", "project")?;
    let id: CostEntryId = ids.get("cost_id", "cost entry")?;
    let mut uow = state.store.begin().await?;
    ensure_project(uow.conn(), project_id).await?;
    costs::delete(uow.conn(), project_id, id, version).await.map_err(or_404("cost entry"))?;
    audit
        .commit(
            &state,
            uow,
            StatusCode::NO_CONTENT,
            vec![
                audit
                    .event(&state, "cost.deleted", "delete", "cost_entry", id, None)
                    .with_metadata(&serde_json::json!({"project_id": project_id.to_string()})),
            ],
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
