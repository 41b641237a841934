//! Signing-key rotation, as pure logic over what the store keeps.
//!
//! The newest key that is not retired signs. When a new key is made, the
//! others are retired at that instant but stay published in the JWKS (and
//! keep verifying) until every token they signed has expired: retirement +
//! the longest token lifetime + leeway. After that a key verifies nothing,
//! leaves the JWKS, and its sealed private half may be deleted.
//!
//! The store persists [`KeyRecord`]s beside each key's sealed PKCS#8 and
//! performs [`KeySet::rotate`] in one transaction, so that replicas racing to
//! rotate still leave exactly one signing key.

use super::TokenPolicy;
use autopmo_crypto::jws::{self, PublicKey, SigningKey};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// How often a new signing key is made unless configured otherwise.
pub const DEFAULT_ROTATION_PERIOD: Duration = Duration::days(30);

/// What the store keeps about one signing key (its private half is stored
/// sealed, beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    /// The key's `kid` (its RFC 7638 thumbprint).
    pub kid: String,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stopped signing; `None` while it signs.
    #[serde(with = "time::serde::rfc3339::option")]
    pub retired_at: Option<OffsetDateTime>,
}

/// When keys rotate and how long a retired key stays published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// Age at which the signing key is replaced.
    pub period: Duration,
    /// How long a retired key stays in the JWKS: the longest any token it
    /// signed can still be accepted.
    pub publish_after_retirement: Duration,
}

impl RotationPolicy {
    /// Monthly rotation; retired keys published as long as `policy`'s tokens can live.
    pub fn for_tokens(policy: &TokenPolicy) -> Self {
        Self { period: DEFAULT_ROTATION_PERIOD, publish_after_retirement: policy.longest_acceptance() }
    }

    /// Sets the rotation period (at least one day).
    #[must_use]
    pub fn with_period(mut self, period: Duration) -> Self {
        self.period = period.max(Duration::DAY);
        self
    }
}

/// A key set refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    /// Two records, or a record and a new key, share a `kid`.
    #[error("duplicate signing key id")]
    DuplicateKid,
    /// A record has no key material, or the material's `kid` differs.
    #[error("signing key material does not match the key records")]
    Mismatch,
}

/// The signing keys' records and the rotation rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySet {
    records: Vec<KeyRecord>,
    rotation: RotationPolicy,
}

impl KeySet {
    /// A set from stored records.
    pub fn new(records: Vec<KeyRecord>, rotation: RotationPolicy) -> Result<Self, KeySetError> {
        let mut kids: Vec<&str> = records.iter().map(|r| r.kid.as_str()).collect();
        kids.sort_unstable();
        let count = kids.len();
        kids.dedup();
        if kids.len() != count {
            return Err(KeySetError::DuplicateKid);
        }
        Ok(Self { records, rotation })
    }

    /// The records, for the store.
    pub fn records(&self) -> &[KeyRecord] {
        &self.records
    }

    fn is_retired(record: &KeyRecord, now: OffsetDateTime) -> bool {
        record.retired_at.is_some_and(|at| at <= now)
    }

    /// The record of the key that signs now: the newest not retired.
    pub fn signing(&self, now: OffsetDateTime) -> Option<&KeyRecord> {
        self.records.iter().filter(|r| !Self::is_retired(r, now)).max_by_key(|r| r.created_at)
    }

    /// The `kid` that signs now.
    pub fn signing_kid(&self, now: OffsetDateTime) -> Option<&str> {
        self.signing(now).map(|r| r.kid.as_str())
    }

    /// Whether tokens signed by `record`'s key may still be accepted at `now`.
    fn publishes(&self, record: &KeyRecord, now: OffsetDateTime) -> bool {
        record.retired_at.is_none_or(|at| now < at.saturating_add(self.rotation.publish_after_retirement))
    }

    /// Whether `kid` is published (and so verifies) at `now`.
    pub fn is_published(&self, kid: &str, now: OffsetDateTime) -> bool {
        self.records.iter().any(|r| r.kid == kid && self.publishes(r, now))
    }

    /// The `kid`s published in the JWKS at `now`: active keys and retired
    /// ones whose tokens may still be alive, newest first.
    pub fn published(&self, now: OffsetDateTime) -> Vec<&str> {
        let mut live: Vec<&KeyRecord> = self.records.iter().filter(|r| self.publishes(r, now)).collect();
        live.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        live.into_iter().map(|r| r.kid.as_str()).collect()
    }

    /// Whether a new key should be made: none signs, or the signing key is
    /// older than the rotation period.
    pub fn rotation_due(&self, now: OffsetDateTime) -> bool {
        self.signing(now).is_none_or(|r| r.created_at.saturating_add(self.rotation.period) <= now)
    }

    /// Adds a new signing key made at `now` and retires every other one at `now`.
    pub fn rotate(&mut self, new_kid: impl Into<String>, now: OffsetDateTime) -> Result<&KeyRecord, KeySetError> {
        let kid = new_kid.into();
        if self.records.iter().any(|r| r.kid == kid) {
            return Err(KeySetError::DuplicateKid);
        }
        for record in &mut self.records {
            if record.retired_at.is_none_or(|at| at > now) {
                record.retired_at = Some(now);
            }
        }
        self.records.push(KeyRecord { kid, created_at: now, retired_at: None });
        self.records.last().ok_or(KeySetError::Mismatch)
    }

