//! The traffic: one task per connection, each with its own HTTP client (so
//! one keep-alive connection each), sending a weighted mix of operations
//! until the deadline. Every request carries its own `X-Request-Id`
//! (`ld-<connection>-<n>`) so that its audit event can be found afterwards.

use anyhow::{Context, bail};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Barrier;

/// Shared projects the traffic reads and writes under.
const SHARED_PROJECTS: usize = 16;

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    ListProjects,
    GetProject,
    ListTasks,
    ListCosts,
    GetMe,
    Health,
    CreateProject,
    CreateTask,
    UpdateTask,
    CreateCost,
    /// A project that does not exist: 404.
    NotFound,
    /// A token that is not one: 401.
    BadToken,
    /// A body that fails validation: 422.
    Invalid,
}

/// The mix, in percent.
const MIX: &[(Op, u32)] = &[
    (Op::ListProjects, 22),
    (Op::GetProject, 14),
    (Op::ListTasks, 10),
    (Op::ListCosts, 4),
    (Op::GetMe, 5),
    (Op::Health, 3),
    (Op::CreateProject, 8),
    (Op::CreateTask, 12),
    (Op::UpdateTask, 9),
    (Op::CreateCost, 6),
    (Op::NotFound, 3),
    (Op::BadToken, 2),
    (Op::Invalid, 2),
];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Self::ListProjects => "list_projects",
            Self::GetProject => "get_project",
            Self::ListTasks => "list_tasks",
            Self::ListCosts => "list_costs",
            Self::GetMe => "get_me",
            Self::Health => "healthz",
            Self::CreateProject => "create_project",
            Self::CreateTask => "create_task",
            Self::UpdateTask => "update_task",
            Self::CreateCost => "create_cost",
            Self::NotFound => "not_found",
            Self::BadToken => "bad_token",
            Self::Invalid => "invalid",
        }
    }

    /// The status this operation must get when the server is well.
    fn expected(self) -> StatusCode {
        match self {
            Self::CreateProject | Self::CreateTask | Self::CreateCost => StatusCode::CREATED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadToken => StatusCode::UNAUTHORIZED,
            Self::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::OK,
        }
    }
}

/// A write the server acknowledged, and the domain event it owes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// `project.created`, `task.created`, `task.updated`, `cost.created`.
    pub event_type: &'static str,
    /// The resource the event is about.
    pub resource_id: String,
}

/// One request and what became of it.
#[derive(Debug, Clone)]
pub struct Record {
    pub op: Op,
    /// `None`: no answer (connection error or timeout).
    pub status: Option<u16>,
    pub request_id: String,
    pub latency: Duration,
    pub ack: Option<Ack>,
    /// For 5xx, unexpected statuses and transport errors: what came back.
    pub detail: Option<String>,
}

impl Record {
    /// Whether the request went to the API (and so must be audited).
    pub fn audited(&self) -> bool {
        self.op != Op::Health
    }
}

/// The setup the connections share.
#[derive(Debug, Clone)]
pub struct Plan {
    pub base: String,
    pub token: String,
    pub projects: Vec<String>,
    pub seed: u64,
    /// The writes made while preparing (audited like the others).
    pub setup: Vec<Record>,
}

/// A small xorshift generator: reproducible traffic without a dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }
}

fn client() -> anyhow::Result<Client> {
    Client::builder()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(120))
        .build()
        .context("building an HTTP client")
}

