//! The scenarios: what is sent to AutoPMO, the peer and the hello-world, and
//! in which order, for one repetition.

use crate::http;
use crate::micro::MicroResult;
use crate::prepare::Dataset;
use crate::seed::Manifest;
use crate::server::{Server, free_addr, pinned};
use crate::wrk::{self, Load, WrkResult};
use anyhow::{Context, anyhow};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Connections of the throughput scenarios.
pub(crate) const CONNECTIONS: u32 = 64;
/// Connections of the login scenario (below the hashing queue's limit).
pub(crate) const LOGIN_CONNECTIONS: u32 = 8;
/// Connections of the GETs measured for their latency, alone and during a login flood.
pub(crate) const PROBE_CONNECTIONS: u32 = 4;
/// Connections of the login flood.
pub(crate) const FLOOD_CONNECTIONS: u32 = 32;
/// Connections of the refresh scenario (at most half the sessions, so that the token pool never runs dry).
pub(crate) const REFRESH_CONNECTIONS: u32 = 32;

/// What every scenario needs.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// `taskset` core list of the servers (and of `micro`/`append`).
    pub server_core: Option<String>,
    /// `taskset` core list of wrk.
    pub load_core: Option<String>,
    /// Seconds per wrk run.
    pub seconds: u64,
    /// Sessions logged in before a load (project managers, round robin).
    pub sessions: usize,
    /// This program.
    pub exe: PathBuf,
    /// The release `autopmo` binary.
    pub autopmo: PathBuf,
    /// The peer's Python (in its virtual environment).
    pub python: Option<PathBuf>,
    /// `bench/peer`.
    pub peer_dir: PathBuf,
    /// `lines.lua`.
    pub lines_lua: PathBuf,
    /// `refresh.lua`.
    pub refresh_lua: PathBuf,
    /// Scratch space of this run.
    pub scratch: PathBuf,
    /// The AutoPMO scenarios to run (`--only`); empty: all.
    pub only: Vec<String>,
}

impl Ctx {
    /// Whether the scenario named `key` is to run.
    pub fn wants(&self, key: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == key)
    }
}

/// One repetition against the peer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PeerRun {
    /// GET of a project with a role check.
    pub get: WrkResult,
    /// POST of a task with its audit row.
    pub post: WrkResult,
    /// Logins.
    pub login: WrkResult,
    /// Refresh with rotation.
    pub refresh: WrkResult,
    /// RSS after start, KiB.
    pub rss_idle_kib: u64,
    /// Highest RSS under load, KiB.
    pub rss_load_kib: u64,
}

impl Ctx {
    pub(crate) fn load<'a>(&'a self, url: &str, script: &'a Path, data: PathBuf, connections: u32) -> Load<'a> {
        Load { url: url.to_owned(), script, data, connections, seconds: self.seconds }
    }

    pub(crate) async fn wrk(&self, url: &str, data: PathBuf, connections: u32) -> anyhow::Result<WrkResult> {
        wrk::run(self.load_core.as_deref(), &self.load(url, &self.lines_lua, data, connections)).await
    }
}

/// Logged-in sessions: (access token, index of the PM) and refresh tokens.
pub(crate) struct Sessions {
    pub(crate) access: Vec<(String, usize)>,
    pub(crate) refresh: Vec<String>,
}

pub(crate) async fn login(addr: SocketAddr, username: &str, password: &str) -> anyhow::Result<(String, String)> {
    let body = serde_json::json!({"username": username, "password": password}).to_string();
    let r = http::request(addr, "POST", "/api/v1/auth/login", None, Some(&body)).await?;
    match (r.status, r.json_str("access_token"), r.json_str("refresh_token")) {
        (200, Some(access), Some(refresh)) => Ok((access, refresh)),
        _ => Err(anyhow!("login of {username} answered {}: {}", r.status, r.body)),
    }
}

pub(crate) async fn sessions(addr: SocketAddr, manifest: &Manifest, n: usize) -> anyhow::Result<Sessions> {
    let mut s = Sessions { access: Vec::new(), refresh: Vec::new() };
    for i in 0..n {
        let pm_index = i % manifest.pms.len().max(1);
        let pm = manifest.pms.get(pm_index).ok_or_else(|| anyhow!("the data set has no project managers"))?;
        let (access, refresh) = login(addr, &pm.username, &manifest.password).await?;
        s.access.push((access, pm_index));
        s.refresh.push(refresh);
    }
    Ok(s)
}

pub(crate) fn write(path: &Path, text: &str) -> anyhow::Result<PathBuf> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path.to_owned())
}

