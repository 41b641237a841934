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
    if config.http.max_body_bytes < 1024 {
        problems.push("  - key `http.max_body_bytes`: must be at least 1024".to_owned());
    }
    if config.audit.checkpoint_interval_secs == 0 {
        problems.push("  - key `audit.checkpoint_interval_secs`: must be at least 1".to_owned());
    }
    if config.http.max_json_depth == 0 {
        problems.push("  - key `http.max_json_depth`: must be at least 1".to_owned());
    }
    if let Some(url) = &config.public_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        problems.push("  - key `public_url`: must start with http:// or https://".to_owned());
    }
    if problems.is_empty() { Ok(()) } else { Err(ConfigError::Invalid(problems)) }
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
