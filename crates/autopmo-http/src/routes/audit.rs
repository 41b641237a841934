//! Reading the audit trail (`audit:read`: system administrators and
//! auditors, guide §3.1): filtered pages as JSON, or the whole selection
//! streamed as JSON Lines or CSV in bounded memory. Every read is itself
//! recorded, and an export also as a bulk export event.

use super::finish;
use crate::audit::Audit;
use crate::authz::rules::{RouteRule, Rule, TargetRef, rule};
use crate::extract::query::{ValidQuery, page_size};
use crate::problem::ApiError;
use crate::schema;
use crate::state::AppState;
use autopmo_audit::{Category, Outcome};
use autopmo_domain::{FieldError, ValidationErrors};
use autopmo_store::audit::{self, AuditFilter};
use autopmo_trail::EventView;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Rows fetched per page of an export.
const EXPORT_PAGE: i64 = 500;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events)).routes(routes!(list_alerts))
}

/// What each route needs (see `crate::authz`).
pub(crate) const RULES: &[RouteRule] = &[
    rule("GET", "/api/v1/audit/events", Rule::Guarded("audit:read", TargetRef::Type("audit"))),
    rule("GET", "/api/v1/security/alerts", Rule::Guarded("audit:read", TargetRef::Type("audit"))),
];

/// Filters and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// At or after this time (RFC 3339).
    #[param(format = DateTime)]
    from: Option<String>,
    /// Before this time (RFC 3339).
    #[param(format = DateTime)]
    to: Option<String>,
    /// Actor's user id.
    actor: Option<String>,
    /// Exact event type, e.g. `project.created`.
    event_type: Option<String>,
    /// Resource type, e.g. `project`.
    resource_type: Option<String>,
    /// Resource id.
    resource_id: Option<String>,
    /// `success`, `failure` or `denied`.
    #[param(value_type = Option<schema::AuditOutcome>, inline)]
    status: Option<String>,
    /// `authentication`, `authorization`, `data_access`, `administrative` or `system`.
    #[param(value_type = Option<schema::AuditCategory>, inline)]
    category: Option<String>,
    /// Page size, 1–200 (default 50); ignored by exports.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    cursor: Option<String>,
    /// `json` (default, one page), `jsonl` or `csv` (everything selected, streamed).
    #[param(pattern = r"^(json|jsonl|csv)$")]
    format: Option<String>,
}

/// A page of events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Events with personal data opened (`[erased]` where the person was erased).
    #[schema(value_type = Vec<Object>)]
    items: Vec<EventView>,
    /// Pass as `cursor` for older events; `null` on the last page.
    next_cursor: Option<String>,
}

fn time_param(e: &mut ValidationErrors, field: &str, raw: Option<&str>) -> Option<OffsetDateTime> {
    raw.and_then(|r| {
        e.check(
            field,
            OffsetDateTime::parse(r, &Rfc3339).map_err(|_| {
                FieldError::new(field, "invalid_time", "must be an RFC 3339 time like 2026-12-04T09:00:00Z")
            }),
        )
    })
}

fn filter_of(q: &AuditQuery) -> Result<AuditFilter, ApiError> {
    let mut e = ValidationErrors::new();
    let from = time_param(&mut e, "from", q.from.as_deref());
    let to = time_param(&mut e, "to", q.to.as_deref());
    let status = q.status.as_deref().and_then(|s| {
        e.check(
            "status",
            Outcome::parse(s)
                .ok_or_else(|| FieldError::new("status", "invalid_value", "must be success, failure or denied")),
        )
    });
    let category = q.category.as_deref().and_then(|c| {
        e.check(
            "category",
            Category::parse(c).ok_or_else(|| {
                FieldError::new(
                    "category",
                    "invalid_value",
                    "must be authentication, authorization, data_access, administrative or system",
                )
            }),
        )
    });
    finish(e)?;
    Ok(AuditFilter {
        from,
        to,
        actor_user_id: q.actor.clone(),
        event_type: q.event_type.clone(),
        resource_type: q.resource_type.clone(),
        resource_id: q.resource_id.clone(),
        status,
        category,
    })
}

