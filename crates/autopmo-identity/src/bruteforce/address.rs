//! Per-address throttling across accounts (beyond Keycloak): one client
//! address guessing passwords of many accounts ("password spraying") is
//! slowed down even though no single account reaches its lockout.
//!
//! The address key is opaque here: callers pass a keyed hash of the client
//! address, so addresses are never stored in clear.
//!
//! ## The rule
//! A failure budget of `max_failures` (20) that refills continuously over
//! `window` (15 min): each failure costs `window / max_failures` (45 s) of
//! budget, and the budget comes back at one failure per 45 s. This is a
//! sliding window without timestamps (the generic cell rate algorithm): the
//! state is one instant, [`AddressThrottle::budget_full_at`].
//!
//! The failure that empties the budget blocks the address, failures and
//! successes alike, for an escalating time: `first_block` (1 min) for the
//! first block, doubled for each further block that starts less than
//! `escalation_memory` (24 h) after the previous one ended — 1, 2, 4, 8, 16,
//! 32 min — capped at `max_block` (1 h). A block also lasts at least until the
//! budget has room for one failure again.
//!
//! ## The bound
//! An address that waits out every block gets at most
//! `max_failures + ⌊L / (window / max_failures)⌋` counted failures in any
//! interval of length `L`: 40 in any 15 minutes and 1 940 in any 24 hours with
//! the defaults. An attacker who bursts is held to about 20 per hour once the
//! blocks reach their cap. The per-account lockout still applies to each
//! account.
//!
//! A success does not refill the budget nor forget a block: an attacker who
//! owns one account could otherwise reset the throttle between guesses.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::later;
use super::policy::seconds;

/// The per-address throttle settings (AutoPMO's, not Keycloak's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AddressPolicy {
    /// Failures the budget holds (20).
    pub max_failures: u32,
    /// The time in which a spent budget refills completely (15 min).
    #[serde(rename = "window_seconds", with = "seconds")]
    pub window: Duration,
    /// The first block (1 min).
    #[serde(rename = "first_block_seconds", with = "seconds")]
    pub first_block: Duration,
    /// The longest block (1 h).
    #[serde(rename = "max_block_seconds", with = "seconds")]
    pub max_block: Duration,
    /// A block starting less than this after the previous block ended is
    /// twice as long as that one (24 h).
    #[serde(rename = "escalation_memory_seconds", with = "seconds")]
    pub escalation_memory: Duration,
}

impl Default for AddressPolicy {
    /// 20 failures per 15 minutes, then blocks of 1, 2, 4, … minutes up to an
    /// hour, remembered for 24 hours.
    fn default() -> Self {
        Self {
            max_failures: 20,
            window: Duration::minutes(15),
            first_block: Duration::minutes(1),
            max_block: Duration::hours(1),
            escalation_memory: Duration::hours(24),
        }
    }
}

/// Why an [`AddressPolicy`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressPolicyError {
    /// `max_failures` is 0.
    #[error("max_failures must be at least 1")]
    MaxFailuresZero,
    /// A duration that must be positive is not.
    #[error("{field} must be greater than 0")]
    NotPositive {
        /// The setting's name.
        field: &'static str,
    },
    /// `escalation_memory_seconds` is negative.
    #[error("escalation_memory_seconds must not be negative")]
    NegativeMemory,
    /// `max_block_seconds` is shorter than `first_block_seconds`.
    #[error("max_block_seconds must be at least first_block_seconds")]
    MaxBlockBelowFirst,
}

impl AddressPolicy {
    /// Checks that the settings make a working throttle.
    ///
    /// # Errors
    /// The first unusable setting.
    pub fn validate(&self) -> Result<(), AddressPolicyError> {
        if self.max_failures == 0 {
            return Err(AddressPolicyError::MaxFailuresZero);
        }
        if self.cost() <= Duration::ZERO {
            return Err(AddressPolicyError::NotPositive { field: "window_seconds" });
        }
        if self.first_block <= Duration::ZERO {
            return Err(AddressPolicyError::NotPositive { field: "first_block_seconds" });
        }
        if self.max_block < self.first_block {
            return Err(AddressPolicyError::MaxBlockBelowFirst);
        }
        if self.escalation_memory.is_negative() {
            return Err(AddressPolicyError::NegativeMemory);
        }
        Ok(())
    }

    /// The budget one failure costs: `window / max_failures`.
    fn cost(&self) -> Duration {
        self.window / self.max_failures.max(1)
    }

