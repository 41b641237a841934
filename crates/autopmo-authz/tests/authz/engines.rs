//! `decide` evaluates the policies' conditions itself; `decide_with_cedar`
//! has Cedar evaluate their compiled form. The two must make the same
//! decision (answer, reason, deciding policies) for every policy file,
//! subject, target and request: checked here on the default policies and on
//! thousands of random ones, for every resource type.

use autopmo_authz::{
    ApprovalAttrs, Authorizer, Decision, Matrix, Permission, PolicySet, ProjectAttrs, RequestAttrs, ResourceType,
    Subject, Target, TaskAttrs,
};
use autopmo_domain::Role;

use crate::helpers::*;

const USERS: [&str; 4] = ["u1", "u2", "u3", "u4"];
/// Budgets as stored (up to a currency's 3 places, and beyond Cedar's 4).
const BUDGETS: [&str; 10] = [
    "0",
    "-0",
    "999999.99",
    "1000000",
    "1000000.00005",
    "1000000.00015",
    "1000000.5",
    "2500000",
    "-3.14159",
    "99999999999999999",
];
/// Literals in conditions (at most 4 places, within Cedar's range).
const LITERALS: [&str; 8] =
    ["0", "-0.5", "999999.99", "1000000", "1000000.0001", "2500000", "922337203685477", "-922337203685477"];
/// A name with what string literals must escape (a quote, a backslash, a
/// tab) and a letter beyond ASCII, as held and as written in a condition.
const ODD_NAME: &str = "q\"u\\o\t\u{e9}-name";
const ODD_LITERAL: &str = r#""q\"u\\o\té-name""#;
/// Member ids that equal other values of a request.
const ODD_MEMBERS: [&str; 4] = ["", "active", "GET", "u1-name"];
const STATUSES: [&str; 4] = ["active", "on_hold", "todo", "pending"];

/// Which attributes a condition may read, by the types its policy names.
#[derive(Clone, Copy)]
struct Reads {
    project: bool,
    task: bool,
    approval: bool,
}

/// The `types:` of a random policy, what its conditions may read, and the
/// `actions:` lists that fit it.
const GROUPS: [(&str, Reads, &[&str]); 8] = [
    ("[project, report]", Reads { project: true, task: false, approval: false }, &["[generate, delete]"]),
    ("[project]", Reads { project: true, task: false, approval: false }, &["[read, update]", "[delete]"]),
    ("[task]", Reads { project: true, task: true, approval: false }, &["[update, assign]", "[read]"]),
    ("[report]", Reads { project: true, task: false, approval: false }, &["[generate]"]),
    ("[approval]", Reads { project: true, task: false, approval: true }, &["[decide, read]"]),
    ("[project, task, report, approval]", Reads { project: true, task: false, approval: false }, &["[read]"]),
    ("[audit, agent, model]", Reads { project: false, task: false, approval: false }, &["[read]"]),
    ("[\"*\"]", Reads { project: false, task: false, approval: false }, &["[read]"]),
];

