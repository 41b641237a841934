//! Sections for the services AutoPMO talks to: SMTP, SIEM sinks and OIDC
//! providers.

use super::redact_secret;
use secrecy::SecretString;
use serde::{Deserialize, Serialize, Serializer};
use std::path::PathBuf;

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
