//! The group commit gathers the events of requests that are ready at the
//! same time into one commit, and still commits a lone event at once.
//!
//! These run on a current-thread runtime, where "ready at the same time" is
//! exact: a task that yields `k` times before recording is ready `k` rounds
//! of the scheduler after the first.

use super::{T0, open};
use autopmo_audit::{AuditRecord, Category, ChainHead, Outcome, Verifier};
use autopmo_store::{Store, StoreOptions, audit};
use autopmo_test_support::TestDb;

fn event(n: u64) -> AuditRecord {
    AuditRecord::new("test.gathered", Category::DataAccess, &format!("read {n}"), Outcome::Success, T0)
}

/// 48 requests that reach their event over four rounds of the scheduler
/// (as requests being parsed, authorized and answered do) share one commit,
/// and come back chained in one unbroken run of sequence numbers.
async fn staggered_events_share_one_commit(db: TestDb) {
    let store = open(&db).await;
    let before = store.commits();
    let tasks: Vec<_> = (0..48u64)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..n % 4 {
                    tokio::task::yield_now().await;
                }
                store.record_audit(vec![event(n)]).await.unwrap().remove(0).sequence
            })
        })
        .collect();
    let mut sequences = Vec::new();
    for task in tasks {
        sequences.push(task.await.unwrap());
    }
    assert_eq!(store.commits() - before, 1, "48 events ready within four rounds share one commit");
    sequences.sort_unstable();
    let first = sequences[0];
    assert_eq!(sequences, (first..first + 48).collect::<Vec<_>>());
}

/// An event with no other ready to join it is committed by itself, at once:
/// one after another, each is its own commit.
async fn lone_events_commit_alone(db: TestDb) {
    let store = open(&db).await;
    let before = store.commits();
    for n in 0..5u64 {
        store.record_audit(vec![event(n)]).await.unwrap();
        assert_eq!(store.commits() - before, n + 1);
    }
}

/// Two stores on one database (two servers) take turns: each event still
/// follows the one before it, whichever store wrote that, so neither may
/// chain from a head it remembers instead of the one it locks.
async fn a_head_moved_by_another_store_is_followed(db: TestDb) {
    let a = open(&db).await;
    let b = Store::connect(&StoreOptions::new(db.url.clone())).await.unwrap();
    let mut sequences = Vec::new();
    for (n, store) in [&a, &a, &b, &a, &b, &b, &a].into_iter().enumerate() {
        let recorded = store.record_audit(vec![event(n as u64), event(100 + n as u64)]).await.unwrap();
        sequences.extend(recorded.iter().map(|r| r.sequence));
    }
    let first = sequences[0];
    assert_eq!(sequences, (first..first + 14).collect::<Vec<_>>(), "one run of sequence numbers across both stores");
    let stored = audit::range(&mut a.read().await.unwrap(), first, first + 13, 100).await.unwrap();
    assert_eq!(stored.len(), 14);
    // The verifier `autopmo audit verify` uses: each event links to the one
    // before it and its hash matches its content.
    let before = ChainHead { sequence: first - 1, hash: stored[0].prev_hash.clone() };
    let mut verifier = Verifier::after(before);
    for record in &stored {
        verifier.check(record).unwrap_or_else(|e| panic!("{e}"));
    }
    b.close().await;
}

mod sqlite {
    #[tokio::test]
    async fn staggered_events_share_one_commit() {
        super::staggered_events_share_one_commit(autopmo_test_support::TestDb::sqlite()).await;
    }

    #[tokio::test]
    async fn lone_events_commit_alone() {
        super::lone_events_commit_alone(autopmo_test_support::TestDb::sqlite()).await;
    }

    #[tokio::test]
    async fn a_head_moved_by_another_store_is_followed() {
        super::a_head_moved_by_another_store_is_followed(autopmo_test_support::TestDb::sqlite()).await;
    }
}

mod postgres {
    #[tokio::test]
    async fn staggered_events_share_one_commit() {
        let Some(db) = autopmo_test_support::TestDb::postgres().await else { return };
        super::staggered_events_share_one_commit(db).await;
    }

    #[tokio::test]
    async fn lone_events_commit_alone() {
        let Some(db) = autopmo_test_support::TestDb::postgres().await else { return };
        super::lone_events_commit_alone(db).await;
    }

    #[tokio::test]
    async fn a_head_moved_by_another_store_is_followed() {
        let Some(db) = autopmo_test_support::TestDb::postgres().await else { return };
        super::a_head_moved_by_another_store_is_followed(db).await;
    }
}