fn encode_cursor(sequence: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("seq:{sequence}"))
}

fn decode_cursor(raw: &str) -> Result<i64, ApiError> {
    URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("seq:").and_then(|n| n.parse().ok()))
        .ok_or(ApiError::BadRequest {
            kind: "invalid_cursor",
            detail: "cursor is not one this server issued".to_owned(),
        })
}

async fn open_all(state: &AppState, records: Vec<autopmo_audit::AuditRecord>) -> Result<Vec<EventView>, ApiError> {
    let mut views = Vec::with_capacity(records.len());
    for record in records {
        views.push(
            EventView::open(record, state.trail.sealer()).await.map_err(|e| ApiError::Unavailable(e.to_string()))?,
        );
    }
    Ok(views)
}

/// Lists or exports audit events.
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit", params(AuditQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "Events: a JSON page, or with `format` a JSON Lines or CSV export",
            content((AuditPage = "application/json"), (String = "application/jsonl"), (String = "text/csv"))),
        (status = 400, description = "Invalid parameters"), (status = 401, description = "Unauthenticated"),
        (status = 403, description = "Not a system administrator or auditor")))]
async fn list_events(
    State(state): State<AppState>,
    _granted: crate::authz::Granted,
    audit: Audit,
    ValidQuery(q): ValidQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    let filter = filter_of(&q)?;
    let before = q.cursor.as_deref().map(decode_cursor).transpose()?;
    // Checked for exports too, which ignore it: a value the document
    // refuses is refused whatever the format.
    let limit = page_size(q.limit)?;
    match q.format.as_deref().unwrap_or("json") {
        "json" => {
            let mut conn = state.store.read().await?;
            let mut records = audit::list(&mut conn, &filter, before, i64::from(limit) + 1).await?;
            drop(conn);
            let more = records.len() > limit as usize;
            records.truncate(limit as usize);
            let next_cursor = if more { records.last().map(|r| encode_cursor(r.sequence)) } else { None };
            let items = open_all(&state, records).await?;
            Ok(Json(AuditPage { items, next_cursor }).into_response())
        }
        format @ ("jsonl" | "csv") => {
            let event = audit
                .0
                .event(&state, "audit_log.exported", "export")
                .with_resource("audit_log", None, None)
                .with_metadata(&serde_json::json!({"format": format, "filters": query_echo(&q)}));
            let alert = autopmo_trail::monitor::alert(
                "bulk_export",
                "medium",
                &format!("the audit log is being exported as {format}"),
                state.now(),
                event.actor.clone(),
            );
            state.trail.record(event).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
            state.trail.record(alert).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
            Ok(export(state, filter, before, format == "csv"))
        }
        _ => {
            Err(ApiError::BadRequest { kind: "invalid_query", detail: "format must be json, jsonl or csv".to_owned() })
        }
    }
}

/// Paging of alerts.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    cursor: Option<String>,
}

/// Lists security alerts (`security.alert` events), newest first.
#[utoipa::path(get, path = "/api/v1/security/alerts", tag = "audit", params(AlertQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "Alerts", body = AuditPage),
        (status = 401, description = "Unauthenticated"),
        (status = 403, description = "Not a system administrator or auditor")))]
async fn list_alerts(
    State(state): State<AppState>,
    _granted: crate::authz::Granted,
    ValidQuery(q): ValidQuery<AlertQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = page_size(q.limit)?;
    let before = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let filter = AuditFilter { event_type: Some(autopmo_trail::monitor::ALERT.to_owned()), ..AuditFilter::default() };
    let mut conn = state.store.read().await?;
    let mut records = audit::list(&mut conn, &filter, before, i64::from(limit) + 1).await?;
    drop(conn);
    let more = records.len() > limit as usize;
    records.truncate(limit as usize);
    let next_cursor = if more { records.last().map(|r| encode_cursor(r.sequence)) } else { None };
    Ok(Json(AuditPage { items: open_all(&state, records).await?, next_cursor }))
}