impl Plan {
    /// Creates the shared projects.
    pub async fn prepare(base: &str, token: &str, seed: u64) -> anyhow::Result<Self> {
        let http = client()?;
        let mut plan =
            Self { base: base.to_owned(), token: token.to_owned(), projects: Vec::new(), seed, setup: Vec::new() };
        for i in 0..SHARED_PROJECTS {
            let rid = format!("ld-setup-{i}");
            let started = Instant::now();
            let resp = http
                .post(format!("{base}/api/v1/projects"))
                .bearer_auth(token)
                .header("x-request-id", &rid)
                .json(
                    &json!({"name": format!("load shared {i}"), "budget": {"amount": "100000.00", "currency": "USD"}}),
                )
                .send()
                .await
                .with_context(|| format!("creating shared project {i}"))?;
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            if status != StatusCode::CREATED {
                bail!("creating a shared project answered {status}: {body}");
            }
            let id = body.get("id").and_then(Value::as_str).context("a created project has an id")?.to_owned();
            plan.setup.push(Record {
                op: Op::CreateProject,
                status: Some(status.as_u16()),
                request_id: rid,
                latency: started.elapsed(),
                ack: Some(Ack { event_type: "project.created", resource_id: id.clone() }),
                detail: None,
            });
            plan.projects.push(id);
        }
        Ok(plan)
    }
}

/// Everything the connections recorded.
#[derive(Debug)]
pub struct Run {
    pub records: Vec<Record>,
    pub elapsed: Duration,
}

/// Opens `connections` connections, then sends traffic on all of them for `duration`.
pub async fn run(plan: &Plan, connections: usize, duration: Duration) -> anyhow::Result<Run> {
    let plan = Arc::new(plan.clone());
    // Every connection is opened (one request each) before the clock starts.
    let ready = Arc::new(Barrier::new(connections + 1));
    let go = Arc::new(tokio::sync::Notify::new());
    let start_at = Arc::new(std::sync::OnceLock::<Instant>::new());
    let mut tasks = Vec::with_capacity(connections);
    for c in 0..connections {
        let (plan, ready, go, start_at) =
            (Arc::clone(&plan), Arc::clone(&ready), Arc::clone(&go), Arc::clone(&start_at));
        let notified = go.notified_owned();
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::new(&plan, c)?;
            let opened = conn.open().await;
            ready.wait().await;
            opened?;
            notified.await;
            let deadline = *start_at.get().context("the start time is set")? + duration;
            conn.traffic(deadline).await;
            anyhow::Ok(conn.records)
        }));
    }
    ready.wait().await;
    let started = Instant::now();
    let _ = start_at.set(started);
    go.notify_waiters();
    let mut records = plan.setup.clone();
    let mut open_failures = 0;
    for t in tasks {
        match t.await {
            Ok(Ok(r)) => records.extend(r),
            Ok(Err(_)) => open_failures += 1,
            Err(e) => bail!("a connection task failed: {e}"),
        }
    }
    if open_failures > 0 {
        bail!("{open_failures} of {connections} connections could not be opened");
    }
    Ok(Run { records, elapsed: started.elapsed() })
}

/// One keep-alive connection and its state.
struct Connection {
    plan: Arc<Plan>,
    http: Client,
    index: usize,
    seq: u64,
    rng: Rng,
    /// The last task this connection created, with its ETag, to update.
    task: Option<(String, String, String)>,
    records: Vec<Record>,
}

impl Connection {
    fn new(plan: &Arc<Plan>, index: usize) -> anyhow::Result<Self> {
        Ok(Self {
            plan: Arc::clone(plan),
            http: client()?,
            index,
            seq: 0,
            rng: Rng::new(plan.seed ^ (index as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d)),
            task: None,
            records: Vec::new(),
        })
    }

    /// Opens the connection with a health check.
    async fn open(&mut self) -> anyhow::Result<()> {
        let resp = self.http.get(format!("{}/healthz", self.plan.base)).send().await?;
        resp.bytes().await?;
        Ok(())
    }

    fn pick(&mut self) -> Op {
        let mut roll = u32::try_from(self.rng.next() % 100).unwrap_or(0);
        for (op, weight) in MIX {
            if roll < *weight {
                return *op;
            }
            roll -= weight;
        }
        Op::ListProjects
    }