/// The data files of the scenarios both AutoPMO and the peer serve.
pub(crate) fn common_files(dir: &Path, m: &Manifest, s: &Sessions) -> anyhow::Result<[PathBuf; 4]> {
    std::fs::create_dir_all(dir)?;
    let (mut get, mut post, mut logins) = (String::new(), String::new(), String::new());
    let body = r#"{"title":"Bench task","description":"Written under load by autopmo-bench"}"#;
    for (token, pm) in &s.access {
        let projects = m.pms.get(*pm).map(|p| p.projects.as_slice()).unwrap_or_default();
        for (k, project) in projects.iter().enumerate() {
            writeln!(get, "GET\t/api/v1/projects/{project}\t{token}\t")?;
            if k % 5 == 0 {
                writeln!(post, "POST\t/api/v1/projects/{project}/tasks\t{token}\t{body}")?;
            }
        }
    }
    for username in m.logins.iter().take(500) {
        let body = serde_json::json!({"username": username, "password": m.password});
        writeln!(logins, "POST\t/api/v1/auth/login\t-\t{body}")?;
    }
    Ok([
        write(&dir.join("get.tsv"), &get)?,
        write(&dir.join("post.tsv"), &post)?,
        write(&dir.join("login.tsv"), &logins)?,
        write(&dir.join("refresh.txt"), &(s.refresh.join("\n") + "\n"))?,
    ])
}

/// The peer (FastAPI + uvicorn, one worker) on the same core.
pub async fn peer(ctx: &Ctx, data: &Dataset) -> anyhow::Result<PeerRun> {
    let python = ctx.python.as_ref().ok_or_else(|| anyhow!("no Python for the peer"))?;
    let addr = free_addr()?;
    let mut cmd = pinned(ctx.server_core.as_deref(), python);
    cmd.args(["-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--log-level", "warning", "--no-access-log"])
        .arg("--port")
        .arg(addr.port().to_string())
        .current_dir(&ctx.peer_dir)
        .env("PEER_DB", &data.url);
    let server = Server::start(cmd, addr, ctx.scratch.join("peer.log"), "/healthz").await?;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let mut run = PeerRun { rss_idle_kib: server.rss_kib().unwrap_or(0), ..PeerRun::default() };
    let rss = server.sample_rss();
    let result = async {
        let url = format!("http://{addr}");
        eprintln!("  peer: logging in {} sessions", ctx.sessions);
        let s = sessions(addr, &data.manifest, ctx.sessions).await?;
        let [get, post, logins, refresh] = common_files(&ctx.scratch.join("peer"), &data.manifest, &s)?;
        let warm = Load { seconds: 2, ..ctx.load(&url, &ctx.lines_lua, get.clone(), CONNECTIONS) };
        wrk::run(ctx.load_core.as_deref(), &warm).await?;
        eprintln!("  peer: GET, POST, login, refresh");
        run.get = ctx.wrk(&url, get, CONNECTIONS).await?;
        run.post = ctx.wrk(&url, post, CONNECTIONS).await?;
        run.login = ctx.wrk(&url, logins, LOGIN_CONNECTIONS).await?;
        let connections = REFRESH_CONNECTIONS.min((s.refresh.len() / 2).max(1) as u32);
        let load = ctx.load(&url, &ctx.refresh_lua, refresh, connections);
        run.refresh = wrk::run(ctx.load_core.as_deref(), &load).await?;
        Ok::<(), anyhow::Error>(())
    }
    .await;
    run.rss_load_kib = rss.finish();
    server.stop().await?;
    result?;
    Ok(run)
}

/// The bare axum hello-world on the server core.
pub async fn hello(ctx: &Ctx) -> anyhow::Result<WrkResult> {
    let addr = free_addr()?;
    let mut cmd = pinned(ctx.server_core.as_deref(), &ctx.exe);
    cmd.arg("hello").arg("--listen").arg(addr.to_string());
    let server = Server::start(cmd, addr, ctx.scratch.join("hello.log"), "/").await?;
    let data = write(&ctx.scratch.join("hello.tsv"), "GET\t/\t-\t\n")?;
    let url = format!("http://{addr}");
    let result = async {
        let warm = Load { seconds: 1, ..ctx.load(&url, &ctx.lines_lua, data.clone(), CONNECTIONS) };
        wrk::run(ctx.load_core.as_deref(), &warm).await?;
        ctx.wrk(&url, data, CONNECTIONS).await
    }
    .await;
    server.stop().await?;
    result
}

/// The limits: `autopmo-bench micro` on the server core.
pub async fn micro(ctx: &Ctx, pg_url: Option<&str>) -> anyhow::Result<MicroResult> {
    let mut cmd = pinned(ctx.server_core.as_deref(), &ctx.exe);
    cmd.arg("micro").arg("--dir").arg(ctx.scratch.join("micro"));
    if let Some(url) = pg_url {
        cmd.arg("--pg-url").arg(url);
    }
    last_json(&cmd.output().await?)
}

pub(crate) fn last_json<T: serde::de::DeserializeOwned>(output: &std::process::Output) -> anyhow::Result<T> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(anyhow!("{}: {}", output.status, String::from_utf8_lossy(&output.stderr)));
    }
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).ok_or_else(|| anyhow!("no result printed"))?;
    Ok(serde_json::from_str(line)?)
}
