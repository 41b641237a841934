//! Evaluates the policies of one decision directly on its values: the
//! conditions are small, type-checked trees over strings, decimals, bools
//! and sets of strings, and walking them costs a few hundred nanoseconds
//! where building Cedar's entities and running its evaluator cost tens of
//! microseconds.
//!
//! The semantics are the compiled Cedar policies' (`policy/compile.rs`),
//! which stay the reference: [`crate::Authorizer::decide_with_cedar`] makes
//! the same decision through Cedar, and the tests and the `policy_condition`
//! fuzz target compare the two on random policies, subjects and targets.

use std::fmt;

use autopmo_domain::Role;
use rust_decimal::Decimal;

use crate::decide::{ProjectAttrs, RequestAttrs, Subject, Target};
use crate::entities::cedar_decimal;
use crate::expr::{Attr, CmpOp, Expr, Kind, Lit, Origin};
use crate::permission::ResourceType;
use crate::policy::Policy;

/// Why a condition could not be evaluated. A loaded policy is type-checked
/// for every type it names, so neither can happen for a target of the
/// decision's type; should one, a deny that fails denies (fail closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EvalError {
    /// The target has no such attribute.
    Unavailable(Attr),
    /// Operands of types the operator does not take.
    Mismatch,
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(a) => write!(f, "{} is not available for this resource", a.name()),
            Self::Mismatch => f.write_str("operands of the wrong type"),
        }
    }
}

/// A value in a condition, borrowed from the decision's inputs or the policy.
#[derive(Debug, Clone, Copy)]
enum Value<'v> {
    Str(&'v str),
    Decimal(Decimal),
    Bool(bool),
    Roles(&'v [Role]),
    Strings(&'v [String]),
}

/// The values one decision is made on.
pub(crate) struct Facts<'a> {
    subject: &'a Subject,
    target: &'a Target,
    request: &'a RequestAttrs,
}

impl<'a> Facts<'a> {
    pub(crate) fn new(subject: &'a Subject, target: &'a Target, request: &'a RequestAttrs) -> Self {
        Self { subject, target, request }
    }

    /// The project the target is or belongs to.
    fn project(&self) -> Option<&'a ProjectAttrs> {
        match self.target {
            Target::Project(p) | Target::Report(p) => Some(p),
            Target::Task(t) => Some(&t.project),
            Target::Approval(a) => a.project.as_ref(),
            Target::Collection(_) | Target::Type(_) => None,
        }
    }

    /// Whether `policy`, one of those for the decision's type `t` and
    /// action, matches: the subject holds one of its roles and every
    /// condition holds, evaluated in order as Cedar's `when` clause is.
    pub(crate) fn matches(&self, policy: &Policy, t: ResourceType) -> Result<bool, EvalError> {
        if let Some(roles) = &policy.roles
            && !roles.iter().any(|r| self.subject.roles.contains(r))
        {
            return Ok(false);
        }
        for c in &policy.conditions {
            // An approval need not concern a project: a condition about the
            // project is false for one that does not (as compiled to Cedar).
            if t == ResourceType::Approval && self.project().is_none() && c.expr.uses(Origin::Project) {
                return Ok(false);
            }
            if !self.truth(&c.expr)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn truth(&self, e: &Expr) -> Result<bool, EvalError> {
        match self.eval(e)? {
            Value::Bool(b) => Ok(b),
            _ => Err(EvalError::Mismatch),
        }
    }

    fn eval<'v>(&self, e: &'v Expr) -> Result<Value<'v>, EvalError>
    where
        'a: 'v,
    {
        Ok(match &e.kind {
            Kind::Lit(Lit::Str(s)) => Value::Str(s),
            Kind::Lit(Lit::Decimal(d)) => Value::Decimal(*d),
            Kind::Lit(Lit::Bool(b)) => Value::Bool(*b),
            Kind::Lit(Lit::Set(items)) => Value::Strings(items),
            Kind::Attr(a) => self.attr(*a)?,
            Kind::Not(x) => Value::Bool(!self.truth(x)?),
            Kind::And(l, r) => Value::Bool(self.truth(l)? && self.truth(r)?),
            Kind::Or(l, r) => Value::Bool(self.truth(l)? || self.truth(r)?),
            Kind::Cmp(l, op, r) => Value::Bool(compare(self.eval(l)?, *op, self.eval(r)?)?),
            Kind::In(l, r) => Value::Bool(contains(self.eval(r)?, self.eval(l)?)?),
        })
    }

    fn attr(&self, a: Attr) -> Result<Value<'a>, EvalError> {
        let unavailable = || EvalError::Unavailable(a);
        let project = || self.project().ok_or_else(unavailable);
        let (s, r) = (self.subject, self.request);
        Ok(match a {
            Attr::UserId => Value::Str(&s.id),
            Attr::UserUsername => Value::Str(&s.username),
            Attr::UserRoles => Value::Roles(&s.roles),
            Attr::RequestIp => Value::Str(r.ip.as_deref().unwrap_or_default()),
            Attr::RequestMethod => Value::Str(&r.method),
            Attr::RequestMfa => Value::Bool(r.mfa),
            Attr::ProjectId => Value::Str(&project()?.id),
            Attr::ProjectOwnerId => Value::Str(&project()?.owner_id),
            Attr::ProjectStatus => Value::Str(&project()?.status),
            Attr::ProjectCurrency => Value::Str(&project()?.currency),
            // As handed to Cedar: rounded to its 4 places, within its range.
            Attr::ProjectBudget => Value::Decimal(cedar_decimal(project()?.budget)),
            Attr::ProjectMemberIds => Value::Strings(&project()?.member_ids),
            Attr::TaskId | Attr::TaskAssigneeId | Attr::TaskStatus => {
                let Target::Task(t) = self.target else { return Err(unavailable()) };
                Value::Str(match a {
                    Attr::TaskId => &t.id,
                    Attr::TaskAssigneeId => t.assignee_id.as_deref().unwrap_or_default(),
                    _ => &t.status,
                })
            }
            Attr::ApprovalId | Attr::ApprovalRequesterId | Attr::ApprovalStatus => {
                let Target::Approval(ap) = self.target else { return Err(unavailable()) };
                Value::Str(match a {
                    Attr::ApprovalId => &ap.id,
                    Attr::ApprovalRequesterId => &ap.requester_id,
                    _ => &ap.status,
                })
            }
        })
    }
}

