//! Building the configuration from its three layers.

use crate::model::Config;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use std::path::Path;

/// Why the configuration could not be built. Each message names the key,
/// where its value came from, and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file given with `--config` does not exist or cannot be read.
    #[error("cannot read configuration file {path}: {reason}")]
    File {
        /// The path given.
        path: String,
        /// Why it could not be read.
        reason: String,
    },
    /// One or more keys are unknown or hold invalid values.
    #[error("invalid configuration:\n{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

/// Loads defaults, then `file` (if any), then the `AUTOPMO_*` variables of
/// the process environment.
pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = file {
        // A missing file given explicitly is an error, not silently skipped.
        std::fs::metadata(path)
            .map_err(|e| ConfigError::File { path: path.display().to_string(), reason: e.to_string() })?;
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment.merge(
        Env::prefixed("AUTOPMO_")
            .filter(|key| {
                let key = key.as_str().to_ascii_lowercase();
                key != "config" && !key.starts_with("test_")
            })
            .split("__"),
    );
    let config: Config = figment.extract().map_err(describe)?;
    check(&config)?;
    Ok(config)
}

fn describe(error: figment::Error) -> ConfigError {
    let lines = error
        .into_iter()
        .map(|e| {
            let key = if e.path.is_empty() { "(top level)".to_owned() } else { e.path.join(".") };
            let source = e
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(figment::Source::File(path)) => format!(" in {}", path.display()),
                    _ if m.name.contains("environment") => {
                        format!(" from environment variable AUTOPMO_{}", e.path.join("__").to_ascii_uppercase())
                    }
                    _ => format!(" from {}", m.name),
                })
                .unwrap_or_default();
            format!("  - key `{key}`{source}: {}", e.kind)
        })
        .collect();
    ConfigError::Invalid(lines)
}

fn check(config: &Config) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    if config.database.max_connections == 0 {
        problems.push("  - key `database.max_connections`: must be at least 1".to_owned());
    }
    for (key, ms) in
        [("session_cache_ms", config.database.session_cache_ms), ("project_cache_ms", config.database.project_cache_ms)]
    {
        if ms > 1_000 {
            problems.push(format!("  - key `database.{key}`: must be at most 1000 (one second)"));
        }
    }
    if config.http.max_body_bytes < 1024 {
        problems.push("  - key `http.max_body_bytes`: must be at least 1024".to_owned());
    }
    if config.audit.archive.target == crate::model::ArchiveTargetKind::S3 && config.audit.archive.s3.is_none() {
        problems.push(
            "  - key `audit.archive.s3`: required when audit.archive.target = \"s3\" (bucket, region, …)".to_owned(),
        );
    }
    if config.audit.archive.batch == 0 || config.audit.archive.interval_secs == 0 {
        problems.push("  - key `audit.archive`: batch and interval_secs must be at least 1".to_owned());
    }
    if config.audit.checkpoint_interval_secs == 0 {
        problems.push("  - key `audit.checkpoint_interval_secs`: must be at least 1".to_owned());
    }
    for proxy in &config.http.trusted_proxies {
        let (addr, prefix) = proxy.split_once('/').unwrap_or((proxy, "0"));
        let valid = addr.parse::<std::net::IpAddr>().is_ok() && prefix.parse::<u8>().is_ok_and(|p| p <= 128);
        if !valid {
            problems.push(format!("  - key `http.trusted_proxies`: {proxy:?} is not an address or CIDR"));
        }
    }
    if config.http.max_json_depth == 0 {
        problems.push("  - key `http.max_json_depth`: must be at least 1".to_owned());
    }
    if let Some(url) = &config.public_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        problems.push("  - key `public_url`: must start with http:// or https://".to_owned());
    }
    let approval = &config.authorization.budget_approval;
    let (whole, fraction) = approval.threshold.split_once('.').unwrap_or((&approval.threshold, "0"));
    let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !(is_digits(whole) && is_digits(fraction) && whole.len() <= 15) {
        problems.push(format!(
            "  - key `authorization.budget_approval.threshold`: {:?} is not a decimal amount such as \"1000000\"",
            approval.threshold
        ));
    }
    if !(approval.currency.len() == 3 && approval.currency.bytes().all(|b| b.is_ascii_uppercase())) {
        problems.push(format!(
            "  - key `authorization.budget_approval.currency`: {:?} is not an ISO 4217 code such as \"USD\"",
            approval.currency
        ));
    }
    check_mfa(&config.mfa, &mut problems);
    check_siem(&config.siem, &mut problems);
    if let Some(smtp) = &config.smtp {
        check_smtp(smtp, config.public_url.is_some(), &mut problems);
    }
    if problems.is_empty() { Ok(()) } else { Err(ConfigError::Invalid(problems)) }
}

