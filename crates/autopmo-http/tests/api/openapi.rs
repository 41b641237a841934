//! The OpenAPI document: served, equal to `openapi_document()`, complete
//! (every route of the router is documented, and nothing else), and valid
//! (see `openapi_rules`).

use crate::helpers::*;
use crate::openapi_rules::{METHODS, response_description_problems, structure_problems};
use crate::protocol::fill;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Every route, by hand: a new route makes the test fail until it is
/// documented and listed here.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/users"),
    ("GET", "/api/v1/users/{user_id}"),
    ("POST", "/api/v1/users/{user_id}/sessions/revoke"),
    ("GET", "/api/v1/projects"),
    ("POST", "/api/v1/projects"),
    ("GET", "/api/v1/projects/{project_id}"),
    ("PATCH", "/api/v1/projects/{project_id}"),
    ("DELETE", "/api/v1/projects/{project_id}"),
    ("GET", "/api/v1/projects/{project_id}/members"),
    ("POST", "/api/v1/projects/{project_id}/members"),
    ("GET", "/api/v1/projects/{project_id}/members/{user_id}"),
    ("PATCH", "/api/v1/projects/{project_id}/members/{user_id}"),
    ("DELETE", "/api/v1/projects/{project_id}/members/{user_id}"),
    ("GET", "/api/v1/projects/{project_id}/tasks"),
    ("POST", "/api/v1/projects/{project_id}/tasks"),
    ("GET", "/api/v1/projects/{project_id}/tasks/{task_id}"),
    ("PATCH", "/api/v1/projects/{project_id}/tasks/{task_id}"),
    ("DELETE", "/api/v1/projects/{project_id}/tasks/{task_id}"),
    ("POST", "/api/v1/projects/{project_id}/tasks/{task_id}/assign"),
    ("GET", "/api/v1/projects/{project_id}/costs"),
    ("POST", "/api/v1/projects/{project_id}/costs"),
    ("GET", "/api/v1/projects/{project_id}/costs/{cost_id}"),
    ("PATCH", "/api/v1/projects/{project_id}/costs/{cost_id}"),
    ("DELETE", "/api/v1/projects/{project_id}/costs/{cost_id}"),
    ("GET", "/api/v1/audit/events"),
    ("GET", "/api/v1/security/alerts"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/invites/accept"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/password-reset"),
    ("POST", "/api/v1/auth/password-reset/confirm"),
    ("POST", "/api/v1/auth/password"),
    ("GET", "/api/v1/auth/oidc/{issuer}/login"),
    ("GET", "/api/v1/auth/oidc/{issuer}/callback"),
    ("GET", "/api/v1/me/sessions"),
    ("DELETE", "/api/v1/me/sessions/{session_id}"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/api/v1/approvals"),
    ("GET", "/api/v1/approvals/{approval_id}"),
    ("POST", "/api/v1/approvals/{approval_id}/approve"),
    ("POST", "/api/v1/approvals/{approval_id}/reject"),
    ("GET", "/api/v1/policies"),
    ("POST", "/api/v1/policies/reload"),
    ("GET", "/api/v1/projects/{project_id}/report"),
    ("PUT", "/api/v1/users/{user_id}/roles"),
    ("GET", "/api/v1/service-accounts"),
    ("POST", "/api/v1/service-accounts"),
    ("GET", "/api/v1/service-accounts/{account_id}"),
    ("PATCH", "/api/v1/service-accounts/{account_id}"),
    ("DELETE", "/api/v1/service-accounts/{account_id}"),
    ("GET", "/api/v1/service-accounts/{account_id}/keys"),
    ("POST", "/api/v1/service-accounts/{account_id}/keys"),
    ("DELETE", "/api/v1/service-accounts/{account_id}/keys/{key_id}"),
    ("POST", "/api/v1/auth/mfa/verify"),
    ("POST", "/api/v1/auth/mfa/challenge"),
    ("POST", "/api/v1/auth/mfa/enroll-totp"),
    ("POST", "/api/v1/auth/step-up"),
    ("POST", "/api/v1/auth/step-up/challenge"),
    ("GET", "/api/v1/me/mfa"),
    ("POST", "/api/v1/me/mfa"),
    ("POST", "/api/v1/me/mfa/confirm"),
    ("DELETE", "/api/v1/me/mfa/{factor_id}"),
    ("POST", "/api/v1/me/mfa/recovery-codes"),
];

/// Served but, being the document itself, not described in it.
const UNDOCUMENTED: &[(&str, &str)] = &[("GET", "/api/v1/openapi.json")];

