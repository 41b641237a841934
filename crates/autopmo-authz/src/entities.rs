//! Builds the Cedar request (principal, resource, context) for one decision
//! made through Cedar (`Authorizer::decide_with_cedar`, the reference the
//! decision's own evaluator is tested against), directly as Cedar values: no
//! JSON, no schema check per request, and only the attributes the policies
//! for the resource type read.

use std::collections::HashSet;
use std::str::FromStr;

use cedar_policy::{Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use rust_decimal::Decimal;

use crate::decide::{ProjectAttrs, RequestAttrs, Subject, Target};
use crate::expr::{Attr, AttrSet, Origin};
use crate::permission::{Action, ResourceType};
use crate::policy::decimal_text;

/// A budget as Cedar's `decimal` holds it: 4 decimal places, within i64 / 10⁴.
/// [`crate::Scope::matches`] compares the same value, so scopes and decisions agree.
pub(crate) fn cedar_decimal(d: Decimal) -> Decimal {
    let (min, max) = (Decimal::new(i64::MIN, 4), Decimal::new(i64::MAX, 4));
    d.round_dp(4).clamp(min, max)
}

/// Type names and action uids, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    subject: EntityTypeName,
    types: Vec<EntityTypeName>,
    actions: Vec<EntityUid>,
}

impl Names {
    pub(crate) fn new() -> Result<Self, String> {
        let name = |n: &str| EntityTypeName::from_str(n).map_err(|e| e.to_string());
        let action_type = name("Action")?;
        Ok(Self {
            subject: name("Subject")?,
            types: ResourceType::ALL.iter().map(|t| name(t.cedar_type())).collect::<Result<_, _>>()?,
            actions: Action::ALL
                .iter()
                .map(|a| EntityUid::from_type_name_and_id(action_type.clone(), EntityId::new(a.as_str())))
                .collect(),
        })
    }

    pub(crate) fn action(&self, a: Action) -> Option<&EntityUid> {
        self.actions.get(a as usize)
    }

    fn uid(&self, t: ResourceType, id: &str) -> Result<EntityUid, String> {
        let ty = self.types.get(t.index()).ok_or("unknown entity type")?;
        Ok(EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id)))
    }
}

type Attrs = Vec<(String, RestrictedExpression)>;

/// The strings a condition of this request could test for membership in
/// `project.member_ids`. Conditions can only observe a set through `in`
/// (sets cannot be compared), and the left side of `in` is a literal of the
/// policies or an attribute of this request — so the member set handed to
/// Cedar keeps only the members among these: same answers, and a 20-member
/// set costs what a 1-member set does.
#[derive(Debug, Default)]
pub(crate) struct Observable<'a>(Vec<&'a str>);

impl<'a> Observable<'a> {
    pub(crate) fn new(
        subject: &'a Subject,
        target: &'a Target,
        request: &'a RequestAttrs,
        literals: &'a [String],
    ) -> Self {
        let mut known: Vec<&str> = vec![&subject.id, &subject.username, &request.method];
        known.push(request.ip.as_deref().unwrap_or_default());
        let project = |known: &mut Vec<&'a str>, p: &'a ProjectAttrs| {
            known.extend([p.id.as_str(), &p.owner_id, &p.status, &p.currency]);
        };
        match target {
            Target::Collection(_) | Target::Type(_) => {}
            Target::Project(p) | Target::Report(p) => project(&mut known, p),
            Target::Task(t) => {
                known.extend([t.id.as_str(), t.assignee_id.as_deref().unwrap_or_default(), &t.status]);
                project(&mut known, &t.project);
            }
            Target::Approval(a) => {
                known.extend([a.id.as_str(), &a.requester_id, &a.status]);
                if let Some(p) = &a.project {
                    project(&mut known, p);
                }
            }
        }
        known.extend(literals.iter().map(String::as_str));
        Self(known)
    }

    fn keep(&self, member: &str) -> bool {
        self.0.contains(&member)
    }
}

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}

/// Pushes `(field, value())` when `attr` is needed.
fn put(attrs: &mut Attrs, needs: AttrSet, attr: Attr, value: impl FnOnce() -> RestrictedExpression) {
    if needs.contains(attr) {
        attrs.push((attr.field().to_owned(), value()));
    }
}