fn atom(rng: &mut Rng, reads: Reads) -> String {
    let user = *rng.pick(&USERS);
    let status = *rng.pick(&STATUSES);
    let op = *rng.pick(&["==", "!=", "<", "<=", ">", ">="]);
    let literal = *rng.pick(&LITERALS);
    let mut atoms = vec![
        "request.mfa".to_owned(),
        format!("request.method == \"{}\"", rng.pick(&["GET", "PATCH"])),
        format!("request.ip {} \"\"", rng.pick(&["==", "!="])),
        format!("\"{}\" in user.roles", rng.pick(Role::ALL).as_str()),
        format!("user.username == \"{user}-name\""),
        format!("user.id != \"{user}\""),
        rng.pick(&["true", "false"]).to_string(),
        format!("request.mfa == (user.id == \"{user}\")"),
        format!("user.id in [\"{user}\", \"u9\"]"),
        format!("user.username == {ODD_LITERAL}"),
        format!("user.username in [{ODD_LITERAL}, \"u2-name\"]"),
    ];
    if reads.project {
        atoms.extend([
            "project.owner_id == user.id".to_owned(),
            "user.id in project.member_ids".to_owned(),
            format!("\"{user}\" in project.member_ids"),
            format!("project.budget {op} {literal}"),
            format!("{literal} {op} project.budget"),
            format!("project.budget {op} project.budget"),
            format!("project.status in [\"{status}\", \"on_hold\"]"),
            format!("project.currency == \"{}\"", rng.pick(&["USD", "EUR"])),
            "project.owner_id in project.member_ids".to_owned(),
            "request.method in project.member_ids".to_owned(),
            "request.ip in project.member_ids".to_owned(),
            "user.username in project.member_ids".to_owned(),
            "project.status in project.member_ids".to_owned(),
        ]);
    }
    if reads.task {
        atoms.extend([
            "task.assignee_id == user.id".to_owned(),
            "task.assignee_id == \"\"".to_owned(),
            "task.assignee_id in project.member_ids".to_owned(),
            format!("task.status != \"{status}\""),
            "task.id in project.member_ids".to_owned(),
        ]);
    }
    if reads.approval {
        atoms.extend([
            "approval.requester_id == user.id".to_owned(),
            format!("approval.status == \"{status}\""),
            "approval.requester_id != project.owner_id".to_owned(),
            "approval.requester_id in project.member_ids".to_owned(),
        ]);
    }
    let i = rng.below(atoms.len());
    atoms.swap_remove(i)
}

fn condition(rng: &mut Rng, reads: Reads, depth: usize) -> String {
    if depth == 0 || rng.chance(40) {
        return atom(rng, reads);
    }
    match rng.below(3) {
        0 => format!("({} and {})", condition(rng, reads, depth - 1), condition(rng, reads, depth - 1)),
        1 => format!("({} or {})", condition(rng, reads, depth - 1), condition(rng, reads, depth - 1)),
        _ => format!("not ({})", condition(rng, reads, depth - 1)),
    }
}

fn random_policies(rng: &mut Rng) -> String {
    let mut yaml = String::from("policies:\n");
    for i in 0..1 + rng.below(6) {
        let (types, reads, actions) = *rng.pick(&GROUPS);
        let actions = if rng.chance(40) { "[\"*\"]" } else { *rng.pick(actions) };
        yaml.push_str(&random_policy(rng, i, types, actions, |rng| condition(rng, reads, 3)));
    }
    yaml
}

/// Every role holds every permission: the policies alone decide.
fn open_matrix() -> Matrix {
    let all: Vec<String> = Permission::catalog().iter().map(|p| format!("\"{p}\"")).collect();
    let toml: String =
        Role::ALL.iter().map(|r| format!("{} = [{}]\n", r.as_str(), all.join(", "))).collect::<Vec<_>>().concat();
    Matrix::from_toml(&format!("[roles]\n{toml}")).unwrap()
}

fn random_project(rng: &mut Rng) -> ProjectAttrs {
    let mut members: Vec<&str> = USERS.iter().copied().filter(|_| rng.chance(40)).collect();
    if rng.chance(30) {
        members.push(*rng.pick(&ODD_MEMBERS));
    }
    let (id, owner) = (*rng.pick(&["p1", "u2"]), *rng.pick(&USERS));
    let mut p = project(id, owner, &members);
    p.budget = rng.pick(&BUDGETS).parse().unwrap();
    p.status = rng.pick(&STATUSES).to_string();
    p.currency = rng.pick(&["USD", "EUR"]).to_string();
    p
}

