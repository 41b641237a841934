//! Per-account lockout: Keycloak's `DefaultBruteForceProtector` as a pure
//! state machine over [`UserLoginFailures`].

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::later;
use super::policy::{BruteForcePolicy, Strategy};

/// What must be stored per account, and shared by every replica, for the
/// brute-force protection to work.
///
/// `Default` is an account with no failures (also what an administrator's
/// "unlock" stores). Missing fields deserialise to their defaults so that a
/// stored row survives the addition of a field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserLoginFailures {
    /// Failures (password, MFA code or recovery code) counted toward lockout
    /// since the last success or the last 12-hour reset.
    pub num_failures: u32,
    /// Lockouts caused by the failure count (not by the quick-login rule)
    /// since the last success or reset; with permanent lockout and
    /// `max_temporary_lockouts` > 0, one more than that disables the account.
    pub num_temporary_lockouts: u32,
    /// When the last counted failure happened.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_failure: Option<OffsetDateTime>,
    /// Attempts are refused before this instant.
    #[serde(with = "time::serde::rfc3339::option")]
    pub locked_until: Option<OffsetDateTime>,
    /// The account was disabled by permanent lockout; only an administrator
    /// clears it (by storing `UserLoginFailures::default()`).
    pub disabled_permanently: bool,
    /// MFA-code and recovery-code failures since the last successful login.
    /// They also count in `num_failures`; this counter is not cleared by the
    /// 12-hour reset, so slow guessing of second factors (a sign the password
    /// is already known) stays visible.
    pub mfa_failures: u32,
}

/// Whether an account may attempt a login now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The credentials may be checked.
    Allowed,
    /// Refused until `until`; the attempt is not checked and not counted.
    TemporarilyLocked {
        /// The first instant at which an attempt is allowed again.
        until: OffsetDateTime,
    },
    /// Refused until an administrator re-enables the account.
    PermanentlyLocked,
}

/// Which credential was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The password.
    Password,
    /// A one-time code of a second factor (TOTP, WebAuthn assertion, …).
    Mfa,
    /// A single-use recovery code.
    RecoveryCode,
}

/// Why a temporary lockout was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockReason {
    /// The failure count reached a wait step.
    TooManyFailures,
    /// The failure came less than `quick_login_check` after the previous one.
    QuickLogin,
}

/// What a failure changed, for the caller's audit event and alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Counted, but no new lockout.
    NoNewLockout,
    /// This failure locked the account until `until`.
    TemporarilyLocked {
        /// The first instant at which an attempt is allowed again.
        until: OffsetDateTime,
        /// What triggered it.
        reason: LockReason,
    },
    /// This failure disabled the account.
    PermanentlyLocked,
}

impl UserLoginFailures {
    /// Whether a login attempt may be checked at `now`.
    ///
    /// A permanently disabled account stays refused even if protection has
    /// been switched off since; otherwise, with protection off, every attempt
    /// is allowed. A refused attempt must get the same answer, after the same
    /// time, as a wrong password, and must not be passed to
    /// [`on_failure`](Self::on_failure).
    #[must_use]
    pub fn check(&self, policy: &BruteForcePolicy, now: OffsetDateTime) -> Status {
        if self.disabled_permanently {
            return Status::PermanentlyLocked;
        }
        if !policy.enabled {
            return Status::Allowed;
        }
        match self.locked_until {
            Some(until) if now < until => Status::TemporarilyLocked { until },
            _ => Status::Allowed,
        }
    }

