#![doc = include_str!("../README.md")]

pub mod clock;
pub mod entities;
pub mod graph;
pub mod ids;
pub mod money;
pub mod status;
pub mod text;
pub mod validation;
pub mod work;

pub use clock::{Clock, ManualClock, SystemClock};
pub use entities::{CostEntry, Member, Project, Task, User};
pub use ids::{CostEntryId, ProjectId, TaskId, UserId};
pub use money::{Amount, Currency, Money};
pub use status::{CostCategory, MemberKind, ProjectStatus, Role, TaskStatus, UserStatus};
pub use text::{Description, DisplayName, Email, Note, ProjectName, Reason, TaskTitle, Username};
pub use validation::{FieldError, ValidationErrors};
pub use work::{Hours, Percent, PlannedDates};
