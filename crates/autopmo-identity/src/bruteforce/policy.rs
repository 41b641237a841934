//! The per-account brute-force settings, as a Keycloak realm names them.

use serde::{Deserialize, Serialize};
use time::Duration;

/// How the wait grows with the failure count (Keycloak's `bruteForceStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Strategy {
    /// `waitIncrement × ⌊failures / failureFactor⌋`: the wait steps up once
    /// every `failureFactor` failures (Keycloak's default).
    #[default]
    Multiple,
    /// `waitIncrement × (1 + failures − failureFactor)` from the
    /// `failureFactor`-th failure on: the wait steps up at every failure.
    Linear,
}

/// Keycloak's realm brute-force settings, with the guide's §2.1 numbers as
/// [`Default`].
///
/// It deserialises from a Keycloak realm export (camelCase names such as
/// `waitIncrementSeconds`; other realm fields are ignored). A field the
/// export leaves out takes the §2.1 value, not Keycloak's own default (which
/// is laxer: `failureFactor` 30). Call [`BruteForcePolicy::validate`] after
/// loading one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BruteForcePolicy {
    /// `bruteForceProtected`: when false, nothing is counted or locked (an
    /// account already disabled for good stays disabled).
    #[serde(rename = "bruteForceProtected")]
    pub enabled: bool,
    /// `permanentLockout`: disable the account instead of (or after) locking
    /// it for a while.
    pub permanent_lockout: bool,
    /// `maxTemporaryLockouts`: with `permanent_lockout`, how many temporary
    /// lockouts come before the permanent one; 0 means the account is
    /// disabled as soon as it reaches `failure_factor` failures. Without
    /// `permanent_lockout` it has no effect.
    pub max_temporary_lockouts: u32,
    /// `bruteForceStrategy`.
    #[serde(rename = "bruteForceStrategy")]
    pub strategy: Strategy,
    /// `maxFailureWaitSeconds`: the longest temporary lockout.
    #[serde(rename = "maxFailureWaitSeconds", with = "seconds")]
    pub max_failure_wait: Duration,
    /// `minimumQuickLoginWaitSeconds`: the lockout after a too-quick failure.
    #[serde(rename = "minimumQuickLoginWaitSeconds", with = "seconds")]
    pub minimum_quick_login_wait: Duration,
    /// `waitIncrementSeconds`: the step of the wait.
    #[serde(rename = "waitIncrementSeconds", with = "seconds")]
    pub wait_increment: Duration,
    /// `quickLoginCheckMilliSeconds`: a failure sooner than this after the
    /// previous one is "quick". Zero turns the quick-login rule off.
    #[serde(rename = "quickLoginCheckMilliSeconds", with = "milliseconds")]
    pub quick_login_check: Duration,
    /// `maxDeltaTimeSeconds`: a failure more than this after the previous one
    /// starts the count over.
    #[serde(rename = "maxDeltaTimeSeconds", with = "seconds")]
    pub max_delta_time: Duration,
    /// `failureFactor`: failures per wait step (and, with permanent lockout
    /// and no temporary lockouts, failures before the account is disabled).
    pub failure_factor: u32,
}

impl Default for BruteForcePolicy {
    /// The guide's §2.1 realm: protected, no permanent lockout, 5 failures per
    /// 60 s step, at most 900 s, 60 s after a failure within 1 s of the
    /// previous one, and a fresh count after 12 h without failures.
    fn default() -> Self {
        Self {
            enabled: true,
            permanent_lockout: false,
            max_temporary_lockouts: 0,
            strategy: Strategy::Multiple,
            max_failure_wait: Duration::seconds(900),
            minimum_quick_login_wait: Duration::seconds(60),
            wait_increment: Duration::seconds(60),
            quick_login_check: Duration::milliseconds(1000),
            max_delta_time: Duration::seconds(43_200),
            failure_factor: 5,
        }
    }
}

/// Why a [`BruteForcePolicy`] cannot be used. Fields are named as in the
/// realm JSON, which is where an administrator will look for them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `failureFactor` is 0: the wait divides by it.
    #[error("failureFactor must be at least 1")]
    FailureFactorZero,
    /// A duration is negative.
    #[error("{field} must not be negative")]
    Negative {
        /// The realm JSON name of the setting.
        field: &'static str,
    },
    /// A duration is zero although protection depends on it.
    #[error("{field} must be greater than 0 while brute-force protection is on{why}")]
    MustBePositive {
        /// The realm JSON name of the setting.
        field: &'static str,
        /// When the setting matters.
        why: &'static str,
    },
}

