//! Store tests. Every test runs twice: on a fresh SQLite file and on a fresh
//! PostgreSQL database (see `autopmo-test-support`).

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

use autopmo_domain::*;
use autopmo_store::migrate::{self, MIGRATIONS};
use autopmo_store::projects::{ProjectFilter, ProjectSort};
use autopmo_store::tasks::{TaskFilter, TaskSort};
use autopmo_store::visibility::{CmpOp, Visibility};
use autopmo_store::{
    Direction, Freshness, ListParams, Store, StoreError, StoreOptions, members, projects, tasks, users,
};
use autopmo_test_support::{TestDb, backend_tests};
use time::OffsetDateTime;
use time::macros::datetime;

mod audit_query;
mod cancel;
mod group_commit;
mod lookup;
mod service_accounts;

const T0: OffsetDateTime = datetime!(2026-12-04 09:00 UTC);

async fn open(db: &TestDb) -> Store {
    let store = Store::connect(&StoreOptions::new(db.url.clone())).await.unwrap();
    migrate::migrate(&store, T0).await.unwrap();
    store
}

fn user(name: &str, at: OffsetDateTime) -> User {
    User {
        id: UserId::new(),
        username: Username::parse(name).unwrap(),
        email: Email::parse(&format!("{name}@example.org")).unwrap(),
        display_name: DisplayName::parse(name).unwrap(),
        status: UserStatus::Active,
        roles: vec![Role::ProjectManager],
        created_at: at,
        updated_at: at,
        version: 1,
    }
}

fn project(name: &str, owner: UserId, at: OffsetDateTime) -> Project {
    Project {
        id: ProjectId::new(),
        name: ProjectName::parse(name).unwrap(),
        description: Description::parse("").unwrap(),
        budget: Money::parse("1250.50", "USD").unwrap(),
        owner_id: owner,
        status: ProjectStatus::Active,
        planned: PlannedDates::default(),
        created_at: at,
        updated_at: at,
        version: 1,
    }
}

fn task(project: ProjectId, title: &str, deps: Vec<TaskId>) -> Task {
    Task {
        id: TaskId::new(),
        project_id: project,
        title: TaskTitle::parse(title).unwrap(),
        description: Description::parse("").unwrap(),
        status: TaskStatus::Todo,
        assignee_id: None,
        estimate_hours: Some(Hours::parse("7.5").unwrap()),
        actual_hours: None,
        planned: PlannedDates::default(),
        percent_complete: Percent::default(),
        depends_on: deps,
        created_at: T0,
        updated_at: T0,
        version: 1,
    }
}

async fn seed_user(store: &Store, name: &str) -> User {
    let u = user(name, T0);
    let mut uow = store.begin().await.unwrap();
    users::insert(uow.conn(), &u).await.unwrap();
    uow.commit().await.unwrap();
    u
}

async fn seed_project(store: &Store, owner: UserId, name: &str) -> Project {
    let p = project(name, owner, T0);
    let mut uow = store.begin().await.unwrap();
    projects::insert(uow.conn(), &p).await.unwrap();
    uow.commit().await.unwrap();
    p
}

async fn add_task(store: &Store, t: &Task) -> Result<(), StoreError> {
    let mut uow = store.begin().await?;
    projects::lock(uow.conn(), t.project_id).await?;
    tasks::check_dependencies(uow.conn(), t.project_id, t.id, &t.depends_on).await?;
    tasks::insert(uow.conn(), t).await?;
    uow.commit().await
}

