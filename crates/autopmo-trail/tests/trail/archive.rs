//! Retention and archival: the §8.3 boundaries with a moved clock, segments
//! in a local directory and in a real S3-compatible server (moto), the
//! chain verified across hot rows, tombstones and archives, and a failing
//! upload that deletes nothing.

use crate::{Fixture, T0, open, trail_tests};
use autopmo_audit::{AuditRecord, Category, Outcome};
use autopmo_store::audit;
use autopmo_test_support::TestDb;
use autopmo_test_support::moto::MotoServer;
use autopmo_trail::archive::{self, ArchiveError, ArchiveTarget, Retention, S3Target};
use autopmo_trail::verify::{self, Range, VerifyError};
use time::Duration;

fn of(trail: &autopmo_trail::AuditTrail, category: Category, n: usize) -> AuditRecord {
    AuditRecord::new(&format!("test.{}", category.as_str()), category, "test", Outcome::Success, trail.now())
        .with_metadata(&serde_json::json!({"n": n}))
}

async fn hot_count(f: &Fixture) -> i64 {
    let mut conn = f.store.read().await.unwrap();
    audit::count(&mut conn).await.unwrap()
}

async fn verify_all(f: &Fixture, target: &ArchiveTarget) {
    f.verify().await.expect("hot chain with tombstones verifies");
    let links = archive::archived_links(&f.trail, target).await.expect("archives read back");
    verify::verify_with_archives(&f.store, &f.keyring.public_keys(), Range::default(), Some(&links), |_, _| {})
        .await
        .expect("hot chain and archives verify as one chain");
}

async fn archive_now(f: &Fixture, target: &ArchiveTarget) -> Vec<audit::ArchiveSegment> {
    archive::archive_all(&f.trail, target, &Retention::default(), 1_000, |_| {}).await.unwrap()
}

async fn retention_boundaries_follow_the_guide(db: TestDb) {
    let f = open(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let target = ArchiveTarget::local(dir.path()).unwrap();
    for (n, category) in Category::ALL.into_iter().enumerate() {
        f.trail.record(of(&f.trail, category, n)).await.unwrap();
    }
    let originals_left = async || f.records().await.iter().filter(|r| r.event_type.starts_with("test.")).count();
    // (days after T0, original events still hot): system leaves after 90
    // days, authentication after 365, the rest after 2555.
    let steps = [(90, 5), (91, 4), (365, 4), (366, 3), (2555, 3), (2556, 0)];
    for (days, left) in steps {
        f.clock.set(T0 + Duration::days(days));
        archive_now(&f, &target).await;
        assert_eq!(originals_left().await, left, "after {days} days");
        verify_all(&f, &target).await;
    }
    // Archival records itself, and those records expire like any system event.
    assert!(f.records().await.iter().all(|r| r.event_type == "audit.archived"));
}

async fn local_segments_are_checked_and_tamper_evident(db: TestDb) {
    let f = open(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let target = ArchiveTarget::local(dir.path()).unwrap();
    for n in 0..50 {
        f.trail.record(of(&f.trail, Category::System, n)).await.unwrap();
    }
    f.clock.advance(Duration::days(100));
    for n in 0..5 {
        f.trail.record(of(&f.trail, Category::System, n)).await.unwrap();
    }
    let segments = archive::archive_all(&f.trail, &target, &Retention::default(), 20, |_| {}).await.unwrap();
    assert_eq!(segments.iter().map(|s| s.event_count).collect::<Vec<_>>(), [20, 20, 10]);
    // 5 fresh events and one `audit.archived` per segment remain hot.
    assert_eq!(hot_count(&f).await, 8);
    for s in &segments {
        assert!(dir.path().join(&s.object_key).exists(), "{}", s.object_key);
        assert!(dir.path().join(&s.manifest_key).exists(), "{}", s.manifest_key);
    }
    verify_all(&f, &target).await;

    // An archived segment rewritten on disk is found.
    let first = &segments[0];
    let path = dir.path().join(&first.object_key);
    let original = std::fs::read(&path).unwrap();
    let mut forged = original.clone();
    let last = forged.len() - 10;
    forged[last] ^= 0xff;
    std::fs::write(&path, &forged).unwrap();
    let err = archive::archived_links(&f.trail, &target).await.unwrap_err();
    assert!(matches!(err, ArchiveError::Mismatch { .. }), "{err}");
    std::fs::write(&path, &original).unwrap();

    // A tombstone removed (a record "archived" nowhere) breaks the hot chain.
    f.exec(&format!("DELETE FROM audit_tombstones WHERE sequence = {}", first.first_sequence + 3)).await;
    let err = f.verify().await.unwrap_err();
    assert!(matches!(err, VerifyError::Chain(_)), "{err}");
}

async fn a_failing_upload_deletes_nothing(db: TestDb) {
    let f = open(&db).await;
    for n in 0..10 {
        f.trail.record(of(&f.trail, Category::System, n)).await.unwrap();
    }
    f.clock.advance(Duration::days(100));
    // Nothing listens on this port: every upload fails.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let target = ArchiveTarget::s3(&S3Target {
        bucket: "audit".to_owned(),
        region: "us-east-1".to_owned(),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        access_key_id: Some("test".to_owned()),
        secret_access_key: Some("test".to_owned()),
        allow_http: true,
        storage_class: None,
        prefix: "audit".to_owned(),
    })
    .unwrap();
    let err = archive::archive_once(&f.trail, &target, &Retention::default(), 100).await.unwrap_err();
    assert!(matches!(err, ArchiveError::Storage(_)), "{err}");
    assert_eq!(hot_count(&f).await, 10);
    let tombstones: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_tombstones").fetch_one(f.store.reader()).await.unwrap();
    assert_eq!(tombstones, 0);
    f.verify().await.unwrap();
}

