//! The account service over a real store, on SQLite and PostgreSQL.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

use autopmo_audit::Actor;
use autopmo_auth::AuthError;
use autopmo_auth::accounts::{Accounts, NewUser};
use autopmo_crypto::password::{Params, PoolLimits};
use autopmo_crypto::{Keyring, PasswordHasher};
use autopmo_domain::{DisplayName, Email, ManualClock, Role, UserStatus, Username};
use autopmo_identity::password_policy::PasswordPolicy;
use autopmo_store::sessions::{self, Session, SessionKind};
use autopmo_store::{Store, StoreOptions, audit, migrate};
use autopmo_test_support::{TestDb, backend_tests};
use autopmo_trail::AuditTrail;
use secrecy::SecretString;
use std::sync::Arc;
use time::macros::datetime;

pub const STRONG: &str = "correct horse battery staple 42";

mod login;
mod roles;
mod sms;

/// Cheap hashing parameters: these tests are about the rules, not the cost.
pub fn cheap_hasher() -> PasswordHasher {
    PasswordHasher::new(Params::danger_below_owasp_minimum(256, 1, 1).unwrap(), PoolLimits::new(2, 64).unwrap())
        .unwrap()
}

/// A migrated store, its trail on a manual clock, and the clock.
pub async fn trail(db: &TestDb) -> (AuditTrail, ManualClock) {
    let store = Store::connect(&StoreOptions::new(db.url.clone())).await.unwrap();
    let t0 = datetime!(2026-12-04 09:00 UTC);
    migrate::migrate(&store, t0).await.unwrap();
    let clock = ManualClock::new(t0);
    (AuditTrail::new(store, Arc::new(Keyring::generate().unwrap()), Arc::new(clock.clone())), clock)
}

async fn service(db: &TestDb) -> (Accounts, AuditTrail) {
    let (trail, _) = trail(db).await;
    (Accounts::new(trail.clone(), cheap_hasher(), PasswordPolicy::default()), trail)
}

pub fn new_user(name: &str, password: Option<&str>, roles: Vec<Role>) -> NewUser {
    NewUser {
        username: Username::parse(name).unwrap(),
        email: Email::parse(&format!("{name}@example.org")).unwrap(),
        display_name: DisplayName::parse(name).unwrap(),
        roles,
        password: password.map(|p| SecretString::from(p.to_owned())),
        must_change_password: false,
    }
}

pub async fn events(trail: &AuditTrail, event_type: &str) -> usize {
    let mut conn = trail.store().read().await.unwrap();
    let filter = audit::AuditFilter { event_type: Some(event_type.to_owned()), ..Default::default() };
    audit::list(&mut conn, &filter, None, 100).await.unwrap().len()
}

async fn open_session(trail: &AuditTrail, user_id: &str, id: &str) {
    let now = trail.now();
    let session = Session {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        kind: SessionKind::Api,
        created_at: now,
        last_seen_at: now,
        absolute_expires_at: now + time::Duration::hours(8),
        auth_time: now,
        amr: vec!["pwd".to_owned()],
        revoked: None,
    };
    let mut uow = trail.store().begin().await.unwrap();
    sessions::insert(uow.conn(), &session, &format!("secret-{id}")).await.unwrap();
    uow.commit().await.unwrap();
}

async fn passwords_follow_the_policy(db: TestDb) {
    let (accounts, trail) = service(&db).await;
    let actor = Actor::default();
    for weak in ["short", "password1234", "alice-secret-2026!", "aaaaaaaaaaaaaaaa"] {
        match accounts.create(new_user("alice", Some(weak), vec![Role::Developer]), &actor).await {
            Err(AuthError::Invalid(message)) => assert!(!message.contains(weak), "the message repeats the password"),
            other => panic!("{weak:?} was accepted: {other:?}"),
        }
    }
    let alice = accounts.create(new_user("alice", Some(STRONG), vec![Role::Developer]), &actor).await.unwrap();
    let (found, stored) = trail.store().person_for_login("alice").await.unwrap().unwrap();
    assert_eq!(found.id, alice.id);
    let (hash, must_change) = stored.unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert!(!must_change);
    // Same email in another case: refused.
    let mut twin = new_user("alice2", Some(STRONG), vec![Role::Developer]);
    twin.email = Email::parse("ALICE@example.org").unwrap();
    assert!(matches!(accounts.create(twin, &actor).await, Err(AuthError::Duplicate(_))));
    assert_eq!(events(&trail, "user.created").await, 1);
}

