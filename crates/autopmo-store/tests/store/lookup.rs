//! The reads every authenticated request makes (`Store::session_with_user`,
//! `session_with_user_by_secret`, `project_with_members`): on SQLite they run
//! on the calling thread through their own connections, on PostgreSQL
//! through the pool. Either way they must answer exactly what the pooled
//! reads answer, and see every commit at once (a revoked session or a
//! removed role counts on the very next request).

use super::{T0, open, seed_project, seed_user};
use autopmo_domain::{Member, MemberKind, ProjectId, Role, UserId};
use autopmo_store::migrate;
use autopmo_store::sessions::{self, Session, SessionKind};
use autopmo_store::{Backend, Freshness, Store, StoreError, StoreOptions, credentials, members, projects, users};
use autopmo_test_support::{TestDb, backend_tests};

fn session(id: &str, user: UserId) -> Session {
    Session {
        id: id.to_owned(),
        user_id: user.to_string(),
        kind: SessionKind::Browser,
        created_at: T0,
        last_seen_at: T0,
        absolute_expires_at: T0 + time::Duration::hours(8),
        auth_time: T0,
        amr: vec!["pwd".to_owned(), "otp".to_owned()],
        revoked: None,
    }
}

async fn add_member(store: &Store, project: ProjectId, user: UserId) {
    let m = Member {
        project_id: project,
        user_id: user,
        kind: MemberKind::Member,
        created_at: T0,
        updated_at: T0,
        version: 1,
    };
    let mut uow = store.begin().await.unwrap();
    members::insert(uow.conn(), &m).await.unwrap();
    uow.commit().await.unwrap();
}

