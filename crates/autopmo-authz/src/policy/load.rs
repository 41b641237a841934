//! Reads the YAML policy file (guide §3.2's format) into [`Policy`] values,
//! collecting every problem with the path of the node it is about.

use autopmo_domain::Role;
use yaml_serde::{Mapping, Value};

use super::locate::{Seg, locate};
use super::{Condition, Effect, Policy};
use crate::error::PolicyError;
use crate::expr;
use crate::permission::{Action, ResourceType};

const TOP_KEYS: &[&str] = &["policies"];
const POLICY_KEYS: &[&str] = &["name", "description", "effect", "subjects", "resources", "conditions", "actions"];
const REQUIRED: &[&str] = &["name", "effect", "subjects", "resources", "actions"];

/// A problem at a node of the document.
#[derive(Debug)]
pub(crate) struct Issue {
    pub(crate) path: Vec<Seg>,
    /// The problem is the last key of `path` itself (an unknown key).
    pub(crate) at_key: bool,
    /// A character offset inside the scalar (conditions).
    pub(crate) offset: Option<usize>,
    pub(crate) message: String,
}

impl Issue {
    fn new(path: &[Seg], message: impl Into<String>) -> Self {
        Self { path: path.to_vec(), at_key: false, offset: None, message: message.into() }
    }

    /// Turns the issue into an error with a position in `yaml`.
    pub(crate) fn locate(self, yaml: &str) -> PolicyError {
        let mut path = self.path.as_slice();
        let mut at_key = self.at_key;
        let (line, column) = loop {
            if let Some(found) = locate(yaml, path, at_key) {
                break found;
            }
            // Not found (should not happen): report the nearest enclosing node.
            let Some((_, parent)) = path.split_last() else { break (1, 1) };
            path = parent;
            at_key = false;
        };
        let column = match (self.offset, char_at(yaml, line, column)) {
            (None, _) | (Some(_), Some('|' | '>')) => column,
            (Some(o), Some('"' | '\'')) => column + 1 + o,
            (Some(o), _) => column + o,
        };
        PolicyError::new(line, column, self.message)
    }
}

fn char_at(text: &str, line: usize, column: usize) -> Option<char> {
    text.lines().nth(line.checked_sub(1)?)?.chars().nth(column.checked_sub(1)?)
}

fn key(name: &str) -> Seg {
    Seg::Key(name.to_owned())
}

fn child(path: &[Seg], seg: Seg) -> Vec<Seg> {
    let mut p = path.to_vec();
    p.push(seg);
    p
}

/// Checks that `map` has only `allowed` keys (all strings).
fn known_keys(map: &Mapping, allowed: &[&str], path: &[Seg], what: &str, issues: &mut Vec<Issue>) {
    for k in map.keys() {
        match k.as_str() {
            Some(name) if allowed.contains(&name) => {}
            Some(name) => issues.push(Issue {
                at_key: true,
                ..Issue::new(
                    &child(path, key(name)),
                    format!("unknown key `{name}` in {what}; expected: {}", allowed.join(", ")),
                )
            }),
            None => issues.push(Issue::new(path, format!("{what} has a key that is not a string"))),
        }
    }
}

/// Reads the whole file. Policies with problems are `None`.
pub(crate) fn load(doc: &Value, issues: &mut Vec<Issue>) -> Vec<Option<Policy>> {
    let Some(top) = doc.as_mapping() else {
        issues.push(Issue::new(&[], "expected a mapping with the key `policies`"));
        return Vec::new();
    };
    known_keys(top, TOP_KEYS, &[], "the file", issues);
    let path = [key("policies")];
    let Some(list) = top.get("policies") else {
        issues.push(Issue::new(&[], "missing key `policies`"));
        return Vec::new();
    };
    let Some(list) = list.as_sequence() else {
        if !list.is_null() {
            issues.push(Issue::new(&path, "`policies` must be a list"));
        }
        return Vec::new();
    };
    let mut seen: Vec<String> = Vec::new();
    list.iter()
        .enumerate()
        .map(|(i, item)| {
            let path = child(&path, Seg::Index(i));
            let before = issues.len();
            let policy = policy(item, &path, issues);
            if let Some(name) = item.get("name").and_then(Value::as_str) {
                if seen.iter().any(|n| n == name) {
                    let msg = format!("duplicate policy name `{name}`; names must be unique");
                    issues.push(Issue::new(&child(&path, key("name")), msg));
                }
                seen.push(name.to_owned());
            }
            if issues.len() == before { policy } else { None }
        })
        .collect()
}

