//! The audit record of guide §8.1, with AutoPMO's additions: a retention
//! `category`, a database `sequence`, the chain hashes and the id of the
//! authorization decision.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Retention classes of guide §8.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Logins, logouts, MFA, sessions.
    Authentication,
    /// Permission decisions, role and policy changes.
    Authorization,
    /// Reads and changes of business data.
    DataAccess,
    /// Users, configuration, deployments.
    Administrative,
    /// The system itself: start, stop, checkpoints, alerts.
    System,
}

impl Category {
    /// Every category.
    pub const ALL: [Self; 5] =
        [Self::Authentication, Self::Authorization, Self::DataAccess, Self::Administrative, Self::System];

    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authentication => "authentication",
            Self::Authorization => "authorization",
            Self::DataAccess => "data_access",
            Self::Administrative => "administrative",
            Self::System => "system",
        }
    }

    /// Parses a stable name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Success,
    /// Attempted and failed.
    Failure,
    /// Refused by authentication or authorization.
    Denied,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Self; 3] = [Self::Success, Self::Failure, Self::Denied];

    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }

    /// Parses a stable name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == raw)
    }

    /// The outcome of an HTTP exchange with this status.
    pub fn of_http_status(status: u16) -> Self {
        match status {
            200..=399 => Self::Success,
            401 | 403 => Self::Denied,
            _ => Self::Failure,
        }
    }
}

/// Who acted. Personal fields hold sealed text (see the keyring).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// User id, when known (not personal data by itself).
    pub user_id: Option<String>,
    /// Whose key seals the personal fields (`user:<id>` or `anon:<day>`).
    pub subject: Option<String>,
    /// Sealed username.
    pub username: Option<String>,
    /// Sealed client address.
    pub ip_address: Option<String>,
    /// Sealed user agent.
    pub user_agent: Option<String>,
}

/// What was acted on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// `project`, `task`, `user`, `audit_log`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Its id.
    pub id: Option<String>,
    /// Its name, when useful to a reader.
    pub name: Option<String>,
}

/// One audit event as stored and hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the single chain (from the database); 0 until appended.
    pub sequence: i64,
    /// `evt_` + a time-ordered UUID.
    pub event_id: String,
    /// When it happened (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// `http.request`, `project.created`, …
    pub event_type: String,
    /// Retention class.
    pub category: Category,
    /// Who.
    pub actor: Actor,
    /// What.
    pub resource: Option<Resource>,
    /// The verb (`create`, `read`, `POST /api/v1/projects`, …).
    pub action: String,
    /// How it ended.
    pub status: Outcome,
    /// Extra facts, canonical JSON text (object keys sorted).
    pub metadata: String,
    /// The request's id.
    pub request_id: Option<String>,
    /// The session's id.
    pub session_id: Option<String>,
    /// The authorization decision's id.
    pub decision_id: Option<String>,
    /// Hash of the previous record (hex).
    pub prev_hash: String,
    /// This record's hash (hex).
    pub hash: String,
}

impl AuditRecord {
    /// A new record of `event_type` at `timestamp`, not yet chained.
    pub fn new(event_type: &str, category: Category, action: &str, status: Outcome, timestamp: OffsetDateTime) -> Self {
        Self {
            sequence: 0,
            event_id: format!("evt_{}", uuid::Uuid::now_v7().simple()),
            timestamp,
            event_type: event_type.to_owned(),
            category,
            actor: Actor::default(),
            resource: None,
            action: action.to_owned(),
            status,
            metadata: "{}".to_owned(),
            request_id: None,
            session_id: None,
            decision_id: None,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    /// Sets the metadata from a JSON value, in canonical form.
    #[must_use]
    pub fn with_metadata(mut self, value: &serde_json::Value) -> Self {
        self.metadata = canonical_json(value);
        self
    }

    /// Sets the resource.
    #[must_use]
    pub fn with_resource(mut self, kind: &str, id: Option<String>, name: Option<String>) -> Self {
        self.resource = Some(Resource { kind: kind.to_owned(), id, name });
        self
    }
}

/// JSON text with object keys sorted at every level.
pub fn canonical_json(value: &serde_json::Value) -> String {
    fn sort(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(map) => {
                let sorted: std::collections::BTreeMap<_, _> = map.iter().map(|(k, v)| (k.clone(), sort(v))).collect();
                serde_json::Value::Object(sorted.into_iter().collect())
            }
            serde_json::Value::Array(items) => serde_json::Value::Array(items.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(value).to_string()
}
