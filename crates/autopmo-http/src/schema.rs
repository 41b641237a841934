//! Schemas for the closed sets of names the API takes (a project's status,
//! a member's kind, a role, an MFA method, …), made from the lists the
//! validators check against, so that the document names exactly the values
//! they accept. A field that holds one is still read as a string and checked
//! by its validator, whose error names the field; the document only says
//! what it will take: `#[schema(value_type = schema::ProjectStatus)]`.

use autopmo_audit::{Category, Outcome};
use autopmo_domain::Role as DomainRole;
use std::borrow::Cow;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

/// A string schema whose values are `names`.
fn one_of(names: impl IntoIterator<Item = &'static str>, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names)).description(Some(description)).into()
}

/// Named string schemas: `Name = <its values>, "description";` each.
macro_rules! names {
    ($($name:ident = $values:expr, $description:literal;)+) => {$(
        #[doc = $description]
        pub(crate) struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                one_of($values, $description)
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    )+};
}

/// The stable names of a set with an `ALL` list and `as_str`.
macro_rules! all_of {
    ($set:ty) => {
        <$set>::ALL.iter().map(|v| v.as_str())
    };
}

names! {
    ProjectStatus = all_of!(autopmo_domain::ProjectStatus), "Where a project is in its life";
    TaskStatus = all_of!(autopmo_domain::TaskStatus), "Where a task is";
    MemberKind = all_of!(autopmo_domain::MemberKind), "How a user belongs to a project";
    CostCategory = all_of!(autopmo_domain::CostCategory), "What a cost entry was spent on";
    Role = all_of!(DomainRole), "A role of the security guide's §3.1";
    ServiceRole = DomainRole::ALL.iter().filter(|r| **r != DomainRole::SystemAdmin).map(|r| r.as_str()),
        "A role a service account may hold (any but system_admin)";
    UserStatus = all_of!(autopmo_domain::UserStatus), "Whether a user may sign in";
    AuditCategory = all_of!(Category), "An audit event's category";
    AuditOutcome = all_of!(Outcome), "How an audited action ended";
    MfaMethod = autopmo_auth::mfa::verify::METHODS.iter().copied(), "How a second factor is answered";
    ChallengeMethod = autopmo_auth::mfa::verify::CHALLENGED.iter().copied(),
        "A second factor that is sent a challenge first (a WebAuthn assertion request, an SMS code)";
}