async fn password_changes_and_disabling_end_sessions(db: TestDb) {
    let (accounts, trail) = service(&db).await;
    let actor = Actor::default();
    let bob = accounts.create(new_user("bob", Some(STRONG), vec![Role::ProjectManager]), &actor).await.unwrap();
    let id = bob.id.to_string();
    open_session(&trail, &id, "s1").await;
    open_session(&trail, &id, "s2").await;
    let ended =
        accounts.set_password(&bob, &SecretString::from("another long passphrase 77".to_owned()), false, &actor).await;
    assert_eq!(ended.unwrap(), 2);
    open_session(&trail, &id, "s3").await;
    assert_eq!(accounts.disable(&bob, &actor).await.unwrap(), 1);
    let mut conn = trail.store().read().await.unwrap();
    assert!(sessions::active_for_user(&mut conn, &id).await.unwrap().is_empty());
    assert_eq!(autopmo_store::users::get(&mut conn, bob.id).await.unwrap().status, UserStatus::Disabled);
    drop(conn);
    assert_eq!(events(&trail, "user.password_changed").await, 1);
    assert_eq!(events(&trail, "user.disabled").await, 1);
    accounts.unlock(&bob, &actor).await.unwrap();
    assert_eq!(events(&trail, "user.unlocked").await, 1);
}

async fn the_first_administrator_is_made_once(db: TestDb) {
    let (accounts, trail) = service(&db).await;
    let actor = Actor::default();
    let (admin, password) = accounts.bootstrap(&actor).await.unwrap().unwrap();
    assert_eq!(admin.roles, vec![Role::SystemAdmin]);
    assert!(secrecy::ExposeSecret::expose_secret(&password).len() >= 20);
    let (found, stored) = trail.store().person_for_login(admin.username.as_str()).await.unwrap().unwrap();
    assert_eq!(found.id, admin.id);
    assert!(stored.unwrap().1, "the bootstrap password must be changed at first login");
    assert!(accounts.bootstrap(&actor).await.unwrap().is_none(), "a second start creates no one");
    assert_eq!(events(&trail, "security.alert").await, 1);
}

backend_tests!(
    invitations_make_one_account_each,
    passwords_follow_the_policy,
    password_changes_and_disabling_end_sessions,
    the_first_administrator_is_made_once
);

async fn invitations_make_one_account_each(db: TestDb) {
    let (trail, clock) = trail(&db).await;
    let accounts = Accounts::new(trail.clone(), cheap_hasher(), PasswordPolicy::default());
    let actor = Actor::default();
    let email = Email::parse("Nina@Example.org").unwrap();
    let invitation =
        accounts.invite(&email, vec![Role::Stakeholder], time::Duration::hours(72), None, &actor).await.unwrap();
    let token = secrecy::ExposeSecret::expose_secret(&invitation.token).to_owned();
    assert!(token.starts_with("apmo_inv_"));
    let accept = |name: &str| {
        accounts.accept_invite(
            &token,
            Username::parse(name).unwrap(),
            DisplayName::parse(name).unwrap(),
            SecretString::from(STRONG.to_owned()),
            &actor,
        )
    };
    let nina = accept("nina").await.unwrap();
    assert_eq!(nina.roles, vec![Role::Stakeholder], "the roles come from the invitation");
    assert_eq!(nina.email.normalized(), "nina@example.org");
    assert!(matches!(accept("nina2").await, Err(AuthError::Invalid(_))), "an invitation is used once");
    // An expired one is refused.
    let late = accounts
        .invite(
            &Email::parse("omar@example.org").unwrap(),
            vec![Role::Developer],
            time::Duration::hours(1),
            None,
            &actor,
        )
        .await
        .unwrap();
    clock.advance(time::Duration::hours(2));
    let late_token = secrecy::ExposeSecret::expose_secret(&late.token).to_owned();
    let refused = accounts
        .accept_invite(
            &late_token,
            Username::parse("omar").unwrap(),
            DisplayName::parse("Omar").unwrap(),
            SecretString::from(STRONG.to_owned()),
            &actor,
        )
        .await;
    assert!(matches!(refused, Err(AuthError::Invalid(_))));
    assert!(matches!(
        accounts
            .accept_invite(
                "apmo_inv_made-up",
                Username::parse("x-y-z").unwrap(),
                DisplayName::parse("X").unwrap(),
                SecretString::from(STRONG.to_owned()),
                &actor
            )
            .await,
        Err(AuthError::Invalid(_))
    ));
    assert_eq!(events(&trail, "user.invited").await, 2);
}
