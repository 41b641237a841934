//! Answers that must be refused, with a `Ceremony` error (or `State` for the server's own data),
//! never a panic.

use autopmo_webauthn::soft::SoftAuthenticator;
use autopmo_webauthn::{StoredCredential, WebAuthn, WebAuthnError};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::ceremonies::register;
use crate::{Db, ORIGIN, relying_party};

fn refused<T: std::fmt::Debug>(result: Result<T, WebAuthnError>) -> String {
    match result {
        Err(WebAuthnError::Ceremony(why)) => why,
        other => panic!("expected a Ceremony error, got {other:?}"),
    }
}

/// One user with one credential on `key`.
fn enrolled(rp: &WebAuthn, key: &mut SoftAuthenticator) -> StoredCredential {
    register(rp, &mut Db::default(), key, Uuid::new_v4(), &[])
}

#[test]
fn an_assertion_for_another_challenge_is_refused() {
    let rp = relying_party();
    let mut key = SoftAuthenticator::new();
    let stored = enrolled(&rp, &mut key);

    let first = rp.start_authentication(std::slice::from_ref(&stored)).unwrap();
    let answer = key.authenticate(ORIGIN, &first.options).unwrap();
    rp.finish_authentication(&answer, &first.state).unwrap();

    // The captured assertion, replayed against a later challenge.
    let later = rp.start_authentication(std::slice::from_ref(&stored)).unwrap();
    let why = refused(rp.finish_authentication(&answer, &later.state));
    assert!(why.to_lowercase().contains("challenge"), "{why}");
}

#[test]
fn a_registration_for_another_challenge_is_refused() {
    let rp = relying_party();
    let mut key = SoftAuthenticator::new();
    let user = Uuid::new_v4();
    let first = rp.start_registration(user, "alice", "Alice", &[]).unwrap();
    let second = rp.start_registration(user, "alice", "Alice", &[]).unwrap();
    let answer = key.register(ORIGIN, &first.options).unwrap();
    refused(rp.finish_registration(&answer, &second.state));
}

#[test]
fn a_wrong_origin_is_refused() {
    // A sibling site under the same RP id passes the browser's check but not the server's, and so
    // does the right host on another port.
    let rp = relying_party();
    for origin in ["https://evil.example.org", "https://pmo.example.org:8443", "https://example.org"] {
        let mut key = SoftAuthenticator::new();
        let challenge = rp.start_registration(Uuid::new_v4(), "alice", "Alice", &[]).unwrap();
        let answer = key.register(origin, &challenge.options).unwrap();
        let why = refused(rp.finish_registration(&answer, &challenge.state));
        assert!(why.contains("origin"), "{origin}: {why}");

        let mut key = SoftAuthenticator::new();
        let stored = enrolled(&rp, &mut key);
        let challenge = rp.start_authentication(&[stored]).unwrap();
        let answer = key.authenticate(origin, &challenge.options).unwrap();
        let why = refused(rp.finish_authentication(&answer, &challenge.state));
        assert!(why.contains("origin"), "{origin}: {why}");
    }
    // An origin outside the RP id is refused by the client itself.
    let challenge = rp.start_registration(Uuid::new_v4(), "alice", "Alice", &[]).unwrap();
    assert!(SoftAuthenticator::new().register("https://example.com", &challenge.options).is_err());
}

#[test]
fn a_credential_outside_the_allowed_list_is_refused() {
    let rp = relying_party();
    let mut key = SoftAuthenticator::new();
    let alice = enrolled(&rp, &mut key);
    let mallory = enrolled(&rp, &mut key);

    // The challenge allows only Alice's credential; a client rewrites allowCredentials and signs it
    // with Mallory's.
    let challenge = rp.start_authentication(&[alice]).unwrap();
    let mut options = challenge.options.clone();
    options["publicKey"]["allowCredentials"] =
        json!([{ "type": "public-key", "id": mallory.credential_id().unwrap() }]);
    let answer = key.authenticate(ORIGIN, &options).unwrap();
    assert_eq!(answer["id"], mallory.credential_id().unwrap().as_str());
    refused(rp.finish_authentication(&answer, &challenge.state));
}

/// Decodes a base64url field, lets `change` alter the bytes, and encodes it back.
fn tamper(answer: &Value, pointer: &str, change: impl FnOnce(&mut Vec<u8>)) -> Value {
    let mut answer = answer.clone();
    let field = answer.pointer_mut(pointer).unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(field.as_str().unwrap()).unwrap();
    change(&mut bytes);
    *field = Value::String(URL_SAFE_NO_PAD.encode(bytes));
    answer
}

fn flip_last(bytes: &mut [u8]) {
    *bytes.last_mut().unwrap() ^= 0x01;
}

/// Rewrites one member of the client data JSON.
fn client_data(key: &'static str, value: Value) -> impl FnOnce(&mut Vec<u8>) {
    move |bytes| {
        let mut data: Value = serde_json::from_slice(bytes).unwrap();
        data[key] = value;
        *bytes = serde_json::to_vec(&data).unwrap();
    }
}

