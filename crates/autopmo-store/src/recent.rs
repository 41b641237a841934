//! What requests read before their handler runs, kept for at most a
//! second: sessions with their users, and projects with their members.
//!
//! Every request with an access token or a session cookie reads its session
//! and the session's user, and every request on a project reads the project
//! and its members: on PostgreSQL a round trip each, on SQLite point reads
//! whose pages every commit evicts. The same few sessions and projects make
//! most requests, so [`Store::session_with_user`](crate::Store::session_with_user)
//! and [`Store::project_with_members`](crate::Store::project_with_members)
//! answer from here when asked for a [`Freshness::Recent`](crate::Freshness)
//! read and they can (`docs/store.md`). An entry is used only while both
//! hold:
//!
//! - it is younger than its bound ([`StoreOptions::session_cache`](crate::StoreOptions)
//!   and `project_cache`, one second by default and at most [`MAX_BOUND`]);
//! - no unit of work has committed in this process since it was read. Every
//!   change to a session, a user, a role, a project or a membership is made
//!   in a unit of work, so a revocation, a lock, a role change or a removed
//!   member made by this server takes effect at once, on the request after
//!   it, as without the cache.
//!
//! A change made by another process (another server on the same PostgreSQL
//! database, the CLI on the same SQLite file) is seen within the bound; on
//! PostgreSQL, sooner, when its notification arrives (`crate::notify`).
//! Nothing missing is kept: a session or a project just created elsewhere
//! is found at once.

use crate::error::Result;
use crate::lookup::Freshness;
use crate::sessions::Session;
use autopmo_domain::{Project, User};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The longest a cached read may be used: what DESIGN allows a revocation
/// made by another process to take.
pub const MAX_BOUND: Duration = Duration::from_secs(1);

/// How many sessions are kept at most. An entry lives a second, so this is
/// the number of sessions used in one second on one server; beyond it,
/// reads simply are not kept.
const SESSIONS: usize = 4096;

/// How many projects are kept at most: as [`SESSIONS`], for the projects
/// read in one second (a few hundred bytes to a few kilobytes each).
const PROJECTS: usize = 8192;

/// A session, and its user unless the user is gone.
pub type SessionUser = (Session, Option<User>);

/// A project and the ids of its members.
pub type ProjectMembers = (Project, Vec<String>);

/// The key a session was found by: its public id or the hash of its secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum By {
    /// The `sid` of an access token.
    Id,
    /// The hash of a cookie's secret.
    Secret,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    /// [`RecentReads::generation`] when the read started.
    generation: u64,
    read_at: Instant,
}

/// The entries of one kind, and their keys in the order they were kept:
/// the oldest first, so that making room is taking from the front.
#[derive(Debug)]
struct Entries<V> {
    map: HashMap<String, Entry<V>>,
    order: VecDeque<(String, Instant)>,
}

/// One kind of read, kept under one bound.
#[derive(Debug)]
pub(crate) struct Kept<V> {
    bound: Duration,
    capacity: usize,
    entries: Mutex<Entries<V>>,
}

impl<V: Clone> Kept<V> {
    fn new(bound: Duration, capacity: usize) -> Self {
        let entries = Entries { map: HashMap::new(), order: VecDeque::new() };
        Self { bound: bound.min(MAX_BOUND), capacity, entries: Mutex::new(entries) }
    }

