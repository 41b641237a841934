//! Projects over HTTP: CRUD, lists (cursor pages, filters, sorting) and
//! optimistic concurrency with ETag / If-Match.

use crate::helpers::*;
use autopmo_domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn project_crud(app: TestApp) {
    let body = json!({
        "name": "  Apollo  ",
        "description": "To the moon",
        "budget": {"amount": "1250000.5", "currency": "USD"},
        "status": "active",
        "planned_start": "2026-04-01",
        "planned_end": "2026-12-31",
    });
    let resp = app.post("/api/v1/projects", &body).await;
    assert_eq!(etag(&resp), "\"1\"");
    let created = expect_json(resp, StatusCode::CREATED).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["name"], "Apollo", "names are trimmed");
    assert_eq!(created["budget"], json!({"amount": "1250000.50", "currency": "USD"}));
    assert_eq!(created["owner_id"], app.admin.id.to_string(), "the owner defaults to the caller");
    assert_eq!(created["status"], "active");
    assert_eq!(created["planned_start"], "2026-04-01");
    assert_eq!(created["version"], 1);
    assert_eq!(created["created_at"], "2026-03-02T09:00:00Z");

    let path = format!("/api/v1/projects/{id}");
    let resp = app.get(&path).await;
    assert_eq!(etag(&resp), "\"1\"");
    assert_eq!(expect_json(resp, StatusCode::OK).await, created, "a read returns what the write returned");

    app.clock.advance(time::Duration::minutes(5));
    let change = json!({"name": "Apollo II", "budget": {"amount": "99", "currency": "EUR"}, "planned_end": null});
    let resp = app.patch(&path, "\"1\"", &change).await;
    assert_eq!(etag(&resp), "\"2\"");
    let updated = expect_json(resp, StatusCode::OK).await;
    assert_eq!(updated["name"], "Apollo II");
    assert_eq!(updated["budget"], json!({"amount": "99.00", "currency": "EUR"}));
    assert_eq!(updated["planned_end"], Value::Null, "null clears a date");
    assert_eq!(updated["planned_start"], "2026-04-01", "absent fields stay");
    assert_eq!(updated["description"], "To the moon");
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["updated_at"], "2026-03-02T09:05:00Z");
    assert_eq!(updated["created_at"], created["created_at"]);
    assert_eq!(app.get_json(&path).await, updated);

    assert_eq!(app.delete(&path).await.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get(&path).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_problem(app.delete(&path).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_problem(app.patch(&path, "\"2\"", &json!({"name": "x"})).await, StatusCode::NOT_FOUND, "not_found").await;
    assert!(app.list_all("/api/v1/projects", 50).await.is_empty());
}

async fn project_pages_follow_cursors(app: TestApp) {
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_project(&format!("p{i}")).await["id"].as_str().unwrap().to_owned());
        app.clock.advance(time::Duration::seconds(1));
    }
    let first = app.get_json("/api/v1/projects?limit=2").await;
    assert_eq!(field_of(first["items"].as_array().unwrap(), "id"), ids[..2]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app.get_json(&format!("/api/v1/projects?limit=2&cursor={cursor}")).await;
    assert_eq!(field_of(second["items"].as_array().unwrap(), "id"), ids[2..4]);
    let cursor = second["next_cursor"].as_str().expect("a last page");
    let last = app.get_json(&format!("/api/v1/projects?limit=2&cursor={cursor}")).await;
    assert_eq!(field_of(last["items"].as_array().unwrap(), "id"), ids[4..]);
    assert!(last["next_cursor"].is_null(), "no cursor after the last page: {last}");

    // Walking every page size gives every project once, in order.
    for limit in [1, 3, 5, 200] {
        assert_eq!(field_of(&app.list_all("/api/v1/projects", limit).await, "id"), ids, "limit {limit}");
    }
    // A row added after a page was read shows up on a later page, nothing repeats.
    let page = app.get_json("/api/v1/projects?limit=3").await;
    let newest = app.create_project("p5").await["id"].as_str().unwrap().to_owned();
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = app.get_json(&format!("/api/v1/projects?limit=200&cursor={cursor}")).await;
    assert_eq!(field_of(rest["items"].as_array().unwrap(), "id"), [ids[3].clone(), ids[4].clone(), newest]);

    for bad in ["limit=0", "limit=201", "limit=-1", "limit=abc", "limit=99999999999"] {
        let problem =
            assert_problem(app.get(&format!("/api/v1/projects?{bad}")).await, StatusCode::BAD_REQUEST, "invalid_query")
                .await;
        assert!(problem.get("items").is_none());
    }
    for bad in ["garbage", "eyJhIjoxfQ", "%27%20OR%20%271%27%3D%271"] {
        assert_problem(
            app.get(&format!("/api/v1/projects?cursor={bad}")).await,
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        )
        .await;
    }
}

