//! What every handler can reach.

use autopmo_domain::Clock;
use autopmo_store::Store;
use autopmo_trail::AuditTrail;
use std::sync::Arc;
use std::time::Duration;

/// Request limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body, in bytes.
    pub max_body_bytes: usize,
    /// Deepest JSON nesting.
    pub max_json_depth: usize,
    /// Time allowed per request.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_body_bytes: 1024 * 1024, max_json_depth: 32, request_timeout: Duration::from_secs(30) }
    }
}

/// Shared application state.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Request limits.
    pub limits: Limits,
    /// The audit trail.
    pub trail: AuditTrail,
    /// Security event rules.
    pub monitor: autopmo_trail::monitor::Monitor,
}

impl AppState {
    /// A state over `store` with `clock` and `limits`.
    pub fn new(trail: AuditTrail, clock: Arc<dyn Clock>, limits: Limits) -> Self {
        Self { store: trail.store().clone(), clock, limits, trail, monitor: autopmo_trail::monitor::Monitor::default() }
    }

    /// The current time at the precision the store keeps (microseconds), so
    /// that what a write returns is exactly what a later read returns.
    pub fn now(&self) -> time::OffsetDateTime {
        let now = self.clock.now();
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000).unwrap_or(now)
    }
}
