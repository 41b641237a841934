//! `autopmo realm import`: the settings of a Keycloak realm export (guide
//! §2.1) that AutoPMO knows, applied and stored so every replica uses them;
//! a report of what was applied, what already holds, what is refused because
//! it would weaken a fixed rule, and what is ignored.

use crate::AuthError;
use crate::login::LoginPolicy;
use autopmo_audit::{Actor, AuditRecord, Category, Outcome};
use autopmo_identity::bruteforce::BruteForcePolicy;
use autopmo_store::{Store, settings};
use autopmo_trail::AuditTrail;
use serde_json::{Map, Value};
use time::Duration;

/// Brute-force settings, by their Keycloak names.
const BRUTE_FORCE: &[&str] = &[
    "bruteForceProtected",
    "permanentLockout",
    "maxTemporaryLockouts",
    "maxFailureWaitSeconds",
    "minimumQuickLoginWaitSeconds",
    "waitIncrementSeconds",
    "quickLoginCheckMilliSeconds",
    "maxDeltaTimeSeconds",
    "failureFactor",
    "bruteForceStrategy",
];

/// Other settings that are applied.
const SESSION: &[&str] = &["loginWithEmailAllowed", "ssoSessionIdleTimeout", "ssoSessionMaxLifespan"];

/// Flags AutoPMO fixes; the value it holds them at.
const FIXED: &[(&str, bool, &str)] = &[
    ("registrationAllowed", false, "accounts come from an administrator or an invite, never self-registration"),
    ("duplicateEmailsAllowed", false, "emails identify accounts and must be unique regardless of case"),
    ("editUsernameAllowed", false, "usernames never change, so audit records keep naming the same person"),
    ("resetPasswordAllowed", true, "password reset by email is always offered (the answer never reveals an account)"),
];

/// Known, but configured elsewhere or not built yet.
const ELSEWHERE: &[(&str, &str)] = &[
    ("sslRequired", "set http.ssl_required in the configuration"),
    ("accessTokenLifespan", "access tokens live 15 minutes"),
    ("passwordPolicy", "AutoPMO's password policy is fixed: 12–128 characters, not common, zxcvbn score ≥ 3"),
    ("otpPolicyType", "arrives with MFA"),
    ("otpPolicyAlgorithm", "arrives with MFA"),
    ("otpPolicyDigits", "arrives with MFA"),
    ("otpPolicyPeriod", "arrives with MFA"),
    ("realm", "informational"),
    ("enabled", "informational"),
    ("id", "informational"),
    ("displayName", "informational"),
];

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Stored and in force: `(name, value)`.
    pub applied: Vec<(String, String)>,
    /// Already AutoPMO's fixed behaviour.
    pub matching: Vec<String>,
    /// Would weaken a fixed rule: `(name, why)`.
    pub refused: Vec<(String, String)>,
    /// Not applied: `(name, why)`.
    pub ignored: Vec<(String, String)>,
}

fn invalid(msg: impl Into<String>) -> AuthError {
    AuthError::Invalid(msg.into())
}

/// Checks and stores the known settings of `realm` (a Keycloak realm export);
/// nothing is stored when any applied value is invalid.
pub async fn import(trail: &AuditTrail, realm: &Value, actor: &Actor) -> Result<ImportReport, AuthError> {
    let object = realm.as_object().ok_or_else(|| invalid("a realm export is a JSON object"))?;
    let mut report = ImportReport::default();
    let mut store_these: Vec<(String, String)> = Vec::new();
    for (name, value) in object {
        let name = name.as_str();
        if BRUTE_FORCE.contains(&name) || SESSION.contains(&name) {
            store_these.push((name.to_owned(), value.to_string()));
        } else if let Some((_, holds, why)) = FIXED.iter().find(|(n, _, _)| *n == name) {
            if value.as_bool() == Some(*holds) {
                report.matching.push(name.to_owned());
            } else {
                report.refused.push((name.to_owned(), (*why).to_owned()));
            }
        } else if let Some((_, why)) = ELSEWHERE.iter().find(|(n, _)| *n == name) {
            report.ignored.push((name.to_owned(), (*why).to_owned()));
        } else {
            report.ignored.push((name.to_owned(), "not a setting AutoPMO knows".to_owned()));
        }
    }
    // Validate the result as a whole before storing anything.
    let mut merged: Map<String, Value> = stored(trail.store()).await?;
    for (name, value) in &store_these {
        merged.insert(name.clone(), serde_json::from_str(value).unwrap_or(Value::Null));
    }
    policy_from(&merged)?;
    let now = trail.now();
    let mut uow = trail.store().begin().await?;
    for (name, value) in &store_these {
        settings::put(uow.conn(), name, value, now).await?;
        report.applied.push((name.clone(), value.clone()));
    }
    let applied: Map<String, Value> =
        store_these.iter().map(|(n, v)| (n.clone(), serde_json::from_str(v).unwrap_or(Value::Null))).collect();
    let mut record = AuditRecord::new("realm.imported", Category::Administrative, "import", Outcome::Success, now)
        .with_resource("realm", object.get("realm").and_then(Value::as_str).map(str::to_owned), None)
        .with_metadata(&serde_json::json!({
            "applied": applied,
            "refused": report.refused.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            "ignored": report.ignored.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        }));
    record.actor = actor.clone();
    uow.append_audit(&mut record).await?;
    uow.commit().await?;
    Ok(report)
}

async fn stored(store: &Store) -> Result<Map<String, Value>, AuthError> {
    let mut conn = store.read().await?;
    let rows = settings::all(&mut conn).await?;
    Ok(rows.into_iter().map(|(n, v)| (n, serde_json::from_str(&v).unwrap_or(Value::Null))).collect())
}

fn seconds(settings: &Map<String, Value>, name: &str, default: Duration) -> Result<Duration, AuthError> {
    match settings.get(name) {
        None => Ok(default),
        Some(v) => v
            .as_i64()
            .filter(|s| *s > 0)
            .map(Duration::seconds)
            .ok_or_else(|| invalid(format!("{name} must be a positive number of seconds"))),
    }
}

fn policy_from(settings: &Map<String, Value>) -> Result<LoginPolicy, AuthError> {
    let brute: Map<String, Value> = settings
        .iter()
        .filter(|(n, _)| BRUTE_FORCE.contains(&n.as_str()))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let brute_force: BruteForcePolicy =
        serde_json::from_value(Value::Object(brute)).map_err(|e| invalid(format!("brute-force settings: {e}")))?;
    brute_force.validate().map_err(|e| invalid(e.to_string()))?;
    let defaults = LoginPolicy::default();
    let session_idle = seconds(settings, "ssoSessionIdleTimeout", defaults.session_idle)?;
    let session_absolute = seconds(settings, "ssoSessionMaxLifespan", defaults.session_absolute)?;
    if session_idle > session_absolute {
        return Err(invalid("ssoSessionIdleTimeout must not exceed ssoSessionMaxLifespan"));
    }
    let login_with_email = match settings.get("loginWithEmailAllowed") {
        None => defaults.login_with_email,
        Some(v) => v.as_bool().ok_or_else(|| invalid("loginWithEmailAllowed must be true or false"))?,
    };
    Ok(LoginPolicy { brute_force, session_idle, session_absolute, login_with_email, ..defaults })
}

/// The login policy in force: the built-in defaults (§2.1, §2.3) with the
/// imported realm settings over them.
pub async fn login_policy(store: &Store) -> Result<LoginPolicy, AuthError> {
    policy_from(&stored(store).await?)
}
