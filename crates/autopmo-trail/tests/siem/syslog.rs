//! Syslog over TCP and TLS, to a receiver that parses every frame; and an
//! outage in the middle of the stream.

use crate::receiver::{Frame, Receiver, pki};
use crate::{Fixture, eventually, open, opened, record, stored};
use autopmo_audit::{AuditRecord, Category, Outcome};
use autopmo_test_support::TestDb;
use autopmo_trail::siem::{self, Form, RunOptions, SiemError, SyslogOptions, SyslogSink, TlsOptions};
use std::net::SocketAddr;
use std::time::Duration;

autopmo_test_support::backend_tests!(
    every_event_arrives_in_order_with_its_framing_and_sd_params,
    tls_to_a_receiver_with_a_certificate_from_the_configured_ca,
    a_receiver_outage_loses_nothing,
);

const ANY_PORT: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

fn options(addr: SocketAddr) -> SyslogOptions {
    let mut options = SyslogOptions::new(addr.to_string());
    options.hostname = "pmo-test".to_owned();
    options.connect_timeout = Duration::from_secs(5);
    options.ack_timeout = Duration::from_secs(5);
    options
}

/// Sends batches until nothing is left; returns the number of batches that sent something.
async fn drain(f: &Fixture, name: &str, sink: &mut SyslogSink, batch: i64) -> usize {
    let mut batches = 0;
    while siem::run_once(&f.trail, name, sink, batch).await.unwrap().sent > 0 {
        batches += 1;
    }
    batches
}

/// Checks one message against the record it carries, field by field.
async fn check(f: &Fixture, frame: &Frame, record: &AuditRecord) {
    let facility = match record.category {
        Category::Authentication | Category::Authorization => 4, // auth
        _ => 16,                                                 // local0
    };
    let severity = match record.status {
        Outcome::Denied | Outcome::Failure => 4,                             // warning
        Outcome::Success if record.event_type.starts_with("security.") => 5, // notice
        Outcome::Success => 6,                                               // info
    };
    assert_eq!(frame.pri, facility * 8 + severity, "{}", frame.raw);
    assert_eq!(frame.version, "1");
    assert_eq!(frame.timestamp, "2026-12-04T09:00:00.000000Z");
    assert_eq!(frame.hostname, "pmo-test");
    assert_eq!(frame.app, "autopmo");
    assert_eq!(frame.procid, "-");
    assert_eq!(frame.msgid, record.event_type);
    assert_eq!(frame.sd_id, "autopmo@32473");
    let params: Vec<(&str, String)> = frame.params.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    assert_eq!(
        params,
        [
            ("seq", record.sequence.to_string()),
            ("event_id", record.event_id.clone()),
            ("status", record.status.as_str().to_owned()),
            ("category", record.category.as_str().to_owned()),
        ]
    );
    // US-ASCII on the wire (no BOM needed); the JSON means the same.
    assert!(frame.raw.is_ascii(), "{}", frame.raw);
    assert_eq!(frame.json, opened(f, record).await);
}

async fn every_event_arrives_in_order_with_its_framing_and_sd_params(db: TestDb) {
    let keys = tempfile::tempdir().unwrap();
    let f = open(&db, keys.path()).await;
    record(&f.trail, 0, 11).await;
    let rx = Receiver::start(ANY_PORT, None, None).await;
    let mut sink = SyslogSink::new(options(rx.addr)).unwrap();
    assert_eq!(drain(&f, "corp", &mut sink, 4).await, 3); // 4 + 4 + 3

    let records = stored(&f).await;
    let frames = rx.frames();
    assert_eq!(rx.sequences(), (1..=11).collect::<Vec<_>>());
    for (frame, record) in frames.iter().zip(&records) {
        check(&f, frame, record).await;
    }
    // Personal data is opened by default.
    assert_eq!(frames[0].json["actor"]["username"], "zoë");
    assert_eq!(frames[0].json["metadata"]["note"], "naïve ]\"\\ 😀");
    assert!(rx.errors().is_empty(), "{:?}", rx.errors());
    assert_eq!(siem::cursor(&f.trail, "corp").await.unwrap(), 11);

    // Sealed, for a receiver outside the trust boundary; a facility of its own.
    let mut sealed_options = options(rx.addr);
    sealed_options.form = Form::Sealed;
    sealed_options.facility = Some(13);
    let mut sealed = SyslogSink::new(sealed_options).unwrap();
    assert_eq!(drain(&f, "outside", &mut sealed, 100).await, 1);
    let frames = rx.frames();
    assert_eq!(frames.len(), 22);
    for (frame, record) in frames[11..].iter().zip(&records) {
        assert_eq!(frame.pri / 8, 13);
        let back: AuditRecord = serde_json::from_value(frame.json.clone()).unwrap();
        assert_eq!(&back, record);
        assert!(!frame.raw.contains("192.0.2.7"));
    }
    rx.stop().await;
}