async fn project_filters_and_sorting(app: TestApp) {
    let (other, _) = app.user("olga", &[Role::ProjectManager]).await;
    let names = ["delta", "alpha", "echo", "charlie", "bravo"];
    let mut ids = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut body = json!({"name": name, "budget": {"amount": "1", "currency": "USD"}});
        if i % 2 == 0 {
            body["status"] = json!("active");
        }
        if i >= 3 {
            body["owner_id"] = json!(other.id.to_string());
        }
        ids.push(app.create_project_with(body).await["id"].as_str().unwrap().to_owned());
        app.clock.advance(time::Duration::seconds(1));
    }
    let names_of = |items: &[Value]| field_of(items, "name");

    let active = app.list_all("/api/v1/projects?status=active", 2).await;
    assert_eq!(names_of(&active), ["delta", "echo", "bravo"]);
    let proposed = app.list_all("/api/v1/projects?status=proposed", 2).await;
    assert_eq!(names_of(&proposed), ["alpha", "charlie"]);
    assert!(app.list_all("/api/v1/projects?status=cancelled", 2).await.is_empty());

    let owned = app.list_all(&format!("/api/v1/projects?owner={}", other.id), 1).await;
    assert_eq!(names_of(&owned), ["charlie", "bravo"]);
    let both = app.list_all(&format!("/api/v1/projects?owner={}&status=active", other.id), 1).await;
    assert_eq!(names_of(&both), ["bravo"]);

    let by_name = app.list_all("/api/v1/projects?sort=name", 2).await;
    assert_eq!(names_of(&by_name), ["alpha", "bravo", "charlie", "delta", "echo"]);
    let by_name_desc = app.list_all("/api/v1/projects?sort=-name", 2).await;
    assert_eq!(names_of(&by_name_desc), ["echo", "delta", "charlie", "bravo", "alpha"]);
    let newest_first = app.list_all("/api/v1/projects?sort=-created_at", 2).await;
    let mut reversed = ids.clone();
    reversed.reverse();
    assert_eq!(field_of(&newest_first, "id"), reversed);
    let oldest_first = app.list_all("/api/v1/projects?sort=created_at", 4).await;
    assert_eq!(field_of(&oldest_first, "id"), ids);

    for bad in ["sort=budget", "sort=name;DROP TABLE projects", "sort=--name", "colour=blue", "status=active&Status=x"]
    {
        assert_problem(app.get(&format!("/api/v1/projects?{bad}")).await, StatusCode::BAD_REQUEST, "invalid_query")
            .await;
    }
    assert_invalid_field(app.get("/api/v1/projects?status=bogus").await, "status", Some("invalid_value")).await;
    assert_invalid_field(app.get("/api/v1/projects?owner=not-a-uuid").await, "owner", Some("invalid_id")).await;
    assert_eq!(app.list_all("/api/v1/projects", 200).await.len(), 5);
}

