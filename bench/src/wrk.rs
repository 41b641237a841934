//! Driving load with wrk (Debian's `wrk`), pinned to the load generator's
//! core, with the Lua scripts of `src/lua/` (written out at start).

use crate::server::pinned;
use anyhow::{Context, anyhow};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The results a script's `done` prints.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct WrkResult {
    /// Responses received.
    pub requests: u64,
    /// Measured time, µs.
    pub duration_us: u64,
    /// Responses that were not 2xx/3xx.
    pub status_errors: u64,
    /// Connect errors.
    pub connect_errors: u64,
    /// Read errors.
    pub read_errors: u64,
    /// Write errors.
    pub write_errors: u64,
    /// Requests that timed out.
    pub timeouts: u64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 90th percentile, µs.
    pub p90_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// Slowest, µs.
    pub max_us: u64,
    /// Mean, µs.
    pub mean_us: f64,
}

impl WrkResult {
    /// Successful (2xx/3xx) responses per second.
    pub fn ok_per_s(&self) -> f64 {
        let secs = self.duration_us as f64 / 1e6;
        if secs <= 0.0 { 0.0 } else { self.requests.saturating_sub(self.status_errors) as f64 / secs }
    }

    /// Socket errors and timeouts.
    pub fn socket_errors(&self) -> u64 {
        self.connect_errors + self.read_errors + self.write_errors + self.timeouts
    }
}

/// The Lua scripts, written into `dir`; returns (lines.lua, refresh.lua).
pub fn write_scripts(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let lines = dir.join("lines.lua");
    let refresh = dir.join("refresh.lua");
    std::fs::write(&lines, include_str!("lua/lines.lua"))?;
    std::fs::write(&refresh, include_str!("lua/refresh.lua"))?;
    Ok((lines, refresh))
}

/// One wrk run.
#[derive(Debug, Clone)]
pub struct Load<'a> {
    /// Base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// The Lua script.
    pub script: &'a Path,
    /// The script's data file.
    pub data: PathBuf,
    /// Open connections.
    pub connections: u32,
    /// Seconds.
    pub seconds: u64,
}

/// Runs wrk (one thread) on `core` and returns its results.
pub async fn run(core: Option<&str>, load: &Load<'_>) -> anyhow::Result<WrkResult> {
    let mut cmd = pinned(core, Path::new("wrk"));
    cmd.arg("-t1")
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", load.seconds))
        .arg("--timeout")
        .arg("10s")
        .arg("-s")
        .arg(load.script)
        .arg(&load.url)
        .arg("--")
        .arg(&load.data);
    let output = cmd.output().await.context("running wrk (is it installed? scripts/bench.sh installs it)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(anyhow!("wrk failed: {}\n{}", output.status, String::from_utf8_lossy(&output.stderr)));
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("{\"wrk\":"))
        .ok_or_else(|| anyhow!("wrk printed no result line:\n{stdout}"))?;
    let result: WrkResult = serde_json::from_str(line).with_context(|| format!("wrk result {line}"))?;
    if result.socket_errors() > 0 {
        eprintln!("  note: wrk saw {} socket errors or timeouts", result.socket_errors());
    }
    Ok(result)
}