/// The `[mfa]` section: a TOTP policy authenticator apps accept, known
/// roles, a usable SMS gateway.
fn check_mfa(mfa: &crate::model::MfaConfig, problems: &mut Vec<String>) {
    let mut bad = |field: &str, why: &str| problems.push(format!("  - key `mfa.{field}`: {why}"));
    if !["SHA1", "SHA256", "SHA512"].contains(&mfa.totp_algorithm.to_ascii_uppercase().as_str()) {
        bad("totp_algorithm", "SHA1, SHA256 or SHA512");
    }
    if !(6..=8).contains(&mfa.totp_digits) {
        bad("totp_digits", "from 6 to 8");
    }
    if !(15..=120).contains(&mfa.totp_period_secs) {
        bad("totp_period_secs", "from 15 to 120");
    }
    if mfa.totp_skew > 2 {
        bad("totp_skew", "at most 2 steps");
    }
    if mfa.step_up_secs == 0 || mfa.step_up_secs > 3600 {
        bad("step_up_secs", "from 1 to 3600");
    }
    const ROLES: [&str; 6] = ["system_admin", "project_manager", "developer", "stakeholder", "auditor", "ml_engineer"];
    for role in &mfa.required_roles {
        if !ROLES.contains(&role.as_str()) {
            bad("required_roles", &format!("{role:?} is not a role ({})", ROLES.join(", ")));
        }
    }
    if let Some(sms) = &mfa.sms {
        match sms.gateway {
            crate::model::SmsGatewayKind::Webhook if sms.url.is_none() => {
                bad("sms.url", "the webhook's URL is required")
            }
            crate::model::SmsGatewayKind::Twilio
                if sms.account_sid.is_none() || sms.auth_token.is_none() || sms.from.is_none() =>
            {
                bad("sms", "the twilio gateway needs account_sid, auth_token and from")
            }
            _ => {}
        }
    }
}

/// The `[smtp]` section: a usable server and sender, no credentials in
/// plain text unless explicitly allowed, and a public URL for the links.
fn check_smtp(smtp: &crate::model::SmtpConfig, has_public_url: bool, problems: &mut Vec<String>) {
    let mut bad = |field: &str, why: &str| problems.push(format!("  - key `smtp.{field}`: {why}"));
    if smtp.host.trim().is_empty() || smtp.host.chars().any(|c| c.is_whitespace() || c == '/') {
        bad("host", "a host name or address, e.g. \"smtp.example.org\"");
    }
    if smtp.port == Some(0) {
        bad("port", "must be between 1 and 65535");
    }
    let address = smtp.from.rsplit_once('<').map_or(smtp.from.as_str(), |(_, a)| a.trim_end_matches('>'));
    let address_ok = address
        .trim()
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if !address_ok || smtp.from.contains(['\r', '\n']) {
        bad("from", "a mail address, e.g. \"AutoPMO <pmo@example.org>\"");
    }
    if smtp.username.is_some() != smtp.password.is_some() {
        bad("password", "`smtp.username` and `smtp.password` go together");
    }
    if smtp.username.is_some() && smtp.tls == crate::model::SmtpTls::None && !smtp.danger_allow_plain_auth {
        bad(
            "tls",
            "credentials would be sent in plain text: use \"starttls\" or \"tls\" \
             (or danger_allow_plain_auth = true, for a relay on this machine only)",
        );
    }
    if smtp.timeout_secs == 0 {
        bad("timeout_secs", "must be at least 1");
    }
    if !has_public_url {
        problems.push(
            "  - key `public_url`: required with [smtp]: password-reset links point at it (e.g. \"https://pmo.example.org\")"
                .to_owned(),
        );
    }
}

