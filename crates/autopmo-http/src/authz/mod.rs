//! Authorization at one decision point (guide §3, DESIGN.md decision 6).
//!
//! Every route declares a `rules::Rule`; the `layer` middleware looks the matched
//! route up, authenticates the caller, loads the resource the route acts on
//! (its owner, members, budget, assignee…) and asks the
//! [`autopmo_authz::Authorizer`] — the §3.1 matrix, then the §3.2 policies,
//! deny by default, an explicit deny wins — before the handler runs.
//!
//! A refusal is audited (`authz.denied`, with the decision id and the
//! policies that decided); an allowed request's event carries its decision
//! id. A refused *instance* the caller may not even read is answered 404,
//! as if it did not exist, so that guessing ids confirms nothing; one they
//! may read but not change is 403 (`docs/authorization.md`).

pub(crate) mod rules;
mod table;
mod targets;

use crate::audit::AuditCtx;
use crate::extract::principal::Principal;
use crate::problem::ApiError;
use crate::state::AppState;
use autopmo_audit::{AuditRecord, Category, Outcome};
use autopmo_authz::{Authorizer, Decision, Permission, RequestAttrs, Subject, Target};
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

pub(crate) use table::check_rules;
pub use targets::Granted;

/// Where the matrix and the policies come from, for (re)loading.
#[derive(Debug, Clone, Default)]
pub struct PolicySource {
    /// A YAML policy file; none: the shipped policies.
    pub policy_file: Option<PathBuf>,
    /// A TOML matrix file; none: the built-in §3.1 matrix.
    pub matrix_file: Option<PathBuf>,
}

impl PolicySource {
    /// Reads and compiles the matrix and the policies; every problem is
    /// reported with its file, line and column.
    pub fn load(&self) -> Result<Authorizer, String> {
        let matrix = match &self.matrix_file {
            None => autopmo_authz::Matrix::builtin(),
            Some(path) => {
                let text = read(path)?;
                autopmo_authz::Matrix::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
        };
        let policies = match &self.policy_file {
            None => autopmo_authz::PolicySet::builtin(),
            Some(path) => {
                let text = read(path)?;
                autopmo_authz::PolicySet::parse(&path.display().to_string(), &text).map_err(|e| e.to_string())?
            }
        };
        Ok(Authorizer::new(matrix, policies))
    }
}

fn read(path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))
}

/// The authorizer in force, replaced whole on a reload.
#[derive(Debug, Clone)]
pub struct Authz {
    current: Arc<RwLock<Arc<Authorizer>>>,
    source: Arc<PolicySource>,
}

impl Default for Authz {
    fn default() -> Self {
        Self::new(Authorizer::builtin(), PolicySource::default())
    }
}

/// What a reload changed.
#[derive(Debug, Clone)]
pub struct Reloaded {
    /// Digest of the matrix and policies before.
    pub old_digest: String,
    /// Digest after.
    pub new_digest: String,
    /// The policies now in force, by name.
    pub policies: Vec<String>,
}

impl Authz {
    /// `authorizer`, reloadable from `source`.
    pub fn new(authorizer: Authorizer, source: PolicySource) -> Self {
        Self { current: Arc::new(RwLock::new(Arc::new(authorizer))), source: Arc::new(source) }
    }

    /// The authorizer in force.
    pub fn current(&self) -> Arc<Authorizer> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Reloads from the source; on any error the authorizer in force stays.
    pub fn reload(&self) -> Result<Reloaded, String> {
        let next = self.source.load()?;
        let policies = next.policies().summaries().into_iter().map(|p| p.name).collect();
        let new_digest = next.digest();
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let old_digest = current.digest();
        *current = Arc::new(next);
        Ok(Reloaded { old_digest, new_digest, policies })
    }

    /// Reloads and records the change (`authz.policies_reloaded`, or
    /// `authz.policies_reload_failed` with the errors) as `event`'s actor;
    /// `trigger` says what asked (`api`, `SIGHUP`).
    pub async fn reload_audited(
        &self,
        trail: &autopmo_trail::AuditTrail,
        mut event: AuditRecord,
        trigger: &str,
    ) -> Result<Result<Reloaded, String>, autopmo_trail::TrailError> {
        let result = self.reload();
        event.category = Category::Authorization;
        event.action = "reload".to_owned();
        event = event.with_resource("policy", None, None);
        match &result {
            Ok(r) => {
                event.event_type = "authz.policies_reloaded".to_owned();
                event = event.with_metadata(&serde_json::json!({
                    "old_digest": r.old_digest, "new_digest": r.new_digest, "policies": r.policies,
                    "changed": r.old_digest != r.new_digest, "trigger": trigger,
                }));
            }
            Err(errors) => {
                event.event_type = "authz.policies_reload_failed".to_owned();
                event.status = Outcome::Failure;
                event = event.with_metadata(&serde_json::json!({ "errors": errors, "trigger": trigger }));
            }
        }
        trail.record(event).await?;
        Ok(result)
    }
}

