//! The `[audit]` section: checkpoints, retention and archival (guide §8.3).

use super::redact_secret;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use std::path::PathBuf;

/// The audit trail.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// How often `serve` signs a checkpoint of the chain head, in seconds.
    pub checkpoint_interval_secs: u64,
    /// Days each category stays in the hot table (§8.3).
    pub retention: RetentionConfig,
    /// Where expired events go.
    pub archive: ArchiveConfig,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self { checkpoint_interval_secs: 300, retention: RetentionConfig::default(), archive: ArchiveConfig::default() }
    }
}

/// Retention per category, in days (guide §8.3; authorization, which the
/// guide leaves out, defaults to the administrative 2555).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Logins, MFA, sessions.
    pub authentication_days: u32,
    /// Permission decisions, role and policy changes.
    pub authorization_days: u32,
    /// Business data.
    pub data_access_days: u32,
    /// Users, configuration, deployments.
    pub administrative_days: u32,
    /// The system itself.
    pub system_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            authentication_days: 365,
            authorization_days: 2555,
            data_access_days: 2555,
            administrative_days: 2555,
            system_days: 90,
        }
    }
}

/// Archival of expired audit events to object storage.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// Run archival inside `serve` every `interval_secs`.
    pub scheduled: bool,
    /// Seconds between scheduled runs.
    pub interval_secs: u64,
    /// Events per segment.
    pub batch: u32,
    /// `local` (a directory) or `s3`.
    pub target: ArchiveTargetKind,
    /// For `local`: the directory (default `<data_dir>/audit-archive`).
    pub local_dir: Option<PathBuf>,
    /// For `s3`.
    pub s3: Option<S3Config>,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        Self {
            scheduled: true,
            interval_secs: 86_400,
            batch: 10_000,
            target: ArchiveTargetKind::Local,
            local_dir: None,
            s3: None,
        }
    }
}

/// Archive back end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveTargetKind {
    /// A local directory.
    Local,
    /// S3 or an S3-compatible service.
    S3,
}

/// An S3 bucket for archives.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Bucket name.
    pub bucket: String,
    /// Region.
    #[serde(default = "default_region")]
    pub region: String,
    /// Endpoint of an S3-compatible service; absent for AWS.
    pub endpoint: Option<String>,
    /// Access key id; absent to use the environment or instance role.
    pub access_key_id: Option<String>,
    /// Secret access key (never shown by `config show`).
    #[serde(default, serialize_with = "redact_secret")]
    pub secret_access_key: Option<SecretString>,
    /// Storage class for segments, e.g. `GLACIER` (§8.3).
    pub storage_class: Option<String>,
    /// Key prefix.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Plain HTTP to the endpoint — only for a test server on this machine.
    #[serde(default)]
    pub danger_allow_http: bool,
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

fn default_prefix() -> String {
    "autopmo/audit".to_owned()
}
