//! The decision point: [`Authorizer::decide`] and
//! [`Authorizer::project_scope`].

use std::fmt::Write as _;

use autopmo_domain::Role;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::cedar;
use crate::entities::Names;
use crate::evaluate::Facts;
use crate::matrix::Matrix;
use crate::permission::{Permission, ResourceType};
use crate::policy::{Effect, PolicySet};
use crate::scope::{self, Scope};

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The user id (`user.id`).
    pub id: String,
    /// The username (`user.username`).
    pub username: String,
    /// The roles the user holds (`user.roles`); none means nothing is allowed.
    pub roles: Vec<Role>,
}

/// The attributes of a project (`project.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectAttrs {
    /// `project.id`
    pub id: String,
    /// `project.owner_id`: the managing user's id.
    pub owner_id: String,
    /// `project.budget` in major units (`1250000.50`), whatever the currency.
    pub budget: Decimal,
    /// `project.currency` (ISO 4217).
    pub currency: String,
    /// `project.status` (`active`, …).
    pub status: String,
    /// `project.member_ids`: the users who belong to the project, of any member kind.
    pub member_ids: Vec<String>,
}

/// The attributes of a task (`task.*`; its project is `project.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskAttrs {
    /// `task.id`
    pub id: String,
    /// `task.assignee_id` (`""` in conditions when unassigned).
    pub assignee_id: Option<String>,
    /// `task.status`
    pub status: String,
    /// The task's project.
    pub project: ProjectAttrs,
}

/// The attributes of an approval request (`approval.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalAttrs {
    /// `approval.id`
    pub id: String,
    /// `approval.requester_id`
    pub requester_id: String,
    /// `approval.status`
    pub status: String,
    /// The project it concerns, if any (`project.*`; a condition about the
    /// project is false when there is none).
    pub project: Option<ProjectAttrs>,
}

/// What the decision is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// "may the subject do this to some resource of the type" (list, create before the new resource exists):
    /// RBAC matrix only; ABAC is applied per item by the caller (scope() for lists, decide() on the new resource for creates).
    Collection(ResourceType),
    /// A type-level resource with no attributes (audit log, policies, user administration, agents, models):
    /// matrix AND Cedar, resource entity `<Type>::"*"` without attributes.
    Type(ResourceType),
    /// A project.
    Project(ProjectAttrs),
    /// A task (with its project).
    Task(TaskAttrs),
    /// A report about a project (resource type report; `project.*` refers to that project).
    Report(ProjectAttrs),
    /// A budget approval request.
    Approval(ApprovalAttrs),
}

impl Target {
    /// The resource type the target is of.
    pub fn resource_type(&self) -> ResourceType {
        match self {
            Self::Collection(t) | Self::Type(t) => *t,
            Self::Project(_) => ResourceType::Project,
            Self::Task(_) => ResourceType::Task,
            Self::Report(_) => ResourceType::Report,
            Self::Approval(_) => ResourceType::Approval,
        }
    }
}

/// About the HTTP request (`request.*`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestAttrs {
    /// The client address (`request.ip`, `""` when unknown).
    pub ip: Option<String>,
    /// The HTTP method, upper-case (`request.method`).
    pub method: String,
    /// Whether a second factor was recently verified (`request.mfa`).
    pub mfa: bool,
}

/// Why a decision came out as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The matrix grants it and a policy allows it; no policy denies it.
    Allowed,
    /// None of the subject's roles holds the permission in the matrix.
    NoRoleGrants,
    /// The matrix grants it, but no allow policy matches (deny by default).
    NoPolicyAllows,
    /// A deny policy matched (or failed to evaluate: deny fails closed).
    DeniedByPolicy,
    /// The target is not of the permission's resource type, or the request
    /// could not be built (see `errors`): refused.
    InvalidRequest,
}

impl Reason {
    /// A stable snake_case name (for audit events).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::NoRoleGrants => "no_role_grants",
            Self::NoPolicyAllows => "no_policy_allows",
            Self::DeniedByPolicy => "denied_by_policy",
            Self::InvalidRequest => "invalid_request",
        }
    }
}

