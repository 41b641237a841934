//! Streaming the audit trail to a SIEM, at least once.
//!
//! A [`Sink`] takes a batch of events and returns only once the destination
//! has them: a JSON Lines file written and fsynced ([`jsonl`]), or a syslog
//! receiver that read every frame of the batch ([`syslog`]). [`run_once`]
//! reads the events after the sink's cursor (`siem_cursors`), sends them and
//! only then moves the cursor, in a unit of work of its own. A crash between
//! the two sends the batch again; nothing is ever skipped. [`run`] repeats
//! that, backing off while the sink is down, until it is told to stop.

pub mod jsonl;
pub mod syslog;

pub use jsonl::JsonlSink;
pub use syslog::{SyslogOptions, SyslogSink, TlsOptions};

use crate::{AuditTrail, EventView, TrailError};
use autopmo_audit::{AuditRecord, Category, Outcome};
use autopmo_store::{audit, siem};
use std::future::Future;
use std::time::Duration;
use time::OffsetDateTime;

/// Events read from the database per batch, unless told otherwise.
pub const DEFAULT_BATCH: i64 = 500;

/// Which form of an event a sink receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Form {
    /// As an auditor sees it ([`EventView`]): personal data opened (or
    /// `[erased]` for an erased person).
    #[default]
    Opened,
    /// As stored and hashed ([`AuditRecord`]): personal data sealed under
    /// each person's key, `metadata` as its canonical text, so that the
    /// receiver can recompute the hash chain. For a SIEM outside the trust
    /// boundary.
    Sealed,
}

impl Form {
    /// `Opened` when personal data may be sent, else `Sealed`.
    pub fn from_include_personal_data(include: bool) -> Self {
        if include { Self::Opened } else { Self::Sealed }
    }
}

/// One event ready to send: its identifying facts and its JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Chain position.
    pub sequence: i64,
    /// `evt_…`.
    pub event_id: String,
    /// e.g. `project.created`.
    pub event_type: String,
    /// Retention class.
    pub category: Category,
    /// How it ended.
    pub status: Outcome,
    /// When it happened.
    pub timestamp: OffsetDateTime,
    /// The event in the sink's [`Form`], as one line of JSON (no newline).
    pub json: String,
}

impl Outgoing {
    /// Renders `record` in `form`, opening personal data with `trail`'s sealer.
    pub async fn render(trail: &AuditTrail, record: AuditRecord, form: Form) -> Result<Self, SiemError> {
        let json = match form {
            Form::Opened => serde_json::to_string(&EventView::open(record.clone(), trail.sealer()).await?),
            Form::Sealed => serde_json::to_string(&record),
        }
        .map_err(|e| SiemError::Invalid(format!("event {} cannot be written as JSON: {e}", record.sequence)))?;
        Ok(Self {
            sequence: record.sequence,
            event_id: record.event_id,
            event_type: record.event_type,
            category: record.category,
            status: record.status,
            timestamp: record.timestamp,
            json,
        })
    }
}

/// What can go wrong streaming.
#[derive(Debug, thiserror::Error)]
pub enum SiemError {
    /// Reading events or moving the cursor failed.
    #[error(transparent)]
    Trail(#[from] TrailError),
    /// Writing to the sink failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The TLS set-up failed (a bad CA file, an unusable server name).
    #[error("TLS: {0}")]
    Tls(String),
    /// The sink did not answer in time.
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// The sink is misconfigured.
    #[error("{0}")]
    Invalid(String),
}

impl From<autopmo_store::StoreError> for SiemError {
    fn from(e: autopmo_store::StoreError) -> Self {
        Self::Trail(TrailError::Store(e))
    }
}

/// A destination for audit events.
pub trait Sink: Send {
    /// The form of event it receives.
    fn form(&self) -> Form;

    /// Delivers `events`, in order, and returns `Ok` only once the
    /// destination has all of them (written and fsynced, or read by the
    /// receiver). An error means any of them may be missing: they are sent
    /// again.
    fn send(&mut self, events: &[Outgoing]) -> impl Future<Output = Result<(), SiemError>> + Send;
}

/// Either kind of sink, for a list configured at run time.
#[derive(Debug)]
pub enum AnySink {
    /// JSON Lines to a file or stdout.
    Jsonl(JsonlSink),
    /// RFC 5424 syslog over TCP or TLS.
    Syslog(SyslogSink),
}

impl Sink for AnySink {
    fn form(&self) -> Form {
        match self {
            Self::Jsonl(s) => s.form(),
            Self::Syslog(s) => s.form(),
        }
    }