/// `==` and `!=` on two values of one type (sets excepted), the ordering
/// operators on decimals: what the type checker lets through.
fn compare(l: Value<'_>, op: CmpOp, r: Value<'_>) -> Result<bool, EvalError> {
    let equal = match (l, r) {
        (Value::Decimal(a), Value::Decimal(b)) => return Ok(op.apply(&a, &b)),
        (Value::Str(a), Value::Str(b)) => a == b,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        _ => return Err(EvalError::Mismatch),
    };
    match op {
        CmpOp::Eq => Ok(equal),
        CmpOp::Ne => Ok(!equal),
        _ => Err(EvalError::Mismatch),
    }
}

/// `item in set`.
fn contains(set: Value<'_>, item: Value<'_>) -> Result<bool, EvalError> {
    let Value::Str(item) = item else { return Err(EvalError::Mismatch) };
    match set {
        Value::Roles(roles) => Ok(roles.iter().any(|r| r.as_str() == item)),
        Value::Strings(items) => Ok(items.iter().any(|s| s == item)),
        _ => Err(EvalError::Mismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::parse;

    fn facts_holds(condition: &str, target: &Target) -> Result<bool, EvalError> {
        let subject = Subject { id: "u1".into(), username: "alice".into(), roles: vec![Role::Developer] };
        let request = RequestAttrs { ip: None, method: "GET".into(), mfa: true };
        let facts = Facts::new(&subject, target, &request);
        facts.truth(&parse(condition).unwrap())
    }

    #[test]
    fn values_come_from_the_target_and_the_request() {
        let p = ProjectAttrs {
            id: "p1".into(),
            owner_id: "u1".into(),
            budget: Decimal::new(100_000_000_005, 5),
            currency: "USD".into(),
            status: "active".into(),
            member_ids: vec!["u2".into()],
        };
        let project = Target::Project(p);
        assert_eq!(facts_holds("project.owner_id == user.id and request.mfa", &project), Ok(true));
        assert_eq!(facts_holds("user.id in project.member_ids", &project), Ok(false));
        assert_eq!(facts_holds("'developer' in user.roles and request.ip == ''", &project), Ok(true));
        // 1,000,000.00005 is 1,000,000.0000 (or .0001) at Cedar's 4 places.
        assert_eq!(facts_holds("project.budget <= 1000000.0001", &project), Ok(true));
        assert_eq!(facts_holds("task.status == 'todo'", &project), Err(EvalError::Unavailable(Attr::TaskStatus)));
        assert_eq!(
            facts_holds("project.id == 'p1'", &Target::Type(ResourceType::Audit)),
            Err(EvalError::Unavailable(Attr::ProjectId))
        );
    }
}
