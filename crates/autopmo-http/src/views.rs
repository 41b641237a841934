//! The JSON shapes of responses, and the small input types requests share.

use crate::schema;
use autopmo_domain::{CostEntry, Member, Money, Project, Task, User};
use serde::{Deserialize, Deserializer, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;

pub(crate) fn ts(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

fn day(d: Date) -> String {
    d.to_string()
}

/// An exact amount with its currency. `amount` is a decimal string.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyView {
    /// Decimal string, e.g. `"1250000.00"`.
    #[schema(value_type = String, example = "1250000.00")]
    pub amount: DecimalText,
    /// ISO 4217 code, e.g. `USD`.
    #[schema(example = "USD")]
    pub currency: String,
}

impl From<Money> for MoneyView {
    fn from(m: Money) -> Self {
        Self { amount: DecimalText(m.amount.to_string_in(m.currency)), currency: m.currency.code().to_owned() }
    }
}

/// A decimal number sent as a JSON string. JSON numbers are refused: a
/// binary float cannot hold money or hours exactly.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct DecimalText(pub String);

impl<'de> Deserialize<'de> for DecimalText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DecimalText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a decimal string such as \"1250.00\" (JSON numbers are refused: they cannot hold exact decimals)",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DecimalText, E> {
                Ok(DecimalText(v.to_owned()))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// A whole number. JSON Schema counts `7.0` as the integer 7, and so does
/// this (some encoders write every number with a fraction); `7.5`, a
/// string and a number beyond ±2^53 are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Whole(pub i64);

impl<'de> Deserialize<'de> for Whole {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// The largest magnitude a double holds exactly as an integer.
        const EXACT: f64 = 9_007_199_254_740_992.0;
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Whole;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Whole, E> {
                Ok(Whole(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Whole, E> {
                i64::try_from(v).map(Whole).map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
            #[expect(clippy::cast_possible_truncation, reason = "a whole number within ±2^53 converts exactly")]
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Whole, E> {
                if v.fract() == 0.0 && v.abs() <= EXACT {
                    Ok(Whole(v as i64))
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// For PATCH bodies: distinguishes an absent field (`None`) from an explicit
/// `null` (`Some(None)`).
pub fn nullable<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// For PATCH bodies: a field that may be absent but, when present, must not
/// be `null` (it has no "empty" value to set).
pub fn not_null<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A project.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Budget.
    pub budget: MoneyView,
    /// Owner's user id.
    pub owner_id: String,
    /// `proposed`, `active`, `on_hold`, `completed` or `cancelled`.
    #[schema(value_type = schema::ProjectStatus)]
    pub status: String,
    /// Planned start (YYYY-MM-DD).
    pub planned_start: Option<String>,
    /// Planned end (YYYY-MM-DD).
    pub planned_end: Option<String>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last changed (RFC 3339).
    pub updated_at: String,
    /// Version; the ETag is this number in quotes.
    pub version: i64,
}

impl From<Project> for ProjectView {
    fn from(p: Project) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name.into_inner(),
            description: p.description.into_inner(),
            budget: p.budget.into(),
            owner_id: p.owner_id.to_string(),
            status: p.status.as_str().to_owned(),
            planned_start: p.planned.start.map(day),
            planned_end: p.planned.end.map(day),
            created_at: ts(p.created_at),
            updated_at: ts(p.updated_at),
            version: p.version,
        }
    }
}

/// A project member.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    /// Project id.
    pub project_id: String,
    /// User id.
    pub user_id: String,
    /// `manager`, `member` or `stakeholder`.
    #[schema(value_type = schema::MemberKind)]
    pub kind: String,
    /// Added (RFC 3339).
    pub created_at: String,
    /// Last changed (RFC 3339).
    pub updated_at: String,
    /// Version.
    pub version: i64,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        Self {
            project_id: m.project_id.to_string(),
            user_id: m.user_id.to_string(),
            kind: m.kind.as_str().to_owned(),
            created_at: ts(m.created_at),
            updated_at: ts(m.updated_at),
            version: m.version,
        }
    }
}

/// A task.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskView {
    /// Id.
    pub id: String,
    /// Project id.
    pub project_id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// `todo`, `in_progress`, `blocked` or `done`.
    #[schema(value_type = schema::TaskStatus)]
    pub status: String,
    /// Assignee's user id.
    pub assignee_id: Option<String>,
    /// Estimated hours (decimal string).
    pub estimate_hours: Option<String>,
    /// Hours spent (decimal string).
    pub actual_hours: Option<String>,
    /// Planned start (YYYY-MM-DD).
    pub planned_start: Option<String>,
    /// Planned finish (YYYY-MM-DD).
    pub planned_finish: Option<String>,
    /// 0–100.
    pub percent_complete: u8,
    /// Ids of tasks of the same project that must finish first.
    pub depends_on: Vec<String>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last changed (RFC 3339).
    pub updated_at: String,
    /// Version.
    pub version: i64,
}

impl From<Task> for TaskView {
    fn from(t: Task) -> Self {
        Self {
            id: t.id.to_string(),
            project_id: t.project_id.to_string(),
            title: t.title.into_inner(),
            description: t.description.into_inner(),
            status: t.status.as_str().to_owned(),
            assignee_id: t.assignee_id.map(|a| a.to_string()),
            estimate_hours: t.estimate_hours.map(|h| h.to_string()),
            actual_hours: t.actual_hours.map(|h| h.to_string()),
            planned_start: t.planned.start.map(day),
            planned_finish: t.planned.end.map(day),
            percent_complete: t.percent_complete.value(),
            depends_on: t.depends_on.iter().map(ToString::to_string).collect(),
            created_at: ts(t.created_at),
            updated_at: ts(t.updated_at),
            version: t.version,
        }
    }
}

/// A cost entry, in the project's currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct CostView {
    /// Id.
    pub id: String,
    /// Project id.
    pub project_id: String,
    /// Day incurred (YYYY-MM-DD).
    pub entry_date: String,
    /// Amount and the project's currency.
    pub amount: MoneyView,
    /// Category.
    #[schema(value_type = schema::CostCategory)]
    pub category: String,
    /// Note.
    pub note: String,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last changed (RFC 3339).
    pub updated_at: String,
    /// Version.
    pub version: i64,
}

impl CostView {
    /// The view of `c`, charged in `currency`.
    pub fn new(c: CostEntry, currency: autopmo_domain::Currency) -> Self {
        Self {
            id: c.id.to_string(),
            project_id: c.project_id.to_string(),
            entry_date: day(c.entry_date),
            amount: Money { amount: c.amount, currency }.into(),
            category: c.category.as_str().to_owned(),
            note: c.note.as_str().to_owned(),
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
            version: c.version,
        }
    }
}

/// A user, as other users see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Name shown.
    pub display_name: String,
    /// Email.
    pub email: String,
    /// `active`, `disabled` or `locked`.
    #[schema(value_type = schema::UserStatus)]
    pub status: String,
    /// Roles (§3.1).
    #[schema(value_type = Vec<schema::Role>)]
    pub roles: Vec<String>,
    /// Created (RFC 3339).
    pub created_at: String,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id.to_string(),
            username: u.username.as_str().to_owned(),
            display_name: u.display_name.as_str().to_owned(),
            email: u.email.as_str().to_owned(),
            status: u.status.as_str().to_owned(),
            roles: u.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            created_at: ts(u.created_at),
        }
    }
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageView<T: ToSchema> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> PageView<T> {
    /// Maps a store page.
    pub fn from_page<U>(page: autopmo_store::Page<U>, f: impl FnMut(U) -> T) -> Self {
        Self { items: page.items.into_iter().map(f).collect(), next_cursor: page.next_cursor }
    }
}
