//! RS256 tokens from another issuer (OIDC federation): ID tokens and JWT
//! access tokens of an external identity provider.
//!
//! [`crate::jws::verify`] insists on our own `typ`; external providers send
//! `typ: "JWT"`, `at+jwt` (RFC 9068) or, for ID tokens, often no `typ` at
//! all. This entry point accepts exactly those and is otherwise as strict:
//! `alg` must be `RS256` (no HMAC, no `none`), no `crit`, a non-empty `kid`
//! that the caller's key lookup (the provider's JWKS) knows, a valid
//! signature, a JSON object payload without duplicate top-level keys.
//! `jku`, `x5u`, `jwk` and `x5c` headers are never read. What the claims
//! mean (issuer, audience, times, nonce) is the caller's business.

use crate::jws::{ALG, MAX_TOKEN_BYTES, PublicKey};
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

/// The `typ` values accepted from an external provider (compared without
/// regard to case or an `application/` prefix); a missing `typ` is accepted too.
pub const EXTERNAL_TYPES: &[&str] = &["jwt", "at+jwt"];

/// The claims of an external token whose header and signature were accepted.
#[derive(Debug, Clone)]
pub struct ExternalPayload {
    kid: String,
    typ: Option<String>,
    claims: Map<String, Value>,
}

impl ExternalPayload {
    /// The `kid` of the key that signed it.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The header's `typ`, lower-cased without `application/`, if any.
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }

    /// The claims (not yet validated).
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
}

/// An external token was refused: one kind, one `Display` for every
/// reason; [`reason`](Self::reason) is for the server log only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid token")]
pub struct ExternalJwtError {
    reason: &'static str,
}

impl ExternalJwtError {
    /// Why the token was refused (never contains anything from the token).
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

fn refuse(reason: &'static str) -> ExternalJwtError {
    ExternalJwtError { reason }
}

fn decode(part: &str) -> Result<Vec<u8>, ExternalJwtError> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(refuse("not base64url"));
    }
    URL_SAFE_NO_PAD.decode(part).map_err(|_| refuse("not base64url"))
}

/// A JSON object whose top-level keys are unique.
struct UniqueObject(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UniqueObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<UniqueObject, A::Error> {
                let mut map = Map::new();
                while let Some((key, value)) = access.next_entry::<String, Value>()? {
                    if map.insert(key, value).is_some() {
                        return Err(de::Error::custom("duplicate key"));
                    }
                }
                Ok(UniqueObject(map))
            }
        }
        deserializer.deserialize_map(V)
    }
}

fn object(bytes: &[u8], reason: &'static str) -> Result<Map<String, Value>, ExternalJwtError> {
    serde_json::from_slice::<UniqueObject>(bytes).map(|o| o.0).map_err(|_| refuse(reason))
}

fn media_type(s: &str) -> String {
    let s = s.to_ascii_lowercase();
    match s.strip_prefix("application/") {
        Some(rest) if !rest.contains('/') => rest.to_owned(),
        _ => s,
    }
}

/// Checks a compact JWS from an external provider: shape, header (`alg`
/// RS256, `typ` absent or one of [`EXTERNAL_TYPES`], no `crit`, a `kid`),
/// the signature under the key `keys` returns for the `kid`, and the payload.
pub fn verify_external(
    token: &str,
    keys: &dyn Fn(&str) -> Option<PublicKey>,
) -> Result<ExternalPayload, ExternalJwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(refuse("token longer than 8 KiB"));
    }
    let (signing_input, signature) = token.rsplit_once('.').ok_or(refuse("not three parts"))?;
    let (header, payload) = signing_input.split_once('.').ok_or(refuse("not three parts"))?;
    if payload.contains('.') {
        return Err(refuse("not three parts"));
    }
    let header = object(&decode(header)?, "header is not a JSON object")?;
    let payload = decode(payload)?;
    let signature = decode(signature)?;
    match header.get("alg") {
        Some(Value::String(alg)) if alg == ALG => {}
        _ => return Err(refuse("alg is not RS256")),
    }
    if header.contains_key("crit") {
        return Err(refuse("crit header present"));
    }
    let typ = match header.get("typ") {
        None => None,
        Some(Value::String(typ)) if EXTERNAL_TYPES.contains(&media_type(typ).as_str()) => Some(media_type(typ)),
        Some(_) => return Err(refuse("typ is not JWT or at+jwt")),
    };
    let kid = match header.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => kid.clone(),
        _ => return Err(refuse("kid missing")),
    };
    let key = keys(&kid).ok_or(refuse("unknown kid"))?;
    let jwk = key.to_jwk();
    let component = |name: &str| jwk.get(name).and_then(Value::as_str).and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
    let (Some(n), Some(e)) = (component("n"), component("e")) else {
        return Err(refuse("unusable key"));
    };
    RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }
        .verify(&RSA_PKCS1_2048_8192_SHA256, signing_input.as_bytes(), &signature)
        .map_err(|_| refuse("bad signature"))?;
    let claims = object(&payload, "payload is not a JSON object")?;
    Ok(ExternalPayload { kid, typ, claims })
}
