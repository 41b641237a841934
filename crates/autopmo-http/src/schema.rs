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

/// A named string schema: `names!(Name = <the values>, "description")`.
macro_rules! names {
    ($(#[$doc:meta])* $name:ident = $values:expr, $description:literal) => {
        $(#[$doc])*
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
    };
}

/// The stable names of a domain set.
macro_rules! all_of {
    ($domain:ty) => {
        <$domain>::ALL.iter().map(|v| v.as_str())
    };
}

names!(
    /// [`autopmo_domain::ProjectStatus`].
    ProjectStatus = all_of!(autopmo_domain::ProjectStatus),
    "Where a project is in its life"
);
names!(
    /// [`autopmo_domain::TaskStatus`].
    TaskStatus = all_of!(autopmo_domain::TaskStatus),
    "Where a task is"
);
names!(
    /// [`autopmo_domain::MemberKind`].
    MemberKind = all_of!(autopmo_domain::MemberKind),
    "How a user belongs to a project"
);
names!(
    /// [`autopmo_domain::CostCategory`].
    CostCategory = all_of!(autopmo_domain::CostCategory),
    "What a cost entry was spent on"
);
names!(
    /// [`autopmo_domain::Role`].
    Role = all_of!(DomainRole),
    "A role of the security guide's §3.1"
);
names!(
    /// A role a service account may hold: any but `system_admin`.
    ServiceRole = DomainRole::ALL.iter().filter(|r| **r != DomainRole::SystemAdmin).map(|r| r.as_str()),
    "A role a service account may hold (any but system_admin)"
);
names!(
    /// [`autopmo_domain::UserStatus`].
    UserStatus = all_of!(autopmo_domain::UserStatus),
    "Whether a user may sign in"
);
names!(
    /// An audit event's category ([`autopmo_audit::Category`]).
    AuditCategory = Category::ALL.iter().map(|c| c.as_str()),
    "An audit event's category"
);
names!(
    /// How an audited action ended ([`autopmo_audit::Outcome`]).
    AuditOutcome = [Outcome::Success, Outcome::Failure, Outcome::Denied].map(Outcome::as_str),
    "How an audited action ended"
);
names!(
    /// How a second factor is answered (`/auth/mfa/verify`, `/auth/step-up`).
    MfaMethod = autopmo_auth::mfa::verify::METHODS.iter().copied(),
    "How a second factor is answered"
);
names!(
    /// The methods that send something first (a WebAuthn challenge, an SMS code).
    ChallengeMethod = autopmo_auth::mfa::verify::CHALLENGED.iter().copied(),
    "A second factor that is sent a challenge first"
);