fn query_echo(q: &AuditQuery) -> serde_json::Value {
    serde_json::json!({
        "from": q.from, "to": q.to, "actor": q.actor, "event_type": q.event_type,
        "resource_type": q.resource_type, "resource_id": q.resource_id, "status": q.status, "category": q.category,
    })
}

const CSV_HEADER: &str = "sequence,event_id,timestamp,event_type,category,actor_user_id,actor_username,actor_ip_address,\
resource_type,resource_id,resource_name,action,status,request_id,hash\n";

/// A CSV field: quoted when needed, and defused when a spreadsheet would
/// take it for a formula.
fn csv_field(value: &str) -> String {
    let defused =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_owned() };
    if defused.contains([',', '"', '\n', '\r']) { format!("\"{}\"", defused.replace('"', "\"\"")) } else { defused }
}

fn csv_line(v: &EventView) -> String {
    let o = |x: &Option<String>| x.clone().unwrap_or_default();
    let resource = v.resource.as_ref();
    let fields = [
        v.sequence.to_string(),
        v.event_id.clone(),
        v.timestamp.clone(),
        v.event_type.clone(),
        v.category.to_owned(),
        o(&v.actor.user_id),
        o(&v.actor.username),
        o(&v.actor.ip_address),
        resource.map(|r| r.kind.clone()).unwrap_or_default(),
        resource.and_then(|r| r.id.clone()).unwrap_or_default(),
        resource.and_then(|r| r.name.clone()).unwrap_or_default(),
        v.action.clone(),
        v.status.to_owned(),
        o(&v.request_id),
        v.hash.clone(),
    ];
    let mut line = fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",");
    line.push('\n');
    line
}

/// Streams every selected event, a page at a time, newest first.
fn export(state: AppState, filter: AuditFilter, before: Option<i64>, csv: bool) -> Response {
    struct Cursor {
        state: AppState,
        filter: AuditFilter,
        before: Option<i64>,
        header_sent: bool,
        done: bool,
    }
    let start = Cursor { state, filter, before, header_sent: !csv, done: false };
    let stream = futures_util::stream::unfold(start, move |mut c| async move {
        if c.done {
            return None;
        }
        let mut out = String::new();
        if !c.header_sent {
            out.push_str(CSV_HEADER);
            c.header_sent = true;
        }
        let page = async {
            let mut conn = c.state.store.read().await?;
            let records = audit::list(&mut conn, &c.filter, c.before, EXPORT_PAGE).await?;
            drop(conn);
            open_all(&c.state, records).await
        };
        match page.await {
            Ok(views) => {
                c.done = views.len() < EXPORT_PAGE as usize;
                c.before = views.last().map(|v| v.sequence).or(c.before);
                for v in &views {
                    if csv {
                        out.push_str(&csv_line(v));
                    } else {
                        out.push_str(&serde_json::to_string(v).unwrap_or_default());
                        out.push('\n');
                    }
                }
                Some((Ok::<Bytes, std::io::Error>(Bytes::from(out)), c))
            }
            Err(e) => {
                // The status line is gone; cut the stream so the client sees an incomplete transfer.
                tracing::error!(error = %e, "audit export failed part-way");
                c.done = true;
                Some((Err(std::io::Error::other("audit export failed")), c))
            }
        }
    });
    let mut response = Body::from_stream(stream).into_response();
    let (mime, name) =
        if csv { ("text/csv; charset=utf-8", "audit-events.csv") } else { ("application/jsonl", "audit-events.jsonl") };
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
    }

    #[test]
    fn cursors_round_trip() {
        assert_eq!(decode_cursor(&encode_cursor(42)).unwrap(), 42);
        assert!(decode_cursor("garbage").is_err());
    }
}
