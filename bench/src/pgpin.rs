//! Keeping PostgreSQL off the server's core.
//!
//! AutoPMO is measured on one core. SQLite runs inside its process, on that
//! core; PostgreSQL is a server of its own, which in a deployment has CPUs
//! of its own. Left unpinned here, its backends ran on the server's core
//! too (that core at 99 %, the other at half), so the figures measured how
//! the two shared one core rather than what AutoPMO does with one. While
//! the run lasts, the postmaster and its processes are pinned to the load
//! generator's core (new backends inherit it), and put back as they were
//! afterwards, also when the run fails.

use anyhow::{Context, anyhow};
use sqlx::Connection;
use std::process::Command;

/// PostgreSQL's processes, pinned; dropping it puts back their affinity.
#[derive(Debug)]
pub struct Pinned {
    /// Each process and its core list before.
    saved: Vec<(u32, String)>,
    /// The core list they run on now.
    pub cores: String,
}

/// Pins the local PostgreSQL server that `admin_url` reaches (the postmaster
/// and every process it started) to `cores`.
pub async fn pin(admin_url: &str, cores: &str) -> anyhow::Result<Pinned> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(admin_url).await.context("connecting to PostgreSQL")?;
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut conn).await?;
    let postmaster = parent(u32::try_from(backend)?)
        .filter(|&pid| command_name(pid).as_deref() == Some("postgres"))
        .ok_or_else(|| anyhow!("the server is not a local process (backend {backend} has no local postmaster)"))?;
    let mut pids = vec![postmaster];
    pids.extend(children(postmaster));
    let mut pinned = Pinned { saved: Vec::new(), cores: cores.to_owned() };
    for pid in pids {
        // A backend may end between the listing and here.
        let Some(before) = affinity(pid) else { continue };
        taskset(pid, cores).with_context(|| format!("pinning PostgreSQL process {pid} to core {cores}"))?;
        pinned.saved.push((pid, before));
    }
    conn.close().await?;
    Ok(pinned)
}

impl Drop for Pinned {
    fn drop(&mut self) {
        for (pid, cores) in &self.saved {
            if affinity(*pid).is_some()
                && let Err(e) = taskset(*pid, cores)
            {
                eprintln!("note: could not give PostgreSQL process {pid} back its cores {cores}: {e:#}");
            }
        }
    }
}

/// A process's parent, from `/proc/PID/stat` (the field after the
/// parenthesised command name).
fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn command_name(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).ok().map(|c| c.trim().to_owned())
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&child| parent(child) == Some(pid))
        .collect()
}

/// A process's core list (as `taskset -c` takes it), or `None` if it is gone.
fn affinity(pid: u32) -> Option<String> {
    crate::server::proc_status(pid, "Cpus_allowed_list")
}

/// Sets every thread of `pid` to `cores`.
fn taskset(pid: u32, cores: &str) -> anyhow::Result<()> {
    let out = Command::new("taskset").args(["-a", "-p", "-c", cores, &pid.to_string()]).output()?;
    if out.status.success() { Ok(()) } else { Err(anyhow!("{}", String::from_utf8_lossy(&out.stderr).trim())) }
}
