//! Service accounts (users of kind `service`), their keys, and role sets.

use super::{T0, open, seed_user, user};
use autopmo_domain::{Role, UserStatus};
use autopmo_store::service_accounts::{self, EMAIL_DOMAIN, ServiceAccount, ServiceAccountSort};
use autopmo_store::users::UserKind;
use autopmo_store::{Direction, ListParams, Store, tokens, users};
use autopmo_test_support::{TestDb, backend_tests};
use sha2::{Digest, Sha256};
use sqlx::Row;
use time::Duration;

fn account(name: &str, roles: Vec<Role>) -> ServiceAccount {
    let mut u = user(name, T0);
    u.email = autopmo_domain::Email::parse(&format!("{name}@{EMAIL_DOMAIN}")).unwrap();
    u.roles = roles;
    ServiceAccount { user: u, description: format!("{name} for tests") }
}

async fn seed_account(store: &Store, name: &str, roles: Vec<Role>) -> ServiceAccount {
    let a = account(name, roles);
    let mut uow = store.begin().await.unwrap();
    service_accounts::insert(uow.conn(), &a).await.unwrap();
    uow.commit().await.unwrap();
    a
}

fn random(seed: u8) -> [u8; 32] {
    let mut out = [seed; 32];
    out[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    out
}

async fn service_accounts_are_users_of_their_own_kind(db: TestDb) {
    let store = open(&db).await;
    let alice = seed_user(&store, "alice").await;
    let bot = seed_account(&store, "ci-bot", vec![Role::Developer]).await;
    seed_account(&store, "agent-7", vec![Role::Stakeholder, Role::Auditor]).await;
    let mut conn = store.read().await.unwrap();

    assert_eq!(service_accounts::get(&mut conn, bot.user.id).await.unwrap(), bot);
    assert!(service_accounts::get(&mut conn, alice.id).await.is_err(), "a person is not a service account");
    assert_eq!(service_accounts::find_by_name(&mut conn, "CI-Bot").await.unwrap().unwrap().user.id, bot.user.id);
    assert_eq!(users::kind(&mut conn, bot.user.id).await.unwrap(), UserKind::Service);
    assert_eq!(users::kind(&mut conn, alice.id).await.unwrap(), UserKind::Person);

    // Sign-in lookups never find a service account, by name or by email.
    assert!(users::find_by_login(&mut conn, "ci-bot").await.unwrap().is_none());
    assert!(users::find_by_login(&mut conn, &format!("ci-bot@{EMAIL_DOMAIN}")).await.unwrap().is_none());
    assert_eq!(users::find_by_login(&mut conn, "alice").await.unwrap().unwrap().id, alice.id);
    let (found, kind) = users::find_by_username(&mut conn, "ci-bot").await.unwrap().unwrap();
    assert_eq!((found.id, kind), (bot.user.id, UserKind::Service));
    assert!(users::username_taken(&mut conn, "CI-BOT").await.unwrap());
    assert!(!users::username_taken(&mut conn, "nobody").await.unwrap());

    // The service-account list holds service accounts only, with their roles;
    // the user list holds everyone.
    let params = ListParams { limit: 1, cursor: None, sort: ServiceAccountSort::Name, direction: Direction::Asc };
    let first = service_accounts::list(&mut conn, &params).await.unwrap();
    assert_eq!(first.items.len(), 1);
    assert_eq!(first.items[0].user.username.as_str(), "agent-7");
    assert_eq!(first.items[0].user.roles, vec![Role::Stakeholder, Role::Auditor]);
    let cursor = autopmo_store::Cursor::decode(first.next_cursor.as_deref().unwrap());
    let second = service_accounts::list(&mut conn, &ListParams { cursor, ..params }).await.unwrap();
    assert_eq!(second.items, vec![bot.clone()]);
    assert!(second.next_cursor.is_none());
    let params = ListParams { limit: 50, cursor: None, sort: users::UserSort::Username, direction: Direction::Asc };
    assert_eq!(users::list(&mut conn, &params).await.unwrap().items.len(), 3);
    drop(conn);

    // A new description counts a new version; a person has no description to set.
    let mut uow = store.begin().await.unwrap();
    service_accounts::set_description(uow.conn(), bot.user.id, "builds", T0 + Duration::hours(1)).await.unwrap();
    assert!(service_accounts::set_description(uow.conn(), alice.id, "x", T0).await.is_err());
    uow.commit().await.unwrap();
    let mut conn = store.read().await.unwrap();
    let changed = service_accounts::get(&mut conn, bot.user.id).await.unwrap();
    assert_eq!((changed.description.as_str(), changed.user.version), ("builds", 2));

    // The name is unique among all users.
    drop(conn);
    let mut uow = store.begin().await.unwrap();
    let mut clash = account("alice", vec![]);
    clash.user.email = autopmo_domain::Email::parse("other@service-accounts.invalid").unwrap();
    assert!(service_accounts::insert(uow.conn(), &clash).await.is_err());
}

async fn service_keys_are_hashed_and_match_the_kind(db: TestDb) {
    let store = open(&db).await;
    let alice = seed_user(&store, "alice").await;
    let bot = seed_account(&store, "ci-bot", vec![Role::Developer]).await;
    let mut uow = store.begin().await.unwrap();
    let key = tokens::issue_service_key(uow.conn(), bot.user.id, "ci", random(1), T0, Some(T0 + Duration::days(90)))
        .await
        .unwrap();
    let short =
        tokens::issue_service_key(uow.conn(), bot.user.id, "short", random(2), T0, Some(T0 + Duration::hours(1)))
            .await
            .unwrap();
    // A personal token for a service account, and a service key for a person,
    // are never accepted (made here directly; the services refuse to).
    let pat_for_bot = tokens::issue(uow.conn(), bot.user.id, "wrong", random(3), T0, None).await.unwrap();
    let sak_for_alice = tokens::issue_service_key(uow.conn(), alice.id, "wrong", random(4), T0, None).await.unwrap();
    let alice_pat = tokens::issue(uow.conn(), alice.id, "cli", random(5), T0, None).await.unwrap();
    uow.commit().await.unwrap();

    let body = key.secret.strip_prefix(tokens::SERVICE_KEY_PREFIX).unwrap();
    assert_eq!(body.len(), 43, "256 bits in base64url");
    assert!(body.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    assert!(tokens::is_api_key(&key.secret) && tokens::is_api_key(&alice_pat.secret));
    assert!(!tokens::is_api_key("eyJhbGciOiJSUzI1NiJ9.x.y") && !tokens::is_api_key("apmo_rt_x"));

    // Only the SHA-256 is stored: no column of the table holds the secret.
    let rows = sqlx::query("SELECT id, user_id, name, token_hash, created_at, expires_at, revoked_at FROM api_tokens")
        .fetch_all(store.reader())
        .await
        .unwrap();
    let row = rows.iter().find(|r| r.get::<String, _>("id") == key.id.to_string()).unwrap();
    let expected = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        Sha256::digest(key.secret.as_bytes()),
    );
    assert_eq!(row.get::<String, _>("token_hash"), expected);
    for row in &rows {
        for i in 0..7 {
            let value = row.try_get::<Option<String>, _>(i).unwrap().unwrap_or_default();
            assert!(!value.contains(body), "column {i} holds the secret");
        }
    }

    let mut conn = store.read().await.unwrap();
    let (id, who) = tokens::authenticate(&mut conn, &key.secret, T0).await.unwrap().unwrap();
    assert_eq!((id, who.id, who.roles.clone()), (key.id, bot.user.id, vec![Role::Developer]));
    assert!(tokens::authenticate(&mut conn, &alice_pat.secret, T0).await.unwrap().is_some());
    assert!(tokens::authenticate(&mut conn, &pat_for_bot.secret, T0).await.unwrap().is_none());
    assert!(tokens::authenticate(&mut conn, &sak_for_alice.secret, T0).await.unwrap().is_none());
    // The same random part under the other prefix is another (unknown) key.
    let swapped = format!("{}{body}", tokens::PREFIX);
    assert!(tokens::authenticate(&mut conn, &swapped, T0).await.unwrap().is_none());
    // Expiry.
    assert!(tokens::authenticate(&mut conn, &short.secret, T0).await.unwrap().is_some());
    assert!(tokens::authenticate(&mut conn, &short.secret, T0 + Duration::hours(1)).await.unwrap().is_none());

    // Metadata only, oldest first.
    let keys = tokens::list_for_user(&mut conn, bot.user.id).await.unwrap();
    let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["ci", "short", "wrong"]);
    assert_eq!(keys[0].expires_at, Some(T0 + Duration::days(90)));
    assert_eq!(tokens::get(&mut conn, key.id).await.unwrap(), keys[0]);
    drop(conn);

    // Revoking one key, then all keys of a disabled account.
    let mut uow = store.begin().await.unwrap();
    tokens::revoke(uow.conn(), short.id, T0).await.unwrap();
    assert_eq!(tokens::revoke_all_for_user(uow.conn(), bot.user.id, T0).await.unwrap(), 2);
    users::set_status(uow.conn(), bot.user.id, UserStatus::Disabled, T0).await.unwrap();
    uow.commit().await.unwrap();
    let mut conn = store.read().await.unwrap();
    assert!(tokens::authenticate(&mut conn, &key.secret, T0).await.unwrap().is_none());
    assert!(tokens::list_for_user(&mut conn, bot.user.id).await.unwrap().iter().all(|k| k.revoked_at.is_some()));
}

