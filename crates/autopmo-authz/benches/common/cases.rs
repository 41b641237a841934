//! The decision cases measured by `cargo bench -p autopmo-authz` and by the
//! bench runner's `micro` (`bench/src/micro.rs` includes this file), so that
//! both report the same thing.

use std::hint::black_box;
use std::time::{Duration, Instant};

use autopmo_authz::{
    Authorizer, Matrix, Permission, PolicySet, ProjectAttrs, RequestAttrs, ResourceType, Subject, Target, TaskAttrs,
};
use autopmo_domain::Role;
use rust_decimal::Decimal;

/// Timed decisions per case.
pub const ROUNDS: usize = 20_000;

/// The default policies plus a deny on big budgets without a second factor.
const BUDGET_DENY: &str = "
  - name: big_budget_changes_need_mfa
    description: Changing a project with a budget over one million needs a recent second factor
    effect: deny
    subjects:
      roles: [\"*\"]
    resources:
      types: [project]
    conditions:
      - project.budget > 1000000 and not request.mfa
    actions: [update, delete]
";

/// One case: its name, who asks for what on which target, and the expected answer.
pub struct Case<'a> {
    pub name: &'static str,
    pub authz: &'a Authorizer,
    pub who: &'a Subject,
    pub permission: Permission,
    pub target: &'a Target,
    pub allowed: bool,
}

/// What the cases are made of.
pub struct Cases {
    authz: Authorizer,
    with_deny: Authorizer,
    pm: Subject,
    dev: Subject,
    auditor: Subject,
    outsider: Subject,
    own: Target,
    task: Target,
    audit: Target,
    /// The request every case is decided for.
    pub req: RequestAttrs,
}

fn subject(id: &str, role: Role) -> Subject {
    Subject { id: id.into(), username: format!("{id}-name"), roles: vec![role] }
}

fn project(owner: &str, members: usize) -> ProjectAttrs {
    ProjectAttrs {
        id: "0190b6f0-0000-7000-8000-000000000001".into(),
        owner_id: owner.into(),
        budget: Decimal::new(125_000_050, 2),
        currency: "USD".into(),
        status: "active".into(),
        member_ids: (0..members).map(|i| format!("0190b6f0-0000-7000-8000-{i:012}")).collect(),
    }
}

impl Cases {
    /// The built-in matrix and policies (and those plus [`BUDGET_DENY`]).
    pub fn new() -> Result<Self, String> {
        let yaml = format!("{}{BUDGET_DENY}", PolicySet::builtin_source());
        let set = PolicySet::parse("bench.yaml", &yaml).map_err(|e| e.to_string())?;
        Ok(Self {
            authz: Authorizer::builtin(),
            with_deny: Authorizer::new(Matrix::builtin(), set),
            pm: subject("pm-1", Role::ProjectManager),
            dev: subject("0190b6f0-0000-7000-8000-000000000003", Role::Developer),
            auditor: subject("aud-1", Role::Auditor),
            outsider: subject("dev-9", Role::Developer),
            own: Target::Project(project("pm-1", 20)),
            task: Target::Task(TaskAttrs {
                id: "t-1".into(),
                assignee_id: Some("someone-else".into()),
                status: "in_progress".into(),
                project: project("pm-1", 20),
            }),
            audit: Target::Type(ResourceType::Audit),
            req: RequestAttrs { ip: Some("192.0.2.7".into()), method: "GET".into(), mfa: true },
        })
    }

    /// The cases, "PM reads own project" first.
    pub fn list(&self) -> Vec<Case<'_>> {
        let case =
            |name, authz, who, permission, target, allowed| Case { name, authz, who, permission, target, allowed };
        vec![
            case(
                "pm reads own project (20 members)",
                &self.authz,
                &self.pm,
                Permission::PROJECTS_READ,
                &self.own,
                true,
            ),
            case(
                "developer updates a task (member)",
                &self.authz,
                &self.dev,
                Permission::TASKS_UPDATE,
                &self.task,
                true,
            ),
            case("auditor reads a project", &self.authz, &self.auditor, Permission::PROJECTS_READ, &self.own, true),
            case(
                "developer reads a foreign project (denied)",
                &self.authz,
                &self.outsider,
                Permission::PROJECTS_READ,
                &self.own,
                false,
            ),
            case(
                "auditor reads the audit trail (type)",
                &self.authz,
                &self.auditor,
                Permission::AUDIT_READ,
                &self.audit,
                true,
            ),
            case(
                "pm updates own project, + budget deny policy",
                &self.with_deny,
                &self.pm,
                Permission::PROJECTS_UPDATE,
                &self.own,
                true,
            ),
        ]
    }

    /// Checks the case's answer, warms up, and times [`ROUNDS`] decisions
    /// (sorted) by `decide`, or by `decide_with_cedar` when `cedar`. `Err`
    /// names a case decided against expectation.
    pub fn time(&self, case: &Case<'_>, cedar: bool) -> Result<Vec<Duration>, String> {
        let decide = |who: &Subject, target: &Target| {
            if cedar {
                case.authz.decide_with_cedar(who, case.permission, target, &self.req)
            } else {
                case.authz.decide(who, case.permission, target, &self.req)
            }
        };
        if decide(case.who, case.target).allowed != case.allowed {
            return Err(format!("case {:?} decided unexpectedly", case.name));
        }
        for _ in 0..1_000 {
            black_box(decide(case.who, case.target));
        }
        let mut times = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let start = Instant::now();
            black_box(decide(black_box(case.who), black_box(case.target)));
            times.push(start.elapsed());
        }
        times.sort();
        Ok(times)
    }
}

/// The `p` quantile of sorted timings, in µs.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
}