impl BruteForcePolicy {
    /// Checks that the settings make a working protection.
    ///
    /// # Errors
    /// The first setting found unusable: `failureFactor` 0, a negative
    /// duration, or (while protection is on) a zero `maxDeltaTimeSeconds`,
    /// or a zero `waitIncrementSeconds` / `maxFailureWaitSeconds` when
    /// temporary lockouts are in use — any of which would leave the account
    /// unprotected.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.failure_factor == 0 {
            return Err(PolicyError::FailureFactorZero);
        }
        for (field, value) in [
            ("maxFailureWaitSeconds", self.max_failure_wait),
            ("minimumQuickLoginWaitSeconds", self.minimum_quick_login_wait),
            ("waitIncrementSeconds", self.wait_increment),
            ("quickLoginCheckMilliSeconds", self.quick_login_check),
            ("maxDeltaTimeSeconds", self.max_delta_time),
        ] {
            if value.is_negative() {
                return Err(PolicyError::Negative { field });
            }
        }
        if !self.enabled {
            return Ok(());
        }
        if self.max_delta_time.is_zero() {
            return Err(PolicyError::MustBePositive {
                field: "maxDeltaTimeSeconds",
                why: " (0 would start the count over at every failure)",
            });
        }
        if self.uses_temporary_lockouts() {
            for (field, value) in
                [("waitIncrementSeconds", self.wait_increment), ("maxFailureWaitSeconds", self.max_failure_wait)]
            {
                if value.is_zero() {
                    return Err(PolicyError::MustBePositive {
                        field,
                        why: " and lockouts are temporary (0 would never lock)",
                    });
                }
            }
        }
        Ok(())
    }

    /// Whether failures lead to temporary lockouts (everything but Keycloak's
    /// "permanent lockout, no temporary lockouts" mode).
    pub(super) fn uses_temporary_lockouts(&self) -> bool {
        !(self.permanent_lockout && self.max_temporary_lockouts == 0)
    }
}

/// Serde for a [`Duration`] written as whole seconds (Keycloak's `…Seconds`).
pub(super) mod seconds {
    use serde::{Deserialize, Deserializer, Serializer, de, ser};
    use time::Duration;

    pub(crate) fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        if value.subsec_nanoseconds() != 0 {
            return Err(ser::Error::custom("a duration in seconds has a fractional part"));
        }
        let secs = u32::try_from(value.whole_seconds())
            .map_err(|_| ser::Error::custom("a duration in seconds is negative or too large"))?;
        serializer.serialize_u32(secs)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let secs = u32::deserialize(deserializer).map_err(|e| de::Error::custom(format!("seconds: {e}")))?;
        Ok(Duration::seconds(i64::from(secs)))
    }
}

/// Serde for a [`Duration`] written as whole milliseconds.
pub(super) mod milliseconds {
    use serde::{Deserialize, Deserializer, Serializer, de, ser};
    use time::Duration;

