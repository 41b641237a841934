//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, RefOr, Required, ResponseBuilder};

/// What a strong ETag of ours looks like in `If-Match`: a record version.
const ETAG_PATTERN: &str = r#"^"[1-9][0-9]{0,17}"$"#;

/// Adds the document's title, version and security scheme.
pub fn finish(mut api: OpenApi) -> OpenApi {
    api.info.title = "AutoPMO API".to_owned();
    api.info.version = env!("CARGO_PKG_VERSION").to_owned();
    api.info.description = Some(
        "Projects, members, tasks and costs. Errors are RFC 9457 problem documents \
         (application/problem+json). Updates need If-Match with the ETag of a read."
            .to_owned(),
    );
    // OpenAPI requires a description on every response; name the status
    // where an annotation gave none.
    for item in api.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for op in operations.into_iter().flatten() {
            document_edge_responses(op);
            for (status, response) in op.responses.responses.iter_mut() {
                if let utoipa::openapi::RefOr::T(r) = response
                    && r.description.is_empty()
                {
                    r.description = status
                        .parse::<u16>()
                        .ok()
                        .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                        .and_then(|s| s.canonical_reason())
                        .unwrap_or("Response")
                        .to_owned();
                }
            }
        }
    }
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("opaque").build()),
    );
    api
}

/// Documents the answers that the shared extractors and layers give before a
/// handler runs, so that no operation answers a status its entry does not
/// list: a JSON body can be malformed (400), too large (413), not JSON
/// (415) or hold values a validator refuses (422); query parameters can be unknown or out of range (400) or name a
/// value that does not exist (422); `If-Match` can be no ETag of ours (400),
/// stale (412) or, where required, missing (428), and its schema says what an
/// ETag looks like; a protected operation can refuse the caller (401, 403).
fn document_edge_responses(op: &mut Operation) {
    let mut statuses: Vec<(u16, &str)> = Vec::new();
    if op.request_body.is_some() {
        statuses.extend([
            (400, "Malformed JSON, or a body of the wrong shape"),
            (413, "Body too large"),
            (415, "Body not sent as application/json"),
            (422, "Invalid values"),
        ]);
    }
    let mut if_match = None;
    let mut query = false;
    for param in op.parameters.iter_mut().flatten() {
        let RefOr::T(param) = param else { continue };
        match param.parameter_in {
            ParameterIn::Query => query = true,
            ParameterIn::Header if param.name.eq_ignore_ascii_case("if-match") => {
                param.schema = Some(RefOr::T(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some(ETAG_PATTERN))
                        .description(Some("The ETag of the last read, e.g. \"3\""))
                        .into(),
                ));
                if_match = Some(matches!(param.required, Required::True));
            }
            _ => {}
        }
    }
    if query {
        statuses.extend([(400, "Unknown or malformed query parameters"), (422, "Invalid filter values")]);
    }
    if let Some(required) = if_match {
        statuses.extend([(400, "If-Match is not an ETag of this API"), (412, "Changed since read")]);
        if required {
            statuses.push((428, "If-Match missing"));
        }
    }
    if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
        statuses.extend([(401, "Unauthenticated"), (403, "Forbidden")]);
    }
    for (status, description) in statuses {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(ResponseBuilder::new().description(description).build()));
    }
}

/// Serves the prepared JSON.
pub async fn serve(json: Arc<String>) -> Response {
    let mut response = json.as_str().to_owned().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