fn policy(item: &Value, path: &[Seg], issues: &mut Vec<Issue>) -> Option<Policy> {
    let Some(map) = item.as_mapping() else {
        issues.push(Issue::new(path, "a policy must be a mapping (name, description, effect, ...)"));
        return None;
    };
    known_keys(map, POLICY_KEYS, path, "a policy", issues);
    let missing: Vec<&str> = REQUIRED.iter().copied().filter(|k| !map.contains_key(*k)).collect();
    if !missing.is_empty() {
        issues.push(Issue::new(path, format!("policy is missing: {}", missing.join(", "))));
        return None;
    }
    let at = |k: &str| child(path, key(k));
    let get = |k: &str| map.get(k).unwrap_or(&Value::Null);
    let name = string(get("name"), &at("name"), issues).unwrap_or_default();
    if !name.is_empty() && !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        issues.push(Issue::new(&at("name"), "a policy name uses letters, digits, `_`, `-` and `.` only"));
    }
    let description = match map.get("description") {
        Some(v) => string(v, &at("description"), issues).unwrap_or_default(),
        None => String::new(),
    };
    let effect = match string(get("effect"), &at("effect"), issues).as_deref() {
        Some("allow") => Some(Effect::Allow),
        Some("deny") => Some(Effect::Deny),
        Some(other) => {
            issues.push(Issue::new(&at("effect"), format!("unknown effect `{other}`; expected: allow, deny")));
            None
        }
        None => None,
    };
    let roles = names(get("subjects"), &at("subjects"), "roles", "role", issues, |r| {
        Role::parse(r).ok().ok_or_else(|| Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "))
    });
    let types = names(get("resources"), &at("resources"), "types", "resource type", issues, |t| {
        ResourceType::parse(t).map_err(|e| e.known)
    });
    let actions = list(get("actions"), &at("actions"), "action", issues, |a| Action::parse(a).map_err(|e| e.known));
    let types = types.map(|t| t.unwrap_or_else(|| ResourceType::ALL.to_vec()));
    if let (Some(Some(actions)), Some(types)) = (&actions, &types) {
        check_actions(actions, types, &at("actions"), get("actions"), issues);
    }
    // Checked even when other fields are wrong (without the types: syntax only).
    let conditions = conditions(map.get("conditions"), &at("conditions"), types.as_deref(), issues);
    let (Some(effect), Some(roles), Some(types), Some(actions)) = (effect, roles, types, actions) else {
        return None;
    };
    let written = |v: &Value, k: Option<&str>| -> Vec<String> {
        let v = k.map_or(Some(v), |k| v.get(k)).and_then(Value::as_sequence);
        v.map(|s| s.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()).unwrap_or_default()
    };
    Some(Policy {
        written_roles: written(get("subjects"), Some("roles")),
        written_types: written(get("resources"), Some("types")),
        written_actions: written(get("actions"), None),
        name,
        description,
        effect,
        roles,
        types,
        actions,
        conditions: conditions?,
        line: 0,
    })
}

fn string(v: &Value, path: &[Seg], issues: &mut Vec<Issue>) -> Option<String> {
    match v.as_str() {
        Some(s) if !s.trim().is_empty() => Some(s.to_owned()),
        _ => {
            issues.push(Issue::new(path, "expected a non-empty string"));
            None
        }
    }
}

