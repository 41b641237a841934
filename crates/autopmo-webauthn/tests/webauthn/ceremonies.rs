//! Ceremonies that succeed.

use autopmo_webauthn::soft::SoftAuthenticator;
use autopmo_webauthn::{StoredCredential, WebAuthn};
use uuid::Uuid;

use crate::{Db, ORIGIN, RP_ID, config, relying_party};

/// Registers a new credential for `user` on `authenticator`, passing the state through `db`.
pub fn register(
    rp: &WebAuthn,
    db: &mut Db,
    authenticator: &mut SoftAuthenticator,
    user: Uuid,
    existing: &[StoredCredential],
) -> StoredCredential {
    let challenge = rp.start_registration(user, "alice", "Alice Example", existing).unwrap();
    let row = db.put(&challenge.state);
    let answer = authenticator.register(ORIGIN, &challenge.options).unwrap();
    rp.finish_registration(&answer, &db.take(row)).unwrap()
}

#[test]
fn register_then_authenticate() {
    let rp = relying_party();
    let mut db = Db::default();
    let mut key = SoftAuthenticator::new();
    let user = Uuid::new_v4();

    let challenge = rp.start_registration(user, "alice", "Alice Example", &[]).unwrap();
    let public_key = &challenge.options["publicKey"];
    assert_eq!(public_key["rp"]["id"], RP_ID);
    assert_eq!(public_key["rp"]["name"], "AutoPMO");
    assert_eq!(public_key["user"]["name"], "alice");
    assert_eq!(public_key["authenticatorSelection"]["userVerification"], "required");
    assert!(public_key.get("excludeCredentials").is_none_or(|v| v.as_array().is_some_and(Vec::is_empty)));
    let row = db.put(&challenge.state);
    let answer = key.register(ORIGIN, &challenge.options).unwrap();
    let stored = rp.finish_registration(&answer, &db.take(row)).unwrap();
    let id = stored.credential_id().unwrap();
    assert_eq!(answer["id"], id.as_str(), "the id is the one browsers report");

    let challenge = rp.start_authentication(std::slice::from_ref(&stored)).unwrap();
    let allowed = challenge.options["publicKey"]["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1);
    assert_eq!(allowed[0]["id"], id.as_str());
    let row = db.put(&challenge.state);
    let answer = key.authenticate(ORIGIN, &challenge.options).unwrap();
    let first = rp.finish_authentication(&answer, &db.take(row)).unwrap();
    assert_eq!(first.credential_id, id);
    assert!(first.counter > 0, "the soft passkey has a signature counter");
    let updated = first.updated.expect("the counter moved, so the credential must be stored again");
    assert_eq!(updated.credential_id().unwrap(), id);

    // Next time, with the updated credential: the counter keeps rising.
    let challenge = rp.start_authentication(&[updated]).unwrap();
    let row = db.put(&challenge.state);
    let answer = key.authenticate(ORIGIN, &challenge.options).unwrap();
    let second = rp.finish_authentication(&answer, &db.take(row)).unwrap();
    assert_eq!(second.credential_id, id);
    assert!(second.counter > first.counter);
    assert!(second.updated.is_some());
}

#[test]
fn state_survives_a_restart_between_begin_and_finish() {
    // Begin on one server instance, finish on another built from the same settings: only the
    // state text carries the ceremony.
    let mut db = Db::default();
    let mut key = SoftAuthenticator::new();
    let challenge = relying_party().start_registration(Uuid::new_v4(), "bob", "", &[]).unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&challenge.state).is_ok(), "state is JSON text");
    assert_eq!(challenge.options["publicKey"]["user"]["displayName"], "bob", "empty display name falls back");
    let row = db.put(&challenge.state);
    let answer = key.register(ORIGIN, &challenge.options).unwrap();
    let stored = relying_party().finish_registration(&answer, &db.take(row)).unwrap();

    let challenge = relying_party().start_authentication(std::slice::from_ref(&stored)).unwrap();
    let row = db.put(&challenge.state);
    let answer = key.authenticate(ORIGIN, &challenge.options).unwrap();
    let done = relying_party().finish_authentication(&answer, &db.take(row)).unwrap();
    assert_eq!(done.credential_id, stored.credential_id().unwrap());
}

