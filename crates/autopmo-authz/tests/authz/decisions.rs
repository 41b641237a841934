//! Decisions with the built-in matrix and default policies.

use std::collections::HashSet;

use autopmo_authz::{Action, Authorizer, Matrix, Permission, PolicySet, Reason, ResourceType, Target};
use autopmo_domain::Role;

use crate::helpers::*;

#[test]
fn every_cell_the_matrix_grants_is_reachable_and_no_other() {
    let authz = Authorizer::builtin();
    for role in Role::ALL {
        let me = subject("me", &[*role]);
        for p in Permission::catalog() {
            let d = authz.decide(&me, p, &mine(p.resource, "me"), &get());
            if authz.matrix().grants(*role, p) {
                assert!(d.allowed, "{} should reach {p}: {d:?}", role.as_str());
                assert_eq!(d.reason, Reason::Allowed);
                assert!(!d.policies.is_empty());
            } else {
                assert_eq!(d.reason, Reason::NoRoleGrants, "{} / {p}", role.as_str());
                assert!(!d.allowed && !d.matrix_granted && d.policies.is_empty());
            }
        }
    }
}

#[test]
fn the_admin_can_do_everything_on_anything() {
    let authz = Authorizer::builtin();
    let admin = subject("root", &[Role::SystemAdmin]);
    for p in authz.matrix().role_permissions(Role::SystemAdmin) {
        let d = authz.decide(&admin, p, &foreign(p.resource), &get());
        assert!(d.allowed, "{p}: {d:?}");
        assert!(d.policies.contains(&"admin_all".to_owned()), "{d:?}");
    }
    assert_eq!(authz.matrix().role_permissions(Role::SystemAdmin).len(), 19);
}

#[test]
fn the_auditor_reads_all_projects_but_changes_nothing() {
    let authz = Authorizer::builtin();
    let auditor = subject("aud", &[Role::Auditor]);
    let d = authz.decide(&auditor, Permission::PROJECTS_READ, &foreign(ResourceType::Project), &get());
    assert!(d.allowed);
    assert_eq!(d.policies, ["auditors_read_everything"]);
    let d = authz.decide(&auditor, Permission::PROJECTS_UPDATE, &mine(ResourceType::Project, "aud"), &get());
    assert_eq!(d.reason, Reason::NoRoleGrants);
    for t in [ResourceType::Audit, ResourceType::Model, ResourceType::Agent, ResourceType::Policy] {
        let p = Permission::new(t, Action::Read);
        assert!(authz.decide(&auditor, p, &Target::Type(t), &get()).allowed, "{p}");
    }
}

#[test]
fn a_developer_reads_only_projects_they_belong_to() {
    let authz = Authorizer::builtin();
    let dev = subject("dev", &[Role::Developer]);
    let d = authz.decide(&dev, Permission::PROJECTS_READ, &foreign(ResourceType::Project), &get());
    assert!(!d.allowed);
    assert!(d.matrix_granted);
    assert_eq!(d.reason, Reason::NoPolicyAllows);
    assert!(d.policies.is_empty());
    let member = Target::Project(project("p", "pm", &["dev"]));
    let d = authz.decide(&dev, Permission::PROJECTS_READ, &member, &get());
    assert!(d.allowed);
    assert_eq!(d.policies, ["members_read_projects"]);
}

#[test]
fn a_developer_updates_tasks_assigned_to_them_or_in_their_projects() {
    let authz = Authorizer::builtin();
    let dev = subject("dev", &[Role::Developer]);
    let assigned = Target::Task(task(Some("dev"), project("p", "pm", &[])));
    let member = Target::Task(task(None, project("p", "pm", &["dev"])));
    let neither = Target::Task(task(Some("other"), project("p", "pm", &["other"])));
    assert!(authz.decide(&dev, Permission::TASKS_UPDATE, &assigned, &get()).allowed);
    assert!(authz.decide(&dev, Permission::TASKS_UPDATE, &member, &get()).allowed);
    assert_eq!(authz.decide(&dev, Permission::TASKS_UPDATE, &neither, &get()).reason, Reason::NoPolicyAllows);
    assert_eq!(authz.decide(&dev, Permission::TASKS_ASSIGN, &assigned, &get()).reason, Reason::NoRoleGrants);
}