/// Likely names of routes added without documentation.
const UNLISTED: [&str; 30] = [
    "login",
    "logout",
    "session",
    "sessions",
    "token",
    "tokens",
    "auth",
    "audit",
    "admin",
    "metrics",
    "reports",
    "portfolio",
    "models",
    "agents",
    "deployments",
    "search",
    "export",
    "import",
    "version",
    "docs",
    "swagger-ui",
    "openapi.yaml",
    "health",
    "roles",
    "settings",
    "webhooks",
    "events",
    "attachments",
    "comments",
    "openapi",
];

/// The document the server serves.
pub(crate) fn document() -> Value {
    serde_json::from_str(&autopmo_http::openapi_document().to_json().unwrap()).unwrap()
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if METHODS.contains(&method.as_str()) {
                out.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    out
}

fn random_ids() -> Vec<(&'static str, String)> {
    let names = [
        "project_id",
        "task_id",
        "cost_id",
        "user_id",
        "session_id",
        "issuer",
        "account_id",
        "key_id",
        "approval_id",
        "factor_id",
    ];
    names.into_iter().map(|n| (n, uuid::Uuid::new_v4().to_string())).collect()
}

async fn openapi_is_served_and_matches_the_router(app: TestApp) {
    let resp = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "application/json");
    let served = expect_json(resp, StatusCode::OK).await;
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"), "{}", served["openapi"]);
    assert_eq!(served, document(), "the served document is openapi_document()");

    let listed: BTreeSet<_> = ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    let in_doc = documented(&served);
    let unlisted: Vec<_> = in_doc.difference(&listed).collect();
    assert!(unlisted.is_empty(), "documented but not in ROUTES, add them: {unlisted:?}");
    let undocumented: Vec<_> = listed.difference(&in_doc).collect();
    assert!(undocumented.is_empty(), "in ROUTES but not documented: {undocumented:?}");

    // The router serves exactly the listed methods on each listed path: an
    // unknown method gets 405 with the methods the router has in Allow.
    let mut by_path: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (m, p) in ROUTES.iter().chain(UNDOCUMENTED) {
        by_path.entry(p).or_default().insert((*m).to_owned());
    }
    let probe = Method::from_bytes(b"PROPFIND").unwrap();
    for (template, methods) in &by_path {
        let path = fill(template, &random_ids());
        let resp = app.req(probe.clone(), &path).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{template} is not routed");
        let (headers, _) = problem_parts(resp, StatusCode::METHOD_NOT_ALLOWED).await;
        let allow = headers["allow"].to_str().unwrap().split(',').map(|m| m.trim().to_owned());
        let allow: BTreeSet<String> = allow.filter(|m| m != "HEAD").collect();
        assert_eq!(&allow, methods, "{template}: the router's methods and the documented ones differ");
    }

    // Paths no route has are answered by the fallback (404 for any
    // method), never by a route (405).
    let p = uuid::Uuid::new_v4();
    for name in UNLISTED {
        for path in [format!("/api/v1/{name}"), format!("/api/v1/projects/{p}/{name}"), format!("/{name}")] {
            let resp = app.req(probe.clone(), &path).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path} is routed but not documented");
            let problem = assert_problem(resp, StatusCode::NOT_FOUND, "not_found").await;
            assert_eq!(problem["detail"], "no such resource", "{path}");
        }
    }
}