async fn tls_to_a_receiver_with_a_certificate_from_the_configured_ca(db: TestDb) {
    let keys = tempfile::tempdir().unwrap();
    let f = open(&db, keys.path()).await;
    record(&f.trail, 0, 6).await;
    let pki = pki();
    let rx = Receiver::start(ANY_PORT, Some(pki.server.clone()), None).await;

    // Trusting only the built-in roots, the test CA's certificate is refused:
    // nothing is delivered and the cursor stays.
    let mut options_default_roots = options(rx.addr);
    options_default_roots.tls = Some(TlsOptions::default());
    let mut untrusting = SyslogSink::new(options_default_roots).unwrap();
    let refused = siem::run_once(&f.trail, "tls", &mut untrusting, 10).await.unwrap_err();
    assert!(refused.to_string().to_lowercase().contains("certificate"), "{refused}");
    assert_eq!(siem::cursor(&f.trail, "tls").await.unwrap(), 0);
    assert!(rx.frames().is_empty());

    // A CA file that holds no certificate is refused when the sink is made.
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let mut junk_options = options(rx.addr);
    junk_options.tls = Some(TlsOptions { ca_file: Some(junk) });
    assert!(matches!(SyslogSink::new(junk_options), Err(SiemError::Tls(_))));

    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let mut tls_options = options(rx.addr);
    tls_options.tls = Some(TlsOptions { ca_file: Some(ca_file) });
    let mut sink = SyslogSink::new(tls_options).unwrap();
    assert_eq!(drain(&f, "tls", &mut sink, 4).await, 2);
    assert_eq!(rx.sequences(), (1..=6).collect::<Vec<_>>());
    let records = stored(&f).await;
    for (frame, record) in rx.frames().iter().zip(&records) {
        check(&f, frame, record).await;
    }
    // Only the refused handshake left an error behind.
    assert!(rx.errors().iter().all(|e| e.starts_with("TLS accept")), "{:?}", rx.errors());
    rx.stop().await;
}

async fn a_receiver_outage_loses_nothing(db: TestDb) {
    const BATCH: i64 = 3;
    let keys = tempfile::tempdir().unwrap();
    let f = open(&db, keys.path()).await;
    record(&f.trail, 0, 10).await;
    // The receiver crashes on reading the 7th message, in the middle of the
    // third batch (7, 8, 9): it stops listening and drops that connection.
    let first = Receiver::start(ANY_PORT, None, Some(7)).await;
    let addr = first.addr;
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let options = RunOptions {
        batch: BATCH,
        poll_interval: Duration::from_millis(20),
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
    };
    let streaming = tokio::spawn(siem::run(
        f.trail.clone(),
        "corp".to_owned(),
        SyslogSink::new(self::options(addr)).unwrap(),
        options,
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        },
    ));
    eventually("the receiver crashed", || first.is_down()).await;
    // Events keep coming while the SIEM is down; the sender keeps failing.
    record(&f.trail, 10, 10).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(siem::cursor(&f.trail, "corp").await.unwrap() < 7);

    let second = Receiver::start(addr, None, None).await;
    eventually("every event arrived after the restart", || second.sequences().last() == Some(&20)).await;
    // Received is not yet acknowledged: wait for the cursor before stopping.
    while siem::cursor(&f.trail, "corp").await.unwrap() < 20 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop.send(true);
    let delivered = streaming.await.unwrap();

    let before = first.sequences();
    let after = second.sequences();
    assert_eq!(before, (1..=7).collect::<Vec<_>>(), "in order, no duplicates before the crash");
    let resumed = after[0];
    assert_eq!(after, (resumed..=20).collect::<Vec<_>>(), "in order, no duplicates after the restart");
    // Nothing missing, and only the unacknowledged batch (7, 8, 9) is sent
    // again: from 7, which the first receiver had read before crashing.
    assert_eq!(resumed, 7);
    assert_eq!(delivered, 20);
    assert!(second.errors().is_empty(), "{:?}", second.errors());
    second.stop().await;
    first.stop().await;
}