/// A target of type `t`; now and then one without attributes
/// (`Target::Type`), which policies about its attributes cannot evaluate.
fn random_target(rng: &mut Rng, t: ResourceType) -> Target {
    let p = random_project(rng);
    if rng.chance(5) {
        return Target::Type(t);
    }
    match t {
        ResourceType::Project => Target::Project(p),
        ResourceType::Report => Target::Report(p),
        ResourceType::Task => Target::Task(TaskAttrs {
            id: rng.pick(&["t-1", "u1"]).to_string(),
            assignee_id: rng.chance(70).then(|| rng.pick(&USERS).to_string()),
            status: rng.pick(&STATUSES).to_string(),
            project: p,
        }),
        ResourceType::Approval => Target::Approval(ApprovalAttrs {
            id: "a-1".into(),
            requester_id: rng.pick(&USERS).to_string(),
            status: rng.pick(&STATUSES).to_string(),
            project: rng.chance(70).then_some(p),
        }),
        other => Target::Type(other),
    }
}

fn random_subject(rng: &mut Rng) -> Subject {
    let roles: Vec<Role> = Role::ALL.iter().copied().filter(|_| rng.chance(35)).collect();
    let id = *rng.pick(&USERS);
    let mut who = subject(id, &roles);
    if id == "u4" {
        who.username = ODD_NAME.to_owned();
    }
    who
}

fn random_request(rng: &mut Rng) -> RequestAttrs {
    RequestAttrs {
        ip: rng.pick(&[None, Some(""), Some("10.0.0.1")]).map(str::to_owned),
        method: rng.pick(&["GET", "PATCH", "DELETE"]).to_string(),
        mfa: rng.chance(50),
    }
}

/// The parts of a decision both engines must agree on: not its id, and not
/// the wording of an evaluation error, only whether there was one.
fn outcome(d: &Decision) -> (bool, &'static str, &[String], bool, bool) {
    (d.allowed, d.reason.as_str(), &d.policies, d.matrix_granted, d.errors.is_empty())
}

fn assert_same(authz: &Authorizer, who: &Subject, permission: Permission, target: &Target, request: &RequestAttrs) {
    let native = authz.decide(who, permission, target, request);
    let cedar = authz.decide_with_cedar(who, permission, target, request);
    assert_eq!(
        outcome(&native),
        outcome(&cedar),
        "\n{}\nsubject {who:?}\nrequest {request:?}\n{permission} on {target:?}",
        authz.policies().source()
    );
}

#[test]
fn the_default_policies_decide_alike() {
    let authz = Authorizer::builtin();
    let mut rng = Rng(0x5EED_0000_DEC1_DE00);
    for _ in 0..2_000 {
        let who = random_subject(&mut rng);
        let permission = *rng.pick(&Permission::catalog());
        let target = random_target(&mut rng, permission.resource);
        let request = random_request(&mut rng);
        assert_same(&authz, &who, permission, &target, &request);
    }
}

#[test]
fn random_policies_decide_alike() {
    let mut rng = Rng(0x5EED_CAFE_F00D_0002);
    let matrix = open_matrix();
    let catalog = Permission::catalog();
    let (mut checked, mut allowed, mut denied_by_policy) = (0, 0, 0);
    for _ in 0..300 {
        let yaml = random_policies(&mut rng);
        let policies = PolicySet::parse("random.yaml", &yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let authz = Authorizer::new(matrix.clone(), policies);
        for _ in 0..30 {
            let who = random_subject(&mut rng);
            let permission = *rng.pick(&catalog);
            let target = random_target(&mut rng, permission.resource);
            let request = random_request(&mut rng);
            assert_same(&authz, &who, permission, &target, &request);
            let d = authz.decide(&who, permission, &target, &request);
            checked += 1;
            allowed += usize::from(d.allowed);
            denied_by_policy += usize::from(d.reason == autopmo_authz::Reason::DeniedByPolicy);
        }
    }
    assert_eq!(checked, 9_000);
    // Every outcome is well represented.
    assert!(allowed > 900 && allowed < 8_100, "{allowed} of {checked} allowed");
    assert!(denied_by_policy > 300, "{denied_by_policy} of {checked} denied by a deny policy");
}
