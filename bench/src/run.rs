//! `autopmo-bench run`: everything, in one run — the limits, the peer and
//! AutoPMO on SQLite and on PostgreSQL, repeated — then one table of medians.

use crate::autopmo::AutopmoRun;
use crate::micro::MicroResult;
use crate::prepare::{self, Dataset, Places};
use crate::report::{self, Machine};
use crate::scenarios::{self, Ctx, PeerRun};
use crate::wrk::WrkResult;
use anyhow::{Context, anyhow};
use autopmo_domain::{Clock, SystemClock};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `autopmo-bench run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// About five minutes: 1/10-scale data, one repetition, 5-second loads.
    #[arg(long)]
    pub quick: bool,
    /// Repetitions (medians are taken over them); default 1 quick, 3 full.
    #[arg(long)]
    pub reps: Option<usize>,
    /// Seconds per load; default 5 quick, 10 full.
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Data scale (1.0 = 1,000 users … 1,000,000 events); default 0.1 quick, 1.0 full.
    #[arg(long)]
    pub scale: Option<f64>,
    /// Sessions logged in before the loads.
    #[arg(long, default_value_t = 64)]
    pub sessions: usize,
    /// The release `autopmo` binary.
    #[arg(long)]
    pub autopmo: PathBuf,
    /// Python of the peer's virtual environment; without it the peer is skipped.
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// The peer's directory (`bench/peer`).
    #[arg(long, default_value = "bench/peer")]
    pub peer_dir: PathBuf,
    /// Where seeds (kept between runs), working copies and logs go.
    #[arg(long)]
    pub work_dir: PathBuf,
    /// A PostgreSQL account that may create databases.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub pg_admin: String,
    /// Skip PostgreSQL.
    #[arg(long)]
    pub no_postgres: bool,
    /// Markdown file whose generated section is replaced (e.g. docs/benchmarks.md).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Core (taskset list) of the servers and the micro-benchmarks.
    #[arg(long, default_value = "0")]
    pub server_core: String,
    /// Core (taskset list) of the load generator.
    #[arg(long, default_value = "1")]
    pub load_core: String,
    /// Do not pin anything.
    #[arg(long)]
    pub no_pin: bool,
    /// Seed again even when a cached seed exists.
    #[arg(long)]
    pub reseed: bool,
    /// Only these AutoPMO scenarios (comma-separated: get, post, list,
    /// audit, login, alone, flood, refresh, append), for working on one
    /// figure; the report leaves the others empty.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Skip the peer (for working on AutoPMO alone).
    #[arg(long)]
    pub no_peer: bool,
}

/// One repetition of everything.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Rep {
    /// axum hello-world.
    pub hello: WrkResult,
    /// The limits.
    pub micro: MicroResult,
    /// AutoPMO on SQLite.
    pub sqlite: Option<AutopmoRun>,
    /// AutoPMO on PostgreSQL.
    pub postgres: Option<AutopmoRun>,
    /// The peer.
    pub peer: Option<PeerRun>,
}

/// How the run was made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// `quick` or `full`.
    pub mode: String,
    /// Repetitions.
    pub reps: usize,
    /// Seconds per load.
    pub seconds: u64,
    /// Data scale.
    pub scale: f64,
    /// Sessions logged in per load.
    pub sessions: usize,
    /// Server core, or `unpinned`.
    pub server_core: String,
    /// Load generator core, or `unpinned`.
    pub load_core: String,
}

fn have(program: &str, arg: &str) -> bool {
    std::process::Command::new(program)
        .arg(arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// Runs `autopmo-bench run`.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    if !have("wrk", "--version") {
        return Err(anyhow!("wrk is not installed: scripts/bench.sh installs it (apt-get install -y wrk)"));
    }
    let pin = !args.no_pin && have("taskset", "--version");
    if !pin {
        eprintln!("note: running unpinned (no taskset, or --no-pin): server and load share the cores");
    }
    let settings = Settings {
        mode: if args.quick { "quick" } else { "full" }.to_owned(),
        reps: args.reps.unwrap_or(if args.quick { 1 } else { 3 }).max(1),
        seconds: args.seconds.unwrap_or(if args.quick { 5 } else { 10 }).max(1),
        scale: args.scale.unwrap_or(if args.quick { 0.1 } else { 1.0 }),
        sessions: args.sessions.max(1),
        server_core: if pin { args.server_core.clone() } else { "unpinned".to_owned() },
        load_core: if pin { args.load_core.clone() } else { "unpinned".to_owned() },
    };
    let work = std::path::absolute(&args.work_dir)?;
    let scratch = work.join("scratch");
    std::fs::create_dir_all(&scratch)?;
    let (lines_lua, refresh_lua) = crate::wrk::write_scripts(&scratch.join("lua"))?;
    let ctx = Ctx {
        server_core: pin.then(|| args.server_core.clone()),
        load_core: pin.then(|| args.load_core.clone()),
        seconds: settings.seconds,
        sessions: settings.sessions,
        exe: std::env::current_exe()?,
        autopmo: std::path::absolute(&args.autopmo)?,
        python: args.python.as_ref().map(std::path::absolute).transpose()?,
        peer_dir: std::path::absolute(&args.peer_dir)?,
        lines_lua,
        refresh_lua,
        scratch,
        only: args.only.iter().map(|o| o.trim().to_ascii_lowercase()).collect(),
    };
    for name in &ctx.only {
        let keys = crate::autopmo::scenario_keys();
        if !keys.contains(&name.as_str()) {
            return Err(anyhow!("--only {name}: not a scenario (one of {})", keys.join(", ")));
        }
    }
    let places =
        Places { work: work.clone(), scale: settings.scale, pg_admin: args.pg_admin.clone(), reseed: args.reseed };
    let mut machine = Machine::read(&ctx).await;
    let mut notes = Vec::new();
    let pg_version = if args.no_postgres { Err(anyhow!("--no-postgres")) } else { prepare::pg_version(&places).await };
    let all_cores = pin.then(|| format!("0-{}", std::thread::available_parallelism().map_or(1, usize::from) - 1));
    let all_cores = all_cores.as_deref();

    let sqlite = prepare::autopmo(&ctx, &places, "sqlite", all_cores).await.context("the SQLite data set")?;
    let postgres = match &pg_version {
        Ok(version) => {
            machine.postgres = Some(version.clone());
            Some(prepare::autopmo(&ctx, &places, "postgres", all_cores).await.context("the PostgreSQL data set")?)
        }
        Err(e) => {
            notes.push(format!("PostgreSQL skipped: {e:#}"));
            None
        }
    };
    let peer = match &ctx.python {
        Some(_) if args.no_peer => {
            notes.push("the peer was skipped: --no-peer".to_owned());
            None
        }
        Some(_) => Some(prepare::peer(&ctx, &places).await.context("the peer's data set")?),
        None => {
            notes.push("the peer was skipped: no --python".to_owned());
            None
        }
    };
    let commits_url = match &postgres {
        Some(_) => {
            prepare::pg_admin(&places, "DROP DATABASE IF EXISTS autopmo_bench_commits WITH (FORCE)").await?;
            prepare::pg_admin(&places, "CREATE DATABASE autopmo_bench_commits").await?;
            Some(places.pg_url("autopmo_bench_commits"))
        }
        None => None,
    };

    // PostgreSQL off the server's core while AutoPMO is measured (see
    // `pgpin`); put back when this ends, however it ends.
    let _pg_pinned = match (&postgres, &ctx.load_core) {
        (Some(_), Some(core)) => match crate::pgpin::pin(&places.pg_admin, core).await {
            Ok(pinned) => {
                machine.postgres_cores = Some(format!("runs on core {} beside wrk", pinned.cores));
                Some(pinned)
            }
            Err(e) => {
                notes.push(format!("PostgreSQL runs unpinned: {e:#}"));
                None
            }
        },
        _ => None,
    };
    let mut reps = Vec::new();
    for r in 1..=settings.reps {
        eprintln!("== repetition {r} of {} ==", settings.reps);
        reps.push(
            repetition(&ctx, &sqlite, postgres.as_ref(), peer.as_ref(), commits_url.as_deref(), &mut notes).await?,
        );
    }

    let mut verified = Vec::new();
    for (name, data) in [("SQLite", Some(&sqlite)), ("PostgreSQL", postgres.as_ref())] {
        if let Some(data) = data {
            eprintln!("verifying the audit chain on {name}");
            let (ok, line) = prepare::verify(&ctx, data).await?;
            verified.push(format!("{name}: `autopmo audit verify` {} — {line}", if ok { "passed" } else { "FAILED" }));
        }
    }
    machine.load_after = report::loadavg();
    let datasets: Vec<(&str, &Dataset)> =
        [("SQLite", Some(&sqlite)), ("PostgreSQL", postgres.as_ref()), ("peer", peer.as_ref())]
            .into_iter()
            .filter_map(|(n, d)| d.map(|d| (n, d)))
            .collect();
    let table = report::render(&machine, &settings, &reps, &datasets, &verified, &notes);
    writeln!(std::io::stdout(), "{table}")?;
    let stamp = SystemClock.now().unix_timestamp();
    let raw = serde_json::json!({"machine": machine, "settings": settings, "reps": reps, "notes": notes});
    std::fs::write(work.join(format!("results-{stamp}.json")), serde_json::to_string_pretty(&raw)?)?;
    if let Some(out) = &args.out {
        report::write_doc(out, &table)?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

async fn repetition(
    ctx: &Ctx,
    sqlite: &Dataset,
    postgres: Option<&Dataset>,
    peer: Option<&Dataset>,
    commits_url: Option<&str>,
    notes: &mut Vec<String>,
) -> anyhow::Result<Rep> {
    eprintln!("  limits: hello-world, argon2id, RS256, authorization, commits");
    let hello = scenarios::hello(ctx).await.context("hello-world")?;
    let micro = scenarios::micro(ctx, commits_url).await.context("micro-benchmarks")?;
    let mut rep = Rep { hello, micro, ..Rep::default() };
    for (name, label, data) in [("sqlite", "SQLite", Some(sqlite)), ("postgres", "PostgreSQL", postgres)] {
        let Some(data) = data else { continue };
        let run = match crate::autopmo::run(ctx, name, data).await {
            Ok(run) => run,
            Err(e) => {
                notes.push(format!("AutoPMO on {label} failed: {e:#}"));
                continue;
            }
        };
        if !run.wedged.is_empty() {
            notes.push(format!(
                "AutoPMO on {label}: the writer was left inside a transaction when wrk stopped (all later writes \
                 refused until restart) after: {}",
                run.wedged.join(", ")
            ));
        }
        if name == "sqlite" {
            rep.sqlite = Some(run);
        } else {
            rep.postgres = Some(run);
        }
    }
    if let Some(data) = peer {
        match scenarios::peer(ctx, data).await {
            Ok(run) => rep.peer = Some(run),
            Err(e) => notes.push(format!("the peer failed: {e:#}")),
        }
    }
    Ok(rep)
}
