//! Running the real `autopmo` binary as a child process.

use autopmo_domain::{Clock, DisplayName, Email, Role, SystemClock, User, UserId, UserStatus, Username};
use autopmo_store::{Store, StoreOptions, migrate, tokens, users};
use autopmo_test_support::TestDb;
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_autopmo")
}

/// A command for the binary with a clean AutoPMO environment: data in
/// `data_dir`, the database of `db`, logs at warn.
pub fn command(db: &TestDb, data_dir: &Path) -> Command {
    let mut cmd = Command::new(binary());
    for (key, _) in std::env::vars() {
        if key.starts_with("AUTOPMO_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("AUTOPMO_DATA_DIR", data_dir)
        .env("AUTOPMO_DATABASE_URL", &db.url)
        .env("AUTOPMO_LISTEN", "127.0.0.1:0")
        .env("AUTOPMO_LOG__LEVEL", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// A running server and its address.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// What it wrote to stderr until it listened.
    pub startup: Vec<String>,
}

/// Starts `autopmo serve` and waits until it listens.
pub async fn start(db: &TestDb, data_dir: &Path) -> Server {
    start_with(command(db, data_dir)).await
}

/// Starts `cmd serve` and waits until it listens.
pub async fn start_with(mut cmd: Command) -> Server {
    let mut child = cmd.arg("serve").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut startup = Vec::new();
    let base = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            // A log that is not a terminal gets no colour codes.
            assert!(!line.contains('\u{1b}'), "escape codes in the log: {line:?}");
            if let Some(rest) = line.strip_prefix("AutoPMO listening on ") {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
            startup.push(line);
        }
        panic!("the server exited before listening");
    })
    .await
    .expect("server did not start within 30 s");
    // Keep draining stderr so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Server { child, base, startup }
}

/// Migrates `db` and creates a user with a token; returns the bearer secret.
pub async fn seed_user(db: &TestDb) -> (Store, UserId, String) {
    seed_user_as(db, "crash-tester", &[Role::ProjectManager]).await
}

/// Migrates `db` and creates `name` with `roles` and a token.
pub async fn seed_user_as(db: &TestDb, name: &str, roles: &[Role]) -> (Store, UserId, String) {
    let store = Store::connect(&StoreOptions::new(db.url.clone())).await.unwrap();
    migrate::migrate(&store, SystemClock.now()).await.unwrap();
    let now = SystemClock.now();
    let user = User {
        id: UserId::new(),
        username: Username::parse(name).unwrap(),
        email: Email::parse(&format!("{name}@example.org")).unwrap(),
        display_name: DisplayName::parse(name).unwrap(),
        status: UserStatus::Active,
        roles: roles.to_vec(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let mut uow = store.begin().await.unwrap();
    users::insert(uow.conn(), &user).await.unwrap();
    let mut random = [0u8; 32];
    random[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    random[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let token = tokens::issue(uow.conn(), user.id, "test", random, now, None).await.unwrap();
    uow.commit().await.unwrap();
    (store, user.id, token.secret)
}