async fn request_lookups_answer_what_the_pool_answers(db: TestDb) {
    let store = open(&db).await;
    assert_eq!(store.same_thread_reads(), store.backend() == Backend::Sqlite);
    let alice = seed_user(&store, "alice").await;
    let bob = seed_user(&store, "bob").await;
    let carol = seed_user(&store, "carol").await;
    let mut uow = store.begin().await.unwrap();
    users::set_roles(uow.conn(), alice.id, &[Role::Developer, Role::Auditor, Role::ProjectManager], T0).await.unwrap();
    users::set_roles(uow.conn(), carol.id, &[], T0).await.unwrap();
    sessions::insert(uow.conn(), &session("ses-a", alice.id), "hash-a").await.unwrap();
    sessions::insert(uow.conn(), &session("ses-b", bob.id), "hash-b").await.unwrap();
    sessions::insert(uow.conn(), &session("ses-c", carol.id), "hash-c").await.unwrap();
    uow.commit().await.unwrap();
    let staffed = seed_project(&store, alice.id, "Staffed").await;
    let empty = seed_project(&store, alice.id, "Empty").await;
    add_member(&store, staffed.id, bob.id).await;
    add_member(&store, staffed.id, carol.id).await;

    let mut conn = store.read().await.unwrap();
    // Sessions, by id and by the hash of their secret, with their user
    // and the user's roles (several, one, none), in the pool's order.
    for (id, hash, user) in [("ses-a", "hash-a", alice.id), ("ses-b", "hash-b", bob.id), ("ses-c", "hash-c", carol.id)]
    {
        let pooled = sessions::get(&mut conn, id).await.unwrap().unwrap();
        let both = Some((pooled, Some(users::get(&mut conn, user).await.unwrap())));
        assert_eq!(store.session_with_user(id, Freshness::Recent).await.unwrap(), both);
        assert_eq!(store.session_with_user_by_secret(hash, Freshness::Recent).await.unwrap(), both);
    }
    assert_eq!(
        store.session_with_user("ses-c", Freshness::Recent).await.unwrap().unwrap().1.unwrap().roles,
        Vec::<Role>::new()
    );
    assert_eq!(store.session_with_user("ses-none", Freshness::Recent).await.unwrap(), None);
    assert_eq!(store.session_with_user_by_secret("hash-none", Freshness::Recent).await.unwrap(), None);
    // Projects with their members' ids (several, none).
    for p in [&staffed, &empty] {
        let (project, mut ids) = store.project_with_members(p.id, Freshness::Recent).await.unwrap();
        let mut pooled_ids = members::user_ids(&mut conn, p.id).await.unwrap();
        ids.sort();
        pooled_ids.sort();
        assert_eq!(project, projects::get(&mut conn, p.id).await.unwrap());
        assert_eq!(ids, pooled_ids);
    }
    assert!(store.project_with_members(empty.id, Freshness::Recent).await.unwrap().1.is_empty());
    assert!(matches!(store.project_with_members(ProjectId::new(), Freshness::Recent).await, Err(StoreError::NotFound)));
    drop(conn);

    // What a login reads: the person by login name or email (any case),
    // their password, and the client address's throttle state.
    let mut uow = store.begin().await.unwrap();
    credentials::set_password(uow.conn(), &alice.id.to_string(), "$argon2id$stored", true, T0).await.unwrap();
    credentials::save_address_throttle(uow.conn(), "addr-1", r#"{"failures":2}"#, T0).await.unwrap();
    uow.commit().await.unwrap();
    let mut conn = store.read().await.unwrap();
    for login in ["alice", " ALICE ", "Alice@Example.org", "bob"] {
        let pooled = users::find_by_login(&mut conn, login).await.unwrap().unwrap();
        assert_eq!(store.person_for_login(login).await.unwrap().unwrap().0, pooled, "{login}");
    }
    assert_eq!(store.person_for_login("alice").await.unwrap().unwrap().1, Some(("$argon2id$stored".to_owned(), true)));
    assert_eq!(store.person_for_login("bob").await.unwrap().unwrap().1, None, "no password set");
    assert_eq!(store.person_for_login("nobody").await.unwrap(), None);
    assert_eq!(
        store.address_throttle("addr-1").await.unwrap(),
        credentials::address_throttle(&mut conn, "addr-1").await.unwrap()
    );
    assert_eq!(store.address_throttle("addr-2").await.unwrap(), None);
}

/// Every commit is seen by the next lookup: a revoked session, a role taken
/// away, a member removed, a project changed.
async fn request_lookups_see_every_commit_at_once(db: TestDb) {
    let store = open(&db).await;
    let alice = seed_user(&store, "alice").await;
    let bob = seed_user(&store, "bob").await;
    let p = seed_project(&store, alice.id, "Watched").await;
    add_member(&store, p.id, bob.id).await;
    let mut uow = store.begin().await.unwrap();
    sessions::insert(uow.conn(), &session("ses-w", bob.id), "hash-w").await.unwrap();
    sessions::insert(uow.conn(), &session("ses-aw", alice.id), "hash-aw").await.unwrap();
    uow.commit().await.unwrap();
    // Warm whatever the lookups keep between calls.
    assert!(store.session_with_user("ses-w", Freshness::Recent).await.unwrap().unwrap().0.revoked.is_none());
    let alice_of = |s: Option<(Session, Option<autopmo_domain::User>)>| s.unwrap().1.unwrap();
    assert_eq!(
        alice_of(store.session_with_user("ses-aw", Freshness::Recent).await.unwrap()).roles,
        vec![Role::ProjectManager]
    );
    assert_eq!(store.project_with_members(p.id, Freshness::Recent).await.unwrap().1, vec![bob.id.to_string()]);

    let later = T0 + time::Duration::minutes(5);
    let mut uow = store.begin().await.unwrap();
    assert!(sessions::revoke(uow.conn(), "ses-w", "logout", later).await.unwrap());
    users::set_roles(uow.conn(), alice.id, &[Role::Developer], later).await.unwrap();
    members::delete(uow.conn(), p.id, bob.id, None).await.unwrap();
    uow.commit().await.unwrap();

    let revoked = store.session_with_user("ses-w", Freshness::Recent).await.unwrap().unwrap().0.revoked;
    assert_eq!(revoked.map(|r| r.1).as_deref(), Some("logout"));
    assert_eq!(
        store.session_with_user_by_secret("hash-w", Freshness::Recent).await.unwrap().unwrap().0.revoked.map(|r| r.0),
        Some(later)
    );
    let alice_now = alice_of(store.session_with_user_by_secret("hash-aw", Freshness::Recent).await.unwrap());
    assert_eq!(alice_now.roles, vec![Role::Developer]);
    assert_eq!(alice_now.version, 2);
    assert!(store.project_with_members(p.id, Freshness::Recent).await.unwrap().1.is_empty());
}

/// Lookups made while the writer commits in a loop always find a whole
/// row: a version that was committed, never a torn or missing one.
async fn request_lookups_during_writes_see_committed_rows(db: TestDb) {
    let store = open(&db).await;
    let alice = seed_user(&store, "alice").await;
    let p = seed_project(&store, alice.id, "Busy").await;
    let writer = tokio::spawn({
        let store = store.clone();
        async move {
            for n in 0..60_i64 {
                let mut uow = store.begin().await.unwrap();
                let mut current = {
                    let mut conn = store.read().await.unwrap();
                    projects::get(&mut conn, p.id).await.unwrap()
                };
                current.description = autopmo_domain::Description::parse(&format!("round {n}")).unwrap();
                let version = current.version;
                projects::update(uow.conn(), &current, version).await.unwrap();
                uow.commit().await.unwrap();
            }
        }
    });
    let mut last = 0;
    while !writer.is_finished() {
        let (project, _) = store.project_with_members(p.id, Freshness::Recent).await.unwrap();
        assert!(project.version >= last, "a lookup went back in time: {} after {last}", project.version);
        assert_eq!(project.description.as_str().is_empty(), project.version == 1);
        last = project.version;
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    assert_eq!(store.project_with_members(p.id, Freshness::Recent).await.unwrap().0.version, 61);
}

/// A session revoked by another process (a second store on the same
/// database: another server, or the CLI on the same SQLite file) is seen by
/// a `Recent` read within the cache's bound, and by a `Current` read at
/// once; a missing session is never kept, so one created elsewhere is found
/// at once.
async fn another_process_changes_are_seen_within_the_bound(db: TestDb) {
    let bound = std::time::Duration::from_millis(300);
    let store =
        Store::connect(&StoreOptions { session_cache: bound, ..StoreOptions::new(db.url.clone()) }).await.unwrap();
    migrate::migrate(&store, T0).await.unwrap();
    let other = Store::connect(&StoreOptions::new(db.url.clone())).await.unwrap();
    let alice = seed_user(&store, "alice").await;
    assert_eq!(store.session_with_user("ses-x", Freshness::Recent).await.unwrap(), None);
    let before = store.recent_reads_generation();
    let mut uow = other.begin().await.unwrap();
    sessions::insert(uow.conn(), &session("ses-x", alice.id), "hash-x").await.unwrap();
    uow.commit().await.unwrap();
    let revoked = |s: Option<(Session, Option<autopmo_domain::User>)>| s.unwrap().0.revoked.is_some();
    assert!(!revoked(store.session_with_user("ses-x", Freshness::Recent).await.unwrap()), "found at once");

    let mut uow = other.begin().await.unwrap();
    assert!(sessions::revoke(uow.conn(), "ses-x", "admin", T0).await.unwrap());
    uow.commit().await.unwrap();
    if store.backend() == Backend::Postgres {
        // Both commits are announced; let the notifications arrive, so that
        // only the bound can make what is read next stale.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while store.recent_reads_generation() < before + 2 {
            assert!(std::time::Instant::now() < deadline, "no notification of the other store's commits");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    let started = std::time::Instant::now();
    let generation = store.recent_reads_generation();
    assert!(revoked(store.session_with_user("ses-x", Freshness::Current).await.unwrap()));
    // The Current read kept the revoked session: Recent reads see it too.
    assert!(revoked(store.session_with_user("ses-x", Freshness::Recent).await.unwrap()));
    assert!(started.elapsed() < bound);

    // Un-revoke elsewhere (no such path exists; it shows the cache in use):
    // until the bound has passed a Recent read may still give the old copy,
    // after it never.
    let mut conn = other.read().await.unwrap();
    sqlx::query("UPDATE sessions SET revoked_at = NULL, revoked_reason = NULL WHERE id = 'ses-x'")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let kept = store.session_with_user("ses-x", Freshness::Recent).await.unwrap();
    let fresh = store.session_with_user("ses-x", Freshness::Current).await.unwrap();
    assert!(!revoked(fresh));
    if started.elapsed() < bound && store.recent_reads_generation() == generation {
        assert!(revoked(kept), "within the bound, the entry is the copy read before");
    }
    tokio::time::sleep(bound).await;
    let mut uow = other.begin().await.unwrap();
    assert!(sessions::revoke(uow.conn(), "ses-x", "admin", T0).await.unwrap());
    uow.commit().await.unwrap();
    tokio::time::sleep(bound).await;
    assert!(revoked(store.session_with_user("ses-x", Freshness::Recent).await.unwrap()), "after the bound");
    assert!(revoked(store.session_with_user_by_secret("hash-x", Freshness::Recent).await.unwrap()));
    other.close().await;
}

/// PostgreSQL: a unit committed by another server is announced, and this
/// store's cache is made stale when the notification arrives, not only
/// when the bound has passed. (SQLite has no notifications: the bound.)
async fn another_servers_commit_is_announced(db: TestDb) {
    let store = open(&db).await;
    if store.backend() == Backend::Sqlite {
        return;
    }
    let other = Store::connect(&StoreOptions::new(db.url.clone())).await.unwrap();
    let alice = seed_user(&store, "alice").await;
    let mut uow = store.begin().await.unwrap();
    sessions::insert(uow.conn(), &session("ses-n", alice.id), "hash-n").await.unwrap();
    uow.commit().await.unwrap();
    assert!(store.session_with_user("ses-n", Freshness::Recent).await.unwrap().unwrap().0.revoked.is_none());
    let before = store.recent_reads_generation();
    let mut uow = other.begin().await.unwrap();
    assert!(sessions::revoke(uow.conn(), "ses-n", "admin", T0).await.unwrap());
    uow.commit().await.unwrap();
    // This store commits nothing: only the notification can move it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.recent_reads_generation() == before {
        assert!(std::time::Instant::now() < deadline, "no notification of the other server's commit");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(store.session_with_user("ses-n", Freshness::Recent).await.unwrap().unwrap().0.revoked.is_some());
    // Its own commits are not announced back to it as someone else's:
    // the generation moves once, at the commit, not again later.
    let mut uow = store.begin().await.unwrap();
    assert!(!sessions::revoke(uow.conn(), "ses-n", "again", T0).await.unwrap());
    uow.commit().await.unwrap();
    let after_own = store.recent_reads_generation();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(store.recent_reads_generation(), after_own);
    other.close().await;
}

/// A unit that only slides a session's idle timeout leaves the cache as it
/// is (on PostgreSQL it is not announced either); any other unit, even one
/// that writes nothing about sessions, makes it stale.
async fn a_slide_leaves_the_cache(db: TestDb) {
    let store = open(&db).await;
    let alice = seed_user(&store, "alice").await;
    let mut uow = store.begin().await.unwrap();
    sessions::insert(uow.conn(), &session("ses-s", alice.id), "hash-s").await.unwrap();
    uow.commit().await.unwrap();
    // Connected (and listening) after those commits: it hears only of later ones.
    let other = Store::connect(&StoreOptions::new(db.url.clone())).await.unwrap();
    let cached = store.session_with_user("ses-s", Freshness::Recent).await.unwrap().unwrap().0;
    let (mine, theirs) = (store.recent_reads_generation(), other.recent_reads_generation());

    let later = T0 + time::Duration::minutes(2);
    let mut uow = store.begin().await.unwrap();
    uow.only_slides_sessions();
    sessions::touch(uow.conn(), "ses-s", later).await.unwrap();
    uow.commit().await.unwrap();
    assert_eq!(store.recent_reads_generation(), mine);
    assert_eq!(store.session_with_user("ses-s", Freshness::Recent).await.unwrap().unwrap().0, cached);
    assert_eq!(store.session_with_user("ses-s", Freshness::Current).await.unwrap().unwrap().0.last_seen_at, later);

    seed_project(&store, alice.id, "Unrelated").await;
    assert!(store.recent_reads_generation() > mine, "any other unit makes the cache stale");
    if store.backend() == Backend::Postgres {
        // The project's commit is announced; the slide was not (had it
        // been, the generation would have moved twice).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while other.recent_reads_generation() == theirs {
            assert!(std::time::Instant::now() < deadline, "no notification of the project's commit");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(other.recent_reads_generation(), theirs + 1);
    }
    other.close().await;
}

/// A project read with `Recent` is used again until a unit of work commits
/// or its own bound has passed (the sessions' bound, zero here, is another
/// setting; `recent.rs` tests that each kind keeps its own); `Current`
/// always reads; a zero bound keeps nothing; a missing project is never
/// kept. (The changes below are made outside any unit of work, by another
/// connection, so that only the bound can make the copy stale: no such
/// path exists in the product.)
async fn projects_are_kept_within_their_bound(db: TestDb) {
    let bound = std::time::Duration::from_millis(300);
    let options = StoreOptions {
        project_cache: bound,
        session_cache: std::time::Duration::ZERO,
        ..StoreOptions::new(db.url.clone())
    };
    let store = Store::connect(&options).await.unwrap();
    migrate::migrate(&store, T0).await.unwrap();
    let off =
        Store::connect(&StoreOptions { project_cache: std::time::Duration::ZERO, ..StoreOptions::new(db.url.clone()) })
            .await
            .unwrap();
    let alice = seed_user(&store, "alice").await;
    let p = seed_project(&store, alice.id, "Kept").await;
    let rename = |to: &'static str| {
        let off = off.clone();
        async move {
            let mut conn = off.read().await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE projects SET name = '{to}' WHERE id = '{}'", p.id)))
                .execute(&mut *conn)
                .await
                .unwrap();
        }
    };
    let name = |found: Result<(autopmo_domain::Project, Vec<String>), StoreError>| found.unwrap().0.name.to_string();

    let missing = ProjectId::new();
    assert!(matches!(store.project_with_members(missing, Freshness::Recent).await, Err(StoreError::NotFound)));
    let started = std::time::Instant::now();
    let generation = store.recent_reads_generation();
    assert_eq!(name(store.project_with_members(p.id, Freshness::Recent).await), "Kept");
    rename("Renamed").await;
    let kept = name(store.project_with_members(p.id, Freshness::Recent).await);
    assert_eq!(name(store.project_with_members(p.id, Freshness::Current).await), "Renamed");
    assert_eq!(name(off.project_with_members(p.id, Freshness::Recent).await), "Renamed", "a zero bound keeps nothing");
    if started.elapsed() < bound && store.recent_reads_generation() == generation {
        assert_eq!(kept, "Kept", "within the bound, the entry is the copy read before");
    }
    // The Current read was kept; after the bound it is read again.
    rename("Third").await;
    tokio::time::sleep(bound).await;
    assert_eq!(name(store.project_with_members(p.id, Freshness::Recent).await), "Third", "after the bound");
    off.close().await;
}

backend_tests!(
    a_slide_leaves_the_cache,
    projects_are_kept_within_their_bound,
    another_servers_commit_is_announced,
    request_lookups_answer_what_the_pool_answers,
    request_lookups_see_every_commit_at_once,
    request_lookups_during_writes_see_committed_rows,
    another_process_changes_are_seen_within_the_bound,
);
