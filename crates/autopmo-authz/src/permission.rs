//! The vocabulary of authorization: resource types, actions, and the
//! permissions (`projects:read`) that pair them. Which actions exist for
//! which resource type is fixed here (the catalog); the matrix, the YAML
//! policies and the Cedar schema all use it.

use std::fmt;
use std::str::FromStr;

/// A name that is not one of a closed set (a resource type, an action, a permission).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {name:?}; known: {known}")]
pub struct UnknownName {
    /// What kind of name was expected ("resource type", "action", "permission", "role").
    pub what: &'static str,
    /// The name as given.
    pub name: String,
    /// The accepted names, comma-separated.
    pub known: String,
}

impl UnknownName {
    pub(crate) fn new(what: &'static str, name: &str, known: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        let known: Vec<String> = known.into_iter().map(|k| k.as_ref().to_owned()).collect();
        Self { what, name: name.to_owned(), known: known.join(", ") }
    }
}

macro_rules! names {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stable lower-case name (as written in policies).
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// Parses the stable name.
            pub fn parse(raw: &str) -> Result<Self, UnknownName> {
                match raw {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(UnknownName::new($what, raw, [$($text),+])),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(raw: &str) -> Result<Self, UnknownName> {
                Self::parse(raw)
            }
        }
    };
}

names!(
    /// What a permission is about.
    ResourceType, "resource type" {
        /// A project (budget, owner, members).
        Project = "project",
        /// A task in a project.
        Task = "task",
        /// A status report about a project.
        Report = "report",
        /// The audit trail.
        Audit = "audit",
        /// The AI agents' configuration.
        Agent = "agent",
        /// The models the agents use.
        Model = "model",
        /// User administration and the user directory.
        User = "user",
        /// The authorization policies themselves.
        Policy = "policy",
        /// A budget approval request (guide §3.3).
        Approval = "approval",
    }
);

names!(
    /// What is done to a resource.
    Action, "action" {
        /// Look at it.
        Read = "read",
        /// Make a new one.
        Create = "create",
        /// Change it.
        Update = "update",
        /// Remove it.
        Delete = "delete",
        /// Give a task to someone.
        Assign = "assign",
        /// Produce a report.
        Generate = "generate",
        /// Change an agent's configuration.
        Configure = "configure",
        /// Put a model into service.
        Deploy = "deploy",
        /// Ask for a model deployment (someone else deploys).
        Propose = "propose",
        /// Administer (roles, service accounts, sessions; policy reloads).
        Manage = "manage",
        /// Approve or reject a request.
        Decide = "decide",
    }
);

impl ResourceType {
    /// The prefix of this type's permissions: `projects` in `projects:read`
    /// (the guide's spelling: plural, except `audit`).
    pub const fn permission_prefix(self) -> &'static str {
        match self {
            Self::Project => "projects",
            Self::Task => "tasks",
            Self::Report => "reports",
            Self::Audit => "audit",
            Self::Agent => "agents",
            Self::Model => "models",
            Self::User => "users",
            Self::Policy => "policies",
            Self::Approval => "approvals",
        }
    }

    /// The type whose permission prefix is `prefix`.
    pub fn from_prefix(prefix: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.permission_prefix() == prefix)
    }

    /// The actions that exist for this type (the catalog). A policy, matrix
    /// row or permission naming another action on this type is rejected.
    pub const fn actions(self) -> &'static [Action] {
        use Action::*;
        match self {
            Self::Project => &[Read, Create, Update, Delete],
            Self::Task => &[Read, Create, Update, Delete, Assign],
            Self::Report => &[Read, Generate],
            Self::Audit => &[Read],
            Self::Agent => &[Read, Configure],
            Self::Model => &[Read, Deploy, Propose],
            Self::User => &[Read, Manage],
            Self::Policy => &[Read, Manage],
            Self::Approval => &[Read, Create, Decide],
        }
    }

    /// Whether `action` exists for this type.
    pub fn supports(self, action: Action) -> bool {
        self.actions().contains(&action)
    }

    /// The Cedar entity type name of this resource type.
    pub(crate) const fn cedar_type(self) -> &'static str {
        match self {
            Self::Project => "Project",
            Self::Task => "Task",
            Self::Report => "Report",
            Self::Audit => "Audit",
            Self::Agent => "Agent",
            Self::Model => "Model",
            Self::User => "User",
            Self::Policy => "Policy",
            Self::Approval => "Approval",
        }
    }

    /// Position in [`ResourceType::ALL`].
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// A permission of the RBAC matrix: an action on a resource type, written
/// `projects:read`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Permission {
    /// What it is about.
    pub resource: ResourceType,
    /// What it allows.
    pub action: Action,
}

impl Permission {
    /// Pairs a resource type and an action. (Not checked against the
    /// catalog: [`FromStr`] is; [`Permission::exists`] tells.)
    pub const fn new(resource: ResourceType, action: Action) -> Self {
        Self { resource, action }
    }

    /// Whether the catalog has this action for this resource type.
    pub fn exists(self) -> bool {
        self.resource.supports(self.action)
    }

    /// Every permission of the catalog, in the matrix's row order: the rows
    /// of guide §3.1, then AutoPMO's additional matrix rows, then the other
    /// permissions the catalog knows (not granted by the built-in matrix).
    pub fn catalog() -> Vec<Permission> {
        let mut all: Vec<Permission> = Self::GUIDE_ROWS.iter().chain(Self::ADDED_ROWS).copied().collect();
        for t in ResourceType::ALL {
            for a in t.actions() {
                let p = Permission::new(*t, *a);
                if !all.contains(&p) {
                    all.push(p);
                }
            }
        }
        all
    }

