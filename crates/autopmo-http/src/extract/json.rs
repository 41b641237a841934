//! JSON bodies: `Content-Type: application/json`, a size limit, a nesting
//! limit, and unknown fields refused (the request types deny them).

use crate::problem::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

/// A JSON body of type `T`, checked before the handler runs.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit = state.limits.max_body_bytes;
        let body =
            axum::body::to_bytes(req.into_body(), limit).await.map_err(|_| ApiError::PayloadTooLarge { limit })?;
        parse(&body, state.limits.max_json_depth).map(Self)
    }
}

/// Parses a JSON document into `T`, refusing nesting deeper than `max_depth`.
pub fn parse<T: DeserializeOwned>(body: &Bytes, max_depth: usize) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest {
            kind: "malformed_json",
            detail: "the body is empty; send a JSON object".to_owned(),
        });
    }
    if depth(body) > max_depth {
        return Err(ApiError::BadRequest {
            kind: "json_too_deep",
            detail: format!("the JSON body is nested deeper than {max_depth} levels"),
        });
    }
    // Every request body is an object; serde would also build a struct from
    // an array, which no client means.
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| ApiError::BadRequest {
        kind: "malformed_json",
        detail: format!("the body is not valid JSON: {e}"),
    })?;
    if !value.is_object() {
        return Err(ApiError::BadRequest { kind: "invalid_body", detail: "the body must be a JSON object".to_owned() });
    }
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::BadRequest {
                kind: "invalid_body",
                detail: format!("the body does not match the expected shape: {e}"),
            },
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::BadRequest { kind: "malformed_json", detail: format!("the body is not valid JSON: {e}") }
            }
        }
    })
}

/// The deepest nesting of arrays and objects, ignoring brackets in strings.
fn depth(body: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_depth_outside_strings() {
        assert_eq!(depth(br#"{"a": [1, {"b": "[[[["}]}"#), 3);
        assert_eq!(depth(br#""\"{""#), 0);
        assert_eq!(depth(b"[[[[[]]]]]"), 5);
    }
}
