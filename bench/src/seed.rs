//! `autopmo-bench seed`: a realistic data set written straight into the
//! database through the store crate (the same queries the server uses), so
//! that the schema, the constraints and the audit chain are the product's own.
//!
//! At scale 1: 1,000 users (admins, project managers, developers,
//! stakeholders, auditors, ML engineers), 10,000 projects owned by the
//! project managers, each with a manager, six developers and a stakeholder
//! as members, 100,000 tasks assigned to those members (some depending on
//! the one before), and 1,000,000 audit events (see [`crate::seed_audit`]).
//! Every user has the same password, hashed once with the configured
//! argon2id parameters, so that a login costs what it costs in production.

use crate::rng::Rng;
use anyhow::{Context, anyhow};
use autopmo_domain::{
    Amount, Clock, Currency, Description, DisplayName, Email, FieldError, Hours, Member, MemberKind, Money, Percent,
    PlannedDates, Project, ProjectId, ProjectName, ProjectStatus, Role, SystemClock, Task, TaskId, TaskStatus,
    TaskTitle, User, UserId, UserStatus, Username,
};
use autopmo_store::{Store, StoreOptions, credentials, members, migrate, projects, tasks, users};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// The password of every seeded user.
pub const PASSWORD: &str = "bench: a long and unusual passphrase, 2026";

/// Projects written per unit of work.
const PROJECTS_PER_UNIT: usize = 100;

/// Arguments of `autopmo-bench seed`.
#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// `sqlite://…` or `postgres://…` of an empty (or absent) database.
    #[arg(long)]
    pub url: String,
    /// AutoPMO's data directory (its keyring seals the personal data in events).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// 1.0 = 1,000 users, 10,000 projects, 100,000 tasks, 1,000,000 events.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Where to write what the bench needs to know about the data (JSON).
    #[arg(long)]
    pub manifest: PathBuf,
}

/// What the runner needs to know about a seeded data set. The peer's seed
/// (`bench/peer/seed.py`) writes the same shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Bumped when the seed changes shape.
    pub format: u32,
    /// The scale it was made at.
    pub scale: f64,
    /// Every user's password.
    pub password: String,
    /// How many users, projects, tasks and audit events.
    pub users: usize,
    /// Projects.
    pub projects: usize,
    /// Tasks.
    pub tasks: usize,
    /// Audit events.
    pub events: usize,
    /// Project managers and the projects each owns.
    pub pms: Vec<Pm>,
    /// Usernames of auditors (may read the audit trail; no second factor needed).
    pub auditors: Vec<String>,
    /// Usernames that can sign in with a password alone (no administrators).
    pub logins: Vec<String>,
    /// Some user ids (audit filters by actor).
    pub sample_user_ids: Vec<String>,
    /// Some project ids (audit filters by resource).
    pub sample_project_ids: Vec<String>,
    /// Time of the first seeded event (RFC 3339).
    pub first_event_at: String,
}

/// A project manager and their projects.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pm {
    /// Login name.
    pub username: String,
    /// User id.
    pub id: String,
    /// Ids of the projects they own.
    pub projects: Vec<String>,
}

/// The manifest format written by this version.
pub const FORMAT: u32 = 1;

/// A seeded person, as the event generator needs them.
#[derive(Debug, Clone)]
pub struct Person {
    /// Id.
    pub id: UserId,
    /// Login name.
    pub username: String,
    /// Their one role.
    pub role: Role,
    /// Where they connect from.
    pub ip: String,
}

/// A seeded project, as the event generator needs it.
#[derive(Debug, Clone)]
pub struct SeededProject {
    /// Id.
    pub id: ProjectId,
    /// Owner (index into the people).
    pub owner: usize,
    /// Members (indexes into the people).
    pub members: Vec<usize>,
    /// Its tasks.
    pub tasks: Vec<TaskId>,
}

fn field<T>(what: &str, r: Result<T, FieldError>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow!("seed {what}: {}", e.message))
}

fn count(base: f64, scale: f64, min: usize) -> usize {
    ((base * scale).round() as usize).max(min)
}