/// Answers that no longer parse, whatever the ceremony.
fn malformed(answer: &Value) -> Vec<Value> {
    let mut without_response = answer.clone();
    without_response.as_object_mut().unwrap().remove("response");
    let mut not_base64 = answer.clone();
    not_base64["rawId"] = json!("not base64url!");
    vec![json!(null), json!("text"), json!({}), json!({ "id": 5 }), json!([answer]), without_response, not_base64]
}

#[test]
fn a_tampered_assertion_is_refused() {
    let rp = relying_party();
    let mut key = SoftAuthenticator::new();
    let stored = enrolled(&rp, &mut key);
    let challenge = rp.start_authentication(std::slice::from_ref(&stored)).unwrap();
    let answer = key.authenticate(ORIGIN, &challenge.options).unwrap();

    let mut tampered = vec![
        tamper(&answer, "/response/signature", |b| flip_last(b)),
        tamper(&answer, "/response/signature", |b| b.truncate(8)),
        // The counter (last byte of the authenticator data) is signed too.
        tamper(&answer, "/response/authenticatorData", |b| flip_last(b)),
        // So are the flags: clear "user verified".
        tamper(&answer, "/response/authenticatorData", |b| b[32] &= !0x04),
        tamper(&answer, "/response/authenticatorData", |b| b.truncate(20)),
        tamper(&answer, "/response/clientDataJSON", client_data("origin", json!("https://evil.example.org"))),
        tamper(&answer, "/response/clientDataJSON", client_data("type", json!("webauthn.create"))),
        tamper(&answer, "/response/clientDataJSON", client_data("crossOrigin", json!(true))),
        tamper(&answer, "/response/clientDataJSON", |b| b.truncate(b.len() / 2)),
    ];
    tampered.extend(malformed(&answer));
    for bad in &tampered {
        refused(rp.finish_authentication(bad, &challenge.state));
    }
    // The untouched answer still verifies: the refusals were the tampering's doing.
    rp.finish_authentication(&answer, &challenge.state).unwrap();
}

#[test]
fn a_tampered_registration_is_refused() {
    let rp = relying_party();
    let mut key = SoftAuthenticator::new();
    let challenge = rp.start_registration(Uuid::new_v4(), "alice", "Alice", &[]).unwrap();
    let answer = key.register(ORIGIN, &challenge.options).unwrap();

    let mut tampered = vec![
        tamper(&answer, "/response/attestationObject", |b| flip_last(b)),
        tamper(&answer, "/response/attestationObject", |b| b.truncate(b.len() / 2)),
        tamper(&answer, "/response/clientDataJSON", client_data("origin", json!("https://evil.example.org"))),
        tamper(&answer, "/response/clientDataJSON", client_data("type", json!("webauthn.get"))),
        tamper(&answer, "/response/clientDataJSON", client_data("challenge", json!("AAAA"))),
    ];
    tampered.extend(malformed(&answer));
    for bad in &tampered {
        refused(rp.finish_registration(bad, &challenge.state));
    }
    rp.finish_registration(&answer, &challenge.state).unwrap();
}

#[test]
fn unusable_server_data_is_a_state_error() {
    let rp = relying_party();
    let mut key = SoftAuthenticator::new();
    let stored = enrolled(&rp, &mut key);
    let registration = rp.start_registration(Uuid::new_v4(), "alice", "Alice", &[]).unwrap();
    let authentication = rp.start_authentication(std::slice::from_ref(&stored)).unwrap();
    let answer = key.authenticate(ORIGIN, &authentication.options).unwrap();

    let state_error = |r: Result<_, WebAuthnError>| assert!(matches!(r, Err(WebAuthnError::State(_))), "{r:?}");
    for state in ["", "{}", "not json", &authentication.state[..authentication.state.len() / 2]] {
        state_error(rp.finish_authentication(&answer, state).map(|_| ()));
        state_error(rp.finish_registration(&answer, state).map(|_| ()));
    }
    // A state of one kind of ceremony does not finish the other.
    state_error(rp.finish_authentication(&answer, &registration.state).map(|_| ()));
    state_error(rp.finish_registration(&answer, &authentication.state).map(|_| ()));

    let garbage = StoredCredential("{\"cred_id\": 1}".to_owned());
    state_error(garbage.credential_id().map(|_| ()));
    state_error(rp.start_authentication(&[stored.clone(), garbage.clone()]).map(|_| ()));
    state_error(rp.start_registration(Uuid::new_v4(), "alice", "Alice", &[garbage]).map(|_| ()));
    state_error(rp.start_registration(Uuid::new_v4(), " ", "Alice", &[]).map(|_| ()));
}

#[test]
fn no_credential_no_authentication() {
    let why = refused(relying_party().start_authentication(&[]));
    assert!(why.contains("no WebAuthn credential"), "{why}");
}
