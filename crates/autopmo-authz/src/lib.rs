#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod cedar;
mod decide;
mod entities;
mod error;
mod evaluate;
mod expr;
mod matrix;
mod permission;
mod policy;
mod scope;

pub use decide::{ApprovalAttrs, Authorizer, Decision, ProjectAttrs, Reason, RequestAttrs, Subject, Target, TaskAttrs};
pub use error::{PolicyError, PolicyErrors};
pub use expr::CmpOp;
pub use matrix::{Matrix, MatrixError};
pub use permission::{Action, Permission, ResourceType, UnknownName};
pub use policy::{Effect, PolicySet, PolicySummary};
pub use scope::{ProjectField, Scope};
