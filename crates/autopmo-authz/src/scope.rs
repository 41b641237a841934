//! List filtering: which projects may a subject read (or update, …)? The
//! applicable policies are partially evaluated — `user.*` and `request.*`
//! are known, `project.*` stays symbolic — into a [`Scope`], a predicate
//! over one project that the store turns into SQL.

use autopmo_domain::Role;
use rust_decimal::Decimal;

use crate::decide::{ProjectAttrs, RequestAttrs, Subject};
use crate::entities::cedar_decimal;
use crate::expr::{Attr, CmpOp, Expr, Kind, Lit};
use crate::policy::{Effect, Policy};

/// A string attribute of a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProjectField {
    /// `project.id`
    Id,
    /// `project.owner_id`
    OwnerId,
    /// `project.status`
    Status,
    /// `project.currency`
    Currency,
}

impl ProjectField {
    /// The attribute's name (`owner_id`), as in the policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::OwnerId => "owner_id",
            Self::Status => "status",
            Self::Currency => "currency",
        }
    }

    /// This field of `p`.
    pub fn of(self, p: &ProjectAttrs) -> &str {
        match self {
            Self::Id => &p.id,
            Self::OwnerId => &p.owner_id,
            Self::Status => &p.status,
            Self::Currency => &p.currency,
        }
    }
}

/// A predicate over projects. Values of `user.*` and `request.*` are
/// already substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every project.
    All,
    /// No project.
    Nothing,
    /// `project.owner_id == <id>`
    OwnerIs(String),
    /// `<id> in project.member_ids`
    MemberIs(String),
    /// `project.id == <id>`
    IdIs(String),
    /// `project.status == <status>`
    StatusIs(String),
    /// `project.budget <op> <value>` (major units, any currency).
    Budget(CmpOp, Decimal),
    /// `project.currency == <code>`
    Currency(String),
    /// Two string fields of the project are equal (`project.owner_id == project.id`).
    FieldEq(ProjectField, ProjectField),
    /// A string field of the project is one of its member ids (`project.owner_id in project.member_ids`).
    MemberField(ProjectField),
    /// All hold.
    And(Vec<Scope>),
    /// At least one holds.
    Or(Vec<Scope>),
    /// Does not hold.
    Not(Box<Scope>),
}

impl Scope {
    /// Whether project `p` is in scope.
    pub fn matches(&self, p: &ProjectAttrs) -> bool {
        match self {
            Self::All => true,
            Self::Nothing => false,
            Self::OwnerIs(id) => p.owner_id == *id,
            Self::MemberIs(id) => p.member_ids.contains(id),
            Self::IdIs(id) => p.id == *id,
            Self::StatusIs(s) => p.status == *s,
            Self::Budget(op, v) => op.apply(&cedar_decimal(p.budget), v),
            Self::Currency(c) => p.currency == *c,
            Self::FieldEq(a, b) => a.of(p) == b.of(p),
            Self::MemberField(f) => p.member_ids.iter().any(|m| m == f.of(p)),
            Self::And(xs) => xs.iter().all(|x| x.matches(p)),
            Self::Or(xs) => xs.iter().any(|x| x.matches(p)),
            Self::Not(x) => !x.matches(p),
        }
    }

    /// Folds constants (`All`/`Nothing`), flattens nested `And`/`Or`,
    /// removes double negation and repeated terms.
    pub fn simplify(self) -> Self {
        match self {
            Self::And(xs) => Self::fold(xs, true),
            Self::Or(xs) => Self::fold(xs, false),
            Self::Not(x) => match x.simplify() {
                Self::All => Self::Nothing,
                Self::Nothing => Self::All,
                Self::Not(inner) => *inner,
                other => Self::Not(Box::new(other)),
            },
            other => other,
        }
    }

    fn fold(xs: Vec<Scope>, and: bool) -> Self {
        let (unit, zero) = if and { (Self::All, Self::Nothing) } else { (Self::Nothing, Self::All) };
        let mut out: Vec<Scope> = Vec::new();
        for x in xs {
            let x = x.simplify();
            let parts = match x {
                Self::And(inner) if and => inner,
                Self::Or(inner) if !and => inner,
                other => vec![other],
            };
            for part in parts {
                if part == zero {
                    return zero;
                }
                if part != unit && !out.contains(&part) {
                    out.push(part);
                }
            }
        }
        match out.len() {
            0 => unit,
            1 => out.pop().unwrap_or(unit),
            _ if and => Self::And(out),
            _ => Self::Or(out),
        }
    }

    fn not(self) -> Self {
        Self::Not(Box::new(self))
    }

    fn field_is(f: ProjectField, value: String) -> Self {
        match f {
            ProjectField::Id => Self::IdIs(value),
            ProjectField::OwnerId => Self::OwnerIs(value),
            ProjectField::Status => Self::StatusIs(value),
            ProjectField::Currency => Self::Currency(value),
        }
    }
}

/// `result = OR(permits) AND NOT OR(denies)`, simplified.
pub(crate) fn project_scope<'a>(
    policies: impl IntoIterator<Item = &'a Policy>,
    subject: &Subject,
    request: &RequestAttrs,
) -> Scope {
    let known = Known { subject, request };
    let (mut permits, mut denies) = (Vec::new(), Vec::new());
    for p in policies {
        let conds: Option<Vec<Scope>> = p.conditions.iter().map(|c| known.eval(&c.expr).map(Pv::scope)).collect();
        match (p.effect, conds) {
            (Effect::Allow, Some(c)) => permits.push(Scope::And(c)),
            (Effect::Deny, Some(c)) => denies.push(Scope::And(c)),
            // Cannot happen for a type-checked project policy; be conservative.
            (Effect::Allow, None) => {}
            (Effect::Deny, None) => denies.push(Scope::All),
        }
    }
    Scope::And(vec![Scope::Or(permits), Scope::Or(denies).not()]).simplify()
}

