//! The ABAC policies of guide §3.2: loaded from YAML, type-checked against
//! the attribute catalog, compiled to Cedar, validated against the Cedar
//! schema (strict), and kept as one Cedar policy set per resource type.

mod compile;
mod load;
mod locate;

use std::collections::HashMap;
use std::sync::LazyLock;

use autopmo_domain::Role;
use cedar_policy::{PolicyId, Schema, ValidationMode, Validator};

pub(crate) use compile::decimal_text;

use crate::error::{PolicyError, PolicyErrors};
use crate::expr::{Attr, AttrSet, Expr};
use crate::permission::{Action, ResourceType};
use load::Issue;
use locate::Seg;

const BUILTIN: &str = include_str!("../../policies/default.yaml");
const SCHEMA: &str = include_str!("../schema.cedarschema");

/// The Cedar schema, parsed once. `None` only if the shipped schema is broken (a test proves it is not).
pub(crate) static CEDAR_SCHEMA: LazyLock<Option<Schema>> =
    LazyLock::new(|| Schema::from_cedarschema_str(SCHEMA).ok().map(|(s, _warnings)| s));

/// Whether a policy allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// `allow`: grants when its conditions hold (and no deny does).
    Allow,
    /// `deny`: refuses when its conditions hold, whatever allows.
    Deny,
}

impl Effect {
    /// `allow` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// One condition of a policy: its text and its syntax tree.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    pub(crate) text: String,
    pub(crate) expr: Expr,
}

/// One loaded YAML policy.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) effect: Effect,
    /// `None`: any role.
    pub(crate) roles: Option<Vec<Role>>,
    /// Expanded (`*` → every type).
    pub(crate) types: Vec<ResourceType>,
    /// `None`: every action.
    pub(crate) actions: Option<Vec<Action>>,
    pub(crate) conditions: Vec<Condition>,
    pub(crate) line: usize,
    pub(crate) written_roles: Vec<String>,
    pub(crate) written_types: Vec<String>,
    pub(crate) written_actions: Vec<String>,
}

impl Policy {
    /// Whether this policy is about `action` on `t` for someone with `roles`.
    pub(crate) fn applies(&self, roles: &[Role], t: ResourceType, action: Action) -> bool {
        self.types.contains(&t)
            && t.supports(action)
            && self.actions.as_ref().is_none_or(|a| a.contains(&action))
            && self.roles.as_ref().is_none_or(|rs| rs.iter().any(|r| roles.contains(r)))
    }
}

/// What a policy says, as written (for `GET /policies` and reviews).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySummary {
    /// Unique name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Allow or deny.
    pub effect: Effect,
    /// Roles it is about (`*`: any).
    pub roles: Vec<String>,
    /// Resource types it is about (`*`: any).
    pub types: Vec<String>,
    /// Actions it is about (`*`: any).
    pub actions: Vec<String>,
    /// Its conditions, as written (all must hold).
    pub conditions: Vec<String>,
    /// The line where it starts in its file.
    pub line: usize,
}

/// A loaded policy file. Immutable; cheap to evaluate.
#[derive(Debug, Clone)]
pub struct PolicySet {
    source_name: String,
    source: String,
    pub(crate) policies: Vec<Policy>,
    /// One Cedar policy set per (resource type, action): see [`slot`].
    pub(crate) cedar: Vec<cedar_policy::PolicySet>,
    /// Cedar policy id → (index into `policies`, effect).
    pub(crate) ids: HashMap<PolicyId, (usize, Effect)>,
    cedar_source: String,
    /// Per (type, action), the attributes its policies read: a request
    /// carries only those to Cedar (building Cedar values is most of its cost).
    needs: Vec<AttrSet>,
    /// Per (type, action), the string literals its policies contain.
    strings: Vec<Vec<String>>,
    /// Per (type, action), the indexes into `policies` of the policies about it.
    by_slot: Vec<Vec<usize>>,
}

impl PolicySet {
    /// The shipped default policies (`policies/default.yaml`).
    pub fn builtin() -> Self {
        // The shipped file is tested to load; should it ever not, allow nothing.
        Self::parse("policies/default.yaml", BUILTIN).unwrap_or_else(|_| Self::empty())
    }

