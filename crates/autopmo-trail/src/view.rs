//! Events as an authorised reader sees them: personal data opened, or
//! marked erased.

use crate::TrailError;
use crate::sealer::Sealer;
use autopmo_audit::AuditRecord;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

/// Shown in place of personal data whose key was destroyed.
pub const ERASED: &str = "[erased]";

/// One event, readable.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    /// Chain position.
    pub sequence: i64,
    /// `evt_…`.
    pub event_id: String,
    /// RFC 3339 UTC.
    pub timestamp: String,
    /// e.g. `project.created`.
    pub event_type: String,
    /// Retention class.
    pub category: &'static str,
    /// Who.
    pub actor: ActorView,
    /// What.
    pub resource: Option<ResourceView>,
    /// Verb.
    pub action: String,
    /// `success`, `failure` or `denied`.
    pub status: &'static str,
    /// Extra facts.
    pub metadata: serde_json::Value,
    /// Request id.
    pub request_id: Option<String>,
    /// Session id.
    pub session_id: Option<String>,
    /// Authorization decision id.
    pub decision_id: Option<String>,
    /// Previous hash.
    pub prev_hash: String,
    /// This hash.
    pub hash: String,
}

/// Who, readable.
#[derive(Debug, Clone, Serialize)]
pub struct ActorView {
    /// User id.
    pub user_id: Option<String>,
    /// Login name.
    pub username: Option<String>,
    /// Client address.
    pub ip_address: Option<String>,
    /// Client software.
    pub user_agent: Option<String>,
}

/// What, readable.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceView {
    /// Type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Id.
    pub id: Option<String>,
    /// Name.
    pub name: Option<String>,
}

impl EventView {
    /// Opens `record`'s personal data with `sealer`.
    pub async fn open(record: AuditRecord, sealer: &Sealer) -> Result<Self, TrailError> {
        let subject = record.actor.subject.clone().unwrap_or_default();
        let open = async |v: &Option<String>| -> Result<Option<String>, TrailError> {
            match v {
                None => Ok(None),
                Some(sealed) => Ok(Some(sealer.open(&subject, sealed).await?.unwrap_or_else(|| ERASED.to_owned()))),
            }
        };
        let actor = ActorView {
            user_id: record.actor.user_id.clone(),
            username: open(&record.actor.username).await?,
            ip_address: open(&record.actor.ip_address).await?,
            user_agent: open(&record.actor.user_agent).await?,
        };
        Ok(Self {
            sequence: record.sequence,
            event_id: record.event_id,
            timestamp: record.timestamp.format(&Rfc3339).unwrap_or_default(),
            event_type: record.event_type,
            category: record.category.as_str(),
            actor,
            resource: record.resource.map(|r| ResourceView { kind: r.kind, id: r.id, name: r.name }),
            action: record.action,
            status: record.status.as_str(),
            metadata: serde_json::from_str(&record.metadata).unwrap_or(serde_json::Value::Null),
            request_id: record.request_id,
            session_id: record.session_id,
            decision_id: record.decision_id,
            prev_hash: record.prev_hash,
            hash: record.hash,
        })
    }
}
