//! Reading the audit trail back after the load (`GET /api/v1/audit/events`
//! as JSON Lines) and checking it against what the connections saw: every
//! answered API request left exactly one `http.request` event with the
//! status it answered, and every acknowledged write its domain event about
//! the resource it created or changed.

use crate::traffic::Run;
use anyhow::{Context, bail};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// What the trail showed.
#[derive(Debug, Default)]
pub struct AuditCheck {
    /// Answered API requests looked for.
    pub requests: usize,
    /// ... found with exactly one `http.request` event.
    pub found: usize,
    pub missing: usize,
    pub duplicated: usize,
    pub wrong_status: usize,
    /// Acknowledged writes looked for.
    pub writes: usize,
    pub domain_missing: usize,
    /// A few of the problems, to reproduce.
    pub examples: Vec<String>,
}

/// The events of one request id.
#[derive(Debug, Default)]
struct Seen {
    /// `http_status` of each `http.request` event.
    statuses: Vec<Option<u64>>,
    /// (event type, resource id) of the others.
    domain: Vec<(String, Option<String>)>,
}

/// Reads every event whose request id the load made (`ld-…`).
async fn events(base: &str, token: &str) -> anyhow::Result<HashMap<String, Seen>> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(600)).build()?;
    let mut resp = http
        .get(format!("{base}/api/v1/audit/events?format=jsonl"))
        .bearer_auth(token)
        .send()
        .await
        .context("reading the audit trail")?;
    if !resp.status().is_success() {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        bail!("reading the audit trail answered {status}: {body}");
    }
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let mut buffer: Vec<u8> = Vec::new();
    let mut line = |raw: &[u8]| -> anyhow::Result<()> {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let e: Value = serde_json::from_slice(raw).context("an audit export line is not JSON")?;
        let Some(rid) = e.get("request_id").and_then(Value::as_str).filter(|r| r.starts_with("ld-")) else {
            return Ok(());
        };
        let entry = seen.entry(rid.to_owned()).or_default();
        let event_type = e.get("event_type").and_then(Value::as_str).unwrap_or_default();
        if event_type == "http.request" {
            entry.statuses.push(e.pointer("/metadata/http_status").and_then(Value::as_u64));
        } else {
            let id = e.pointer("/resource/id").and_then(Value::as_str).map(str::to_owned);
            entry.domain.push((event_type.to_owned(), id));
        }
        Ok(())
    };
    while let Some(chunk) = resp.chunk().await.context("reading the audit export")? {
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let rest = buffer.split_off(end + 1);
            line(&buffer)?;
            buffer = rest;
        }
    }
    line(&buffer)?;
    Ok(seen)
}

/// Checks the trail against the run.
pub async fn check(base: &str, token: &str, run: &Run) -> anyhow::Result<AuditCheck> {
    let seen = events(base, token).await?;
    let mut c = AuditCheck::default();
    let problem = |c: &mut AuditCheck, text: String| {
        if c.examples.len() < 10 {
            c.examples.push(text);
        }
    };
    for r in run.records.iter().filter(|r| r.audited()) {
        let Some(status) = r.status else { continue };
        c.requests += 1;
        let events = seen.get(&r.request_id);
        let statuses = events.map_or(&[][..], |s| s.statuses.as_slice());
        match statuses {
            [] => {
                c.missing += 1;
                problem(&mut c, format!("{} (answered {status}) has no http.request event", r.request_id));
            }
            [one] if *one == Some(u64::from(status)) => c.found += 1,
            [one] => {
                c.wrong_status += 1;
                problem(&mut c, format!("{} answered {status} but its event says {one:?}", r.request_id));
            }
            many => {
                c.duplicated += 1;
                problem(&mut c, format!("{} has {} http.request events", r.request_id, many.len()));
            }
        }
        if let Some(ack) = &r.ack {
            c.writes += 1;
            let has = events.is_some_and(|s| {
                s.domain.iter().any(|(t, id)| t == ack.event_type && id.as_deref() == Some(ack.resource_id.as_str()))
            });
            if !has {
                c.domain_missing += 1;
                problem(
                    &mut c,
                    format!("{} acknowledged {} {} without the event", r.request_id, ack.event_type, ack.resource_id),
                );
            }
        }
    }
    Ok(c)
}
