//! The group commit under load: many units in flight at once still make one
//! chain, gapless and in order, and a unit that is dropped leaves nothing.

use crate::{event, open, trail_tests};
use autopmo_domain::{DisplayName, Email, Role, User, UserId, UserStatus, Username};
use autopmo_store::{Store, StoreOptions, users};
use autopmo_test_support::TestDb;
use autopmo_trail::AuditTrail;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

const TASKS: usize = 50;
const EACH: usize = 20;

/// `tasks` tasks each recording `each` events through `trail`, all at once;
/// the sequences each task got, in the order it got them.
async fn record_concurrently(trail: &AuditTrail, tasks: usize, each: usize, tag: usize) -> Vec<Vec<i64>> {
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let trail = trail.clone();
            tokio::spawn(async move {
                let mut got = Vec::with_capacity(each);
                for i in 0..each {
                    let record = trail.record(event(&trail, tag * 1_000_000 + t * 1_000 + i)).await.unwrap();
                    got.push(record.sequence);
                }
                got
            })
        })
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

async fn concurrent_units_make_one_gapless_chain(db: TestDb) {
    let fx = open(&db).await;
    let per_task = record_concurrently(&fx.trail, TASKS, EACH, 0).await;
    let total = TASKS * EACH;
    for got in &per_task {
        assert!(got.windows(2).all(|w| w[0] < w[1]), "a task's own events are chained in its order: {got:?}");
    }
    let mut acknowledged: Vec<i64> = per_task.into_iter().flatten().collect();
    acknowledged.sort_unstable();
    let expected: Vec<i64> = (1..=i64::try_from(total).unwrap()).collect();
    assert_eq!(acknowledged, expected, "each acknowledged event has its own sequence, with no gap");
    assert_eq!(fx.sequences().await, expected, "and exactly those are stored");
    let report = fx.verify().await.unwrap();
    assert_eq!(report.checked, total as u64);
    assert_eq!(report.span, Some((1, i64::try_from(total).unwrap())));
    assert_eq!(fx.head().await.0, i64::try_from(total).unwrap());
    let ids: HashSet<String> = fx.records().await.into_iter().map(|r| r.event_id).collect();
    assert_eq!(ids.len(), total, "event ids are unique");
}

async fn two_stores_on_one_database_share_one_chain(db: TestDb) {
    // Two replicas: each its own pools and group-commit writer.
    let fx = open(&db).await;
    let other = Store::connect(&StoreOptions::new(fx.url.clone())).await.unwrap();
    let replica = AuditTrail::new(other.clone(), Arc::clone(&fx.keyring), Arc::new(fx.clock.clone()));
    let (a, b) = tokio::join!(record_concurrently(&fx.trail, 10, 20, 1), record_concurrently(&replica, 10, 20, 2));
    let mut all: Vec<i64> = a.into_iter().chain(b).flatten().collect();
    all.sort_unstable();
    assert_eq!(all, (1..=400).collect::<Vec<_>>(), "one sequence across both writers");
    assert_eq!(fx.verify().await.unwrap().checked, 400);
    other.close().await;
}

fn user(name: &str) -> User {
    User {
        id: UserId::new(),
        username: Username::parse(name).unwrap(),
        email: Email::parse(&format!("{name}@example.org")).unwrap(),
        display_name: DisplayName::parse(name).unwrap(),
        status: UserStatus::Active,
        roles: vec![Role::Developer],
        created_at: crate::T0,
        updated_at: crate::T0,
        version: 1,
    }
}

async fn a_dropped_unit_leaves_no_trace(db: TestDb) {
    let fx = open(&db).await;
    let before = fx.record_n(3).await;
    let count = async || fx.sequences().await.len();

    // Begun, written to, dropped — and at once another unit.
    let dropped_id = {
        let mut uow = fx.store.begin().await.unwrap();
        let mut record = event(&fx.trail, 100);
        uow.append_audit(&mut record).await.unwrap();
        assert_eq!(record.sequence, 4, "it was given the next place");
        record.event_id
    };
    let next = fx.trail.record(event(&fx.trail, 101)).await.unwrap();
    assert_eq!(next.sequence, 4, "the next unit takes the place the dropped one had");
    assert_eq!(next.prev_hash, before[2].hash);
    assert_eq!(count().await, 4);

    // Dropped with a change in it, then left idle: the writer undoes it on its own.
    let ghost = user("ghost");
    let dropped_two = {
        let mut uow = fx.store.begin().await.unwrap();
        users::insert(uow.conn(), &ghost).await.unwrap();
        let mut first = event(&fx.trail, 102);
        let mut second = event(&fx.trail, 103);
        uow.append_audit(&mut first).await.unwrap();
        uow.append_audit(&mut second).await.unwrap();
        vec![first.event_id, second.event_id]
    };
    // Idle: the writer must not keep the chain head (or SQLite's write lock)
    // held by the dropped unit: a direct write gets through.
    tokio::time::timeout(Duration::from_secs(10), fx.exec("UPDATE audit_head SET hash = hash WHERE id = 1"))
        .await
        .expect("the writer let go of the chain head after the unit was dropped");

    // Rolled back explicitly.
    let mut uow = fx.store.begin().await.unwrap();
    let mut undone = event(&fx.trail, 104);
    uow.append_audit(&mut undone).await.unwrap();
    assert_eq!(undone.sequence, 5);
    uow.rollback().await.unwrap();

    let last = fx.trail.record(event(&fx.trail, 105)).await.unwrap();
    assert_eq!(last.sequence, 5);
    assert_eq!(last.prev_hash, next.hash);

    let stored: HashSet<String> = fx.records().await.into_iter().map(|r| r.event_id).collect();
    for gone in dropped_two.iter().chain([&dropped_id, &undone.event_id]) {
        assert!(!stored.contains(gone), "dropped event {gone} was stored");
    }
    let mut conn = fx.store.read().await.unwrap();
    assert!(!users::exists(&mut conn, ghost.id).await.unwrap(), "the change of the dropped unit was undone too");
    drop(conn);
    assert_eq!(fx.sequences().await, [1, 2, 3, 4, 5]);
    assert_eq!(fx.head().await, (5, last.hash.clone()));
    assert_eq!(fx.verify().await.unwrap().checked, 5);
}

trail_tests!(
    concurrent_units_make_one_gapless_chain,
    two_stores_on_one_database_share_one_chain,
    a_dropped_unit_leaves_no_trace,
);
