//! Password hashing with Argon2id, on a bounded blocking pool.
//!
//! Use [`PasswordHasher`] wherever a password is stored or checked: at sign-up and
//! password change ([`PasswordHasher::hash`]) and at login ([`PasswordHasher::verify`]).
//!
//! - **Parameters**: OWASP's recommendation by default (Argon2id, m = 19 MiB, t = 2, p = 1,
//!   see [`Params::OWASP`]). [`Params::new`] refuses anything weaker than OWASP's
//!   equivalent settings; tests and development builds that want fast hashing say so
//!   with [`Params::danger_below_owasp_minimum`].
//! - **Upgrades**: [`Verification::Valid`] carries `needs_rehash` when the stored hash was
//!   made with other parameters, so the caller re-hashes at the next good login.
//! - **Unknown users**: `verify(password, None)` verifies against a dummy hash made once
//!   with the current parameters, so that an unknown user takes as long as a known one
//!   (the answer is always [`Verification::Invalid`]).
//! - **Load**: hashing is CPU- and memory-heavy, so it runs on threads of its own,
//!   [`PoolLimits::max_concurrent`] of them, at the lowest CPU priority so that a login
//!   flood does not slow the rest of the API down. When [`PoolLimits::max_queue`]
//!   callers already wait for a slot, the next one fails at once with
//!   [`PasswordError::Busy`] (the HTTP layer answers 503 with `Retry-After`), so a login
//!   flood cannot queue without bound or starve the async workers.
//! - **Secrets**: passwords are [`SecretString`]s; nothing here logs them, and every
//!   `Debug` output is redacted (a [`PasswordHash`] shows only its algorithm and
//!   parameters, never its salt or digest).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::phc::PasswordHash as PhcHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Version};
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::{OnceCell, Semaphore, TryAcquireError};

use crate::hash_threads::HashThreads;

/// Salt length in bytes (the PHC recommendation, and argon2's default).
const SALT_LEN: usize = 16;
/// Digest length in bytes.
const OUTPUT_LEN: usize = 32;
/// Largest memory cost accepted, in configuration and in stored hashes: 1 GiB.
/// A larger stored value is refused rather than allocated (a tampered row must not
/// be able to exhaust memory).
const MAX_MEMORY_KIB: u32 = 1024 * 1024;
/// Largest iteration count accepted.
const MAX_ITERATIONS: u32 = 64;
/// Largest parallelism accepted (lanes; this crate computes them on one thread).
const MAX_PARALLELISM: u32 = 16;
/// OWASP's equivalent settings trade memory for iterations; all of them have at least
/// 7 MiB and a memory × iterations product of at least 35,840 KiB (7 MiB × 5).
const OWASP_MIN_MEMORY_KIB: u32 = 7 * 1024;
const OWASP_MIN_MEMORY_TIMES_ITERATIONS: u64 = 7 * 1024 * 5;
/// Largest number of concurrent hashes a pool may be configured with.
const MAX_CONCURRENT: usize = 1024;

/// A password-hashing failure. Messages never include a password or a hash.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Too many password checks are already waiting: answer 503 (or 429) and let the
    /// client retry later.
    #[error("too many password checks are waiting; try again later")]
    Busy,
    /// [`Params`] or [`PoolLimits`] out of range.
    #[error("invalid password hashing configuration: {0}")]
    Config(String),
    /// The stored hash is not an Argon2 PHC string, or its parameters are out of range.
    #[error("the stored password hash is malformed or not supported")]
    MalformedHash,
    /// Argon2 itself failed (for example, out of memory).
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The system random generator failed.
    #[error("no secure randomness available")]
    Random,
    /// The blocking task died.
    #[error("the password hashing worker stopped unexpectedly")]
    Worker,
}

/// Argon2id cost parameters (the algorithm is always Argon2id, version 0x13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
}

impl Params {
    /// OWASP Password Storage Cheat Sheet: Argon2id, m = 19456 KiB, t = 2, p = 1.
    pub const OWASP: Params = Params { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 };