/// The `[siem]` section: each sink has what its kind needs, and nothing else.
fn check_siem(siem: &crate::model::SiemConfig, problems: &mut Vec<String>) {
    use crate::model::SiemSinkKind;
    if siem.enabled && siem.sinks.is_empty() {
        problems.push("  - key `siem.sinks`: `siem.enabled` is true but no sink is configured".to_owned());
    }
    if !(1..=10_000).contains(&siem.batch_size) {
        problems.push("  - key `siem.batch_size`: must be between 1 and 10000".to_owned());
    }
    if siem.poll_interval_ms == 0 {
        problems.push("  - key `siem.poll_interval_ms`: must be at least 1".to_owned());
    }
    if let Some(host) = &siem.hostname
        && (host.is_empty() || host.len() > 255 || !host.chars().all(|c| c.is_ascii_graphic()))
    {
        problems.push("  - key `siem.hostname`: 1 to 255 printable ASCII characters, no spaces".to_owned());
    }
    for (i, sink) in siem.sinks.iter().enumerate() {
        let mut bad = |field: &str, why: &str| problems.push(format!("  - key `siem.sinks[{i}].{field}`: {why}"));
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.len() <= 64
                && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        };
        if !name_ok(&sink.name) {
            bad("name", "1 to 64 letters, digits, `.`, `_` or `-`");
        } else if siem.sinks.iter().take(i).any(|other| other.name == sink.name) {
            bad(
                "name",
                &format!("{:?} is the name of an earlier sink; each needs its own (it keys the cursor)", sink.name),
            );
        }
        match sink.kind {
            SiemSinkKind::Jsonl => {
                if sink.path.as_ref().is_none_or(|p| p.as_os_str().is_empty()) {
                    bad("path", "required for kind = \"jsonl\" (a file, or \"-\" for stdout)");
                }
                let syslog_only = [
                    ("address", sink.address.is_some()),
                    ("tls", sink.tls),
                    ("ca_file", sink.ca_file.is_some()),
                    ("facility", sink.facility.is_some()),
                ];
                for (field, _) in syslog_only.iter().filter(|(_, set)| *set) {
                    bad(field, "only for kind = \"syslog\"");
                }
            }
            SiemSinkKind::Syslog => {
                match sink.address.as_deref() {
                    None => bad("address", "required for kind = \"syslog\" (host:port)"),
                    Some(address) => {
                        let port = address.rsplit_once(':').map(|(host, port)| (host.is_empty(), port.parse::<u16>()));
                        if !matches!(port, Some((false, Ok(p))) if p > 0) {
                            bad("address", &format!("{address:?} is not host:port (e.g. \"siem.example.org:6514\")"));
                        }
                    }
                }
                if sink.path.is_some() {
                    bad("path", "only for kind = \"jsonl\"");
                }
                if sink.ca_file.is_some() && !sink.tls {
                    bad("ca_file", "only with tls = true");
                }
            }
        }
    }
}

#[cfg(test)]
#[expect(clippy::result_large_err, reason = "figment's Jail API fixes the closure's error type")]
mod tests {
    use super::*;
    use figment::Jail;

