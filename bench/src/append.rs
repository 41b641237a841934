//! `autopmo-bench append`: the audit append rate of the product's own code
//! path — many concurrent callers, each recording one request event (actor
//! sealed as the server seals it) and waiting until it is durable, as the
//! server does after every request — on a seeded database while no server
//! runs.

use anyhow::{Context, anyhow};
use autopmo_audit::{AuditRecord, Category, Outcome};
use autopmo_domain::{Clock, SystemClock, UserId};
use autopmo_store::{Direction, ListParams, Store, StoreOptions, users};
use autopmo_trail::{ActorInfo, AuditTrail};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Arguments of `autopmo-bench append`.
#[derive(Debug, clap::Args)]
pub struct AppendArgs {
    /// The seeded database.
    #[arg(long)]
    pub url: String,
    /// Its data directory (keyring).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Seconds to run.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Concurrent writers (requests in flight).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
}

/// What `append` measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AppendResult {
    /// Events appended and committed.
    pub events: u64,
    /// Events per second.
    pub per_s: f64,
}

/// Runs `autopmo-bench append` and prints its result.
pub async fn run(args: AppendArgs) -> anyhow::Result<()> {
    let config = autopmo_config::Config::default();
    let mut options = StoreOptions::new(args.url.clone());
    options.sqlite_synchronous_full = config.database.sqlite_synchronous == autopmo_config::SqliteSynchronous::Full;
    options.max_connections = config.database.max_connections;
    let store = Store::connect(&options).await.context("connecting for the append test")?;
    let keyring = autopmo_crypto::Keyring::open_or_create(&args.data_dir.join("keys"))?;
    let trail = AuditTrail::new(store.clone(), Arc::new(keyring), Arc::new(SystemClock));
    let mut conn = store.read().await?;
    let params = ListParams { limit: 200, cursor: None, sort: users::UserSort::CreatedAt, direction: Direction::Asc };
    let people: Vec<(UserId, String)> =
        users::list(&mut conn, &params).await?.items.into_iter().map(|u| (u.id, u.username.to_string())).collect();
    drop(conn);
    if people.is_empty() {
        return Err(anyhow!("the database has no users: seed it first"));
    }
    let people = Arc::new(people);
    let count = Arc::new(AtomicU64::new(0));
    let budget = Duration::from_secs_f64(args.seconds);
    let start = Instant::now();
    let mut workers = Vec::new();
    for w in 0..args.concurrency {
        let (trail, people, count) = (trail.clone(), Arc::clone(&people), Arc::clone(&count));
        workers.push(tokio::spawn(async move {
            let mut i = w;
            while start.elapsed() < budget {
                i += args.concurrency;
                let Some((id, name)) = people.get(i % people.len()) else { break };
                let info = ActorInfo {
                    user_id: Some(*id),
                    username: Some(name.clone()),
                    ip_address: Some(format!("10.1.{}.{}", i / 256 % 256, i % 256)),
                    user_agent: Some("autopmo-bench/append".to_owned()),
                };
                let record = event(trail.actor(&info).await?, i);
                trail.record(record).await?;
                count.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for worker in workers {
        worker.await??;
    }
    let events = count.load(Ordering::Relaxed);
    let result = AppendResult { events, per_s: events as f64 / start.elapsed().as_secs_f64() };
    store.close().await;
    writeln!(std::io::stdout(), "{}", serde_json::to_string(&result)?)?;
    Ok(())
}

fn event(actor: autopmo_audit::Actor, i: usize) -> AuditRecord {
    let now = SystemClock.now();
    let now = now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000).unwrap_or(now);
    let path = format!("/api/v1/projects/0190b6f0-0000-7000-8000-{i:012}");
    let mut record = AuditRecord::new(
        "http.request",
        Category::DataAccess,
        "GET /api/v1/projects/{project_id}",
        Outcome::Success,
        now,
    )
    .with_metadata(&serde_json::json!({
        "method": "GET", "path": path, "route": "/api/v1/projects/{project_id}", "http_status": 200,
    }))
    .with_resource("project", Some(format!("0190b6f0-0000-7000-8000-{i:012}")), None);
    record.actor = actor;
    record.request_id = Some(uuid::Uuid::new_v4().simple().to_string());
    record.session_id = Some(uuid::Uuid::new_v4().to_string());
    record.decision_id = Some(uuid::Uuid::new_v4().to_string());
    record
}