    /// The ten rows of guide §3.1, in its order.
    pub const GUIDE_ROWS: &'static [Permission] = &[
        Self::PROJECTS_CREATE,
        Self::PROJECTS_READ,
        Self::PROJECTS_UPDATE,
        Self::PROJECTS_DELETE,
        Self::TASKS_ASSIGN,
        Self::TASKS_UPDATE,
        Self::REPORTS_GENERATE,
        Self::AGENTS_CONFIGURE,
        Self::MODELS_DEPLOY,
        Self::AUDIT_READ,
    ];

    /// The rows AutoPMO adds to the guide's matrix.
    pub const ADDED_ROWS: &'static [Permission] = &[
        Self::MODELS_READ,
        Self::AGENTS_READ,
        Self::MODELS_PROPOSE,
        Self::USERS_READ,
        Self::USERS_MANAGE,
        Self::POLICIES_READ,
        Self::POLICIES_MANAGE,
        Self::APPROVALS_READ,
        Self::APPROVALS_DECIDE,
    ];

    /// `projects:create`
    pub const PROJECTS_CREATE: Self = Self::new(ResourceType::Project, Action::Create);
    /// `projects:read`
    pub const PROJECTS_READ: Self = Self::new(ResourceType::Project, Action::Read);
    /// `projects:update`
    pub const PROJECTS_UPDATE: Self = Self::new(ResourceType::Project, Action::Update);
    /// `projects:delete`
    pub const PROJECTS_DELETE: Self = Self::new(ResourceType::Project, Action::Delete);
    /// `tasks:assign`
    pub const TASKS_ASSIGN: Self = Self::new(ResourceType::Task, Action::Assign);
    /// `tasks:update`
    pub const TASKS_UPDATE: Self = Self::new(ResourceType::Task, Action::Update);
    /// `reports:generate`
    pub const REPORTS_GENERATE: Self = Self::new(ResourceType::Report, Action::Generate);
    /// `agents:configure`
    pub const AGENTS_CONFIGURE: Self = Self::new(ResourceType::Agent, Action::Configure);
    /// `models:deploy`
    pub const MODELS_DEPLOY: Self = Self::new(ResourceType::Model, Action::Deploy);
    /// `audit:read`
    pub const AUDIT_READ: Self = Self::new(ResourceType::Audit, Action::Read);
    /// `models:read`
    pub const MODELS_READ: Self = Self::new(ResourceType::Model, Action::Read);
    /// `agents:read`
    pub const AGENTS_READ: Self = Self::new(ResourceType::Agent, Action::Read);
    /// `models:propose`
    pub const MODELS_PROPOSE: Self = Self::new(ResourceType::Model, Action::Propose);
    /// `users:read`
    pub const USERS_READ: Self = Self::new(ResourceType::User, Action::Read);
    /// `users:manage`
    pub const USERS_MANAGE: Self = Self::new(ResourceType::User, Action::Manage);
    /// `policies:read`
    pub const POLICIES_READ: Self = Self::new(ResourceType::Policy, Action::Read);
    /// `policies:manage`
    pub const POLICIES_MANAGE: Self = Self::new(ResourceType::Policy, Action::Manage);
    /// `approvals:read`
    pub const APPROVALS_READ: Self = Self::new(ResourceType::Approval, Action::Read);
    /// `approvals:decide`
    pub const APPROVALS_DECIDE: Self = Self::new(ResourceType::Approval, Action::Decide);
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.resource.permission_prefix(), self.action.as_str())
    }
}

impl FromStr for Permission {
    type Err = UnknownName;

    /// Parses `projects:read`; the action must exist for the type.
    fn from_str(raw: &str) -> Result<Self, UnknownName> {
        let unknown = || UnknownName::new("permission", raw, Permission::catalog().iter().map(|p| p.to_string()));
        let (prefix, action) = raw.split_once(':').ok_or_else(unknown)?;
        let resource = ResourceType::from_prefix(prefix).ok_or_else(unknown)?;
        let action = Action::parse(action).map_err(|_| unknown())?;
        let p = Permission::new(resource, action);
        if p.exists() { Ok(p) } else { Err(unknown()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in ResourceType::ALL {
            assert_eq!(ResourceType::parse(t.as_str()), Ok(*t));
            assert_eq!(ResourceType::from_prefix(t.permission_prefix()), Some(*t));
            assert_eq!(ResourceType::ALL[t.index()], *t);
        }
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>(), Ok(*a));
        }
        for p in Permission::catalog() {
            assert_eq!(p.to_string().parse::<Permission>(), Ok(p));
        }
        assert_eq!("audit:read".parse::<Permission>(), Ok(Permission::AUDIT_READ));
    }

    #[test]
    fn rejects_permissions_outside_the_catalog() {
        for raw in ["audit:deploy", "project:read", "projects", "projects:fly", ":read", "projects:read:x"] {
            let err = raw.parse::<Permission>().unwrap_err();
            assert_eq!(err.name, raw);
            assert!(err.to_string().contains("projects:read"), "{err}");
        }
        assert!(!Permission::new(ResourceType::Audit, Action::Deploy).exists());
    }

    #[test]
    fn catalog_starts_with_the_matrix_rows() {
        let catalog = Permission::catalog();
        assert_eq!(catalog[..10], *Permission::GUIDE_ROWS);
        assert_eq!(catalog[10..19], *Permission::ADDED_ROWS);
        assert!(catalog.iter().all(|p| p.exists()));
        let total: usize = ResourceType::ALL.iter().map(|t| t.actions().len()).sum();
        assert_eq!(catalog.len(), total);
    }
}