/// A cursor made for one sort order is refused, with the same problem as a
/// cursor this server never issued.
async fn cursor_of_another_sort_is_refused(app: TestApp) {
    for name in ["a", "b", "c"] {
        app.create_project(name).await;
    }
    let page = app.get_json("/api/v1/projects?limit=1&sort=name").await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let resp = app.get(&format!("/api/v1/projects?limit=1&sort=-created_at&cursor={cursor}")).await;
    assert_problem(resp, StatusCode::BAD_REQUEST, "invalid_cursor").await;
}

async fn updates_need_the_current_etag(app: TestApp) {
    let project = app.create_project("Gemini").await;
    let path = format!("/api/v1/projects/{}", project["id"].as_str().unwrap());
    let change = json!({"name": "Changed"});

    let resp = app.req(Method::PATCH, &path).json(&change).send().await.unwrap();
    assert_problem(resp, StatusCode::PRECONDITION_REQUIRED, "precondition_required").await;
    for bad in ["abc", "1", "W/\"1\"", "\"1\", \"2\"", "*", "\"0\"", "\"-1\"", "\"\""] {
        let resp = app.patch(&path, bad, &change).await;
        assert_problem(resp, StatusCode::BAD_REQUEST, "invalid_if_match").await;
    }
    let moved = app.patch(&path, "\"1\"", &json!({"status": "active"})).await;
    assert_eq!(etag(&moved), "\"2\"");
    let stale = assert_problem(
        app.patch(&path, "\"1\"", &change).await,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
    )
    .await;
    assert_eq!(stale["current_etag"], "\"2\"");
    let future = app.patch(&path, "\"7\"", &change).await;
    assert_problem(future, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;

    let now = app.get_json(&path).await;
    assert_eq!(
        (now["name"].as_str(), now["status"].as_str(), now["version"].as_i64()),
        (Some("Gemini"), Some("active"), Some(2))
    );

    // Deletes take an optional If-Match: a stale one is refused.
    let resp = app.req(Method::DELETE, &path).header("if-match", "\"1\"").send().await.unwrap();
    assert_problem(resp, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
    let resp = app.req(Method::DELETE, &path).header("if-match", "abc").send().await.unwrap();
    assert_problem(resp, StatusCode::BAD_REQUEST, "invalid_if_match").await;
    assert_eq!(app.get_json(&path).await, now, "nothing changed");
    let resp = app.req(Method::DELETE, &path).header("if-match", "\"2\"").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

/// Sends `n` PATCHes at once, all with `If-Match: "1"`; returns the statuses
/// and the names each tried to set.
pub async fn race(app: &TestApp, path: &str, field: &str, n: usize) -> Vec<(StatusCode, String)> {
    let mut handles = Vec::new();
    for i in 0..n {
        let value = format!("writer {i}");
        let req = app.req(Method::PATCH, path).header("if-match", "\"1\"").json(&json!({field: value}));
        handles.push(tokio::spawn(async move { (req.send().await.unwrap().status(), value) }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

async fn concurrent_patches_one_wins(app: TestApp) {
    let project = app.create_project("Race").await;
    let path = format!("/api/v1/projects/{}", project["id"].as_str().unwrap());
    let results = race(&app, &path, "name", 8).await;
    let winners: Vec<_> = results.iter().filter(|(s, _)| *s == StatusCode::OK).collect();
    assert_eq!(winners.len(), 1, "exactly one writer wins: {results:?}");
    assert!(results.iter().all(|(s, _)| *s == StatusCode::OK || *s == StatusCode::PRECONDITION_FAILED), "{results:?}");
    let now = app.get_json(&path).await;
    assert_eq!(now["version"], 2);
    assert_eq!(now["name"], winners[0].1.as_str(), "the winner's change is the one stored");
}

api_tests!(
    project_crud,
    project_pages_follow_cursors,
    project_filters_and_sorting,
    cursor_of_another_sort_is_refused,
    updates_need_the_current_etag,
    concurrent_patches_one_wins,
);
