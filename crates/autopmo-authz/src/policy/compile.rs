//! Compiles a YAML policy to Cedar text: one Cedar policy per (YAML policy,
//! resource type).

use std::fmt::Write as _;

use rust_decimal::Decimal;

use super::{Effect, Policy};
use crate::expr::{Attr, CmpOp, Expr, Kind, Lit, Origin};
use crate::permission::{Action, ResourceType};

/// A Cedar string literal.
pub(crate) fn cedar_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The text of a Cedar `decimal` (at least one fractional digit).
pub(crate) fn decimal_text(d: Decimal) -> String {
    let s = d.normalize().to_string();
    if s.contains('.') { s } else { format!("{s}.0") }
}

fn attr(a: Attr, t: ResourceType) -> String {
    match a.origin() {
        Origin::User => format!("principal.{}", a.field()),
        Origin::Request => format!("context.{}", a.field()),
        Origin::Project if t == ResourceType::Project => format!("resource.{}", a.field()),
        Origin::Project => format!("resource.project.{}", a.field()),
        Origin::Task | Origin::Approval => format!("resource.{}", a.field()),
    }
}

/// The Cedar expression for a (type-checked) condition on type `t`.
pub(crate) fn expr(e: &Expr, t: ResourceType) -> String {
    match &e.kind {
        Kind::Lit(Lit::Str(s)) => cedar_string(s),
        Kind::Lit(Lit::Decimal(d)) => format!("decimal({})", cedar_string(&decimal_text(*d))),
        Kind::Lit(Lit::Bool(b)) => b.to_string(),
        Kind::Lit(Lit::Set(items)) => {
            format!("[{}]", items.iter().map(|s| cedar_string(s)).collect::<Vec<_>>().join(", "))
        }
        Kind::Attr(a) => attr(*a, t),
        Kind::Not(inner) => format!("!({})", expr(inner, t)),
        Kind::And(l, r) => format!("({} && {})", expr(l, t), expr(r, t)),
        Kind::Or(l, r) => format!("({} || {})", expr(l, t), expr(r, t)),
        Kind::In(l, r) => format!("({}).contains({})", expr(r, t), expr(l, t)),
        Kind::Cmp(l, op, r) => {
            let (l, r) = (expr(l, t), expr(r, t));
            let decimal = |method: &str| format!("({l}).{method}({r})");
            match op {
                CmpOp::Eq => format!("({l} == {r})"),
                CmpOp::Ne => format!("({l} != {r})"),
                // Only decimals are ordered (the type checker saw to it).
                CmpOp::Lt => decimal("lessThan"),
                CmpOp::Le => decimal("lessThanOrEqual"),
                CmpOp::Gt => decimal("greaterThan"),
                CmpOp::Ge => decimal("greaterThanOrEqual"),
            }
        }
    }
}

/// The Cedar policy for `policy` on resource type `t` and `action` (one
/// per triple: a decision evaluates only the policies of its type and
/// action, and an `action ==` scope is cheaper to evaluate than `action in`).
pub(crate) fn policy(policy: &Policy, t: ResourceType, action: Action) -> String {
    let effect = match policy.effect {
        Effect::Allow => "permit",
        Effect::Deny => "forbid",
    };
    let mut out = format!("// {}\n", policy.name.replace('\n', " "));
    let _ = write!(
        out,
        "{effect} (principal, action == Action::{}, resource is {})",
        cedar_string(action.as_str()),
        t.cedar_type()
    );
    let mut clauses: Vec<String> = Vec::new();
    if let Some(roles) = &policy.roles {
        let roles: Vec<String> =
            roles.iter().map(|r| format!("principal.roles.contains({})", cedar_string(r.as_str()))).collect();
        clauses.push(if roles.len() == 1 { roles.join("") } else { format!("({})", roles.join(" || ")) });
    }
    for c in &policy.conditions {
        let body = expr(&c.expr, t);
        // An approval need not concern a project: a condition about the
        // project is false for one that does not.
        if t == ResourceType::Approval && c.expr.uses(Origin::Project) {
            clauses.push(format!("(resource has project && {body})"));
        } else {
            clauses.push(body);
        }
    }
    if !clauses.is_empty() {
        let _ = write!(out, "\nwhen {{ {} }}", clauses.join(" && "));
    }
    out.push(';');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert_eq!(cedar_string("a\"b\\c\n"), r#""a\"b\\c\u{a}""#);
        assert_eq!(decimal_text(Decimal::new(100_000_000, 2)), "1000000.0");
        assert_eq!(decimal_text(Decimal::new(-125, 2)), "-1.25");
    }

    #[test]
    fn conditions_map_to_cedar() {
        let c = |src: &str, t| expr(&crate::expr::parse(src).unwrap(), t);
        assert_eq!(c("project.owner_id == user.id", ResourceType::Project), "(resource.owner_id == principal.id)");
        assert_eq!(
            c("user.id in project.member_ids", ResourceType::Task),
            "(resource.project.member_ids).contains(principal.id)"
        );
        assert_eq!(
            c("project.budget > 1000000", ResourceType::Report),
            r#"(resource.project.budget).greaterThan(decimal("1000000.0"))"#
        );
        assert_eq!(c("not request.mfa", ResourceType::Audit), "!(context.mfa)");
        assert_eq!(c("'developer' in user.roles", ResourceType::Audit), r#"(principal.roles).contains("developer")"#);
    }
}