#[test]
fn a_pm_cannot_update_another_pms_project() {
    let authz = Authorizer::builtin();
    let pm = subject("pm-a", &[Role::ProjectManager]);
    let theirs = Target::Project(project("p", "pm-b", &["pm-a"]));
    let d = authz.decide(&pm, Permission::PROJECTS_UPDATE, &theirs, &get());
    assert_eq!(d.reason, Reason::NoPolicyAllows);
    // …though a member may read it.
    assert!(authz.decide(&pm, Permission::PROJECTS_READ, &theirs, &get()).allowed);
    let own = Target::Project(project("p", "pm-a", &["pm-a"]));
    let d = authz.decide(&pm, Permission::PROJECTS_READ, &own, &get());
    assert_eq!(d.policies, ["members_read_projects", "pm_own_projects"]);
    for p in [Permission::PROJECTS_UPDATE, Permission::PROJECTS_DELETE, Permission::PROJECTS_CREATE] {
        assert!(authz.decide(&pm, p, &own, &get()).allowed, "{p}");
    }
    let other_task = Target::Task(task(None, project("p", "pm-b", &["pm-a"])));
    assert!(!authz.decide(&pm, Permission::TASKS_ASSIGN, &other_task, &get()).allowed);
}

#[test]
fn a_stakeholder_reads_and_reports_on_member_projects_but_does_not_update() {
    let authz = Authorizer::builtin();
    let sh = subject("sh", &[Role::Stakeholder]);
    let p = project("p", "pm", &["sh"]);
    assert!(authz.decide(&sh, Permission::PROJECTS_READ, &Target::Project(p.clone()), &get()).allowed);
    assert!(authz.decide(&sh, Permission::REPORTS_GENERATE, &Target::Report(p.clone()), &get()).allowed);
    let d = authz.decide(&sh, Permission::PROJECTS_UPDATE, &Target::Project(p), &get());
    assert_eq!((d.allowed, d.reason), (false, Reason::NoRoleGrants));
    let d = authz.decide(&sh, Permission::REPORTS_GENERATE, &foreign(ResourceType::Report), &get());
    assert_eq!(d.reason, Reason::NoPolicyAllows);
}

#[test]
fn the_ml_engineer_cannot_deploy_even_when_a_policy_allows_it() {
    let authz = with_policies(
        "
  - name: ml_may_deploy
    description: a careless policy
    effect: allow
    subjects:
      roles: [ml_engineer]
    resources:
      types: [model]
    actions: [deploy]
",
    );
    let ml = subject("ml", &[Role::MlEngineer]);
    let d = authz.decide(&ml, Permission::MODELS_DEPLOY, &Target::Type(ResourceType::Model), &get());
    assert_eq!((d.allowed, d.matrix_granted, d.reason), (false, false, Reason::NoRoleGrants));
    let d = authz.decide(&ml, Permission::MODELS_PROPOSE, &Target::Type(ResourceType::Model), &get());
    assert!(d.allowed);
    assert_eq!(d.policies, ["ml_engineers_models_agents"]);
}

#[test]
fn no_roles_no_access() {
    let authz = Authorizer::builtin();
    let nobody = subject("nobody", &[]);
    for p in Permission::catalog() {
        let d = authz.decide(&nobody, p, &mine(p.resource, "nobody"), &get());
        assert_eq!((d.allowed, d.reason), (false, Reason::NoRoleGrants), "{p}");
        let d = authz.decide(&nobody, p, &Target::Collection(p.resource), &get());
        assert!(!d.allowed, "{p}");
    }
    // Policies for any role (`*`) still need a role that the matrix grants.
    let d = authz.decide(&nobody, Permission::USERS_READ, &Target::Type(ResourceType::User), &get());
    assert_eq!(d.reason, Reason::NoRoleGrants);
}

#[test]
fn unknown_actions_and_mismatched_targets_are_refused() {
    let authz = Authorizer::builtin();
    let admin = subject("root", &[Role::SystemAdmin]);
    let nonsense = Permission::new(ResourceType::Audit, Action::Deploy);
    assert!(!nonsense.exists());
    let d = authz.decide(&admin, nonsense, &Target::Type(ResourceType::Audit), &get());
    assert_eq!((d.allowed, d.reason), (false, Reason::NoRoleGrants));
    let d = authz.decide(&admin, Permission::PROJECTS_READ, &mine(ResourceType::Task, "root"), &get());
    assert_eq!((d.allowed, d.reason), (false, Reason::InvalidRequest));
    assert_eq!(d.errors, ["projects:read asked about a target of type task"]);
}