/// Runs `autopmo-bench seed`.
pub async fn run(args: SeedArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let config = autopmo_config::Config::default();
    let mut options = StoreOptions::new(args.url.clone());
    options.sqlite_synchronous_full = config.database.sqlite_synchronous == autopmo_config::SqliteSynchronous::Full;
    std::fs::create_dir_all(&args.data_dir).with_context(|| format!("creating {}", args.data_dir.display()))?;
    let store = Store::connect(&options).await.context("connecting to the seed database")?;
    let clock = SystemClock;
    migrate::migrate(&store, clock.now()).await.context("migrating the seed database")?;
    let keyring = autopmo_crypto::Keyring::open_or_create(&args.data_dir.join("keys"))?;
    let trail = autopmo_trail::AuditTrail::new(store.clone(), Arc::new(keyring), Arc::new(clock));
    let now = trail.now();
    let mut rng = Rng::new(0x00A1_7090_2026_1204);

    let people = seed_users(&store, &config, args.scale, now).await?;
    eprintln!("seed: {} users ({:.0?})", people.len(), started.elapsed());
    let projects = seed_projects(&store, &people, args.scale, now, &mut rng).await?;
    let tasks: usize = projects.iter().map(|p| p.tasks.len()).sum();
    eprintln!("seed: {} projects, {tasks} tasks ({:.0?})", projects.len(), started.elapsed());
    let events = count(1_000_000.0, args.scale, 1_000);
    let first = now - Duration::days(60);
    crate::seed_audit::seed_events(&trail, &people, &projects, events, first, now - Duration::hours(1), &mut rng)
        .await?;
    autopmo_trail::checkpoint::take(&trail).await.context("signing a checkpoint of the seeded chain")?;
    eprintln!("seed: {events} audit events ({:.0?})", started.elapsed());

    let manifest = manifest(&people, &projects, args.scale, events, tasks, first, &mut rng);
    store.close().await;
    let text = serde_json::to_string(&manifest)?;
    std::fs::write(&args.manifest, text).with_context(|| format!("writing {}", args.manifest.display()))?;
    Ok(())
}

fn manifest(
    people: &[Person],
    projects: &[SeededProject],
    scale: f64,
    events: usize,
    tasks: usize,
    first: OffsetDateTime,
    rng: &mut Rng,
) -> Manifest {
    let pms = people
        .iter()
        .enumerate()
        .filter(|(_, p)| p.role == Role::ProjectManager)
        .map(|(i, p)| Pm {
            username: p.username.clone(),
            id: p.id.to_string(),
            projects: projects.iter().filter(|x| x.owner == i).map(|x| x.id.to_string()).collect(),
        })
        .collect();
    let named = |role: Role| people.iter().filter(|p| p.role == role).map(|p| p.username.clone()).collect();
    Manifest {
        format: FORMAT,
        scale,
        password: PASSWORD.to_owned(),
        users: people.len(),
        projects: projects.len(),
        tasks,
        events,
        pms,
        auditors: named(Role::Auditor),
        logins: people.iter().filter(|p| p.role != Role::SystemAdmin).map(|p| p.username.clone()).collect(),
        sample_user_ids: (0..200).filter_map(|_| rng.pick(people)).map(|p| p.id.to_string()).collect(),
        sample_project_ids: (0..200).filter_map(|_| rng.pick(projects)).map(|p| p.id.to_string()).collect(),
        first_event_at: first.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
    }
}

/// The role of the `i`-th of `n` users: 0.5 % administrators (at least
/// one, `admin`), 10 % project managers, 2 % auditors, 10 % stakeholders,
/// 2.5 % ML engineers, the rest developers.
fn role_of(i: usize, n: usize) -> (Role, &'static str) {
    let share = |pct: f64| ((n as f64 * pct / 100.0).round() as usize).max(1);
    let bounds = [
        (share(0.5), Role::SystemAdmin, "adm"),
        (share(10.0), Role::ProjectManager, "pm"),
        (share(2.0), Role::Auditor, "aud"),
        (share(10.0), Role::Stakeholder, "stk"),
        (share(2.5), Role::MlEngineer, "ml"),
    ];
    let mut start = 0;
    for (size, role, prefix) in bounds {
        if i < start + size {
            return (role, prefix);
        }
        start += size;
    }
    (Role::Developer, "dev")
}

