//! Role administration and service accounts through the services: every
//! change audited with what it changed, sessions ended on a role change,
//! the last administrator kept, service accounts without `system_admin`,
//! without sign-in, with keys stored only as hashes.

use crate::{STRONG, cheap_hasher, events, new_user, open_session, trail};
use autopmo_audit::{Actor, AuditRecord};
use autopmo_auth::AuthError;
use autopmo_auth::accounts::Accounts;
use autopmo_auth::login::{Attempt, LoginPolicy, Logins, Refusal};
use autopmo_auth::roles::{self, ChangedBy};
use autopmo_auth::service_accounts::{self, NewServiceAccount};
use autopmo_domain::{DisplayName, Note, Role, UserStatus, Username};
use autopmo_identity::password_policy::PasswordPolicy;
use autopmo_store::{StoreError, audit, sessions, tokens};
use autopmo_test_support::{TestDb, backend_tests};
use autopmo_trail::AuditTrail;
use secrecy::{ExposeSecret, SecretString};

fn by() -> ChangedBy {
    ChangedBy {
        actor: Actor { user_id: Some("admin-id".to_owned()), ..Actor::default() },
        request_id: Some("req-1".to_owned()),
        session_id: None,
    }
}

async fn all_events(trail: &AuditTrail, event_type: &str) -> Vec<AuditRecord> {
    let mut conn = trail.store().read().await.unwrap();
    let filter = audit::AuditFilter { event_type: Some(event_type.to_owned()), ..Default::default() };
    audit::list(&mut conn, &filter, None, 100).await.unwrap()
}

fn metadata(record: &AuditRecord) -> serde_json::Value {
    serde_json::from_str(&record.metadata).unwrap()
}

async fn role_changes_end_sessions_and_record_old_and_new_roles(db: TestDb) {
    let (trail, _) = trail(&db).await;
    let accounts = Accounts::new(trail.clone(), cheap_hasher(), PasswordPolicy::default());
    let dana = accounts.create(new_user("dana", None, vec![Role::Developer]), &Actor::default()).await.unwrap();
    open_session(&trail, &dana.id.to_string(), "d1").await;
    open_session(&trail, &dana.id.to_string(), "d2").await;

    let wanted = vec![Role::Stakeholder, Role::ProjectManager, Role::Stakeholder];
    let change = roles::change_now(&trail, dana.id, wanted, &by()).await.unwrap();
    assert!(change.changed());
    assert_eq!(change.new, vec![Role::ProjectManager, Role::Stakeholder], "sorted, each once");
    assert_eq!((change.added(), change.removed()), (change.new.clone(), vec![Role::Developer]));
    assert_eq!((change.sessions_ended, change.user.version), (2, 2));
    let mut conn = trail.store().read().await.unwrap();
    assert!(sessions::active_for_user(&mut conn, &dana.id.to_string()).await.unwrap().is_empty());
    drop(conn);

    let recorded = all_events(&trail, "user.roles_changed").await;
    assert_eq!(recorded.len(), 1);
    let event = &recorded[0];
    assert_eq!(event.category, autopmo_audit::Category::Authorization);
    assert_eq!(event.actor.user_id.as_deref(), Some("admin-id"));
    assert_eq!(event.request_id.as_deref(), Some("req-1"));
    assert_eq!(event.resource.as_ref().unwrap().id.as_deref(), Some(dana.id.to_string().as_str()));
    assert_eq!(
        metadata(event),
        serde_json::json!({
            "old_roles": ["developer"],
            "new_roles": ["project_manager", "stakeholder"],
            "added": ["project_manager", "stakeholder"],
            "removed": ["developer"],
            "sessions_ended": 2,
            "version": 2,
            "via": "administration",
        })
    );

    // The same set again: nothing changes, nothing is recorded, no session ends.
    open_session(&trail, &dana.id.to_string(), "d3").await;
    let same = roles::change_now(&trail, dana.id, vec![Role::Stakeholder, Role::ProjectManager], &by()).await.unwrap();
    assert!(!same.changed());
    assert_eq!((same.sessions_ended, same.user.version), (0, 2));
    assert_eq!(events(&trail, "user.roles_changed").await, 1);
    let mut conn = trail.store().read().await.unwrap();
    assert_eq!(sessions::active_for_user(&mut conn, &dana.id.to_string()).await.unwrap().len(), 1);
    drop(conn);

    // A stale version is refused; nothing changes.
    let mut uow = trail.store().begin().await.unwrap();
    let stale = roles::change(&mut uow, dana.id, vec![], Some(1), &by(), trail.now()).await;
    assert!(matches!(stale, Err(AuthError::Store(StoreError::VersionMismatch { current: 2 }))), "{stale:?}");
    drop(uow);
    let unknown = roles::change_now(&trail, autopmo_domain::UserId::new(), vec![], &by()).await;
    assert!(matches!(unknown, Err(AuthError::UnknownUser)));
    // No privileged grant, no alert.
    assert_eq!(events(&trail, "security.alert").await, 0);
}