#[test]
fn collections_are_decided_by_the_matrix_alone() {
    let authz = Authorizer::builtin();
    let dev = subject("dev", &[Role::Developer]);
    let d = authz.decide(&dev, Permission::PROJECTS_READ, &Target::Collection(ResourceType::Project), &get());
    assert!(d.allowed && d.policies.is_empty());
    let d = authz.decide(&dev, Permission::PROJECTS_CREATE, &Target::Collection(ResourceType::Project), &get());
    assert_eq!(d.reason, Reason::NoRoleGrants);
    // A PM may open the create form, but may only create a project they own.
    let pm = subject("pm", &[Role::ProjectManager]);
    assert!(authz.decide(&pm, Permission::PROJECTS_CREATE, &Target::Collection(ResourceType::Project), &get()).allowed);
    let for_someone_else = Target::Project(project("new", "other", &[]));
    assert!(!authz.decide(&pm, Permission::PROJECTS_CREATE, &for_someone_else, &get()).allowed);
}

#[test]
fn type_targets_need_the_matrix_and_a_policy() {
    let matrix = Matrix::from_toml("[roles]\nproject_manager = [\"audit:read\"]\n").unwrap();
    let authz = Authorizer::new(matrix, PolicySet::builtin());
    let pm = subject("pm", &[Role::ProjectManager]);
    let d = authz.decide(&pm, Permission::AUDIT_READ, &Target::Type(ResourceType::Audit), &get());
    assert_eq!((d.matrix_granted, d.reason), (true, Reason::NoPolicyAllows));
}

#[test]
fn approvals_are_read_by_their_requester_and_decided_by_the_admin() {
    let authz = Authorizer::builtin();
    let dev = subject("dev", &[Role::Developer]);
    let own = Target::Approval(approval("dev", None));
    let theirs = Target::Approval(approval("pm", Some(project("p", "pm", &["dev"]))));
    let d = authz.decide(&dev, Permission::APPROVALS_READ, &own, &get());
    assert_eq!(d.policies, ["own_approvals"]);
    assert!(!authz.decide(&dev, Permission::APPROVALS_READ, &theirs, &get()).allowed);
    let admin = subject("root", &[Role::SystemAdmin]);
    assert!(authz.decide(&admin, Permission::APPROVALS_DECIDE, &theirs, &get()).allowed);
}

#[test]
fn a_condition_about_the_project_is_false_for_an_approval_without_one() {
    let authz = with_policies(
        "
  - name: pm_reads_approvals_on_own_projects
    description: test
    effect: allow
    subjects:
      roles: [project_manager]
    resources:
      types: [approval]
    conditions:
      - project.owner_id == user.id
    actions: [read]
",
    );
    let pm = subject("pm", &[Role::ProjectManager]);
    let on_mine = Target::Approval(approval("dev", Some(project("p", "pm", &[]))));
    let without = Target::Approval(approval("dev", None));
    assert!(authz.decide(&pm, Permission::APPROVALS_READ, &on_mine, &get()).allowed);
    let d = authz.decide(&pm, Permission::APPROVALS_READ, &without, &get());
    assert_eq!(d.reason, Reason::NoPolicyAllows);
    assert!(d.errors.is_empty(), "{:?}", d.errors);
}

