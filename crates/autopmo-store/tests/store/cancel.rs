//! Units of work abandoned at any await point — what happens to a request
//! whose client hangs up (hyper drops the handler's future) — leave the
//! single writer usable and never commit half a unit.

use super::{T0, open, project, seed_user};
use autopmo_audit::{AuditRecord, Category, ChainHead, Outcome, Verifier};
use autopmo_domain::{ProjectId, UserId};
use autopmo_store::{Store, StoreError, audit, projects};
use autopmo_test_support::{TestDb, backend_tests};
use sqlx::Row;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const EVENT: &str = "test.cancelled_unit";

/// One request's worth of writing: a project and its audit event.
async fn unit(store: &Store, owner: UserId, n: usize) -> Result<ProjectId, StoreError> {
    let mut uow = store.begin().await?;
    let p = project(&format!("Cancel {n}"), owner, T0);
    projects::insert(uow.conn(), &p).await?;
    let mut record = AuditRecord::new(EVENT, Category::DataAccess, "create", Outcome::Success, T0).with_resource(
        "project",
        Some(p.id.to_string()),
        None,
    );
    uow.append_audit(&mut record).await?;
    uow.commit().await?;
    Ok(p.id)
}

/// A small deterministic generator, so that a failure can be replayed.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

async fn abandoned_units_leave_the_writer_usable(db: TestDb) {
    let store = open(&db).await;
    let owner = seed_user(&store, "canceller").await.id;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let abandoned = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..12u64 {
        let (store, acked, abandoned) = (store.clone(), Arc::clone(&acked), Arc::clone(&abandoned));
        workers.push(tokio::spawn(async move {
            let mut rng = 0x9e37_79b9_7f4a_7c15 ^ (w + 1);
            for i in 0..30 {
                // Between 0 and 20 ms: enough for many units to finish and
                // for the others to be dropped at every stage of their life.
                let budget = Duration::from_micros(next(&mut rng) % 20_000);
                match tokio::time::timeout(budget, unit(&store, owner, (w as usize) * 1000 + i)).await {
                    Ok(Ok(id)) => acked.lock().unwrap().push(id),
                    Ok(Err(e)) => panic!("a unit failed after others were abandoned: {e}"),
                    Err(_) => {
                        abandoned.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }

    let abandoned = abandoned.load(Ordering::Relaxed);
    eprintln!("{} units acknowledged, {abandoned} abandoned", acked.lock().unwrap().len());
    assert!(abandoned >= 12, "too few units were abandoned to prove anything");

    // The writer still takes work, and what it takes is durable.
    for n in 0..5 {
        let id = tokio::time::timeout(Duration::from_secs(10), unit(&store, owner, 90_000 + n))
            .await
            .unwrap_or_else(|_| panic!("the writer is stuck after abandoned units"))
            .unwrap_or_else(|e| panic!("the writer refuses work after abandoned units: {e}"));
        acked.lock().unwrap().push(id);
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(acked.len() >= 5);

    let mut conn = store.read().await.unwrap();
    let stored: HashSet<String> = sqlx::query("SELECT id FROM projects WHERE name LIKE 'Cancel %'")
        .fetch_all(&mut *conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>(0).unwrap())
        .collect();
    let events: HashSet<String> = sqlx::query("SELECT resource_id FROM audit_events WHERE event_type = $1")
        .bind(EVENT)
        .fetch_all(&mut *conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>(0).unwrap())
        .collect();
    for id in &acked {
        assert!(stored.contains(&id.to_string()), "acknowledged project {id} was lost");
    }
    // All of a unit or none of it: no project without its event, no event
    // without its project.
    assert_eq!(stored, events, "a unit was committed in part");

    let (first, last) = audit::bounds(&mut conn).await.unwrap().unwrap();
    let records = audit::range(&mut conn, first, last, i64::MAX).await.unwrap();
    let mut verifier = Verifier::after(ChainHead::genesis());
    for r in &records {
        verifier.check(r).unwrap_or_else(|e| panic!("the audit chain is broken: {e}"));
    }
    assert_eq!(verifier.head(), &audit::head(&mut conn).await.unwrap(), "the stored chain head lags the chain");
}

/// Events recorded on their own (request events) are batched into the
/// group commit with the units of work around them: each caller's events
/// stay together and in order, and the chain and its stored head agree.
async fn recorded_events_join_the_group_commit(db: TestDb) {
    let store = open(&db).await;
    let owner = seed_user(&store, "recorder").await.id;
    let mut workers = Vec::new();
    for w in 0..16usize {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let mut sequences = Vec::new();
            for i in 0..20 {
                if i % 5 == 0 {
                    unit(&store, owner, w * 1000 + i).await.unwrap();
                }
                let pair = (0..2)
                    .map(|k| {
                        AuditRecord::new(EVENT, Category::DataAccess, "read", Outcome::Success, T0).with_resource(
                            "probe",
                            Some(format!("{w}-{i}-{k}")),
                            None,
                        )
                    })
                    .collect();
                let recorded = store.record_audit(pair).await.unwrap();
                assert_eq!(recorded.len(), 2);
                assert_eq!(recorded[1].sequence, recorded[0].sequence + 1, "a caller's events were split");
                assert_eq!(recorded[1].prev_hash, recorded[0].hash);
                sequences.extend(recorded.iter().map(|r| r.sequence));
            }
            sequences
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(unique.len(), 16 * 20 * 2, "two events got one sequence number");

    let mut conn = store.read().await.unwrap();
    let probes: i64 = sqlx::query("SELECT COUNT(*) FROM audit_events WHERE resource_type = 'probe'")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(probes, 16 * 20 * 2);
    let (first, last) = audit::bounds(&mut conn).await.unwrap().unwrap();
    let mut verifier = Verifier::after(ChainHead::genesis());
    for r in &audit::range(&mut conn, first, last, i64::MAX).await.unwrap() {
        verifier.check(r).unwrap_or_else(|e| panic!("the audit chain is broken: {e}"));
    }
    assert_eq!(verifier.head(), &audit::head(&mut conn).await.unwrap());
    assert!(store.record_audit(Vec::new()).await.unwrap().is_empty());
}

backend_tests!(abandoned_units_leave_the_writer_usable, recorded_events_join_the_group_commit);