async fn the_last_administrator_keeps_the_role(db: TestDb) {
    let (trail, _) = trail(&db).await;
    let accounts = Accounts::new(trail.clone(), cheap_hasher(), PasswordPolicy::default());
    let root = accounts.create(new_user("root", None, vec![Role::SystemAdmin]), &Actor::default()).await.unwrap();
    let eve = accounts.create(new_user("eve", None, vec![Role::Auditor]), &Actor::default()).await.unwrap();
    assert_eq!(events(&trail, "security.alert").await, 1, "creating root raised the alert");

    let refused = roles::change_now(&trail, root.id, vec![Role::Auditor], &by()).await;
    assert!(matches!(refused, Err(AuthError::LastAdministrator)), "{refused:?}");
    // Granting system_admin to a second person raises the privileged-role alert.
    roles::change_now(&trail, eve.id, vec![Role::Auditor, Role::SystemAdmin], &by()).await.unwrap();
    let alerts = all_events(&trail, "security.alert").await;
    assert_eq!(alerts.len(), 2);
    assert!(alerts.iter().any(|a| a.metadata.contains("privileged_role_granted") && a.request_id.is_some()));
    // Now root may lose it; then eve is the last one.
    roles::change_now(&trail, root.id, vec![Role::Auditor], &by()).await.unwrap();
    assert!(matches!(roles::change_now(&trail, eve.id, vec![], &by()).await, Err(AuthError::LastAdministrator)));
    // A disabled administrator does not count, and may lose the role.
    accounts.disable(&eve, &Actor::default()).await.unwrap();
    roles::change_now(&trail, eve.id, vec![], &by()).await.unwrap();
    assert_eq!(events(&trail, "user.roles_changed").await, 3);
}

async fn service_accounts_hold_scoped_roles_and_their_own_keys(db: TestDb) {
    let (trail, _) = trail(&db).await;
    let accounts = Accounts::new(trail.clone(), cheap_hasher(), PasswordPolicy::default());
    accounts.create(new_user("alice", Some(STRONG), vec![Role::ProjectManager]), &Actor::default()).await.unwrap();
    let new = |name: &str, roles: Vec<Role>| NewServiceAccount {
        name: Username::parse(name).unwrap(),
        description: Note::parse("nightly builds").unwrap(),
        roles,
    };
    let in_unit = async |new: NewServiceAccount| {
        let mut uow = trail.store().begin().await.unwrap();
        let made = service_accounts::create(&mut uow, new, &by(), trail.now()).await;
        if made.is_ok() {
            uow.commit().await.unwrap();
        }
        made
    };
    let admin = in_unit(new("ops-bot", vec![Role::SystemAdmin])).await;
    assert!(matches!(&admin, Err(AuthError::Invalid(m)) if m == roles::SERVICE_ADMIN_REFUSED), "{admin:?}");
    assert!(matches!(in_unit(new("alice", vec![])).await, Err(AuthError::Duplicate("name"))));
    let bot = in_unit(new("ci-bot", vec![Role::Developer])).await.unwrap();
    assert_eq!(bot.user.email.as_str(), "ci-bot@service-accounts.invalid");
    assert_eq!(events(&trail, "service_account.created").await, 1);

    // system_admin stays refused through role administration too.
    let raised = roles::change_now(&trail, bot.user.id, vec![Role::SystemAdmin], &by()).await;
    assert!(matches!(raised, Err(AuthError::Invalid(_))), "{raised:?}");

    // A key: shown once, only its hash stored, never in the audit trail.
    let mut uow = trail.store().begin().await.unwrap();
    let name = DisplayName::parse("ci").unwrap();
    let key = service_accounts::create_key(&mut uow, bot.user.id, &name, 90, &by(), trail.now()).await.unwrap();
    uow.commit().await.unwrap();
    let secret = key.secret.expose_secret().to_owned();
    assert!(secret.starts_with("apmo_sak_") && secret.len() == 52);
    assert_eq!(key.key.expires_at, Some(trail.now() + time::Duration::days(90)));
    let mut conn = trail.store().read().await.unwrap();
    let (_, who) = tokens::authenticate(&mut conn, &secret, trail.now()).await.unwrap().unwrap();
    assert_eq!(who.id, bot.user.id);
    let everything = audit::range(&mut conn, i64::MIN, i64::MAX, 10_000).await.unwrap();
    assert!(everything.iter().all(|e| !format!("{e:?}").contains(&secret[9..])), "the secret reached the trail");
    drop(conn);

    // Roles change without touching the keys; the description is its own event.
    let mut uow = trail.store().begin().await.unwrap();
    let (after, change) = service_accounts::update(
        &mut uow,
        bot.user.id,
        Some(Note::parse("builds and tests").unwrap()),
        Some(vec![Role::Developer, Role::Stakeholder]),
        1,
        &by(),
        trail.now(),
    )
    .await
    .unwrap();
    uow.commit().await.unwrap();
    assert_eq!(after.description, "builds and tests");
    assert_eq!(after.user.roles, vec![Role::Developer, Role::Stakeholder]);
    assert_eq!(change.unwrap().added(), vec![Role::Stakeholder]);
    assert_eq!((events(&trail, "service_account.updated").await, events(&trail, "user.roles_changed").await), (1, 1));
    let mut conn = trail.store().read().await.unwrap();
    let (_, who) = tokens::authenticate(&mut conn, &secret, trail.now()).await.unwrap().unwrap();
    assert_eq!(who.roles, vec![Role::Developer, Role::Stakeholder], "roles are read fresh");
    drop(conn);

    // Disabling revokes every key; a disabled account gets no new key.
    let alices = alice_key(&trail).await;
    let mut uow = trail.store().begin().await.unwrap();
    let other = service_accounts::create_key(&mut uow, bot.user.id, &name, 1, &by(), trail.now()).await.unwrap();
    let foreign = service_accounts::revoke_key(&mut uow, bot.user.id, alices.id, &by(), trail.now()).await;
    assert!(matches!(foreign, Err(AuthError::UnknownKey)), "another user's key is not this account's");
    service_accounts::revoke_key(&mut uow, bot.user.id, other.key.id, &by(), trail.now()).await.unwrap();
    assert_eq!(service_accounts::disable(&mut uow, bot.user.id, None, &by(), trail.now()).await.unwrap(), Some(1));
    assert_eq!(service_accounts::disable(&mut uow, bot.user.id, None, &by(), trail.now()).await.unwrap(), None);
    let late = service_accounts::create_key(&mut uow, bot.user.id, &name, 1, &by(), trail.now()).await;
    assert!(matches!(late, Err(AuthError::Inactive)), "{late:?}");
    uow.commit().await.unwrap();
    let mut conn = trail.store().read().await.unwrap();
    assert!(tokens::authenticate(&mut conn, &secret, trail.now()).await.unwrap().is_none());
    let stored = autopmo_store::service_accounts::get(&mut conn, bot.user.id).await.unwrap();
    assert_eq!(stored.user.status, UserStatus::Disabled);
    drop(conn);
    for (event, count) in
        [("service_account.key_created", 2), ("service_account.key_revoked", 1), ("service_account.disabled", 1)]
    {
        assert_eq!(events(&trail, event).await, count, "{event}");
    }
}

