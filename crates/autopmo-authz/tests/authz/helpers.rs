//! Builders for subjects, targets and requests.

use autopmo_authz::{
    ApprovalAttrs, Authorizer, Matrix, PolicySet, ProjectAttrs, RequestAttrs, ResourceType, Subject, Target, TaskAttrs,
};
use autopmo_domain::Role;
use rust_decimal::Decimal;

pub fn subject(id: &str, roles: &[Role]) -> Subject {
    Subject { id: id.into(), username: format!("{id}-name"), roles: roles.to_vec() }
}

pub fn project(id: &str, owner: &str, members: &[&str]) -> ProjectAttrs {
    ProjectAttrs {
        id: id.into(),
        owner_id: owner.into(),
        budget: Decimal::new(25_000_000, 2),
        currency: "USD".into(),
        status: "active".into(),
        member_ids: members.iter().map(|m| (*m).to_owned()).collect(),
    }
}

pub fn task(assignee: Option<&str>, project: ProjectAttrs) -> TaskAttrs {
    TaskAttrs { id: "t-1".into(), assignee_id: assignee.map(str::to_owned), status: "todo".into(), project }
}

pub fn approval(requester: &str, project: Option<ProjectAttrs>) -> ApprovalAttrs {
    ApprovalAttrs { id: "a-1".into(), requester_id: requester.into(), status: "pending".into(), project }
}

pub fn get() -> RequestAttrs {
    RequestAttrs { ip: Some("127.0.0.1".into()), method: "GET".into(), mfa: false }
}

pub fn with_mfa(mfa: bool) -> RequestAttrs {
    RequestAttrs { ip: None, method: "DELETE".into(), mfa }
}

/// A target of type `t` that `me` owns, belongs to, is assigned or requested.
pub fn mine(t: ResourceType, me: &str) -> Target {
    let p = project("p-mine", me, &[me, "someone"]);
    match t {
        ResourceType::Project => Target::Project(p),
        ResourceType::Task => Target::Task(task(Some(me), p)),
        ResourceType::Report => Target::Report(p),
        ResourceType::Approval => Target::Approval(approval(me, Some(p))),
        other => Target::Type(other),
    }
}

/// A target of type `t` that has nothing to do with `me`.
pub fn foreign(t: ResourceType) -> Target {
    let p = project("p-other", "other-pm", &["other-pm", "other-dev"]);
    match t {
        ResourceType::Project => Target::Project(p),
        ResourceType::Task => Target::Task(task(Some("other-dev"), p)),
        ResourceType::Report => Target::Report(p),
        ResourceType::Approval => Target::Approval(approval("other-pm", Some(p))),
        other => Target::Type(other),
    }
}

/// The default policies plus `extra` (YAML items of `policies:`).
pub fn with_policies(extra: &str) -> Authorizer {
    let yaml = format!("{}{extra}", PolicySet::builtin_source());
    Authorizer::new(Matrix::builtin(), PolicySet::parse("test.yaml", &yaml).unwrap_or_else(|e| panic!("{e}")))
}

/// A small deterministic generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// The YAML of one random policy, `p{i}`, about `types` and `actions`: any
/// role (a quarter of the time) or one to three roles, allow (70 %) or deny,
/// and up to two conditions made by `condition`.
pub fn random_policy(
    rng: &mut Rng,
    i: usize,
    types: &str,
    actions: &str,
    mut condition: impl FnMut(&mut Rng) -> String,
) -> String {
    let roles: Vec<&str> = if rng.chance(25) {
        vec!["\"*\""]
    } else {
        (0..1 + rng.below(3))
            .map(|_| rng.pick(Role::ALL).as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let effect = if rng.chance(70) { "allow" } else { "deny" };
    let mut yaml = format!(
        "  - name: p{i}\n    effect: {effect}\n    subjects:\n      roles: [{}]\n    resources:\n      types: {types}\n    actions: {actions}\n    conditions:\n",
        roles.join(", ")
    );
    for _ in 0..rng.below(3) {
        yaml.push_str(&format!("      - '{}'\n", condition(rng)));
    }
    yaml
}
