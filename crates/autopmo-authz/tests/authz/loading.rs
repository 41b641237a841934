//! Loading policy files: the default file, and errors that point at the right line.

use autopmo_authz::{Effect, PolicyError, PolicySet};

fn errors(yaml: &str) -> Vec<PolicyError> {
    match PolicySet::parse("test.yaml", yaml) {
        Ok(_) => panic!("expected errors for:\n{yaml}"),
        Err(e) => e.errors,
    }
}

fn at(errors: &[PolicyError]) -> Vec<(usize, usize)> {
    errors.iter().map(|e| (e.line, e.column)).collect()
}

/// A valid policy, indented as an item of `policies:`.
fn policy(name: &str, condition: &str) -> String {
    format!(
        "  - name: {name}
    description: test
    effect: allow
    subjects:
      roles: [project_manager]
    resources:
      types: [project]
    conditions:
      - {condition}
    actions: [read]
"
    )
}

#[test]
fn the_default_file_loads() {
    let set = PolicySet::parse("default.yaml", PolicySet::builtin_source()).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = set.summaries().into_iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "admin_all",
            "pm_own_projects",
            "pm_create_own_projects",
            "pm_delete_own_projects",
            "pm_manage_tasks_in_own_projects",
            "pm_reports_own_projects",
            "members_read_projects",
            "developers_update_tasks",
            "members_generate_reports",
            "auditors_read_everything",
            "ml_engineers_models_agents",
            "users_directory",
            "own_approvals",
        ]
    );
    assert!(set.summaries().iter().all(|s| !s.description.is_empty()));
    assert_eq!(PolicySet::builtin().source(), PolicySet::builtin_source());
}

#[test]
fn summaries_show_the_guide_example_as_written() {
    let set = PolicySet::builtin();
    let pm = set.summaries().into_iter().find(|s| s.name == "pm_own_projects").unwrap();
    assert_eq!(pm.description, "PMs can only access projects they own");
    assert_eq!(pm.effect, Effect::Allow);
    assert_eq!(pm.roles, ["project_manager"]);
    assert_eq!(pm.types, ["project"]);
    assert_eq!(pm.conditions, ["project.owner_id == user.id"]);
    assert_eq!(pm.actions, ["read", "update"]);
    assert_eq!(pm.line, 20);
    assert!(set.cedar_source().contains(
        "permit (principal, action == Action::\"update\", resource is Project)\n\
         when { principal.roles.contains(\"project_manager\") && (resource.owner_id == principal.id) };"
    ));
}

#[test]
fn a_yaml_syntax_error_reports_its_line() {
    let yaml = "policies:\n  - name: a\n    effect: allow\n   bad: [\n";
    let errs = errors(yaml);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].line, 4, "{errs:?}");
    assert!(!errs[0].message.contains("at line 4 column"), "position is not repeated: {}", errs[0].message);
}

#[test]
fn an_unknown_key_reports_the_key() {
    let yaml = format!("policies:\n{}    colour: red\n", policy("a", "project.owner_id == user.id"));
    let errs = errors(&yaml);
    assert_eq!(at(&errs), [(12, 5)]);
    assert!(errs[0].message.starts_with("unknown key `colour` in a policy; expected: name, description"), "{errs:?}");
}

#[test]
fn an_unknown_role_reports_the_item() {
    let yaml = format!("policies:\n{}", policy("a", "request.mfa")).replace("[project_manager]", "[developer, wizard]");
    let errs = errors(&yaml);
    assert_eq!(at(&errs), [(6, 26)]);
    assert_eq!(
        errs[0].message,
        "unknown role `wizard`; known: system_admin, project_manager, developer, stakeholder, auditor, ml_engineer"
    );
}

#[test]
fn an_unknown_attribute_reports_the_column_inside_the_condition() {
    let yaml = format!("policies:\n{}", policy("a", "project.owner_id == user.id and project.foo == 'x'"));
    let errs = errors(&yaml);
    // `      - ` is 8 columns; `project.foo` starts at offset 32 of the condition.
    assert_eq!(at(&errs), [(10, 41)]);
    assert!(errs[0].message.starts_with("unknown attribute project.foo; known: user.id, user.username"));
}

