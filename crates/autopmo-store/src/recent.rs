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

use crate::sessions::Session;
use autopmo_domain::{Project, User};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The longest a cached read may be used: what DESIGN allows a revocation
/// made by another process to take.
pub const MAX_BOUND: Duration = Duration::from_secs(1);

/// How many entries each kind of read keeps at most. An entry lives a
/// second, so this is the number of sessions (or projects) used in one
/// second on one server; beyond it, reads simply are not kept.
const CAPACITY: usize = 4096;

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

/// One kind of read, kept under one bound.
#[derive(Debug)]
pub(crate) struct Kept<V> {
    bound: Duration,
    entries: Mutex<HashMap<String, Entry<V>>>,
}

impl<V: Clone> Kept<V> {
    fn new(bound: Duration) -> Self {
        Self { bound: bound.min(MAX_BOUND), entries: Mutex::default() }
    }

    /// The entry for `key`, if it is still good at `generation`.
    fn get(&self, key: &str, generation: u64) -> Option<V> {
        if self.bound.is_zero() {
            return None;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(key)?;
        if entry.generation == generation && entry.read_at.elapsed() < self.bound {
            return Some(entry.value.clone());
        }
        entries.remove(key);
        None
    }

    /// Keeps `value`, read after `generation` was taken, unless `current`
    /// (the generation now) says a change has been committed since.
    fn put(&self, key: &str, value: &V, generation: u64, read_at: Instant, current: u64) {
        if self.bound.is_zero() || generation != current {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.retain(|_, e| e.generation == current && e.read_at.elapsed() < self.bound);
            if entries.len() >= CAPACITY {
                return;
            }
        }
        entries.insert(key.to_owned(), Entry { value: value.clone(), generation, read_at });
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
            by_id: Kept::new(bounds.sessions),
            by_secret: Kept::new(bounds.sessions),
            projects: Kept::new(bounds.projects),
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

    fn sessions(&self, by: By) -> &Kept<SessionUser> {
        match by {
            By::Id => &self.by_id,
            By::Secret => &self.by_secret,
        }
    }

    /// The session found by `key`, if its entry is still good.
    pub(crate) fn session(&self, by: By, key: &str) -> Option<SessionUser> {
        self.sessions(by).get(key, self.generation())
    }

    /// Keeps a session read from the database after `generation` was taken.
    pub(crate) fn put_session(&self, by: By, key: &str, value: &SessionUser, generation: u64, read_at: Instant) {
        self.sessions(by).put(key, value, generation, read_at, self.generation());
    }

    /// The project `id`, if its entry is still good.
    pub(crate) fn project(&self, id: &str) -> Option<ProjectMembers> {
        self.projects.get(id, self.generation())
    }

    /// Keeps a project read from the database after `generation` was taken.
    pub(crate) fn put_project(&self, id: &str, value: &ProjectMembers, generation: u64, read_at: Instant) {
        self.projects.put(id, value, generation, read_at, self.generation());
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
        cache.put_session(By::Id, "s1", &session("s1"), g, Instant::now());
        assert_eq!(cache.session(By::Id, "s1").map(|v| v.0.id), Some("s1".to_owned()));
        // The same key by the other kind of credential is another entry.
        assert!(cache.session(By::Secret, "s1").is_none());
        cache.invalidate();
        assert!(cache.session(By::Id, "s1").is_none(), "a commit makes every entry stale");

        let g = cache.generation();
        let old = Instant::now().checked_sub(Duration::from_millis(1001)).expect("a second ago");
        cache.put_session(By::Id, "s1", &session("s1"), g, old);
        assert!(cache.session(By::Id, "s1").is_none(), "an entry older than the bound is not used");
    }

    #[test]
    fn a_read_that_raced_a_commit_is_not_kept() {
        let cache = reads(Duration::from_secs(1));
        let before = cache.generation();
        cache.invalidate(); // committed while the read was under way
        cache.put_session(By::Id, "s1", &session("s1"), before, Instant::now());
        assert!(cache.session(By::Id, "s1").is_none());
    }

    #[test]
    fn the_bound_is_capped_and_zero_keeps_nothing() {
        assert_eq!(reads(Duration::from_secs(60)).by_id.bound, MAX_BOUND);
        // Sessions kept, projects not: each kind has its own bound.
        let off = RecentReads::new(Bounds { sessions: Duration::ZERO, projects: MAX_BOUND });
        off.put_session(By::Id, "s1", &session("s1"), off.generation(), Instant::now());
        assert!(off.session(By::Id, "s1").is_none());
        assert_eq!(off.projects.bound, MAX_BOUND);
    }

    #[test]
    fn a_full_cache_makes_room_from_stale_entries_only() {
        let cache = reads(Duration::from_secs(1));
        let g = cache.generation();
        for i in 0..CAPACITY {
            cache.put_session(By::Id, &format!("s{i}"), &session("s"), g, Instant::now());
        }
        cache.put_session(By::Id, "extra", &session("extra"), g, Instant::now());
        assert!(cache.session(By::Id, "extra").is_none(), "full of good entries: the new one is not kept");
        assert!(cache.session(By::Id, "s0").is_some());
        cache.invalidate();
        let g = cache.generation();
        cache.put_session(By::Id, "extra", &session("extra"), g, Instant::now());
        assert!(cache.session(By::Id, "extra").is_some(), "stale entries make room");
    }
}
