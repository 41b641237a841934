//! Every API call leaves exactly one `http.request` event, and every change
//! its domain event, durably, before its response leaves (guide §8).
//!
//! - The [`layer`] middleware opens an [`AuditCtx`] for the request (who,
//!   from where, which route) and seals the caller's personal data before
//!   any handler runs.
//! - A handler that changes something commits its unit of work through
//!   [`Audit::commit`], which appends the domain events and the request event
//!   to the same transaction: the change and its record commit together.
//! - For every other request (reads, refusals, errors), the middleware
//!   writes the request event after the handler and only then lets the
//!   response go. If it cannot, the caller gets 503 instead — fail closed,
//!   as Vault does: a read is not answered either.

use crate::problem::ApiError;
use crate::state::AppState;
use autopmo_audit::{Actor, AuditRecord, Category, Outcome, Resource};
use autopmo_domain::UserId;
use autopmo_store::UnitOfWork;
use autopmo_trail::ActorInfo;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// What the audit trail knows about the request being served.
#[derive(Debug, Clone)]
pub struct AuditCtx(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    request_id: String,
    method: String,
    path: String,
    route: String,
    category: Category,
    info: Mutex<ActorInfo>,
    actor: Mutex<Actor>,
    resource: Mutex<Option<Resource>>,
    session: Mutex<Option<String>>,
    decision: Mutex<Option<String>>,
    pending: Mutex<Vec<AuditRecord>>,
    recorded: AtomicBool,
}

/// Routes that are not API calls and are not audited: liveness and
/// readiness probes, polled every few seconds by orchestrators.
fn is_probe(path: &str) -> bool {
    path == "/healthz" || path == "/readyz"
}

/// The retention class of a request to `route`.
fn category_of(route: &str) -> Category {
    if route.starts_with("/api/v1/auth")
        || route.starts_with("/api/v1/me/sessions")
        || route.starts_with("/api/v1/me/mfa")
    {
        Category::Authentication
    } else if route.starts_with("/api/v1/users")
        || route.starts_with("/api/v1/admin")
        || route.starts_with("/api/v1/service-accounts")
    {
        Category::Administrative
    } else if route.starts_with("/api/v1/policies") || route.starts_with("/api/v1/approvals") {
        Category::Authorization
    } else {
        Category::DataAccess
    }
}

impl AuditCtx {
    fn get<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The request's method.
    pub fn method(&self) -> &str {
        &self.0.method
    }

    /// The request id.
    pub fn request_id(&self) -> &str {
        &self.0.request_id
    }

    /// Records who the caller is, sealing their personal data. Called by
    /// the `Principal` extractor, before the handler opens a unit of work.
    pub async fn authenticated(&self, state: &AppState, user_id: UserId, username: &str) -> Result<(), ApiError> {
        let info = {
            let mut info = Self::get(&self.0.info);
            info.user_id = Some(user_id);
            info.username = Some(username.to_owned());
            info.clone()
        };
        let actor = state.trail.actor(&info).await.map_err(unavailable)?;
        *Self::get(&self.0.actor) = actor;
        Ok(())
    }

    /// The client's address, in clear (never stored so).
    pub fn address(&self) -> Option<String> {
        Self::get(&self.0.info).ip_address.clone()
    }

    /// The caller as sealed for the audit trail.
    pub fn actor(&self) -> Actor {
        Self::get(&self.0.actor).clone()
    }

    /// Records the session the request belongs to.
    pub fn session(&self, session_id: Option<String>) {
        *Self::get(&self.0.session) = session_id;
    }

    /// Names the resource the request is about (for its request event).
    pub fn resource(&self, kind: &str, id: impl ToString) {
        *Self::get(&self.0.resource) = Some(Resource { kind: kind.to_owned(), id: Some(id.to_string()), name: None });
    }

    /// Records the authorization decision the request was let through or
    /// refused by: its id goes into the request event.
    pub fn decision(&self, decision_id: String) {
        *Self::get(&self.0.decision) = Some(decision_id);
    }

    /// An event written together with this request's event (a refusal,
    /// say, which has no unit of work of its own).
    pub fn add_event(&self, record: AuditRecord) {
        Self::get(&self.0.pending).push(record);
    }

    /// A domain event by the caller, in this request.
    pub fn event(&self, state: &AppState, event_type: &str, action: &str) -> AuditRecord {
        let mut record = AuditRecord::new(event_type, Category::DataAccess, action, Outcome::Success, state.now());
        record.actor = Self::get(&self.0.actor).clone();
        record.request_id = Some(self.0.request_id.clone());
        record.session_id = Self::get(&self.0.session).clone();
        record
    }

    fn request_event(&self, state: &AppState, status: StatusCode) -> AuditRecord {
        let action = format!("{} {}", self.0.method, self.0.route);
        let mut record = AuditRecord::new(
            "http.request",
            self.0.category,
            &action,
            Outcome::of_http_status(status.as_u16()),
            state.now(),
        )
        .with_metadata(&serde_json::json!({
            "method": self.0.method,
            "path": self.0.path,
            "route": self.0.route,
            "http_status": status.as_u16(),
        }));
        record.actor = Self::get(&self.0.actor).clone();
        record.resource = Self::get(&self.0.resource).clone();
        record.request_id = Some(self.0.request_id.clone());
        record.session_id = Self::get(&self.0.session).clone();
        record.decision_id = Self::get(&self.0.decision).clone();
        record
    }