    pub(crate) fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        let millis = value.whole_milliseconds();
        if value.subsec_nanoseconds() % 1_000_000 != 0 {
            return Err(ser::Error::custom("a duration in milliseconds has a fractional part"));
        }
        let millis = u64::try_from(millis)
            .map_err(|_| ser::Error::custom("a duration in milliseconds is negative or too large"))?;
        serializer.serialize_u64(millis)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let millis = u64::deserialize(deserializer).map_err(|e| de::Error::custom(format!("milliseconds: {e}")))?;
        let millis = i64::try_from(millis).map_err(|_| de::Error::custom("milliseconds: too large"))?;
        Ok(Duration::milliseconds(millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guide's §2.1 realm JSON, verbatim.
    const GUIDE_REALM: &str = r#"{
      "realm": "autopmo",
      "enabled": true,
      "sslRequired": "external",
      "registrationAllowed": false,
      "loginWithEmailAllowed": true,
      "duplicateEmailsAllowed": false,
      "resetPasswordAllowed": true,
      "editUsernameAllowed": false,
      "bruteForceProtected": true,
      "permanentLockout": false,
      "maxFailureWaitSeconds": 900,
      "minimumQuickLoginWaitSeconds": 60,
      "waitIncrementSeconds": 60,
      "quickLoginCheckMilliSeconds": 1000,
      "maxDeltaTimeSeconds": 43200,
      "failureFactor": 5
    }"#;

    #[test]
    fn the_guide_realm_is_the_default() {
        let policy: BruteForcePolicy = serde_json::from_str(GUIDE_REALM).unwrap();
        assert_eq!(policy, BruteForcePolicy::default());
        assert_eq!(policy.validate(), Ok(()));
    }

    #[test]
    fn reads_every_keycloak_setting_and_writes_them_back() {
        let json = r#"{"bruteForceProtected":false,"permanentLockout":true,"maxTemporaryLockouts":3,
            "bruteForceStrategy":"LINEAR","maxFailureWaitSeconds":600,"minimumQuickLoginWaitSeconds":30,
            "waitIncrementSeconds":120,"quickLoginCheckMilliSeconds":250,"maxDeltaTimeSeconds":3600,
            "failureFactor":3}"#;
        let policy: BruteForcePolicy = serde_json::from_str(json).unwrap();
        let expected = BruteForcePolicy {
            enabled: false,
            permanent_lockout: true,
            max_temporary_lockouts: 3,
            strategy: Strategy::Linear,
            max_failure_wait: Duration::seconds(600),
            minimum_quick_login_wait: Duration::seconds(30),
            wait_increment: Duration::seconds(120),
            quick_login_check: Duration::milliseconds(250),
            max_delta_time: Duration::seconds(3600),
            failure_factor: 3,
        };
        assert_eq!(policy, expected);
        let written = serde_json::to_value(&policy).unwrap();
        assert_eq!(written, serde_json::from_str::<serde_json::Value>(json).unwrap());
    }

    #[test]
    fn rejects_negative_numbers_in_the_realm_json() {
        let err = serde_json::from_str::<BruteForcePolicy>(r#"{"waitIncrementSeconds": -1}"#).unwrap_err();
        assert!(err.to_string().contains("seconds"), "{err}");
        assert!(serde_json::from_str::<BruteForcePolicy>(r#"{"failureFactor": -5}"#).is_err());
    }

    #[test]
    fn validation_names_the_bad_setting() {
        let base = BruteForcePolicy::default();
        let cases: [(BruteForcePolicy, Result<(), PolicyError>); 8] = [
            (BruteForcePolicy { failure_factor: 0, ..base.clone() }, Err(PolicyError::FailureFactorZero)),
            (
                BruteForcePolicy { enabled: false, failure_factor: 0, ..base.clone() },
                Err(PolicyError::FailureFactorZero),
            ),
            (
                BruteForcePolicy { quick_login_check: Duration::milliseconds(-1), ..base.clone() },
                Err(PolicyError::Negative { field: "quickLoginCheckMilliSeconds" }),
            ),
            (
                BruteForcePolicy { wait_increment: Duration::ZERO, ..base.clone() },
                Err(PolicyError::MustBePositive {
                    field: "waitIncrementSeconds",
                    why: " and lockouts are temporary (0 would never lock)",
                }),
            ),
            (
                BruteForcePolicy { max_delta_time: Duration::ZERO, ..base.clone() },
                Err(PolicyError::MustBePositive {
                    field: "maxDeltaTimeSeconds",
                    why: " (0 would start the count over at every failure)",
                }),
            ),
            // Permanent lockout without temporary ones never waits: no step needed.
            (BruteForcePolicy { permanent_lockout: true, wait_increment: Duration::ZERO, ..base.clone() }, Ok(())),
            // Protection off: only structural errors matter.
            (BruteForcePolicy { enabled: false, max_failure_wait: Duration::ZERO, ..base.clone() }, Ok(())),
            // The quick-login rule may be turned off.
            (BruteForcePolicy { quick_login_check: Duration::ZERO, ..base.clone() }, Ok(())),
        ];
        for (i, (policy, expected)) in cases.into_iter().enumerate() {
            assert_eq!(policy.validate(), expected, "case {i}");
        }
        assert_eq!(PolicyError::FailureFactorZero.to_string(), "failureFactor must be at least 1");
        assert_eq!(
            PolicyError::Negative { field: "waitIncrementSeconds" }.to_string(),
            "waitIncrementSeconds must not be negative"
        );
    }
}
