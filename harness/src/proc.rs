//! The server's resident memory and open descriptors, sampled from
//! `/proc/<pid>` every 200 ms while the load runs.

use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// What the samples showed.
#[derive(Debug, Default, Clone)]
pub struct Memory {
    /// RSS of the first sample, KiB.
    pub start_kib: u64,
    /// Largest RSS, KiB.
    pub max_kib: u64,
    /// RSS of the last sample, KiB.
    pub end_kib: u64,
    /// Most open file descriptors (sockets included).
    pub max_fds: usize,
    /// How many samples were taken.
    pub samples: usize,
}

impl Memory {
    pub fn start_mib(&self) -> f64 {
        self.start_kib as f64 / 1024.0
    }

    pub fn max_mib(&self) -> f64 {
        self.max_kib as f64 / 1024.0
    }

    pub fn end_mib(&self) -> f64 {
        self.end_kib as f64 / 1024.0
    }
}

/// A running sampler.
#[derive(Debug)]
pub struct Sampler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Memory>,
}

/// `VmRSS` of `pid`, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

impl Sampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> Self {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut m = Memory::default();
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stopped => break,
                }
                let Some(rss) = rss_kib(pid) else { continue };
                if m.samples == 0 {
                    m.start_kib = rss;
                }
                m.samples += 1;
                m.max_kib = m.max_kib.max(rss);
                m.end_kib = rss;
                m.max_fds = m.max_fds.max(open_fds(pid).unwrap_or(0));
            }
            m
        });
        Self { stop, task }
    }

    /// Stops sampling; what was seen.
    pub async fn stop(self) -> Memory {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}
