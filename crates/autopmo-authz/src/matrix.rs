//! The RBAC matrix of guide §3.1, as data: which role holds which
//! permission. The built-in matrix is `matrix/default.toml`; an override
//! file in the same format replaces it whole.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use autopmo_domain::Role;
use serde::Deserialize;
use toml::Spanned;

use crate::error::PolicyError;
use crate::permission::Permission;

const BUILTIN: &str = include_str!("../matrix/default.toml");

/// Role → permissions. Immutable once built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    /// Indexed like [`Role::ALL`].
    grants: Vec<BTreeSet<Permission>>,
}

/// Problems in a matrix file, each with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct MatrixError(pub Vec<PolicyError>);

impl fmt::Display for MatrixError {
    /// One line per problem: `LINE:COL: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatrixFile {
    roles: BTreeMap<Spanned<String>, Vec<Spanned<String>>>,
}

fn role_index(role: Role) -> usize {
    Role::ALL.iter().position(|r| *r == role).unwrap_or(0)
}

impl Matrix {
    /// The built-in matrix: guide §3.1 for its five roles, `ml_engineer`
    /// (reads projects, models and agents; proposes deployments), and
    /// AutoPMO's added rows (see `matrix/default.toml`).
    pub fn builtin() -> Self {
        // The shipped file is tested to load; should it ever not, grant nothing.
        Self::from_toml(BUILTIN).unwrap_or_else(|_| Self::empty())
    }

    /// The source text of the built-in matrix.
    pub fn builtin_source() -> &'static str {
        BUILTIN
    }

    /// A matrix that grants nothing to anyone.
    pub fn empty() -> Self {
        Self { grants: vec![BTreeSet::new(); Role::ALL.len()] }
    }

    /// Parses a matrix file:
    ///
    /// ```toml
    /// [roles]
    /// system_admin = ["projects:create", "projects:read"]
    /// auditor = ["projects:read", "audit:read"]
    /// ```
    ///
    /// A role missing from the file has no permissions. Unknown roles,
    /// unknown permissions, a permission listed twice for a role and unknown
    /// keys are errors, each with its line and column; all are reported.
    pub fn from_toml(text: &str) -> Result<Self, MatrixError> {
        let file: MatrixFile = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            MatrixError(vec![PolicyError::at_offset(text, at, e.message().trim_end())])
        })?;
        let mut matrix = Self::empty();
        let mut errors = Vec::new();
        for (role, perms) in &file.roles {
            let Ok(role_value) = Role::parse(role.get_ref()) else {
                let known: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                let msg = format!("unknown role {:?}; known: {}", role.get_ref(), known.join(", "));
                errors.push(PolicyError::at_offset(text, role.span().start, msg));
                continue;
            };
            let Some(set) = matrix.grants.get_mut(role_index(role_value)) else { continue };
            for perm in perms {
                match perm.get_ref().parse::<Permission>() {
                    Ok(p) if !set.insert(p) => {
                        let msg = format!("{p} is listed twice for {}", role_value.as_str());
                        errors.push(PolicyError::at_offset(text, perm.span().start, msg));
                    }
                    Ok(_) => {}
                    Err(e) => errors.push(PolicyError::at_offset(text, perm.span().start, e.to_string())),
                }
            }
        }
        if errors.is_empty() {
            Ok(matrix)
        } else {
            errors.sort_by_key(|e| (e.line, e.column));
            Err(MatrixError(errors))
        }
    }

    /// Whether `role` holds `permission`.
    pub fn grants(&self, role: Role, permission: Permission) -> bool {
        self.grants.get(role_index(role)).is_some_and(|s| s.contains(&permission))
    }

    /// Whether any of `roles` holds `permission`.
    pub fn grants_any(&self, roles: &[Role], permission: Permission) -> bool {
        roles.iter().any(|r| self.grants(*r, permission))
    }

    /// The permissions `role` holds, in row order.
    pub fn role_permissions(&self, role: Role) -> Vec<Permission> {
        self.permissions().into_iter().filter(|p| self.grants(role, *p)).collect()
    }

    /// The rows, in a stable order: guide §3.1's rows, AutoPMO's added rows,
    /// then any other permission this matrix grants (catalog order).
    pub fn permissions(&self) -> Vec<Permission> {
        Permission::catalog()
            .into_iter()
            .enumerate()
            .filter(|(i, p)| *i < Permission::GUIDE_ROWS.len() + Permission::ADDED_ROWS.len() || self.anyone_has(*p))
            .map(|(_, p)| p)
            .collect()
    }

    fn anyone_has(&self, p: Permission) -> bool {
        self.grants.iter().any(|s| s.contains(&p))
    }

    /// The matrix as a markdown table like guide §3.1: one row per
    /// permission, one column per role (all six), ✅ or ❌.
    pub fn table(&self) -> String {
        let mut out = String::from("| Permission |");
        for role in Role::ALL {
            out.push_str(&format!(" {} |", role.as_str()));
        }
        out.push_str("\n|---|");
        out.push_str(&"---|".repeat(Role::ALL.len()));
        for p in self.permissions() {
            out.push_str(&format!("\n| {p} |"));
            for role in Role::ALL {
                out.push_str(if self.grants(*role, p) { " ✅ |" } else { " ❌ |" });
            }
        }
        out.push('\n');
        out
    }

    /// A canonical text form (for digests): `role = [permissions]` lines.
    pub(crate) fn canonical(&self) -> String {
        let mut out = String::new();
        for role in Role::ALL {
            let perms: Vec<String> = self.role_permissions(*role).iter().map(ToString::to_string).collect();
            out.push_str(&format!("{} = [{}]\n", role.as_str(), perms.join(", ")));
        }
        out
    }
}

impl Default for Matrix {
    /// The built-in matrix.
    fn default() -> Self {
        Self::builtin()
    }
}
