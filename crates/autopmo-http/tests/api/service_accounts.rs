//! Service accounts over the API: created by a system administrator with
//! scoped roles, calling the API with their own keys (`apmo_sak_…`, stored
//! only as SHA-256, never in a response after creation nor in the audit
//! trail), revoked keys and disabled accounts refused like any bad token,
//! and no way to log in.

use crate::helpers::*;
use crate::roles::{as_user, events_of};
use autopmo_domain::Role;
use autopmo_store::{audit, tokens};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

const ACCOUNTS: &str = "/api/v1/service-accounts";

async fn create_account(app: &TestApp, token: &str, body: &Value) -> Value {
    expect_json(as_user(app, token, Method::POST, ACCOUNTS).json(body).send().await.unwrap(), StatusCode::CREATED).await
}

async fn create_key(app: &TestApp, token: &str, account: &str, body: &Value) -> reqwest::Response {
    as_user(app, token, Method::POST, &format!("{ACCOUNTS}/{account}/keys")).json(body).send().await.unwrap()
}

fn me_with(app: &TestApp, key: &str) -> reqwest::RequestBuilder {
    as_user(app, key, Method::GET, "/api/v1/me")
}

/// Every text column of `api_tokens` and `audit_events`, joined.
async fn stored_text(app: &TestApp) -> String {
    let mut text = String::new();
    for sql in [
        "SELECT id, user_id, name, token_hash, created_at, expires_at, revoked_at FROM api_tokens",
        "SELECT event_id, event_type, actor_user_id, actor_username, resource_type, resource_id, resource_name, \
         action, metadata, request_id FROM audit_events",
    ] {
        for row in sqlx::query(sql).fetch_all(app.store.reader()).await.unwrap() {
            for i in 0..row.len() {
                text.push_str(&row.try_get::<Option<String>, _>(i).unwrap().unwrap_or_default());
                text.push('\u{1f}');
            }
        }
    }
    text
}