#[test]
fn openapi_document_is_structurally_valid_3_1() {
    let problems = structure_problems(&document());
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn openapi_responses_have_descriptions() {
    let problems = response_description_problems(&document());
    assert!(problems.is_empty(), "responses without a description:\n{}", problems.join("\n"));
}

#[test]
fn the_rules_catch_broken_documents() {
    let mut doc = document();
    doc["paths"]["/api/v1/projects/{project_id}"]["get"]["parameters"] = Value::Array(Vec::new());
    doc["paths"]["/api/v1/me"]["get"]["responses"] = serde_json::json!({});
    doc["paths"]["/api/v1/users"]["get"]["security"] = serde_json::json!([{"cookie": []}]);
    doc["components"]["schemas"]["Health"]["properties"]["status"]["$ref"] = "#/components/schemas/Nope".into();
    doc["components"]["schemas"]["Health"]["required"] = serde_json::json!(["status", "uptime"]);
    doc["openapi"] = "3.0.3".into();
    let problems = structure_problems(&doc).join("\n");
    let expected = [
        "{project_id} is in the path but not declared",
        "GET /api/v1/me: no responses",
        "security scheme cookie is not defined",
        "#/components/schemas/Nope does not resolve",
        "required \"uptime\" is not a property",
        "not 3.1.x",
    ];
    for e in expected {
        assert!(problems.contains(e), "missed {e:?} in:\n{problems}");
    }
    doc["paths"]["/readyz"]["get"]["responses"]["503"]["description"] = Value::Null;
    let missing = response_description_problems(&doc);
    assert!(missing.iter().any(|m| m == "GET /readyz 503"), "{missing:?}");
    assert!(!missing.iter().any(|m| m == "GET /api/v1/users 401"), "{missing:?}");
}

/// The statuses the document lists for `method` (lower case) on `path`.
fn listed_statuses(op: &Value) -> BTreeSet<u16> {
    op["responses"].as_object().map(|r| r.keys().filter_map(|k| k.parse().ok()).collect()).unwrap_or_default()
}

/// What the shared extractors and layers answer before a handler runs is
/// listed on every operation they can reach: the API fuzzer found 400, 415
/// and 428 answers that no entry listed (undocumented statuses), and an
/// If-Match schema that admitted any text.
#[test]
fn answers_given_before_the_handler_are_documented_everywhere() {
    let doc = document();
    let mut problems = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let listed = listed_statuses(op);
            // Status 0 is never listed: it reports `why` alone.
            let mut need = |statuses: &[u16], why: &str| {
                for s in statuses.iter().filter(|s| !listed.contains(s)) {
                    problems.push(format!("{method} {path}: {s} not listed ({why})"));
                }
            };
            if op.get("requestBody").is_some() {
                need(&[400, 413, 415, 422], "a JSON body");
            }
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                need(&[401, 403], "a protected operation");
            }
            for param in op["parameters"].as_array().into_iter().flatten() {
                match param["in"].as_str() {
                    Some("query") => need(&[400, 422], "query parameters"),
                    Some("header") if param["name"].as_str().unwrap().eq_ignore_ascii_case("if-match") => {
                        need(&[400, 412], "If-Match");
                        if param["required"] == true {
                            need(&[428], "a required If-Match");
                        }
                        if param["schema"]["pattern"].as_str() != Some(r#"^"[1-9][0-9]{0,17}"$"#) {
                            need(&[0], "If-Match has no ETag pattern");
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

/// And the server gives those answers as listed: each request below is
/// broken in one way before its handler, and its status is one the
/// operation's entry lists.
/// (method, path, its template, If-Match, Content-Type, body, status).
type Broken<'a> = (Method, &'a str, &'a str, Option<&'a str>, Option<&'a str>, &'a [u8], u16);

async fn answers_given_before_the_handler_are_the_listed_ones(app: TestApp) {
    let (project, task) = seed(&app).await;
    let doc = document();
    let (p, t) = ("/api/v1/projects/{project_id}", "/api/v1/projects/{project_id}/tasks/{task_id}");
    let json = Some("application/json");
    let rename = br#"{"name": "Renamed"}"#.as_slice();
    let unnamed = br#"{"mfa_token": "", "name": ""}"#.as_slice();
    let tasks = format!("{project}/tasks?limit=0");
    let cases: [Broken; 9] = [
        (Method::DELETE, &task, t, Some("null"), None, b"", 400),
        (Method::DELETE, &task, t, Some("\"99\""), None, b"", 412),
        (Method::PATCH, &project, p, None, json, rename, 428),
        (Method::PATCH, &project, p, Some("\"1\""), Some("text/plain"), rename, 415),
        (Method::POST, "/api/v1/projects", "/api/v1/projects", None, json, b"{", 400),
        (Method::GET, &tasks, "/api/v1/projects/{project_id}/tasks", None, None, b"", 400),
        (Method::GET, "/api/v1/projects?status=", "/api/v1/projects", None, None, b"", 422),
        // A validator refuses a value of a schema-valid body before the token is looked at.
        (Method::POST, "/api/v1/auth/mfa/enroll-totp", "/api/v1/auth/mfa/enroll-totp", None, json, unnamed, 422),
        // A personal API token has no session to end.
        (Method::POST, "/api/v1/auth/logout", "/api/v1/auth/logout", None, None, b"", 400),
    ];
    for (method, path, template, if_match, content_type, body, status) in cases {
        let mut req = app.req(method.clone(), path).body(body.to_vec());
        if let Some(v) = if_match {
            req = req.header("if-match", v);
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{method} {path}");
        let listed = listed_statuses(&doc["paths"][template][method.as_str().to_ascii_lowercase()]);
        assert!(listed.contains(&status), "{method} {template} answers {status} but lists only {listed:?}");
    }
}

api_tests!(openapi_is_served_and_matches_the_router, answers_given_before_the_handler_are_the_listed_ones);
