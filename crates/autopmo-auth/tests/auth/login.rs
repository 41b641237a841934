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

/// With every hashing slot taken and the queue full, a login is refused
/// (`Busy`) before any lookup and answered only after `BUSY_DELAY`; it
/// counts as no failure, and once hashing is free again the login works.
async fn a_login_refused_for_saturated_hashing_waits_and_counts_nothing(db: TestDb) {
    use autopmo_crypto::PasswordHasher;
    use autopmo_crypto::password::{Params, PoolLimits};
    let (trail, _clock) = trail(&db).await;
    let accounts = Accounts::new(trail.clone(), cheap_hasher(), PasswordPolicy::default());
    accounts.create(new_user("alice", Some(STRONG), vec![Role::ProjectManager]), &Actor::default()).await.unwrap();
    // One slot, no queue, and hashes slow enough to hold the slot.
    let slow = PasswordHasher::new(
        Params::danger_below_owasp_minimum(64 * 1024, 8, 1).unwrap(),
        PoolLimits::new(1, 0).unwrap(),
    )
    .unwrap();
    let logins = Logins::new(trail.clone(), slow.clone(), LoginPolicy::default());
    let holder = tokio::spawn({
        let slow = slow.clone();
        async move { slow.hash(&SecretString::from("a pass phrase to hash".to_owned())).await }
    });
    while !slow.saturated() {
        tokio::task::yield_now().await;
    }
    let started = std::time::Instant::now();
    let refused = logins.login(attempt("alice", "wrong wrong wrong", "198.51.100.9")).await;
    assert!(matches!(refused, Err(autopmo_auth::AuthError::Busy)), "{refused:?}");
    assert!(started.elapsed() >= autopmo_auth::login::BUSY_DELAY, "answered after {:?}", started.elapsed());
    holder.await.unwrap().unwrap();
    assert!(!slow.saturated());
    // Nothing was counted against the account or the address.
    let mut conn = trail.store().read().await.unwrap();
    let alice = autopmo_store::users::find_by_login(&mut conn, "alice").await.unwrap().unwrap();
    assert!(credentials::login_failures(&mut conn, &alice.id.to_string()).await.unwrap().is_none());
    drop(conn);
    assert_eq!(events(&trail, "auth.login_failed").await, 0);
    assert!(logins.login(attempt("alice", STRONG, "198.51.100.9")).await.unwrap().is_ok());
}

/// An access token is checked in full once and then remembered by its hash;
/// a remembered token is still refused once it expires, and a token that
/// differs by one character is checked (and refused) afresh.
async fn remembered_access_tokens_still_expire(db: TestDb) {
    use autopmo_auth::tokens::Tokens;
    use autopmo_identity::tokens::TokenPolicy;
    let (logins, trail, clock) = setup(&db).await;
    let grant = logins.login(attempt("alice", STRONG, "198.51.100.3")).await.unwrap().unwrap();
    let tokens = Tokens::new(trail.clone(), TokenPolicy::new("http://127.0.0.1:8080"));
    tokens.load().await.unwrap();
    let (token, ttl) = tokens.issue(&grant.session, &["project_manager".to_owned()]).await.unwrap();
    for _ in 0..3 {
        let claims = tokens.verify(&token).await.unwrap();
        assert_eq!(claims.sid, grant.session.id);
    }
    let mut forged = token.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    assert!(tokens.verify(std::str::from_utf8(&forged).unwrap()).await.is_none(), "a changed signature is refused");
    clock.advance(ttl + Duration::minutes(2));
    assert!(tokens.verify(&token).await.is_none(), "a remembered token is refused once expired");
}

backend_tests!(
    lockouts_follow_keycloak,
    a_parallel_burst_cannot_skip_the_lockout,
    every_refusal_looks_the_same,
    a_login_refused_for_saturated_hashing_waits_and_counts_nothing,
    remembered_access_tokens_still_expire,
);
