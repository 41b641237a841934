//! `autopmo-load`: the load part of the reliability harness
//! (`scripts/harness.sh load`).
//!
//! Opens `--connections` keep-alive connections to a running `autopmo serve`
//! (one HTTP client per connection, each connection opened before the clock
//! starts), sends mixed API traffic on all of them for `--duration-secs`
//! (reads, writes, and requests that must be refused), samples the server's
//! resident memory and open descriptors from `/proc`, then reads the audit
//! trail back and checks that every request that got an answer left exactly
//! one `http.request` event with that status, and every acknowledged write
//! its domain event.
//!
//! Prints a short summary and exits non-zero on any 5xx, any request that got
//! no answer, any missing audit event, or a resident set above
//! `--max-rss-mib`.
//!
//! ```text
//! autopmo-load --base http://127.0.0.1:8080 --token apmo_pat_… --audit-token apmo_pat_… \
//!     --connections 1000 --duration-secs 60 --server-pid 1234 [--max-rss-mib 512] [--report FILE]
//! ```
//!
//! The tokens may come from `HARNESS_LOAD_TOKEN` and `HARNESS_LOAD_AUDIT_TOKEN`
//! instead, to keep them out of the process list.

mod audit;
mod proc;
mod traffic;

use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::time::Duration;

/// Command-line settings.
#[derive(Debug)]
struct Args {
    base: String,
    token: String,
    audit_token: String,
    connections: usize,
    duration: Duration,
    server_pid: Option<u32>,
    max_rss_mib: u64,
    seed: u64,
    report: Option<String>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(name) = args.next() {
        let Some(key) = name.strip_prefix("--") else { bail!("unexpected argument {name:?}") };
        let value = args.next().with_context(|| format!("{name} needs a value"))?;
        values.insert(key.to_owned(), value);
    }
    let mut take = |key: &str| values.remove(key);
    let number = |key: &str, raw: Option<String>, default: u64| -> anyhow::Result<u64> {
        raw.map_or(Ok(default), |v| v.parse().with_context(|| format!("--{key} must be a number, not {v:?}")))
    };
    let args = Args {
        base: take("base").context("--base URL is required")?.trim_end_matches('/').to_owned(),
        token: take("token")
            .or_else(|| std::env::var("HARNESS_LOAD_TOKEN").ok())
            .context("--token or HARNESS_LOAD_TOKEN (the traffic's API token) is required")?,
        audit_token: take("audit-token")
            .or_else(|| std::env::var("HARNESS_LOAD_AUDIT_TOKEN").ok())
            .context("--audit-token or HARNESS_LOAD_AUDIT_TOKEN (an auditor's or admin's API token) is required")?,
        connections: usize::try_from(number("connections", take("connections"), 1000)?)?,
        duration: Duration::from_secs(number("duration-secs", take("duration-secs"), 60)?),
        server_pid: take("server-pid").map(|p| p.parse()).transpose().context("--server-pid must be a pid")?,
        max_rss_mib: number("max-rss-mib", take("max-rss-mib"), 512)?,
        seed: number("seed", take("seed"), 1)?,
        report: take("report"),
    };
    if let Some(unknown) = values.keys().next() {
        bail!("unknown option --{unknown}");
    }
    if args.connections == 0 || args.duration.is_zero() {
        bail!("--connections and --duration-secs must be at least 1");
    }
    Ok(args)
}

#[tokio::main]
async fn main() {
    match run().await {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("load: error: {e:#}");
            std::process::exit(2);
        }
    }
}

