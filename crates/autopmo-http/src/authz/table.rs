//! The rules of every route, compiled once: method and route → what it needs.

use super::rules::{RouteRule, Rule, TargetRef};
use autopmo_authz::{Permission, ResourceType};
use std::collections::HashMap;
use std::sync::LazyLock;

/// A rule ready for the middleware.
#[derive(Debug, Clone, Copy)]
pub(super) enum Compiled {
    /// Public or self-service: the handler's own extractors authenticate.
    Open,
    /// Decided by the authorizer before the handler.
    Guarded(Permission, TargetRef),
}

/// `(method, route)` → the compiled rule, or why it does not compile.
type Table = HashMap<(&'static str, &'static str), Result<Compiled, String>>;

static TABLE: LazyLock<Table> =
    LazyLock::new(|| crate::routes::rules().iter().map(|r| ((r.method, r.path), compile(r))).collect());

fn compile(r: &RouteRule) -> Result<Compiled, String> {
    match r.rule {
        Rule::Public | Rule::SelfService => Ok(Compiled::Open),
        Rule::Guarded(permission, target) => {
            let permission: Permission = permission
                .parse()
                .map_err(|_| format!("{} {}: unknown permission {permission:?}", r.method, r.path))?;
            let named = match target {
                TargetRef::Collection(t) | TargetRef::Type(t) => Some(t),
                _ => None,
            };
            if let Some(t) = named {
                ResourceType::parse(t).map_err(|_| format!("{} {}: unknown resource type {t:?}", r.method, r.path))?;
            }
            Ok(Compiled::Guarded(permission, target))
        }
    }
}

/// The rule of `method` `route`; `None` if it has none or it is broken
/// (refused, and reported by [`check_rules`]).
pub(super) fn lookup(method: &str, route: &str) -> Option<Compiled> {
    TABLE.get(&(method, route)).and_then(|r| r.as_ref().ok()).copied()
}

/// Whether any method of `route` has a rule.
pub(super) fn knows_route(route: &str) -> bool {
    TABLE.keys().any(|(_, path)| *path == route)
}

/// Whether `method` `route` has a rule (sound or broken).
pub(super) fn has_method(method: &str, route: &str) -> bool {
    TABLE.contains_key(&(method, route))
}

/// Every problem with the rules, given the operations of the router
/// (`(METHOD, route)`): an operation without a rule, a rule for no
/// operation, a rule declared twice, an unknown permission or type.
pub(crate) fn check_rules(operations: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in crate::routes::rules() {
        if !seen.insert((r.method, r.path)) {
            problems.push(format!("{} {}: declared twice", r.method, r.path));
        }
        if let Err(e) = compile(r) {
            problems.push(e);
        }
        if !operations.iter().any(|(m, p)| m == r.method && p == r.path) {
            problems.push(format!("{} {}: a rule for a route the router does not have", r.method, r.path));
        }
    }
    for (method, path) in operations {
        if !TABLE.contains_key(&(method.as_str(), path.as_str())) {
            problems.push(format!("{method} {path}: no authorization rule"));
        }
    }
    problems
}
