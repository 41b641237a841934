//! The configuration's shape and its defaults.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod audit;
mod authorization;
mod integrations;
mod mfa;

pub use audit::*;
pub use authorization::*;
pub use integrations::*;
pub use mfa::*;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where AutoPMO keeps its files (the SQLite database, generated keys).
    /// Created with mode 0700.
    pub data_dir: PathBuf,
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// The URL clients reach the server at; defaults to `http://{listen}`.
    pub public_url: Option<String>,
    /// `sqlite://…` or `postgres://…`; defaults to a SQLite file in `data_dir`.
    pub database_url: Option<DatabaseUrl>,
    /// `development` or `production` (production tightens defaults).
    pub environment: Environment,
    /// Database pool and SQLite tuning.
    pub database: DatabaseConfig,
    /// Request limits.
    pub http: HttpConfig,
    /// Application log.
    pub log: LogConfig,
    /// Audit trail.
    pub audit: AuditConfig,
    /// Passwords.
    pub passwords: PasswordsConfig,
    /// Streaming the audit trail to SIEMs.
    pub siem: SiemConfig,
    /// Outgoing mail (password-reset links); none: reset requests are
    /// answered alike, and no mail is sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp: Option<SmtpConfig>,
    /// External OpenID Connect providers (`docs/federation.md`).
    pub oidc: OidcConfig,
    /// Permission matrix, policies, budget approval (`docs/authorization.md`).
    pub authorization: AuthorizationConfig,
    /// Multi-factor authentication (`docs/mfa.md`).
    pub mfa: MfaConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./autopmo-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            database_url: None,
            environment: Environment::Development,
            database: DatabaseConfig::default(),
            http: HttpConfig::default(),
            log: LogConfig::default(),
            audit: AuditConfig::default(),
            passwords: PasswordsConfig::default(),
            siem: SiemConfig::default(),
            smtp: None,
            oidc: OidcConfig::default(),
            authorization: AuthorizationConfig::default(),
            mfa: MfaConfig::default(),
        }
    }
}

impl Config {
    /// The database URL in force: the configured one, or the embedded SQLite file.
    pub fn effective_database_url(&self) -> DatabaseUrl {
        self.database_url.clone().unwrap_or_else(|| DatabaseUrl::sqlite_file(&self.data_dir.join("autopmo.db")))
    }

    /// The public URL in force.
    pub fn effective_public_url(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.listen))
    }
}

/// Password hashing (argon2id, OWASP parameters by default) and policy.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordsConfig {
    /// argon2id memory, KiB (OWASP: 19456).
    pub memory_kib: u32,
    /// argon2id iterations (OWASP: 2).
    pub iterations: u32,
    /// argon2id parallelism (OWASP: 1).
    pub parallelism: u32,
    /// Fewest characters of a password.
    pub min_length: usize,
    /// Most characters of a password (longer ones are refused, never truncated).
    pub max_length: usize,
    /// Lowest zxcvbn score, 0–4.
    pub min_score: u8,
    /// Refuse the shipped list of common passwords.
    pub reject_common: bool,
}

impl Default for PasswordsConfig {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            min_length: 12,
            max_length: 128,
            min_score: 3,
            reject_common: true,
        }
    }
}

/// Serialises a present secret as `***` (for `config show`).
pub(crate) fn redact_secret<S: Serializer>(value: &Option<SecretString>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => serializer.serialize_some("***"),
        None => serializer.serialize_none(),
    }
}

impl Config {
    /// Where the keyring lives: `<data_dir>/keys`.
    pub fn keys_dir(&self) -> PathBuf {
        self.data_dir.join("keys")
    }

    /// Where local archives go.
    pub fn archive_dir(&self) -> PathBuf {
        self.audit.archive.local_dir.clone().unwrap_or_else(|| self.data_dir.join("audit-archive"))
    }
}

/// Deployment environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// A developer's machine or a trial.
    Development,
    /// Real users and data.
    Production,
}

