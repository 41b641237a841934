//! Optimistic concurrency: reads return `ETag: "<version>"`; updates send it
//! back in `If-Match`. A stale one gets 412, a missing one 428, so no update
//! silently overwrites another.

use crate::problem::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};

/// The ETag of a record at `version`.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// Headers carrying the ETag of a record at `version`.
pub fn etag_header(version: i64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&etag(version)) {
        headers.insert(header::ETAG, value);
    }
    headers
}

impl IfMatch {
    /// 412 unless the record read is still at the version the client sent.
    pub fn check(self, current: i64) -> Result<(), ApiError> {
        if current == self.0 { Ok(()) } else { Err(ApiError::PreconditionFailed { current }) }
    }
}

impl OptionalIfMatch {
    /// 412 when the client sent a version and the record is no longer at it.
    pub fn check(self, current: i64) -> Result<(), ApiError> {
        match self.0 {
            Some(v) if v != current => Err(ApiError::PreconditionFailed { current }),
            _ => Ok(()),
        }
    }
}

/// A required `If-Match`: the version the client last read.
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub i64);

/// An optional `If-Match` (deletes and actions).
#[derive(Debug, Clone, Copy)]
pub struct OptionalIfMatch(pub Option<i64>);

fn parse(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    let version =
        text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).and_then(|t| t.parse::<i64>().ok()).filter(|v| *v > 0);
    version.map(Some).ok_or_else(|| ApiError::BadRequest {
        kind: "invalid_if_match",
        detail: "If-Match must be one strong ETag exactly as returned by a read, e.g. \"3\"".to_owned(),
    })
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parse(&parts.headers)?.map(Self).ok_or(ApiError::PreconditionRequired)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for OptionalIfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parse(&parts.headers).map(Self)
    }
}
