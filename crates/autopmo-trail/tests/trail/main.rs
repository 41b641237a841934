//! Audit trail tests over a real store: tampering is named by `verify`,
//! erasure shreds personal data without breaking the chain, and the group
//! commit keeps one gapless chain under concurrency. Every test runs twice:
//! on a fresh SQLite file and on a fresh PostgreSQL database (see
//! `autopmo-test-support`).

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test; the helpers are not `#[test]` functions, \
              so clippy's allow-*-in-tests does not reach them"
)]

mod archive;
mod group_commit;
mod shredding;
mod tamper;

use autopmo_audit::{AuditRecord, Category, Outcome};
use autopmo_crypto::Keyring;
use autopmo_domain::ManualClock;
use autopmo_store::{Store, StoreOptions, audit, migrate};
use autopmo_test_support::TestDb;
use autopmo_trail::AuditTrail;
use autopmo_trail::verify::{self, Range, Report, VerifyError};
use sqlx::Row;
use std::sync::Arc;
use time::OffsetDateTime;
use time::macros::datetime;

/// Writes each listed test twice, `sqlite::name` and `postgres::name`, as
/// `autopmo_test_support::backend_tests!` does, but carrying attributes
/// written before a name (`#[ignore = "…"]`) to both copies. Each test is an
/// `async fn name(db: TestDb)`; the PostgreSQL copy returns early (skipped,
/// with a notice) when no server is configured.
#[macro_export]
macro_rules! trail_tests {
    ($($(#[$meta:meta])* $name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                $(#[$meta])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(autopmo_test_support::TestDb::sqlite()).await;
                }
            )+
        }
        mod postgres {
            $(
                $(#[$meta])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = autopmo_test_support::TestDb::postgres().await else { return };
                    super::$name(db).await;
                }
            )+
        }
    };
}

/// Where every test's clock starts.
pub const T0: OffsetDateTime = datetime!(2026-12-04 09:00 UTC);

/// A migrated store with its trail, over a database that lives as long as it.
#[derive(Debug)]
pub struct Fixture {
    pub store: Store,
    pub trail: AuditTrail,
    pub keyring: Arc<Keyring>,
    pub clock: ManualClock,
    pub url: String,
}

/// A fresh store on `db`, migrated, with a trail under freshly generated keys.
pub async fn open(db: &TestDb) -> Fixture {
    let store = Store::connect(&StoreOptions::new(db.url.clone())).await.unwrap();
    migrate::migrate(&store, T0).await.unwrap();
    let clock = ManualClock::new(T0);
    let keyring = Arc::new(Keyring::generate().unwrap());
    let trail = AuditTrail::new(store.clone(), Arc::clone(&keyring), Arc::new(clock.clone()));
    Fixture { store, trail, keyring, clock, url: db.url.clone() }
}

impl Fixture {
    /// Another trail over the same store and keys (as a second replica would
    /// have): its own sealer, with its own cache.
    pub fn another_trail(&self) -> AuditTrail {
        AuditTrail::new(self.store.clone(), Arc::clone(&self.keyring), Arc::new(self.clock.clone()))
    }

    /// Records `n` events one after the other, each in its own unit.
    pub async fn record_n(&self, n: usize) -> Vec<AuditRecord> {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(self.trail.record(event(&self.trail, i)).await.unwrap());
        }
        out
    }

    /// Runs a statement directly on the database, outside the trail (the
    /// tamperer's view).
    pub async fn exec(&self, sql: &str) {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(self.store.reader()).await.unwrap();
    }

    /// Verifies the whole chain with the trail's public keys.
    pub async fn verify(&self) -> Result<Report, VerifyError> {
        self.verify_range(Range::default()).await
    }

    /// Verifies `range` with the trail's public keys.
    pub async fn verify_range(&self, range: Range) -> Result<Report, VerifyError> {
        verify::verify(&self.store, &self.keyring.public_keys(), range, |_, _| {}).await
    }

    /// Every record, in chain order.
    pub async fn records(&self) -> Vec<AuditRecord> {
        let mut conn = self.store.read().await.unwrap();
        audit::range(&mut conn, i64::MIN, i64::MAX, 1_000_000).await.unwrap()
    }

    /// Every stored sequence, ascending.
    pub async fn sequences(&self) -> Vec<i64> {
        let rows = sqlx::query("SELECT sequence FROM audit_events ORDER BY sequence")
            .fetch_all(self.store.reader())
            .await
            .unwrap();
        rows.iter().map(|r| r.try_get::<i64, _>(0).unwrap()).collect()
    }

    /// The committed chain head: `(sequence, hash)`.
    pub async fn head(&self) -> (i64, String) {
        let mut conn = self.store.read().await.unwrap();
        let head = audit::head(&mut conn).await.unwrap();
        (head.sequence, head.hash)
    }
}

/// A `project.created` event numbered `n`, not yet chained.
pub fn event(trail: &AuditTrail, n: usize) -> AuditRecord {
    AuditRecord::new("project.created", Category::DataAccess, "create", Outcome::Success, trail.now())
        .with_resource("project", Some(format!("prj-{n}")), Some(format!("Project {n}")))
        .with_metadata(&serde_json::json!({"n": n, "budget": "1000.00 USD"}))
}