    /// Parameters at least as strong as one of OWASP's equivalent settings
    /// (m ≥ 7 MiB and m × t ≥ 35,840 KiB), within sane upper bounds.
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self, PasswordError> {
        let params = Self::danger_below_owasp_minimum(memory_kib, iterations, parallelism)?;
        if memory_kib < OWASP_MIN_MEMORY_KIB
            || u64::from(memory_kib) * u64::from(iterations) < OWASP_MIN_MEMORY_TIMES_ITERATIONS
        {
            return Err(PasswordError::Config(format!(
                "argon2 m={memory_kib} KiB, t={iterations} is weaker than OWASP's minimum \
                 (m >= {OWASP_MIN_MEMORY_KIB} KiB and m*t >= {OWASP_MIN_MEMORY_TIMES_ITERATIONS})"
            )));
        }
        Ok(params)
    }

    /// Parameters checked only against Argon2's own limits and this crate's upper bounds,
    /// **not** against OWASP's minimum. For tests and benchmarks that need fast hashing;
    /// never for stored production passwords.
    pub fn danger_below_owasp_minimum(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
    ) -> Result<Self, PasswordError> {
        if memory_kib > MAX_MEMORY_KIB || iterations > MAX_ITERATIONS || parallelism > MAX_PARALLELISM {
            return Err(PasswordError::Config(format!(
                "argon2 parameters too large (m <= {MAX_MEMORY_KIB} KiB, t <= {MAX_ITERATIONS}, \
                 p <= {MAX_PARALLELISM})"
            )));
        }
        argon2::Params::new(memory_kib, iterations, parallelism, Some(OUTPUT_LEN)).map_err(|e| {
            PasswordError::Config(format!("argon2 m={memory_kib}, t={iterations}, p={parallelism}: {e}"))
        })?;
        Ok(Params { memory_kib, iterations, parallelism })
    }

    /// Memory cost in KiB.
    pub fn memory_kib(&self) -> u32 {
        self.memory_kib
    }

    /// Number of passes over memory.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// Degree of parallelism (lanes).
    pub fn parallelism(&self) -> u32 {
        self.parallelism
    }

    fn argon2(&self) -> Result<Argon2<'static>, PasswordError> {
        let params = argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, Some(OUTPUT_LEN))
            .map_err(|e| PasswordError::Config(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

impl Default for Params {
    fn default() -> Self {
        Self::OWASP
    }
}

/// How many hashes run at once, and how many callers may wait for a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolLimits {
    max_concurrent: usize,
    max_queue: usize,
}

impl PoolLimits {
    /// `max_concurrent` in 1..=1024; `max_queue` may be 0 (no waiting: busy at once).
    pub fn new(max_concurrent: usize, max_queue: usize) -> Result<Self, PasswordError> {
        if max_concurrent == 0 || max_concurrent > MAX_CONCURRENT {
            return Err(PasswordError::Config(format!(
                "max_concurrent must be between 1 and {MAX_CONCURRENT}, not {max_concurrent}"
            )));
        }
        Ok(Self { max_concurrent, max_queue })
    }

    /// Hashes that run at once (each on a blocking thread).
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// Callers that may wait for a slot; one more gets [`PasswordError::Busy`].
    pub fn max_queue(&self) -> usize {
        self.max_queue
    }
}

impl Default for PoolLimits {
    /// One hash per CPU; up to 16 waiting callers per CPU (with the OWASP parameters a
    /// hash takes tens of milliseconds, so the last in the queue waits well under a second
    /// on a release build).
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from).min(MAX_CONCURRENT);
        Self { max_concurrent: cpus, max_queue: cpus.saturating_mul(16) }
    }
}

/// A password hash in the PHC string format (`$argon2id$v=19$m=…,t=…,p=…$salt$digest`),
/// the form to store. `Debug` shows the algorithm and parameters only.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// The PHC string, to store.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The PHC string, to store.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<digest>`: keep the first three fields.
        let public: Vec<&str> = self.0.split('$').take(4).collect();
        write!(f, "PasswordHash({}$<redacted>)", public.join("$"))
    }
}

/// The outcome of [`PasswordHasher::verify`].
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verification {
    /// The password matches. When `needs_rehash` is true the stored hash used other
    /// parameters (or another Argon2 variant): hash the password again and store it.
    Valid {
        /// Re-hash with the current parameters and store the new hash.
        needs_rehash: bool,
    },
    /// The password does not match, or there was no stored hash (unknown user).
    Invalid,
}

impl Verification {
    /// Whether the password matched.
    pub fn is_valid(&self) -> bool {
        matches!(self, Verification::Valid { .. })
    }
}