/// Runs the load and the checks; `Ok(false)` when a check failed.
async fn run() -> anyhow::Result<bool> {
    let args = parse_args()?;
    let plan = traffic::Plan::prepare(&args.base, &args.token, args.seed).await?;
    eprintln!(
        "load: {} shared projects ready; opening {} connections to {}",
        plan.projects.len(),
        args.connections,
        args.base
    );
    let sampler = args.server_pid.map(proc::Sampler::start);
    let run = traffic::run(&plan, args.connections, args.duration).await?;
    let memory = match sampler {
        Some(s) => Some(s.stop().await),
        None => None,
    };
    eprintln!("load: traffic done; reading the audit trail back");
    let audit = audit::check(&args.base, &args.audit_token, &run).await?;

    let mut failures = Vec::new();
    let totals = run.totals();
    println!(
        "load: {} connections for {:.1} s: {} requests ({:.0}/s) — 2xx {}, expected 4xx {}, other 4xx {}, 5xx {}, no answer {}",
        args.connections,
        run.elapsed.as_secs_f64(),
        totals.requests,
        totals.requests as f64 / run.elapsed.as_secs_f64().max(0.001),
        totals.ok,
        totals.expected_client_errors,
        totals.other_client_errors,
        totals.server_errors,
        totals.transport_errors,
    );
    let l = run.latency_ms();
    println!("load: latency ms p50 {:.1}, p95 {:.1}, p99 {:.1}, max {:.1}", l.p50, l.p95, l.p99, l.max);
    println!("load: by operation: {}", run.by_operation());
    println!("load: writes acknowledged: {}", run.acked_summary());
    println!(
        "load: audit: {} answered API requests, {} with their http.request event, {} missing, {} duplicated, {} with the wrong status; \
         {} acknowledged writes, {} domain events missing",
        audit.requests,
        audit.found,
        audit.missing,
        audit.duplicated,
        audit.wrong_status,
        audit.writes,
        audit.domain_missing
    );
    if let Some(m) = &memory {
        println!(
            "load: server memory: RSS {:.0} MiB at start, {:.0} MiB max, {:.0} MiB at the end (limit {} MiB); \
             open descriptors max {} ({} samples)",
            m.start_mib(),
            m.max_mib(),
            m.end_mib(),
            args.max_rss_mib,
            m.max_fds,
            m.samples
        );
        if m.max_mib() > args.max_rss_mib as f64 {
            failures.push(format!("the server's RSS reached {:.0} MiB (limit {} MiB)", m.max_mib(), args.max_rss_mib));
        }
        if m.samples == 0 {
            failures.push("the server's memory could not be sampled".to_owned());
        }
    }
    if totals.server_errors > 0 {
        failures.push(format!("{} responses were 5xx: {}", totals.server_errors, run.examples_5xx()));
    }
    if totals.transport_errors > 0 {
        failures.push(format!("{} requests got no answer: {}", totals.transport_errors, run.examples_transport()));
    }
    if totals.other_client_errors > 0 {
        println!("load: note: unexpected 4xx: {}", run.examples_unexpected());
    }
    if audit.missing + audit.duplicated + audit.wrong_status + audit.domain_missing > 0 {
        failures.push(format!("audit events lost or wrong: {}", audit.examples.join("; ")));
    }
    if totals.ok == 0 {
        failures.push("no request succeeded".to_owned());
    }

    if let Some(path) = &args.report {
        let report = serde_json::json!({
            "connections": args.connections,
            "duration_secs": run.elapsed.as_secs_f64(),
            "requests": totals.requests,
            "ok": totals.ok,
            "expected_client_errors": totals.expected_client_errors,
            "other_client_errors": totals.other_client_errors,
            "server_errors": totals.server_errors,
            "transport_errors": totals.transport_errors,
            "latency_ms": {"p50": l.p50, "p95": l.p95, "p99": l.p99, "max": l.max},
            "audit": {
                "requests": audit.requests, "found": audit.found, "missing": audit.missing,
                "duplicated": audit.duplicated, "wrong_status": audit.wrong_status,
                "writes": audit.writes, "domain_missing": audit.domain_missing,
            },
            "memory": memory.as_ref().map(|m| serde_json::json!({
                "rss_start_mib": m.start_mib(), "rss_max_mib": m.max_mib(), "rss_end_mib": m.end_mib(),
                "max_fds": m.max_fds, "samples": m.samples,
            })),
            "failures": failures,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&report)?).with_context(|| format!("writing {path}"))?;
    }
    for f in &failures {
        println!("load: FAILED: {f}");
    }
    Ok(failures.is_empty())
}