async fn a_service_account_calls_the_api_with_its_own_keys(app: TestApp) {
    let (_, root) = app.user("root", &[Role::SystemAdmin]).await;
    let body = json!({"name": "CI-Bot", "description": "builds main", "roles": ["developer"]});
    let account = create_account(&app, &root, &body).await;
    assert_eq!((account["name"].as_str(), account["status"].as_str()), (Some("ci-bot"), Some("active")));
    assert_eq!((account["roles"].clone(), account["version"].as_i64()), (json!(["developer"]), Some(1)));
    let id = account["id"].as_str().unwrap().to_owned();
    assert_eq!(events_of(&app, "service_account.created").await.len(), 1);

    let resp = create_key(&app, &root, &id, &json!({"name": "ci", "expires_in_days": 30})).await;
    let issued = expect_json(resp, StatusCode::CREATED).await;
    let secret = issued["secret"].as_str().unwrap().to_owned();
    let random = secret.strip_prefix("apmo_sak_").expect("a recognisable prefix");
    assert_eq!(random.len(), 43, "256 bits, base64url");
    assert!(issued["expires_at"].as_str().unwrap().starts_with("2026-04-01"), "{issued}");

    // The key authenticates; the request is recorded with the account as actor.
    let resp = me_with(&app, &secret).header("x-request-id", "sak-me-1");
    let me = expect_json(resp.send().await.unwrap(), StatusCode::OK).await;
    assert_eq!((me["id"].as_str(), me["username"].as_str()), (Some(id.as_str()), Some("ci-bot")));
    let requests = events_of(&app, "http.request").await;
    let request = requests.iter().find(|r| r.request_id.as_deref() == Some("sak-me-1")).expect("recorded");
    assert_eq!(request.actor.user_id.as_deref(), Some(id.as_str()));

    // Lists show metadata only.
    let keys = as_user(&app, &root, Method::GET, &format!("{ACCOUNTS}/{id}/keys")).send().await.unwrap();
    let text = keys.text().await.unwrap();
    let listed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(listed["items"][0]["name"], "ci");
    assert_eq!(listed["items"][0]["revoked_at"], Value::Null);
    let hash = tokens::hash(&secret);
    assert!(!text.contains(random) && !text.contains(&hash) && !text.contains("secret"), "{text}");
    let accounts = app.client.get(app.url(ACCOUNTS)).bearer_auth(&root).send().await.unwrap().text().await.unwrap();
    assert!(accounts.contains("ci-bot") && !accounts.contains(random), "{accounts}");

    // Only the SHA-256 is stored, and the secret is in no table we keep.
    let row = sqlx::query("SELECT token_hash FROM api_tokens WHERE id = $1")
        .bind(issued["id"].as_str().unwrap())
        .fetch_one(app.store.reader())
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0), hash);
    assert_eq!(hash.len(), 43, "base64url SHA-256");
    let stored = stored_text(&app).await;
    assert!(!stored.contains(random), "the secret is stored somewhere");
    let recorded = events_of(&app, "service_account.key_created").await;
    assert_eq!(recorded.len(), 1);
    assert!(recorded[0].metadata.contains(issued["id"].as_str().unwrap()));

    // A revoked key: the same 401 as any bad token.
    let path = format!("{ACCOUNTS}/{id}/keys/{}", issued["id"].as_str().unwrap());
    assert_eq!(as_user(&app, &root, Method::DELETE, &path).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_problem(me_with(&app, &secret).send().await.unwrap(), StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let again = as_user(&app, &root, Method::DELETE, &path).send().await.unwrap();
    assert_problem(again, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(events_of(&app, "service_account.key_revoked").await.len(), 1);

    // A disabled account: every key revoked, 401, no new key.
    let second = expect_json(create_key(&app, &root, &id, &json!({"name": "deploy"})).await, StatusCode::CREATED).await;
    let second = second["secret"].as_str().unwrap().to_owned();
    assert_eq!(me_with(&app, &second).send().await.unwrap().status(), StatusCode::OK);
    let disabled = as_user(&app, &root, Method::DELETE, &format!("{ACCOUNTS}/{id}")).send().await.unwrap();
    assert_eq!(disabled.status(), StatusCode::NO_CONTENT);
    assert_problem(me_with(&app, &second).send().await.unwrap(), StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let view = as_user(&app, &root, Method::GET, &format!("{ACCOUNTS}/{id}")).send().await.unwrap();
    assert_eq!(expect_json(view, StatusCode::OK).await["status"], "disabled");
    let late = create_key(&app, &root, &id, &json!({"name": "late"})).await;
    assert_problem(late, StatusCode::CONFLICT, "conflict").await;
    let disabled = events_of(&app, "service_account.disabled").await;
    assert_eq!(disabled[0].metadata, r#"{"keys_revoked":1}"#);
    assert!(!stored_text(&app).await.contains(&second["apmo_sak_".len()..]));
}

async fn service_accounts_hold_scoped_roles_and_cannot_log_in(app: TestApp) {
    let (_, root) = app.user("root", &[Role::SystemAdmin]).await;
    // system_admin is for people.
    let resp = as_user(&app, &root, Method::POST, ACCOUNTS)
        .json(&json!({"name": "ops-bot", "roles": ["developer", "system_admin"]}))
        .send()
        .await
        .unwrap();
    let problem = assert_invalid_field(resp, "roles", Some("not_allowed")).await;
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains("system_admin is for people"), "{problem}");
    let bad = as_user(&app, &root, Method::POST, ACCOUNTS)
        .json(&json!({"name": "x", "roles": ["wizard"]}))
        .send()
        .await
        .unwrap();
    let problem = assert_invalid_field(bad, "name", Some("invalid_length")).await;
    assert!(problem["errors"].as_array().unwrap().iter().any(|e| e["field"] == "roles"), "{problem}");
    // A name is unique among people and service accounts.
    let taken =
        as_user(&app, &root, Method::POST, ACCOUNTS).json(&json!({"name": "root", "roles": []})).send().await.unwrap();
    assert_problem(taken, StatusCode::CONFLICT, "conflict").await;

    let account = create_account(&app, &root, &json!({"name": "agent-7", "roles": ["stakeholder"]})).await;
    let id = account["id"].as_str().unwrap().to_owned();
    let path = format!("{ACCOUNTS}/{id}");
    // The same refusal through role administration.
    let raise = as_user(&app, &root, Method::PUT, &format!("/api/v1/users/{id}/roles"))
        .json(&json!({"roles": ["system_admin"]}))
        .send()
        .await
        .unwrap();
    assert_invalid_field(raise, "roles", Some("not_allowed")).await;

    // PATCH needs If-Match; roles are audited like a person's; keys stay.
    let key = expect_json(create_key(&app, &root, &id, &json!({"name": "main"})).await, StatusCode::CREATED).await;
    let key = key["secret"].as_str().unwrap().to_owned();
    let change = json!({"description": "reads reports", "roles": ["stakeholder", "developer"]});
    let missing = as_user(&app, &root, Method::PATCH, &path).json(&change).send().await.unwrap();
    assert_problem(missing, StatusCode::PRECONDITION_REQUIRED, "precondition_required").await;
    let resp = as_user(&app, &root, Method::PATCH, &path).header("if-match", "\"1\"").json(&change).send().await;
    let resp = resp.unwrap();
    let new_etag = etag(&resp);
    let patched = expect_json(resp, StatusCode::OK).await;
    assert_eq!(patched["roles"], json!(["developer", "stakeholder"]));
    assert_eq!(patched["description"], "reads reports");
    assert_eq!(new_etag, format!("\"{}\"", patched["version"]));
    let changed = events_of(&app, "user.roles_changed").await;
    let metadata: Value = serde_json::from_str(&changed[0].metadata).unwrap();
    assert_eq!(
        (metadata["old_roles"].clone(), metadata["added"].clone()),
        (json!(["stakeholder"]), json!(["developer"]))
    );
    assert_eq!(events_of(&app, "service_account.updated").await.len(), 1);
    let me = expect_json(me_with(&app, &key).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(me["roles"], json!(["developer", "stakeholder"]), "the roles are read on every request");
    let stale = as_user(&app, &root, Method::PATCH, &path).header("if-match", "\"1\"").json(&change).send().await;
    assert_problem(stale.unwrap(), StatusCode::PRECONDITION_FAILED, "precondition_failed").await;

    // No password, no login: the same answer as a wrong password.
    for login in ["agent-7", "agent-7@service-accounts.invalid"] {
        let resp = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"username": login, "password": "correct horse battery staple 42"}))
            .send()
            .await
            .unwrap();
        assert_problem(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    // A person's id is no service account.
    let (person, _) = app.user("pat", &[Role::Developer]).await;
    let resp = as_user(&app, &root, Method::GET, &format!("{ACCOUNTS}/{}", person.id)).send().await.unwrap();
    assert_problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    let listed = app.list_all_as(&root, ACCOUNTS).await;
    assert_eq!(field_of(&listed, "name"), ["agent-7"]);
}

/// Needs the authorization middleware: a service account's roles decide
/// what its keys may do, and only system administrators manage accounts.
async fn the_roles_of_a_service_account_apply_to_its_keys(app: TestApp) {
    let (_, root) = app.user("root", &[Role::SystemAdmin]).await;
    let account = create_account(&app, &root, &json!({"name": "planner", "roles": ["developer"]})).await;
    let id = account["id"].as_str().unwrap().to_owned();
    let key = expect_json(create_key(&app, &root, &id, &json!({"name": "main"})).await, StatusCode::CREATED).await;
    let key = key["secret"].as_str().unwrap().to_owned();
    let project = json!({"name": "Agent project", "budget": {"amount": "10.00", "currency": "USD"}});
    let refused = as_user(&app, &key, Method::POST, "/api/v1/projects").json(&project).send().await.unwrap();
    assert_problem(refused, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(as_user(&app, &key, Method::GET, "/api/v1/users").send().await.unwrap().status(), StatusCode::OK);
    // A service account cannot manage service accounts.
    let own = as_user(&app, &key, Method::POST, &format!("{ACCOUNTS}/{id}/keys")).json(&json!({"name": "more"}));
    assert_problem(own.send().await.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;

    let resp = as_user(&app, &root, Method::PUT, &format!("/api/v1/users/{id}/roles"))
        .json(&json!({"roles": ["project_manager"]}))
        .send()
        .await
        .unwrap();
    expect_json(resp, StatusCode::OK).await;
    let allowed = as_user(&app, &key, Method::POST, "/api/v1/projects").json(&project).send().await.unwrap();
    assert_eq!(allowed.status(), StatusCode::CREATED, "the same key, the new roles");

    // People other than system administrators cannot manage service accounts.
    let (_, manager) = app.user("manager", &[Role::ProjectManager]).await;
    for (method, path) in [
        (Method::GET, ACCOUNTS.to_owned()),
        (Method::GET, format!("{ACCOUNTS}/{id}")),
        (Method::GET, format!("{ACCOUNTS}/{id}/keys")),
        (Method::DELETE, format!("{ACCOUNTS}/{id}")),
    ] {
        let resp = as_user(&app, &manager, method.clone(), &path).send().await.unwrap();
        assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let mut conn = app.store.read().await.unwrap();
    let filter = audit::AuditFilter { event_type: Some("service_account.disabled".to_owned()), ..Default::default() };
    assert!(audit::list(&mut conn, &filter, None, 10).await.unwrap().is_empty());
}

impl TestApp {
    /// Every item of a list read with `token`.
    async fn list_all_as(&self, token: &str, path: &str) -> Vec<Value> {
        let resp = as_user(self, token, Method::GET, &format!("{path}?limit=200")).send().await.unwrap();
        let page = expect_json(resp, StatusCode::OK).await;
        assert_eq!(page["next_cursor"], Value::Null);
        page["items"].as_array().unwrap().clone()
    }
}

api_tests!(
    a_service_account_calls_the_api_with_its_own_keys,
    service_accounts_hold_scoped_roles_and_cannot_log_in,
    the_roles_of_a_service_account_apply_to_its_keys,
);