/// Database settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Largest number of pooled connections (PostgreSQL; SQLite readers).
    pub max_connections: u32,
    /// How long to wait for a pooled connection, in seconds.
    pub acquire_timeout_secs: u64,
    /// How long SQLite waits on a locked database, in milliseconds.
    pub sqlite_busy_timeout_ms: u64,
    /// SQLite's `synchronous` setting: `full` survives power loss, `normal` only a crash.
    pub sqlite_synchronous: SqliteSynchronous,
    /// How long a session read for a request may be used again, in
    /// milliseconds (0 to 1000; 0 reads it for every request). A change
    /// made by this server is seen at once whatever the value; one made by
    /// another server or the CLI within it (on PostgreSQL, usually sooner).
    pub session_cache_ms: u64,
    /// How long a project and its members read for a safe request (a
    /// `GET`) may be used again, in milliseconds (0 to 1000; 0 reads it
    /// for every request). A change is always decided on the project as it
    /// is; a change made by this server is seen at once whatever the value,
    /// one made by another server or the CLI within it.
    pub project_cache_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout_secs: 10,
            sqlite_busy_timeout_ms: 5_000,
            sqlite_synchronous: SqliteSynchronous::Full,
            session_cache_ms: 1_000,
            project_cache_ms: 1_000,
        }
    }
}

/// SQLite durability level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SqliteSynchronous {
    /// fsync on every commit: nothing acknowledged is lost, even on power loss.
    Full,
    /// fsync at checkpoints: nothing is lost on a process crash.
    Normal,
}

/// Limits on incoming requests.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Deepest nesting of a JSON body.
    pub max_json_depth: usize,
    /// Time allowed for one request, in seconds.
    pub request_timeout_secs: u64,
    /// Keycloak's `sslRequired`: `external` (HTTPS for public addresses),
    /// `all`, or `danger_none`.
    pub ssl_required: SslRequired,
    /// Reverse proxies (addresses or CIDRs) whose `X-Forwarded-For` and
    /// `X-Forwarded-Proto` are believed.
    pub trusted_proxies: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_json_depth: 32,
            request_timeout_secs: 30,
            ssl_required: SslRequired::External,
            trusted_proxies: Vec::new(),
        }
    }
}

/// When HTTPS is required (Keycloak's `sslRequired`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SslRequired {
    /// For requests from public addresses.
    External,
    /// For every request.
    All,
    /// Never — only for a closed test network.
    DangerNone,
}

/// The application log (not the audit trail).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info` or `autopmo=debug,info`.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".to_owned(), format: LogFormat::Text }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// A database URL. It may hold a password, so it is a secret: `Debug` and
/// `Serialize` show it with the password replaced by `***`.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    /// The URL of a SQLite file, created if missing.
    pub fn sqlite_file(path: &Path) -> Self {
        Self(SecretString::from(format!("sqlite://{}?mode=rwc", path.display())))
    }

    /// The URL itself, password included. Hand it only to the database driver.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether this is a PostgreSQL URL.
    pub fn is_postgres(&self) -> bool {
        let url = self.expose();
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        let url = self.expose();
        let Some((scheme, rest)) = url.split_once("://") else {
            return "***".to_owned();
        };
        let (authority, tail) = rest.split_once('/').map_or((rest, None), |(a, t)| (a, Some(t)));
        let authority = match authority.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _password)) => format!("{user}:***@{host}"),
                None => format!("{userinfo}@{host}"),
            },
            None => authority.to_owned(),
        };
        let query_hides_password = tail.is_some_and(|t| t.to_ascii_lowercase().contains("password="));
        match tail {
            Some(_) if query_hides_password => format!("{scheme}://{authority}/***"),
            Some(t) => format!("{scheme}://{authority}/{t}"),
            None => format!("{scheme}://{authority}"),
        }
    }
}

impl TryFrom<String> for DatabaseUrl {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let known = ["sqlite:", "postgres://", "postgresql://"];
        if known.iter().any(|p| value.starts_with(p)) {
            Ok(Self(SecretString::from(value)))
        } else {
            Err("must start with sqlite:, postgres:// or postgresql://".to_owned())
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        let url = |s: &str| DatabaseUrl::try_from(s.to_owned()).unwrap();
        assert_eq!(url("postgres://app:s3cret@db:5432/pmo").redacted(), "postgres://app:***@db:5432/pmo");
        assert_eq!(url("postgres://app@db/pmo").redacted(), "postgres://app@db/pmo");
        assert_eq!(url("postgres://db/pmo?user=a&password=x").redacted(), "postgres://db/***");
        assert_eq!(format!("{:?}", url("postgres://a:b@c/d")), "postgres://a:***@c/d");
        assert!(DatabaseUrl::try_from("mysql://x".to_owned()).is_err());
    }
}