/// `{ <field>: [..] }` (subjects.roles, resources.types).
fn names<T: PartialEq>(
    v: &Value,
    path: &[Seg],
    field: &str,
    what: &str,
    issues: &mut Vec<Issue>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<Option<Vec<T>>> {
    let Some(map) = v.as_mapping() else {
        issues.push(Issue::new(path, format!("expected a mapping with the key `{field}`")));
        return None;
    };
    known_keys(map, &[field], path, "this mapping", issues);
    let Some(items) = map.get(field) else {
        issues.push(Issue::new(path, format!("missing key `{field}`")));
        return None;
    };
    list(items, &child(path, key(field)), what, issues, parse)
}

/// A list of names, or `["*"]` (→ `Some(None)`: any).
fn list<T: PartialEq>(
    v: &Value,
    path: &[Seg],
    what: &str,
    issues: &mut Vec<Issue>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<Option<Vec<T>>> {
    let Some(items) = v.as_sequence().filter(|s| !s.is_empty()) else {
        issues.push(Issue::new(path, format!("expected a non-empty list of {what}s, or [\"*\"] for any")));
        return None;
    };
    let before = issues.len();
    let mut out = Vec::new();
    let mut any = false;
    for (i, item) in items.iter().enumerate() {
        let at = child(path, Seg::Index(i));
        match item.as_str() {
            Some("*") if items.len() == 1 => any = true,
            Some("*") => issues.push(Issue::new(&at, "`*` means any and must stand alone")),
            Some(name) => match parse(name) {
                Ok(x) if out.contains(&x) => issues.push(Issue::new(&at, format!("{what} `{name}` is listed twice"))),
                Ok(x) => out.push(x),
                Err(known) => issues.push(Issue::new(&at, format!("unknown {what} `{name}`; known: {known}"))),
            },
            None => issues.push(Issue::new(&at, format!("expected a {what} name (a string)"))),
        }
    }
    (issues.len() == before).then_some(if any { None } else { Some(out) })
}

/// Every listed action must exist for at least one listed type.
fn check_actions(actions: &[Action], types: &[ResourceType], path: &[Seg], v: &Value, issues: &mut Vec<Issue>) {
    for a in actions {
        if types.iter().any(|t| t.supports(*a)) {
            continue;
        }
        let i = v.as_sequence().and_then(|s| s.iter().position(|x| x.as_str() == Some(a.as_str()))).unwrap_or(0);
        let has: Vec<&str> = ResourceType::ALL.iter().filter(|t| t.supports(*a)).map(|t| t.as_str()).collect();
        let listed: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
        let msg = format!(
            "action `{}` does not apply to {}; it applies to: {}",
            a.as_str(),
            listed.join(", "),
            has.join(", ")
        );
        issues.push(Issue::new(&child(path, Seg::Index(i)), msg));
    }
}

fn conditions(
    v: Option<&Value>,
    path: &[Seg],
    types: Option<&[ResourceType]>,
    issues: &mut Vec<Issue>,
) -> Option<Vec<Condition>> {
    let items = match v {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(Value::Sequence(items)) => items,
        Some(_) => {
            issues.push(Issue::new(path, "`conditions` must be a list of conditions (all must hold)"));
            return None;
        }
    };
    let before = issues.len();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = child(path, Seg::Index(i));
        let Some(text) = item.as_str() else {
            issues.push(Issue::new(&at, "a condition must be a string; quote it"));
            continue;
        };
        let checked = expr::parse(text).and_then(|e| match types {
            Some(types) => e.check_condition(types).map(|()| e),
            None => Ok(e),
        });
        match checked {
            Ok(expr) => out.push(Condition { text: text.to_owned(), expr }),
            Err(e) => issues.push(Issue { offset: Some(e.pos), ..Issue::new(&at, e.message) }),
        }
    }
    (issues.len() == before).then_some(out)
}