    fn message(result: Result<Config, ConfigError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn defaults_without_file_or_env() {
        Jail::expect_with(|_| {
            let config = load(None).unwrap();
            assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
            assert_eq!(config.data_dir, Path::new("./autopmo-data"));
            assert!(config.effective_database_url().expose().starts_with("sqlite://./autopmo-data/autopmo.db"));
            Ok(())
        });
    }

    #[test]
    fn file_then_env_override() {
        Jail::expect_with(|jail| {
            jail.create_file("a.toml", "listen = \"127.0.0.1:9000\"\n[http]\nmax_body_bytes = 4096\n")?;
            jail.set_env("AUTOPMO_HTTP__MAX_BODY_BYTES", "8192");
            jail.set_env("AUTOPMO_CONFIG", "ignored-here");
            jail.set_env("AUTOPMO_TEST_POSTGRES_URL", "ignored-too");
            let config = load(Some(Path::new("a.toml"))).unwrap();
            assert_eq!(config.listen.port(), 9000);
            assert_eq!(config.http.max_body_bytes, 8192);
            Ok(())
        });
    }

    #[test]
    fn unknown_key_in_file_is_named() {
        Jail::expect_with(|jail| {
            jail.create_file("a.toml", "lisen = \"127.0.0.1:9000\"\n")?;
            let msg = message(load(Some(Path::new("a.toml"))));
            assert!(msg.contains("lisen"), "{msg}");
            assert!(msg.contains("a.toml"), "{msg}");
            Ok(())
        });
    }

    #[test]
    fn unknown_env_key_is_named() {
        Jail::expect_with(|jail| {
            jail.set_env("AUTOPMO_LISTN", "x");
            let msg = message(load(None));
            assert!(msg.contains("listn"), "{msg}");
            assert!(msg.contains("AUTOPMO_LISTN"), "{msg}");
            Ok(())
        });
    }

    #[test]
    fn invalid_value_is_named() {
        Jail::expect_with(|jail| {
            jail.set_env("AUTOPMO_LISTEN", "not-an-address");
            let msg = message(load(None));
            assert!(msg.contains("`listen`"), "{msg}");
            jail.set_env("AUTOPMO_LISTEN", "127.0.0.1:1");
            jail.set_env("AUTOPMO_DATABASE_URL", "mysql://x");
            let msg = message(load(None));
            assert!(msg.contains("database_url") && msg.contains("postgres://"), "{msg}");
            jail.set_env("AUTOPMO_DATABASE_URL", "sqlite::memory:");
            jail.set_env("AUTOPMO_DATABASE__MAX_CONNECTIONS", "0");
            let msg = message(load(None));
            assert!(msg.contains("database.max_connections"), "{msg}");
            jail.set_env("AUTOPMO_DATABASE__MAX_CONNECTIONS", "4");
            for key in ["session_cache_ms", "project_cache_ms"] {
                let var = format!("AUTOPMO_DATABASE__{}", key.to_uppercase());
                jail.set_env(&var, "1001");
                let msg = message(load(None));
                assert!(msg.contains(&format!("database.{key}")) && msg.contains("at most 1000"), "{msg}");
                jail.set_env(&var, "1000");
            }
            Ok(())
        });
    }

    #[test]
    fn missing_file_is_an_error() {
        Jail::expect_with(|_| {
            let msg = message(load(Some(Path::new("nope.toml"))));
            assert!(msg.contains("nope.toml"), "{msg}");
            Ok(())
        });
    }
}

#[cfg(test)]
#[expect(clippy::result_large_err, reason = "figment's Jail API fixes the closure's error type")]
mod siem_tests {
    use super::*;
    use crate::model::{SiemSinkKind, SyslogFacility};
    use figment::Jail;

    #[test]
    fn siem_sinks_are_typed() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "a.toml",
                r#"
                [siem]
                enabled = true
                [[siem.sinks]]
                name = "file"
                kind = "jsonl"
                path = "/var/log/autopmo/audit.jsonl"
                [[siem.sinks]]
                name = "corp-siem"
                kind = "syslog"
                address = "siem.example.org:6514"
                tls = true
                facility = "local3"
                include_personal_data = false
                "#,
            )?;
            let config = load(Some(Path::new("a.toml"))).unwrap();
            assert!(config.siem.enabled);
            assert_eq!(config.siem.batch_size, 500);
            let file = config.siem.sink("file").unwrap();
            assert_eq!(file.kind, SiemSinkKind::Jsonl);
            assert!(file.include_personal_data);
            let syslog = config.siem.sink("corp-siem").unwrap();
            assert_eq!(syslog.facility, Some(SyslogFacility::Local3));
            assert_eq!(SyslogFacility::Local3.code(), 19);
            assert_eq!(SyslogFacility::Auth.code(), 4);
            assert!(!syslog.include_personal_data);
            // `config show` can print it.
            assert!(toml::to_string_pretty(&config).unwrap().contains("corp-siem"));
            Ok(())
        });
    }

    #[test]
    fn siem_mistakes_are_named() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "a.toml",
                r#"
                [siem]
                enabled = true
                [[siem.sinks]]
                name = "a"
                kind = "syslog"
                address = "no-port"
                ca_file = "ca.pem"
                [[siem.sinks]]
                name = "a"
                kind = "jsonl"
                address = "x:1"
                "#,
            )?;
            let msg = load(Some(Path::new("a.toml"))).unwrap_err().to_string();
            for key in ["siem.sinks[0].address", "siem.sinks[0].ca_file", "siem.sinks[1].name", "siem.sinks[1].path"] {
                assert!(msg.contains(key), "{key} not in {msg}");
            }
            assert!(msg.contains("siem.sinks[1].address") && msg.contains("only for kind = \"syslog\""), "{msg}");
            jail.create_file("b.toml", "[siem]\nenabled = true\n")?;
            let msg = load(Some(Path::new("b.toml"))).unwrap_err().to_string();
            assert!(msg.contains("siem.sinks"), "{msg}");
            jail.create_file("c.toml", "[[siem.sinks]]\nname = \"x\"\nkind = \"kafka\"\n")?;
            let msg = load(Some(Path::new("c.toml"))).unwrap_err().to_string();
            assert!(msg.contains("kind") && msg.contains("c.toml"), "{msg}");
            jail.create_file("d.toml", "[[siem.sinks]]\nname = \"x\"\nkind = \"jsonl\"\npath = \"-\"\nport = 1\n")?;
            let msg = load(Some(Path::new("d.toml"))).unwrap_err().to_string();
            assert!(msg.contains("port"), "{msg}");
            Ok(())
        });
    }
}