    /// The text of the shipped default policies.
    pub fn builtin_source() -> &'static str {
        BUILTIN
    }

    /// No policies: every instance decision is denied.
    pub fn empty() -> Self {
        Self {
            source_name: String::new(),
            source: String::new(),
            policies: Vec::new(),
            cedar: vec![cedar_policy::PolicySet::new(); SLOTS],
            ids: HashMap::new(),
            cedar_source: String::new(),
            needs: vec![AttrSet::default(); SLOTS],
            strings: vec![Vec::new(); SLOTS],
            by_slot: vec![Vec::new(); SLOTS],
        }
    }

    /// Loads a policy file. `source_name` is the file name used in error
    /// messages. Every problem is reported, each with its line and column.
    pub fn parse(source_name: &str, yaml: &str) -> Result<Self, PolicyErrors> {
        let fail = |errors: Vec<PolicyError>| PolicyErrors::new(source_name, errors);
        let doc: yaml_serde::Value = yaml_serde::from_str(yaml).map_err(|e| {
            let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
            // The position is reported in front; drop its repetition from the message.
            let message = e.to_string().replacen(&format!(" at line {line} column {column}"), "", 1);
            fail(vec![PolicyError::new(line, column, message)])
        })?;
        let mut issues = Vec::new();
        let loaded = load::load(&doc, &mut issues);
        let mut set = Self { source_name: source_name.to_owned(), source: yaml.to_owned(), ..Self::empty() };
        let mut compiled = Vec::new();
        for (i, policy) in loaded.into_iter().enumerate() {
            let Some(mut policy) = policy else { continue };
            let path = [Seg::Key("policies".into()), Seg::Index(i)];
            policy.line = locate::locate(yaml, &path, false).map_or(0, |(line, _)| line);
            let index = set.policies.len();
            let mut reads = AttrSet::default();
            let mut strings = Vec::new();
            for c in &policy.conditions {
                c.expr.collect_attrs(&mut reads);
                c.expr.collect_strings(&mut strings);
            }
            if policy.roles.is_some() {
                reads.insert(Attr::UserRoles);
            }
            for (t, action) in policy.types.iter().flat_map(|t| t.actions().iter().map(move |a| (*t, *a))) {
                if policy.actions.as_ref().is_some_and(|list| !list.contains(&action)) {
                    continue;
                }
                let text = compile::policy(&policy, t, action);
                let id = PolicyId::new(format!("{}#{}#{}", policy.name, t.as_str(), action.as_str()));
                match cedar_policy::Policy::parse(Some(id.clone()), &text) {
                    Ok(p) => compiled.push((slot(t, action), t, p, path.to_vec())),
                    Err(e) => issues.push(Issue::cedar(&path, &policy.name, t, &e.to_string())),
                }
                if let Some(needs) = set.needs.get_mut(slot(t, action)) {
                    *needs = needs.union(reads);
                }
                if let Some(about) = set.by_slot.get_mut(slot(t, action))
                    && about.last() != Some(&index)
                {
                    about.push(index);
                }
                if let Some(known) = set.strings.get_mut(slot(t, action)) {
                    known.extend(strings.iter().cloned());
                    known.sort();
                    known.dedup();
                }
                set.cedar_source.push_str(&text);
                set.cedar_source.push_str("\n\n");
                set.ids.insert(id, (index, policy.effect));
            }
            set.policies.push(policy);
        }
        let mut all = cedar_policy::PolicySet::new();
        for (_, _, p, _) in &compiled {
            if let Err(e) = all.add(p.clone()) {
                issues.push(Issue::new_top(&e.to_string()));
            }
        }
        match CEDAR_SCHEMA.as_ref() {
            Some(schema) => {
                let result = Validator::new(schema.clone()).validate(&all, ValidationMode::Strict);
                for err in result.validation_errors() {
                    if let Some((_, t, _, path)) = compiled.iter().find(|(_, _, p, _)| p.id() == err.policy_id()) {
                        let name = set.origin(err.policy_id()).map_or("", |(name, _)| name);
                        issues.push(Issue::cedar(path, name, *t, &err.to_string()));
                    }
                }
            }
            None => issues.push(Issue::new_top("the built-in Cedar schema does not load")),
        }
        if !issues.is_empty() {
            return Err(fail(issues.into_iter().map(|i| i.locate(yaml)).collect()));
        }
        for (slot, _, p, _) in compiled {
            if let Some(per_slot) = set.cedar.get_mut(slot) {
                per_slot.add(p).map_err(|e| fail(vec![PolicyError::new(1, 1, e.to_string())]))?;
            }
        }
        Ok(set)
    }

    /// What each policy says, in file order.
    pub fn summaries(&self) -> Vec<PolicySummary> {
        self.policies
            .iter()
            .map(|p| PolicySummary {
                name: p.name.clone(),
                description: p.description.clone(),
                effect: p.effect,
                roles: p.written_roles.clone(),
                types: p.written_types.clone(),
                actions: p.written_actions.clone(),
                conditions: p.conditions.iter().map(|c| c.text.clone()).collect(),
                line: p.line,
            })
            .collect()
    }

    /// The YAML text the set was loaded from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The file name the set was loaded from.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// The compiled Cedar policies (for reviews and debugging).
    pub fn cedar_source(&self) -> &str {
        &self.cedar_source
    }

    /// The Cedar policies for `action` on type `t`.
    pub(crate) fn cedar_for(&self, t: ResourceType, action: Action) -> Option<&cedar_policy::PolicySet> {
        self.cedar.get(slot(t, action))
    }

    /// The policies about `action` on type `t`, in file order.
    pub(crate) fn about(&self, t: ResourceType, action: Action) -> impl Iterator<Item = &Policy> {
        let about = self.by_slot.get(slot(t, action)).map_or(&[][..], Vec::as_slice);
        about.iter().filter_map(|i| self.policies.get(*i))
    }

    /// The attributes the policies for `action` on type `t` read.
    pub(crate) fn needs(&self, t: ResourceType, action: Action) -> AttrSet {
        self.needs.get(slot(t, action)).copied().unwrap_or_default()
    }

    /// The string literals in the policies for `action` on type `t`.
    pub(crate) fn strings(&self, t: ResourceType, action: Action) -> &[String] {
        self.strings.get(slot(t, action)).map_or(&[], Vec::as_slice)
    }

    /// The YAML name and effect of a compiled Cedar policy.
    pub(crate) fn origin(&self, id: &PolicyId) -> Option<(&str, Effect)> {
        let (index, effect) = self.ids.get(id)?;
        Some((self.policies.get(*index)?.name.as_str(), *effect))
    }
}