    fn project(&mut self) -> String {
        let i = self.rng.below(self.plan.projects.len());
        self.plan.projects.get(i).cloned().unwrap_or_default()
    }

    async fn traffic(&mut self, deadline: Instant) {
        while Instant::now() < deadline {
            let mut op = self.pick();
            if op == Op::UpdateTask && self.task.is_none() {
                op = Op::CreateTask;
            }
            let record = self.send(op).await;
            self.records.push(record);
        }
    }

    async fn send(&mut self, op: Op) -> Record {
        self.seq += 1;
        let rid = format!("ld-{}-{}", self.index, self.seq);
        let base = self.plan.base.clone();
        let n = self.seq;
        let (method, url, body, if_match): (Method, String, Option<Value>, Option<String>) = match op {
            Op::ListProjects => (Method::GET, format!("{base}/api/v1/projects?limit=20"), None, None),
            Op::GetProject => (Method::GET, format!("{base}/api/v1/projects/{}", self.project()), None, None),
            Op::ListTasks => {
                (Method::GET, format!("{base}/api/v1/projects/{}/tasks?limit=20", self.project()), None, None)
            }
            Op::ListCosts => {
                (Method::GET, format!("{base}/api/v1/projects/{}/costs?limit=20", self.project()), None, None)
            }
            Op::GetMe => (Method::GET, format!("{base}/api/v1/me"), None, None),
            Op::Health => (Method::GET, format!("{base}/healthz"), None, None),
            Op::CreateProject => (
                Method::POST,
                format!("{base}/api/v1/projects"),
                Some(json!({"name": format!("load {rid}"), "budget": {"amount": "2500.00", "currency": "USD"}})),
                None,
            ),
            Op::CreateTask => (
                Method::POST,
                format!("{base}/api/v1/projects/{}/tasks", self.project()),
                Some(json!({"title": format!("task {rid}"), "estimate_hours": "1.5"})),
                None,
            ),
            Op::UpdateTask => {
                let (project, task, etag) = self.task.clone().unwrap_or_default();
                (
                    Method::PATCH,
                    format!("{base}/api/v1/projects/{project}/tasks/{task}"),
                    Some(json!({"percent_complete": n % 101})),
                    Some(etag),
                )
            }
            Op::CreateCost => (
                Method::POST,
                format!("{base}/api/v1/projects/{}/costs", self.project()),
                Some(json!({"entry_date": "2026-12-01", "amount": "12.50", "category": "labor", "note": rid})),
                None,
            ),
            Op::NotFound => {
                (Method::GET, format!("{base}/api/v1/projects/01a24399-0000-7000-8000-00000000dead"), None, None)
            }
            Op::BadToken => (Method::GET, format!("{base}/api/v1/projects"), None, None),
            Op::Invalid => (
                Method::POST,
                format!("{base}/api/v1/projects"),
                Some(json!({"name": "", "budget": {"amount": "-1", "currency": "XXX"}})),
                None,
            ),
        };
        let token =
            if op == Op::BadToken { "apmo_pat_notARealTokenAtAllxxxxxxxxxxxxxxxxxxxxxxxx" } else { &self.plan.token };
        let mut req = self.http.request(method, url).bearer_auth(token).header("x-request-id", &rid);
        if let Some(body) = body {
            req = req.json(&body);
        }
        if let Some(etag) = if_match {
            req = req.header("if-match", etag);
        }
        let started = Instant::now();
        let mut record = Record { op, status: None, request_id: rid, latency: Duration::ZERO, ack: None, detail: None };
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                record.latency = started.elapsed();
                record.detail = Some(format!("{e:#}"));
                return record;
            }
        };
        let status = resp.status();
        let etag = resp.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let echoed = resp.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = resp.bytes().await;
        record.latency = started.elapsed();
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                record.detail = Some(format!("reading the body of a {status}: {e:#}"));
                return record;
            }
        };
        record.status = Some(status.as_u16());
        if echoed.as_deref() != Some(record.request_id.as_str()) {
            record.detail = Some(format!("X-Request-Id not echoed (got {echoed:?})"));
        }
        if status != op.expected() {
            let text = String::from_utf8_lossy(&bytes);
            let snippet: String = text.chars().take(300).collect();
            record.detail = Some(format!("{} {status}: {snippet}", op.name()));
            return record;
        }
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let text = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_owned);
        let ack = |event_type: &'static str| text("id").map(|resource_id| Ack { event_type, resource_id });
        record.ack = match op {
            Op::CreateProject => ack("project.created"),
            Op::CreateTask => {
                if let (Some(project), Some(task), Some(etag)) = (text("project_id"), text("id"), etag) {
                    self.task = Some((project, task, etag));
                }
                ack("task.created")
            }
            Op::UpdateTask => {
                if let (Some(etag), Some(t)) = (etag, self.task.as_mut()) {
                    t.2 = etag;
                }
                ack("task.updated")
            }
            Op::CreateCost => ack("cost.created"),
            _ => None,
        };
        record
    }
}

