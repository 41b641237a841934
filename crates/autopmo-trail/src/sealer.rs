//! Per-person data keys: made on first use, wrapped by the keyring's
//! key-encryption key and stored in `subject_keys`, cached unwrapped in
//! memory, destroyed on erasure.

use crate::TrailError;
use autopmo_crypto::{DataKey, Keyring};
use autopmo_domain::Clock;
use autopmo_store::{Store, audit};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Keys cached at most; beyond this the cache starts afresh.
const CACHE_LIMIT: usize = 10_000;

/// How long a cached key (or the knowledge that it was destroyed) is
/// trusted: an erasure made by another replica takes effect here within
/// this time.
pub const CACHE_TTL: time::Duration = time::Duration::seconds(5);

/// A key as loaded (or `None`: destroyed), and when.
type Cached = (time::OffsetDateTime, Option<DataKey>);

/// Seals and opens personal data under per-person keys.
#[derive(Debug, Clone)]
pub struct Sealer {
    store: Store,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
}

impl Sealer {
    pub(crate) fn new(store: Store, keyring: Arc<Keyring>, clock: Arc<dyn Clock>) -> Self {
        Self { store, keyring, clock, cache: Arc::new(Mutex::new(HashMap::new())) }
    }

    fn cached(&self, subject: &str) -> Option<Option<DataKey>> {
        let now = self.clock.now();
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.get(subject).filter(|(at, _)| now - *at < CACHE_TTL).map(|(_, key)| key.clone())
    }

    fn remember(&self, subject: &str, key: Option<DataKey>) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(subject.to_owned(), (self.clock.now(), key));
    }

    /// The subject's stored key, if any: `Some(None)` when it was destroyed.
    async fn load(&self, subject: &str) -> Result<Option<Option<DataKey>>, TrailError> {
        if let Some(hit) = self.cached(subject) {
            return Ok(Some(hit));
        }
        let mut conn = self.store.read().await?;
        let Some((kek_id, wrapped)) = audit::subject_key(&mut conn, subject).await? else { return Ok(None) };
        let key = wrapped.map(|w| self.keyring.unwrap_key(&kek_id, &w, subject)).transpose()?;
        self.remember(subject, key.clone());
        Ok(Some(key))
    }

    /// The subject's key, created (durably) on first use. A destroyed key is
    /// never recreated: new data for an erased subject is refused.
    pub async fn key(&self, subject: &str) -> Result<DataKey, TrailError> {
        match self.load(subject).await? {
            Some(Some(key)) => return Ok(key),
            Some(None) => return Err(TrailError::Crypto(autopmo_crypto::CryptoError::Open("the subject was erased"))),
            None => {}
        }
        let key = DataKey::generate()?;
        let (kek_id, wrapped) = self.keyring.wrap(&key, subject)?;
        let mut uow = self.store.begin().await?;
        audit::insert_subject_key(uow.conn(), subject, &kek_id, &wrapped, self.clock.now()).await?;
        uow.commit().await?;
        // Another request may have won the race: read back what is stored.
        match self.load(subject).await? {
            Some(Some(key)) => Ok(key),
            _ => Err(TrailError::Crypto(autopmo_crypto::CryptoError::Open("the subject key could not be stored"))),
        }
    }

    /// Opens sealed text of `subject`; `None` when the key was destroyed
    /// (erased person) or the text is not readable.
    pub async fn open(&self, subject: &str, sealed: &str) -> Result<Option<String>, TrailError> {
        let Some(Some(key)) = self.load(subject).await? else { return Ok(None) };
        Ok(key.open(sealed, subject).ok().and_then(|b| String::from_utf8(b).ok()))
    }

    /// Destroys the subject's key (crypto-shredding): everything sealed
    /// under it becomes unreadable, while the audit chain still verifies.
    pub async fn erase(&self, subject: &str) -> Result<bool, TrailError> {
        let mut uow = self.store.begin().await?;
        let destroyed = audit::destroy_subject_key(uow.conn(), subject, self.clock.now()).await?;
        uow.commit().await?;
        self.remember(subject, None);
        Ok(destroyed)
    }
}