    /// The debt at which the budget has no room left: `max_failures − 1`
    /// failures' worth.
    fn room(&self) -> Duration {
        i32::try_from(self.max_failures.saturating_sub(1))
            .ok()
            .and_then(|failures| self.cost().checked_mul(failures))
            .unwrap_or(self.window)
    }

    /// The length of the `level`-th consecutive block (level ≥ 1).
    fn block(&self, level: u32) -> Duration {
        let doublings = level.saturating_sub(1).min(30);
        self.first_block.checked_mul(1_i32 << doublings).unwrap_or(self.max_block).min(self.max_block)
    }
}

/// What must be stored per address key, shared by every replica.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddressThrottle {
    /// When the failure budget will be full again; each failure moves it
    /// `window / max_failures` later (from now, if it was past). `None`: no
    /// failure yet.
    #[serde(with = "time::serde::rfc3339::option")]
    pub budget_full_at: Option<OffsetDateTime>,
    /// Every attempt from the address is refused before this instant. It is
    /// kept after it passes, to know whether the next block escalates.
    #[serde(with = "time::serde::rfc3339::option")]
    pub blocked_until: Option<OffsetDateTime>,
    /// Blocks in the current escalation (the last one lasted
    /// `first_block × 2^(consecutive_blocks − 1)`, up to `max_block`).
    pub consecutive_blocks: u32,
}

/// Whether an address may attempt a login now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressStatus {
    /// The credentials may be checked.
    Allowed,
    /// Refused (as a wrong password is) and not counted, until `until`.
    Blocked {
        /// The first instant at which the address may try again.
        until: OffsetDateTime,
    },
}

/// What a failure changed, for the caller's audit event and alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressOutcome {
    /// Counted, no new block.
    NoNewBlock,
    /// This failure blocked the address.
    Blocked {
        /// The first instant at which the address may try again.
        until: OffsetDateTime,
        /// Which block of the escalation this is (1 for the first).
        consecutive_blocks: u32,
    },
}

impl AddressThrottle {
    /// Whether an attempt from the address may be checked at `now`.
    #[must_use]
    pub fn check(&self, now: OffsetDateTime) -> AddressStatus {
        match self.blocked_until {
            Some(until) if now < until => AddressStatus::Blocked { until },
            _ => AddressStatus::Allowed,
        }
    }

    /// How many failures the budget is short of full at `now`, rounded up:
    /// roughly the failures of the last `window`.
    #[must_use]
    pub fn recent_failures(&self, policy: &AddressPolicy, now: OffsetDateTime) -> u32 {
        let debt = self.budget_full_at.map_or(Duration::ZERO, |full| full - now);
        if debt <= Duration::ZERO {
            return 0;
        }
        let cost = policy.cost().whole_nanoseconds().max(1);
        let failures = (debt.whole_nanoseconds() + cost - 1) / cost;
        u32::try_from(failures).unwrap_or(u32::MAX)
    }

    /// Counts a wrong credential from the address at `now` (the attempt was
    /// [`Allowed`](AddressStatus::Allowed)); every call counts.
    #[must_use]
    pub fn on_failure(mut self, policy: &AddressPolicy, now: OffsetDateTime) -> (Self, AddressOutcome) {
        let start = self.budget_full_at.map_or(now, |full| full.max(now));
        let full = later(start, policy.cost().max(Duration::nanoseconds(1)));
        self.budget_full_at = Some(full);
        let debt = full - now;
        let room = policy.room();
        if debt <= room {
            return (self, AddressOutcome::NoNewBlock);
        }
        let escalates = self.blocked_until.is_some_and(|until| now - until < policy.escalation_memory);
        self.consecutive_blocks = if escalates { self.consecutive_blocks.saturating_add(1) } else { 1 };
        let until = later(now, policy.block(self.consecutive_blocks))
            .max(later(now, debt - room))
            .max(self.blocked_until.unwrap_or(now));
        self.blocked_until = Some(until);
        let consecutive_blocks = self.consecutive_blocks;
        (self, AddressOutcome::Blocked { until, consecutive_blocks })
    }

    /// A successful login from the address changes nothing, on purpose: an
    /// attacker who owns one account could otherwise refill the budget
    /// between guesses. Provided so that callers treat both outcomes alike.
    #[must_use]
    pub fn on_success(self) -> Self {
        self
    }
}

#[cfg(test)]
mod tests;
