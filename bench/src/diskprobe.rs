//! The disk's own write latency while a load runs.
//!
//! Every audited request waits for an `fsync`, so a disk that slows down
//! slows every figure with it, and a virtual disk can slow down for reasons
//! of its host's. Runs on a virtual machine showed exactly that (finding 21
//! in `docs/benchmarks.md`): between two phases of one run, a plain `fsync`
//! of 8 KiB went from a quarter of a millisecond to four whenever the
//! server's core had no idle time, and the GETs' p99 with it.
//!
//! So a probe runs beside the loads whose latencies are compared (the
//! `GET`s alone and during a login flood): every 20 ms it writes 8 KiB
//! into a file of its own, next to the database, and times the
//! `fdatasync` of it. The report prints its median for each phase, so that
//! a slower figure can be told apart from a slower disk. At 50 small writes
//! a second it adds nothing measurable to the load.

use serde::{Deserialize, Serialize};
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Time between two probes.
const PERIOD: Duration = Duration::from_millis(20);

/// The size of one probe's write.
const BLOCK: usize = 8192;

/// The probe's file cycles over this many bytes.
const SPAN: u64 = 1 << 20;

/// What the probe saw during one phase.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct DiskLatency {
    /// Writes timed.
    pub samples: u64,
    /// Median time of a write and its `fdatasync`, µs.
    pub p50_us: u64,
    /// The slowest, µs.
    pub max_us: u64,
}

/// A probe running on a thread of its own until [`finish`](Self::finish).
pub struct DiskProbe {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<u64>>>,
}

impl DiskProbe {
    /// Starts probing the file system that holds `dir`.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("disk-probe"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new().name("disk-probe".to_owned()).spawn(move || {
            let block = [0x5a_u8; BLOCK];
            let mut offset = 0;
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let started = Instant::now();
                if file.write_all_at(&block, offset).and_then(|()| file.sync_data()).is_err() {
                    break;
                }
                samples.push(started.elapsed().as_micros() as u64);
                offset = (offset + BLOCK as u64) % SPAN;
                std::thread::sleep(PERIOD);
            }
            samples
        })?;
        Ok(Self { stop, thread: Some(thread) })
    }

    /// Stops the probe and sums up what it saw.
    pub fn finish(mut self) -> DiskLatency {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default();
        summarize(samples)
    }
}

impl Drop for DiskProbe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn summarize(mut samples: Vec<u64>) -> DiskLatency {
    samples.sort_unstable();
    DiskLatency {
        samples: samples.len() as u64,
        p50_us: samples.get(samples.len() / 2).copied().unwrap_or(0),
        max_us: samples.last().copied().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_the_median_and_the_slowest() {
        let s = summarize(vec![900, 100, 300, 200, 250]);
        assert_eq!((s.samples, s.p50_us, s.max_us), (5, 250, 900));
        let none = summarize(Vec::new());
        assert_eq!((none.samples, none.p50_us, none.max_us), (0, 0, 0));
    }

    #[test]
    fn a_probe_times_real_writes() {
        let dir = tempfile::tempdir().unwrap();
        let probe = DiskProbe::start(dir.path()).unwrap();
        std::thread::sleep(Duration::from_millis(120));
        let seen = probe.finish();
        assert!(seen.samples >= 2, "{seen:?}");
        assert!(seen.p50_us > 0 && seen.max_us >= seen.p50_us, "{seen:?}");
        let written = std::fs::metadata(dir.path().join("disk-probe")).unwrap().len();
        assert_eq!(written, seen.samples.min(SPAN / BLOCK as u64) * BLOCK as u64);
    }
}
