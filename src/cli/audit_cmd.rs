//! `autopmo audit …`: verify the chain, sign a checkpoint, export checkpoints,
//! stream to a SIEM (`siem_cmd`).

use super::setup;
use anyhow::bail;
use autopmo_config::Config;
use autopmo_trail::checkpoint;
use autopmo_trail::verify::{self, Range};
use clap::Subcommand;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every link of the hash chain and every signed checkpoint; name
    /// the first broken link, or say the chain is intact.
    Verify {
        /// First sequence to check (default: the first present).
        #[arg(long)]
        from: Option<i64>,
        /// Last sequence to check (default: the last present).
        #[arg(long)]
        to: Option<i64>,
        /// Also read every archived segment and check it as part of the chain.
        #[arg(long)]
        with_archives: bool,
    },
    /// Move events past their retention to the archive (read back and
    /// checked before anything is deleted).
    Archive,
    /// Sign a checkpoint of the current chain head now.
    Checkpoint,
    /// Stream audit events to a SIEM sink of `siem.sinks`, from where it
    /// last stopped (its cursor), at least once.
    Stream {
        /// The sink's name.
        #[arg(long)]
        sink: String,
        /// Deliver what is pending, then exit (instead of following new events).
        #[arg(long)]
        once: bool,
    },
    /// Print the public keys and every checkpoint as JSON Lines, to keep
    /// outside the database.
    ExportCheckpoints,
}

pub async fn run(cmd: AuditCommand, config: &Config) -> anyhow::Result<()> {
    let store = setup::connect_and_migrate(config).await?;
    let trail = setup::trail(config, &store)?;
    let result = match cmd {
        AuditCommand::Archive => {
            let target = setup::archive_target(config)?;
            let retention = setup::retention(config);
            let batch = i64::from(config.audit.archive.batch);
            let segments = autopmo_trail::archive::archive_all(&trail, &target, &retention, batch, |s| {
                eprintln!(
                    "archived {} events ({}..={}) as {}",
                    s.event_count, s.first_sequence, s.last_sequence, s.object_key
                );
            })
            .await?;
            if segments.is_empty() {
                eprintln!("nothing to archive: no event is past its retention");
            }
            Ok(())
        }
        AuditCommand::Verify { from, to, with_archives } => {
            if let (Some(f), Some(t)) = (from, to)
                && f > t
            {
                bail!("--from {f} is after --to {t}");
            }
            let archives = if with_archives {
                let target = setup::archive_target(config)?;
                eprintln!("reading archived segments…");
                Some(autopmo_trail::archive::archived_links(&trail, &target).await?)
            } else {
                None
            };
            let mut bar = Progress::new();
            let keys = trail.keyring().public_keys();
            let outcome =
                verify::verify_with_archives(&store, &keys, Range { from, to }, archives.as_ref(), |done, total| {
                    bar.show(done, total)
                })
                .await;
            bar.finish();
            match outcome {
                Ok(report) => {
                    match report.span {
                        Some((first, last)) => eprintln!(
                            "audit chain intact: {} records ({first}..={last}) verified, {} signed checkpoints matched",
                            report.checked, report.checkpoints
                        ),
                        None => eprintln!("audit chain is empty"),
                    }
                    Ok(())
                }
                Err(e) => {
                    let alert = autopmo_trail::monitor::alert(
                        "audit_chain_verification_failed",
                        "critical",
                        &e.to_string(),
                        trail.now(),
                        autopmo_audit::Actor::default(),
                    );
                    if let Err(record_error) = trail.record(alert).await {
                        eprintln!("warning: the alert could not be recorded: {record_error}");
                    }
                    bail!("AUDIT CHAIN BROKEN: {e}")
                }
            }
        }
        AuditCommand::Stream { sink, once } => super::siem_cmd::stream(config, &trail, &sink, once).await,
        AuditCommand::Checkpoint => {
            match checkpoint::take(&trail).await? {
                Some(c) => eprintln!("checkpoint signed at record {} ({}) with key {}", c.sequence, c.hash, c.key_id),
                None => eprintln!("nothing to sign: the chain is empty or its head already has a checkpoint"),
            }
            Ok(())
        }
        AuditCommand::ExportCheckpoints => {
            let mut out = std::io::stdout().lock();
            for line in checkpoint::export(&trail).await? {
                writeln!(out, "{}", serde_json::to_string(&line)?)?;
            }
            Ok(())
        }
    };
    store.close().await;
    result
}

/// A one-line progress display on stderr (only on a terminal), redrawn at
/// most every 200 ms.
struct Progress {
    tty: bool,
    last: Option<Instant>,
}

impl Progress {
    fn new() -> Self {
        Self { tty: std::io::stderr().is_terminal(), last: None }
    }

    fn show(&mut self, done: u64, total: u64) {
        if !self.tty || self.last.is_some_and(|t| t.elapsed() < Duration::from_millis(200)) {
            return;
        }
        self.last = Some(Instant::now());
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        let filled = usize::try_from(pct / 4).unwrap_or(25);
        eprint!("\rverifying [{:<25}] {pct:>3}% {done}/{total}", "#".repeat(filled));
    }

    fn finish(&self) {
        if self.tty && self.last.is_some() {
            eprintln!();
        }
    }
}
