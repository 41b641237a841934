//! `autopmo config show`.

use autopmo_config::Config;
use clap::Subcommand;
use std::io::Write;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration as TOML, secrets redacted.
    Show,
}

pub fn run(cmd: ConfigCommand, config: &Config) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Show => {
            let mut effective = config.clone();
            // Show what is in force, not just what was set.
            effective.database_url = Some(config.effective_database_url());
            effective.public_url = Some(config.effective_public_url());
            let text = toml::to_string_pretty(&effective)?;
            std::io::stdout().write_all(text.as_bytes())?;
            Ok(())
        }
    }
}
