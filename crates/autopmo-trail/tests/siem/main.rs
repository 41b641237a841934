//! SIEM export tests with real components: a real store (SQLite and
//! PostgreSQL), a syslog receiver speaking RFC 6587 octet counting over TCP
//! and TLS (a CA made at test time), and JSON Lines files on disk.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test; the helpers are not `#[test]` functions, \
              so clippy's allow-*-in-tests does not reach them"
)]

mod cursor;
mod jsonl;
mod receiver;
mod syslog;

use autopmo_audit::{AuditRecord, Category, Outcome};
use autopmo_crypto::Keyring;
use autopmo_domain::{ManualClock, UserId};
use autopmo_store::{Store, StoreOptions, audit, migrate};
use autopmo_test_support::TestDb;
use autopmo_trail::siem::{Form, Outgoing, SiemError, Sink};
use autopmo_trail::{ActorInfo, AuditTrail, EventView};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use time::macros::datetime;

/// Every event happens at this instant.
pub const T0: OffsetDateTime = datetime!(2026-12-04 09:00 UTC);

/// A migrated store and its trail.
#[derive(Debug)]
pub struct Fixture {
    pub store: Store,
    pub trail: AuditTrail,
}

/// Opens `db` with the keyring kept in `keys` (so that a reopened trail can
/// still open what an earlier one sealed).
pub async fn open(db: &TestDb, keys: &Path) -> Fixture {
    let store = Store::connect(&StoreOptions::new(db.url.clone())).await.unwrap();
    migrate::migrate(&store, T0).await.unwrap();
    let keyring = Arc::new(Keyring::open_or_create(keys).unwrap());
    let trail = AuditTrail::new(store.clone(), keyring, Arc::new(ManualClock::new(T0)));
    Fixture { store, trail }
}

/// The kinds of event recorded in turn: every facility and severity rule.
const KINDS: [(&str, Category, Outcome); 4] = [
    ("project.created", Category::DataAccess, Outcome::Success),
    ("auth.login", Category::Authentication, Outcome::Denied),
    ("user.updated", Category::Administrative, Outcome::Failure),
    ("security.alert", Category::System, Outcome::Success),
];

/// Records `n` events (numbered from `from`) by an anonymous caller whose
/// personal data is sealed: name `zoë`, address `192.0.2.7`.
pub async fn record(trail: &AuditTrail, from: usize, n: usize) {
    let info = ActorInfo {
        user_id: None,
        username: Some("zoë".to_owned()),
        ip_address: Some("192.0.2.7".to_owned()),
        user_agent: Some("curl/8.5 \"quoted\" [x]".to_owned()),
    };
    record_as(trail, &info, from, n).await;
}

/// Records `n` events by `info`.
pub async fn record_as(trail: &AuditTrail, info: &ActorInfo, from: usize, n: usize) {
    let actor = trail.actor(info).await.unwrap();
    for i in from..from + n {
        let (event_type, category, status) = KINDS[i % KINDS.len()];
        let mut r = AuditRecord::new(event_type, category, "act", status, T0)
            .with_metadata(&serde_json::json!({"i": i, "note": "naïve ]\"\\ 😀"}))
            .with_resource("project", Some(format!("prj_{i}")), Some("Apollo ✓".to_owned()));
        r.actor = actor.clone();
        trail.record(r).await.unwrap();
    }
}

/// Records by a known user, whose key can then be destroyed.
pub fn user(name: &str) -> ActorInfo {
    ActorInfo {
        user_id: Some(UserId::new()),
        username: Some(name.to_owned()),
        ip_address: Some("198.51.100.1".to_owned()),
        user_agent: None,
    }
}

/// Every stored record, in chain order.
pub async fn stored(f: &Fixture) -> Vec<AuditRecord> {
    let mut conn = f.store.read().await.unwrap();
    audit::range(&mut conn, 1, i64::MAX, 100_000).await.unwrap()
}

/// `record` as an auditor sees it, as JSON.
pub async fn opened(f: &Fixture, record: &AuditRecord) -> serde_json::Value {
    serde_json::to_value(EventView::open(record.clone(), f.trail.sealer()).await.unwrap()).unwrap()
}

/// Waits (up to 30 s) until `done` holds.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A sink that delivers, then fails as if the process died before the
/// cursor was updated.
#[derive(Debug)]
pub struct DiesAfterSending<S>(pub S);

impl<S: Sink> Sink for DiesAfterSending<S> {
    fn form(&self) -> Form {
        self.0.form()
    }

    async fn send(&mut self, events: &[Outgoing]) -> Result<(), SiemError> {
        self.0.send(events).await?;
        Err(SiemError::Invalid("died after sending, before the cursor moved".to_owned()))
    }
}