    /// The entry for `key`, if it is still good at `generation`.
    fn get(&self, key: &str, generation: u64) -> Option<V> {
        if self.bound.is_zero() {
            return None;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.map.get(key)?;
        if entry.generation == generation && entry.read_at.elapsed() < self.bound {
            return Some(entry.value.clone());
        }
        entries.map.remove(key);
        None
    }

    /// Keeps `value`, read after `generation` was taken, unless `current`
    /// (the generation now) says a change has been committed since.
    /// Entries that are past their bound or stale leave first, oldest
    /// first; if the cache is still full of good ones, `value` is not kept.
    fn put(&self, key: &str, value: &V, generation: u64, read_at: Instant, current: u64) {
        if self.bound.is_zero() || generation != current {
            return;
        }
        let mut guard = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let Entries { map, order } = &mut *guard;
        while let Some((oldest, kept_at)) = order.front() {
            // The entry this place was made for, unless a later read of
            // the same key replaced it (that one has a place further back).
            let entry = map.get(oldest).filter(|e| e.read_at == *kept_at);
            if entry.is_some_and(|e| e.generation == current && e.read_at.elapsed() < self.bound) {
                if order.len() < self.capacity {
                    break;
                }
                return; // full of good entries
            }
            let live = entry.is_some();
            if let Some((oldest, _)) = order.pop_front()
                && live
            {
                map.remove(&oldest);
            }
        }
        map.insert(key.to_owned(), Entry { value: value.clone(), generation, read_at });
        order.push_back((key.to_owned(), read_at));
    }
}

/// The bounds of [`RecentReads`]: each at most [`MAX_BOUND`], zero keeps
/// nothing of that kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) sessions: Duration,
    pub(crate) projects: Duration,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct RecentReads {
    by_id: Kept<SessionUser>,
    by_secret: Kept<SessionUser>,
    projects: Kept<ProjectMembers>,
    /// Counts the commits that carried units of work and the notifications
    /// of other processes' changes: an entry read before the latest one is
    /// stale.
    generation: AtomicU64,
}

impl RecentReads {
    pub(crate) fn new(bounds: Bounds) -> Self {
        Self {
            by_id: Kept::new(bounds.sessions, SESSIONS),
            by_secret: Kept::new(bounds.sessions, SESSIONS),
            projects: Kept::new(bounds.projects, PROJECTS),
            generation: AtomicU64::new(0),
        }
    }

    /// Take this before reading from the database, and hand it to a `put`
    /// with what was read.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Forgets everything: a change that may concern what is kept has been
    /// committed (or may have been). Called before that commit is reported
    /// to whoever made it.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The sessions found by one kind of key.
    pub(crate) fn sessions(&self, by: By) -> &Kept<SessionUser> {
        match by {
            By::Id => &self.by_id,
            By::Secret => &self.by_secret,
        }
    }

    /// The projects, by id.
    pub(crate) fn projects(&self) -> &Kept<ProjectMembers> {
        &self.projects
    }

    /// The entry for `key` in `kept`, if it is still good.
    fn get<V: Clone>(&self, kept: &Kept<V>, key: &str) -> Option<V> {
        kept.get(key, self.generation())
    }

    /// Keeps in `kept` a value read from the database after `generation`
    /// was taken.
    fn put<V: Clone>(&self, kept: &Kept<V>, key: &str, value: &V, generation: u64, read_at: Instant) {
        kept.put(key, value, generation, read_at, self.generation());
    }