/// The outcome of one authorization decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Unique, time-ordered (UUID v7): the audit event carries it.
    pub id: Uuid,
    /// The answer.
    pub allowed: bool,
    /// What was asked.
    pub permission: Permission,
    /// Whether the matrix granted the permission to one of the roles.
    pub matrix_granted: bool,
    /// The YAML policies that determined the outcome: the allows that
    /// matched (when allowed), the denies that matched (when denied by one).
    pub policies: Vec<String>,
    /// Why.
    pub reason: Reason,
    /// Policy evaluation errors, if any (for the caller to log).
    pub errors: Vec<String>,
}

/// Which evaluator decides the policies.
#[derive(Debug, Clone, Copy)]
enum Engine {
    /// [`crate::evaluate`].
    Native,
    /// Cedar, on the compiled policies.
    Cedar,
}

/// What evaluating the policies of one decision found.
#[derive(Debug, Default)]
pub(crate) struct Verdict {
    /// The allow policies that matched.
    pub(crate) permits: Vec<String>,
    /// The deny policies that matched.
    pub(crate) denies: Vec<String>,
    /// The deny policies that could not be evaluated.
    pub(crate) failed_denies: Vec<String>,
    /// What could not be evaluated, and why.
    pub(crate) errors: Vec<String>,
    /// Whether the engine itself answered allow (given a matching allow).
    pub(crate) engine_allows: bool,
}

impl Verdict {
    /// Deny wins, a deny that could not be evaluated denies (fail closed),
    /// and an allow must have matched.
    fn conclude(self, d: &mut Decision) {
        d.errors.extend(self.errors);
        (d.allowed, d.reason, d.policies) = if !self.denies.is_empty() {
            (false, Reason::DeniedByPolicy, self.denies)
        } else if !self.failed_denies.is_empty() {
            (false, Reason::DeniedByPolicy, self.failed_denies)
        } else if self.engine_allows && !self.permits.is_empty() {
            (true, Reason::Allowed, self.permits)
        } else {
            (false, Reason::NoPolicyAllows, Vec::new())
        };
        d.policies.sort();
        d.policies.dedup();
    }
}

/// The authorization decision point: the matrix and the policies. Immutable
/// once built; `Send + Sync`, share it in an `Arc` and swap it on reload.
#[derive(Debug)]
pub struct Authorizer {
    matrix: Matrix,
    policies: PolicySet,
    names: Result<Names, String>,
    cedar: cedar_policy::Authorizer,
}

impl Authorizer {
    /// An authorizer over `matrix` and `policies`.
    pub fn new(matrix: Matrix, policies: PolicySet) -> Self {
        Self { matrix, policies, names: Names::new(), cedar: cedar_policy::Authorizer::new() }
    }

    /// The built-in matrix and the shipped default policies.
    pub fn builtin() -> Self {
        Self::new(Matrix::builtin(), PolicySet::builtin())
    }

    /// The matrix.
    pub fn matrix(&self) -> &Matrix {
        &self.matrix
    }

