//! Child processes: servers pinned to the server core (`taskset`), their
//! readiness, their resident memory, and stopping them.

use anyhow::{Context, anyhow};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::process::{Child, Command};

/// `program` under `taskset -c core` when a core list is given.
pub fn pinned(cores: Option<&str>, program: &Path) -> Command {
    match cores {
        Some(cores) => {
            let mut cmd = Command::new("taskset");
            cmd.arg("-c").arg(cores).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pid: u32,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its standard error.
    pub log: PathBuf,
}

impl Server {
    /// Starts `cmd` (stdout discarded, stderr to `log`) and waits until
    /// `GET ready_path` answers 200.
    pub async fn start(mut cmd: Command, addr: SocketAddr, log: PathBuf, ready_path: &str) -> anyhow::Result<Self> {
        let file = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::from(file)).kill_on_drop(true);
        let mut child = cmd.spawn().context("starting a server")?;
        let pid = child.id().ok_or_else(|| anyhow!("the server exited at once"))?;
        let ready = crate::http::wait_ready(addr, ready_path, Duration::from_secs(300));
        tokio::select! {
            r = ready => r.with_context(|| tail(&log))?,
            status = child.wait() => {
                return Err(anyhow!("the server exited ({}) before it was ready:\n{}", status?, tail(&log)));
            }
        }
        Ok(Self { child, pid, addr, log })
    }

    /// Resident memory now, KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid)
    }

    /// A sampler of the resident memory (every 100 ms) until stopped.
    pub fn sample_rss(&self) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(AtomicU64::new(0));
        let (pid, s, m) = (self.pid, Arc::clone(&stop), Arc::clone(&max));
        tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    m.fetch_max(kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        RssSampler { stop, max }
    }

    /// SIGTERM, then SIGKILL after 30 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status().await;
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                eprintln!("  note: the server did not stop within 30 s: killed");
                self.child.kill().await?;
            }
        }
        Ok(())
    }
}

/// The highest resident memory seen since it started.
#[derive(Debug)]
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    max: Arc<AtomicU64>,
}

impl RssSampler {
    /// Stops sampling; the highest RSS seen, KiB.
    pub fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.max.load(Ordering::Relaxed)
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    proc_status(pid, "VmRSS")?.split_whitespace().next()?.parse().ok()
}

/// A field of `/proc/PID/status` (`None` once the process is gone).
pub fn proc_status(pid: u32, field: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| Some(l.strip_prefix(field)?.strip_prefix(':')?.trim().to_owned()))
}

/// The last lines of a log, for an error message.
pub fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines.get(lines.len().saturating_sub(20)..).unwrap_or_default().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_of_a_live_process_are_read_by_exact_name() {
        let me = std::process::id();
        assert!(rss_kib(me).unwrap() > 0);
        let cores = proc_status(me, "Cpus_allowed_list").unwrap();
        assert!(cores.chars().next().unwrap().is_ascii_digit(), "{cores}");
        // "Cpus_allowed" is a field of its own, not a prefix of the list.
        assert_ne!(proc_status(me, "Cpus_allowed"), Some(cores));
        assert_eq!(proc_status(me, "NoSuchField"), None);
    }
}