async fn seed_users(
    store: &Store,
    config: &autopmo_config::Config,
    scale: f64,
    now: OffsetDateTime,
) -> anyhow::Result<Vec<Person>> {
    use autopmo_crypto::password::{Params, PoolLimits};
    let p = &config.passwords;
    let params = Params::new(p.memory_kib, p.iterations, p.parallelism).map_err(|e| anyhow!("{e}"))?;
    let hasher = autopmo_crypto::PasswordHasher::new(params, PoolLimits::default()).map_err(|e| anyhow!("{e}"))?;
    let hash = hasher.hash(&secrecy::SecretString::from(PASSWORD)).await.map_err(|e| anyhow!("{e}"))?;
    let n = count(1_000.0, scale, 40);
    let mut people = Vec::with_capacity(n);
    let mut uow = store.begin().await?;
    for i in 0..n {
        let (role, prefix) = role_of(i, n);
        let username = if i == 0 { "admin".to_owned() } else { format!("{prefix}{i:04}") };
        let created = now - Duration::days(400) + Duration::minutes(i as i64);
        let user = User {
            id: UserId::new(),
            username: field("username", Username::parse(&username))?,
            email: field("email", Email::parse(&format!("{username}@bench.example.org")))?,
            display_name: field("display name", DisplayName::parse(&format!("Bench {username}")))?,
            status: UserStatus::Active,
            roles: vec![role],
            created_at: created,
            updated_at: created,
            version: 1,
        };
        users::insert(uow.conn(), &user).await?;
        credentials::set_password(uow.conn(), &user.id.to_string(), hash.as_str(), false, created).await?;
        let ip = format!("10.{}.{}.{}", 20 + i / 65_536 % 200, i / 256 % 256, i % 256);
        people.push(Person { id: user.id, username, role, ip });
    }
    uow.commit().await?;
    Ok(people)
}

fn indexes_of(people: &[Person], role: Role) -> Vec<usize> {
    people.iter().enumerate().filter(|(_, p)| p.role == role).map(|(i, _)| i).collect()
}

async fn seed_projects(
    store: &Store,
    people: &[Person],
    scale: f64,
    now: OffsetDateTime,
    rng: &mut Rng,
) -> anyhow::Result<Vec<SeededProject>> {
    let pms = indexes_of(people, Role::ProjectManager);
    let devs = indexes_of(people, Role::Developer);
    let stakeholders = indexes_of(people, Role::Stakeholder);
    let n = count(10_000.0, scale, 20);
    let tasks_per_project = (count(100_000.0, scale, 200) / n).max(1);
    let mut seeded = Vec::with_capacity(n);
    let mut uow = store.begin().await?;
    for i in 0..n {
        let owner = *pms.get(i % pms.len().max(1)).ok_or_else(|| anyhow!("no project managers"))?;
        let created = now - Duration::days(300) + Duration::seconds((i as i64) * 2_400);
        let project = project(i, people, owner, created, rng)?;
        projects::insert(uow.conn(), &project).await?;
        let mut team = vec![(owner, MemberKind::Manager)];
        while team.len() < 7 && team.len() <= devs.len() {
            let dev = *rng.pick(&devs).ok_or_else(|| anyhow!("no developers"))?;
            if !team.iter().any(|(m, _)| *m == dev) {
                team.push((dev, MemberKind::Member));
            }
        }
        if let Some(stk) = rng.pick(&stakeholders) {
            team.push((*stk, MemberKind::Stakeholder));
        }
        for (who, kind) in &team {
            let member = Member {
                project_id: project.id,
                user_id: people.get(*who).map(|p| p.id).ok_or_else(|| anyhow!("no person {who}"))?,
                kind: *kind,
                created_at: created,
                updated_at: created,
                version: 1,
            };
            members::insert(uow.conn(), &member).await?;
        }
        let workers: Vec<usize> = team.iter().filter(|(_, k)| k.can_be_assigned()).map(|(m, _)| *m).collect();
        let mut ids: Vec<TaskId> = Vec::with_capacity(tasks_per_project);
        for k in 0..tasks_per_project {
            let task = task(project.id, k, &ids, &workers, people, created, rng)?;
            tasks::insert(uow.conn(), &task).await?;
            ids.push(task.id);
        }
        seeded.push(SeededProject {
            id: project.id,
            owner,
            members: team.iter().map(|(m, _)| *m).collect(),
            tasks: ids,
        });
        if (i + 1) % PROJECTS_PER_UNIT == 0 {
            uow.commit().await?;
            uow = store.begin().await?;
        }
    }
    uow.commit().await?;
    Ok(seeded)
}

