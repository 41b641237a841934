//! The `/.well-known/openid-configuration` document (OpenID Connect
//! Discovery 1.0): where AutoPMO's signing keys are and which algorithm it
//! uses, so API gateways and other services can verify its access tokens.
//!
//! AutoPMO issues tokens from its own login API, not through an OAuth
//! authorization endpoint, so the document has no `authorization_endpoint`;
//! the refresh and logout APIs are listed under `autopmo_`-prefixed names.

use serde_json::{Value, json};

/// Path of the JWK Set.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Path of the login API (the token endpoint).
pub const LOGIN_PATH: &str = "/api/v1/auth/login";
/// Path of the refresh API.
pub const REFRESH_PATH: &str = "/api/v1/auth/refresh";
/// Path of the logout API.
pub const LOGOUT_PATH: &str = "/api/v1/auth/logout";

/// The discovery document for `issuer` (the exact `iss` of AutoPMO's tokens).
pub fn discovery(issuer: &str) -> Value {
    let base = issuer.trim_end_matches('/');
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{base}{JWKS_PATH}"),
        "token_endpoint": format!("{base}{LOGIN_PATH}"),
        "autopmo_refresh_endpoint": format!("{base}{REFRESH_PATH}"),
        "autopmo_logout_endpoint": format!("{base}{LOGOUT_PATH}"),
        "response_types_supported": ["token"],
        "grant_types_supported": ["password", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "claims_supported": ["iss", "aud", "sub", "sid", "roles", "amr", "auth_time", "jti", "iat", "nbf", "exp"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_hang_off_the_issuer() {
        for issuer in ["https://pmo.example.com", "https://pmo.example.com/"] {
            let doc = discovery(issuer);
            assert_eq!(doc["issuer"], issuer);
            assert_eq!(doc["jwks_uri"], "https://pmo.example.com/.well-known/jwks.json");
            assert_eq!(doc["token_endpoint"], "https://pmo.example.com/api/v1/auth/login");
            assert_eq!(doc["autopmo_refresh_endpoint"], "https://pmo.example.com/api/v1/auth/refresh");
            assert_eq!(doc["autopmo_logout_endpoint"], "https://pmo.example.com/api/v1/auth/logout");
            assert_eq!(doc["id_token_signing_alg_values_supported"], json!(["RS256"]));
        }
    }
}
