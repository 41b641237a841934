//! Command-line interface: parsing and dispatch.

mod audit_cmd;
mod config_cmd;
mod mfa_setup;
mod policy_cmd;
mod realm_cmd;
mod serve;
mod service_account_cmd;
mod setup;
mod siem_cmd;
mod users;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// AutoPMO: a self-hostable, security-first Project Management Office.
#[derive(Debug, Parser)]
#[command(name = "autopmo", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Settings not in it come from built-in
    /// defaults; AUTOPMO_* environment variables override both.
    #[arg(long, global = true, env = "AUTOPMO_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (migrates the database first).
    Serve,
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Manage user accounts.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Verify, checkpoint and export the audit trail.
    #[command(subcommand)]
    Audit(audit_cmd::AuditCommand),
    /// Apply a Keycloak realm export's settings.
    #[command(subcommand)]
    Realm(realm_cmd::RealmCommand),
    /// Manage personal API tokens.
    #[command(subcommand)]
    Token(users::TokenCommand),
    /// Show the permission matrix and policies; check a policy file.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
    /// Manage service accounts (agents, integrations) and their API keys.
    #[command(subcommand)]
    ServiceAccount(service_account_cmd::ServiceAccountCommand),
}

/// Runs the chosen command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = autopmo_config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => serve::run(config).await,
        Command::Migrate => setup::migrate_only(&config).await,
        Command::Config(cmd) => config_cmd::run(cmd, &config),
        Command::User(cmd) => users::run_user(cmd, &config).await,
        Command::Token(cmd) => users::run_token(cmd, &config).await,
        Command::Audit(cmd) => audit_cmd::run(cmd, &config).await,
        Command::Realm(cmd) => realm_cmd::run(cmd, &config).await,
        Command::ServiceAccount(cmd) => service_account_cmd::run(cmd, &config).await,
        Command::Policy(cmd) => policy_cmd::run(cmd, &config),
    }
}
