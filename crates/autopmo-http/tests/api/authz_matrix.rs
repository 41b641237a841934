//! The §3.1 permission matrix through HTTP: every role × every guarded
//! route, against an oracle written from the guide's table (not from the
//! code), with fixtures that satisfy the default policies wherever the
//! matrix grants — so a 403 can only come from the matrix, and anything
//! else from the handler after authorization let the request through.

use crate::helpers::*;
use autopmo_domain::Role;
use reqwest::Method;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Guide §3.1 for the five roles it lists, then `ml_engineer` (DESIGN.md
/// decision 6) and the rows the guide lacks (`docs/authorization.md`).
fn oracle() -> BTreeMap<Role, BTreeSet<&'static str>> {
    let guide: [(&str, [bool; 5]); 10] = [
        // (permission, [system_admin, project_manager, developer, stakeholder, auditor])
        ("projects:create", [true, true, false, false, false]),
        ("projects:read", [true, true, true, true, true]),
        ("projects:update", [true, true, false, false, false]),
        ("projects:delete", [true, true, false, false, false]),
        ("tasks:assign", [true, true, false, false, false]),
        ("tasks:update", [true, true, true, false, false]),
        ("reports:generate", [true, true, true, true, false]),
        ("agents:configure", [true, false, false, false, false]),
        ("models:deploy", [true, false, false, false, false]),
        ("audit:read", [true, false, false, false, true]),
    ];
    let five = [Role::SystemAdmin, Role::ProjectManager, Role::Developer, Role::Stakeholder, Role::Auditor];
    let mut m: BTreeMap<Role, BTreeSet<&str>> = BTreeMap::new();
    for (permission, cells) in guide {
        for (role, granted) in five.iter().zip(cells) {
            if granted {
                m.entry(*role).or_default().insert(permission);
            }
        }
    }
    m.entry(Role::MlEngineer).or_default().extend(["projects:read", "models:read", "agents:read", "models:propose"]);
    let additions: [(&str, &[Role]); 9] = [
        ("models:read", &[Role::SystemAdmin, Role::Auditor]),
        ("agents:read", &[Role::SystemAdmin, Role::Auditor]),
        ("models:propose", &[Role::SystemAdmin]),
        ("users:read", Role::ALL),
        ("users:manage", &[Role::SystemAdmin]),
        ("policies:read", &[Role::SystemAdmin, Role::Auditor]),
        ("policies:manage", &[Role::SystemAdmin]),
        ("approvals:read", Role::ALL),
        ("approvals:decide", &[Role::SystemAdmin]),
    ];
    for (permission, roles) in additions {
        for role in roles {
            m.entry(*role).or_default().insert(permission);
        }
    }
    m
}

/// Permissions no route needs yet (agents and models arrive with their
/// features); when one gains a route, it is walked like the others.
const WITHOUT_ROUTES: [&str; 5] = ["agents:configure", "models:deploy", "models:read", "agents:read", "models:propose"];

fn send(app: &TestApp, token: &str, method: &str, path: &str) -> reqwest::RequestBuilder {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let req = app.client.request(method.clone(), app.url(path)).bearer_auth(token);
    if method == Method::GET {
        return req;
    }
    // A body no handler accepts, and a version no resource has: an allowed
    // request stops at validation (400/422/412/428) and changes nothing.
    let req = req.header("if-match", "\"999\"");
    if method == Method::DELETE { req } else { req.json(&json!({"authorization_walk": true})) }
}

