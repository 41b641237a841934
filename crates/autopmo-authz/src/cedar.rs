//! The policies of one decision evaluated by Cedar, in their compiled form:
//! the reference for [`crate::evaluate`] ([`crate::Authorizer::decide_with_cedar`]).

use cedar_policy::Request;

use crate::decide::{RequestAttrs, Subject, Target, Verdict};
use crate::entities::{self, Names, Observable};
use crate::expr::Attr;
use crate::permission::Permission;
use crate::policy::{Effect, PolicySet};

/// Builds the Cedar request for the decision (only the attributes the
/// policies of its type and action read) and asks Cedar.
pub(crate) fn evaluate(
    cedar: &cedar_policy::Authorizer,
    names: &Names,
    policies: &PolicySet,
    subject: &Subject,
    permission: Permission,
    target: &Target,
    request: &RequestAttrs,
) -> Result<Verdict, String> {
    let t = permission.resource;
    let action = names.action(permission.action).ok_or("unknown action")?;
    let set = policies.cedar_for(t, permission.action).ok_or("unknown resource type")?;
    let needs = policies.needs(t, permission.action);
    let (principal_uid, principal) = entities::principal(names, subject, needs)?;
    let seen = if needs.contains(Attr::ProjectMemberIds) {
        Observable::new(subject, target, request, policies.strings(t, permission.action))
    } else {
        Observable::default()
    };
    let (resource_uid, resource) = entities::resource(names, t, target, needs, &seen)?;
    let entities = entities::entities(principal, resource)?;
    let context = entities::context(request, needs)?;
    let request =
        Request::new(principal_uid, action.clone(), resource_uid, context, None).map_err(|e| e.to_string())?;
    let response = cedar.is_authorized(&request, set, &entities);

    let mut verdict =
        Verdict { engine_allows: response.decision() == cedar_policy::Decision::Allow, ..Verdict::default() };
    for id in response.diagnostics().reason() {
        match policies.origin(id) {
            Some((name, Effect::Allow)) => verdict.permits.push(name.to_owned()),
            Some((name, Effect::Deny)) => verdict.denies.push(name.to_owned()),
            None => {}
        }
    }
    for err in response.diagnostics().errors() {
        verdict.errors.push(err.to_string());
        let cedar_policy::AuthorizationError::PolicyEvaluationError(failed) = err;
        if let Some((name, Effect::Deny)) = policies.origin(failed.policy_id()) {
            verdict.failed_denies.push(name.to_owned());
        }
    }
    Ok(verdict)
}