#[cfg(test)]
#[expect(clippy::result_large_err, reason = "figment's Jail API fixes the closure's error type")]
mod smtp_tests {
    use super::*;
    use crate::model::SmtpTls;
    use figment::Jail;

    #[test]
    fn smtp_is_typed_and_its_password_redacted() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "a.toml",
                r#"
                public_url = "https://pmo.example.org"
                [smtp]
                host = "smtp.example.org"
                from = "AutoPMO <pmo@example.org>"
                username = "pmo"
                "#,
            )?;
            jail.set_env("AUTOPMO_SMTP__PASSWORD", "sm7p-s3cret");
            let config = load(Some(Path::new("a.toml"))).unwrap();
            let smtp = config.smtp.as_ref().unwrap();
            assert_eq!((smtp.tls, smtp.effective_port(), smtp.timeout_secs), (SmtpTls::Starttls, 587, 30));
            let shown = toml::to_string_pretty(&config).unwrap();
            assert!(shown.contains("[smtp]") && shown.contains("password = \"***\""), "{shown}");
            assert!(!shown.contains("sm7p-s3cret"), "{shown}");
            assert!(!format!("{config:?}").contains("sm7p-s3cret"));
            // No [smtp]: nothing shown, nothing required.
            jail.create_file("b.toml", "listen = \"127.0.0.1:9000\"\n")?;
            jail.clear_env();
            let config = load(Some(Path::new("b.toml"))).unwrap();
            assert!(config.smtp.is_none());
            assert!(!toml::to_string_pretty(&config).unwrap().contains("smtp"));
            Ok(())
        });
    }

    #[test]
    fn smtp_mistakes_are_named() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "a.toml",
                r#"
                [smtp]
                host = ""
                from = "not an address"
                username = "pmo"
                password = "x"
                tls = "none"
                timeout_secs = 0
                "#,
            )?;
            let msg = load(Some(Path::new("a.toml"))).unwrap_err().to_string();
            for key in ["smtp.host", "smtp.from", "smtp.tls", "smtp.timeout_secs", "`public_url`"] {
                assert!(msg.contains(key), "{key} not in {msg}");
            }
            assert!(!msg.contains("password = "), "{msg}");
            jail.create_file(
                "b.toml",
                "public_url = \"https://x.example\"\n[smtp]\nhost = \"localhost\"\nfrom = \"a@b\"\nusername = \"u\"\n\
                 password = \"p\"\ntls = \"none\"\ndanger_allow_plain_auth = true\n",
            )?;
            let config = load(Some(Path::new("b.toml"))).unwrap();
            assert_eq!(config.smtp.unwrap().effective_port(), 25);
            jail.create_file("c.toml", "[smtp]\nhost = \"h\"\nfrom = \"a@b\"\ntls = \"ssl\"\n")?;
            let msg = load(Some(Path::new("c.toml"))).unwrap_err().to_string();
            assert!(msg.contains("tls") && msg.contains("c.toml"), "{msg}");
            jail.create_file("d.toml", "[smtp]\nhost = \"h\"\nfrom = \"a@b\"\nuser = \"u\"\n")?;
            let msg = load(Some(Path::new("d.toml"))).unwrap_err().to_string();
            assert!(msg.contains("user"), "{msg}");
            Ok(())
        });
    }
}
