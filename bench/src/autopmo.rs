//! AutoPMO under load on one backend.
//!
//! Every scenario gets a freshly started server (logged-in sessions, then a
//! warm-up of sequential GETs that all complete), so that one scenario's
//! ending does not spoil the next. When wrk stops it drops its open
//! connections, cancelling the requests in flight; the runner checks each
//! server's log afterwards for a writer left inside a transaction (the bug
//! the first runs found, fixed in the store and covered by its tests) and
//! reports it if it ever comes back.

use crate::diskprobe::{DiskLatency, DiskProbe};
use crate::http;
use crate::prepare::Dataset;
use crate::scenarios::{
    CONNECTIONS, Ctx, FLOOD_CONNECTIONS, LOGIN_CONNECTIONS, PROBE_CONNECTIONS, REFRESH_CONNECTIONS, Sessions,
    common_files, last_json, login, sessions, write,
};
use crate::seed::Manifest;
use crate::server::{Server, free_addr, pinned};
use crate::wrk::{self, WrkResult};
use anyhow::{Context, anyhow};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// What the log says when the writer was left inside a transaction.
pub const WEDGED: &str = "cannot start a transaction within a transaction";

/// One repetition against AutoPMO on one backend.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AutopmoRun {
    /// Audited GET of a project.
    pub get: WrkResult,
    /// Audited POST of a task.
    pub post: WrkResult,
    /// Project list, 50 a page.
    pub list: WrkResult,
    /// Audit queries.
    pub audit: WrkResult,
    /// Logins.
    pub login: WrkResult,
    /// GETs at low concurrency, alone.
    pub get_idle: WrkResult,
    /// The same GETs during a login flood.
    pub get_flood: WrkResult,
    /// The login flood itself.
    pub flood: WrkResult,
    /// The disk's own `fsync` latency while the GETs ran alone.
    #[serde(default)]
    pub disk_idle: DiskLatency,
    /// … and during the login flood.
    #[serde(default)]
    pub disk_flood: DiskLatency,
    /// Refresh with rotation.
    pub refresh: WrkResult,
    /// Audit events appended per second (in-process, no server).
    pub append_per_s: f64,
    /// RSS after start, KiB.
    pub rss_idle_kib: u64,
    /// Highest RSS under load, KiB.
    pub rss_load_kib: u64,
    /// The scenario the highest RSS was seen in.
    pub rss_peak_in: String,
    /// Scenarios after which the writer was stuck in a transaction, with the number of refusals logged.
    pub wedged: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Get,
    Post,
    List,
    Audit,
    Login,
    Alone,
    Flood,
    Refresh,
}

/// The names `--only` takes: the scenarios, then the in-process append rate.
pub fn scenario_keys() -> Vec<&'static str> {
    Scenario::ALL.iter().map(|s| s.key()).chain(["append"]).collect()
}

impl Scenario {
    const ALL: [Self; 8] =
        [Self::Get, Self::Post, Self::List, Self::Audit, Self::Login, Self::Alone, Self::Flood, Self::Refresh];

    fn key(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Post => "post",
            Self::List => "list",
            Self::Audit => "audit",
            Self::Login => "login",
            Self::Alone => "alone",
            Self::Flood => "flood",
            Self::Refresh => "refresh",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Get => "GET project",
            Self::Post => "POST task",
            Self::List => "project list",
            Self::Audit => "audit query",
            Self::Login => "login",
            Self::Alone => "GET alone",
            Self::Flood => "GET during login flood",
            Self::Refresh => "refresh",
        }
    }
}

/// The server's log level: `warn` (no line per request), or what
/// `AUTOPMO_BENCH_LOG_LEVEL` says, e.g. `info` to measure with the
/// per-request access log that a default install writes.
fn log_level() -> String {
    std::env::var("AUTOPMO_BENCH_LOG_LEVEL").unwrap_or_else(|_| "warn".to_owned())
}

async fn start(ctx: &Ctx, name: &str, data: &Dataset) -> anyhow::Result<Server> {
    let addr = free_addr()?;
    let mut cmd = pinned(ctx.server_core.as_deref(), &ctx.autopmo);
    cmd.arg("serve")
        .env("AUTOPMO_DATA_DIR", &data.data_dir)
        .env("AUTOPMO_DATABASE_URL", &data.url)
        .env("AUTOPMO_LISTEN", addr.to_string())
        .env("AUTOPMO_LOG__LEVEL", log_level())
        // The server refuses configuration keys it does not know.
        .env_remove("AUTOPMO_BENCH_LOG_LEVEL")
        .env_remove("AUTOPMO_BENCH_POSTGRES_URL");
    Server::start(cmd, addr, ctx.scratch.join(format!("autopmo-{name}.log")), "/readyz").await
}

