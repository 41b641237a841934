//! What every request goes through: authentication, request ids, common
//! response headers, and the health endpoints.

use crate::helpers::*;
use autopmo_domain::{Role, UserStatus};
use autopmo_store::{tokens, users};
use reqwest::header::{HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The `/api/v1` operations that take no credentials: login and refresh
/// (which carry their own secrets in the body), password reset, and
/// password change (a bearer is optional there: an account that must change
/// its password proves the current one instead; api::password tests both).
pub const PUBLIC_OPERATIONS: &[(&str, &str)] = &[
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/password-reset"),
    ("post", "/api/v1/auth/password-reset/confirm"),
    ("post", "/api/v1/auth/password"),
    ("get", "/api/v1/auth/oidc/{issuer}/login"),
    ("get", "/api/v1/auth/oidc/{issuer}/callback"),
    ("post", "/api/v1/auth/invites/accept"),
    ("post", "/api/v1/auth/mfa/verify"),
    ("post", "/api/v1/auth/mfa/challenge"),
    ("post", "/api/v1/auth/mfa/enroll-totp"),
];

/// Every operation of the OpenAPI document under `/api/v1` that needs
/// credentials, as (method, path template).
pub fn api_operations() -> Vec<(Method, String)> {
    let doc: Value = serde_json::from_str(&autopmo_http::openapi_document().to_json().unwrap()).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if let Ok(m) = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                && path.starts_with("/api/v1/")
                && !PUBLIC_OPERATIONS.contains(&(method.as_str(), path.as_str()))
            {
                out.push((m, path.clone()));
            }
        }
    }
    out
}

/// `template` with each `{param}` replaced by `ids[param]`.
pub fn fill(template: &str, ids: &[(&str, String)]) -> String {
    let mut path = template.to_owned();
    for (name, value) in ids {
        path = path.replace(&format!("{{{name}}}"), value);
    }
    assert!(!path.contains('{'), "unknown parameter in {template}");
    path
}