fn project_fields(p: &ProjectAttrs, needs: AttrSet, seen: &Observable<'_>) -> Attrs {
    let mut a = Vec::with_capacity(6);
    put(&mut a, needs, Attr::ProjectId, || string(&p.id));
    put(&mut a, needs, Attr::ProjectOwnerId, || string(&p.owner_id));
    put(&mut a, needs, Attr::ProjectStatus, || string(&p.status));
    put(&mut a, needs, Attr::ProjectCurrency, || string(&p.currency));
    put(&mut a, needs, Attr::ProjectBudget, || {
        RestrictedExpression::new_decimal(decimal_text(cedar_decimal(p.budget)))
    });
    put(&mut a, needs, Attr::ProjectMemberIds, || {
        RestrictedExpression::new_set(p.member_ids.iter().filter(|m| seen.keep(m)).map(|m| string(m)))
    });
    a
}

/// `project` as a record attribute, when the policies read `project.*`.
fn project_record(attrs: &mut Attrs, p: &ProjectAttrs, needs: AttrSet, seen: &Observable<'_>) -> Result<(), String> {
    if needs.any_of(Origin::Project) {
        let record = RestrictedExpression::new_record(project_fields(p, needs, seen)).map_err(|e| e.to_string())?;
        attrs.push(("project".into(), record));
    }
    Ok(())
}

fn entity(uid: &EntityUid, attrs: Attrs) -> Result<Entity, String> {
    if attrs.is_empty() {
        Ok(Entity::new_no_attrs(uid.clone(), HashSet::new()))
    } else {
        Entity::new(uid.clone(), attrs.into_iter().collect(), HashSet::new()).map_err(|e| e.to_string())
    }
}

/// The principal entity and its uid.
pub(crate) fn principal(names: &Names, s: &Subject, needs: AttrSet) -> Result<(EntityUid, Entity), String> {
    let uid = EntityUid::from_type_name_and_id(names.subject.clone(), EntityId::new(&s.id));
    let mut attrs = Vec::with_capacity(3);
    put(&mut attrs, needs, Attr::UserId, || string(&s.id));
    put(&mut attrs, needs, Attr::UserUsername, || string(&s.username));
    put(&mut attrs, needs, Attr::UserRoles, || {
        RestrictedExpression::new_set(s.roles.iter().map(|r| string(r.as_str())))
    });
    let entity = entity(&uid, attrs)?;
    Ok((uid, entity))
}

/// The resource entity for `target` (of type `t`) and its uid.
pub(crate) fn resource(
    names: &Names,
    t: ResourceType,
    target: &Target,
    needs: AttrSet,
    seen: &Observable<'_>,
) -> Result<(EntityUid, Entity), String> {
    let mut attrs = Vec::new();
    let id = match target {
        Target::Collection(_) | Target::Type(_) => "*",
        Target::Project(p) => {
            attrs = project_fields(p, needs, seen);
            &p.id
        }
        Target::Task(task) => {
            put(&mut attrs, needs, Attr::TaskId, || string(&task.id));
            put(&mut attrs, needs, Attr::TaskAssigneeId, || string(task.assignee_id.as_deref().unwrap_or_default()));
            put(&mut attrs, needs, Attr::TaskStatus, || string(&task.status));
            project_record(&mut attrs, &task.project, needs, seen)?;
            &task.id
        }
        Target::Report(p) => {
            project_record(&mut attrs, p, needs, seen)?;
            &p.id
        }
        Target::Approval(a) => {
            put(&mut attrs, needs, Attr::ApprovalId, || string(&a.id));
            put(&mut attrs, needs, Attr::ApprovalRequesterId, || string(&a.requester_id));
            put(&mut attrs, needs, Attr::ApprovalStatus, || string(&a.status));
            if let Some(p) = &a.project {
                project_record(&mut attrs, p, needs, seen)?;
            }
            &a.id
        }
    };
    let uid = names.uid(t, id)?;
    let entity = entity(&uid, attrs)?;
    Ok((uid, entity))
}

/// The entity store of one request.
pub(crate) fn entities(principal: Entity, resource: Entity) -> Result<Entities, String> {
    Entities::from_entities([principal, resource], None).map_err(|e| e.to_string())
}

/// `request.*` as the Cedar context.
pub(crate) fn context(r: &RequestAttrs, needs: AttrSet) -> Result<Context, String> {
    let mut pairs = Vec::with_capacity(3);
    put(&mut pairs, needs, Attr::RequestIp, || string(r.ip.as_deref().unwrap_or_default()));
    put(&mut pairs, needs, Attr::RequestMethod, || string(&r.method));
    put(&mut pairs, needs, Attr::RequestMfa, || RestrictedExpression::new_bool(r.mfa));
    if pairs.is_empty() {
        return Ok(Context::empty());
    }
    Context::from_pairs(pairs).map_err(|e| e.to_string())
}