    async fn send(&mut self, events: &[Outgoing]) -> Result<(), SiemError> {
        match self {
            Self::Jsonl(s) => s.send(events).await,
            Self::Syslog(s) => s.send(events).await,
        }
    }
}

/// What one [`run_once`] delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Events sent and acknowledged.
    pub sent: usize,
    /// The sink's cursor now: every event up to it was delivered.
    pub cursor: i64,
    /// Sequences inside the delivered span that are no longer in the
    /// database (archived before this sink got them), so not sent.
    pub missing: i64,
}

/// The sink's persisted cursor (0 when it never delivered anything).
pub async fn cursor(trail: &AuditTrail, sink_name: &str) -> Result<i64, SiemError> {
    let mut conn = trail.store().read().await?;
    Ok(siem::cursor(&mut conn, sink_name).await?)
}

/// Sends the next batch of at most `batch` events after `sink_name`'s
/// cursor, waits for the sink to acknowledge them, then advances the cursor.
/// Returns `sent = 0` when there was nothing new.
pub async fn run_once<S: Sink>(
    trail: &AuditTrail,
    sink_name: &str,
    sink: &mut S,
    batch: i64,
) -> Result<Delivery, SiemError> {
    let mut conn = trail.store().read().await?;
    let after = siem::cursor(&mut conn, sink_name).await?;
    let records = audit::range(&mut conn, after.saturating_add(1), i64::MAX, batch.max(1)).await?;
    drop(conn);
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        return Ok(Delivery { sent: 0, cursor: after, missing: 0 });
    };
    let last_sequence = last.sequence;
    let span = last_sequence - after;
    let sent = records.len();
    let missing = span - i64::try_from(sent).unwrap_or(span);
    if missing > 0 {
        tracing::warn!(
            sink = sink_name,
            from = after + 1,
            to = last_sequence,
            first_present = first.sequence,
            missing,
            "audit events in this span were archived before the SIEM sink received them; they are not re-sent"
        );
    }
    let form = sink.form();
    let mut events = Vec::with_capacity(sent);
    for record in records {
        events.push(Outgoing::render(trail, record, form).await?);
    }
    sink.send(&events).await?;
    // Acknowledged: only now may the cursor move. A crash before the commit
    // re-sends this batch (at least once), never skips it.
    let mut uow = trail.store().begin().await?;
    siem::advance(uow.conn(), sink_name, last_sequence, trail.now()).await?;
    uow.commit().await?;
    Ok(Delivery { sent, cursor: last_sequence, missing })
}

/// How [`run`] paces itself.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Events per batch.
    pub batch: i64,
    /// Wait after catching up, before looking for new events.
    pub poll_interval: Duration,
    /// First wait after a failure; doubled on each further failure…
    pub backoff_initial: Duration,
    /// …up to this.
    pub backoff_max: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            batch: DEFAULT_BATCH,
            poll_interval: Duration::from_secs(1),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// Streams events to `sink` until `shutdown` completes: batch after batch
/// while there is a backlog, every `poll_interval` once caught up, and with
/// exponential back-off (capped at `backoff_max`) while the sink or the
/// database fails. Events are never skipped: a failed batch is retried from
/// the persisted cursor. Returns the number of events delivered.
pub async fn run<S: Sink>(
    trail: AuditTrail,
    sink_name: String,
    mut sink: S,
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> u64 {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut delay = options.backoff_initial;
    let mut failures: u32 = 0;
    let mut delivered: u64 = 0;
    loop {
        let outcome = tokio::select! {
            biased;
            () = &mut shutdown => break,
            outcome = run_once(&trail, &sink_name, &mut sink, options.batch) => outcome,
        };
        let wait = match outcome {
            Ok(delivery) => {
                if failures > 0 {
                    tracing::info!(sink = %sink_name, failures, cursor = delivery.cursor, "SIEM sink is back");
                }
                failures = 0;
                delay = options.backoff_initial;
                delivered += u64::try_from(delivery.sent).unwrap_or(0);
                if i64::try_from(delivery.sent).unwrap_or(i64::MAX) >= options.batch {
                    continue; // a backlog: the next batch at once
                }
                options.poll_interval
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let wait = delay;
                tracing::warn!(
                    sink = %sink_name,
                    error = %e,
                    failures,
                    retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "SIEM sink unavailable; undelivered events stay queued and are sent when it is back"
                );
                delay = delay.saturating_mul(2).min(options.backoff_max);
                wait
            }
        };
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            () = tokio::time::sleep(wait) => {}
        }
    }
    tracing::info!(sink = %sink_name, delivered, "SIEM sink stopped");
    delivered
}
