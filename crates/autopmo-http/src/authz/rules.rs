//! What each route needs: every route of the router declares a [`Rule`]
//! next to its handlers (a `RULES` constant in its module); the
//! authorization layer looks the matched route up and decides before the
//! handler runs. A route without a rule is refused (500) — and the router
//! walk in the tests fails first.

/// The authorization declaration of one route.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteRule {
    /// The HTTP method, upper-case (`GET`, `POST`, …).
    pub method: &'static str,
    /// The route as written in the router (`/api/v1/projects/{project_id}`).
    pub path: &'static str,
    /// What it needs.
    pub rule: Rule,
}

/// What a route needs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rule {
    /// No credentials (probes, discovery, login, password reset, invites).
    Public,
    /// Any authenticated caller, acting on their own things only (`/me`,
    /// their sessions, logout, their password).
    SelfService,
    /// A permission of the matrix (`"projects:read"`) on a target.
    Guarded(&'static str, TargetRef),
}

/// The resource a guarded route acts on, found from its path.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TargetRef {
    /// Some resource of the type (lists and creates): the matrix decides at
    /// the door; the handler narrows (list scope, or the new resource).
    Collection(&'static str),
    /// A resource without instances of its own (`audit`, `policy`, `user`
    /// administration): the matrix and the policies decide.
    Type(&'static str),
    /// The project named by `{project_id}`.
    Project,
    /// The task named by `{project_id}` and `{task_id}`.
    Task,
    /// A report on the project named by `{project_id}`.
    Report,
    /// The budget approval named by `{approval_id}`.
    Approval,
}

/// Shorthand for a rule.
pub(crate) const fn rule(method: &'static str, path: &'static str, rule: Rule) -> RouteRule {
    RouteRule { method, path, rule }
}