/// Who is asking, as the policies see them.
pub(crate) fn subject(principal: &Principal) -> Subject {
    Subject {
        id: principal.user_id.to_string(),
        username: principal.username.to_string(),
        roles: principal.roles.clone(),
    }
}

/// What the policies may know about the request.
pub(crate) fn request_attrs(principal: &Principal, method: &str, ctx: Option<&AuditCtx>) -> RequestAttrs {
    RequestAttrs {
        ip: ctx.and_then(AuditCtx::address),
        method: method.to_owned(),
        mfa: principal.amr.iter().any(|m| matches!(m.as_str(), "otp" | "hwk" | "sms" | "mfa" | "swk")),
    }
}

/// The authorization middleware: one decision per request, before the handler.
pub(crate) async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(route) = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()) else {
        // Unmatched: the fallback answers 404.
        return next.run(req).await;
    };
    // HEAD is served by the GET handler, so it is decided as a GET.
    let method = if req.method() == axum::http::Method::HEAD { "GET" } else { req.method().as_str() };
    match table::lookup(method, &route) {
        Some(table::Compiled::Open) => next.run(req).await,
        Some(table::Compiled::Guarded(permission, target)) => match guard(&state, req, permission, target).await {
            Ok(req) => next.run(req).await,
            Err(e) => e.into_response(),
        },
        // A method the route does not have: the router answers 405.
        None if table::knows_route(&route) && !table::has_method(method, &route) => next.run(req).await,
        None => {
            tracing::error!(route, method = %req.method(), "route has no authorization rule: refused");
            ApiError::Internal("route without an authorization rule".into()).into_response()
        }
    }
}

async fn guard(
    state: &AppState,
    req: Request,
    permission: Permission,
    target: rules::TargetRef,
) -> Result<Request, ApiError> {
    let (mut parts, body) = req.into_parts();
    let principal = Principal::from_request_parts(&mut parts, state).await?;
    let ctx = parts.extensions.get::<AuditCtx>().cloned();
    let authorizer = state.authz.current();
    let who = subject(&principal);
    let request = request_attrs(&principal, parts.method.as_str(), ctx.as_ref());
    // The matrix first: a role that may never do this learns nothing about
    // the resource, not even whether it exists.
    let resource_type = targets::resource_type(target);
    if !principal.roles.iter().any(|r| authorizer.matrix().grants(*r, permission)) {
        let decision = authorizer.decide(&who, permission, &Target::Collection(resource_type), &request);
        return Err(refuse(state, ctx.as_ref(), &decision, resource_type.as_str(), None, false));
    }
    let loaded = targets::load(state, &mut parts, target).await?;
    let decision = authorizer.decide(&who, permission, &loaded.target, &request);
    if !decision.errors.is_empty() {
        tracing::warn!(decision_id = %decision.id, errors = ?decision.errors, "policy evaluation errors");
    }
    if !decision.allowed {
        let hidden = targets::hidden(&authorizer, &who, permission, &loaded.target, &request);
        return Err(refuse(state, ctx.as_ref(), &decision, resource_type.as_str(), loaded.id.clone(), hidden));
    }
    if let Some(ctx) = &ctx {
        ctx.decision(decision.id.to_string());
    }
    if privileged(parts.method.as_str(), permission) {
        require_step_up(state, &principal)?;
    }
    parts.extensions.insert(Granted { decision_id: decision.id, loaded: Arc::new(loaded) });
    parts.extensions.insert(principal);
    Ok(Request::from_parts(parts, body))
}

/// A further decision inside a handler — on a resource that exists only
/// in the request (a new project), or for a field that needs more than the
/// route's permission — decided and audited like the layer's.
pub(crate) fn check(
    state: &AppState,
    principal: &Principal,
    audit: &crate::audit::Audit,
    permission: Permission,
    target: &Target,
    resource_id: Option<String>,
) -> Result<Decision, ApiError> {
    let ctx = &audit.0;
    let request = request_attrs(principal, ctx.method(), Some(ctx));
    let decision = state.authz.current().decide(&subject(principal), permission, target, &request);
    if decision.allowed {
        Ok(decision)
    } else {
        Err(refuse(state, Some(ctx), &decision, permission.resource.as_str(), resource_id, false))
    }
}

