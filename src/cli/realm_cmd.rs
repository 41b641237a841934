//! `autopmo realm import FILE.json`.

use super::setup;
use anyhow::Context;
use autopmo_config::Config;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum RealmCommand {
    /// Apply the settings AutoPMO knows from a Keycloak realm export (brute
    /// force, sessions, login by email) and report the others.
    Import {
        /// The realm export (JSON).
        file: PathBuf,
    },
}

pub async fn run(cmd: RealmCommand, config: &Config) -> anyhow::Result<()> {
    let RealmCommand::Import { file } = cmd;
    let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let realm: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", file.display()))?;
    let store = setup::connect_and_migrate(config).await?;
    let trail = setup::trail(config, &store)?;
    let operator = super::users::operator(&trail).await?;
    let report = autopmo_auth::realm::import(&trail, &realm, &operator).await;
    store.close().await;
    let report = report.with_context(|| format!("{} was not imported; nothing changed", file.display()))?;
    for (name, value) in &report.applied {
        eprintln!("applied   {name} = {value}");
    }
    for name in &report.matching {
        eprintln!("holds     {name} (AutoPMO's fixed behaviour)");
    }
    for (name, why) in &report.refused {
        eprintln!("refused   {name}: {why}");
    }
    for (name, why) in &report.ignored {
        eprintln!("ignored   {name}: {why}");
    }
    eprintln!(
        "{} applied, {} already holding, {} refused, {} ignored; restart serve to use them",
        report.applied.len(),
        report.matching.len(),
        report.refused.len(),
        report.ignored.len()
    );
    Ok(())
}
