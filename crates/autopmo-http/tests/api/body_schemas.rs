//! The request bodies' schemas say what the validators take. Every name a
//! closed set of the document lists (a status, a member's kind, a cost
//! category, a role) is accepted where the document offers it, and a name
//! it does not list is refused; a text's length bounds are the
//! validator's; a property the document does not let be `null` is refused
//! as `null`, and one it does is taken. The API fuzzer sends requests of
//! both kinds and counts every disagreement.

use crate::helpers::*;
use crate::openapi::document;
use autopmo_domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The names the document's schema `name` lists.
fn names(doc: &Value, name: &str) -> Vec<String> {
    let values = doc["components"]["schemas"][name]["enum"].as_array();
    let values = values.unwrap_or_else(|| panic!("the document has no list of {name}"));
    values.iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

/// Whether a property's schema admits `null`.
fn admits_null(schema: &Value) -> bool {
    let in_type = schema["type"].as_array().is_some_and(|t| t.iter().any(|t| t == "null"));
    let in_one_of = schema["oneOf"].as_array().is_some_and(|s| s.iter().any(|s| s["type"] == "null"));
    in_type || in_one_of
}

/// PUT as the admin, with `If-Match` when given.
async fn put(app: &TestApp, path: &str, etag: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = app.req(Method::PUT, path).json(body);
    if let Some(etag) = etag {
        req = req.header("if-match", etag);
    }
    req.send().await.unwrap()
}

async fn every_listed_name_is_taken_and_no_other(app: TestApp) {
    let doc = document();
    let budget = json!({"amount": "1000.00", "currency": "USD"});
    for status in names(&doc, "ProjectStatus") {
        let body = json!({"name": format!("In state {status}"), "budget": budget, "status": status});
        assert_eq!(app.create_project_with(body).await["status"], status);
    }
    let body = json!({"name": "Shouting", "budget": budget, "status": "ACTIVE"});
    assert_invalid_field(app.post("/api/v1/projects", &body).await, "status", None).await;

    let (project, _) = seed(&app).await;
    let id = project.rsplit('/').next().unwrap();
    for status in names(&doc, "TaskStatus") {
        let task = app.create_task(id, json!({"title": format!("Task {status}"), "status": status})).await;
        assert_eq!(task["status"], status);
    }
    let resp = app.post(&format!("{project}/tasks"), &json!({"title": "Odd", "status": "finished"})).await;
    assert_invalid_field(resp, "status", None).await;

    for kind in names(&doc, "MemberKind") {
        let (user, _) = app.user(&format!("member-{kind}"), &[Role::Developer]).await;
        assert_eq!(app.add_member(id, user.id, &kind).await["kind"], kind);
    }
    let (extra, _) = app.user("member-extra", &[Role::Developer]).await;
    let resp =
        app.post(&format!("{project}/members"), &json!({"user_id": extra.id.to_string(), "kind": "owner"})).await;
    assert_invalid_field(resp, "kind", None).await;

    for category in names(&doc, "CostCategory") {
        let body = json!({"entry_date": "2026-03-02", "amount": "10.00", "category": category});
        let cost = expect_json(app.post(&format!("{project}/costs"), &body).await, StatusCode::CREATED).await;
        assert_eq!(cost["category"], category);
    }
    let body = json!({"entry_date": "2026-03-02", "amount": "10.00", "category": "food"});
    assert_invalid_field(app.post(&format!("{project}/costs"), &body).await, "category", None).await;
}

async fn role_sets_are_what_the_document_says(app: TestApp) {
    let doc = document();
    let set = &doc["components"]["schemas"]["SetRoles"]["properties"]["roles"];
    assert_eq!(set["uniqueItems"], true, "{set}");
    let all = names(&doc, "Role");
    let (gus, _) = app.user("gus", &[Role::Developer]).await;
    let path = format!("/api/v1/users/{}/roles", gus.id);
    let changed = expect_json(put(&app, &path, None, &json!({"roles": all})).await, StatusCode::OK).await;
    let mut held: Vec<String> = changed["roles"].as_array().unwrap().iter().map(|r| r.to_string()).collect();
    held.sort();
    let mut listed: Vec<String> = all.iter().map(|r| format!("\"{r}\"")).collect();
    listed.sort();
    assert_eq!(held, listed);
    let twice = put(&app, &path, None, &json!({"roles": ["developer", "developer"]})).await;
    assert_invalid_field(twice, "roles", None).await;
    let unknown = put(&app, &path, None, &json!({"roles": ["developer", "root"]})).await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A service account may hold every role the document lists for it,
    // and not system_admin, which it does not list.
    let service_roles = names(&doc, "ServiceRole");
    assert!(!service_roles.contains(&"system_admin".to_owned()), "{service_roles:?}");
    assert_eq!(service_roles.len() + 1, all.len());
    let body = json!({"name": "reporting-bot", "roles": service_roles});
    expect_json(app.post("/api/v1/service-accounts", &body).await, StatusCode::CREATED).await;
    let body = json!({"name": "admin-bot", "roles": ["system_admin"]});
    assert_eq!(app.post("/api/v1/service-accounts", &body).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// Sends `{property: null}` to `path` for every property of the update
/// schema `schema`, each with the resource's current ETag: refused (400)
/// exactly where the document does not admit `null`.
async fn nulls_for(app: &TestApp, doc: &Value, schema: &str, path: &str) {
    let properties = doc["components"]["schemas"][schema]["properties"].as_object().unwrap();
    for (name, property) in properties {
        let tag = etag(&app.get(path).await);
        let resp = app.patch(path, &tag, &json!({ name: null })).await;
        let expected = if admits_null(property) { StatusCode::OK } else { StatusCode::BAD_REQUEST };
        assert_eq!(resp.status(), expected, "{schema}.{name} = null: {}", resp.text().await.unwrap());
    }
}

async fn null_is_refused_exactly_where_the_document_refuses_it(app: TestApp) {
    let doc = document();
    let (project, task) = seed(&app).await;
    nulls_for(&app, &doc, "UpdateProject", &project).await;
    nulls_for(&app, &doc, "UpdateTask", &task).await;
    let body = json!({"entry_date": "2026-03-02", "amount": "10.00", "category": "labor"});
    let cost = expect_json(app.post(&format!("{project}/costs"), &body).await, StatusCode::CREATED).await;
    let cost = format!("{project}/costs/{}", cost["id"].as_str().unwrap());
    nulls_for(&app, &doc, "UpdateCost", &cost).await;
}

/// For every string property of the create schema `schema` with a length
/// bound: a value of exactly the bounds is created from `base`, one beyond
/// them is refused for that field.
async fn lengths_for(app: &TestApp, doc: &Value, schema: &str, path: &str, base: &Value) -> usize {
    let properties = doc["components"]["schemas"][schema]["properties"].as_object().unwrap();
    let mut checked = 0;
    for (name, property) in properties {
        let mut body = base.clone();
        if let Some(max) = property["maxLength"].as_u64() {
            let max = usize::try_from(max).unwrap();
            body[name] = json!("x".repeat(max));
            expect_json(app.post(path, &body).await, StatusCode::CREATED).await;
            body[name] = json!("x".repeat(max + 1));
            assert_invalid_field(app.post(path, &body).await, name, Some("too_long")).await;
            checked += 1;
        }
        if property["minLength"].as_u64() == Some(1) {
            body[name] = json!("");
            assert_invalid_field(app.post(path, &body).await, name, Some("required")).await;
        }
    }
    checked
}

async fn length_bounds_are_the_validators_bounds(app: TestApp) {
    let doc = document();
    let (project, _) = seed(&app).await;
    let budget = json!({"amount": "1000.00", "currency": "USD"});
    let mut checked =
        lengths_for(&app, &doc, "CreateProject", "/api/v1/projects", &json!({"name": "Bounds", "budget": budget}))
            .await;
    checked += lengths_for(&app, &doc, "CreateTask", &format!("{project}/tasks"), &json!({"title": "Bounds"})).await;
    let cost = json!({"entry_date": "2026-03-02", "amount": "10.00", "category": "labor"});
    checked += lengths_for(&app, &doc, "CreateCost", &format!("{project}/costs"), &cost).await;
    assert_eq!(checked, 5, "name, description, title, description, note");
}

async fn whole_numbers_may_be_written_with_a_fraction(app: TestApp) {
    let (project, task) = seed(&app).await;
    let made =
        app.create_task(project.rsplit('/').next().unwrap(), json!({"title": "Half", "percent_complete": 50.0})).await;
    assert_eq!(made["percent_complete"], 50);
    let tag = etag(&app.get(&task).await);
    let changed = expect_json(app.patch(&task, &tag, &json!({"percent_complete": 75.0})).await, StatusCode::OK).await;
    assert_eq!(changed["percent_complete"], 75);
    for bad in [json!(75.5), json!("75"), json!(1e300)] {
        let tag = etag(&app.get(&task).await);
        let resp = app.patch(&task, &tag, &json!({"percent_complete": bad})).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let tag = etag(&app.get(&task).await);
    assert_invalid_field(app.patch(&task, &tag, &json!({"percent_complete": 101.0})).await, "percent_complete", None)
        .await;

    let account = json!({"name": "whole-bot", "roles": ["developer"]});
    let account = expect_json(app.post("/api/v1/service-accounts", &account).await, StatusCode::CREATED).await;
    let keys = format!("/api/v1/service-accounts/{}/keys", account["id"].as_str().unwrap());
    expect_json(app.post(&keys, &json!({"name": "ci", "expires_in_days": 7.0})).await, StatusCode::CREATED).await;
    let resp = app.post(&keys, &json!({"name": "ci2", "expires_in_days": 7.25})).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

async fn second_factor_methods_are_the_listed_ones(app: TestApp) {
    let doc = document();
    // Without a valid mfa_token every answer is refused, but a listed
    // method is refused for the token, an unlisted one for the method.
    for method in names(&doc, "MfaMethod") {
        let answer = json!({"mfa_token": "apmo_mfa_nope", "method": method, "code": "123456"});
        let resp = app.client.post(app.url("/api/v1/auth/mfa/verify")).json(&answer).send().await.unwrap();
        let status = resp.status();
        let body = resp.text().await.unwrap();
        assert!(!body.contains("method must be"), "{method}: {status} {body}");
    }
    let answer = json!({"mfa_token": "apmo_mfa_nope", "method": "face", "code": "123456"});
    let resp = app.client.post(app.url("/api/v1/auth/mfa/verify")).json(&answer).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().contains("method must be"));
}

/// Every list filter the document gives a list of names: each is taken, a
/// name it does not list is refused.
async fn list_filters_take_the_listed_names(app: TestApp) {
    let (project, _) = seed(&app).await;
    let id = project.rsplit('/').next().unwrap().to_owned();
    let doc = document();
    let mut filters = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        let Some(params) = item["get"]["parameters"].as_array() else { continue };
        let filters_here = params.iter().filter(|p| p["in"] == "query" && p["schema"]["enum"].is_array());
        for param in filters_here {
            let listed = param["schema"]["enum"].as_array().unwrap();
            let path = crate::protocol::fill(template, &[("project_id", id.clone())]);
            filters += 1;
            let name = param["name"].as_str().unwrap();
            for value in listed {
                let url = format!("{path}?{name}={}", value.as_str().unwrap());
                assert_eq!(app.get(&url).await.status(), StatusCode::OK, "{url}");
            }
            let url = format!("{path}?{name}=nope");
            assert!(app.get(&url).await.status().is_client_error(), "{url}");
        }
    }
    assert!(filters >= 5, "only {filters} filters list their names");
}

api_tests!(
    every_listed_name_is_taken_and_no_other,
    list_filters_take_the_listed_names,
    whole_numbers_may_be_written_with_a_fraction,
    second_factor_methods_are_the_listed_ones,
    length_bounds_are_the_validators_bounds,
    role_sets_are_what_the_document_says,
    null_is_refused_exactly_where_the_document_refuses_it
);