async fn crud(db: TestDb) {
    let store = open(&db).await;
    let alice = seed_user(&store, "alice").await;
    let mut conn = store.reader().acquire().await.unwrap();
    assert_eq!(users::get(&mut conn, alice.id).await.unwrap(), alice);
    assert_eq!(users::find_by_login(&mut conn, "ALICE@example.org").await.unwrap().unwrap().id, alice.id);

    let p = seed_project(&store, alice.id, "Apollo").await;
    assert_eq!(projects::get(&mut conn, p.id).await.unwrap(), p);

    let mut changed = p.clone();
    changed.name = ProjectName::parse("Apollo II").unwrap();
    changed.budget = Money::parse("99.99", "EUR").unwrap();
    let mut uow = store.begin().await.unwrap();
    let updated = projects::update(uow.conn(), &changed, 1).await.unwrap();
    uow.commit().await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.budget.to_string(), "99.99 EUR");

    let member = Member {
        project_id: p.id,
        user_id: alice.id,
        kind: MemberKind::Manager,
        created_at: T0,
        updated_at: T0,
        version: 1,
    };
    let mut uow = store.begin().await.unwrap();
    members::insert(uow.conn(), &member).await.unwrap();
    let t = task(p.id, "Design", vec![]);
    tasks::insert(uow.conn(), &t).await.unwrap();
    let c = CostEntry {
        id: CostEntryId::new(),
        project_id: p.id,
        entry_date: time::macros::date!(2026 - 12 - 01),
        amount: Amount::parse("10.25", Currency::parse("EUR").unwrap()).unwrap(),
        category: CostCategory::Labor,
        note: Note::parse("pairing").unwrap(),
        created_at: T0,
        updated_at: T0,
        version: 1,
    };
    autopmo_store::costs::insert(uow.conn(), &c).await.unwrap();
    uow.commit().await.unwrap();
    assert_eq!(tasks::get(&mut conn, p.id, t.id).await.unwrap(), t);
    assert_eq!(autopmo_store::costs::get(&mut conn, p.id, c.id).await.unwrap(), c);
    assert_eq!(members::get(&mut conn, p.id, alice.id).await.unwrap(), member);

    // Deleting the project takes its members, tasks and costs with it.
    let mut uow = store.begin().await.unwrap();
    projects::delete(uow.conn(), p.id, Some(2)).await.unwrap();
    uow.commit().await.unwrap();
    assert!(matches!(projects::get(&mut conn, p.id).await, Err(StoreError::NotFound)));
    assert!(matches!(tasks::get(&mut conn, p.id, t.id).await, Err(StoreError::NotFound)));
    assert!(store.integrity_check().await.unwrap().is_empty());
}

async fn constraints(db: TestDb) {
    let store = open(&db).await;
    let alice = seed_user(&store, "alice").await;
    // Same username, and same email in another case: both refused.
    let mut dup = user("alice", T0);
    dup.email = Email::parse("other@example.org").unwrap();
    let mut uow = store.begin().await.unwrap();
    assert!(matches!(users::insert(uow.conn(), &dup).await, Err(StoreError::Duplicate(_))));
    drop(uow);
    let mut dup = user("alice2", T0);
    dup.email = Email::parse("ALICE@Example.org").unwrap();
    let mut uow = store.begin().await.unwrap();
    assert!(matches!(users::insert(uow.conn(), &dup).await, Err(StoreError::Duplicate(_))));
    drop(uow);
    // A project whose owner does not exist.
    let mut uow = store.begin().await.unwrap();
    let orphan = project("Orphan", UserId::new(), T0);
    assert!(matches!(projects::insert(uow.conn(), &orphan).await, Err(StoreError::Reference(_))));
    drop(uow);
    // The database itself refuses a negative budget and a dependency across projects.
    let a = seed_project(&store, alice.id, "A").await;
    let b = seed_project(&store, alice.id, "B").await;
    let ta = task(a.id, "in A", vec![]);
    let tb = task(b.id, "in B", vec![]);
    add_task(&store, &ta).await.unwrap();
    add_task(&store, &tb).await.unwrap();
    let mut uow = store.begin().await.unwrap();
    let raw = sqlx::query("INSERT INTO task_dependencies (project_id, task_id, depends_on_id) VALUES ($1, $2, $3)")
        .bind(a.id.to_string())
        .bind(ta.id.to_string())
        .bind(tb.id.to_string())
        .execute(uow.conn())
        .await;
    assert!(raw.is_err(), "a cross-project dependency must be refused by the schema");
    drop(uow);
    let mut uow = store.begin().await.unwrap();
    let raw = sqlx::query("UPDATE projects SET budget_minor = -1 WHERE id = $1")
        .bind(a.id.to_string())
        .execute(uow.conn())
        .await;
    assert!(raw.is_err(), "a negative budget must be refused by the schema");
    drop(uow);
    // Through the rule check: a clear error.
    let cross = task(a.id, "cross", vec![tb.id]);
    match add_task(&store, &cross).await {
        Err(StoreError::Rule(msg)) => assert!(msg.contains("not a task of this project"), "{msg}"),
        other => panic!("expected a rule error, got {other:?}"),
    }
    // Text that looks like SQL is stored verbatim and harms nothing.
    let evil = "Robert'); DROP TABLE projects; --";
    let p = seed_project(&store, alice.id, evil).await;
    let mut conn = store.reader().acquire().await.unwrap();
    assert_eq!(projects::get(&mut conn, p.id).await.unwrap().name.as_str(), evil);
    assert_eq!(projects::count(&mut conn, &ProjectFilter::default(), &Visibility::All).await.unwrap(), 3);
}

