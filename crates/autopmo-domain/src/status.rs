//! The closed sets of states and kinds: each has a stable snake_case name
//! used on the wire and in the database.

use crate::validation::FieldError;
use serde::{Deserialize, Serialize};

macro_rules! name_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stable name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// Parses a stable name.
            pub fn parse(raw: &str) -> Result<Self, FieldError> {
                match raw {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(FieldError::new("", "invalid_value", format!(
                        "must be one of: {}", [$($text),+].join(", ")))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

name_enum!(
    /// The six roles of guide §3.1.
    Role {
        /// Everything, including deployments and role administration.
        SystemAdmin = "system_admin",
        /// Runs projects.
        ProjectManager = "project_manager",
        /// Works on tasks.
        Developer = "developer",
        /// Follows projects and their reports.
        Stakeholder = "stakeholder",
        /// Reads everything, including the audit log; changes nothing.
        Auditor = "auditor",
        /// Reads projects, models and agents; proposes model deployments.
        MlEngineer = "ml_engineer",
    }
);

name_enum!(
    /// Whether a user may sign in.
    UserStatus {
        /// May sign in.
        Active = "active",
        /// Turned off by an administrator.
        Disabled = "disabled",
        /// Locked by brute-force protection.
        Locked = "locked",
    }
);

name_enum!(
    /// Where a project is in its life.
    ProjectStatus {
        /// Not started or approved yet.
        Proposed = "proposed",
        /// Under way.
        Active = "active",
        /// Paused.
        OnHold = "on_hold",
        /// Finished.
        Completed = "completed",
        /// Stopped for good.
        Cancelled = "cancelled",
    }
);

name_enum!(
    /// Where a task is.
    TaskStatus {
        /// Not started.
        Todo = "todo",
        /// Being worked on.
        InProgress = "in_progress",
        /// Waiting on something.
        Blocked = "blocked",
        /// Finished.
        Done = "done",
    }
);

name_enum!(
    /// How a user belongs to a project.
    MemberKind {
        /// Manages the project.
        Manager = "manager",
        /// Works on the project's tasks.
        Member = "member",
        /// Follows the project.
        Stakeholder = "stakeholder",
    }
);

name_enum!(
    /// What a cost entry was spent on.
    CostCategory {
        /// People's time.
        Labor = "labor",
        /// Goods consumed.
        Materials = "materials",
        /// Hardware and tools.
        Equipment = "equipment",
        /// Contracted services.
        Services = "services",
        /// Licences and subscriptions.
        Software = "software",
        /// Travel and lodging.
        Travel = "travel",
        /// Anything else.
        Other = "other",
    }
);

impl MemberKind {
    /// Whether a member of this kind may be assigned tasks.
    pub fn can_be_assigned(self) -> bool {
        matches!(self, Self::Manager | Self::Member)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()).unwrap(), *role);
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        assert_eq!(Role::ALL.len(), 6);
        assert!(TaskStatus::parse("IN_PROGRESS").is_err());
        assert_eq!(TaskStatus::parse("in_progress").unwrap(), TaskStatus::InProgress);
    }
}
