//! `cargo bench -p autopmo-authz`: the cost of one decision with the
//! built-in matrix and default policies. Goal (DESIGN.md): median ≤ 20 µs.
#![expect(clippy::print_stdout, reason = "a bench reports on stdout")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use autopmo_authz::{
    Authorizer, Matrix, Permission, PolicySet, ProjectAttrs, RequestAttrs, ResourceType, Subject, Target, TaskAttrs,
};
use autopmo_domain::Role;
use rust_decimal::Decimal;

const GOAL_US: f64 = 20.0;
const ROUNDS: usize = 20_000;

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

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

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

fn main() {
    let authz = Authorizer::builtin();
    let yaml = format!("{}{BUDGET_DENY}", PolicySet::builtin_source());
    let with_deny = match PolicySet::parse("bench.yaml", &yaml) {
        Ok(set) => Authorizer::new(Matrix::builtin(), set),
        Err(e) => {
            println!("{e}");
            return;
        }
    };
    let req = RequestAttrs { ip: Some("192.0.2.7".into()), method: "GET".into(), mfa: true };
    let pm = subject("pm-1", Role::ProjectManager);
    let dev = subject("0190b6f0-0000-7000-8000-000000000003", Role::Developer);
    let auditor = subject("aud-1", Role::Auditor);
    let outsider = subject("dev-9", Role::Developer);
    let own = Target::Project(project("pm-1", 20));
    let task = Target::Task(TaskAttrs {
        id: "t-1".into(),
        assignee_id: Some("someone-else".into()),
        status: "in_progress".into(),
        project: project("pm-1", 20),
    });
    let audit = Target::Type(ResourceType::Audit);
    let cases: Vec<(&str, &Authorizer, &Subject, Permission, &Target, bool)> = vec![
        ("pm reads own project (20 members)", &authz, &pm, Permission::PROJECTS_READ, &own, true),
        ("developer updates a task (member)", &authz, &dev, Permission::TASKS_UPDATE, &task, true),
        ("auditor reads a project", &authz, &auditor, Permission::PROJECTS_READ, &own, true),
        ("developer reads a foreign project (denied)", &authz, &outsider, Permission::PROJECTS_READ, &own, false),
        ("auditor reads the audit trail (type)", &authz, &auditor, Permission::AUDIT_READ, &audit, true),
        ("pm updates own project, + budget deny policy", &with_deny, &pm, Permission::PROJECTS_UPDATE, &own, true),
    ];
    println!("decide(): {ROUNDS} rounds per case, goal median <= {GOAL_US} us");
    println!("{:<45} {:>10} {:>10} {:>8}", "case", "median us", "p99 us", "goal/med");
    let mut worst: f64 = 0.0;
    for (name, authz, who, perm, target, expect) in cases {
        assert_eq!(authz.decide(who, perm, target, &req).allowed, expect, "{name}");
        for _ in 0..1_000 {
            black_box(authz.decide(who, perm, target, &req));
        }
        let mut times = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let start = Instant::now();
            black_box(authz.decide(black_box(who), perm, black_box(target), &req));
            times.push(start.elapsed());
        }
        times.sort();
        let (median, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
        worst = worst.max(median);
        println!("{name:<45} {median:>10.2} {p99:>10.2} {:>7.1}x", GOAL_US / median);
    }
    println!("worst median {worst:.2} us: {}", if worst <= GOAL_US { "within the goal" } else { "ABOVE the goal" });
}
