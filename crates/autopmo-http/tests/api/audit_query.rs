//! Reading the audit log over the API: only system administrators and
//! auditors; filters, pages, JSON Lines and CSV exports; the read itself is
//! recorded.

use crate::helpers::*;
use autopmo_domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::Value;

async fn get_as(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client.request(Method::GET, app.url(path)).bearer_auth(token).send().await.unwrap()
}

async fn only_admins_and_auditors_read_the_log(app: TestApp) {
    let (_, auditor) = app.user("audrey", &[Role::Auditor]).await;
    let (_, sysadmin) = app.user("sam", &[Role::SystemAdmin]).await;
    let (_, developer) = app.user("dev", &[Role::Developer]).await;
    app.create_project("Seen by auditors").await;
    for token in [&auditor, &sysadmin] {
        let page = expect_json(get_as(&app, token, "/api/v1/audit/events").await, StatusCode::OK).await;
        assert!(!page["items"].as_array().unwrap().is_empty());
    }
    let (_, manager) = app.user("pam", &[Role::ProjectManager]).await;
    for token in [&manager, &developer] {
        assert_problem(get_as(&app, token, "/api/v1/audit/events").await, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // The refusal is itself on record, as denied.
    let denied = expect_json(
        get_as(&app, &auditor, "/api/v1/audit/events?status=denied&event_type=http.request").await,
        StatusCode::OK,
    )
    .await;
    let routes: Vec<&str> = denied["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(routes.iter().filter(|a| **a == "GET /api/v1/audit/events").count(), 2, "{routes:?}");
}

async fn filters_pages_and_personal_data(app: TestApp) {
    let (_, auditor) = app.user("audrey", &[Role::Auditor]).await;
    for i in 0..5 {
        app.create_project(&format!("P{i}")).await;
    }
    let created = expect_json(
        get_as(&app, &auditor, "/api/v1/audit/events?event_type=project.created&limit=2").await,
        StatusCode::OK,
    )
    .await;
    let items = created["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    // Newest first; the caller's name is readable by the auditor.
    assert!(items[0]["sequence"].as_i64() > items[1]["sequence"].as_i64());
    assert_eq!(items[0]["actor"]["username"], app.admin.username.as_str());
    assert_eq!(items[0]["resource"]["type"], "project");
    // Walk the pages: five creations, each once.
    let mut seen = Vec::new();
    let mut next = created["next_cursor"].as_str().map(str::to_owned);
    seen.extend(items.iter().map(|e| e["event_id"].as_str().unwrap().to_owned()));
    while let Some(cursor) = next {
        let page = expect_json(
            get_as(&app, &auditor, &format!("/api/v1/audit/events?event_type=project.created&limit=2&cursor={cursor}"))
                .await,
            StatusCode::OK,
        )
        .await;
        seen.extend(page["items"].as_array().unwrap().iter().map(|e| e["event_id"].as_str().unwrap().to_owned()));
        next = page["next_cursor"].as_str().map(str::to_owned);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5);
    // Actor and category filters.
    let mine = expect_json(
        get_as(&app, &auditor, &format!("/api/v1/audit/events?actor={}&category=data_access&limit=200", app.admin.id))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(mine["items"].as_array().unwrap().iter().all(|e| e["actor"]["user_id"] == app.admin.id.to_string()));
    // Bad filters are clear errors.
    for bad in ["from=yesterday", "status=maybe", "category=misc", "limit=0", "cursor=nope", "format=xml", "colour=red"]
    {
        let resp = get_as(&app, &auditor, &format!("/api/v1/audit/events?{bad}")).await;
        assert!(resp.status().is_client_error(), "{bad}: {}", resp.status());
        assert_eq!(resp.headers()["content-type"], "application/problem+json", "{bad}");
    }
}

async fn exports_stream_everything_and_are_recorded(app: TestApp) {
    let (_, auditor) = app.user("audrey", &[Role::Auditor]).await;
    for i in 0..3 {
        app.create_project(&format!("=cmd|' /C calc'!A{i}")).await;
    }
    let resp = get_as(&app, &auditor, "/api/v1/audit/events?format=jsonl&event_type=project.created").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/jsonl");
    let text = resp.text().await.unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    let resp = get_as(&app, &auditor, "/api/v1/audit/events?format=csv&event_type=project.created").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let csv = resp.text().await.unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("sequence,event_id,timestamp"));
    assert_eq!(rows.len(), 4);
    // A project name that a spreadsheet would run as a formula is defused.
    assert!(csv.contains("'=cmd"), "{csv}");
    // Both exports are on record as bulk exports.
    let exports =
        expect_json(get_as(&app, &auditor, "/api/v1/audit/events?event_type=audit_log.exported").await, StatusCode::OK)
            .await;
    let formats: Vec<&str> =
        exports["items"].as_array().unwrap().iter().map(|e| e["metadata"]["format"].as_str().unwrap()).collect();
    assert_eq!(formats, ["csv", "jsonl"]);
}

async fn alerts(app: &TestApp, token: &str) -> Vec<Value> {
    let page = expect_json(get_as(app, token, "/api/v1/security/alerts?limit=200").await, StatusCode::OK).await;
    page["items"].as_array().unwrap().clone()
}

fn rules(items: &[Value]) -> Vec<String> {
    items.iter().map(|a| a["metadata"]["rule"].as_str().unwrap().to_owned()).collect()
}

async fn security_rules_raise_alerts(app: TestApp) {
    let (_, auditor) = app.user("audrey", &[Role::Auditor]).await;
    let (_, developer) = app.user("dev", &[Role::Developer]).await;
    assert!(alerts(&app, &auditor).await.is_empty());
    // Ten failed authentications from one address, with different made-up tokens.
    for i in 0..10 {
        let resp = get_as(&app, &format!("apmo_pat_guess{i}"), "/api/v1/projects").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    // Five permission denials of one principal.
    for _ in 0..5 {
        assert_eq!(get_as(&app, &developer, "/api/v1/audit/events").await.status(), StatusCode::FORBIDDEN);
    }
    // A bulk export.
    let resp = get_as(&app, &auditor, "/api/v1/audit/events?format=jsonl").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let _ = resp.text().await.unwrap();
    let raised = alerts(&app, &auditor).await;
    assert_eq!(rules(&raised), ["bulk_export", "repeated_permission_denials", "auth_failures_from_address"]);
    // The address is personal data: opened for the auditor, sealed at rest.
    assert_eq!(raised[2]["actor"]["ip_address"], "127.0.0.1");
    assert_eq!(raised[1]["actor"]["username"], "dev");
    assert_eq!(raised[2]["metadata"]["severity"], "high");
    // The eleventh failure does not raise a second alert for the same burst.
    let _ = get_as(&app, "apmo_pat_guess-again", "/api/v1/projects").await;
    assert_eq!(alerts(&app, &auditor).await.len(), 3);
    let (_, manager) = app.user("pam", &[Role::ProjectManager]).await;
    assert_problem(get_as(&app, &manager, "/api/v1/security/alerts").await, StatusCode::FORBIDDEN, "forbidden").await;
}

api_tests!(
    only_admins_and_auditors_read_the_log,
    filters_pages_and_personal_data,
    exports_stream_everything_and_are_recorded,
    security_rules_raise_alerts,
);
