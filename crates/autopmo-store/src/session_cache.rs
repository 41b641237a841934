//! Recently read sessions with their users, kept for at most a second.
//!
//! Every request with an access token or a session cookie reads its session
//! and the session's user: on PostgreSQL a round trip, on SQLite two point
//! reads whose pages every commit evicts. The same few sessions make most
//! requests, so [`Store::session_with_user`](crate::Store::session_with_user)
//! answers from here when it can (`docs/store.md`). An entry is used only
//! while both hold:
//!
//! - it is younger than the bound ([`StoreOptions::session_cache`](crate::StoreOptions),
//!   one second by default and at most [`MAX_BOUND`]);
//! - no unit of work has committed in this process since it was read. Every
//!   change to a session, a user or a role is made in a unit of work, so a
//!   revocation, a lock or a role change made by this server takes effect
//!   at once, on the request after it, as without the cache.
//!
//! A change made by another process (another server on the same PostgreSQL
//! database, the CLI on the same SQLite file) is seen within the bound; on
//! PostgreSQL, sooner, when its notification arrives (`crate::notify`).
//! A missing session is never kept: a session just created elsewhere is
//! found at once.

use crate::sessions::Session;
use autopmo_domain::User;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The longest a cached session may be used: what DESIGN allows a
/// revocation made by another process to take.
pub const MAX_BOUND: Duration = Duration::from_secs(1);

/// How many sessions are kept at most, for each kind of key. An entry lives a second, so this is
/// the number of sessions active in one second on one server; beyond it,
/// reads simply are not cached.
const CAPACITY: usize = 4096;

/// A session, and its user unless the user is gone.
pub type SessionUser = (Session, Option<User>);

/// The key a session was found by: its public id or the hash of its secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum By {
    /// The `sid` of an access token.
    Id,
    /// The hash of a cookie's secret.
    Secret,
}

#[derive(Debug)]
struct Entry {
    value: SessionUser,
    /// [`SessionCache::generation`] when the read started.
    generation: u64,
    read_at: Instant,
}

/// One map per [`By`], so that a lookup needs no owned key.
#[derive(Debug, Default)]
struct Maps {
    by_id: HashMap<String, Entry>,
    by_secret: HashMap<String, Entry>,
}

impl Maps {
    fn of(&mut self, by: By) -> &mut HashMap<String, Entry> {
        match by {
            By::Id => &mut self.by_id,
            By::Secret => &mut self.by_secret,
        }
    }
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct SessionCache {
    bound: Duration,
    entries: Mutex<Maps>,
    /// Counts the commits that carried units of work and the notifications
    /// of other processes' changes: an entry read before the latest one is
    /// stale.
    generation: AtomicU64,
}

impl SessionCache {
    /// A cache whose entries live `bound` (capped at [`MAX_BOUND`]); a zero
    /// bound keeps nothing.
    pub(crate) fn new(bound: Duration) -> Self {
        Self { bound: bound.min(MAX_BOUND), entries: Mutex::default(), generation: AtomicU64::new(0) }
    }

    /// Take this before reading from the database, and hand it to
    /// [`put`](Self::put) with what was read.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Forgets everything: a change that may concern a session or a user
    /// has been committed (or may have been). Called before that commit is
    /// reported to whoever made it.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The entry for `key`, if it is still good.
    pub(crate) fn get(&self, by: By, key: &str) -> Option<SessionUser> {
        if self.bound.is_zero() {
            return None;
        }
        let generation = self.generation();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let map = entries.of(by);
        let entry = map.get(key)?;
        if entry.generation == generation && entry.read_at.elapsed() < self.bound {
            return Some(entry.value.clone());
        }
        map.remove(key);
        None
    }

    /// Keeps `value`, read from the database after `generation` was taken,
    /// unless a change has been committed since.
    pub(crate) fn put(&self, by: By, key: &str, value: &SessionUser, generation: u64, read_at: Instant) {
        if self.bound.is_zero() || generation != self.generation() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let map = entries.of(by);
        if map.len() >= CAPACITY {
            let current = self.generation();
            map.retain(|_, e| e.generation == current && e.read_at.elapsed() < self.bound);
            if map.len() >= CAPACITY {
                return;
            }
        }
        map.insert(key.to_owned(), Entry { value: value.clone(), generation, read_at });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::SessionKind;
    use time::OffsetDateTime;

    fn session(id: &str) -> SessionUser {
        let now = OffsetDateTime::UNIX_EPOCH;
        let s = Session {
            id: id.to_owned(),
            user_id: "u1".to_owned(),
            kind: SessionKind::Api,
            created_at: now,
            last_seen_at: now,
            absolute_expires_at: now,
            auth_time: now,
            amr: vec!["pwd".to_owned()],
            revoked: None,
        };
        (s, None)
    }

    #[test]
    fn an_entry_is_used_until_a_commit_or_the_bound() {
        let cache = SessionCache::new(Duration::from_secs(1));
        let g = cache.generation();
        cache.put(By::Id, "s1", &session("s1"), g, Instant::now());
        assert_eq!(cache.get(By::Id, "s1").map(|v| v.0.id), Some("s1".to_owned()));
        // The same key by the other kind of credential is another entry.
        assert!(cache.get(By::Secret, "s1").is_none());
        cache.invalidate();
        assert!(cache.get(By::Id, "s1").is_none(), "a commit makes every entry stale");

        let g = cache.generation();
        let old = Instant::now().checked_sub(Duration::from_millis(1001)).expect("a second ago");
        cache.put(By::Id, "s1", &session("s1"), g, old);
        assert!(cache.get(By::Id, "s1").is_none(), "an entry older than the bound is not used");
    }

    #[test]
    fn a_read_that_raced_a_commit_is_not_kept() {
        let cache = SessionCache::new(Duration::from_secs(1));
        let before = cache.generation();
        cache.invalidate(); // committed while the read was under way
        cache.put(By::Id, "s1", &session("s1"), before, Instant::now());
        assert!(cache.get(By::Id, "s1").is_none());
    }

    #[test]
    fn the_bound_is_capped_and_zero_keeps_nothing() {
        assert_eq!(SessionCache::new(Duration::from_secs(60)).bound, MAX_BOUND);
        let off = SessionCache::new(Duration::ZERO);
        off.put(By::Id, "s1", &session("s1"), off.generation(), Instant::now());
        assert!(off.get(By::Id, "s1").is_none());
    }

    #[test]
    fn a_full_cache_makes_room_from_stale_entries_only() {
        let cache = SessionCache::new(Duration::from_secs(1));
        let g = cache.generation();
        for i in 0..CAPACITY {
            cache.put(By::Id, &format!("s{i}"), &session("s"), g, Instant::now());
        }
        cache.put(By::Id, "extra", &session("extra"), g, Instant::now());
        assert!(cache.get(By::Id, "extra").is_none(), "full of good entries: the new one is not kept");
        assert!(cache.get(By::Id, "s0").is_some());
        cache.invalidate();
        let g = cache.generation();
        cache.put(By::Id, "extra", &session("extra"), g, Instant::now());
        assert!(cache.get(By::Id, "extra").is_some(), "stale entries make room");
    }
}