/// Argon2id hashing and verification on a bounded pool of blocking threads.
/// Cheap to clone: clones share one pool, one queue and one dummy hash.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    argon2: Argon2<'static>,
    limits: PoolLimits,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    dummy: OnceCell<String>,
    threads: HashThreads,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.inner.params)
            .field("limits", &self.inner.limits)
            .field("waiting", &self.inner.waiting.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Default for PasswordHasher {
    /// OWASP parameters, one hash per CPU.
    fn default() -> Self {
        // argon2's default parameters are OWASP's (checked by a test).
        Self::build(
            Params::OWASP,
            PoolLimits::default(),
            Argon2::new(Algorithm::Argon2id, Version::V0x13, argon2::Params::DEFAULT),
        )
    }
}

impl PasswordHasher {
    /// A hasher with these parameters and pool limits (both validated by their constructors).
    pub fn new(params: Params, limits: PoolLimits) -> Result<Self, PasswordError> {
        let argon2 = params.argon2()?;
        Ok(Self::build(params, limits, argon2))
    }

    fn build(params: Params, limits: PoolLimits, argon2: Argon2<'static>) -> Self {
        Self {
            inner: Arc::new(Inner {
                params,
                argon2,
                limits,
                permits: Arc::new(Semaphore::new(limits.max_concurrent)),
                waiting: AtomicUsize::new(0),
                dummy: OnceCell::new(),
                threads: HashThreads::new(limits.max_concurrent),
            }),
        }
    }

    /// The parameters new hashes are made with.
    pub fn params(&self) -> Params {
        self.inner.params
    }

    /// The pool limits.
    pub fn limits(&self) -> PoolLimits {
        self.inner.limits
    }

    /// Hash a password with a fresh random salt and the current parameters.
    pub async fn hash(&self, password: &SecretString) -> Result<PasswordHash, PasswordError> {
        let password = password.clone();
        self.run(move |inner| inner.hash_blocking(password.expose_secret().as_bytes())).await?.map(PasswordHash)
    }

    /// Check a password against a stored PHC string. With `stored = None` (no such
    /// user) the password is checked against a dummy hash with the current parameters,
    /// taking the same time, and the answer is [`Verification::Invalid`].
    ///
    /// A stored string that is not an Argon2 PHC string, or whose parameters exceed this
    /// crate's bounds, is an error ([`PasswordError::MalformedHash`]), not `Invalid`:
    /// it means the database holds something this server did not write.
    pub async fn verify(&self, password: &SecretString, stored: Option<&str>) -> Result<Verification, PasswordError> {
        let (stored, known) = match stored {
            Some(stored) => (stored.to_owned(), true),
            None => (self.dummy_hash().await?.to_owned(), false),
        };
        let password = password.clone();
        let verification =
            self.run(move |inner| inner.verify_blocking(password.expose_secret().as_bytes(), &stored)).await??;
        Ok(if known { verification } else { Verification::Invalid })
    }

    /// The dummy hash for unknown users, made on first use (through the pool) with a
    /// random password nobody knows.
    async fn dummy_hash(&self) -> Result<&str, PasswordError> {
        let dummy = self
            .inner
            .dummy
            .get_or_try_init(|| async {
                let password = crate::random_bytes::<32>().map_err(|_| PasswordError::Random)?;
                self.run(move |inner| inner.hash_blocking(&password)).await?
            })
            .await?;
        Ok(dummy.as_str())
    }

    /// Whether a hash asked for now would be refused with
    /// [`PasswordError::Busy`]: every slot taken and the queue full. A
    /// caller that has work to do before hashing (a login's lookups) can
    /// refuse at once instead of doing it for nothing; the answer may be
    /// stale by the time it hashes, which then decides again.
    pub fn saturated(&self) -> bool {
        self.inner.permits.available_permits() == 0
            && self.inner.waiting.load(Ordering::Acquire) >= self.inner.limits.max_queue
    }

    /// Run `work` on a blocking thread once a slot is free; fail with
    /// [`PasswordError::Busy`] when `max_queue` callers already wait.
    async fn run<T, F>(&self, work: F) -> Result<T, PasswordError>
    where
        F: FnOnce(&Inner) -> T + Send + 'static,
        T: Send + 'static,
    {
        let inner = &self.inner;
        let permit = match Arc::clone(&inner.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return Err(PasswordError::Worker),
            Err(TryAcquireError::NoPermits) => {
                let max_queue = inner.limits.max_queue;
                inner
                    .waiting
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| (w < max_queue).then_some(w + 1))
                    .map_err(|_| PasswordError::Busy)?;
                // Leaves the queue however this future ends (permit, or caller gone).
                let _in_queue = QueueSlot(&inner.waiting);
                Arc::clone(&inner.permits).acquire_owned().await.map_err(|_| PasswordError::Worker)?
            }
        };
        let shared = Arc::clone(inner);
        inner
            .threads
            .run(move || {
                // Held until the work ends, even if the caller stopped waiting.
                let _permit = permit;
                work(&shared)
            })
            .await
            .map_err(|_| PasswordError::Worker)
    }
}