async fn migrations_apply_once(db: TestDb) {
    let store = open(&db).await;
    assert_eq!(migrate::current_version(&store).await.unwrap(), migrate::latest_version());
    let again = migrate::migrate(&store, T0).await.unwrap();
    assert!(again.applied.is_empty());
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM autopmo_schema_migrations").fetch_one(store.reader()).await.unwrap();
    assert_eq!(n, MIGRATIONS.len() as i64);
    // A database migrated by a newer AutoPMO is refused with a clear message.
    sqlx::query(
        "INSERT INTO autopmo_schema_migrations (version, name, checksum, applied_at) VALUES (9999, 'future', 'x', 'x')",
    )
    .execute(store.reader())
    .await
    .unwrap();
    let err = migrate::migrate(&store, T0).await.unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { database: 9999, .. }), "{err}");
    assert!(err.to_string().contains("newer than this AutoPMO"), "{err}");
    assert!(migrate::current_version(&store).await.is_err());
}

async fn concurrent_migrators_apply_once(db: TestDb) {
    let store = Store::connect(&StoreOptions::new(db.url.clone())).await.unwrap();
    let other = Store::connect(&StoreOptions::new(db.url.clone())).await.unwrap();
    let (a, b) = tokio::join!(migrate::migrate(&store, T0), migrate::migrate(&other, T0));
    let applied = a.unwrap().applied.len() + b.unwrap().applied.len();
    assert_eq!(applied, MIGRATIONS.len());
}

async fn dependency_cycles_are_refused(db: TestDb) {
    let store = open(&db).await;
    let alice = seed_user(&store, "alice").await;
    let p = seed_project(&store, alice.id, "Graph").await;
    let a = task(p.id, "a", vec![]);
    add_task(&store, &a).await.unwrap();
    let b = task(p.id, "b", vec![a.id]);
    add_task(&store, &b).await.unwrap();
    let c = task(p.id, "c", vec![b.id]);
    add_task(&store, &c).await.unwrap();
    // a -> c would close a -> c -> b -> a.
    let mut uow = store.begin().await.unwrap();
    projects::lock(uow.conn(), p.id).await.unwrap();
    match tasks::check_dependencies(uow.conn(), p.id, a.id, &[c.id]).await {
        Err(StoreError::Rule(msg)) => assert!(msg.contains("cycle"), "{msg}"),
        other => panic!("expected a cycle error, got {other:?}"),
    }
    // Self-dependency, too.
    assert!(tasks::check_dependencies(uow.conn(), p.id, a.id, &[a.id]).await.is_err());
    // A diamond is fine.
    tasks::check_dependencies(uow.conn(), p.id, c.id, &[a.id, b.id]).await.unwrap();
}

async fn concurrent_updates_with_same_etag_one_wins(db: TestDb) {
    let store = open(&db).await;
    let alice = seed_user(&store, "alice").await;
    let p = seed_project(&store, alice.id, "Race").await;
    let mut handles = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let mut changed = p.clone();
        changed.name = ProjectName::parse(&format!("writer {i}")).unwrap();
        handles.push(tokio::spawn(async move {
            let mut uow = store.begin().await?;
            let result = projects::update(uow.conn(), &changed, 1).await;
            match result {
                Ok(_) => uow.commit().await.map(|()| true),
                Err(StoreError::VersionMismatch { current: 2 }) => Ok(false),
                Err(e) => Err(e),
            }
        }));
    }
    let mut wins = 0;
    for h in handles {
        if h.await.unwrap().unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1, "exactly one writer holding version 1 may win");
    let mut conn = store.reader().acquire().await.unwrap();
    assert_eq!(projects::get(&mut conn, p.id).await.unwrap().version, 2);
}

