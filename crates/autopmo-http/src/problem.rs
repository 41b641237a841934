//! Every error the API returns, as RFC 9457 `application/problem+json`.
//!
//! This is the only place where errors become responses. Each kind has a
//! stable `type` URI (`urn:autopmo:problem:<slug>`) that clients can match
//! on; `title` is fixed per type, `detail` explains this occurrence. A 500
//! logs the whole cause chain and returns only an opaque error id.

use autopmo_domain::ValidationErrors;
use autopmo_store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An API error.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (syntax, parameters, headers).
    #[error("{detail}")]
    BadRequest {
        /// Stable slug.
        kind: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The body is not JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The body is larger than allowed.
    #[error("payload too large")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The values are well-formed but invalid.
    #[error(transparent)]
    Validation(#[from] ValidationErrors),
    /// A rule of the domain refuses the change (e.g. a dependency cycle).
    #[error("{0}")]
    Rule(String),
    /// An outside service AutoPMO relies on (the SMS gateway) failed; the
    /// detail says which and what to do instead.
    #[error("{0}")]
    GatewayUnavailable(String),
    /// A privileged operation needs a recent second factor (guide §2.2).
    #[error("step-up required")]
    StepUpRequired(String),
    /// A policy or matrix file does not load (its errors, one per line).
    #[error("{0}")]
    InvalidPolicies(String),
    /// No (valid) credentials.
    #[error("unauthenticated")]
    Unauthenticated,
    /// A login refused: unknown user, wrong password, locked or disabled
    /// account — one answer for all.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many attempts; retry after this many seconds.
    #[error("too many requests")]
    TooManyRequests {
        /// Seconds.
        retry_after: i64,
    },
    /// Plain HTTP from a public address (`sslRequired`).
    #[error("https required")]
    HttpsRequired,
    /// Authenticated, but not allowed.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A request authenticated by the session cookie failed the CSRF rule
    /// (`X-Requested-With: autopmo`, same `Origin`).
    #[error("csrf rejected: {0}")]
    CsrfRejected(String),
    /// The resource does not exist (or is not visible).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The change conflicts with the current state (e.g. duplicate).
    #[error("{0}")]
    Conflict(String),
    /// The `If-Match` version is not the current one.
    #[error("precondition failed")]
    PreconditionFailed {
        /// The version now stored.
        current: i64,
    },
    /// An update came without `If-Match`.
    #[error("precondition required")]
    PreconditionRequired,
    /// The database cannot serve the request now.
    #[error("service unavailable")]
    Unavailable(String),
    /// Too much work of one kind (password hashing) right now: answered
    /// 503 like [`Unavailable`](Self::Unavailable), with a shorter
    /// `Retry-After`, and logged at debug level only — a flood of these is
    /// on record in the audit trail, and must not flood the log too.
    #[error("overloaded")]
    Overloaded(&'static str),
    /// A bug or an unexpected failure.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[derive(Debug, Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [autopmo_domain::FieldError]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_etag: Option<String>,
}

/// The problem document for a bare status (404 routes, 405, 408, 413 …).
pub fn for_status(status: StatusCode) -> Response {
    let (slug, title) = match status {
        StatusCode::NOT_FOUND => ("not_found", "Not found"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "Method not allowed"),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "Request timeout"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "Payload too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "Unsupported media type"),
        StatusCode::TOO_MANY_REQUESTS => ("too_many_requests", "Too many requests"),
        StatusCode::SERVICE_UNAVAILABLE => ("unavailable", "Service unavailable"),
        s if s.is_server_error() => ("internal", "Internal server error"),
        _ => ("bad_request", "Bad request"),
    };
    let detail = status.canonical_reason().unwrap_or("error").to_owned();
    render(status, slug, title, detail, None, None, None)
}

/// Fallback for paths that match no route.
pub async fn not_found_fallback() -> Response {
    ApiError::NotFound("resource").into_response()
}

/// A 503 problem with `detail`, asking to retry after `retry_after` seconds.
fn unavailable(detail: String, retry_after: &'static str) -> Response {
    let mut response =
        render(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable", detail, None, None, None);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(retry_after));
    response
}

fn render(
    status: StatusCode,
    slug: &str,
    title: &str,
    detail: String,
    errors: Option<&[autopmo_domain::FieldError]>,
    error_id: Option<String>,
    current_etag: Option<String>,
) -> Response {
    let problem = Problem {
        kind: format!("urn:autopmo:problem:{slug}"),
        title,
        status: status.as_u16(),
        detail,
        errors,
        error_id,
        current_etag,
    };
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        use StatusCode as S;
        match self {
            Self::BadRequest { kind, detail } => render(S::BAD_REQUEST, kind, "Bad request", detail, None, None, None),
            Self::UnsupportedMediaType => render(
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
                "the body must be JSON, sent with Content-Type: application/json".to_owned(),
                None,
                None,
                None,
            ),
            Self::PayloadTooLarge { limit } => render(
                S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
                format!("the body must be at most {limit} bytes"),
                None,
                None,
                None,
            ),
            Self::Validation(errors) => render(
                S::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid input",
                errors.to_string(),
                Some(&errors.errors),
                None,
                None,
            ),
            Self::GatewayUnavailable(detail) => {
                render(S::SERVICE_UNAVAILABLE, "gateway_unavailable", "Gateway unavailable", detail, None, None, None)
            }
            Self::StepUpRequired(detail) => {
                render(S::FORBIDDEN, "step_up_required", "A recent second factor is required", detail, None, None, None)
            }
            Self::InvalidPolicies(detail) => render(
                S::UNPROCESSABLE_ENTITY,
                "invalid_policies",
                "Invalid policies; nothing changed",
                detail,
                None,
                None,
                None,
            ),
            Self::Rule(detail) => {
                render(S::UNPROCESSABLE_ENTITY, "rule_violation", "Refused by a rule", detail, None, None, None)
            }
            Self::Unauthenticated => {
                let mut response = render(
                    S::UNAUTHORIZED,
                    "unauthenticated",
                    "Unauthenticated",
                    "valid credentials are required".to_owned(),
                    None,
                    None,
                    None,
                );
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            Self::InvalidCredentials => render(
                S::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid credentials",
                "invalid username or password".to_owned(),
                None,
                None,
                None,
            ),
            Self::TooManyRequests { retry_after } => {
                let mut response = render(
                    S::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    "Too many requests",
                    format!("too many failed attempts from this address; retry in {retry_after} s"),
                    None,
                    None,
                    None,
                );
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
                response
            }
            Self::HttpsRequired => render(
                S::FORBIDDEN,
                "https_required",
                "HTTPS required",
                "requests from outside the local network must use HTTPS".to_owned(),
                None,
                None,
                None,
            ),
            Self::Forbidden(detail) => render(S::FORBIDDEN, "forbidden", "Forbidden", detail, None, None, None),
            Self::CsrfRejected(detail) => {
                render(S::FORBIDDEN, "csrf_rejected", "Cross-site request refused", detail, None, None, None)
            }
            Self::NotFound(what) => {
                render(S::NOT_FOUND, "not_found", "Not found", format!("no such {what}"), None, None, None)
            }
            Self::Conflict(detail) => render(S::CONFLICT, "conflict", "Conflict", detail, None, None, None),
            Self::PreconditionFailed { current } => render(
                S::PRECONDITION_FAILED,
                "precondition_failed",
                "Precondition failed",
                "the resource was changed since you read it; read it again and reapply your change".to_owned(),
                None,
                None,
                Some(crate::extract::if_match::etag(current)),
            ),
            Self::PreconditionRequired => render(
                S::PRECONDITION_REQUIRED,
                "precondition_required",
                "Precondition required",
                "send If-Match with the ETag from your last read, so that no one else's change is overwritten"
                    .to_owned(),
                None,
                None,
                None,
            ),
            Self::Overloaded(reason) => {
                tracing::debug!(reason, "answering 503");
                unavailable(format!("{reason}; nothing was changed, retry in a moment"), "1")
            }
            Self::Unavailable(reason) => {
                tracing::warn!(%reason, "answering 503");
                unavailable(
                    "the service cannot complete this request now; nothing was changed, retry later".to_owned(),
                    "5",
                )
            }
            Self::Internal(error) => {
                let error_id = uuid::Uuid::new_v4().simple().to_string();
                tracing::error!(error_id, error = %chain(&*error), "internal error");
                render(
                    S::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal server error",
                    "an unexpected error occurred; quote the error_id when reporting it".to_owned(),
                    None,
                    Some(error_id),
                    None,
                )
            }
        }
    }
}

fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound("resource"),
            StoreError::VersionMismatch { current } => Self::PreconditionFailed { current },
            StoreError::Duplicate(what) => Self::Conflict(format!("a {what} with that value already exists")),
            StoreError::Reference(what) => {
                Self::Rule(format!("the referenced {what} does not exist or is still in use"))
            }
            StoreError::Rule(detail) => Self::Rule(detail),
            StoreError::Unavailable(reason) => Self::Unavailable(reason),
            other => Self::Internal(Box::new(other)),
        }
    }
}