const WORDS: &[&str] = &[
    "ERP Migration",
    "Data Platform",
    "Customer Portal",
    "Warehouse Automation",
    "Mobile App",
    "Compliance Review",
    "Cloud Landing Zone",
    "Billing Rewrite",
    "Forecasting Model",
    "Network Refresh",
];

fn project(
    i: usize,
    people: &[Person],
    owner: usize,
    created: OffsetDateTime,
    rng: &mut Rng,
) -> anyhow::Result<Project> {
    let word = rng.pick(WORDS).copied().unwrap_or("Project");
    let currency = if rng.chance(0.8) { Currency::USD } else { field("currency", Currency::parse("EUR"))? };
    // Up to 950,000.00: below the 1,000,000 approval threshold.
    let minor = 1_000_000 + rng.below(94_000_000) as i64;
    let amount = Amount::from_minor(minor, currency).ok_or_else(|| anyhow!("seed budget out of range"))?;
    let status = match rng.below(10) {
        0..=1 => ProjectStatus::Proposed,
        2..=6 => ProjectStatus::Active,
        7 => ProjectStatus::OnHold,
        _ => ProjectStatus::Completed,
    };
    let start = created.date() + Duration::days(rng.below(30) as i64);
    let end = start + Duration::days(60 + rng.below(400) as i64);
    Ok(Project {
        id: ProjectId::new(),
        name: field("project name", ProjectName::parse(&format!("{word} {i:05}")))?,
        description: field(
            "description",
            Description::parse(&format!(
                "{word}: scope, milestones and budget agreed with the steering committee. Owner: {}.",
                people.get(owner).map_or("?", |p| p.username.as_str())
            )),
        )?,
        budget: Money { amount, currency },
        owner_id: people.get(owner).map(|p| p.id).ok_or_else(|| anyhow!("no owner"))?,
        status,
        planned: field("planned dates", PlannedDates::new(Some(start), Some(end)))?,
        created_at: created,
        updated_at: created,
        version: 1,
    })
}

fn task(
    project: ProjectId,
    k: usize,
    earlier: &[TaskId],
    workers: &[usize],
    people: &[Person],
    created: OffsetDateTime,
    rng: &mut Rng,
) -> anyhow::Result<Task> {
    let status = match rng.below(10) {
        0..=3 => TaskStatus::Todo,
        4..=6 => TaskStatus::InProgress,
        7 => TaskStatus::Blocked,
        _ => TaskStatus::Done,
    };
    let assignee = if rng.chance(0.8) { rng.pick(workers).and_then(|w| people.get(*w)).map(|p| p.id) } else { None };
    let estimate = 100 + rng.below(3_900) as i64;
    let done = status == TaskStatus::Done;
    let percent = match status {
        TaskStatus::Done => 100,
        TaskStatus::Todo => 0,
        _ => rng.below(90) as i64 + 5,
    };
    let start = created.date() + Duration::days((k * 3) as i64);
    let depends_on = match earlier.last() {
        Some(prev) if rng.chance(0.3) => vec![*prev],
        _ => Vec::new(),
    };
    let at = created + Duration::minutes(k as i64);
    Ok(Task {
        id: TaskId::new(),
        project_id: project,
        title: field("task title", TaskTitle::parse(&format!("Work package {k}: design, build and review")))?,
        description: field(
            "task description",
            Description::parse("Acceptance criteria agreed with the project manager."),
        )?,
        status,
        assignee_id: assignee,
        estimate_hours: Hours::from_hundredths(estimate),
        actual_hours: if done { Hours::from_hundredths(estimate + rng.below(800) as i64) } else { None },
        planned: field("task dates", PlannedDates::new(Some(start), Some(start + Duration::days(5))))?,
        percent_complete: field("percent", Percent::new(percent))?,
        depends_on,
        created_at: at,
        updated_at: at,
        version: 1,
    })
}