/// Counts over all records.
#[derive(Debug, Default)]
pub struct Totals {
    pub requests: usize,
    pub ok: usize,
    pub expected_client_errors: usize,
    pub other_client_errors: usize,
    pub server_errors: usize,
    pub transport_errors: usize,
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Default)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Run {
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for r in &self.records {
            t.requests += 1;
            match r.status {
                None => t.transport_errors += 1,
                Some(s) if s >= 500 => t.server_errors += 1,
                Some(s) if s == r.op.expected().as_u16() && s < 300 => t.ok += 1,
                Some(s) if s == r.op.expected().as_u16() => t.expected_client_errors += 1,
                Some(s) if s < 300 => t.ok += 1,
                Some(_) => t.other_client_errors += 1,
            }
        }
        t
    }

    pub fn latency_ms(&self) -> Latency {
        let mut all: Vec<Duration> = self.records.iter().map(|r| r.latency).collect();
        all.sort();
        let at = |p: f64| {
            let i = ((all.len().saturating_sub(1)) as f64 * p).round() as usize;
            all.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        Latency { p50: at(0.50), p95: at(0.95), p99: at(0.99), max: at(1.0) }
    }

    pub fn by_operation(&self) -> String {
        let mut counts: BTreeMap<(Op, String), usize> = BTreeMap::new();
        for r in &self.records {
            let status = r.status.map_or_else(|| "none".to_owned(), |s| s.to_string());
            *counts.entry((r.op, status)).or_default() += 1;
        }
        let mut out = String::new();
        for ((op, status), n) in counts {
            let _ = write!(out, "{}{} {status}×{n}", if out.is_empty() { "" } else { ", " }, op.name());
        }
        out
    }

    pub fn acked_summary(&self) -> String {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for a in self.records.iter().filter_map(|r| r.ack.as_ref()) {
            *counts.entry(a.event_type).or_default() += 1;
        }
        let total: usize = counts.values().sum();
        let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        format!("{total} ({})", parts.join(", "))
    }

    fn examples(&self, pick: impl Fn(&Record) -> bool) -> String {
        let shown: Vec<String> = self
            .records
            .iter()
            .filter(|r| pick(r))
            .take(5)
            .map(|r| format!("[{} {}] {}", r.op.name(), r.request_id, r.detail.as_deref().unwrap_or("")))
            .collect();
        shown.join("; ")
    }

    pub fn examples_5xx(&self) -> String {
        self.examples(|r| r.status.is_some_and(|s| s >= 500))
    }

    pub fn examples_transport(&self) -> String {
        self.examples(|r| r.status.is_none())
    }

    pub fn examples_unexpected(&self) -> String {
        self.examples(|r| r.status.is_some_and(|s| (400..500).contains(&s) && s != r.op.expected().as_u16()))
    }
}
