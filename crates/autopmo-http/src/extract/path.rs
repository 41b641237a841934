//! Ids in paths, parsed into their types; a malformed id is a 404 problem
//! (no resource can have it).

use crate::problem::ApiError;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use std::collections::HashMap;

/// The path parameters, by name.
#[derive(Debug)]
pub struct Ids(HashMap<String, String>);

impl Ids {
    /// Parses the parameter `name` as an id of type `T`, naming `what` in the 404.
    pub fn get<T: std::str::FromStr>(&self, name: &str, what: &'static str) -> Result<T, ApiError> {
        self.0.get(name).and_then(|raw| raw.parse().ok()).ok_or(ApiError::NotFound(what))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ids {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(map) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("resource"))?;
        Ok(Self(map))
    }
}
