//! The RBAC matrix: guide §3.1 cell by cell, AutoPMO's additions, override files.

use autopmo_authz::{Matrix, Permission};
use autopmo_domain::Role;

/// Guide §3.1, copied verbatim.
const GUIDE: &str = "\
| Resource | System Admin | PM | Developer | Stakeholder | Auditor |
|----------|--------------|-----|-----------|-------------|---------|
| projects:create | ✅ | ✅ | ❌ | ❌ | ❌ |
| projects:read | ✅ | ✅ | ✅ | ✅ | ✅ |
| projects:update | ✅ | ✅ | ❌ | ❌ | ❌ |
| projects:delete | ✅ | ✅ | ❌ | ❌ | ❌ |
| tasks:assign | ✅ | ✅ | ❌ | ❌ | ❌ |
| tasks:update | ✅ | ✅ | ✅ | ❌ | ❌ |
| reports:generate | ✅ | ✅ | ✅ | ✅ | ❌ |
| agents:configure | ✅ | ❌ | ❌ | ❌ | ❌ |
| models:deploy | ✅ | ❌ | ❌ | ❌ | ❌ |
| audit:read | ✅ | ❌ | ❌ | ❌ | ✅ |
";

const GUIDE_ROLES: [Role; 5] =
    [Role::SystemAdmin, Role::ProjectManager, Role::Developer, Role::Stakeholder, Role::Auditor];

fn guide_rows() -> Vec<(Permission, Vec<bool>)> {
    GUIDE
        .lines()
        .skip(2)
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
            let perm: Permission = cells[0].parse().unwrap();
            (perm, cells[1..].iter().map(|c| *c == "✅").collect())
        })
        .collect()
}

#[test]
fn the_builtin_matrix_is_the_guide_for_its_five_roles() {
    let m = Matrix::builtin();
    let rows = guide_rows();
    assert_eq!(rows.len(), 10);
    let mut cells = 0;
    for (perm, granted) in &rows {
        for (role, expected) in GUIDE_ROLES.iter().zip(granted) {
            assert_eq!(m.grants(*role, *perm), *expected, "{} / {perm}", role.as_str());
            cells += 1;
        }
    }
    assert_eq!(cells, 50);
    let guide_perms: Vec<Permission> = rows.iter().map(|(p, _)| *p).collect();
    assert_eq!(guide_perms, Permission::GUIDE_ROWS);
    assert_eq!(m.permissions()[..10], *Permission::GUIDE_ROWS);
}

#[test]
fn ml_engineer_reads_and_proposes_but_never_deploys() {
    let m = Matrix::builtin();
    assert_eq!(
        m.role_permissions(Role::MlEngineer),
        [
            Permission::PROJECTS_READ,
            Permission::MODELS_READ,
            Permission::AGENTS_READ,
            Permission::MODELS_PROPOSE,
            Permission::USERS_READ,
            Permission::APPROVALS_READ,
        ]
    );
    assert!(!m.grants(Role::MlEngineer, Permission::MODELS_DEPLOY));
    let deployers: Vec<Role> = Role::ALL.iter().copied().filter(|r| m.grants(*r, Permission::MODELS_DEPLOY)).collect();
    assert_eq!(deployers, [Role::SystemAdmin]);
}

#[test]
fn the_added_rows() {
    use Role::*;
    let m = Matrix::builtin();
    let holders = |p: Permission| -> Vec<Role> { Role::ALL.iter().copied().filter(|r| m.grants(*r, p)).collect() };
    assert_eq!(holders(Permission::MODELS_READ), [SystemAdmin, Auditor, MlEngineer]);
    assert_eq!(holders(Permission::AGENTS_READ), [SystemAdmin, Auditor, MlEngineer]);
    assert_eq!(holders(Permission::MODELS_PROPOSE), [SystemAdmin, MlEngineer]);
    assert_eq!(holders(Permission::USERS_READ), Role::ALL);
    assert_eq!(holders(Permission::USERS_MANAGE), [SystemAdmin]);
    assert_eq!(holders(Permission::POLICIES_READ), [SystemAdmin, Auditor]);
    assert_eq!(holders(Permission::POLICIES_MANAGE), [SystemAdmin]);
    assert_eq!(holders(Permission::APPROVALS_READ), Role::ALL);
    assert_eq!(holders(Permission::APPROVALS_DECIDE), [SystemAdmin]);
    assert_eq!(m.permissions(), [Permission::GUIDE_ROWS, Permission::ADDED_ROWS].concat());
    assert_eq!(Matrix::from_toml(Matrix::builtin_source()).unwrap(), m);
}

#[test]
fn the_table_looks_like_the_guide() {
    let table = Matrix::builtin().table();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0],
        "| Permission | system_admin | project_manager | developer | stakeholder | auditor | ml_engineer |"
    );
    assert_eq!(lines[2], "| projects:create | ✅ | ✅ | ❌ | ❌ | ❌ | ❌ |");
    assert_eq!(lines[11], "| audit:read | ✅ | ❌ | ❌ | ❌ | ✅ | ❌ |");
    assert_eq!(lines.len(), 2 + 19);
}

#[test]
fn an_override_replaces_the_whole_matrix() {
    let m = Matrix::from_toml(
        "# a small shop\n[roles]\nproject_manager = [\"projects:read\", \"tasks:read\"]\nauditor = []\n",
    )
    .unwrap();
    assert!(m.grants(Role::ProjectManager, Permission::PROJECTS_READ));
    assert!(m.grants(Role::ProjectManager, "tasks:read".parse().unwrap()));
    assert!(!m.grants(Role::ProjectManager, Permission::PROJECTS_CREATE));
    // Roles not in the file have nothing.
    for p in Permission::catalog() {
        assert!(!m.grants(Role::SystemAdmin, p), "{p}");
    }
    // A granted permission beyond the standard rows becomes a row.
    assert_eq!(m.permissions().last(), Some(&"tasks:read".parse().unwrap()));
}

#[test]
fn a_bad_override_names_the_line() {
    let text = "[roles]\nsystem_admin = [\"projects:read\"]\nwizard = [\"projects:read\"]\n\
                developer = [\n  \"projects:read\",\n  \"projects:fly\",\n  \"projects:read\",\n]\n";
    let err = Matrix::from_toml(text).unwrap_err();
    let got: Vec<(usize, usize)> = err.0.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(got, [(3, 1), (6, 3), (7, 3)], "{err}");
    assert!(err.0[0].message.starts_with("unknown role \"wizard\"; known: system_admin"));
    assert!(err.0[1].message.starts_with("unknown permission \"projects:fly\"; known: projects:create"));
    assert_eq!(err.0[2].message, "projects:read is listed twice for developer");
    assert!(err.to_string().starts_with("3:1: unknown role"));

    let err = Matrix::from_toml("[roles]\nauditor = [\"audit:read\"]\n[extra]\n").unwrap_err();
    assert_eq!(err.0[0].line, 3, "{err}");
    assert!(err.0[0].message.contains("unknown field `extra`"), "{err}");
    let err = Matrix::from_toml("[roles]\nauditor = \"audit:read\"\n").unwrap_err();
    assert_eq!(err.0[0].line, 2, "{err}");
}