async fn every_api_route_needs_valid_credentials(app: TestApp) {
    // Real records behind every path, so a leak would show real data.
    let (dev, _) = app.user("dev", &[Role::Developer]).await;
    let project = app.create_project("Secret project").await;
    let p = project["id"].as_str().unwrap().to_owned();
    app.add_member(&p, dev.id, "member").await;
    let task = app.create_task(&p, json!({"title": "Secret task", "assignee_id": dev.id.to_string()})).await;
    let cost = json!({"entry_date": "2026-01-01", "amount": "1", "category": "other", "note": "Secret note"});
    let cost = expect_json(app.post(&format!("/api/v1/projects/{p}/costs"), &cost).await, StatusCode::CREATED).await;
    let ids = [
        ("project_id", p.clone()),
        ("task_id", task["id"].as_str().unwrap().to_owned()),
        ("cost_id", cost["id"].as_str().unwrap().to_owned()),
        ("user_id", dev.id.to_string()),
        ("session_id", "ses_none".to_owned()),
        ("approval_id", uuid::Uuid::now_v7().to_string()),
        ("account_id", uuid::Uuid::now_v7().to_string()),
        ("key_id", uuid::Uuid::now_v7().to_string()),
        ("factor_id", "mfa_none".to_owned()),
    ];
    let before = (
        app.get_json(&format!("/api/v1/projects/{p}")).await,
        app.list_all(&format!("/api/v1/projects/{p}/tasks"), 200).await,
    );

    // Credentials that worked once and then stopped.
    let (disabled, disabled_token) = app.user("disabled", &[Role::ProjectManager]).await;
    let (locked, locked_token) = app.user("locked", &[Role::ProjectManager]).await;
    let revoked = app.token_for(app.admin.id, None).await;
    let expiring = app.token_for(app.admin.id, Some(time::Duration::hours(1))).await;
    for token in [&disabled_token, &locked_token, &revoked.secret, &expiring.secret] {
        let resp = app.client.get(app.url("/api/v1/me")).bearer_auth(token).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "the token works before it is withdrawn");
    }
    let now = autopmo_domain::Clock::now(&app.clock);
    let mut uow = app.store.begin().await.unwrap();
    users::set_status(uow.conn(), disabled.id, UserStatus::Disabled, now).await.unwrap();
    users::set_status(uow.conn(), locked.id, UserStatus::Locked, now).await.unwrap();
    tokens::revoke(uow.conn(), revoked.id, now).await.unwrap();
    uow.commit().await.unwrap();
    app.clock.advance(time::Duration::hours(1));

    let well_formed_unknown = format!("apmo_pat_{}", "A".repeat(43));
    let credentials: Vec<(&str, Option<String>)> = vec![
        ("no Authorization", None),
        ("garbage", Some("Bearer garbage".to_owned())),
        ("unknown token", Some(format!("Bearer {well_formed_unknown}"))),
        ("empty bearer", Some("Bearer ".to_owned())),
        ("scheme only", Some("Bearer".to_owned())),
        ("basic", Some("Basic YWRtaW46YWRtaW4=".to_owned())),
        ("other scheme", Some(format!("Token {}", app.token))),
        ("token without scheme", Some(app.token.clone())),
        ("over-long token", Some(format!("Bearer {}{}", app.token, "A".repeat(200)))),
        ("disabled user", Some(format!("Bearer {disabled_token}"))),
        ("locked user", Some(format!("Bearer {locked_token}"))),
        ("revoked token", Some(format!("Bearer {}", revoked.secret))),
        ("expired token", Some(format!("Bearer {}", expiring.secret))),
    ];
    let operations = api_operations();
    assert!(operations.len() >= 20, "the document lists the API: {operations:?}");
    let secrets = ["Secret", &p, &dev.id.to_string()];
    for (method, template) in &operations {
        let path = fill(template, &ids);
        for (what, auth) in &credentials {
            let mut req = app.client.request(method.clone(), app.url(&path)).header("if-match", "\"1\"");
            if let Some(auth) = auth {
                req = req.header("authorization", auth);
            }
            if *method == Method::POST || *method == Method::PATCH {
                req = req.json(&json!({"name": "x", "title": "x", "kind": "manager", "assignee_id": null}));
            }
            let resp = req.send().await.unwrap();
            let headers = resp.headers().clone();
            let text = resp.text().await.unwrap();
            let context = format!("{method} {template} with {what}");
            let status = StatusCode::UNAUTHORIZED;
            let challenge = headers.get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok());
            assert_eq!(challenge, Some("Bearer"), "{context}: {text}");
            assert_eq!(headers["content-type"], "application/problem+json", "{context}");
            let problem: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                (problem["status"].as_u64(), problem["type"].as_str()),
                (Some(u64::from(status.as_u16())), Some("urn:autopmo:problem:unauthenticated")),
                "{context}"
            );
            for secret in secrets {
                assert!(!text.contains(secret), "{context} leaked {secret}: {text}");
            }
        }
    }
    let after = (
        app.get_json(&format!("/api/v1/projects/{p}")).await,
        app.list_all(&format!("/api/v1/projects/{p}/tasks"), 200).await,
    );
    assert_eq!(after, before, "no unauthenticated request changed anything");
    assert_eq!(app.list_all("/api/v1/projects", 200).await.len(), 1);
}

