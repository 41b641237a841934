//! The cursor is persisted: a new process on the same database goes on
//! after it, and re-sends at most the batch it had not acknowledged.

use crate::{DiesAfterSending, open, record};
use autopmo_store::siem as cursors;
use autopmo_test_support::TestDb;
use autopmo_trail::siem::{self, Form, JsonlSink};

autopmo_test_support::backend_tests!(the_cursor_survives_a_restart);

fn sequences(path: &std::path::Path) -> Vec<i64> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["sequence"].as_i64().unwrap())
        .collect()
}

async fn the_cursor_survives_a_restart(db: TestDb) {
    let keys = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("audit.jsonl");
    {
        let f = open(&db, keys.path()).await;
        assert_eq!(siem::cursor(&f.trail, "file").await.unwrap(), 0, "no cursor yet: from the start");
        record(&f.trail, 0, 8).await;
        let mut sink = JsonlSink::file(&path, Form::Opened);
        let d = siem::run_once(&f.trail, "file", &mut sink, 5).await.unwrap();
        assert_eq!((d.sent, d.cursor), (5, 5));
        // 6 and 7 reach the file, but the process dies before the cursor moves.
        let mut dying = DiesAfterSending(JsonlSink::file(&path, Form::Opened));
        assert!(siem::run_once(&f.trail, "file", &mut dying, 2).await.is_err());
        assert_eq!(sequences(&path), [1, 2, 3, 4, 5, 6, 7]);
        f.store.close().await;
    }
    // A new process: new store, new trail, same database.
    let f = open(&db, keys.path()).await;
    assert_eq!(siem::cursor(&f.trail, "file").await.unwrap(), 5);
    record(&f.trail, 8, 3).await;
    let mut sink = JsonlSink::file(&path, Form::Opened);
    while siem::run_once(&f.trail, "file", &mut sink, 5).await.unwrap().sent > 0 {}
    // Only the unacknowledged batch (6, 7) came twice; nothing is missing.
    assert_eq!(sequences(&path), [1, 2, 3, 4, 5, 6, 7, 6, 7, 8, 9, 10, 11]);
    assert_eq!(siem::cursor(&f.trail, "file").await.unwrap(), 11);

    // The cursor only moves forward, and each sink has its own.
    let mut uow = f.store.begin().await.unwrap();
    cursors::advance(uow.conn(), "file", 3, crate::T0).await.unwrap();
    cursors::advance(uow.conn(), "other", 2, crate::T0).await.unwrap();
    uow.commit().await.unwrap();
    let mut conn = f.store.read().await.unwrap();
    let all = cursors::cursors(&mut conn).await.unwrap();
    let summary: Vec<(&str, i64)> = all.iter().map(|c| (c.sink.as_str(), c.last_sequence)).collect();
    assert_eq!(summary, [("file", 11), ("other", 2)]);
    drop(conn);
    f.store.close().await;
}
