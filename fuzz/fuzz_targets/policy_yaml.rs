//! Policy files (`autopmo_authz::PolicySet::parse`): arbitrary text as the
//! YAML of a policy file, as `autopmo policy check` and a reload read it.
//!
//! Properties beyond "never panics": every error renders with a position;
//! a file that loads yields an authorizer that decides (and scopes) without
//! panicking, and a set that loads again from its own source.
#![no_main]

use autopmo_authz::{
    Authorizer, Matrix, Permission, PolicySet, ProjectAttrs, RequestAttrs, ResourceType, Subject, Target, TaskAttrs,
};
use autopmo_domain::Role;
use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;

fuzz_target!(|yaml: &str| {
    let set = match PolicySet::parse("fuzz.yaml", yaml) {
        Ok(set) => set,
        Err(errors) => {
            let shown = errors.to_string();
            assert!(!shown.is_empty());
            return;
        }
    };
    let again = PolicySet::parse("fuzz.yaml", set.source()).expect("a loaded file loads again");
    assert_eq!(again.summaries(), set.summaries());

    let authz = Authorizer::new(Matrix::builtin(), set);
    let project = ProjectAttrs {
        id: "p-1".into(),
        owner_id: "u-1".into(),
        budget: Decimal::new(125_000_050, 2),
        currency: "USD".into(),
        status: "active".into(),
        member_ids: vec!["u-2".into()],
    };
    let task = TaskAttrs { id: "t-1".into(), assignee_id: None, status: "todo".into(), project: project.clone() };
    let request = RequestAttrs { ip: Some("192.0.2.1".into()), method: "GET".into(), mfa: false };
    for role in [Role::SystemAdmin, Role::ProjectManager, Role::Developer, Role::Auditor] {
        let subject = Subject { id: "u-1".into(), username: "alice".into(), roles: vec![role] };
        for (permission, target) in [
            (Permission::PROJECTS_READ, Target::Project(project.clone())),
            (Permission::TASKS_UPDATE, Target::Task(task.clone())),
            (Permission::AUDIT_READ, Target::Type(ResourceType::Audit)),
        ] {
            let _ = authz.decide(&subject, permission, &target, &request);
        }
        let scope = authz.project_scope(&subject, Permission::PROJECTS_READ, &request);
        let _ = scope.matches(&project);
    }
});
