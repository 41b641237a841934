//! Role administration over the API: `PUT /api/v1/users/{id}/roles`
//! replaces the set, ends the user's sessions (their access token stops on
//! the next request) and is recorded with the old and new roles; bad role
//! names are a 422 naming the field; the last administrator keeps the role.

use crate::helpers::*;
use autopmo_audit::{AuditRecord, Category};
use autopmo_crypto::PasswordHasher;
use autopmo_domain::{Role, User};
use autopmo_store::{audit, credentials};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple 42";

/// Audit events of one type, newest first.
pub async fn events_of(app: &TestApp, event_type: &str) -> Vec<AuditRecord> {
    let mut conn = app.store.read().await.unwrap();
    let filter = audit::AuditFilter { event_type: Some(event_type.to_owned()), ..Default::default() };
    audit::list(&mut conn, &filter, None, 1000).await.unwrap()
}

/// A request with `token`.
pub fn as_user(app: &TestApp, token: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
    app.client.request(method, app.url(path)).bearer_auth(token)
}

/// A person with a password who has logged in: (user, access token).
pub async fn logged_in(app: &TestApp, name: &str, roles: &[Role]) -> (User, String) {
    let (user, _) = app.user(name, roles).await;
    let hash = PasswordHasher::default().hash(&SecretString::from(PASSWORD.to_owned())).await.unwrap();
    let now = autopmo_domain::Clock::now(&app.clock);
    let mut uow = app.store.begin().await.unwrap();
    credentials::set_password(uow.conn(), &user.id.to_string(), hash.as_str(), false, now).await.unwrap();
    uow.commit().await.unwrap();
    (user, login(app, name).await)
}

/// Logs `name` in with the password: an access token.
async fn login(app: &TestApp, name: &str) -> String {
    let body = json!({"username": name, "password": PASSWORD});
    let resp = app.client.post(app.url("/api/v1/auth/login")).json(&body).send().await.unwrap();
    expect_json(resp, StatusCode::OK).await["access_token"].as_str().unwrap().to_owned()
}

async fn put_roles(app: &TestApp, token: &str, user: &str, etag: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = as_user(app, token, Method::PUT, &format!("/api/v1/users/{user}/roles")).json(body);
    if let Some(etag) = etag {
        req = req.header("if-match", etag);
    }
    req.send().await.unwrap()
}

async fn me(app: &TestApp, token: &str) -> StatusCode {
    as_user(app, token, Method::GET, "/api/v1/me").send().await.unwrap().status()
}

