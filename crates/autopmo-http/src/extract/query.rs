//! List queries: `limit`, `cursor`, `sort` (`name` or `-name` for
//! descending) and the filters each list declares. Unknown parameters are
//! refused so a typo does not silently list everything.

use crate::problem::ApiError;
use autopmo_store::{Cursor, DEFAULT_LIMIT, Direction, ListParams, MAX_LIMIT, SortKey};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// A query string parsed into `T` (which should deny unknown fields).
#[derive(Debug)]
pub struct ValidQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ValidQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query).map(Self).map_err(|e| ApiError::BadRequest {
            kind: "invalid_query",
            detail: format!("invalid query parameters: {e}"),
        })
    }
}

/// A page size given as `limit`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`]
/// when absent.
pub fn page_size(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest {
            kind: "invalid_query",
            detail: format!("limit must be from 1 to {MAX_LIMIT}"),
        });
    }
    Ok(limit)
}

/// Builds store list parameters from the common query fields.
pub fn list_params<S: SortKey>(
    limit: Option<u32>,
    cursor: Option<&str>,
    sort: Option<&str>,
    sorts: &[S],
    default: S,
) -> Result<ListParams<S>, ApiError> {
    let limit = page_size(limit)?;
    let (direction, name) = match sort {
        Some(s) => match s.strip_prefix('-') {
            Some(name) => (Direction::Desc, name),
            None => (Direction::Asc, s),
        },
        None => (Direction::Asc, default.name()),
    };
    let sort = sorts.iter().copied().find(|s| s.name() == name).ok_or_else(|| ApiError::BadRequest {
        kind: "invalid_query",
        detail: format!(
            "sort must be one of {} (prefix with '-' for descending)",
            sorts.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
        ),
    })?;
    let cursor = cursor
        .map(|c| {
            Cursor::decode(c).ok_or_else(|| ApiError::BadRequest {
                kind: "invalid_cursor",
                detail: "cursor is not one this server issued; start again without it".to_owned(),
            })
        })
        .transpose()?;
    let expected = match direction {
        Direction::Asc => sort.name().to_owned(),
        Direction::Desc => format!("-{}", sort.name()),
    };
    if cursor.as_ref().is_some_and(|c| c.sort() != expected) {
        return Err(ApiError::BadRequest {
            kind: "invalid_cursor",
            detail: "this cursor belongs to another sort order; start again without it".to_owned(),
        });
    }
    Ok(ListParams { limit, cursor, sort, direction })
}
