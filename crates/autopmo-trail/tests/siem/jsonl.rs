//! JSON Lines files: the lines parse back to the events, personal data
//! opened by default and sealed on request; a torn line does not spoil the
//! lines after it.

use crate::{Fixture, open, opened, record, record_as, stored, user};
use autopmo_audit::{AuditRecord, ChainHead, Verifier};
use autopmo_test_support::TestDb;
use autopmo_trail::siem::{self, Form, JsonlSink};
use std::path::Path;

autopmo_test_support::backend_tests!(jsonl_lines_parse_back_to_the_events);

async fn drain(f: &Fixture, name: &str, path: &Path, form: Form) {
    let mut sink = JsonlSink::file(path, form);
    while siem::run_once(&f.trail, name, &mut sink, 4).await.unwrap().sent > 0 {}
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect()
}

async fn jsonl_lines_parse_back_to_the_events(db: TestDb) {
    let keys = tempfile::tempdir().unwrap();
    let f = open(&db, keys.path()).await;
    record(&f.trail, 0, 5).await;
    // Bob's events, then Bob is erased: his key is destroyed.
    let bob = user("bob");
    record_as(&f.trail, &bob, 5, 2).await;
    let subject = format!("user:{}", bob.user_id.unwrap());
    assert!(f.trail.sealer().erase(&subject).await.unwrap());
    let records = stored(&f).await;
    assert_eq!(records.len(), 7);

    let out = tempfile::tempdir().unwrap();
    let opened_path = out.path().join("opened.jsonl");
    let sealed_path = out.path().join("sealed.jsonl");
    drain(&f, "opened", &opened_path, Form::Opened).await;
    drain(&f, "sealed", &sealed_path, Form::Sealed).await;

    // Opened (the default): each line is the event as an auditor sees it.
    let opened_lines = lines(&opened_path);
    assert_eq!(opened_lines.len(), 7);
    for (line, record) in opened_lines.iter().zip(&records) {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(value, opened(&f, record).await);
    }
    let first: serde_json::Value = serde_json::from_str(&opened_lines[0]).unwrap();
    assert_eq!(first["actor"]["username"], "zoë");
    assert_eq!(first["actor"]["ip_address"], "192.0.2.7");
    let erased: serde_json::Value = serde_json::from_str(&opened_lines[5]).unwrap();
    assert_eq!(erased["actor"]["username"], "[erased]");

    // Sealed: each line is the record as stored; no personal data in clear,
    // and the receiver can check the hash chain itself.
    let sealed_text = std::fs::read_to_string(&sealed_path).unwrap();
    assert!(
        !sealed_text.contains("zoë") && !sealed_text.contains("192.0.2.7") && !sealed_text.contains("198.51.100.1")
    );
    let back: Vec<AuditRecord> = sealed_text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(back, records);
    let mut verifier = Verifier::after(ChainHead::genesis());
    for record in &back {
        verifier.check(record).unwrap();
    }

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&opened_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "audit events with personal data are for the owner only");
    }

    // A line torn by a crash is ended; the events after it are whole lines.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&opened_path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, b"{\"sequence\":8,\"ev"))
        .unwrap();
    record(&f.trail, 7, 2).await;
    drain(&f, "opened", &opened_path, Form::Opened).await;
    let after = lines(&opened_path);
    assert_eq!(after.len(), 10);
    assert_eq!(after[7], "{\"sequence\":8,\"ev");
    let records = stored(&f).await;
    for (line, record) in after[8..].iter().zip(&records[7..]) {
        assert_eq!(serde_json::from_str::<serde_json::Value>(line).unwrap(), opened(&f, record).await);
    }
    f.store.close().await;
}