    /// Counts a wrong credential checked at `now` (the attempt was
    /// [`Allowed`](Status::Allowed)), and returns the new state and whether it
    /// caused a new lockout.
    ///
    /// Every call counts: a credential that was checked was a guess, even if a
    /// concurrent failure locked the account meanwhile (a lockout is only ever
    /// extended, never shortened). With protection off nothing changes.
    #[must_use]
    pub fn on_failure(mut self, policy: &BruteForcePolicy, now: OffsetDateTime, kind: FailureKind) -> (Self, Outcome) {
        if !policy.enabled {
            return (self, Outcome::NoNewLockout);
        }
        let was_disabled = self.disabled_permanently;
        let temporary = policy.uses_temporary_lockouts();
        let since_previous = self.last_failure.map(|last| now - last);

        // 1. A failure long after the previous one starts the count over
        //    (not in permanent-only mode, where failures never expire).
        if temporary && since_previous.is_some_and(|delta| delta > policy.max_delta_time) {
            self.num_failures = 0;
            self.num_temporary_lockouts = 0;
            self.locked_until = None;
        }
        // 2. Count it. The instant never moves back (replica clock skew).
        self.last_failure = Some(self.last_failure.map_or(now, |last| last.max(now)));
        self.num_failures = self.num_failures.saturating_add(1);
        if matches!(kind, FailureKind::Mfa | FailureKind::RecoveryCode) {
            self.mfa_failures = self.mfa_failures.saturating_add(1);
        }
        // 3. The wait the count calls for.
        let mut wait = if temporary { step_wait(policy, self.num_failures) } else { Duration::ZERO };
        // 4. The quick-login rule, only when the count calls for no wait. A
        //    negative interval (clocks of two replicas disagreeing) counts as 0.
        let mut reason = LockReason::TooManyFailures;
        let quick = since_previous.is_some_and(|delta| delta.max(Duration::ZERO) < policy.quick_login_check);
        if wait <= Duration::ZERO && quick {
            wait = policy.minimum_quick_login_wait;
            reason = LockReason::QuickLogin;
        }
        // 5. Lock, within the cap.
        let mut outcome = Outcome::NoNewLockout;
        if wait > Duration::ZERO {
            if temporary {
                wait = wait.min(policy.max_failure_wait);
            }
            if reason == LockReason::TooManyFailures {
                self.num_temporary_lockouts = self.num_temporary_lockouts.saturating_add(1);
            }
            let within_allowance =
                !policy.permanent_lockout || self.num_temporary_lockouts <= policy.max_temporary_lockouts;
            if reason == LockReason::QuickLogin || within_allowance {
                let until = self.locked_until.map_or(later(now, wait), |current| current.max(later(now, wait)));
                self.locked_until = Some(until);
                outcome = Outcome::TemporarilyLocked { until, reason };
            }
        }
        // 6. Permanent lockout.
        if policy.permanent_lockout {
            let too_many = if temporary {
                self.num_temporary_lockouts > policy.max_temporary_lockouts
            } else {
                self.num_failures >= policy.failure_factor
            };
            if too_many {
                self.disabled_permanently = true;
            }
        }
        if was_disabled {
            outcome = Outcome::NoNewLockout;
        } else if self.disabled_permanently {
            outcome = Outcome::PermanentlyLocked;
        }
        (self, outcome)
    }

    /// Clears the counts after a successful login — call it only when every
    /// factor has succeeded, so that a right password followed by a wrong
    /// code does not wipe the count. A permanent disable stays.
    #[must_use]
    pub fn on_success(self) -> Self {
        Self { disabled_permanently: self.disabled_permanently, ..Self::default() }
    }
}

/// The wait the failure count calls for under the chosen strategy, before the
/// quick-login rule and the cap. Zero or negative means none.
fn step_wait(policy: &BruteForcePolicy, failures: u32) -> Duration {
    let factor = i64::from(policy.failure_factor.max(1));
    let failures = i64::from(failures);
    let steps = match policy.strategy {
        Strategy::Multiple => failures / factor,
        Strategy::Linear => 1 + failures - factor,
    };
    if steps <= 0 {
        return Duration::ZERO;
    }
    // Too many steps to represent is as good as "at the cap".
    i32::try_from(steps).ok().and_then(|steps| policy.wait_increment.checked_mul(steps)).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests;