/// All scenarios on `name` (`sqlite` or `postgres`), then the append rate.
pub async fn run(ctx: &Ctx, name: &str, data: &Dataset) -> anyhow::Result<AutopmoRun> {
    let mut run = AutopmoRun::default();
    for (i, scenario) in Scenario::ALL.into_iter().filter(|s| ctx.wants(s.key())).enumerate() {
        let server =
            start(ctx, name, data).await.with_context(|| format!("starting AutoPMO for {}", scenario.name()))?;
        if i == 0 {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            run.rss_idle_kib = server.rss_kib().unwrap_or(0);
        }
        eprintln!("  {name}: {}", scenario.name());
        let rss = server.sample_rss();
        let result = one(ctx, name, data, &server, scenario, &mut run).await;
        let peak = rss.finish();
        if peak > run.rss_load_kib {
            run.rss_load_kib = peak;
            run.rss_peak_in = scenario.name().to_owned();
        }
        let log = server.log.clone();
        server.stop().await?;
        let refusals = std::fs::read_to_string(&log).unwrap_or_default().matches(WEDGED).count();
        if refusals > 0 {
            eprintln!("  note: the writer was left inside a transaction ({refusals} refusals logged)");
            run.wedged.push(format!("{} ({refusals} refusals)", scenario.name()));
        }
        result.with_context(|| format!("AutoPMO on {name}, {}", scenario.name()))?;
    }
    if !ctx.wants("append") {
        return Ok(run);
    }
    eprintln!("  {name}: audit append (in-process, 64 concurrent request events)");
    let output = pinned(ctx.server_core.as_deref(), &ctx.exe)
        .arg("append")
        .arg("--url")
        .arg(&data.url)
        .arg("--data-dir")
        .arg(&data.data_dir)
        .arg("--seconds")
        .arg(ctx.seconds.to_string())
        .output()
        .await?;
    let append: crate::append::AppendResult = last_json(&output).context("audit append")?;
    run.append_per_s = append.per_s;
    Ok(run)
}

/// Sequential GETs (each answered before the next is sent): warm caches
/// without cancelling anything.
async fn warm_up(addr: SocketAddr, m: &Manifest, s: &Sessions) -> anyhow::Result<()> {
    for i in 0..200 {
        let Some((token, pm)) = s.access.get(i % s.access.len().max(1)) else { break };
        let projects = m.pms.get(*pm).map(|p| p.projects.as_slice()).unwrap_or_default();
        let Some(project) = projects.get(i % projects.len().max(1)) else { continue };
        let r = http::request(addr, "GET", &format!("/api/v1/projects/{project}"), Some(token), None).await?;
        if r.status != 200 {
            return Err(anyhow!("warm-up GET answered {}: {}", r.status, r.body));
        }
    }
    Ok(())
}

async fn one(
    ctx: &Ctx,
    name: &str,
    data: &Dataset,
    server: &Server,
    scenario: Scenario,
    run: &mut AutopmoRun,
) -> anyhow::Result<()> {
    let m = &data.manifest;
    let url = format!("http://{}", server.addr);
    let dir = ctx.scratch.join(name);
    let s = sessions(server.addr, m, ctx.sessions).await?;
    let [get, post, logins, refresh] = common_files(&dir, m, &s)?;
    warm_up(server.addr, m, &s).await?;
    match scenario {
        Scenario::Get => run.get = ctx.wrk(&url, get, CONNECTIONS).await?,
        Scenario::Post => run.post = ctx.wrk(&url, post, CONNECTIONS).await?,
        Scenario::List => {
            let mut list = String::new();
            for (token, _) in &s.access {
                writeln!(list, "GET\t/api/v1/projects?limit=50\t{token}\t")?;
            }
            run.list = ctx.wrk(&url, write(&dir.join("list.tsv"), &list)?, CONNECTIONS).await?;
        }
        Scenario::Audit => run.audit = ctx.wrk(&url, audit_file(&dir, server.addr, m).await?, CONNECTIONS).await?,
        Scenario::Login => run.login = ctx.wrk(&url, logins, LOGIN_CONNECTIONS).await?,
        Scenario::Alone => {
            let disk = DiskProbe::start(&data.data_dir)?;
            run.get_idle = ctx.wrk(&url, get, PROBE_CONNECTIONS).await?;
            run.disk_idle = disk.finish();
        }
        Scenario::Flood => {
            let disk = DiskProbe::start(&data.data_dir)?;
            let (probe, flood) =
                tokio::join!(ctx.wrk(&url, get, PROBE_CONNECTIONS), ctx.wrk(&url, logins, FLOOD_CONNECTIONS));
            run.disk_flood = disk.finish();
            run.get_flood = probe?;
            run.flood = flood?;
        }
        Scenario::Refresh => {
            let connections = REFRESH_CONNECTIONS.min((s.refresh.len() / 2).max(1) as u32);
            let load = ctx.load(&url, &ctx.refresh_lua, refresh, connections);
            run.refresh = wrk::run(ctx.load_core.as_deref(), &load).await?;
        }
    }
    Ok(())
}

/// Audit queries as an auditor: newest page, by actor, by resource, by
/// category, by event type, and a one-day window.
async fn audit_file(dir: &Path, addr: SocketAddr, m: &Manifest) -> anyhow::Result<PathBuf> {
    use time::format_description::well_known::Rfc3339;
    let mut text = String::new();
    let first = time::OffsetDateTime::parse(&m.first_event_at, &Rfc3339)?;
    let from = (first + time::Duration::days(7)).format(&Rfc3339)?;
    let to = (first + time::Duration::days(8)).format(&Rfc3339)?;
    for auditor in m.auditors.iter().take(4) {
        let (token, _) = login(addr, auditor, &m.password).await?;
        let base = "GET\t/api/v1/audit/events?limit=50";
        writeln!(text, "{base}\t{token}\t")?;
        for user in m.sample_user_ids.iter().take(20) {
            writeln!(text, "{base}&actor={user}\t{token}\t")?;
        }
        for project in m.sample_project_ids.iter().take(20) {
            writeln!(text, "{base}&resource_type=project&resource_id={project}\t{token}\t")?;
        }
        writeln!(text, "{base}&category=authentication\t{token}\t")?;
        writeln!(text, "{base}&event_type=auth.login_failed\t{token}\t")?;
        writeln!(text, "{base}&from={from}&to={to}\t{token}\t")?;
    }
    write(&dir.join("audit.tsv"), &text)
}
