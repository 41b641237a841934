//! RS256 compact JWS verification (`autopmo_crypto::jws::verify`, the path
//! every access and MFA-challenge token takes), the external-provider
//! variant (`external_jwt::verify_external`, OIDC federation), and JWK
//! parsing (`jws::PublicKey::from_jwk`: a provider's JWKS is untrusted).
//!
//! Properties beyond "never panics":
//! - text that was not signed by the key is never accepted;
//! - a token with a valid signature is accepted only with `alg` exactly
//!   `RS256`, the expected `typ`, a known non-empty `kid`, no `crit`, and a
//!   payload that is a JSON object without duplicate keys, whose claims are
//!   exactly that object.
#![no_main]

use arbitrary::Arbitrary;
use autopmo_crypto::external_jwt::verify_external;
use autopmo_crypto::jws::{self, PublicKey};
use autopmo_fuzz::{any_kid, kid, ours, sign_parts};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

#[derive(Arbitrary, Debug)]
enum Kid {
    Ours,
    Missing,
    Other(String),
    NotAString(i64),
}

#[derive(Arbitrary, Debug)]
enum Header {
    /// Arbitrary bytes as the header.
    Raw(Vec<u8>),
    /// A JSON object with the usual members, each possibly wrong.
    Fields { alg: Option<String>, typ: Option<String>, kid: Kid, crit: bool, extra: Vec<(String, String)> },
}

#[derive(Arbitrary, Debug)]
enum Input {
    /// Any text, presented as a token.
    Raw(String),
    /// A validly signed token around arbitrary header and payload bytes.
    Signed { header: Header, payload: Vec<u8>, expected_typ: String, external: bool },
    /// A JWK as a provider's JWKS would hold it.
    Jwk(Vec<u8>),
}

fn header_bytes(h: &Header) -> Vec<u8> {
    match h {
        Header::Raw(bytes) => bytes.clone(),
        Header::Fields { alg, typ, kid: k, crit, extra } => {
            let mut m = Map::new();
            for (key, value) in extra {
                m.insert(key.clone(), Value::String(value.clone()));
            }
            if let Some(alg) = alg {
                m.insert("alg".into(), Value::String(alg.clone()));
            }
            if let Some(typ) = typ {
                m.insert("typ".into(), Value::String(typ.clone()));
            }
            match k {
                Kid::Ours => {
                    m.insert("kid".into(), Value::String(kid().to_owned()));
                }
                Kid::Missing => {}
                Kid::Other(s) => {
                    m.insert("kid".into(), Value::String(s.clone()));
                }
                Kid::NotAString(n) => {
                    m.insert("kid".into(), Value::from(*n));
                }
            }
            if *crit {
                m.insert("crit".into(), Value::Array(vec![Value::String("exp".into())]));
            }
            serde_json::to_vec(&Value::Object(m)).expect("JSON")
        }
    }
}

fn media_type(s: &str) -> String {
    let s = s.to_ascii_lowercase();
    match s.strip_prefix("application/") {
        Some(rest) if !rest.contains('/') => rest.to_owned(),
        _ => s,
    }
}

/// What a correct verifier must have seen in the header to accept.
fn header_acceptable(header: &[u8], expected_typ: Option<&str>) -> bool {
    let Ok(Value::Object(h)) = serde_json::from_slice::<Value>(header) else { return false };
    let typ_ok = match (h.get("typ"), expected_typ) {
        (Some(Value::String(t)), Some(expected)) => !expected.is_empty() && media_type(t) == media_type(expected),
        (_, Some(_)) => false,
        (None, None) => true,
        (Some(Value::String(t)), None) => ["jwt", "at+jwt"].contains(&media_type(t).as_str()),
        (Some(_), None) => false,
    };
    h.get("alg") == Some(&Value::String("RS256".into()))
        && !h.contains_key("crit")
        && typ_ok
        && matches!(h.get("kid"), Some(Value::String(k)) if k == kid())
}

fuzz_target!(|input: Input| {
    match input {
        Input::Raw(text) => {
            assert!(jws::verify(&text, "at+jwt", &any_kid).is_err(), "an unsigned text was accepted: {text:?}");
            assert!(verify_external(&text, &any_kid).is_err(), "an unsigned text was accepted: {text:?}");
        }
        Input::Signed { header, payload, expected_typ, external } => {
            let header = header_bytes(&header);
            let token = sign_parts(&header, &payload);
            let (accepted, claims) = if external {
                match verify_external(&token, &ours) {
                    Ok(p) => {
                        assert_eq!(p.kid(), kid());
                        (header_acceptable(&header, None), p.claims().clone())
                    }
                    Err(_) => return,
                }
            } else {
                match jws::verify(&token, &expected_typ, &ours) {
                    Ok(p) => {
                        assert_eq!(p.kid(), kid());
                        (header_acceptable(&header, Some(&expected_typ)), p.claims().clone())
                    }
                    Err(_) => return,
                }
            };
            assert!(accepted, "accepted a token whose header should be refused: {}", String::from_utf8_lossy(&header));
            assert!(token.len() <= jws::MAX_TOKEN_BYTES, "accepted a token over the size limit");
            let parsed: Value = serde_json::from_slice(&payload).expect("accepted a payload that is not JSON");
            assert_eq!(parsed, Value::Object(claims), "the claims are not the payload object");
        }
        Input::Jwk(bytes) => {
            let Ok(jwk) = serde_json::from_slice::<Value>(&bytes) else { return };
            if let Ok(key) = PublicKey::from_jwk(&jwk) {
                assert!(!key.kid().is_empty());
                assert!((2048..=8192).contains(&key.bits()), "a {}-bit key was accepted", key.bits());
                // Its own JWK reads back as the same key.
                assert_eq!(PublicKey::from_jwk(&key.to_jwk()).ok().as_ref(), Some(&key));
            }
        }
    }
});
