//! The threads password hashing runs on: as many as may hash at once,
//! started on first use, each at the lowest CPU priority: Linux's
//! `SCHED_IDLE` policy, and nice 19.
//!
//! Argon2id keeps a core busy for tens of milliseconds by design. On tokio's
//! shared blocking pool a login flood competes as an equal with the threads
//! that answer every other request, so API latency doubles while logins
//! pour in. At the lowest priority the hashing threads take whatever CPU the
//! API leaves: logins run at full speed on an idle server and yield to API
//! traffic on a busy one. Nice 19 alone was not enough: a request woken
//! while a hash ran still waited for the scheduler to preempt it (`GET` p99
//! up to 6x its idle value during a login flood), whereas a `SCHED_IDLE`
//! thread gives way the moment another thread wants its core. (The priority
//! is only ever lowered, which needs no privilege.)

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The nice value of the hashing threads (the lowest priority).
const NICE: i32 = 19;

/// A fixed set of low-priority threads, started on first use.
pub(crate) struct HashThreads {
    count: usize,
    jobs: OnceLock<Mutex<Sender<Job>>>,
}

impl HashThreads {
    /// `count` threads (at least one), not yet started.
    pub(crate) fn new(count: usize) -> Self {
        Self { count: count.max(1), jobs: OnceLock::new() }
    }

    /// Runs `work` on one of the threads; the answer arrives on the returned
    /// channel (dropped without an answer if the work panicked).
    pub(crate) fn run<T, F>(&self, work: F) -> tokio::sync::oneshot::Receiver<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(work());
        });
        let jobs = self.jobs.get_or_init(|| Mutex::new(start(self.count)));
        // A send fails only if every thread is gone; the receiver then sees
        // a dropped sender and the caller reports a worker failure.
        let _ = jobs.lock().unwrap_or_else(PoisonError::into_inner).send(job);
        rx
    }
}

fn start(count: usize) -> Sender<Job> {
    let (tx, rx) = channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for n in 0..count {
        let rx = Arc::clone(&rx);
        let spawned = std::thread::Builder::new().name(format!("autopmo-hash-{n}")).spawn(move || serve(&rx));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "a password hashing thread could not be started");
        }
    }
    tx
}

fn serve(jobs: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        let job = match jobs.lock().unwrap_or_else(PoisonError::into_inner).recv() {
            Ok(job) => job,
            Err(_) => return, // the pool is gone
        };
        // A panicking job loses its answer (its caller sees a worker
        // failure), not the thread.
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a password hashing job panicked");
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    use thread_priority::{NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy};
    // The policy first: setting it also sets the nice value (to 0, where a
    // new thread starts), and nice may only go down afterwards.
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(e) =
        thread_priority::set_thread_priority_and_policy(thread_priority::thread_native_id(), ThreadPriority::Min, idle)
    {
        tracing::debug!(error = ?e, "password hashing runs under the normal scheduling policy");
    }
    // On Linux, a thread id given to setpriority names that thread alone.
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), NICE) {
        tracing::debug!(error = %e, "password hashing runs at normal priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {
    let _ = NICE;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_at_the_lowest_priority_and_survive_panics() {
        let threads = HashThreads::new(2);
        let nice = threads.run(|| rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap());
        assert_eq!(nice.await.unwrap(), NICE);
        #[cfg(target_os = "linux")]
        {
            use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
            let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
            let policy = threads.run(|| thread_priority::thread_schedule_policy().unwrap());
            assert_eq!(policy.await.unwrap(), idle);
            let mine = thread_priority::thread_schedule_policy().unwrap();
            assert_ne!(mine, idle, "only the hashing threads are lowered");
        }
        let lost = threads.run(|| -> u8 { panic!("boom") });
        assert!(lost.await.is_err(), "a panicked job has no answer");
        let answers: Vec<_> = (0..8).map(|i| threads.run(move || i * 2)).collect();
        for (i, rx) in answers.into_iter().enumerate() {
            assert_eq!(rx.await.unwrap(), i * 2, "the threads still work after a panic");
        }
    }
}
