//! `autopmo user …` and `autopmo token …`.

use super::setup;
use anyhow::{Context, bail};
use autopmo_auth::accounts::{Accounts, NewUser};
use autopmo_config::Config;
use autopmo_domain::{Clock, DisplayName, Email, Role, SystemClock, UserStatus, Username};
use autopmo_store::{Direction, ListParams, users};
use clap::Subcommand;
use secrecy::{ExposeSecret, SecretString};
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
        /// Read the initial password from standard input (one line); it must
        /// meet the password policy.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List user accounts.
    List,
    /// Invite someone: prints a single-use invitation token (shown once)
    /// that `POST /api/v1/auth/invites/accept` turns into an account.
    Invite {
        /// The invited email address (the account's email).
        #[arg(long)]
        email: String,
        /// Role (repeatable).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Hours until the invitation expires (default 72).
        #[arg(long, default_value_t = 72)]
        expires_hours: i64,
    },
    /// Disable an account and end its sessions.
    Disable {
        /// Login name or email.
        #[arg(long)]
        user: String,
    },
    /// Clear a brute-force lockout.
    Unlock {
        /// Login name or email.
        #[arg(long)]
        user: String,
    },
    /// Set a one-time password (printed once) that must be changed at next
    /// login, and end the user's sessions; or, with --password-stdin, set the
    /// given password.
    ResetPassword {
        /// Login name or email.
        #[arg(long)]
        user: String,
        /// Read the new password from standard input instead.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Replace a user's roles with a complete new set (a person or a service
    /// account). Ends the user's sessions; recorded as user.roles_changed
    /// with the old and new roles.
    Roles {
        /// Login name (or a service account's name).
        username: String,
        /// The complete new set, comma-separated (e.g. developer,stakeholder);
        /// an empty value takes every role away.
        #[arg(long, value_name = "ROLES")]
        set: String,
    },
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
        UserCommand::Create { username, email, display_name, roles, password_stdin } => {
            let username = field("username", Username::parse(&username))?;
            let email = field("email", Email::parse(&email))?;
            let display_name =
                field("display-name", DisplayName::parse(display_name.as_deref().unwrap_or(username.as_str())))?;
            let roles = roles.iter().map(|r| field("role", Role::parse(r))).collect::<anyhow::Result<Vec<_>>>()?;
            let password = if password_stdin { Some(read_password()?) } else { None };
            let (accounts, operator) = accounts(config, &store).await?;
            let new = NewUser { username, email, display_name, roles, password, must_change_password: false };
            let user = accounts.create(new, &operator).await?;
            writeln!(std::io::stdout(), "{}", user.id)?;
            eprintln!("created user {} ({})", user.username, user.id);
            Ok(())
        }
        UserCommand::Invite { email, roles, expires_hours } => {
            if !(1..=720).contains(&expires_hours) {
                bail!("--expires-hours must be from 1 to 720");
            }
            let email = field("email", Email::parse(&email))?;
            let roles = roles.iter().map(|r| field("role", Role::parse(r))).collect::<anyhow::Result<Vec<_>>>()?;
            let (accounts, operator) = accounts(config, &store).await?;
            let invitation =
                accounts.invite(&email, roles, time::Duration::hours(expires_hours), None, &operator).await?;
            writeln!(std::io::stdout(), "{}", invitation.token.expose_secret())?;
            eprintln!(
                "invitation for {email} printed above (shown once); it expires at {} and can be used once",
                invitation.expires_at
            );
            Ok(())
        }
        UserCommand::Disable { user } => {
            let (accounts, operator) = accounts(config, &store).await?;
            let found = accounts.find(&user).await.with_context(|| format!("user {user:?}"))?;
            let ended = accounts.disable(&found, &operator).await?;
            eprintln!("disabled {}; {ended} session(s) ended", found.username);
            Ok(())
        }
        UserCommand::Unlock { user } => {
            let (accounts, operator) = accounts(config, &store).await?;
            let found = accounts.find(&user).await.with_context(|| format!("user {user:?}"))?;
            accounts.unlock(&found, &operator).await?;
            eprintln!("unlocked {}", found.username);
            Ok(())
        }
        UserCommand::ResetPassword { user, password_stdin } => {
            let (accounts, operator) = accounts(config, &store).await?;
            let found = accounts.find(&user).await.with_context(|| format!("user {user:?}"))?;
            if password_stdin {
                let password = read_password()?;
                let ended = accounts.set_password(&found, &password, false, &operator).await?;
                eprintln!("password of {} changed; {ended} session(s) ended", found.username);
            } else {
                let password = autopmo_auth::accounts::one_time_password()?;
                let ended = accounts.set_password(&found, &password, true, &operator).await?;
                writeln!(std::io::stdout(), "{}", password.expose_secret())?;
                eprintln!(
                    "one-time password of {} printed above (shown once; it must be changed at next login); {ended} session(s) ended",
                    found.username
                );
            }
            Ok(())
        }
        UserCommand::Roles { username, set } => {
            let raw: Vec<String> = set.split(',').map(str::to_owned).collect();
            let roles = super::service_account_cmd::parse_roles("--set", &raw)?;
            let trail = setup::trail(config, &store)?;
            let mut conn = store.read().await?;
            let found = users::find_by_username(&mut conn, &username).await?;
            drop(conn);
            let (found, _) = found.with_context(|| format!("no user {username:?}"))?;
            let by = autopmo_auth::roles::ChangedBy { actor: operator(&trail).await?, ..Default::default() };
            let change = autopmo_auth::roles::change_now(&trail, found.id, roles, &by).await.map_err(|e| match e {
                autopmo_auth::AuthError::Invalid(message) => anyhow::anyhow!("--set: {message}"),
                other => other.into(),
            })?;
            let names = |r: &[Role]| r.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(",");
            if change.changed() {
                eprintln!(
                    "roles of {}: [{}] -> [{}]; {} session(s) ended",
                    found.username,
                    names(&change.old),
                    names(&change.new),
                    change.sessions_ended
                );
            } else {
                eprintln!("roles of {} unchanged: [{}]", found.username, names(&change.new));
            }
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

/// One line of standard input, without its line end.
fn read_password() -> anyhow::Result<SecretString> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("--password-stdin: standard input held no password");
    }
    Ok(SecretString::from(password))
}

/// The account service and the operator as audit actor.
async fn accounts(config: &Config, store: &autopmo_store::Store) -> anyhow::Result<(Accounts, autopmo_audit::Actor)> {
    let trail = setup::trail(config, store)?;
    let operator = operator(&trail).await?;
    let (hasher, policy) = setup::passwords(config)?;
    Ok((Accounts::new(trail, hasher, policy), operator))
}

/// The person at the command line, as an audit actor: the operating-system
/// account, sealed like any personal data.
pub(super) async fn operator(trail: &autopmo_trail::AuditTrail) -> anyhow::Result<autopmo_audit::Actor> {
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
    let Some(found) = users::find_by_login(uow.conn(), &user).await? else {
        if autopmo_store::service_accounts::find_by_name(uow.conn(), &user).await?.is_some() {
            bail!("{user} is a service account: issue it a key with `autopmo service-account key create {user}`");
        }
        bail!("no user {user:?}");
    };
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
