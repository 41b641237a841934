//! Policy conditions (`autopmo_authz`'s expression language) through a
//! whole policy file: `PolicySet::parse` lexes, parses and type-checks the
//! condition, compiles it to Cedar and validates that against the schema.
//! Conditions come either as arbitrary text or generated from the grammar
//! (so that most of them are well-typed and reach the compiler and the
//! decision).
//!
//! Properties beyond "never panics":
//! - a condition that parses and type-checks always compiles to valid Cedar
//!   (an error "does not compile to valid Cedar" is a compiler bug);
//! - for projects, the list filter agrees with the per-item decision, as
//!   `Authorizer::project_scope` documents: `scope.matches(p)` ==
//!   `decide(…, Target::Project(p), …).allowed`;
//! - `Scope::simplify` does not change which projects match;
//! - `decide`, which evaluates the conditions itself, makes the decision
//!   Cedar makes on the compiled policies (`decide_with_cedar`), for the
//!   project and, when the policies are about every type with a project,
//!   for a task, a report and an approval in it and an approval without one.
#![no_main]

use arbitrary::Arbitrary;
use std::sync::LazyLock;

use autopmo_authz::{
    Action, ApprovalAttrs, Authorizer, Decision, Matrix, Permission, PolicySet, ProjectAttrs, RequestAttrs,
    ResourceType, Subject, Target, TaskAttrs,
};
use autopmo_domain::Role;
use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;

const USER: &str = "01a24399-b256-74f1-8991-75deca02e9c6";
const OTHER: &str = "01a24399-b335-70ef-8850-446696923e00";
const PROJECT: &str = "01a2439a-d328-7402-bab3-7ef8de77db9b";

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Attr {
    UserId,
    UserUsername,
    UserRoles,
    ProjectId,
    ProjectOwnerId,
    ProjectStatus,
    ProjectCurrency,
    ProjectBudget,
    ProjectMemberIds,
    RequestIp,
    RequestMethod,
    RequestMfa,
}