const DELETE_NEEDS_MFA: &str = "
  - name: deletes_need_mfa
    description: Deleting needs a second factor verified recently
    effect: deny
    subjects:
      roles: [\"*\"]
    resources:
      types: [project, task]
    conditions:
      - request.mfa == false
    actions: [delete]
";

#[test]
fn an_explicit_deny_wins_over_allows() {
    let authz = with_policies(DELETE_NEEDS_MFA);
    for who in [subject("root", &[Role::SystemAdmin]), subject("pm", &[Role::ProjectManager])] {
        let own = mine(ResourceType::Project, &who.id);
        let d = authz.decide(&who, Permission::PROJECTS_DELETE, &own, &with_mfa(false));
        assert_eq!((d.allowed, d.reason), (false, Reason::DeniedByPolicy), "{}", who.id);
        assert_eq!(d.policies, ["deletes_need_mfa"]);
        let d = authz.decide(&who, Permission::PROJECTS_DELETE, &own, &with_mfa(true));
        assert!(d.allowed, "{}: {d:?}", who.id);
        // Other actions are untouched.
        assert!(authz.decide(&who, Permission::PROJECTS_UPDATE, &own, &with_mfa(false)).allowed);
    }
}

#[test]
fn a_deny_that_cannot_be_evaluated_denies() {
    let authz = with_policies(
        "
  - name: big_budgets_need_mfa
    description: test
    effect: deny
    subjects:
      roles: [\"*\"]
    resources:
      types: [project]
    conditions:
      - project.budget > 1000000 and not request.mfa
    actions: [update]
",
    );
    let admin = subject("root", &[Role::SystemAdmin]);
    let mut big = project("p", "root", &[]);
    big.budget = "1000000.01".parse().unwrap();
    let d = authz.decide(&admin, Permission::PROJECTS_UPDATE, &Target::Project(big.clone()), &with_mfa(false));
    assert_eq!((d.reason, d.policies.as_slice()), (Reason::DeniedByPolicy, &["big_budgets_need_mfa".to_owned()][..]));
    assert!(authz.decide(&admin, Permission::PROJECTS_UPDATE, &Target::Project(big), &with_mfa(true)).allowed);
    // A project without attributes: the deny errors, and fails closed.
    let d = authz.decide(&admin, Permission::PROJECTS_UPDATE, &Target::Type(ResourceType::Project), &with_mfa(false));
    assert_eq!((d.allowed, d.reason), (false, Reason::DeniedByPolicy));
    assert_eq!(d.errors.len(), 1, "{:?}", d.errors);
    assert!(d.errors[0].contains("big_budgets_need_mfa"), "{:?}", d.errors);
}

#[test]
fn decision_ids_are_unique_v7() {
    let authz = Authorizer::builtin();
    let dev = subject("dev", &[Role::Developer]);
    let ids: HashSet<uuid::Uuid> = (0..1000)
        .map(|_| authz.decide(&dev, Permission::PROJECTS_READ, &foreign(ResourceType::Project), &get()).id)
        .collect();
    assert_eq!(ids.len(), 1000);
    assert!(ids.iter().all(|id| id.get_version_num() == 7));
}

#[test]
fn the_authorizer_is_shareable_and_its_digest_tracks_its_content() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Authorizer>();
    let a = Authorizer::builtin();
    assert_eq!(a.digest(), Authorizer::builtin().digest());
    assert_eq!(a.digest().len(), 64);
    assert_ne!(a.digest(), with_policies(DELETE_NEEDS_MFA).digest());
    let other_matrix = Authorizer::new(Matrix::from_toml("[roles]\n").unwrap(), PolicySet::builtin());
    assert_ne!(a.digest(), other_matrix.digest());
}

#[test]
fn member_lists_do_not_change_answers() {
    // The member set handed to Cedar is pruned to what conditions can test:
    // literals and attributes of the request. Check literals work too.
    let authz = with_policies(
        "
  - name: friends_of_carol
    description: test
    effect: allow
    subjects:
      roles: [stakeholder]
    resources:
      types: [project, report]
    conditions:
      - '\"carol\" in project.member_ids or project.owner_id in project.member_ids'
    actions: [read, generate]
",
    );
    let sh = subject("sh", &[Role::Stakeholder]);
    let with_carol = project("p", "pm", &["a", "carol", "b"]);
    let owner_member = project("p", "pm", &["a", "pm"]);
    let neither = project("p", "pm", &["a", "b"]);
    for (p, expected) in [(with_carol, true), (owner_member, true), (neither, false)] {
        assert_eq!(authz.decide(&sh, Permission::PROJECTS_READ, &Target::Project(p.clone()), &get()).allowed, expected);
        assert_eq!(authz.decide(&sh, Permission::REPORTS_GENERATE, &Target::Report(p), &get()).allowed, expected);
    }
}
