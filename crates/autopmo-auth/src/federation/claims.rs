//! The claims of external tokens: issuer, audience and times.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const TIME_LEEWAY_SECS: i64 = 60;

/// The `iss` of a compact JWS, read **without** checking anything: only to
/// choose which verifier to run. `None` when there is none.
pub fn unverified_issuer(token: &str) -> Option<String> {
    if token.len() > autopmo_crypto::jws::MAX_TOKEN_BYTES {
        return None;
    }
    let mut parts = token.split('.');
    let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

fn number(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, &'static str> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)).map(Some).ok_or("time claim is not a number"),
    }
}

fn audiences(claims: &Map<String, Value>) -> Vec<&str> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn common(
    claims: &Map<String, Value>,
    issuer: &str,
    audience: &str,
    now: OffsetDateTime,
    iat_required: bool,
) -> Result<(), &'static str> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err("iss is not the configured issuer");
    }
    if !claims.get("sub").and_then(Value::as_str).is_some_and(|s| !s.is_empty() && s.len() <= 255) {
        return Err("sub missing");
    }
    if !audiences(claims).contains(&audience) {
        return Err("aud does not contain the expected audience");
    }
    let now = now.unix_timestamp();
    let exp = number(claims, "exp")?.ok_or("exp missing")?;
    if now >= exp.saturating_add(TIME_LEEWAY_SECS) {
        return Err("expired");
    }
    if number(claims, "nbf")?.is_some_and(|nbf| nbf > now.saturating_add(TIME_LEEWAY_SECS)) {
        return Err("not yet valid");
    }
    match number(claims, "iat")? {
        Some(iat) if iat > now.saturating_add(TIME_LEEWAY_SECS) => Err("issued in the future"),
        None if iat_required => Err("iat missing"),
        _ => Ok(()),
    }
}

/// An access token: `iss` exact, `aud` contains `audience`, `exp` (and
/// `nbf`, `iat` when present) within [`TIME_LEEWAY_SECS`].
pub fn check_times_and_audience(
    claims: &Map<String, Value>,
    issuer: &str,
    audience: &str,
    now: OffsetDateTime,
) -> Result<(), &'static str> {
    common(claims, issuer, audience, now, false)
}

/// An ID token (OIDC Core §3.1.3.7): as an access token with our client id
/// as audience, `iat` required, and `azp`, when present or when there are
/// several audiences, equal to our client id. The nonce is the caller's.
pub fn check_id_token(
    claims: &Map<String, Value>,
    issuer: &str,
    client_id: &str,
    now: OffsetDateTime,
) -> Result<(), &'static str> {
    common(claims, issuer, client_id, now, true)?;
    let azp = claims.get("azp").and_then(Value::as_str);
    if (azp.is_some() || audiences(claims).len() > 1) && azp != Some(client_id) {
        return Err("azp is not our client id");
    }
    Ok(())
}

/// The values at a dotted claim path (`realm_access.roles`): an array of
/// strings or one string. `None` when the claim is absent.
pub fn role_values(claims: &Map<String, Value>, path: &str) -> Option<Vec<String>> {
    let mut segments = path.split('.');
    let mut current = claims.get(segments.next()?)?;
    for segment in segments {
        current = current.as_object()?.get(segment)?;
    }
    match current {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(list) => Some(list.iter().filter_map(Value::as_str).map(str::to_owned).collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn times_audience_and_roles() {
        let now = OffsetDateTime::from_unix_timestamp(1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let ok = map(
            json!({"iss": "https://idp", "sub": "u", "aud": ["x", "autopmo-api"], "exp": 1_000_100, "iat": 999_990}),
        );
        assert_eq!(check_times_and_audience(&ok, "https://idp", "autopmo-api", now), Ok(()));
        assert!(check_times_and_audience(&ok, "https://idp/", "autopmo-api", now).is_err());
        assert!(check_times_and_audience(&ok, "https://idp", "other", now).is_err());
        let late = now + time::Duration::seconds(159);
        assert_eq!(check_times_and_audience(&ok, "https://idp", "autopmo-api", late), Ok(()));
        assert!(
            check_times_and_audience(&ok, "https://idp", "autopmo-api", late + time::Duration::seconds(1)).is_err()
        );
        let future = map(json!({"iss": "i", "sub": "u", "aud": "a", "exp": 1_000_500, "nbf": 1_000_061}));
        assert!(check_times_and_audience(&future, "i", "a", now).is_err());
        let roles = map(json!({"realm_access": {"roles": ["pmo-admin", 3, "x"]}}));
        assert_eq!(role_values(&roles, "realm_access.roles"), Some(vec!["pmo-admin".to_owned(), "x".to_owned()]));
        assert_eq!(role_values(&roles, "groups"), None);
    }

    #[test]
    fn id_token_azp() {
        let now = OffsetDateTime::from_unix_timestamp(1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let two = map(json!({"iss": "i", "sub": "u", "aud": ["c", "d"], "exp": 1_000_100, "iat": 1_000_000}));
        assert!(check_id_token(&two, "i", "c", now).is_err());
        let with_azp =
            map(json!({"iss": "i", "sub": "u", "aud": ["c", "d"], "azp": "c", "exp": 1_000_100, "iat": 1_000_000}));
        assert_eq!(check_id_token(&with_azp, "i", "c", now), Ok(()));
        let no_iat = map(json!({"iss": "i", "sub": "u", "aud": "c", "exp": 1_000_100}));
        assert!(check_id_token(&no_iat, "i", "c", now).is_err());
    }

    #[test]
    fn issuer_peek() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"https://idp"}"#);
        assert_eq!(unverified_issuer(&format!("e30.{payload}.sig")).as_deref(), Some("https://idp"));
        assert_eq!(unverified_issuer("apmo_pat_x"), None);
    }
}