/// A partially evaluated value.
enum Pv {
    Str(String),
    Decimal(Decimal),
    Set(Vec<String>),
    Field(ProjectField),
    Budget,
    Members,
    Pred(Scope),
}

impl Pv {
    fn scope(self) -> Scope {
        match self {
            Self::Pred(s) => s,
            _ => Scope::Nothing,
        }
    }

    fn bool(b: bool) -> Self {
        Self::Pred(if b { Scope::All } else { Scope::Nothing })
    }
}

struct Known<'a> {
    subject: &'a Subject,
    request: &'a RequestAttrs,
}

impl Known<'_> {
    fn attr(&self, a: Attr) -> Option<Pv> {
        Some(match a {
            Attr::UserId => Pv::Str(self.subject.id.clone()),
            Attr::UserUsername => Pv::Str(self.subject.username.clone()),
            Attr::UserRoles => Pv::Set(self.subject.roles.iter().map(|r| Role::as_str(*r).to_owned()).collect()),
            Attr::RequestIp => Pv::Str(self.request.ip.clone().unwrap_or_default()),
            Attr::RequestMethod => Pv::Str(self.request.method.clone()),
            Attr::RequestMfa => Pv::bool(self.request.mfa),
            Attr::ProjectId => Pv::Field(ProjectField::Id),
            Attr::ProjectOwnerId => Pv::Field(ProjectField::OwnerId),
            Attr::ProjectStatus => Pv::Field(ProjectField::Status),
            Attr::ProjectCurrency => Pv::Field(ProjectField::Currency),
            Attr::ProjectBudget => Pv::Budget,
            Attr::ProjectMemberIds => Pv::Members,
            _ => return None,
        })
    }

    fn eval(&self, e: &Expr) -> Option<Pv> {
        Some(match &e.kind {
            Kind::Lit(Lit::Str(s)) => Pv::Str(s.clone()),
            Kind::Lit(Lit::Decimal(d)) => Pv::Decimal(*d),
            Kind::Lit(Lit::Bool(b)) => Pv::bool(*b),
            Kind::Lit(Lit::Set(items)) => Pv::Set(items.clone()),
            Kind::Attr(a) => self.attr(*a)?,
            Kind::Not(x) => Pv::Pred(self.eval(x)?.scope().not()),
            Kind::And(l, r) => Pv::Pred(Scope::And(vec![self.eval(l)?.scope(), self.eval(r)?.scope()])),
            Kind::Or(l, r) => Pv::Pred(Scope::Or(vec![self.eval(l)?.scope(), self.eval(r)?.scope()])),
            Kind::Cmp(l, op, r) => Pv::Pred(compare(self.eval(l)?, *op, self.eval(r)?)?),
            Kind::In(l, r) => Pv::Pred(match (self.eval(l)?, self.eval(r)?) {
                (Pv::Str(s), Pv::Set(items)) => Pv::bool(items.contains(&s)).scope(),
                (Pv::Str(s), Pv::Members) => Scope::MemberIs(s),
                (Pv::Field(f), Pv::Set(items)) => Scope::Or(items.into_iter().map(|s| Scope::field_is(f, s)).collect()),
                (Pv::Field(f), Pv::Members) => Scope::MemberField(f),
                _ => return None,
            }),
        })
    }
}

fn compare(l: Pv, op: CmpOp, r: Pv) -> Option<Scope> {
    let eq = match (l, r) {
        (Pv::Str(a), Pv::Str(b)) => return Some(Pv::bool(op.apply(&a, &b)).scope()),
        (Pv::Decimal(a), Pv::Decimal(b)) => return Some(Pv::bool(op.apply(&a, &b)).scope()),
        (Pv::Budget, Pv::Decimal(d)) => return Some(Scope::Budget(op, d)),
        (Pv::Decimal(d), Pv::Budget) => return Some(Scope::Budget(op.flip(), d)),
        (Pv::Budget, Pv::Budget) => return Some(Pv::bool(op.apply(&0, &0)).scope()),
        (Pv::Field(f), Pv::Str(s)) | (Pv::Str(s), Pv::Field(f)) => Scope::field_is(f, s),
        (Pv::Field(f), Pv::Field(g)) if f == g => Scope::All,
        (Pv::Field(f), Pv::Field(g)) => Scope::FieldEq(f, g),
        (Pv::Pred(a), Pv::Pred(b)) => {
            Scope::Or(vec![Scope::And(vec![a.clone(), b.clone()]), Scope::And(vec![a.not(), b.not()])])
        }
        _ => return None,
    };
    match op {
        CmpOp::Eq => Some(eq),
        CmpOp::Ne => Some(eq.not()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simplify_folds_constants() {
        let owner = || Scope::OwnerIs("u".into());
        assert_eq!(Scope::And(vec![Scope::All, owner()]).simplify(), owner());
        assert_eq!(Scope::And(vec![Scope::Nothing, owner()]).simplify(), Scope::Nothing);
        assert_eq!(Scope::Or(vec![Scope::All, owner()]).simplify(), Scope::All);
        assert_eq!(Scope::Or(vec![]).simplify(), Scope::Nothing);
        assert_eq!(Scope::And(vec![]).simplify(), Scope::All);
        assert_eq!(Scope::Not(Box::new(Scope::Not(Box::new(owner())))).simplify(), owner());
        let nested = Scope::Or(vec![Scope::Or(vec![owner(), Scope::MemberIs("u".into())]), owner()]);
        assert_eq!(nested.simplify(), Scope::Or(vec![owner(), Scope::MemberIs("u".into())]));
    }
}