/// A place in the wait queue, given back on drop.
struct QueueSlot<'a>(&'a AtomicUsize);

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Inner {
    fn hash_blocking(&self, password: &[u8]) -> Result<String, PasswordError> {
        let salt = crate::random_bytes::<SALT_LEN>().map_err(|_| PasswordError::Random)?;
        let hash =
            self.argon2.hash_password_with_salt(password, &salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
        Ok(hash.to_string())
    }

    fn verify_blocking(&self, password: &[u8], stored: &str) -> Result<Verification, PasswordError> {
        let parsed = PhcHash::new(stored).map_err(|_| PasswordError::MalformedHash)?;
        if parsed.salt.is_none() || parsed.hash.is_none() {
            return Err(PasswordError::MalformedHash);
        }
        let algorithm = Algorithm::new(parsed.algorithm.as_str()).map_err(|_| PasswordError::MalformedHash)?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).map_err(|_| PasswordError::MalformedHash)?,
            None => Version::V0x10, // the PHC spec: no version field means 0x10
        };
        let stored_params = argon2::Params::try_from(&parsed).map_err(|_| PasswordError::MalformedHash)?;
        if stored_params.m_cost() > MAX_MEMORY_KIB
            || stored_params.t_cost() > MAX_ITERATIONS
            || stored_params.p_cost() > MAX_PARALLELISM
        {
            return Err(PasswordError::MalformedHash);
        }
        match self.argon2.verify_password(password, &parsed) {
            Ok(()) => {
                let current = self.params;
                let needs_rehash = algorithm != Algorithm::Argon2id
                    || version != Version::V0x13
                    || stored_params.m_cost() != current.memory_kib
                    || stored_params.t_cost() != current.iterations
                    || stored_params.p_cost() != current.parallelism
                    || stored_params.output_len() != Some(OUTPUT_LEN)
                    || parsed.salt.is_none_or(|salt| salt.len() < SALT_LEN);
                Ok(Verification::Valid { needs_rehash })
            }
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(Verification::Invalid),
            Err(
                argon2::password_hash::Error::Algorithm
                | argon2::password_hash::Error::ParamInvalid { .. }
                | argon2::password_hash::Error::ParamsInvalid
                | argon2::password_hash::Error::SaltInvalid
                | argon2::password_hash::Error::Version,
            ) => Err(PasswordError::MalformedHash),
            Err(e) => Err(PasswordError::Hash(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    /// Fast parameters for tests.
    fn small() -> Params {
        Params::danger_below_owasp_minimum(256, 1, 1).unwrap()
    }

    fn hasher(params: Params, max_concurrent: usize, max_queue: usize) -> PasswordHasher {
        PasswordHasher::new(params, PoolLimits::new(max_concurrent, max_queue).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn round_trip_and_wrong_password() {
        let h = hasher(small(), 2, 8);
        let stored = h.hash(&secret("correct horse battery staple")).await.unwrap();
        assert!(stored.as_str().starts_with("$argon2id$v=19$m=256,t=1,p=1$"));
        assert_eq!(
            h.verify(&secret("correct horse battery staple"), Some(stored.as_str())).await.unwrap(),
            Verification::Valid { needs_rehash: false }
        );
        assert_eq!(
            h.verify(&secret("correct horse battery stapler"), Some(stored.as_str())).await.unwrap(),
            Verification::Invalid
        );
        // Same password, fresh salt, different hash.
        let again = h.hash(&secret("correct horse battery staple")).await.unwrap();
        assert_ne!(stored, again);
    }

    #[tokio::test]
    async fn owasp_defaults_round_trip() {
        let h = PasswordHasher::default();
        assert_eq!(h.params(), Params::OWASP);
        let stored = h.hash(&secret("a long and unusual pass phrase")).await.unwrap();
        assert!(stored.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored:?}");
        assert_eq!(
            h.verify(&secret("a long and unusual pass phrase"), Some(stored.as_str())).await.unwrap(),
            Verification::Valid { needs_rehash: false }
        );
        assert_eq!(h.verify(&secret("another phrase"), Some(stored.as_str())).await.unwrap(), Verification::Invalid);
    }

    #[tokio::test]
    async fn weaker_or_other_variant_needs_rehash() {
        let weak = hasher(small(), 1, 1);
        let stored = weak.hash(&secret("pass phrase")).await.unwrap();
        let current = hasher(Params::danger_below_owasp_minimum(512, 2, 1).unwrap(), 1, 1);
        assert_eq!(
            current.verify(&secret("pass phrase"), Some(stored.as_str())).await.unwrap(),
            Verification::Valid { needs_rehash: true }
        );
        assert_eq!(current.verify(&secret("wrong"), Some(stored.as_str())).await.unwrap(), Verification::Invalid);

        // Argon2i with the current costs is still verified, then upgraded to Argon2id.
        let argon2i =
            Argon2::new(Algorithm::Argon2i, Version::V0x13, argon2::Params::new(512, 2, 1, Some(32)).unwrap());
        let legacy = argon2i.hash_password_with_salt(b"pass phrase", &[7u8; 16]).unwrap().to_string();
        assert_eq!(
            current.verify(&secret("pass phrase"), Some(&legacy)).await.unwrap(),
            Verification::Valid { needs_rehash: true }
        );
    }

    #[tokio::test]
    async fn malformed_or_oversized_stored_hash_is_an_error() {
        let h = hasher(small(), 1, 1);
        for stored in ["", "plaintext", "$2b$12$abcdefghijklmnopqrstuu", "$argon2id$v=19$m=256,t=1,p=1$c2FsdA"] {
            assert!(
                matches!(h.verify(&secret("x"), Some(stored)).await, Err(PasswordError::MalformedHash)),
                "{stored}"
            );
        }
        let huge = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$\
                    AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(matches!(h.verify(&secret("x"), Some(huge)).await, Err(PasswordError::MalformedHash)));
    }

    #[tokio::test]
    async fn unknown_user_is_always_invalid() {
        let h = hasher(small(), 1, 1);
        assert_eq!(h.verify(&secret("anything"), None).await.unwrap(), Verification::Invalid);
        assert_eq!(h.verify(&secret(""), None).await.unwrap(), Verification::Invalid);
    }

    #[test]
    fn params_validation() {
        assert_eq!(Params::default(), Params::OWASP);
        assert_eq!(Params::new(19456, 2, 1).unwrap(), Params::OWASP);
        assert!(Params::new(47104, 1, 1).is_ok()); // OWASP's other settings
        assert!(Params::new(12288, 3, 1).is_ok());
        assert!(Params::new(7168, 5, 1).is_ok());
        assert!(matches!(Params::new(19456, 1, 1), Err(PasswordError::Config(_))));
        assert!(matches!(Params::new(4096, 10, 1), Err(PasswordError::Config(_))));
        assert!(Params::danger_below_owasp_minimum(256, 1, 1).is_ok());
        assert!(Params::danger_below_owasp_minimum(4, 1, 1).is_err()); // below argon2's 8 KiB
        assert!(Params::danger_below_owasp_minimum(16, 1, 4).is_err()); // m < 8 p
        assert!(Params::danger_below_owasp_minimum(256, 0, 1).is_err());
        assert!(Params::danger_below_owasp_minimum(256, 1, 0).is_err());
        assert!(Params::danger_below_owasp_minimum(MAX_MEMORY_KIB + 1, 1, 1).is_err());
        assert!(PoolLimits::new(0, 1).is_err());
        assert!(PoolLimits::new(1, 0).is_ok());
        assert!(PoolLimits::default().max_concurrent() >= 1);
    }

    #[tokio::test]
    async fn debug_output_is_redacted() {
        let h = hasher(small(), 1, 1);
        let stored = h.hash(&secret("hunter2hunter2")).await.unwrap();
        let digest = stored.as_str().rsplit('$').next().unwrap().to_owned();
        let salt = stored.as_str().split('$').nth(4).unwrap().to_owned();
        let shown = format!("{stored:?} {h:?} {:?}", secret("hunter2hunter2"));
        assert!(shown.contains("$argon2id$v=19$m=256,t=1,p=1$<redacted>"), "{shown}");
        for secret_part in [digest.as_str(), salt.as_str(), "hunter2"] {
            assert!(!shown.contains(secret_part), "{shown}");
        }
    }

    /// Polls `condition` for up to 10 s.
    async fn wait_until(condition: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < deadline, "condition not reached in 10 s");
            tokio::task::yield_now().await;
        }
    }

    /// With one slot and a queue of one, a third concurrent caller is turned away at once;
    /// the two others finish. The test holds the only slot itself until the third call has
    /// been answered, so "at once" needs no clock: a third call that waited for a slot
    /// would never be answered (the generous timeout only ends a hung test).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn third_concurrent_call_is_busy() {
        let h = hasher(Params::danger_below_owasp_minimum(8 * 1024, 1, 1).unwrap(), 1, 1);
        let pw = secret("pass phrase");
        let held = Arc::clone(&h.inner.permits).try_acquire_owned().unwrap();
        assert!(!h.saturated(), "the slot taken, the queue still has room");
        let queued = tokio::spawn({
            let (h, pw) = (h.clone(), pw.clone());
            async move { h.hash(&pw).await }
        });
        wait_until(|| h.inner.waiting.load(Ordering::Acquire) == 1).await;
        assert!(h.saturated());
        let third = async { (h.hash(&pw).await, h.verify(&pw, None).await) };
        let (hashed, verified) = tokio::time::timeout(Duration::from_secs(60), third).await.unwrap();
        assert!(matches!(hashed, Err(PasswordError::Busy)));
        assert!(matches!(verified, Err(PasswordError::Busy)));
        assert!(!queued.is_finished(), "the queued call waits for the slot");
        drop(held);
        assert!(queued.await.unwrap().is_ok());
        // The queue is empty again.
        assert_eq!(h.inner.waiting.load(Ordering::Acquire), 0);
        assert!(!h.saturated());
        assert!(h.hash(&pw).await.is_ok());
    }

    /// A caller that gives up while queued leaves the queue.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_waiter_leaves_the_queue() {
        let h = hasher(Params::danger_below_owasp_minimum(32 * 1024, 3, 1).unwrap(), 1, 1);
        let pw = secret("pass phrase");
        let first = tokio::spawn({
            let (h, pw) = (h.clone(), pw.clone());
            async move { h.hash(&pw).await }
        });
        wait_until(|| h.inner.permits.available_permits() == 0).await;
        let timed_out = tokio::time::timeout(Duration::from_millis(1), h.hash(&pw)).await;
        assert!(timed_out.is_err());
        assert_eq!(h.inner.waiting.load(Ordering::Acquire), 0);
        assert!(first.await.unwrap().is_ok());
    }

    fn median(mut samples: Vec<Duration>) -> Duration {
        samples.sort();
        samples[samples.len() / 2]
    }

    /// An unknown user costs a real Argon2 verification: verify(None) takes at least a
    /// quarter of a real verify's median time (loose, for noisy machines), and not wildly more.
    #[tokio::test]
    async fn unknown_user_takes_as_long_as_a_real_verify() {
        let h = hasher(Params::danger_below_owasp_minimum(8 * 1024, 2, 1).unwrap(), 1, 4);
        let pw = secret("pass phrase");
        let stored = h.hash(&pw).await.unwrap();
        assert_eq!(h.verify(&pw, None).await.unwrap(), Verification::Invalid); // makes the dummy hash once
        let (mut known, mut unknown) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            let t = Instant::now();
            assert!(h.verify(&secret("wrong guess"), Some(stored.as_str())).await.unwrap() == Verification::Invalid);
            known.push(t.elapsed());
            let t = Instant::now();
            assert_eq!(h.verify(&secret("wrong guess"), None).await.unwrap(), Verification::Invalid);
            unknown.push(t.elapsed());
        }
        let (known, unknown) = (median(known), median(unknown));
        assert!(unknown * 4 >= known, "unknown {unknown:?} vs known {known:?}");
        assert!(unknown <= known * 4, "unknown {unknown:?} vs known {known:?}");
    }
}