/// The ids a role's requests use: their own project (owned by them, with
/// them as a member), a task assigned to them, a cost, and the budget
/// approval a project manager asked for.
struct Fixture {
    ids: Vec<(&'static str, String)>,
}

async fn fixture(app: &TestApp, user: &autopmo_domain::User, approval: &str, account: &str, key: &str) -> Fixture {
    let body = json!({"name": format!("{} project", user.username.as_str()),
        "budget": {"amount": "1000.00", "currency": "USD"}, "owner_id": user.id.to_string()});
    let project = app.create_project_with(body).await;
    let p = project["id"].as_str().unwrap().to_owned();
    app.add_member(&p, user.id, "member").await;
    let task = app.create_task(&p, json!({"title": "Walk", "assignee_id": user.id.to_string()})).await;
    let cost = json!({"entry_date": "2026-01-01", "amount": "1", "category": "other", "note": ""});
    let cost = expect_json(app.post(&format!("/api/v1/projects/{p}/costs"), &cost).await, StatusCode::CREATED).await;
    Fixture {
        ids: vec![
            ("project_id", p),
            ("task_id", task["id"].as_str().unwrap().to_owned()),
            ("cost_id", cost["id"].as_str().unwrap().to_owned()),
            ("user_id", user.id.to_string()),
            ("approval_id", approval.to_owned()),
            ("account_id", account.to_owned()),
            ("key_id", key.to_owned()),
        ],
    }
}

async fn every_role_on_every_guarded_route(app: TestApp) {
    assert_eq!(autopmo_http::authorization_rule_problems(), Vec::<String>::new(), "every route declares its rule");
    let oracle = oracle();
    let guarded: Vec<_> = autopmo_http::route_permissions().into_iter().filter(|r| r.permission.is_some()).collect();
    let needed: BTreeSet<&str> = guarded.iter().filter_map(|r| r.permission).collect();
    let all: BTreeSet<&str> = oracle.values().flatten().copied().collect();
    let unrouted: BTreeSet<&str> = all.difference(&needed).copied().collect();
    assert_eq!(unrouted, WITHOUT_ROUTES.into_iter().collect(), "permissions with no route");
    assert!(needed.is_subset(&all), "a route needs a permission the matrix does not know: {needed:?}");

    // A budget approval asked for by a project manager.
    let (pm, pm_token) = app.user("walk_pm", &[Role::ProjectManager]).await;
    let own = json!({"name": "PM budget", "budget": {"amount": "10.00", "currency": "USD"}});
    let created = app.client.post(app.url("/api/v1/projects")).bearer_auth(&pm_token).json(&own).send().await.unwrap();
    let created = expect_json(created, StatusCode::CREATED).await;
    let raise = json!({"budget": {"amount": "2000000.00", "currency": "USD"}});
    let path = format!("/api/v1/projects/{}", created["id"].as_str().unwrap());
    let raised = app.client.patch(app.url(&path)).bearer_auth(&pm_token).header("if-match", "\"1\"").json(&raise);
    let pending = expect_json(raised.send().await.unwrap(), StatusCode::ACCEPTED).await;
    let approval = pending["approval"]["id"].as_str().unwrap().to_owned();
    // A service account and one of its keys, for the administration routes.
    let account = json!({"name": "walker", "description": "route walk", "roles": ["developer"]});
    let account = expect_json(app.post("/api/v1/service-accounts", &account).await, StatusCode::CREATED).await;
    let account_id = account["id"].as_str().unwrap().to_owned();
    let key = app.post(&format!("/api/v1/service-accounts/{account_id}/keys"), &json!({"name": "walk"})).await;
    let key_id = expect_json(key, StatusCode::CREATED).await["id"].as_str().unwrap().to_owned();

    // Deletes last (and the longest paths first), so each role's fixture
    // outlives its other requests.
    let mut routes = guarded.clone();
    routes.sort_by_key(|r| (r.method == "DELETE", std::cmp::Reverse(r.path.len())));
    let mut checked = 0;
    // The administrator last: its service-account deletes end the fixture.
    let mut roles: Vec<Role> = Role::ALL.iter().copied().filter(|r| *r != Role::SystemAdmin).collect();
    roles.push(Role::SystemAdmin);
    for role in roles {
        let (user, token) = if role == Role::ProjectManager {
            (pm.clone(), pm_token.clone())
        } else {
            app.user(&format!("walk_{}", role.as_str()), &[role]).await
        };
        let f = fixture(&app, &user, &approval, &account_id, &key_id).await;
        for route in &routes {
            let permission = route.permission.unwrap_or_default();
            let path = crate::protocol::fill(route.path, &f.ids);
            let resp = send(&app, &token, route.method, &path).send().await.unwrap();
            let status = resp.status();
            let body = resp.text().await.unwrap();
            let at = format!("{role} {} {} ({permission}): {status} {body}", route.method, route.path);
            if !oracle[&role].contains(permission) {
                assert_eq!(status, StatusCode::FORBIDDEN, "the matrix refuses: {at}");
            } else if route.path.starts_with("/api/v1/approvals/")
                && matches!(role, Role::Developer | Role::Stakeholder | Role::MlEngineer)
            {
                // Someone else's request: hidden, as if it did not exist.
                assert_eq!(status, StatusCode::NOT_FOUND, "{at}");
            } else {
                let refused = [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN, StatusCode::NOT_FOUND];
                assert!(!refused.contains(&status) && !status.is_server_error(), "the matrix grants: {at}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, routes.len() * Role::ALL.len());

    // Every refusal is on record with its decision.
    let events =
        autopmo_store::audit::range(&mut app.store.read().await.unwrap(), i64::MIN, i64::MAX, 100_000).await.unwrap();
    let denied: Vec<&autopmo_audit::AuditRecord> = events.iter().filter(|e| e.event_type == "authz.denied").collect();
    let forbidden = events
        .iter()
        .filter(|e| e.event_type == "http.request")
        .filter(|e| serde_json::from_str::<Value>(&e.metadata).unwrap()["http_status"] == 403)
        .count();
    assert!(denied.len() >= forbidden && forbidden > 0, "{} denials for {forbidden} refusals", denied.len());
    assert!(denied.iter().all(|e| e.decision_id.is_some()));
}

api_tests!(every_role_on_every_guarded_route);
