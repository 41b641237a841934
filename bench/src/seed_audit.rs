//! The seeded audit trail: events like the ones the server writes (request
//! events of reads and writes, domain events, logins, refreshes, refusals,
//! alerts), spread evenly over the last 60 days, each with its actor's
//! personal data sealed under that person's key, appended through units of
//! work and the group commit so that the hash chain is the product's own and
//! `autopmo audit verify` passes over it.

use crate::rng::Rng;
use crate::seed::{Person, SeededProject};
use anyhow::anyhow;
use autopmo_audit::{AuditRecord, Category, Outcome};
use autopmo_trail::{ActorInfo, AuditTrail};
use serde_json::json;
use time::{Duration, OffsetDateTime};

/// Events appended per unit of work while seeding.
const BATCH: usize = 1_000;

const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0 Safari/537.36",
    "autopmo-cli/0.1.0",
    "python-requests/2.33.0",
];

/// Appends `n` events between `first` and `last`.
pub async fn seed_events(
    trail: &AuditTrail,
    people: &[Person],
    projects: &[SeededProject],
    n: usize,
    first: OffsetDateTime,
    last: OffsetDateTime,
    rng: &mut Rng,
) -> anyhow::Result<()> {
    let step_us = ((last - first).whole_microseconds() / n.max(1) as i128).max(1) as i64;
    let started = std::time::Instant::now();
    let mut written = 0;
    while written < n {
        let len = BATCH.min(n - written);
        // Actors are sealed before the unit opens: sealing may create a
        // person's key in a unit of its own.
        let mut batch = Vec::with_capacity(len);
        for j in 0..len {
            let at = first + Duration::microseconds(step_us * (written + j) as i64);
            batch.push(event(trail, people, projects, at, rng).await?);
        }
        let mut uow = trail.store().begin().await?;
        for mut record in batch {
            uow.append_audit(&mut record).await?;
        }
        uow.commit().await?;
        written += len;
        if written % 100_000 == 0 {
            eprintln!("seed: {written} of {n} events ({:.0?})", started.elapsed());
        }
    }
    Ok(())
}

fn id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn request(method: &str, path: &str, route: &str, status: u16, category: Category, at: OffsetDateTime) -> AuditRecord {
    AuditRecord::new("http.request", category, &format!("{method} {route}"), Outcome::of_http_status(status), at)
        .with_metadata(&json!({"method": method, "path": path, "route": route, "http_status": status}))
}

fn domain(event_type: &str, action: &str, at: OffsetDateTime) -> AuditRecord {
    AuditRecord::new(event_type, Category::DataAccess, action, Outcome::Success, at)
}

async fn event(
    trail: &AuditTrail,
    people: &[Person],
    projects: &[SeededProject],
    at: OffsetDateTime,
    rng: &mut Rng,
) -> anyhow::Result<AuditRecord> {
    let project = rng.pick(projects).ok_or_else(|| anyhow!("no projects"))?;
    // Mostly the project's own people act on it.
    let who = if rng.chance(0.9) { rng.pick(&project.members).copied().unwrap_or(0) } else { rng.below(people.len()) };
    let person = people.get(who).ok_or_else(|| anyhow!("no person {who}"))?;
    let info = ActorInfo {
        user_id: Some(person.id),
        username: Some(person.username.clone()),
        ip_address: Some(person.ip.clone()),
        user_agent: AGENTS.get(who % AGENTS.len()).map(|a| (*a).to_owned()),
    };
    let actor = trail.actor(&info).await?;
    let pid = project.id.to_string();
    let task = rng.pick(&project.tasks).map(ToString::to_string);
    let session = id();
    let mut record = match rng.below(1_000) {
        0..=549 => request(
            "GET",
            &format!("/api/v1/projects/{pid}"),
            "/api/v1/projects/{project_id}",
            200,
            Category::DataAccess,
            at,
        )
        .with_resource("project", Some(pid.clone()), None),
        550..=649 => request("GET", "/api/v1/projects", "/api/v1/projects", 200, Category::DataAccess, at),
        650..=729 => domain("task.created", "create", at)
            .with_resource("task", task, Some("Work package: design, build and review".to_owned()))
            .with_metadata(&json!({"project_id": pid})),
        730..=779 => domain("task.updated", "update", at)
            .with_resource("task", task, None)
            .with_metadata(&json!({"project_id": pid, "changed": ["status", "percent_complete"]})),
        780..=799 => domain("project.updated", "update", at)
            .with_resource("project", Some(pid.clone()), None)
            .with_metadata(&json!({"changed": ["status"]})),
        800..=899 => AuditRecord::new("auth.login", Category::Authentication, "login", Outcome::Success, at)
            .with_resource("user", Some(person.id.to_string()), None)
            .with_metadata(&json!({"method": "password", "session_id": session, "session_kind": "api"})),
        900..=929 => AuditRecord::new("auth.login_failed", Category::Authentication, "login", Outcome::Denied, at)
            .with_resource("user", Some(person.id.to_string()), None)
            .with_metadata(&json!({"reason": "invalid_credentials"})),
        930..=979 => request("POST", "/api/v1/auth/refresh", "/api/v1/auth/refresh", 200, Category::Authentication, at),
        980..=996 => {
            let mut r = AuditRecord::new("authz.denied", Category::Authorization, "authorize", Outcome::Denied, at)
                .with_resource("project", Some(pid.clone()), None)
                .with_metadata(&json!({
                    "permission": "projects:update", "reason": "NoAllowPolicy", "matrix_granted": true,
                    "policies": [], "answered": 403,
                }));
            r.decision_id = Some(id());
            r
        }
        _ => autopmo_trail::monitor::alert(
            "auth_failures_per_address",
            "medium",
            "10 failed authentications from one address within 5 minutes",
            at,
            actor.clone(),
        ),
    };
    record.actor = actor;
    record.request_id = Some(id());
    if record.event_type != "security.alert" {
        record.session_id = Some(session);
    }
    if record.event_type == "http.request" && record.decision_id.is_none() {
        record.decision_id = Some(id());
    }
    Ok(record)
}