fn s3(moto: &MotoServer, bucket: &str, class: Option<&str>) -> ArchiveTarget {
    ArchiveTarget::s3(&S3Target {
        bucket: bucket.to_owned(),
        region: "us-east-1".to_owned(),
        endpoint: Some(moto.endpoint.clone()),
        access_key_id: Some("test".to_owned()),
        secret_access_key: Some("test".to_owned()),
        allow_http: true,
        storage_class: class.map(str::to_owned),
        prefix: "autopmo/audit".to_owned(),
    })
    .unwrap()
}

/// Against a real S3-compatible server (moto): segments uploaded, read back
/// and checked before deletion; a GLACIER segment is checked by size and
/// ETag; a server that goes away mid-way makes archival fail and delete nothing.
async fn s3_archival_against_moto(db: TestDb) {
    let Some(mut moto) = MotoServer::start() else { return };
    moto.create_bucket("audit-standard");
    moto.create_bucket("audit-glacier");
    let f = open(&db).await;
    for n in 0..30 {
        f.trail.record(of(&f.trail, Category::System, n)).await.unwrap();
    }
    f.clock.advance(Duration::days(100));
    let standard = s3(&moto, "audit-standard", None);
    let first = archive::archive_once(&f.trail, &standard, &Retention::default(), 10).await.unwrap().unwrap();
    assert_eq!(first.event_count, 10);
    assert!(first.object_key.starts_with("autopmo/audit/segments/"));
    verify_all(&f, &standard).await;

    let glacier = s3(&moto, "audit-glacier", Some("GLACIER"));
    let cold = archive::archive_once(&f.trail, &glacier, &Retention::default(), 10).await.unwrap().unwrap();
    assert_eq!(cold.event_count, 10);
    f.verify().await.unwrap();

    // The server goes away: the next segment fails and nothing is deleted.
    let before = hot_count(&f).await;
    moto.stop();
    let err = archive::archive_once(&f.trail, &standard, &Retention::default(), 10).await.unwrap_err();
    assert!(matches!(err, ArchiveError::Storage(_)), "{err}");
    assert_eq!(hot_count(&f).await, before);
    f.verify().await.unwrap();
}

/// Archival never outruns a SIEM export: events stay hot until every sink
/// it holds for has received them.
async fn archival_waits_for_the_siem(db: TestDb) {
    let f = open(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let target = ArchiveTarget::local(dir.path()).unwrap().holding_for(vec!["corp".to_owned()]);
    for n in 0..10 {
        f.trail.record(of(&f.trail, Category::System, n)).await.unwrap();
    }
    f.clock.advance(Duration::days(100));
    // The sink has received nothing yet: nothing may leave.
    assert!(archive::archive_once(&f.trail, &target, &Retention::default(), 100).await.unwrap().is_none());
    // It has received the first four.
    let mut uow = f.store.begin().await.unwrap();
    autopmo_store::siem::advance(uow.conn(), "corp", 4, f.trail.now()).await.unwrap();
    uow.commit().await.unwrap();
    let segment = archive::archive_once(&f.trail, &target, &Retention::default(), 100).await.unwrap().unwrap();
    assert_eq!((segment.first_sequence, segment.last_sequence, segment.event_count), (1, 4, 4));
    assert!(archive::archive_once(&f.trail, &target, &Retention::default(), 100).await.unwrap().is_none());
    verify_all(&f, &target).await;
}

trail_tests!(
    archival_waits_for_the_siem,
    retention_boundaries_follow_the_guide,
    local_segments_are_checked_and_tamper_evident,
    a_failing_upload_deletes_nothing,
    s3_archival_against_moto,
);