    /// The policies.
    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }

    /// Hex SHA-256 of the matrix (canonical form) and the policy source:
    /// audit a reload as old digest → new digest.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"autopmo-authz matrix\n");
        h.update(self.matrix.canonical().as_bytes());
        h.update(b"policies\n");
        h.update(self.policies.source().as_bytes());
        let mut out = String::with_capacity(64);
        for b in h.finalize() {
            let _ = write!(out, "{b:02x}");
        }
        out
    }

    /// Decides whether `subject` may `permission` on `target`: the matrix
    /// must grant it to one of the subject's roles AND (except for
    /// [`Target::Collection`]) an allow policy must match and no deny policy.
    pub fn decide(
        &self,
        subject: &Subject,
        permission: Permission,
        target: &Target,
        request: &RequestAttrs,
    ) -> Decision {
        self.decide_by(Engine::Native, subject, permission, target, request)
    }

    /// The same decision as [`Authorizer::decide`], with the policies
    /// evaluated by Cedar in their compiled form
    /// ([`PolicySet::cedar_source`]). `decide` evaluates the type-checked
    /// conditions itself, tens of times faster; this is the reference it is
    /// tested against.
    pub fn decide_with_cedar(
        &self,
        subject: &Subject,
        permission: Permission,
        target: &Target,
        request: &RequestAttrs,
    ) -> Decision {
        self.decide_by(Engine::Cedar, subject, permission, target, request)
    }

    fn decide_by(
        &self,
        engine: Engine,
        subject: &Subject,
        permission: Permission,
        target: &Target,
        request: &RequestAttrs,
    ) -> Decision {
        let matrix_granted = self.matrix.grants_any(&subject.roles, permission);
        let mut d = Decision {
            id: Uuid::now_v7(),
            allowed: false,
            permission,
            matrix_granted,
            policies: Vec::new(),
            reason: Reason::NoRoleGrants,
            errors: Vec::new(),
        };
        let t = target.resource_type();
        if t != permission.resource {
            d.reason = Reason::InvalidRequest;
            d.errors.push(format!("{permission} asked about a target of type {}", t.as_str()));
            return d;
        }
        if !matrix_granted {
            return d;
        }
        if let Target::Collection(_) = target {
            d.allowed = true;
            d.reason = Reason::Allowed;
            return d;
        }
        let verdict = match engine {
            Engine::Native => Ok(self.evaluate(subject, permission, target, request)),
            Engine::Cedar => {
                let names = self.names.as_ref().map_err(Clone::clone);
                names.and_then(|names| {
                    cedar::evaluate(&self.cedar, names, &self.policies, subject, permission, target, request)
                })
            }
        };
        match verdict {
            Ok(verdict) => verdict.conclude(&mut d),
            Err(e) => {
                d.reason = Reason::InvalidRequest;
                d.errors.push(e);
            }
        }
        d
    }

    /// The policies about the permission's type and action, evaluated on
    /// the decision's own values ([`crate::evaluate`]).
    fn evaluate(&self, subject: &Subject, permission: Permission, target: &Target, request: &RequestAttrs) -> Verdict {
        let facts = Facts::new(subject, target, request);
        let t = permission.resource;
        let mut verdict = Verdict::default();
        for policy in self.policies.about(t, permission.action) {
            match (facts.matches(policy, t), policy.effect) {
                (Ok(false), _) => {}
                (Ok(true), Effect::Allow) => verdict.permits.push(policy.name.clone()),
                (Ok(true), Effect::Deny) => verdict.denies.push(policy.name.clone()),
                (Err(e), effect) => {
                    verdict.errors.push(format!("policy {}: {e}", policy.name));
                    if effect == Effect::Deny {
                        verdict.failed_denies.push(policy.name.clone());
                    }
                }
            }
        }
        verdict.engine_allows = verdict.denies.is_empty();
        verdict
    }

    /// For list endpoints over projects: which projects may `subject`
    /// `permission` (normally `projects:read`)? The matrix must grant it
    /// ([`Scope::Nothing`] otherwise, and for non-project permissions); the
    /// applicable policies are partially evaluated with `user.*` and
    /// `request.*` known: OR(allows) AND NOT OR(denies).
    /// `scope.matches(p)` agrees with `decide(…, Target::Project(p), …).allowed`.
    pub fn project_scope(&self, subject: &Subject, permission: Permission, request: &RequestAttrs) -> Scope {
        if permission.resource != ResourceType::Project || !self.matrix.grants_any(&subject.roles, permission) {
            return Scope::Nothing;
        }
        let applicable = self
            .policies
            .policies
            .iter()
            .filter(|p| p.applies(&subject.roles, ResourceType::Project, permission.action));
        scope::project_scope(applicable, subject, request)
    }
}
