//! Filtered audit queries and the retention scan give exactly the events a
//! plain filter over the whole trail gives, in the trail's order, whatever
//! plan the database picks for them.
//!
//! Some events are stamped earlier than events appended before them (as
//! events of slow requests are), so that a time window cannot be answered
//! by a range of sequence numbers.

use super::{T0, open};
use autopmo_audit::{AuditRecord, Category, Outcome};
use autopmo_store::audit::{self, AuditFilter};
use autopmo_test_support::{TestDb, backend_tests};
use time::{Duration, OffsetDateTime};

const CATEGORIES: [Category; 3] = [Category::Authentication, Category::DataAccess, Category::Authorization];
const ACTORS: [&str; 4] = ["u-ann", "u-bob", "u-cat", "u-dan"];

fn event(i: i64) -> AuditRecord {
    let index = usize::try_from(i).unwrap();
    // Every seventh event is half an hour late.
    let at = T0 + Duration::minutes(i) - Duration::minutes(if i % 7 == 0 { 30 } else { 0 });
    let status = if i % 5 == 0 { Outcome::Denied } else { Outcome::Success };
    let mut record = AuditRecord::new("test.query", CATEGORIES[index % 3], "read", status, at).with_resource(
        "project",
        Some(format!("p{}", i % 5)),
        None,
    );
    record.actor.user_id = Some(ACTORS[index % 4].to_owned());
    record
}

/// What the query must return: the matching events, newest first.
fn expected(all: &[AuditRecord], f: &AuditFilter, before: Option<i64>, limit: usize) -> Vec<i64> {
    let mut hits: Vec<i64> = all
        .iter()
        .filter(|r| f.category.is_none_or(|c| r.category == c))
        .filter(|r| f.status.is_none_or(|s| r.status == s))
        .filter(|r| f.actor_user_id.is_none() || r.actor.user_id == f.actor_user_id)
        .filter(|r| f.resource_id.is_none() || r.resource.as_ref().and_then(|x| x.id.clone()) == f.resource_id)
        .filter(|r| f.from.is_none_or(|t| r.timestamp >= t) && f.to.is_none_or(|t| r.timestamp < t))
        .filter(|r| before.is_none_or(|b| r.sequence < b))
        .map(|r| r.sequence)
        .collect();
    hits.sort_unstable_by(|a, b| b.cmp(a));
    hits.truncate(limit);
    hits
}

fn window(from_min: i64, to_min: i64) -> (Option<OffsetDateTime>, Option<OffsetDateTime>) {
    (Some(T0 + Duration::minutes(from_min)), Some(T0 + Duration::minutes(to_min)))
}

async fn filtered_queries_match_a_plain_filter(db: TestDb) {
    let store = open(&db).await;
    let all = store.record_audit((1..=240).map(event).collect()).await.unwrap();
    let (from, to) = window(40, 100);
    let filters = [
        AuditFilter::default(),
        AuditFilter { category: Some(Category::Authentication), ..Default::default() },
        AuditFilter { from, to, ..Default::default() },
        AuditFilter { from, to, category: Some(Category::DataAccess), ..Default::default() },
        AuditFilter { from, ..Default::default() },
        AuditFilter { to, ..Default::default() },
        AuditFilter {
            actor_user_id: Some("u-bob".to_owned()),
            category: Some(Category::Authorization),
            ..Default::default()
        },
        AuditFilter {
            resource_type: Some("project".to_owned()),
            resource_id: Some("p3".to_owned()),
            ..Default::default()
        },
        AuditFilter { status: Some(Outcome::Denied), to, ..Default::default() },
    ];
    let mut conn = store.read().await.unwrap();
    for filter in &filters {
        for before in [None, Some(all[150].sequence), Some(all[3].sequence)] {
            for limit in [7, 50, 500] {
                let got: Vec<i64> = audit::list(&mut conn, filter, before, i64::try_from(limit).unwrap())
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.sequence)
                    .collect();
                assert_eq!(got, expected(&all, filter, before, limit), "{filter:?}, before {before:?}, limit {limit}");
            }
        }
    }
    // Whole records come back, not just their sequence numbers.
    let newest = audit::list(&mut conn, &AuditFilter::default(), None, 1).await.unwrap();
    assert_eq!(newest, [all[239].clone()]);
}

async fn the_retention_scan_matches_a_plain_filter(db: TestDb) {
    let store = open(&db).await;
    let all = store.record_audit((1..=240).map(event).collect()).await.unwrap();
    let cutoffs =
        [(Category::Authentication, T0 + Duration::minutes(120)), (Category::DataAccess, T0 + Duration::minutes(30))];
    let mut conn = store.read().await.unwrap();
    for up_to in [None, Some(all[60].sequence)] {
        let got: Vec<i64> =
            audit::expired(&mut conn, &cutoffs, up_to, 25).await.unwrap().iter().map(|r| r.sequence).collect();
        let mut want: Vec<i64> = all
            .iter()
            .filter(|r| cutoffs.iter().any(|(c, t)| r.category == *c && r.timestamp < *t))
            .filter(|r| up_to.is_none_or(|u| r.sequence <= u))
            .map(|r| r.sequence)
            .collect();
        want.truncate(25);
        assert!(!want.is_empty());
        assert_eq!(got, want, "up to {up_to:?}");
    }
}

backend_tests!(filtered_queries_match_a_plain_filter, the_retention_scan_matches_a_plain_filter);