#[test]
fn localhost_origins_work_for_development() {
    for origin in ["https://localhost", "https://localhost:8443", "http://localhost:8080"] {
        let rp = WebAuthn::new(&config("localhost", origin)).unwrap();
        let mut key = SoftAuthenticator::new();
        let challenge = rp.start_registration(Uuid::new_v4(), "carol", "Carol", &[]).unwrap();
        let answer = key.register(origin, &challenge.options).unwrap();
        let stored = rp.finish_registration(&answer, &challenge.state).unwrap();
        let challenge = rp.start_authentication(&[stored]).unwrap();
        let answer = key.authenticate(origin, &challenge.options).unwrap();
        rp.finish_authentication(&answer, &challenge.state).unwrap();
    }
}

#[test]
fn two_credentials_per_user_and_exclusion_on_re_registration() {
    let rp = relying_party();
    let mut db = Db::default();
    let user = Uuid::new_v4();
    let mut yubikey = SoftAuthenticator::new();
    let mut laptop = SoftAuthenticator::new();
    let first = register(&rp, &mut db, &mut yubikey, user, &[]);

    // Registering again sends the existing credential as excluded ...
    let challenge = rp.start_registration(user, "alice", "Alice Example", std::slice::from_ref(&first)).unwrap();
    let excluded = challenge.options["publicKey"]["excludeCredentials"].as_array().unwrap();
    assert_eq!(excluded.len(), 1);
    assert_eq!(excluded[0]["id"], first.credential_id().unwrap().as_str());
    // ... so the authenticator that holds it refuses, and another one registers a second credential.
    let refusal = yubikey.register(ORIGIN, &challenge.options).unwrap_err();
    assert!(refusal.contains("InvalidStateError"), "{refusal}");
    let row = db.put(&challenge.state);
    let answer = laptop.register(ORIGIN, &challenge.options).unwrap();
    let second = rp.finish_registration(&answer, &db.take(row)).unwrap();
    assert_ne!(first.credential_id().unwrap(), second.credential_id().unwrap());

    // A third registration excludes both.
    let both = [first.clone(), second.clone()];
    let challenge = rp.start_registration(user, "alice", "Alice Example", &both).unwrap();
    assert_eq!(challenge.options["publicKey"]["excludeCredentials"].as_array().unwrap().len(), 2);
    assert!(laptop.register(ORIGIN, &challenge.options).is_err());

    // Either authenticator signs in against the pair, and the result says which one did.
    for (authenticator, expected) in [(&mut yubikey, &first), (&mut laptop, &second)] {
        let challenge = rp.start_authentication(&both).unwrap();
        assert_eq!(challenge.options["publicKey"]["allowCredentials"].as_array().unwrap().len(), 2);
        let row = db.put(&challenge.state);
        let answer = authenticator.authenticate(ORIGIN, &challenge.options).unwrap();
        let done = rp.finish_authentication(&answer, &db.take(row)).unwrap();
        assert_eq!(done.credential_id, expected.credential_id().unwrap());
        assert_eq!(done.updated.unwrap().credential_id().unwrap(), done.credential_id);
    }
}

#[test]
fn the_relying_party_is_shareable() {
    fn assert_shareable<T: Clone + Send + Sync + std::fmt::Debug + 'static>() {}
    assert_shareable::<WebAuthn>();
    let rp = relying_party();
    let clone = rp.clone();
    let challenge = std::thread::spawn(move || clone.start_authentication(&[]).unwrap_err()).join().unwrap();
    assert!(matches!(challenge, autopmo_webauthn::WebAuthnError::Ceremony(_)));
    assert!(format!("{rp:?}").contains("example.org"));
}