async fn public_routes_need_no_token(app: TestApp) {
    for path in ["/healthz", "/readyz", "/api/v1/openapi.json"] {
        for auth in [None, Some("Bearer garbage")] {
            let mut req = app.client.get(app.url(path));
            if let Some(auth) = auth {
                req = req.header("authorization", auth);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.headers()["content-type"], "application/json", "{path}");
            expect_json(resp, StatusCode::OK).await;
        }
    }
    let health = expect_json(app.client.get(app.url("/healthz")).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(health, json!({"status": "ok"}));
}

async fn readyz_reports_the_schema_version(app: TestApp) {
    let ready = expect_json(app.client.get(app.url("/readyz")).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(ready, json!({"status": "ok", "schema_version": autopmo_store::migrate::latest_version()}));
}

/// A database migrated by a newer AutoPMO: not ready (503), but alive.
async fn readyz_refuses_a_newer_schema(app: TestApp) {
    sqlx::query(
        "INSERT INTO autopmo_schema_migrations (version, name, checksum, applied_at) VALUES (9999, 'future', 'x', 'x')",
    )
    .execute(app.store.reader())
    .await
    .unwrap();
    let resp = app.client.get(app.url("/readyz")).send().await.unwrap();
    let (headers, _) = problem_parts(resp, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(headers.contains_key("retry-after"));
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "the process is still alive");
}

fn request_id(resp: &reqwest::Response) -> String {
    resp.headers().get("x-request-id").expect("an X-Request-Id").to_str().unwrap().to_owned()
}

fn assert_generated(id: &str, context: &str) {
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{context}: a generated id is a UUID, got {id:?}");
}

async fn request_ids_are_echoed_or_generated(app: TestApp) {
    let longest = "a".repeat(128);
    for (path, authed) in
        [("/healthz", false), ("/api/v1/projects", true), ("/api/v1/nope", true), ("/api/v1/me", false)]
    {
        let send = |id: Option<HeaderValue>| {
            let mut req = app.client.get(app.url(path));
            if authed {
                req = req.bearer_auth(&app.token);
            }
            if let Some(id) = id {
                req = req.header("x-request-id", id);
            }
            req.send()
        };
        for valid in ["abc-123_X.y", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", longest.as_str()] {
            let resp = send(Some(HeaderValue::from_str(valid).unwrap())).await.unwrap();
            assert_eq!(request_id(&resp), valid, "{path}");
        }
        let a = request_id(&send(None).await.unwrap());
        let b = request_id(&send(None).await.unwrap());
        assert_generated(&a, path);
        assert_ne!(a, b, "each request gets its own id");
        let too_long = "a".repeat(129);
        let invalid = [
            HeaderValue::from_str(&too_long).unwrap(),
            HeaderValue::from_static("abc def"),
            HeaderValue::from_static("abc%0D%0ASet-Cookie:%20x=1"),
            HeaderValue::from_static("<script>"),
            HeaderValue::from_static(""),
            HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        ];
        for id in invalid {
            let shown = format!("{id:?}");
            let resp = send(Some(id)).await.unwrap();
            assert!(!resp.headers().contains_key("set-cookie"));
            assert_generated(&request_id(&resp), &format!("{path} with {shown}"));
        }
        // Common headers on every answer, errors included.
        let resp = send(None).await.unwrap();
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(resp.headers()["cache-control"], "no-store", "{path}");
    }
}

/// A raw request trying to smuggle a header through X-Request-Id.
async fn request_id_cannot_inject_headers(app: TestApp) {
    let addr = app.base.trim_start_matches("http://").to_owned();
    let attempts: [&[u8]; 3] = [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\rSet-Cookie: evil=1\r\nConnection: close\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\r\n Set-Cookie: evil=1\r\nConnection: close\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\nSet-Cookie: evil=1\r\nConnection: close\r\n\r\n",
    ];
    for raw in attempts {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(raw).await.unwrap();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "the server answers and closes");
        let text = String::from_utf8_lossy(&answer).to_ascii_lowercase();
        let head = text.split("\r\n\r\n").next().unwrap_or_default().to_owned();
        assert!(!head.contains("set-cookie") && !head.contains("evil"), "header injected: {head}");
        if head.starts_with("http/1.1 200") {
            let id = head.lines().find_map(|l| l.strip_prefix("x-request-id: ")).expect("an id");
            assert!(id == "abc" || uuid::Uuid::parse_str(id.trim()).is_ok(), "{head}");
        } else {
            assert!(head.starts_with("http/1.1 400") || answer.is_empty(), "refused as a bad request: {head}");
        }
    }
}

api_tests!(
    every_api_route_needs_valid_credentials,
    public_routes_need_no_token,
    readyz_reports_the_schema_version,
    readyz_refuses_a_newer_schema,
    request_ids_are_echoed_or_generated,
    request_id_cannot_inject_headers,
);
