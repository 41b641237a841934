//! The configuration's shape and its defaults.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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

fn redact_secret<S: Serializer>(value: &Option<SecretString>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => serializer.serialize_some("***"),
        None => serializer.serialize_none(),
    }
}

/// The SMTP server that sends password-reset mail (`docs/password-reset.md`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Server host name (the name its TLS certificate must carry).
    pub host: String,
    /// Server port; by default 465 for `tls`, 587 for `starttls`, 25 for `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The sender: `pmo@example.org` or `AutoPMO <pmo@example.org>`.
    pub from: String,
    /// Login, if the server wants one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password for `username` (never shown by `config show`).
    #[serde(default, serialize_with = "redact_secret", skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretString>,
    /// `starttls` (the default), `tls` (implicit TLS) or `none`.
    #[serde(default = "default_smtp_tls")]
    pub tls: SmtpTls,
    /// Send the username and password without TLS (`tls = "none"`): only
    /// for a relay on this machine.
    #[serde(default)]
    pub danger_allow_plain_auth: bool,
    /// Time allowed per SMTP command, in seconds.
    #[serde(default = "default_smtp_timeout")]
    pub timeout_secs: u64,
}

impl SmtpConfig {
    /// The port in force.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::Tls => 465,
            SmtpTls::Starttls => 587,
            SmtpTls::None => 25,
        })
    }
}

fn default_smtp_tls() -> SmtpTls {
    SmtpTls::Starttls
}

fn default_smtp_timeout() -> u64 {
    30
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain text (a relay on this machine, or a test server).
    None,
    /// STARTTLS, required to succeed before anything is sent.
    Starttls,
    /// Implicit TLS from the first byte.
    Tls,
}

/// Streaming the audit trail to SIEMs (`docs/siem.md`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiemConfig {
    /// Whether `serve` streams to every sink below.
    pub enabled: bool,
    /// Events sent per batch (1–10000).
    pub batch_size: u32,
    /// How often to look for new events once caught up, in milliseconds.
    pub poll_interval_ms: u64,
    /// The syslog HOSTNAME field; defaults to this machine's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The destinations; each keeps its own cursor, by name.
    pub sinks: Vec<SiemSinkConfig>,
}

impl Default for SiemConfig {
    fn default() -> Self {
        Self { enabled: false, batch_size: 500, poll_interval_ms: 1_000, hostname: None, sinks: Vec::new() }
    }
}

impl SiemConfig {
    /// The sink called `name`.
    pub fn sink(&self, name: &str) -> Option<&SiemSinkConfig> {
        self.sinks.iter().find(|s| s.name == name)
    }
}

/// One SIEM destination.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiemSinkConfig {
    /// Its name: the key of its cursor (letters, digits, `.`, `_`, `-`).
    pub name: String,
    /// `jsonl` or `syslog`.
    pub kind: SiemSinkKind,
    /// `jsonl`: the file appended to, or `-` for stdout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// `syslog`: the receiver's `host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// `syslog`: TLS instead of plain TCP.
    #[serde(default)]
    pub tls: bool,
    /// `syslog` with TLS: PEM file of the CA(s) to trust instead of the built-in Mozilla roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// `syslog`: one facility for every event; by default `auth` for
    /// authentication and authorization events, `local0` for the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facility: Option<SyslogFacility>,
    /// Send personal data opened (`true`, the default), or sealed as stored
    /// (`false`, for a SIEM outside the trust boundary).
    #[serde(default = "yes")]
    pub include_personal_data: bool,
}

fn yes() -> bool {
    true
}

/// Kind of SIEM sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SiemSinkKind {
    /// JSON Lines to a file or stdout.
    Jsonl,
    /// RFC 5424 syslog over TCP, optionally TLS.
    Syslog,
}

/// A syslog facility (RFC 5424 §6.2.1), by its usual name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyslogFacility {
    /// 0: kernel.
    Kern,
    /// 1: user-level.
    User,
    /// 2: mail.
    Mail,
    /// 3: system daemons.
    Daemon,
    /// 4: security/authorization.
    Auth,
    /// 5: syslogd itself.
    Syslog,
    /// 6: line printer.
    Lpr,
    /// 7: network news.
    News,
    /// 8: UUCP.
    Uucp,
    /// 9: clock daemon.
    Cron,
    /// 10: security/authorization (private).
    Authpriv,
    /// 11: FTP.
    Ftp,
    /// 12: NTP.
    Ntp,
    /// 13: log audit.
    Audit,
    /// 14: log alert.
    Alert,
    /// 15: clock daemon (2).
    Clock,
    /// 16: local use 0.
    Local0,
    /// 17: local use 1.
    Local1,
    /// 18: local use 2.
    Local2,
    /// 19: local use 3.
    Local3,
    /// 20: local use 4.
    Local4,
    /// 21: local use 5.
    Local5,
    /// 22: local use 6.
    Local6,
    /// 23: local use 7.
    Local7,
}

impl SyslogFacility {
    /// Its numeric code (0–23).
    pub fn code(self) -> u8 {
        self as u8
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
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout_secs: 10,
            sqlite_busy_timeout_ms: 5_000,
            sqlite_synchronous: SqliteSynchronous::Full,
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

/// OIDC federation: the external issuers whose logins and bearer tokens
/// are accepted (`docs/federation.md`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// `[[oidc.issuers]]`, one per provider.
    pub issuers: Vec<OidcIssuerConfig>,
}

/// One external OIDC issuer (e.g. a Keycloak realm).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OidcIssuerConfig {
    /// Short name used in URLs: `/api/v1/auth/oidc/{name}/login`.
    pub name: String,
    /// The issuer identifier, exactly as in its tokens
    /// (Keycloak: `https://HOST/realms/REALM`).
    pub issuer: String,
    /// Our client id at the provider.
    pub client_id: String,
    /// Our client secret (never shown by `config show`).
    #[serde(serialize_with = "redact_required_secret")]
    pub client_secret: SecretString,
    /// Scopes asked for at login (`openid` is always added).
    #[serde(default = "default_oidc_scopes")]
    pub scopes: Vec<String>,
    /// The audience bearer tokens must carry.
    #[serde(default = "default_oidc_audience")]
    pub audience: String,
    /// Dotted path of the roles claim.
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Provider role → AutoPMO role (`system_admin`, `project_manager`, …).
    #[serde(default)]
    pub role_map: std::collections::BTreeMap<String, String>,
    /// An identity not linked yet: `create`, `link_verified_email` or `none`.
    #[serde(default)]
    pub provisioning: OidcProvisioning,
}

/// What to do with an external identity that is not linked to a user yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OidcProvisioning {
    /// Link by verified email, or create a user.
    #[default]
    Create,
    /// Link by verified email only.
    LinkVerifiedEmail,
    /// Refuse.
    None,
}

fn default_oidc_scopes() -> Vec<String> {
    vec!["openid".to_owned(), "email".to_owned(), "profile".to_owned()]
}

fn default_oidc_audience() -> String {
    "autopmo-api".to_owned()
}

fn default_role_claim() -> String {
    "realm_access.roles".to_owned()
}

fn redact_required_secret<S: Serializer>(_: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str("***")
}
