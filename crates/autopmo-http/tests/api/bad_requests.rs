//! Malformed requests (bodies, media types, sizes, paths, methods,
//! preconditions): each gets a clear problem document and changes nothing.

use crate::helpers::*;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::json;

const JSON: Option<&str> = Some("application/json");

/// (content type, body (empty: a valid project), status, problem slug).
const MALFORMED: &[(Option<&str>, &[u8], u16, &str)] = &[
    (JSON, br#"{"description": "x","#, 400, "malformed_json"),
    (JSON, b"{'description': 'x'}", 400, "malformed_json"),
    (JSON, b"{", 400, "malformed_json"),
    (JSON, b" ", 400, "malformed_json"),
    (JSON, b"  \n ", 400, "malformed_json"),
    (JSON, b"{\"description\": \"\xff\xfe\"}", 400, "malformed_json"),
    (JSON, br#"{"colour": "blue"}"#, 400, "invalid_body"),
    (JSON, b"[]", 400, "invalid_body"),
    (JSON, b"null", 400, "invalid_body"),
    (JSON, br#"{"description": "a", "description": "b"}"#, 400, "invalid_body"),
    (Some("text/plain"), b"", 415, "unsupported_media_type"),
    (Some("application/x-www-form-urlencoded"), b"name=x", 415, "unsupported_media_type"),
    (Some("application/jsonp"), b"", 415, "unsupported_media_type"),
    (None, b"", 415, "unsupported_media_type"),
];

async fn malformed_bodies_are_refused(app: TestApp) {
    let (path, task) = seed(&app).await;
    let before = snapshot(&app).await;
    let valid = serde_json::to_vec(&json!({"name": "Valid", "budget": {"amount": "1", "currency": "USD"}})).unwrap();
    let targets = [(Method::POST, "/api/v1/projects"), (Method::PATCH, path.as_str()), (Method::PATCH, task.as_str())];
    for (method, target) in &targets {
        let send = |ct: Option<&str>, body: Vec<u8>| {
            let mut req = app.req(method.clone(), target).header("if-match", "\"1\"").body(body);
            if let Some(ct) = ct {
                req = req.header(CONTENT_TYPE, ct);
            }
            req.send()
        };
        for (ct, body, status, slug) in MALFORMED {
            let body = if body.is_empty() { valid.clone() } else { body.to_vec() };
            let shown = format!("{method} {target} {}", String::from_utf8_lossy(&body));
            let status = StatusCode::from_u16(*status).unwrap();
            let problem = assert_problem(send(*ct, body).await.unwrap(), status, slug).await;
            assert!(!problem["detail"].as_str().unwrap().is_empty(), "{shown}");
        }
        // Unknown fields are refused even next to valid ones, and in nested objects.
        let body = json!({"name": "x", "budget": {"amount": "1", "currency": "USD", "rate": 1}});
        let resp = send(JSON, serde_json::to_vec(&body).unwrap()).await.unwrap();
        assert_problem(resp, StatusCode::BAD_REQUEST, "invalid_body").await;

        // Larger than 1 MiB.
        let big = json!({"name": "Big", "description": "x".repeat(1024 * 1024)});
        let resp = send(JSON, serde_json::to_vec(&big).unwrap()).await.unwrap();
        assert_problem(resp, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

        // Nested deeper than 32 levels (the object itself is the first).
        let deep = format!(r#"{{"name": {}{}}}"#, "[".repeat(32), "]".repeat(32));
        let resp = send(JSON, deep.into_bytes()).await.unwrap();
        assert_problem(resp, StatusCode::BAD_REQUEST, "json_too_deep").await;
        let deepest_allowed = format!(r#"{{"name": {}{}}}"#, "[".repeat(31), "]".repeat(31));
        let resp = send(JSON, deepest_allowed.into_bytes()).await.unwrap();
        assert_problem(resp, StatusCode::BAD_REQUEST, "invalid_body").await;
        // Brackets inside strings do not count.
        let in_string = serde_json::to_vec(&json!({"colour": "[".repeat(100)})).unwrap();
        let resp = send(JSON, in_string).await.unwrap();
        assert_problem(resp, StatusCode::BAD_REQUEST, "invalid_body").await;
    }
    assert_eq!(snapshot(&app).await, before, "nothing changed");

    // A charset parameter, a +json type and upper case are fine.
    for ct in ["application/json; charset=utf-8", "application/merge-patch+json", "Application/JSON"] {
        let resp = app.send_raw(Method::POST, "/api/v1/projects", Some(ct), valid.clone()).await;
        expect_json(resp, StatusCode::CREATED).await;
    }
}

async fn bad_paths_and_methods(app: TestApp) {
    let (path, task) = seed(&app).await;
    let before = snapshot(&app).await;
    let uuid = uuid::Uuid::new_v4();
    let not_found = [
        "/api/v1/projects/not-a-uuid".to_owned(),
        "/api/v1/projects/123".to_owned(),
        format!("{path}/tasks/not-a-uuid"),
        format!("{path}/members/not-a-uuid"),
        format!("{path}/costs/{uuid}x"),
        format!("/api/v1/projects/{uuid}"),
        "/api/v1/nope".to_owned(),
        "/api/v2/projects".to_owned(),
        "/nope".to_owned(),
        "/".to_owned(),
        format!("{path}/tasks/{uuid}/assign/extra"),
    ];
    for target in &not_found {
        for method in [Method::GET, Method::DELETE] {
            let resp = app.req(method, target).send().await.unwrap();
            assert_problem(resp, StatusCode::NOT_FOUND, "not_found").await;
        }
    }
    let resp = app.patch("/api/v1/projects/not-a-uuid", "\"1\"", &json!({"name": "x"})).await;
    assert_problem(resp, StatusCode::NOT_FOUND, "not_found").await;

    let wrong_method = [
        (Method::PUT, "/api/v1/projects".to_owned(), "GET,HEAD,POST"),
        (Method::DELETE, "/api/v1/projects".to_owned(), "GET,HEAD,POST"),
        (Method::PUT, path.clone(), "DELETE,GET,HEAD,PATCH"),
        (Method::POST, path.clone(), "DELETE,GET,HEAD,PATCH"),
        (Method::GET, format!("{task}/assign"), "POST"),
        (Method::POST, "/healthz".to_owned(), "GET,HEAD"),
        (Method::DELETE, "/api/v1/openapi.json".to_owned(), "GET,HEAD"),
    ];
    for (method, target, allowed) in wrong_method {
        let resp = app.req(method.clone(), &target).json(&json!({})).send().await.unwrap();
        let (headers, _) = problem_parts(resp, StatusCode::METHOD_NOT_ALLOWED).await;
        let allow = headers.get("allow").map(|v| v.to_str().unwrap()).unwrap_or_default();
        let mut got: Vec<_> = allow.split(',').map(str::trim).collect();
        got.sort_unstable();
        assert_eq!(got.join(","), allowed, "{method} {target}: Allow");
    }
    for target in [&path, &task] {
        let resp = app.patch(target, "abc", &json!({})).await;
        assert_problem(resp, StatusCode::BAD_REQUEST, "invalid_if_match").await;
    }
    assert_eq!(snapshot(&app).await, before, "nothing changed");
}

api_tests!(malformed_bodies_are_refused, bad_paths_and_methods);