    /// The value for `key`: the entry in `kept` when `freshness` allows it
    /// and it is good, else what `read` finds (then kept, unless a change
    /// was committed while it read). `read` has not started yet: a future
    /// runs only when awaited, after the generation is taken here.
    pub(crate) async fn through<V: Clone>(
        &self,
        kept: &Kept<V>,
        key: &str,
        freshness: Freshness,
        read: impl Future<Output = Result<Option<V>>>,
    ) -> Result<Option<V>> {
        if freshness == Freshness::Recent
            && let Some(hit) = self.get(kept, key)
        {
            return Ok(Some(hit));
        }
        let (generation, read_at) = (self.generation(), Instant::now());
        let found = read.await?;
        if let Some(found) = &found {
            self.put(kept, key, found, generation, read_at);
        }
        Ok(found)
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

    fn reads(bound: Duration) -> RecentReads {
        RecentReads::new(Bounds { sessions: bound, projects: bound })
    }

    #[test]
    fn an_entry_is_used_until_a_commit_or_the_bound() {
        let cache = reads(Duration::from_secs(1));
        let g = cache.generation();
        cache.put(cache.sessions(By::Id), "s1", &session("s1"), g, Instant::now());
        assert_eq!(cache.get(cache.sessions(By::Id), "s1").map(|v| v.0.id), Some("s1".to_owned()));
        // The same key by the other kind of credential is another entry.
        assert!(cache.get(cache.sessions(By::Secret), "s1").is_none());
        cache.invalidate();
        assert!(cache.get(cache.sessions(By::Id), "s1").is_none(), "a commit makes every entry stale");

        let g = cache.generation();
        let old = Instant::now().checked_sub(Duration::from_millis(1001)).expect("a second ago");
        cache.put(cache.sessions(By::Id), "s1", &session("s1"), g, old);
        assert!(cache.get(cache.sessions(By::Id), "s1").is_none(), "an entry older than the bound is not used");
    }

    #[test]
    fn a_read_that_raced_a_commit_is_not_kept() {
        let cache = reads(Duration::from_secs(1));
        let before = cache.generation();
        cache.invalidate(); // committed while the read was under way
        cache.put(cache.sessions(By::Id), "s1", &session("s1"), before, Instant::now());
        assert!(cache.get(cache.sessions(By::Id), "s1").is_none());
    }

    #[test]
    fn the_bound_is_capped_and_zero_keeps_nothing() {
        assert_eq!(reads(Duration::from_secs(60)).by_id.bound, MAX_BOUND);
        // Sessions kept, projects not: each kind has its own bound.
        let off = RecentReads::new(Bounds { sessions: Duration::ZERO, projects: MAX_BOUND });
        off.put(off.sessions(By::Id), "s1", &session("s1"), off.generation(), Instant::now());
        assert!(off.get(off.sessions(By::Id), "s1").is_none());
        assert_eq!(off.projects.bound, MAX_BOUND);
    }

    #[test]
    fn a_full_cache_makes_room_from_stale_entries_only() {
        let cache = reads(Duration::from_secs(1));
        let g = cache.generation();
        for i in 0..SESSIONS {
            cache.put(cache.sessions(By::Id), &format!("s{i}"), &session("s"), g, Instant::now());
        }
        cache.put(cache.sessions(By::Id), "extra", &session("extra"), g, Instant::now());
        assert!(cache.get(cache.sessions(By::Id), "extra").is_none(), "full of good entries: the new one is not kept");
        assert!(cache.get(cache.sessions(By::Id), "s0").is_some());
        cache.invalidate();
        let g = cache.generation();
        cache.put(cache.sessions(By::Id), "extra", &session("extra"), g, Instant::now());
        assert!(cache.get(cache.sessions(By::Id), "extra").is_some(), "stale entries make room");
    }

    #[test]
    fn room_is_made_from_the_oldest_and_a_replaced_entry_keeps_its_new_place() {
        let kept: Kept<u32> = Kept::new(Duration::from_secs(1), 2);
        let now = Instant::now();
        let old = now.checked_sub(Duration::from_millis(1500)).expect("before");
        kept.put("a", &1, 0, old, 0);
        kept.put("a", &2, 0, now, 0); // read again (a current read)
        kept.put("b", &3, 0, now, 0);
        // The first place of "a" was freed without dropping its new entry.
        assert_eq!((kept.get("a", 0), kept.get("b", 0)), (Some(2), Some(3)));
        kept.put("c", &4, 0, now, 0);
        assert_eq!(kept.get("c", 0), None, "two good entries fill it");
        // Entries past the bound leave, oldest first, and take their places along.
        let many: Kept<u32> = Kept::new(Duration::from_secs(1), 3);
        for key in ["x", "y", "z"] {
            many.put(key, &0, 0, old, 0);
        }
        many.put("w", &9, 0, now, 0);
        let entries = many.entries.lock().expect("not poisoned");
        assert_eq!((entries.map.len(), entries.order.len()), (1, 1), "every expired entry left");
    }
}