const SLOTS: usize = ResourceType::ALL.len() * Action::ALL.len();

/// The index of (type, action) in the per-slot tables.
fn slot(t: ResourceType, action: Action) -> usize {
    t.index() * Action::ALL.len() + action as usize
}

impl Issue {
    fn cedar(path: &[Seg], name: &str, t: ResourceType, message: &str) -> Self {
        Self {
            path: path.to_vec(),
            at_key: false,
            offset: None,
            message: format!("policy `{name}` does not compile to valid Cedar for type {}: {message}", t.as_str()),
        }
    }

    fn new_top(message: &str) -> Self {
        Self { path: Vec::new(), at_key: false, offset: None, message: message.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_loads_and_its_actions_match_the_catalog() {
        let schema = CEDAR_SCHEMA.as_ref().expect("the shipped schema loads");
        let validator = Validator::new(schema.clone());
        for t in ResourceType::ALL {
            for a in Action::ALL {
                let text = format!("permit (principal, action == Action::\"{a}\", resource is {});", t.cedar_type());
                let policy = cedar_policy::Policy::parse(None, &text).unwrap();
                let set = cedar_policy::PolicySet::from_policies([policy]).unwrap();
                let result = validator.validate(&set, ValidationMode::Strict);
                assert_eq!(result.validation_passed_without_warnings(), t.supports(*a), "{t}:{a}");
            }
        }
    }
}