    /// Removes and returns the records no longer published: the caller
    /// deletes their key material.
    pub fn prune(&mut self, now: OffsetDateTime) -> Vec<KeyRecord> {
        let (keep, gone): (Vec<KeyRecord>, Vec<KeyRecord>) =
            std::mem::take(&mut self.records).into_iter().partition(|r| self.publishes(r, now));
        self.records = keep;
        gone
    }
}

/// The key set with its key material: signs with the current key, verifies
/// with any published one, and serves the JWKS.
#[derive(Debug)]
pub struct TokenKeys {
    set: KeySet,
    keys: Vec<SigningKey>,
}

impl TokenKeys {
    /// Pairs each record with its key; every record needs its key, and every
    /// key a record.
    pub fn new(set: KeySet, keys: Vec<SigningKey>) -> Result<Self, KeySetError> {
        let paired = set.records.len() == keys.len()
            && set.records.iter().all(|r| keys.iter().filter(|k| k.kid() == r.kid).count() == 1);
        if !paired {
            return Err(KeySetError::Mismatch);
        }
        Ok(Self { set, keys })
    }

    /// The records and rules.
    pub fn key_set(&self) -> &KeySet {
        &self.set
    }

    fn key(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid() == kid)
    }

    /// The key that signs now.
    pub fn signer(&self, now: OffsetDateTime) -> Option<&SigningKey> {
        self.set.signing_kid(now).and_then(|kid| self.key(kid))
    }

    /// The public key for `kid` if it is published at `now`: the lookup to
    /// give `verify_access`.
    pub fn verifying_key(&self, kid: &str, now: OffsetDateTime) -> Option<PublicKey> {
        if !self.set.is_published(kid, now) {
            return None;
        }
        self.key(kid).map(SigningKey::public_key)
    }

    /// The `/.well-known/jwks.json` document at `now`.
    pub fn jwks(&self, now: OffsetDateTime) -> serde_json::Value {
        let keys: Vec<PublicKey> =
            self.set.published(now).into_iter().filter_map(|kid| self.key(kid)).map(SigningKey::public_key).collect();
        jws::jwks(&keys)
    }

    /// Rotates: `key` signs from `now`, the others retire.
    pub fn rotate(&mut self, key: SigningKey, now: OffsetDateTime) -> Result<(), KeySetError> {
        self.set.rotate(key.kid(), now)?;
        self.keys.push(key);
        Ok(())
    }

    /// Drops the keys no longer published; returns their records.
    pub fn prune(&mut self, now: OffsetDateTime) -> Vec<KeyRecord> {
        let gone = self.set.prune(now);
        self.keys.retain(|k| !gone.iter().any(|r| r.kid == k.kid()));
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn record(kid: &str, created_at: OffsetDateTime, retired_at: Option<OffsetDateTime>) -> KeyRecord {
        KeyRecord { kid: kid.to_owned(), created_at, retired_at }
    }

    fn rules() -> RotationPolicy {
        RotationPolicy::for_tokens(&TokenPolicy::new("https://pmo.example"))
    }

    #[test]
    fn the_newest_active_key_signs_and_rotation_keeps_the_old_one_published_for_a_while() {
        let t0 = datetime!(2026-01-01 0:00 UTC);
        let mut set = KeySet::new(vec![record("a", t0, None)], rules()).unwrap();
        assert_eq!(set.signing_kid(t0), Some("a"));
        assert!(!set.rotation_due(t0 + Duration::days(29)));
        let t1 = t0 + Duration::days(30);
        assert!(set.rotation_due(t1));
        set.rotate("b", t1).unwrap();
        assert_eq!(set.signing_kid(t1), Some("b"));
        assert!(!set.rotation_due(t1));
        assert_eq!(set.published(t1), ["b", "a"]);
        let edge = t1 + Duration::minutes(16);
        assert_eq!(set.published(edge - Duration::seconds(1)), ["b", "a"]);
        assert_eq!(set.published(edge), ["b"]);
        assert!(!set.is_published("a", edge));
        assert!(set.prune(edge - Duration::seconds(1)).is_empty());
        assert_eq!(set.prune(edge), [record("a", t0, Some(t1))]);
        assert_eq!(set.records().len(), 1);
        assert_eq!(set.rotate("b", edge), Err(KeySetError::DuplicateKid));
    }

    #[test]
    fn an_empty_set_needs_a_key_and_duplicates_are_refused() {
        let t0 = datetime!(2026-01-01 0:00 UTC);
        let set = KeySet::new(Vec::new(), rules()).unwrap();
        assert!(set.rotation_due(t0));
        assert_eq!(set.signing_kid(t0), None);
        let dup = KeySet::new(vec![record("a", t0, None), record("a", t0, Some(t0))], rules());
        assert_eq!(dup, Err(KeySetError::DuplicateKid));
    }

    #[test]
    fn records_serialise() {
        let r = record("a", datetime!(2026-01-01 0:00 UTC), None);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"kid":"a","created_at":"2026-01-01T00:00:00Z","retired_at":null}"#);
        assert_eq!(serde_json::from_str::<KeyRecord>(&json).unwrap(), r);
    }
}