/// Whether the caller holds `permission` on `target` (no audit: for
/// choosing a path, such as applying a budget at once or asking first).
pub(crate) fn may(state: &AppState, principal: &Principal, permission: Permission, target: &Target) -> bool {
    let request = request_attrs(principal, "", None);
    state.authz.current().decide(&subject(principal), permission, target, &request).allowed
}

/// Operations that need a recent second factor (guide §2.2, DESIGN.md
/// decision 5): every delete, deploying, role and policy changes, budget
/// approvals.
fn privileged(method: &str, permission: Permission) -> bool {
    use autopmo_authz::Action;
    method == "DELETE"
        || matches!(permission.action, Action::Delete | Action::Deploy | Action::Configure | Action::Decide)
        || (matches!(permission.action, Action::Manage) && method != "GET")
}

/// Refuses a session without a second factor in the step-up window
/// (`step_up_required`). API keys (personal tokens, service-account keys)
/// are non-interactive credentials an administrator issued: they cannot
/// step up and are not asked to. A bearer token from an external provider
/// cannot step up here either: it is refused.
pub(crate) fn require_step_up(state: &AppState, principal: &Principal) -> Result<(), ApiError> {
    if principal.credential_id.is_some() {
        return Ok(());
    }
    let fresh = principal.auth_time.is_some_and(|at| state.mfa.stepped_up(&principal.amr, at, state.now()));
    if fresh {
        return Ok(());
    }
    let window = state.mfa.policy().step_up.whole_seconds();
    Err(ApiError::StepUpRequired(if principal.session_id.is_some() {
        format!(
            "this operation needs a second factor verified within the last {window} s: \
             POST /api/v1/auth/step-up, then retry"
        )
    } else {
        "this operation needs a session with a recent second factor: sign in to AutoPMO and step up".to_owned()
    }))
}

/// Records the refusal with the request's event and answers 403 — or 404
/// when the caller may not read the resource either.
fn refuse(
    state: &AppState,
    ctx: Option<&AuditCtx>,
    decision: &Decision,
    resource_type: &str,
    resource_id: Option<String>,
    hidden: bool,
) -> ApiError {
    if let Some(ctx) = ctx {
        ctx.decision(decision.id.to_string());
        let mut event = ctx
            .event(state, "authz.denied", "authorize")
            .with_resource(resource_type, resource_id, None)
            .with_metadata(&serde_json::json!({
                "permission": decision.permission.to_string(),
                "reason": format!("{:?}", decision.reason),
                "matrix_granted": decision.matrix_granted,
                "policies": decision.policies,
                "answered": if hidden { 404 } else { 403 },
            }));
        event.category = Category::Authorization;
        event.status = Outcome::Denied;
        event.decision_id = Some(decision.id.to_string());
        ctx.add_event(event);
    }
    if hidden {
        ApiError::NotFound(targets::noun(resource_type))
    } else {
        ApiError::Forbidden(format!("you may not {}", decision.permission))
    }
}

/// The list filter of `scope`, for the store.
pub(crate) fn visibility(scope: autopmo_authz::Scope) -> autopmo_store::visibility::Visibility {
    use autopmo_authz::{CmpOp as A, Scope};
    use autopmo_store::visibility::{CmpOp as S, Visibility as V};
    match scope {
        Scope::All => V::All,
        Scope::Nothing => V::Nothing,
        Scope::OwnerIs(id) => V::OwnerIs(id),
        Scope::MemberIs(id) => V::MemberIs(id),
        Scope::IdIs(id) => V::IdIs(id),
        Scope::StatusIs(status) => V::StatusIs(status),
        Scope::Currency(code) => V::CurrencyIs(code),
        Scope::Budget(op, amount) => V::Budget(
            match op {
                A::Eq => S::Eq,
                A::Ne => S::Ne,
                A::Lt => S::Lt,
                A::Le => S::Le,
                A::Gt => S::Gt,
                A::Ge => S::Ge,
            },
            amount,
        ),
        Scope::FieldEq(a, b) => V::ColumnsEqual(column(a), column(b)),
        Scope::MemberField(f) => V::ColumnIsMember(column(f)),
        Scope::And(parts) => V::And(parts.into_iter().map(visibility).collect()),
        Scope::Or(parts) => V::Or(parts.into_iter().map(visibility).collect()),
        Scope::Not(inner) => V::Not(Box::new(visibility(*inner))),
    }
}

fn column(field: autopmo_authz::ProjectField) -> autopmo_store::visibility::ProjectColumn {
    use autopmo_authz::ProjectField as F;
    use autopmo_store::visibility::ProjectColumn as C;
    match field {
        F::Id => C::Id,
        F::OwnerId => C::OwnerId,
        F::Status => C::Status,
        F::Currency => C::Currency,
    }
}
