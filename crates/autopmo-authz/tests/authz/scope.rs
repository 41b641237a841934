//! List scopes: what they say for the default policies, and that they agree
//! with `decide` for random policies, subjects and projects.

use autopmo_authz::{
    Authorizer, CmpOp, Matrix, Permission, PolicySet, ProjectAttrs, ProjectField, RequestAttrs, Scope, Subject, Target,
};
use autopmo_domain::Role;
use rust_decimal::Decimal;

use crate::helpers::*;

#[test]
fn default_scopes() {
    let authz = Authorizer::builtin();
    let read = |s: &Subject| authz.project_scope(s, Permission::PROJECTS_READ, &get());
    assert_eq!(
        read(&subject("pm", &[Role::ProjectManager])),
        Scope::Or(vec![Scope::OwnerIs("pm".into()), Scope::MemberIs("pm".into())])
    );
    assert_eq!(read(&subject("dev", &[Role::Developer])), Scope::MemberIs("dev".into()));
    assert_eq!(read(&subject("aud", &[Role::Auditor])), Scope::All);
    assert_eq!(read(&subject("root", &[Role::SystemAdmin])), Scope::All);
    assert_eq!(read(&subject("aud", &[Role::Auditor, Role::Developer])), Scope::All);
    assert_eq!(read(&subject("nobody", &[])), Scope::Nothing);
    let sh = subject("sh", &[Role::Stakeholder]);
    assert_eq!(authz.project_scope(&sh, Permission::PROJECTS_UPDATE, &get()), Scope::Nothing);
    let pm = subject("pm", &[Role::ProjectManager]);
    assert_eq!(authz.project_scope(&pm, Permission::PROJECTS_UPDATE, &get()), Scope::OwnerIs("pm".into()));
    assert_eq!(authz.project_scope(&pm, Permission::TASKS_UPDATE, &get()), Scope::Nothing);
}