async fn cursor_pagination_walks_everything_once(db: TestDb) {
    let store = open(&db).await;
    let alice = seed_user(&store, "alice").await;
    let bob = seed_user(&store, "bob").await;
    let mut uow = store.begin().await.unwrap();
    for i in 0..25 {
        // Same timestamp for many rows: the id breaks ties.
        let owner = if i % 2 == 0 { alice.id } else { bob.id };
        let p = project(&format!("P{:02}", 24 - i), owner, T0 + time::Duration::seconds(i / 3));
        projects::insert(uow.conn(), &p).await.unwrap();
    }
    uow.commit().await.unwrap();
    let mut conn = store.reader().acquire().await.unwrap();
    for (sort, direction) in [(ProjectSort::CreatedAt, Direction::Asc), (ProjectSort::Name, Direction::Desc)] {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let params = ListParams { limit: 7, cursor, sort, direction };
            let page = projects::list(&mut conn, &ProjectFilter::default(), &Visibility::All, &params).await.unwrap();
            assert!(page.items.len() <= 7);
            seen.extend(page.items.iter().map(|p| p.id));
            match page.next_cursor {
                Some(next) => cursor = Some(autopmo_store::Cursor::decode(&next).unwrap()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 25);
        let unique: std::collections::HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), 25);
    }
    let only_bob = ProjectFilter { owner_id: Some(bob.id), ..Default::default() };
    let params = ListParams { limit: 200, cursor: None, sort: ProjectSort::Name, direction: Direction::Asc };
    let page = projects::list(&mut conn, &only_bob, &Visibility::All, &params).await.unwrap();
    assert_eq!(page.items.len(), 12);
    assert!(page.items.windows(2).all(|w| w[0].name <= w[1].name));
    // A cursor made for one order is refused for another.
    let first = projects::list(
        &mut conn,
        &ProjectFilter::default(),
        &Visibility::All,
        &ListParams { limit: 1, ..params.clone() },
    )
    .await
    .unwrap();
    let cursor = autopmo_store::Cursor::decode(&first.next_cursor.unwrap()).unwrap();
    let wrong = ListParams { limit: 1, cursor: Some(cursor), sort: ProjectSort::CreatedAt, direction: Direction::Asc };
    assert!(matches!(
        projects::list(&mut conn, &ProjectFilter::default(), &Visibility::All, &wrong).await,
        Err(StoreError::Rule(_))
    ));
    // Task filters.
    let p = seed_project(&store, alice.id, "Tasks").await;
    let mut t = task(p.id, "mine", vec![]);
    t.assignee_id = Some(alice.id);
    add_task(&store, &t).await.unwrap();
    add_task(&store, &task(p.id, "nobody's", vec![])).await.unwrap();
    let filter = TaskFilter { assignee_id: Some(alice.id), ..Default::default() };
    let params = ListParams { limit: 50, cursor: None, sort: TaskSort::Title, direction: Direction::Asc };
    let page = tasks::list(&mut conn, p.id, &filter, &params).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, t.id);
}

async fn sessions_and_single_use_refresh_tokens(db: TestDb) {
    use autopmo_store::sessions::{self, RefreshToken, Session, SessionKind};
    let store = open(&db).await;
    let alice = seed_user(&store, "alice").await;
    let session = Session {
        id: "ses-1".to_owned(),
        user_id: alice.id.to_string(),
        kind: SessionKind::Api,
        created_at: T0,
        last_seen_at: T0,
        absolute_expires_at: T0 + time::Duration::hours(8),
        auth_time: T0,
        amr: vec!["pwd".to_owned()],
        revoked: None,
    };
    let token = RefreshToken {
        token_hash: "h1".to_owned(),
        session_id: session.id.clone(),
        family_id: "fam-1".to_owned(),
        issued_at: T0,
        expires_at: T0 + time::Duration::days(7),
        used_at: None,
    };
    let mut uow = store.begin().await.unwrap();
    sessions::insert(uow.conn(), &session, "secret-hash").await.unwrap();
    sessions::insert_refresh(uow.conn(), &token).await.unwrap();
    uow.commit().await.unwrap();
    let mut conn = store.read().await.unwrap();
    assert_eq!(sessions::get(&mut conn, "ses-1").await.unwrap().unwrap(), session);
    assert_eq!(
        store.session_with_user_by_secret("secret-hash", Freshness::Recent).await.unwrap().unwrap().0.id,
        "ses-1"
    );
    drop(conn);
    // Of eight concurrent spends of one token, exactly one wins.
    let mut handles = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut uow = store.begin().await.unwrap();
            let won = sessions::spend_refresh(uow.conn(), "h1", T0).await.unwrap();
            uow.commit().await.unwrap();
            won
        }));
    }
    let mut wins = 0;
    for h in handles {
        wins += usize::from(h.await.unwrap());
    }
    assert_eq!(wins, 1);
    // A reuse revokes the family's session.
    let mut uow = store.begin().await.unwrap();
    assert_eq!(sessions::revoke_family(uow.conn(), "fam-1", T0).await.unwrap(), 1);
    uow.commit().await.unwrap();
    let mut conn = store.read().await.unwrap();
    let revoked = sessions::get(&mut conn, "ses-1").await.unwrap().unwrap().revoked.unwrap();
    assert_eq!(revoked.1, "refresh_token_reuse");
    assert!(sessions::active_for_user(&mut conn, &alice.id.to_string()).await.unwrap().is_empty());
}

