//! `autopmo user …` and `autopmo token …`.

use super::setup;
use anyhow::{Context, bail};
use autopmo_config::Config;
use autopmo_domain::{Clock, DisplayName, Email, Role, SystemClock, User, UserId, UserStatus, Username};
use autopmo_store::{Direction, ListParams, users};
use clap::Subcommand;
use std::io::Write;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user account.
    Create {
        /// Login name: 3–64 of a-z 0-9 . _ -
        #[arg(long)]
        username: String,
        /// Email address (unique, case-insensitive).
        #[arg(long)]
        email: String,
        /// Name shown to people (defaults to the username).
        #[arg(long)]
        display_name: Option<String>,
        /// Role (repeatable): system_admin, project_manager, developer, stakeholder, auditor, ml_engineer.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// List user accounts.
    List,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a personal API token for a user; printed once, stored only as a hash.
    Create {
        /// The user's login name or email.
        #[arg(long)]
        user: String,
        /// What the token is for.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Days until it expires (default 90; 0 = never).
        #[arg(long, default_value_t = 90)]
        expires_days: i64,
    },
}

fn field<T>(what: &str, r: Result<T, autopmo_domain::FieldError>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::anyhow!("--{what}: {}", e.message))
}

pub async fn run_user(cmd: UserCommand, config: &Config) -> anyhow::Result<()> {
    let store = setup::connect_and_migrate(config).await?;
    let result = match cmd {
        UserCommand::Create { username, email, display_name, roles } => {
            let username = field("username", Username::parse(&username))?;
            let email = field("email", Email::parse(&email))?;
            let display_name =
                field("display-name", DisplayName::parse(display_name.as_deref().unwrap_or(username.as_str())))?;
            let mut parsed = roles.iter().map(|r| field("role", Role::parse(r))).collect::<anyhow::Result<Vec<_>>>()?;
            parsed.sort();
            parsed.dedup();
            let now = SystemClock.now();
            let user = User {
                id: UserId::new(),
                username,
                email,
                display_name,
                status: UserStatus::Active,
                roles: parsed,
                created_at: now,
                updated_at: now,
                version: 1,
            };
            let trail = setup::trail(config, &store)?;
            let operator = operator(&trail).await?;
            let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
            let mut created = autopmo_audit::AuditRecord::new(
                "user.created",
                autopmo_audit::Category::Administrative,
                "create",
                autopmo_audit::Outcome::Success,
                trail.now(),
            )
            .with_resource("user", Some(user.id.to_string()), None)
            .with_metadata(&serde_json::json!({"roles": roles, "via": "cli"}));
            created.actor = operator.clone();
            let mut uow = store.begin().await?;
            match users::insert(uow.conn(), &user).await {
                Ok(()) => {}
                Err(autopmo_store::StoreError::Duplicate(what)) => {
                    bail!("a user with that {what} already exists")
                }
                Err(e) => return Err(e.into()),
            }
            uow.append_audit(&mut created).await?;
            if user.roles.contains(&Role::SystemAdmin) {
                let mut alert = autopmo_trail::monitor::alert(
                    "privileged_role_granted",
                    "high",
                    &format!("the system_admin role was granted to new user {}", user.id),
                    trail.now(),
                    operator,
                );
                uow.append_audit(&mut alert).await?;
            }
            uow.commit().await?;
            writeln!(std::io::stdout(), "{}", user.id)?;
            eprintln!("created user {} ({})", user.username, user.id);
            Ok(())
        }
        UserCommand::List => {
            let mut conn = store.read().await?;
            let mut cursor = None;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{:<36}  {:<24}  {:<8}  ROLES", "ID", "USERNAME", "STATUS")?;
            loop {
                let params =
                    ListParams { limit: 200, cursor, sort: users::UserSort::Username, direction: Direction::Asc };
                let page = users::list(&mut conn, &params).await?;
                for u in &page.items {
                    let roles = u.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",");
                    writeln!(out, "{:<36}  {:<24}  {:<8}  {roles}", u.id, u.username, u.status)?;
                }
                match page.next_cursor.as_deref().and_then(autopmo_store::Cursor::decode) {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            Ok(())
        }
    };
    store.close().await;
    result
}

/// The person at the command line, as an audit actor: the operating-system
/// account, sealed like any personal data.
async fn operator(trail: &autopmo_trail::AuditTrail) -> anyhow::Result<autopmo_audit::Actor> {
    let account = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".to_owned());
    let info = autopmo_trail::ActorInfo { username: Some(format!("cli:{account}")), ..Default::default() };
    Ok(trail.actor(&info).await?)
}

pub async fn run_token(cmd: TokenCommand, config: &Config) -> anyhow::Result<()> {
    let store = setup::connect_and_migrate(config).await?;
    let TokenCommand::Create { user, name, expires_days } = cmd;
    if !(0..=3650).contains(&expires_days) {
        bail!("--expires-days must be from 0 to 3650");
    }
    let mut uow = store.begin().await?;
    let found = users::find_by_login(uow.conn(), &user).await?.with_context(|| format!("no user {user:?}"))?;
    if found.status != UserStatus::Active {
        bail!("user {} is {}; only active users can get tokens", found.username, found.status);
    }
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no secure randomness: {e}"))?;
    let now = SystemClock.now();
    let expires = (expires_days > 0).then(|| now + time::Duration::days(expires_days));
    let issued = autopmo_store::tokens::issue(uow.conn(), found.id, &name, random, now, expires).await?;
    uow.commit().await?;
    store.close().await;
    writeln!(std::io::stdout(), "{}", issued.secret)?;
    eprintln!("token {} for {}; it is shown only once — store it safely", issued.id, found.username);
    Ok(())
}
