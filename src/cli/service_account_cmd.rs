//! `autopmo service-account …`: service accounts for agents and
//! integrations, and their API keys — audited like every other
//! administration command, with the operator as actor.

use super::{setup, users};
use anyhow::{Context, bail};
use autopmo_auth::roles::ChangedBy;
use autopmo_auth::service_accounts::{self as accounts, MAX_KEY_DAYS, NewServiceAccount};
use autopmo_config::Config;
use autopmo_domain::{DisplayName, Note, Role, Username};
use autopmo_store::service_accounts::{self, ServiceAccount, ServiceAccountSort};
use autopmo_store::{Direction, ListParams, Store, tokens};
use autopmo_trail::AuditTrail;
use clap::Subcommand;
use secrecy::ExposeSecret;
use std::io::Write;

#[derive(Debug, Subcommand)]
pub enum ServiceAccountCommand {
    /// Create a service account: no password, it calls the API with its own
    /// keys (`key create`). Prints its id.
    Create {
        /// Name: 3–64 of a-z 0-9 . _ - (unique among all users).
        name: String,
        /// Role (repeatable): project_manager, developer, stakeholder, auditor, ml_engineer (not system_admin).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List service accounts.
    List,
    /// Disable a service account and revoke all its keys.
    Disable {
        /// The service account's name.
        name: String,
    },
    /// Issue, list and revoke a service account's API keys.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Issue a key (`apmo_sak_…`); printed once, stored only as a hash.
    Create {
        /// The service account's name.
        name: String,
        /// What the key is for.
        #[arg(long, default_value = "cli")]
        key_name: String,
        /// Days until it expires (1–3650).
        #[arg(long, default_value_t = accounts::DEFAULT_KEY_DAYS)]
        expires_days: i64,
    },
    /// List a service account's keys (never their secrets).
    List {
        /// The service account's name.
        name: String,
    },
    /// Revoke a key.
    Revoke {
        /// The service account's name.
        name: String,
        /// The key's id (from `key list` or `key create`).
        key_id: String,
    },
}

/// Parses `--role` values: known roles, each once.
pub(super) fn parse_roles(flag: &str, raw: &[String]) -> anyhow::Result<Vec<Role>> {
    let mut roles = Vec::new();
    for name in raw.iter().map(|r| r.trim()).filter(|r| !r.is_empty()) {
        let role = Role::parse(name).map_err(|e| anyhow::anyhow!("{flag}: unknown role {name:?}; {}", e.message))?;
        if roles.contains(&role) {
            bail!("{flag}: {name} is listed more than once");
        }
        roles.push(role);
    }
    Ok(roles)
}

async fn find(store: &Store, name: &str) -> anyhow::Result<ServiceAccount> {
    let mut conn = store.read().await?;
    service_accounts::find_by_name(&mut conn, name).await?.with_context(|| format!("no service account {name:?}"))
}

async fn operator(trail: &AuditTrail) -> anyhow::Result<ChangedBy> {
    Ok(ChangedBy { actor: users::operator(trail).await?, request_id: None, session_id: None })
}

pub async fn run(cmd: ServiceAccountCommand, config: &Config) -> anyhow::Result<()> {
    let store = setup::connect_and_migrate(config).await?;
    let result = execute(cmd, config, &store).await;
    store.close().await;
    result
}

async fn execute(cmd: ServiceAccountCommand, config: &Config, store: &Store) -> anyhow::Result<()> {
    let trail = setup::trail(config, store)?;
    match cmd {
        ServiceAccountCommand::Create { name, roles, description } => {
            let name = Username::parse(&name).map_err(|e| anyhow::anyhow!("NAME: {}", e.message))?;
            let description = Note::parse(&description).map_err(|e| anyhow::anyhow!("--description: {}", e.message))?;
            let roles = parse_roles("--role", &roles)?;
            if roles.contains(&Role::SystemAdmin) {
                bail!("--role: {}", autopmo_auth::roles::SERVICE_ADMIN_REFUSED);
            }
            let by = operator(&trail).await?;
            let new = NewServiceAccount { name, description, roles };
            let account =
                accounts::in_own_unit(&trail, async |uow, now| accounts::create(uow, new, &by, now).await).await?;
            writeln!(std::io::stdout(), "{}", account.user.id)?;
            eprintln!("created service account {} ({})", account.user.username, account.user.id);
        }
        ServiceAccountCommand::List => {
            let mut conn = store.read().await?;
            let mut cursor = None;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{:<36}  {:<24}  {:<8}  ROLES", "ID", "NAME", "STATUS")?;
            loop {
                let params =
                    ListParams { limit: 200, cursor, sort: ServiceAccountSort::Name, direction: Direction::Asc };
                let page = service_accounts::list(&mut conn, &params).await?;
                for a in &page.items {
                    let roles = a.user.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",");
                    writeln!(out, "{:<36}  {:<24}  {:<8}  {roles}", a.user.id, a.user.username, a.user.status)?;
                }
                match page.next_cursor.as_deref().and_then(autopmo_store::Cursor::decode) {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        ServiceAccountCommand::Disable { name } => {
            let account = find(store, &name).await?;
            let by = operator(&trail).await?;
            let id = account.user.id;
            let revoked =
                accounts::in_own_unit(&trail, async |uow, now| accounts::disable(uow, id, None, &by, now).await)
                    .await?;
            match revoked {
                Some(n) => eprintln!("disabled service account {}; {n} key(s) revoked", account.user.username),
                None => eprintln!("service account {} was already disabled", account.user.username),
            }
        }
        ServiceAccountCommand::Key(cmd) => key(cmd, store, &trail).await?,
    }
    Ok(())
}

async fn key(cmd: KeyCommand, store: &Store, trail: &AuditTrail) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::Create { name, key_name, expires_days } => {
            if !(1..=MAX_KEY_DAYS).contains(&expires_days) {
                bail!("--expires-days must be from 1 to {MAX_KEY_DAYS}");
            }
            let key_name = DisplayName::parse(&key_name).map_err(|e| anyhow::anyhow!("--key-name: {}", e.message))?;
            let account = find(store, &name).await?;
            let by = operator(trail).await?;
            let id = account.user.id;
            let issued = accounts::in_own_unit(trail, async |uow, now| {
                accounts::create_key(uow, id, &key_name, expires_days, &by, now).await
            })
            .await
            .with_context(|| format!("service account {name:?}"))?;
            writeln!(std::io::stdout(), "{}", issued.secret.expose_secret())?;
            eprintln!(
                "key {} for {}; it expires at {} and is shown only once — store it safely",
                issued.key.id,
                account.user.username,
                issued.key.expires_at.map_or_else(|| "never".to_owned(), |t| t.to_string())
            );
        }
        KeyCommand::List { name } => {
            let account = find(store, &name).await?;
            let mut conn = store.read().await?;
            let keys = tokens::list_for_user(&mut conn, account.user.id).await?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{:<36}  {:<20}  {:<8}  EXPIRES", "ID", "NAME", "STATE")?;
            for k in keys {
                let state = if k.revoked_at.is_some() { "revoked" } else { "active" };
                let expires = k.expires_at.map_or_else(|| "never".to_owned(), |t| t.to_string());
                writeln!(out, "{:<36}  {:<20}  {state:<8}  {expires}", k.id, k.name)?;
            }
        }
        KeyCommand::Revoke { name, key_id } => {
            let key_id: tokens::KeyId = key_id.parse().with_context(|| format!("KEY_ID {key_id:?} is not a key id"))?;
            let account = find(store, &name).await?;
            let by = operator(trail).await?;
            let id = account.user.id;
            accounts::in_own_unit(trail, async |uow, now| accounts::revoke_key(uow, id, key_id, &by, now).await)
                .await
                .with_context(|| format!("key {key_id} of {name:?}"))?;
            eprintln!("revoked key {key_id} of {}", account.user.username);
        }
    }
    Ok(())
}