    /// The events added with [`add_event`](Self::add_event), taken.
    fn take_pending(&self) -> Vec<AuditRecord> {
        std::mem::take(&mut *Self::get(&self.0.pending))
    }
}

fn unavailable(e: autopmo_trail::TrailError) -> ApiError {
    ApiError::Unavailable(format!("audit trail: {e}"))
}

/// The audit context as a handler argument.
#[derive(Debug, Clone)]
pub struct Audit(pub AuditCtx);

impl<S: Send + Sync> FromRequestParts<S> for Audit {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AuditCtx>()
            .cloned()
            .map(Self)
            .ok_or_else(|| ApiError::Unavailable("the request has no audit context".to_owned()))
    }
}

impl Audit {
    /// A domain event by the caller about `kind` `id` (named `name`).
    pub fn event(
        &self,
        state: &AppState,
        event_type: &str,
        action: &str,
        kind: &str,
        id: impl ToString,
        name: Option<&str>,
    ) -> AuditRecord {
        self.0.resource(kind, id.to_string());
        self.0.event(state, event_type, action).with_resource(kind, Some(id.to_string()), name.map(str::to_owned))
    }

    /// Appends `events` and this request's event (with `status`) to `uow`
    /// and commits: the change and its record are durable together, or
    /// neither is.
    pub async fn commit(
        &self,
        state: &AppState,
        mut uow: UnitOfWork,
        status: StatusCode,
        events: Vec<AuditRecord>,
    ) -> Result<(), ApiError> {
        for mut event in self.0.take_pending().into_iter().chain(events) {
            uow.append_audit(&mut event).await?;
        }
        let mut request = self.0.request_event(state, status);
        uow.append_audit(&mut request).await?;
        uow.commit().await?;
        self.0.0.recorded.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// Opens the audit context, runs the request, and makes sure its event is
/// durable before the response leaves.
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if is_probe(&path) {
        return next.run(req).await;
    }
    let route =
        req.extensions().get::<MatchedPath>().map_or_else(|| "(unmatched)".to_owned(), |m| m.as_str().to_owned());
    let request_id = req.extensions().get::<crate::RequestId>().map_or_else(String::new, |r| r.0.clone());
    let info = ActorInfo {
        user_id: None,
        username: None,
        ip_address: req
            .extensions()
            .get::<crate::transport::ClientInfo>()
            .map(|c| c.address.to_string())
            .or_else(|| req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string())),
        user_agent: req
            .headers()
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(512).collect()),
    };
    let actor = match state.trail.actor(&info).await {
        Ok(actor) => actor,
        Err(e) => return unavailable(e).into_response(),
    };
    let ctx = AuditCtx(Arc::new(Inner {
        request_id,
        method: req.method().to_string(),
        category: category_of(&route),
        path,
        route,
        info: Mutex::new(info),
        actor: Mutex::new(actor),
        resource: Mutex::new(None),
        session: Mutex::new(None),
        decision: Mutex::new(None),
        pending: Mutex::new(Vec::new()),
        recorded: AtomicBool::new(false),
    }));
    req.extensions_mut().insert(ctx.clone());
    let response = next.run(req).await;
    if !ctx.0.recorded.load(Ordering::SeqCst)
        && let Err(e) = record_all(&state, ctx.take_pending(), ctx.request_event(&state, response.status())).await
    {
        tracing::error!(request_id = %ctx.0.request_id, error = %e, "audit event not written: refusing to answer");
        return unavailable(e).into_response();
    }
    watch(&state, &ctx, response.status()).await;
    response
}

/// Writes `events` and then `request`, together and in order.
async fn record_all(
    state: &AppState,
    events: Vec<AuditRecord>,
    request: AuditRecord,
) -> Result<(), autopmo_trail::TrailError> {
    state.trail.record_all(events.into_iter().chain([request]).collect()).await.map(drop)
}

/// Feeds the answered request to the security rules; an alert they raise
/// is recorded (a failure to record it is logged: the request itself is on
/// record already).
async fn watch(state: &AppState, ctx: &AuditCtx, status: StatusCode) {
    let (address, user_id) = {
        let info = AuditCtx::get(&ctx.0.info);
        (info.ip_address.clone(), info.user_id.map(|u| u.to_string()))
    };
    let actor = AuditCtx::get(&ctx.0.actor).clone();
    let alert =
        state.monitor.observe_request(status.as_u16(), address.as_deref(), user_id.as_deref(), &actor, state.now());
    if let Some(mut alert) = alert {
        alert.request_id = Some(ctx.0.request_id.clone());
        if let Err(e) = state.trail.record(alert).await {
            tracing::error!(error = %e, "security alert not recorded");
        }
    }
}