async fn an_administrator_changes_roles_and_the_sessions_end(app: TestApp) {
    let (root, root_token) = app.user("root", &[Role::SystemAdmin]).await;
    let (gus, access) = logged_in(&app, "gus", &[Role::Developer]).await;
    assert_eq!(me(&app, &access).await, StatusCode::OK);
    let read = as_user(&app, &root_token, Method::GET, &format!("/api/v1/users/{}", gus.id)).send().await.unwrap();
    let version = etag(&read);
    let before: i64 = version.trim_matches('"').parse().unwrap();

    let body = json!({"roles": ["stakeholder", "project_manager"]});
    let resp = put_roles(&app, &root_token, &gus.id.to_string(), Some(&version), &body).await;
    assert_eq!(etag(&resp), format!("\"{}\"", before + 1));
    let change = expect_json(resp, StatusCode::OK).await;
    assert_eq!(
        change,
        json!({
            "user_id": gus.id.to_string(),
            "roles": ["project_manager", "stakeholder"],
            "previous_roles": ["developer"],
            "added": ["project_manager", "stakeholder"],
            "removed": ["developer"],
            "sessions_ended": 1,
            "version": before + 1,
        })
    );
    // The access token of the ended session stops working on the next request.
    assert_eq!(me(&app, &access).await, StatusCode::UNAUTHORIZED);
    let again = login(&app, "gus").await;
    let now = expect_json(as_user(&app, &again, Method::GET, "/api/v1/me").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(now["roles"], json!(["project_manager", "stakeholder"]));

    // Recorded with the old and the new roles, by the administrator, in the request.
    let recorded = events_of(&app, "user.roles_changed").await;
    assert_eq!(recorded.len(), 1);
    let event = &recorded[0];
    assert_eq!(event.category, Category::Authorization);
    assert_eq!(event.actor.user_id.as_deref(), Some(root.id.to_string().as_str()));
    assert_eq!(event.resource.as_ref().unwrap().id.as_deref(), Some(gus.id.to_string().as_str()));
    let metadata: Value = serde_json::from_str(&event.metadata).unwrap();
    assert_eq!(metadata["old_roles"], json!(["developer"]));
    assert_eq!(metadata["new_roles"], json!(["project_manager", "stakeholder"]));
    assert_eq!(metadata["added"], json!(["project_manager", "stakeholder"]));
    assert_eq!(metadata["removed"], json!(["developer"]));
    assert_eq!(metadata["sessions_ended"], 1);
    let requests = events_of(&app, "http.request").await;
    let request = requests.iter().find(|r| r.request_id == event.request_id).expect("its request event");
    assert!(request.action.starts_with("PUT /api/v1/users/{user_id}/roles"), "{}", request.action);

    // The same set again: 200, nothing ends, nothing new is recorded.
    let resp = put_roles(&app, &root_token, &gus.id.to_string(), None, &body).await;
    let same = expect_json(resp, StatusCode::OK).await;
    assert_eq!((same["sessions_ended"].as_u64(), same["version"].as_i64()), (Some(0), Some(before + 1)));
    assert_eq!(me(&app, &again).await, StatusCode::OK);
    assert_eq!(events_of(&app, "user.roles_changed").await.len(), 1);
    // A stale ETag: 412, nothing changes.
    let stale = put_roles(&app, &root_token, &gus.id.to_string(), Some(&version), &json!({"roles": []})).await;
    assert_problem(stale, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
    assert_eq!(me(&app, &again).await, StatusCode::OK);
    // An unknown user: 404.
    let nobody = uuid::Uuid::now_v7().to_string();
    assert_problem(put_roles(&app, &root_token, &nobody, None, &body).await, StatusCode::NOT_FOUND, "not_found").await;
}

/// Makes `keep` the only user holding `system_admin` (the harness's admin
/// may hold it too), directly in the store.
async fn only_administrator(app: &TestApp, keep: autopmo_domain::UserId) {
    let now = autopmo_domain::Clock::now(&app.clock);
    let mut uow = app.store.begin().await.unwrap();
    let params = autopmo_store::ListParams {
        limit: 200,
        cursor: None,
        sort: autopmo_store::users::UserSort::Username,
        direction: autopmo_store::Direction::Asc,
    };
    for user in autopmo_store::users::list(uow.conn(), &params).await.unwrap().items {
        if user.id != keep && user.roles.contains(&Role::SystemAdmin) {
            autopmo_store::users::set_roles(uow.conn(), user.id, &[Role::ProjectManager], now).await.unwrap();
        }
    }
    uow.commit().await.unwrap();
}

async fn bad_roles_are_refused_and_the_last_administrator_keeps_the_role(app: TestApp) {
    let (root, root_token) = app.user("root", &[Role::SystemAdmin]).await;
    only_administrator(&app, root.id).await;
    let (eve, _) = app.user("eve", &[Role::Auditor]).await;
    let eve_id = eve.id.to_string();
    let unknown = put_roles(&app, &root_token, &eve_id, None, &json!({"roles": ["developer", "wizard"]})).await;
    let problem = assert_invalid_field(unknown, "roles", Some("invalid_value")).await;
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains("wizard"), "{problem}");
    let twice = put_roles(&app, &root_token, &eve_id, None, &json!({"roles": ["auditor", "auditor"]})).await;
    assert_invalid_field(twice, "roles", Some("duplicate")).await;
    for bad in [json!({}), json!({"roles": "auditor"}), json!({"roles": [1]}), json!({"roles": [], "extra": 1})] {
        let resp = put_roles(&app, &root_token, &eve_id, None, &bad).await;
        assert_problem(resp, StatusCode::BAD_REQUEST, "invalid_body").await;
    }

    // The only active system administrator cannot lose the role.
    let last = put_roles(&app, &root_token, &root.id.to_string(), None, &json!({"roles": ["auditor"]})).await;
    let problem = assert_problem(last, StatusCode::CONFLICT, "conflict").await;
    assert!(problem["detail"].as_str().unwrap().contains("last active system administrator"), "{problem}");
    // Granting it to eve raises the privileged-role alert; then root may lose it.
    let grant = put_roles(&app, &root_token, &eve_id, None, &json!({"roles": ["auditor", "system_admin"]})).await;
    expect_json(grant, StatusCode::OK).await;
    let alerts = events_of(&app, "security.alert").await;
    assert!(alerts.iter().any(|a| a.metadata.contains("privileged_role_granted")), "no alert: {alerts:?}");
    let done = put_roles(&app, &root_token, &root.id.to_string(), None, &json!({"roles": ["auditor"]})).await;
    assert_eq!(expect_json(done, StatusCode::OK).await["removed"], json!(["system_admin"]));
    assert_eq!(events_of(&app, "user.roles_changed").await.len(), 2, "refusals record no change");
}

/// Needs the authorization middleware: only `users:manage` (system_admin).
async fn only_system_administrators_change_roles(app: TestApp) {
    let (dev, dev_token) = app.user("dev", &[Role::Developer]).await;
    let (_, manager) = app.user("manager", &[Role::ProjectManager]).await;
    let path = format!("/api/v1/users/{}/roles", dev.id);
    for token in [&manager, &dev_token] {
        let resp = as_user(&app, token, Method::PUT, &path).json(&json!({"roles": ["system_admin"]})).send().await;
        assert_problem(resp.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;
    }
    let me = as_user(&app, &dev_token, Method::GET, "/api/v1/me").send().await.unwrap();
    assert_eq!(expect_json(me, StatusCode::OK).await["roles"], json!(["developer"]), "nothing changed");
    assert!(events_of(&app, "user.roles_changed").await.is_empty());
}

api_tests!(
    an_administrator_changes_roles_and_the_sessions_end,
    bad_roles_are_refused_and_the_last_administrator_keeps_the_role,
    only_system_administrators_change_roles,
);