/// The SQL form of the authorization scope selects exactly the projects the
/// predicate describes, in list pages and in counts, budgets compared in
/// each project's own currency.
async fn visibility_filters_lists_and_counts(db: TestDb) {
    use rust_decimal::Decimal;
    let store = open(&db).await;
    let alice = seed_user(&store, "alice").await;
    let bob = seed_user(&store, "bob").await;
    let mut uow = store.begin().await.unwrap();
    let mut made = Vec::new();
    for (name, owner, amount, currency) in [
        ("usd-small", alice.id, "999999.99", "USD"),
        ("usd-big", alice.id, "1000000.01", "USD"),
        ("jpy-big", bob.id, "2000000", "JPY"),
        ("kwd-edge", bob.id, "1000000.000", "KWD"),
    ] {
        let mut p = project(name, owner, T0);
        p.budget = Money::parse(amount, currency).unwrap();
        projects::insert(uow.conn(), &p).await.unwrap();
        made.push(p);
    }
    members::insert(
        uow.conn(),
        &Member {
            project_id: made[2].id,
            user_id: alice.id,
            kind: MemberKind::Member,
            created_at: T0,
            updated_at: T0,
            version: 1,
        },
    )
    .await
    .unwrap();
    uow.commit().await.unwrap();
    let names = |vis: Visibility| {
        let store = store.clone();
        async move {
            let mut conn = store.read().await.unwrap();
            let params = ListParams { limit: 200, cursor: None, sort: ProjectSort::Name, direction: Direction::Asc };
            let page = projects::list(&mut conn, &ProjectFilter::default(), &vis, &params).await.unwrap();
            let mut names: Vec<String> = page.items.iter().map(|p| p.name.as_str().to_owned()).collect();
            names.sort();
            let count = projects::count(&mut conn, &ProjectFilter::default(), &vis).await.unwrap();
            assert_eq!(count, i64::try_from(names.len()).unwrap(), "count and list disagree for {vis:?}");
            names
        }
    };
    let a = alice.id.to_string();
    assert_eq!(names(Visibility::All).await.len(), 4);
    assert!(names(Visibility::Nothing).await.is_empty());
    assert_eq!(names(Visibility::OwnerIs(a.clone())).await, ["usd-big", "usd-small"]);
    assert_eq!(names(Visibility::MemberIs(a.clone())).await, ["jpy-big"]);
    assert_eq!(names(Visibility::Not(Box::new(Visibility::MemberIs(a.clone())))).await.len(), 3);
    assert_eq!(
        names(Visibility::Or(vec![Visibility::OwnerIs(a.clone()), Visibility::MemberIs(a.clone())])).await,
        ["jpy-big", "usd-big", "usd-small"]
    );
    let million = Decimal::from(1_000_000);
    assert_eq!(names(Visibility::Budget(CmpOp::Gt, million)).await, ["jpy-big", "usd-big"]);
    assert_eq!(names(Visibility::Budget(CmpOp::Ge, million)).await, ["jpy-big", "kwd-edge", "usd-big"]);
    assert_eq!(names(Visibility::Budget(CmpOp::Eq, million)).await, ["kwd-edge"]);
    assert_eq!(names(Visibility::Budget(CmpOp::Lt, "999999.995".parse().unwrap())).await, ["usd-small"]);
    assert_eq!(names(Visibility::Budget(CmpOp::Gt, Decimal::from(i64::MAX))).await, Vec::<String>::new());
    assert_eq!(
        names(Visibility::And(vec![
            Visibility::Not(Box::new(Visibility::CurrencyIs("USD".to_owned()))),
            Visibility::StatusIs("active".to_owned()),
            Visibility::Not(Box::new(Visibility::IdIs(made[3].id.to_string()))),
        ]))
        .await,
        ["jpy-big"]
    );
}

backend_tests!(
    visibility_filters_lists_and_counts,
    sessions_and_single_use_refresh_tokens,
    crud,
    constraints,
    migrations_apply_once,
    concurrent_migrators_apply_once,
    dependency_cycles_are_refused,
    concurrent_updates_with_same_etag_one_wins,
    cursor_pagination_walks_everything_once,
);