/// A personal token of alice (to try to revoke it as a service account's key).
async fn alice_key(trail: &AuditTrail) -> tokens::KeyInfo {
    let mut uow = trail.store().begin().await.unwrap();
    let alice = autopmo_store::users::find_by_login(uow.conn(), "alice").await.unwrap().unwrap();
    let issued = tokens::issue(uow.conn(), alice.id, "cli", [7; 32], trail.now(), None).await.unwrap();
    let info = tokens::get(uow.conn(), issued.id).await.unwrap();
    uow.commit().await.unwrap();
    info
}

async fn service_accounts_cannot_sign_in_or_reset_a_password(db: TestDb) {
    let (trail, _) = trail(&db).await;
    let mut uow = trail.store().begin().await.unwrap();
    let new = NewServiceAccount {
        name: Username::parse("ci-bot").unwrap(),
        description: Note::parse("").unwrap(),
        roles: vec![Role::Developer],
    };
    service_accounts::create(&mut uow, new, &by(), trail.now()).await.unwrap();
    uow.commit().await.unwrap();
    let logins = Logins::new(trail.clone(), cheap_hasher(), LoginPolicy::default());
    for login in ["ci-bot", "ci-bot@service-accounts.invalid"] {
        let attempt = Attempt {
            login: login.to_owned(),
            password: SecretString::from(STRONG.to_owned()),
            address: Some("198.51.100.9".to_owned()),
            actor: Actor::default(),
        };
        assert_eq!(logins.login(attempt).await.unwrap().unwrap_err(), Refusal::InvalidCredentials, "{login}");
    }
    let failed = all_events(&trail, "auth.login_failed").await;
    assert!(failed.iter().all(|e| e.metadata.contains("invalid_credentials") && e.actor.user_id.is_none()));
    let passwords = autopmo_auth::reset::Passwords::new(
        trail.clone(),
        cheap_hasher(),
        PasswordPolicy::default(),
        logins,
        "https://pmo.example.org",
    );
    passwords.request_reset("ci-bot@service-accounts.invalid", &Actor::default()).await.unwrap();
    let requested = all_events(&trail, "auth.password_reset_requested").await;
    assert_eq!(metadata(&requested[0])["account"], "unknown_or_inactive");
}

backend_tests!(
    role_changes_end_sessions_and_record_old_and_new_roles,
    the_last_administrator_keeps_the_role,
    service_accounts_hold_scoped_roles_and_their_own_keys,
    service_accounts_cannot_sign_in_or_reset_a_password,
);
