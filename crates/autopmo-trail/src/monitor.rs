//! Security event monitoring: built-in rules that raise `security.alert`
//! events into the audit trail (and so to the SIEM).
//!
//! Rules over request outcomes keep sliding windows in this process's
//! memory (client addresses are never stored in clear, so the database
//! cannot count them): with several replicas each counts its own share, and
//! a threshold is per replica. Rules over single events (a bulk export, a
//! privileged role granted, a failed chain verification) fire at once.

use autopmo_audit::{Actor, AuditRecord, Category, Outcome};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use time::{Duration, OffsetDateTime};

/// The event type of every alert.
pub const ALERT: &str = "security.alert";

/// Thresholds of the windowed rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Failed authentications (401) from one address within the window.
    pub auth_failures_per_address: usize,
    /// Permission denials (403) of one principal within the window.
    pub denials_per_principal: usize,
    /// The window.
    pub window: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self { auth_failures_per_address: 10, denials_per_principal: 5, window: Duration::minutes(5) }
    }
}

/// The rules, and what they remember.
#[derive(Debug, Clone, Default)]
pub struct Monitor {
    thresholds: Thresholds,
    windows: Arc<Mutex<HashMap<String, VecDeque<OffsetDateTime>>>>,
}

/// Keys tracked at most; beyond this the oldest windows are dropped.
const MAX_KEYS: usize = 50_000;

/// An alert record: `rule` names the rule, `severity` is `low`, `medium`,
/// `high` or `critical`.
pub fn alert(rule: &str, severity: &str, description: &str, at: OffsetDateTime, actor: Actor) -> AuditRecord {
    let mut record = AuditRecord::new(ALERT, Category::Authorization, rule, Outcome::Success, at)
        .with_resource("security_rule", Some(rule.to_owned()), None)
        .with_metadata(&serde_json::json!({"rule": rule, "severity": severity, "description": description}));
    record.actor = actor;
    record
}

impl Monitor {
    /// A monitor with these thresholds.
    pub fn new(thresholds: Thresholds) -> Self {
        Self { thresholds, windows: Arc::default() }
    }

    /// Counts an occurrence under `key`; true exactly when the count within
    /// the window reaches `threshold` (so one burst raises one alert).
    fn hit(&self, key: String, threshold: usize, now: OffsetDateTime) -> bool {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if windows.len() >= MAX_KEYS && !windows.contains_key(&key) {
            let cutoff = now - self.thresholds.window;
            windows.retain(|_, w| w.back().is_some_and(|t| *t > cutoff));
        }
        let window = windows.entry(key).or_default();
        while window.front().is_some_and(|t| *t <= now - self.thresholds.window) {
            window.pop_front();
        }
        window.push_back(now);
        window.len() == threshold
    }

    /// Looks at one answered request; returns the alert it raises, if any.
    /// `address` is the client's address in clear (kept only in memory).
    pub fn observe_request(
        &self,
        status: u16,
        address: Option<&str>,
        user_id: Option<&str>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Option<AuditRecord> {
        let t = self.thresholds;
        match (status, address, user_id) {
            (401, Some(address), _) if self.hit(format!("401:{address}"), t.auth_failures_per_address, now) => {
                Some(alert(
                    "auth_failures_from_address",
                    "high",
                    &format!(
                        "{} failed authentications from one address within {} s (possibly several accounts)",
                        t.auth_failures_per_address,
                        t.window.whole_seconds()
                    ),
                    now,
                    actor.clone(),
                ))
            }
            (403, _, Some(user)) if self.hit(format!("403:{user}"), t.denials_per_principal, now) => Some(alert(
                "repeated_permission_denials",
                "medium",
                &format!(
                    "{} permission denials for one principal within {} s",
                    t.denials_per_principal,
                    t.window.whole_seconds()
                ),
                now,
                actor.clone(),
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_burst_raises_one_alert_and_the_window_slides() {
        let m = Monitor::new(Thresholds {
            auth_failures_per_address: 3,
            denials_per_principal: 2,
            window: Duration::minutes(5),
        });
        let t0 = datetime!(2026-12-04 10:00 UTC);
        let actor = Actor::default();
        let fire = |i: i64, status, addr, user| {
            m.observe_request(status, addr, user, &actor, t0 + Duration::seconds(i)).is_some()
        };
        assert!(!fire(0, 401, Some("198.51.100.7"), None));
        assert!(!fire(1, 401, Some("198.51.100.7"), None));
        assert!(fire(2, 401, Some("198.51.100.7"), None));
        assert!(!fire(3, 401, Some("198.51.100.7"), None), "one alert per burst");
        assert!(!fire(4, 401, Some("198.51.100.8"), None), "another address counts apart");
        // After the window, a new burst alerts again.
        assert!(!fire(400, 401, Some("198.51.100.7"), None));
        assert!(!fire(401, 401, Some("198.51.100.7"), None));
        assert!(fire(402, 401, Some("198.51.100.7"), None));
        assert!(!fire(0, 403, None, Some("u1")));
        assert!(fire(1, 403, None, Some("u1")));
        assert!(!fire(2, 404, Some("198.51.100.9"), Some("u2")));
    }
}
