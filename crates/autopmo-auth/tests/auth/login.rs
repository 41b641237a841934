//! Password login: Keycloak's brute-force numbers through the service, a
//! burst of parallel wrong passwords, one answer for every refusal.

use crate::{STRONG, cheap_hasher, events, new_user, trail};
use autopmo_audit::Actor;
use autopmo_auth::accounts::Accounts;
use autopmo_auth::login::{Attempt, LoginPolicy, Logins, Refusal};
use autopmo_domain::Role;
use autopmo_identity::password_policy::PasswordPolicy;
use autopmo_store::credentials;
use autopmo_test_support::{TestDb, backend_tests};
use secrecy::SecretString;
use time::Duration;

fn attempt(login: &str, password: &str, address: &str) -> Attempt {
    Attempt {
        login: login.to_owned(),
        password: SecretString::from(password.to_owned()),
        address: Some(address.to_owned()),
        actor: Actor::default(),
    }
}

async fn setup(db: &TestDb) -> (Logins, autopmo_trail::AuditTrail, autopmo_domain::ManualClock) {
    let (trail, clock) = trail(db).await;
    let accounts = Accounts::new(trail.clone(), cheap_hasher(), PasswordPolicy::default());
    accounts.create(new_user("alice", Some(STRONG), vec![Role::ProjectManager]), &Actor::default()).await.unwrap();
    (Logins::new(trail.clone(), cheap_hasher(), LoginPolicy::default()), trail, clock)
}

async fn lockouts_follow_keycloak(db: TestDb) {
    let (logins, trail, clock) = setup(&db).await;
    // Four wrong passwords, well apart: no lockout; the right one works.
    for _ in 0..4 {
        clock.advance(Duration::seconds(10));
        assert_eq!(
            logins.login(attempt("alice", "wrong wrong wrong", "198.51.100.1")).await.unwrap().unwrap_err(),
            Refusal::InvalidCredentials
        );
    }
    clock.advance(Duration::seconds(10));
    assert!(logins.login(attempt("alice", STRONG, "198.51.100.1")).await.unwrap().is_ok(), "success resets the count");
    // Five failures: locked for 60 s; even the right password is refused, and not counted.
    for _ in 0..5 {
        clock.advance(Duration::seconds(10));
        assert!(logins.login(attempt("alice", "wrong wrong wrong", "198.51.100.1")).await.unwrap().is_err());
    }
    clock.advance(Duration::seconds(30));
    assert_eq!(
        logins.login(attempt("ALICE@example.org", STRONG, "198.51.100.1")).await.unwrap().unwrap_err(),
        Refusal::InvalidCredentials
    );
    clock.advance(Duration::seconds(31));
    let grant = logins.login(attempt("alice@example.org", STRONG, "198.51.100.1")).await.unwrap().unwrap();
    assert_eq!(grant.session.amr, ["pwd"]);
    assert!(events(&trail, "auth.account_locked").await >= 1);
    assert_eq!(events(&trail, "auth.login").await, 2);
}

async fn a_parallel_burst_cannot_skip_the_lockout(db: TestDb) {
    let (logins, trail, _clock) = setup(&db).await;
    let mut handles = Vec::new();
    for i in 0..30 {
        let logins = logins.clone();
        // One of them carries the right password.
        let password = if i == 29 { STRONG } else { "wrong wrong wrong" };
        handles
            .push(tokio::spawn(async move { logins.login(attempt("alice", password, "198.51.100.2")).await.unwrap() }));
    }
    let mut refused = 0;
    for h in handles {
        refused += usize::from(h.await.unwrap().is_err());
    }
    // The clock did not move: after the first settled failures the account is
    // locked, so no more than a lockout's worth of failures were counted.
    let mut conn = trail.store().read().await.unwrap();
    let users = autopmo_store::users::find_by_login(&mut conn, "alice").await.unwrap().unwrap();
    let state: serde_json::Value =
        serde_json::from_str(&credentials::login_failures(&mut conn, &users.id.to_string()).await.unwrap().unwrap())
            .unwrap();
    let counted = state["num_failures"].as_u64().unwrap();
    assert!(counted <= 5, "counted {counted} failures in one burst");
    assert!(refused >= 29, "only {refused} refused");
}

async fn every_refusal_looks_the_same(db: TestDb) {
    let (logins, trail, clock) = setup(&db).await;
    let accounts = Accounts::new(trail.clone(), cheap_hasher(), PasswordPolicy::default());
    let bob = accounts.create(new_user("bob", Some(STRONG), vec![Role::Developer]), &Actor::default()).await.unwrap();
    accounts.disable(&bob, &Actor::default()).await.unwrap();
    let unknown = logins.login(attempt("nobody", STRONG, "198.51.100.3")).await.unwrap().unwrap_err();
    let wrong = logins.login(attempt("alice", "wrong wrong wrong", "198.51.100.3")).await.unwrap().unwrap_err();
    let disabled = logins.login(attempt("bob", STRONG, "198.51.100.3")).await.unwrap().unwrap_err();
    clock.advance(Duration::minutes(1));
    assert_eq!([unknown, wrong, disabled], [Refusal::InvalidCredentials; 3]);
    // Past the address budget, the address itself is blocked (and that alerts).
    for _ in 0..25 {
        let _ = logins.login(attempt("nobody", "x", "198.51.100.4")).await.unwrap();
    }
    assert!(matches!(
        logins.login(attempt("alice", STRONG, "198.51.100.4")).await.unwrap(),
        Err(Refusal::AddressBlocked { .. })
    ));
    assert!(
        logins.login(attempt("alice", STRONG, "198.51.100.5")).await.unwrap().is_ok(),
        "other addresses are not blocked"
    );
    assert!(events(&trail, "security.alert").await >= 1);
}

backend_tests!(lockouts_follow_keycloak, a_parallel_burst_cannot_skip_the_lockout, every_refusal_looks_the_same);
