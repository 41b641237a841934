//! Positive controls: what must pass does, so the refusals mean something.

use crate::forge::*;
use autopmo_crypto::jws::{self, PublicKey, RsaBits, SigningKey};
use autopmo_identity::tokens::{
    AccessClaims, KeySet, MfaChallengeClaims, RotationPolicy, TokenKeys, discovery, issue_access, issue_mfa_challenge,
    verify_access, verify_mfa_challenge,
};
use serde_json::json;
use time::Duration;

#[test]
fn a_fresh_token_verifies_with_its_claims() {
    let claims = AccessClaims::new(&policy(), &grant(), "jti-fresh", now());
    let token = issue_access(ours(), &claims).unwrap();
    assert_eq!(check(&token).unwrap(), claims);
    assert_eq!(claims.exp - claims.iat, Duration::minutes(15));
    assert_eq!(claims.aud, "autopmo-api");
    assert_eq!(claims.iss, ISSUER);
}

#[test]
fn exp_just_inside_the_leeway_is_accepted() {
    let inside = claims_with(|c| {
        c.insert("exp".into(), json!((now() - Duration::seconds(59)).unix_timestamp()));
        c.insert("iat".into(), json!((now() - Duration::seconds(59) - Duration::minutes(15)).unix_timestamp()));
        c.insert("nbf".into(), json!((now() - Duration::minutes(20)).unix_timestamp()));
        c.insert("auth_time".into(), json!((now() - Duration::minutes(20)).unix_timestamp()));
    });
    assert!(check(&forge(&header(), &inside, &rs256(ours()))).is_ok());
    let nbf_inside = claims_with(|c| {
        c.insert("nbf".into(), json!((now() + Duration::seconds(60)).unix_timestamp()));
    });
    assert!(check(&forge(&header(), &nbf_inside, &rs256(ours()))).is_ok());
}

#[test]
fn a_token_of_exactly_8_kib_is_accepted() {
    let token = signed_of_length(8 * 1024);
    assert!(check(&token).is_ok());
}

#[test]
fn allowed_variations_are_accepted() {
    let key = rs256(ours());
    let aud_array = claims_with(|c| {
        c.insert("aud".into(), json!(["other", "autopmo-api"]));
        c.insert("extra".into(), json!({"ignored": true}));
    });
    assert!(check(&forge(&header(), &aud_array, &key)).is_ok());
    let media_type = header_with(|h| {
        h.insert("typ".into(), json!("application/AT+JWT"));
    });
    assert!(check(&forge(&media_type, &claims(), &key)).is_ok());
    // A jku/x5u header is never fetched: with our kid and our signature it changes nothing.
    let jku = header_with(|h| {
        h.insert("jku".into(), json!("https://evil.example/jwks.json"));
        h.insert("x5u".into(), json!("https://evil.example/cert.pem"));
    });
    assert!(check(&forge(&jku, &claims(), &key)).is_ok());
}

#[test]
fn an_mfa_challenge_verifies_only_as_an_mfa_challenge() {
    let keys = &fixture().keys;
    let lookup = |kid: &str| keys.verifying_key(kid, now());
    let mfa = MfaChallengeClaims::new(&policy(), "user-1", vec!["pwd".into()], "jti-mfa", now());
    let token = issue_mfa_challenge(ours(), &mfa).unwrap();
    assert_eq!(verify_mfa_challenge(&token, &lookup, &policy(), now()).unwrap(), mfa);
    assert!(verify_access(&token, &lookup, &policy(), now()).is_err());
    let access = issue_access(ours(), &AccessClaims::new(&policy(), &grant(), "j", now())).unwrap();
    assert!(verify_mfa_challenge(&access, &lookup, &policy(), now()).is_err());
    let later = now() + Duration::minutes(6) + Duration::seconds(1);
    assert!(verify_mfa_challenge(&token, &|kid: &str| keys.verifying_key(kid, later), &policy(), later).is_err());
}

#[test]
fn after_rotation_the_old_key_verifies_until_its_tokens_expire_then_leaves_the_jwks() {
    let policy = policy();
    let t0 = now();
    let a = SigningKey::generate(RsaBits::Rsa2048).unwrap();
    let a_kid = a.kid().to_owned();
    let mut set = KeySet::new(Vec::new(), RotationPolicy::for_tokens(&policy)).unwrap();
    set.rotate(a.kid(), t0).unwrap();
    let mut keys = TokenKeys::new(set, vec![a]).unwrap();
    let issue = |keys: &TokenKeys, at, jti: &str| {
        let signer = keys.signer(at).unwrap();
        (signer.kid().to_owned(), issue_access(signer, &AccessClaims::new(&policy, &grant(), jti, at)).unwrap())
    };
    let verify =
        |keys: &TokenKeys, token: &str, at| verify_access(token, &|kid: &str| keys.verifying_key(kid, at), &policy, at);

    let t1 = t0 + Duration::days(30);
    assert!(keys.key_set().rotation_due(t1));
    let (kid, last_of_a) = issue(&keys, t1 - Duration::seconds(1), "last-of-a");
    assert_eq!(kid, a_kid);

    keys.rotate(SigningKey::generate(RsaBits::Rsa2048).unwrap(), t1).unwrap();
    let (b_kid, first_of_b) = issue(&keys, t1, "first-of-b");
    assert_ne!(b_kid, a_kid, "the new key signs");
    let jwks_kids = |keys: &TokenKeys, at| -> Vec<String> {
        keys.jwks(at)["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(jwks_kids(&keys, t1), [b_kid.clone(), a_kid.clone()]);

    // The old key's last token lives 15 minutes and the leeway forgives 60 s more.
    let late = t1 + Duration::minutes(15) + Duration::seconds(58);
    assert!(verify(&keys, &last_of_a, late).is_ok());
    assert!(verify(&keys, &last_of_a, late + Duration::seconds(1)).is_err(), "expired");
    assert_eq!(jwks_kids(&keys, late), [b_kid.clone(), a_kid.clone()]);

    let gone = t1 + Duration::minutes(16);
    assert_eq!(jwks_kids(&keys, gone), std::slice::from_ref(&b_kid));
    assert!(keys.verifying_key(&a_kid, gone).is_none());
    let pruned = keys.prune(gone);
    assert_eq!(pruned.iter().map(|r| r.kid.as_str()).collect::<Vec<_>>(), [a_kid.as_str()]);
    assert!(verify(&keys, &first_of_b, t1 + Duration::minutes(10)).is_ok());

    // What the JWKS publishes is enough for someone else to verify (federation path).
    let published: Vec<PublicKey> =
        keys.jwks(t1)["keys"].as_array().unwrap().iter().map(|jwk| PublicKey::from_jwk(jwk).unwrap()).collect();
    let from_jwks = |kid: &str| published.iter().find(|k| k.kid() == kid).cloned();
    assert!(verify_access(&first_of_b, &from_jwks, &policy, t1).is_ok());
    assert!(jws::verify(&first_of_b, "at+jwt", &from_jwks).is_ok());
}

#[test]
fn discovery_points_at_the_jwks() {
    let doc = discovery(ISSUER);
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
    assert_eq!(doc["id_token_signing_alg_values_supported"], json!(["RS256"]));
}