#[test]
fn a_quoted_condition_counts_the_quote() {
    let yaml = format!("policies:\n{}", policy("a", r#"'"x" == project.budget'"#));
    let errs = errors(&yaml);
    assert_eq!(at(&errs), [(10, 10)]);
    assert_eq!(errs[0].message, "cannot compare string with decimal");
}

#[test]
fn a_type_error_reports_its_line() {
    let yaml = format!("policies:\n{}", policy("a", "project.budget > 'one million'"));
    let errs = errors(&yaml);
    assert_eq!(at(&errs), [(10, 9)]);
    assert_eq!(errs[0].message, "`>` compares decimals; cannot compare decimal with string");
}

#[test]
fn a_bad_expression_in_the_third_policy_reports_its_line() {
    let yaml = format!(
        "policies:\n{}{}{}",
        policy("one", "project.owner_id == user.id"),
        policy("two", "user.id in project.member_ids"),
        policy("three", "project.owner_id = user.id"),
    );
    let errs = errors(&yaml);
    assert_eq!(at(&errs), [(30, 26)]);
    assert_eq!(errs[0].message, "unexpected `=`; compare with `==`");
}

#[test]
fn a_task_attribute_in_a_project_policy_names_the_type() {
    let yaml = format!("policies:\n{}", policy("a", "task.status == 'done'")).replace("[project]", "[task, project]");
    let errs = errors(&yaml);
    assert_eq!(at(&errs), [(10, 9)]);
    assert_eq!(errs[0].message, "task.status is not available for resource type project; it exists for: task");
}

#[test]
fn several_errors_are_reported_together_in_file_order() {
    let yaml = format!(
        "policies:\n{}{}{}",
        policy("one", "project.owner_id == user.id").replace("effect: allow", "effect: maybe"),
        policy("one", "user.id in project.member_ids").replace("[read]", "[read, deploy]"),
        policy("three", "project.owner_id == ").replace("types: [project]", "types: [project, galaxy]"),
    );
    let err = PolicySet::parse("many.yaml", &yaml).unwrap_err();
    let lines: Vec<String> = err.to_string().lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        [
            "many.yaml:4:13: unknown effect `maybe`; expected: allow, deny",
            "many.yaml:12:11: duplicate policy name `one`; names must be unique",
            "many.yaml:21:21: action `deploy` does not apply to project; it applies to: model",
            "many.yaml:28:24: unknown resource type `galaxy`; known: project, task, report, audit, agent, model, \
             user, policy, approval",
            "many.yaml:30:28: expected a value or an attribute, found the end of the condition",
        ],
        "{err}"
    );
}

#[test]
fn shape_errors_are_collected() {
    let yaml = "\
policies:
  - name: a
    effect: allow
    subjects:
      roles: []
    resources:
      kinds: [project]
    actions: [read]
  - just a string
  - name: c
    effect: allow
";
    let errs = errors(yaml);
    let msgs: Vec<(usize, &str)> = errs.iter().map(|e| (e.line, e.message.as_str())).collect();
    assert_eq!(
        msgs,
        [
            (5, "expected a non-empty list of roles, or [\"*\"] for any"),
            (7, "unknown key `kinds` in this mapping; expected: types"),
            (7, "missing key `types`"),
            (9, "a policy must be a mapping (name, description, effect, ...)"),
            (10, "policy is missing: subjects, resources, actions"),
        ]
    );
}

#[test]
fn the_top_level_is_checked() {
    assert_eq!(at(&errors("rules: []\n")), [(1, 1), (1, 1)]);
    assert_eq!(errors("policies: 3\n")[0].message, "`policies` must be a list");
    let empty = PolicySet::parse("empty.yaml", "policies: []\n").unwrap();
    assert!(empty.summaries().is_empty());
}

#[test]
fn star_must_stand_alone_and_conditions_must_be_strings() {
    let yaml = format!("policies:\n{}", policy("a", "request.mfa"))
        .replace("[project_manager]", "['*', auditor]")
        .replace("      - request.mfa", "      - request.mfa\n      - 42");
    let errs = errors(&yaml);
    assert_eq!(at(&errs), [(6, 15), (11, 9)]);
    assert_eq!(errs[1].message, "a condition must be a string; quote it");
}

#[test]
fn unknown_actions_are_named_with_the_known_ones() {
    let yaml = format!("policies:\n{}", policy("a", "request.mfa")).replace("actions: [read]", "actions: [read, fly]");
    let errs = errors(&yaml);
    assert_eq!(at(&errs), [(11, 21)]);
    assert!(errs[0].message.starts_with("unknown action `fly`; known: read, create, update"), "{errs:?}");
}

#[test]
fn a_deny_in_the_file_overrides_an_allow() {
    use autopmo_authz::{Authorizer, Matrix, Permission, Reason, Target};
    use autopmo_domain::Role;

    let yaml = format!(
        "policies:\n{}{}",
        policy("pm_reads", "project.owner_id == user.id"),
        policy("but_not_on_hold", "project.status == 'on_hold'").replace("effect: allow", "effect: deny"),
    );
    let set = PolicySet::parse("deny.yaml", &yaml).unwrap();
    assert_eq!(set.summaries()[1].effect, Effect::Deny);
    let authz = Authorizer::new(Matrix::builtin(), set);
    let pm = crate::helpers::subject("pm", &[Role::ProjectManager]);
    let mut p = crate::helpers::project("p", "pm", &[]);
    let d = authz.decide(&pm, Permission::PROJECTS_READ, &Target::Project(p.clone()), &crate::helpers::get());
    assert_eq!((d.reason, d.policies), (Reason::Allowed, vec!["pm_reads".to_owned()]));
    p.status = "on_hold".into();
    let d = authz.decide(&pm, Permission::PROJECTS_READ, &Target::Project(p), &crate::helpers::get());
    assert_eq!((d.reason, d.policies), (Reason::DeniedByPolicy, vec!["but_not_on_hold".to_owned()]));
}