async fn role_sets_replace_the_roles_and_count_a_version(db: TestDb) {
    let store = open(&db).await;
    let alice = seed_user(&store, "alice").await;
    let bob = seed_user(&store, "bob").await;
    let mut conn = store.read().await.unwrap();
    assert_eq!(users::count_active_with_role(&mut conn, Role::SystemAdmin).await.unwrap(), 0);
    drop(conn);
    let mut uow = store.begin().await.unwrap();
    users::set_roles(uow.conn(), alice.id, &[Role::SystemAdmin, Role::Auditor], T0).await.unwrap();
    users::set_roles(uow.conn(), bob.id, &[Role::SystemAdmin], T0).await.unwrap();
    uow.commit().await.unwrap();
    let mut conn = store.read().await.unwrap();
    let after = users::get(&mut conn, alice.id).await.unwrap();
    assert_eq!((after.roles, after.version), (vec![Role::SystemAdmin, Role::Auditor], 2));
    assert_eq!(users::count_active_with_role(&mut conn, Role::SystemAdmin).await.unwrap(), 2);
    drop(conn);
    let mut uow = store.begin().await.unwrap();
    users::set_status(uow.conn(), bob.id, UserStatus::Disabled, T0).await.unwrap();
    users::set_roles(uow.conn(), alice.id, &[], T0).await.unwrap();
    assert!(users::set_roles(uow.conn(), autopmo_domain::UserId::new(), &[], T0).await.is_err());
    drop(uow);
    let mut conn = store.read().await.unwrap();
    // The dropped unit changed nothing.
    assert_eq!(users::get(&mut conn, alice.id).await.unwrap().roles.len(), 2);
    assert_eq!(users::count_active_with_role(&mut conn, Role::SystemAdmin).await.unwrap(), 2);
}

backend_tests!(
    service_accounts_are_users_of_their_own_kind,
    service_keys_are_hashed_and_match_the_kind,
    role_sets_replace_the_roles_and_count_a_version,
);