#[test]
fn denies_narrow_scopes() {
    let authz = with_policies(
        "
  - name: no_big_budgets_without_mfa
    description: test
    effect: deny
    subjects:
      roles: [\"*\"]
    resources:
      types: [project]
    conditions:
      - project.budget >= 1000000
      - not request.mfa
    actions: [read]
",
    );
    let pm = subject("pm", &[Role::ProjectManager]);
    let without = authz.project_scope(&pm, Permission::PROJECTS_READ, &with_mfa(false));
    assert_eq!(
        without,
        Scope::And(vec![
            Scope::Or(vec![Scope::OwnerIs("pm".into()), Scope::MemberIs("pm".into())]),
            Scope::Not(Box::new(Scope::Budget(CmpOp::Ge, Decimal::from(1_000_000)))),
        ])
    );
    let with = authz.project_scope(&pm, Permission::PROJECTS_READ, &with_mfa(true));
    assert_eq!(with, Scope::Or(vec![Scope::OwnerIs("pm".into()), Scope::MemberIs("pm".into())]));
}

#[test]
fn scope_matches_projects() {
    let p = project("p1", "pm", &["dev", "pm"]);
    assert!(Scope::FieldEq(ProjectField::OwnerId, ProjectField::OwnerId).matches(&p));
    assert!(Scope::MemberField(ProjectField::OwnerId).matches(&p));
    assert!(!Scope::MemberField(ProjectField::Id).matches(&p));
    assert!(Scope::Budget(CmpOp::Lt, Decimal::from(250_001)).matches(&p));
    assert!(!Scope::Budget(CmpOp::Gt, Decimal::from(250_000)).matches(&p));
    assert!(Scope::And(vec![Scope::Currency("USD".into()), Scope::StatusIs("active".into())]).matches(&p));
    assert!(!Scope::Or(vec![Scope::IdIs("p2".into()), Scope::Nothing]).matches(&p));
}

const USERS: [&str; 4] = ["u1", "u2", "u3", "u4"];
const BUDGETS: [&str; 5] = ["0", "999999.99", "1000000", "1000000.5", "2500000"];
const STATUSES: [&str; 3] = ["active", "on_hold", "proposed"];

fn atom(rng: &mut Rng) -> String {
    let user = rng.pick(&USERS).to_owned();
    let budget = rng.pick(&BUDGETS).to_owned();
    let status = rng.pick(&STATUSES).to_owned();
    let op = rng.pick(&["==", "!=", "<", "<=", ">", ">="]).to_owned();
    match rng.below(17) {
        0 => "project.owner_id == user.id".into(),
        1 => format!("project.owner_id != \"{user}\""),
        2 => "user.id in project.member_ids".into(),
        3 => format!("\"{user}\" in project.member_ids"),
        4 => format!("project.budget {op} {budget}"),
        5 => format!("{budget} {op} project.budget"),
        6 => format!("project.status in [\"{status}\", \"on_hold\"]"),
        7 => format!("project.currency == \"{}\"", rng.pick(&["USD", "EUR"])),
        8 => "project.owner_id in project.member_ids".into(),
        9 => "project.id == project.owner_id".into(),
        10 => "request.mfa".into(),
        11 => format!("request.method == \"{}\"", rng.pick(&["GET", "POST"])),
        12 => format!("\"{}\" in user.roles", rng.pick(Role::ALL).as_str()),
        13 => format!("user.username {} \"{user}-name\"", rng.pick(&["==", "!="])),
        14 => rng.pick(&["true", "false"]).to_string(),
        15 => format!("request.mfa == (project.status == \"{status}\")"),
        _ => format!("project.budget {op} project.budget"),
    }
}

fn condition(rng: &mut Rng, depth: usize) -> String {
    if depth == 0 || rng.chance(40) {
        return atom(rng);
    }
    match rng.below(3) {
        0 => format!("({} and {})", condition(rng, depth - 1), condition(rng, depth - 1)),
        1 => format!("({} or {})", condition(rng, depth - 1), condition(rng, depth - 1)),
        _ => format!("not ({})", condition(rng, depth - 1)),
    }
}

fn random_policies(rng: &mut Rng) -> String {
    let mut yaml = String::from("policies:\n");
    for i in 0..1 + rng.below(5) {
        let types = *rng.pick(&["[project]", "[project, task]", "[project, report]"]);
        let actions = *rng.pick(&["[read]", "[read, update]", "[\"*\"]", "[update]"]);
        yaml.push_str(&random_policy(rng, i, types, actions, |rng| condition(rng, 3)));
    }
    yaml
}

fn random_subject(rng: &mut Rng) -> Subject {
    let roles: Vec<Role> = Role::ALL.iter().copied().filter(|_| rng.chance(30)).collect();
    let id = *rng.pick(&USERS);
    subject(id, &roles)
}

fn random_project(rng: &mut Rng) -> ProjectAttrs {
    let members: Vec<&str> = USERS.iter().copied().filter(|_| rng.chance(40)).collect();
    let (id, owner) = (*rng.pick(&["p1", "u2"]), *rng.pick(&USERS));
    let mut p = project(id, owner, &members);
    p.budget = rng.pick(&BUDGETS).parse().unwrap();
    p.status = rng.pick(&STATUSES).to_string();
    p.currency = rng.pick(&["USD", "EUR"]).to_string();
    p
}

#[test]
fn scopes_agree_with_decisions() {
    let mut rng = Rng(0x5EED_CAFE_F00D_0001);
    let (mut checked, mut allowed) = (0, 0);
    for _ in 0..150 {
        let yaml = random_policies(&mut rng);
        let policies = PolicySet::parse("random.yaml", &yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let authz = Authorizer::new(Matrix::builtin(), policies);
        for _ in 0..6 {
            let who = random_subject(&mut rng);
            let request =
                RequestAttrs { ip: None, method: rng.pick(&["GET", "POST"]).to_string(), mfa: rng.chance(50) };
            for permission in [Permission::PROJECTS_READ, Permission::PROJECTS_UPDATE] {
                let scope = authz.project_scope(&who, permission, &request);
                for _ in 0..5 {
                    let p = random_project(&mut rng);
                    let d = authz.decide(&who, permission, &Target::Project(p.clone()), &request);
                    assert!(d.errors.is_empty(), "{:?}", d.errors);
                    assert_eq!(
                        scope.matches(&p),
                        d.allowed,
                        "\n{yaml}\nsubject {who:?}\nrequest {request:?}\n{permission} on {p:?}\nscope {scope:?}\n{d:?}"
                    );
                    checked += 1;
                    allowed += usize::from(d.allowed);
                }
            }
        }
    }
    assert_eq!(checked, 9000);
    // Both outcomes are well represented.
    assert!(allowed > 900 && allowed < 8100, "{allowed} of {checked} allowed");
}
