#![doc = include_str!("../README.md")]

pub mod archive;
pub mod checkpoint;
pub mod monitor;
mod sealer;
pub mod siem;
pub mod verify;
pub mod view;

pub use sealer::{CACHE_TTL, Sealer};
pub use view::EventView;

use autopmo_audit::{Actor, AuditRecord};
use autopmo_crypto::Keyring;
use autopmo_domain::{Clock, UserId};
use autopmo_store::{Store, StoreError, UnitOfWork};
use std::sync::Arc;

/// What can go wrong recording or reading the trail.
#[derive(Debug, thiserror::Error)]
pub enum TrailError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key could not be made, wrapped or unwrapped.
    #[error("keyring: {0}")]
    Crypto(#[from] autopmo_crypto::CryptoError),
}

/// The audit trail of one store.
#[derive(Debug, Clone)]
pub struct AuditTrail {
    store: Store,
    keyring: Arc<Keyring>,
    sealer: Sealer,
    clock: Arc<dyn Clock>,
}

/// What is known about a caller, in clear; sealed by [`AuditTrail::actor`].
#[derive(Debug, Clone, Default)]
pub struct ActorInfo {
    /// The user, once authenticated.
    pub user_id: Option<UserId>,
    /// Their login name.
    pub username: Option<String>,
    /// Client address.
    pub ip_address: Option<String>,
    /// Client software.
    pub user_agent: Option<String>,
}

impl AuditTrail {
    /// The trail of `store`, sealing with keys wrapped by `keyring`.
    pub fn new(store: Store, keyring: Arc<Keyring>, clock: Arc<dyn Clock>) -> Self {
        let sealer = Sealer::new(store.clone(), Arc::clone(&keyring), Arc::clone(&clock));
        Self { store, keyring, sealer, clock }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The keyring.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The sealer.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// The clock.
    pub fn now(&self) -> time::OffsetDateTime {
        let now = self.clock.now();
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000).unwrap_or(now)
    }

    /// Seals the personal fields of `info` under the person's key (or, for
    /// an anonymous caller, under the key of the day). Must be called
    /// outside any unit of work: it may create the key in a unit of its own.
    pub async fn actor(&self, info: &ActorInfo) -> Result<Actor, TrailError> {
        let subject = match info.user_id {
            Some(id) => format!("user:{id}"),
            None => format!("anon:{}", self.now().date()),
        };
        let key = self.sealer.key(&subject).await?;
        let seal = |v: &Option<String>| -> Result<Option<String>, TrailError> {
            Ok(v.as_deref().map(|t| key.seal(t.as_bytes(), &subject)).transpose()?)
        };
        Ok(Actor {
            user_id: info.user_id.map(|u| u.to_string()),
            username: seal(&info.username)?,
            ip_address: seal(&info.ip_address)?,
            user_agent: seal(&info.user_agent)?,
            subject: Some(subject),
        })
    }

    /// Appends `record` in `uow`.
    pub async fn append(&self, uow: &mut UnitOfWork, record: &mut AuditRecord) -> Result<(), TrailError> {
        uow.append_audit(record).await?;
        Ok(())
    }

    /// Records `record` on its own, durably (batched with other events
    /// into the next group commit).
    pub async fn record(&self, record: AuditRecord) -> Result<AuditRecord, TrailError> {
        let mut recorded = self.record_all(vec![record]).await?;
        recorded.pop().ok_or_else(|| TrailError::from(StoreError::Unavailable("the event was not recorded".to_owned())))
    }

    /// Records `records` together and in order, durably; none is stored if
    /// any cannot be.
    pub async fn record_all(&self, records: Vec<AuditRecord>) -> Result<Vec<AuditRecord>, TrailError> {
        Ok(self.store.record_audit(records).await?)
    }
}
