//! SIEM export: `autopmo audit stream`, and the streams `serve` runs.

use anyhow::{Context, anyhow};
use autopmo_config::{Config, SiemSinkConfig, SiemSinkKind};
use autopmo_trail::AuditTrail;
use autopmo_trail::siem::{self, AnySink, Form, JsonlSink, RunOptions, SyslogOptions, SyslogSink, TlsOptions};
use std::path::Path;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The sink that `sink` configures.
pub fn build(config: &Config, sink: &SiemSinkConfig) -> anyhow::Result<AnySink> {
    let form = Form::from_include_personal_data(sink.include_personal_data);
    let what = || format!("SIEM sink {:?}", sink.name);
    Ok(match sink.kind {
        SiemSinkKind::Jsonl => {
            let path = sink.path.as_deref().ok_or_else(|| anyhow!("{}: no path", what()))?;
            if path == Path::new("-") {
                AnySink::Jsonl(JsonlSink::stdout(form))
            } else {
                AnySink::Jsonl(JsonlSink::file(path, form))
            }
        }
        SiemSinkKind::Syslog => {
            let address = sink.address.clone().ok_or_else(|| anyhow!("{}: no address", what()))?;
            let mut options = SyslogOptions::new(address);
            options.tls = sink.tls.then(|| TlsOptions { ca_file: sink.ca_file.clone() });
            options.facility = sink.facility.map(|f| f.code());
            options.form = form;
            if let Some(hostname) = &config.siem.hostname {
                options.hostname.clone_from(hostname);
            }
            AnySink::Syslog(SyslogSink::new(options).with_context(what)?)
        }
    })
}

/// Batch size and polling from `[siem]`; back-off from 1 s up to 60 s.
pub fn run_options(config: &Config) -> RunOptions {
    RunOptions {
        batch: i64::from(config.siem.batch_size),
        poll_interval: Duration::from_millis(config.siem.poll_interval_ms),
        ..RunOptions::default()
    }
}

/// `autopmo audit stream --sink NAME [--once]`.
pub async fn stream(config: &Config, trail: &AuditTrail, name: &str, once: bool) -> anyhow::Result<()> {
    let sink_config = config.siem.sink(name).ok_or_else(|| {
        let known: Vec<&str> = config.siem.sinks.iter().map(|s| s.name.as_str()).collect();
        anyhow!("no SIEM sink named {name:?} in siem.sinks (configured: {})", known.join(", "))
    })?;
    let mut sink = build(config, sink_config)?;
    let options = run_options(config);
    let start = siem::cursor(trail, name).await?;
    if once {
        let mut delivered = 0;
        let cursor = loop {
            let d = siem::run_once(trail, name, &mut sink, options.batch)
                .await
                .with_context(|| format!("streaming to SIEM sink {name:?}; its cursor stays where it was"))?;
            delivered += d.sent;
            if i64::try_from(d.sent).unwrap_or(i64::MAX) < options.batch {
                break d.cursor;
            }
        };
        eprintln!(
            "{delivered} audit event(s) delivered to {name:?} after sequence {start}; its cursor is now {cursor}"
        );
        return Ok(());
    }
    // Following: say what happens (outages, recovery) on stderr, masked as `serve`'s log is.
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .with_context(|| format!("log.level {:?} is not a valid filter", config.log.level))?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(autopmo_masking::MaskedStderr)
        .try_init();
    eprintln!("streaming audit events to {name:?} from after sequence {start}; Ctrl-C stops");
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let delivered = siem::run(trail.clone(), name.to_owned(), sink, options, stop).await;
    eprintln!("stopped: {delivered} audit event(s) delivered to {name:?}");
    Ok(())
}

/// The SIEM streams `serve` runs: one per configured sink when `siem.enabled`.
#[derive(Debug)]
pub struct Streams {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<u64>>,
}

impl Streams {
    /// Starts a stream per sink (none when `siem.enabled` is false).
    pub fn start(config: &Config, trail: &AuditTrail) -> anyhow::Result<Self> {
        let (stop, _) = watch::channel(false);
        let mut tasks = Vec::new();
        if config.siem.enabled {
            for sink_config in &config.siem.sinks {
                let sink = build(config, sink_config)?;
                let mut stopped = stop.subscribe();
                let shutdown = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                let name = sink_config.name.clone();
                tracing::info!(sink = %name, kind = ?sink_config.kind, "SIEM stream started");
                tasks.push(tokio::spawn(siem::run(trail.clone(), name, sink, run_options(config), shutdown)));
            }
        }
        Ok(Self { stop, tasks })
    }

    /// Stops every stream; what was not acknowledged is sent on the next start.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task).await.is_err() {
                abort.abort();
            }
        }
    }
}