impl Attr {
    fn name(self) -> &'static str {
        match self {
            Self::UserId => "user.id",
            Self::UserUsername => "user.username",
            Self::UserRoles => "user.roles",
            Self::ProjectId => "project.id",
            Self::ProjectOwnerId => "project.owner_id",
            Self::ProjectStatus => "project.status",
            Self::ProjectCurrency => "project.currency",
            Self::ProjectBudget => "project.budget",
            Self::ProjectMemberIds => "project.member_ids",
            Self::RequestIp => "request.ip",
            Self::RequestMethod => "request.method",
            Self::RequestMfa => "request.mfa",
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Str {
    User,
    Other,
    Project,
    Active,
    Usd,
    Jpy,
    Get,
    Role,
    Any(String),
}

impl Str {
    fn text(&self) -> String {
        let s = match self {
            Self::User => USER,
            Self::Other => OTHER,
            Self::Project => PROJECT,
            Self::Active => "active",
            Self::Usd => "USD",
            Self::Jpy => "JPY",
            Self::Get => "GET",
            Self::Role => "project_manager",
            Self::Any(s) => s,
        };
        let mut out = String::from('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}

#[derive(Arbitrary, Debug)]
enum Operand {
    Attr(Attr),
    Str(Str),
    /// A decimal: mantissa and scale (0–4 places).
    Num(i32, u8),
    Bool(bool),
    Set(Vec<Str>),
}

impl Operand {
    fn text(&self) -> String {
        match self {
            Self::Attr(a) => a.name().to_owned(),
            Self::Str(s) => s.text(),
            Self::Num(m, scale) => Decimal::new(i64::from(*m), u32::from(*scale % 5)).to_string(),
            Self::Bool(b) => b.to_string(),
            Self::Set(items) if items.is_empty() => "[\"x\"]".to_owned(),
            Self::Set(items) => format!("[{}]", items.iter().map(Str::text).collect::<Vec<_>>().join(", ")),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

#[derive(Arbitrary, Debug)]
enum Ast {
    Cmp(Operand, Op, Operand),
    Operand(Operand),
    And(Box<Ast>, Box<Ast>),
    Or(Box<Ast>, Box<Ast>),
    Not(Box<Ast>),
}

impl Ast {
    fn text(&self) -> String {
        match self {
            Self::Cmp(a, op, b) => {
                let op = match op {
                    Op::Eq => "==",
                    Op::Ne => "!=",
                    Op::Lt => "<",
                    Op::Le => "<=",
                    Op::Gt => ">",
                    Op::Ge => ">=",
                    Op::In => "in",
                };
                format!("{} {op} {}", a.text(), b.text())
            }
            Self::Operand(o) => o.text(),
            Self::And(a, b) => format!("({}) and ({})", a.text(), b.text()),
            Self::Or(a, b) => format!("({}) or ({})", a.text(), b.text()),
            Self::Not(a) => format!("not ({})", a.text()),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Condition {
    Text(String),
    Grammar(Ast),
}

#[derive(Arbitrary, Debug)]
struct Project {
    owner_is_user: bool,
    user_is_member: bool,
    other_members: u8,
    /// Minor units and the currency's exponent: what a stored budget can be.
    budget_minor: u64,
    exponent: u8,
    status: u8,
    currency: u8,
}

impl Project {
    fn attrs(&self) -> ProjectAttrs {
        let statuses = ["planning", "active", "on_hold", "completed", "cancelled"];
        let currencies = ["USD", "EUR", "JPY", "BHD", "GBP"];
        let mut member_ids: Vec<String> =
            (0..self.other_members % 4).map(|i| format!("01a24399-0000-7000-8000-{i:012}")).collect();
        if self.user_is_member {
            member_ids.push(USER.to_owned());
        }
        let exponent = u32::from(self.exponent % 4);
        let max_minor = 100_000_000_000_000u64 * 10u64.pow(exponent);
        let minor = i64::try_from(self.budget_minor % (max_minor + 1)).unwrap_or(0);
        ProjectAttrs {
            id: PROJECT.into(),
            owner_id: if self.owner_is_user { USER.into() } else { OTHER.into() },
            budget: Decimal::new(minor, exponent),
            currency: currencies[usize::from(self.currency) % currencies.len()].into(),
            status: statuses[usize::from(self.status) % statuses.len()].into(),
            member_ids,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    condition: Condition,
    /// The fuzzed policy denies (next to an allow-all) instead of allowing.
    deny: bool,
    /// The policies are about projects, tasks, reports and approvals.
    every_type: bool,
    any_role: bool,
    mfa: bool,
    ip: Option<String>,
    projects: Vec<Project>,
}

fn yaml_string(s: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar.
    serde_json::to_string(s).expect("a string serializes")
}

/// A project manager holds every permission: the policies alone decide.
static OPEN: LazyLock<Matrix> = LazyLock::new(|| {
    let all: Vec<String> = Permission::catalog().iter().map(|p| format!("\"{p}\"")).collect();
    Matrix::from_toml(&format!("[roles]\nproject_manager = [{}]\n", all.join(", "))).expect("the open matrix loads")
});

/// `decide` and `decide_with_cedar` agree (not on the wording of an error).
fn same_decision(
    authz: &Authorizer,
    subject: &Subject,
    permission: Permission,
    target: &Target,
    r: &RequestAttrs,
) -> Decision {
    let decision = authz.decide(subject, permission, target, r);
    let cedar = authz.decide_with_cedar(subject, permission, target, r);
    assert_eq!(
        (decision.allowed, decision.reason, &decision.policies, decision.errors.is_empty()),
        (cedar.allowed, cedar.reason, &cedar.policies, cedar.errors.is_empty()),
        "decide and Cedar disagree on {permission} for {target:?}"
    );
    decision
}

fuzz_target!(|input: Input| {
    let condition = match &input.condition {
        Condition::Text(t) => t.clone(),
        Condition::Grammar(ast) => ast.text(),
    };
    let roles = if input.any_role { "[\"*\"]" } else { "[project_manager]" };
    let types = if input.every_type { "[project, task, report, approval]" } else { "[project]" };
    let mut yaml = String::from("policies:\n");
    if input.deny {
        yaml.push_str(&format!(
            "  - name: base\n    description: everyone reads\n    effect: allow\n    subjects:\n      roles: [\"*\"]\n    \
             resources:\n      types: {types}\n    actions: [read]\n",
        ));
    }
    yaml.push_str(&format!(
        "  - name: fuzzed\n    description: the fuzzed condition\n    effect: {}\n    subjects:\n      roles: {roles}\n    \
         resources:\n      types: {types}\n    conditions:\n      - {}\n    actions: [read]\n",
        if input.deny { "deny" } else { "allow" },
        yaml_string(&condition),
    ));
    let set = match PolicySet::parse("fuzz.yaml", &yaml) {
        Ok(set) => set,
        Err(errors) => {
            let shown = errors.to_string();
            assert!(
                !shown.contains("does not compile to valid Cedar"),
                "a condition that type-checks did not compile: {condition:?}\n{shown}"
            );
            return;
        }
    };
    let authz = Authorizer::new(OPEN.clone(), set);
    let subject = Subject { id: USER.into(), username: "alice".into(), roles: vec![Role::ProjectManager] };
    let request = RequestAttrs { ip: input.ip.clone(), method: "GET".into(), mfa: input.mfa };
    let scope = authz.project_scope(&subject, Permission::PROJECTS_READ, &request);
    let simple = scope.clone().simplify();
    for p in input.projects.iter().take(8) {
        let p = p.attrs();
        let decision =
            same_decision(&authz, &subject, Permission::PROJECTS_READ, &Target::Project(p.clone()), &request);
        if input.every_type {
            let read = |t| Permission::new(t, Action::Read);
            let task = TaskAttrs {
                id: PROJECT.into(),
                assignee_id: p.member_ids.first().cloned(),
                status: p.status.clone(),
                project: p.clone(),
            };
            let approval = |project| ApprovalAttrs {
                id: OTHER.into(),
                requester_id: p.owner_id.clone(),
                status: "pending".into(),
                project,
            };
            same_decision(&authz, &subject, read(ResourceType::Task), &Target::Task(task), &request);
            same_decision(&authz, &subject, read(ResourceType::Report), &Target::Report(p.clone()), &request);
            for project in [Some(p.clone()), None] {
                same_decision(
                    &authz,
                    &subject,
                    read(ResourceType::Approval),
                    &Target::Approval(approval(project)),
                    &request,
                );
            }
        }
        assert_eq!(
            scope.matches(&p),
            decision.allowed,
            "list scope and decision disagree on {p:?}\ncondition: {condition}\nscope: {scope:?}\ndecision: {decision:?}"
        );
        assert_eq!(simple.matches(&p), scope.matches(&p), "simplify changed the scope {scope:?} -> {simple:?}");
    }
});
