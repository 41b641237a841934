//! Members, cost entries and the read-only user routes over HTTP.

use crate::helpers::*;
use autopmo_domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn member_crud(app: TestApp) {
    let (dev, _) = app.user("dev", &[Role::Developer]).await;
    let (ann, _) = app.user("ann", &[Role::Developer]).await;
    let p = id(&app.create_project("Apollo").await);
    let members = format!("/api/v1/projects/{p}/members");

    let resp = app.post(&members, &json!({"user_id": dev.id.to_string(), "kind": "member"})).await;
    assert_eq!(etag(&resp), "\"1\"");
    let added = expect_json(resp, StatusCode::CREATED).await;
    assert_eq!((added["project_id"].as_str(), added["kind"].as_str()), (Some(p.as_str()), Some("member")));
    assert_eq!(added["user_id"], dev.id.to_string());
    let path = format!("{members}/{}", dev.id);
    let resp = app.get(&path).await;
    assert_eq!(etag(&resp), "\"1\"");
    assert_eq!(expect_json(resp, StatusCode::OK).await, added);

    let dup = app.post(&members, &json!({"user_id": dev.id.to_string(), "kind": "manager"})).await;
    assert_problem(dup, StatusCode::CONFLICT, "conflict").await;
    let unknown = app.post(&members, &json!({"user_id": uuid::Uuid::new_v4().to_string(), "kind": "member"})).await;
    assert_invalid_field(unknown, "user_id", Some("unknown_user")).await;
    let bad = app.post(&members, &json!({"user_id": "bob", "kind": "boss"})).await;
    let problem = assert_invalid_field(bad, "user_id", Some("invalid_id")).await;
    assert!(
        problem["errors"].as_array().unwrap().iter().any(|e| e["field"] == "kind"),
        "every bad field is named: {problem}"
    );
    let elsewhere = format!("/api/v1/projects/{}/members", uuid::Uuid::new_v4());
    let resp = app.post(&elsewhere, &json!({"user_id": ann.id.to_string(), "kind": "member"})).await;
    assert_problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.get_json(&path).await, added, "the refused additions changed nothing");

    let resp = app.req(Method::PATCH, &path).json(&json!({"kind": "manager"})).send().await.unwrap();
    assert_problem(resp, StatusCode::PRECONDITION_REQUIRED, "precondition_required").await;
    assert_invalid_field(app.patch(&path, "\"1\"", &json!({"kind": "owner"})).await, "kind", Some("invalid_value"))
        .await;
    let resp = app.patch(&path, "\"1\"", &json!({"kind": "manager"})).await;
    assert_eq!(etag(&resp), "\"2\"");
    assert_eq!(expect_json(resp, StatusCode::OK).await["kind"], "manager");
    let stale = app.patch(&path, "\"1\"", &json!({"kind": "stakeholder"})).await;
    assert_problem(stale, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
    assert_eq!(app.get_json(&path).await["kind"], "manager");

    app.clock.advance(time::Duration::seconds(1));
    app.add_member(&p, ann.id, "stakeholder").await;
    let all = app.list_all(&members, 1).await;
    assert_eq!(field_of(&all, "user_id"), [dev.id.to_string(), ann.id.to_string()]);
    let newest_first = app.list_all(&format!("{members}?sort=-created_at"), 1).await;
    assert_eq!(field_of(&newest_first, "user_id"), [ann.id.to_string(), dev.id.to_string()]);
    for bad in ["sort=kind", "limit=0", "limit=201", "kind=member"] {
        assert_problem(app.get(&format!("{members}?{bad}")).await, StatusCode::BAD_REQUEST, "invalid_query").await;
    }

    let resp = app.req(Method::DELETE, &path).header("if-match", "\"1\"").send().await.unwrap();
    assert_problem(resp, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
    assert_eq!(app.delete(&path).await.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get(&path).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_problem(app.delete(&path).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(field_of(&app.list_all(&members, 10).await, "user_id"), [ann.id.to_string()]);
}

async fn cost_crud(app: TestApp) {
    let p = id(&app.create_project("Apollo").await);
    let costs = format!("/api/v1/projects/{p}/costs");
    let body = json!({"entry_date": "2026-03-01", "amount": "1250.5", "category": "labor", "note": "week 9"});
    let resp = app.post(&costs, &body).await;
    assert_eq!(etag(&resp), "\"1\"");
    let created = expect_json(resp, StatusCode::CREATED).await;
    assert_eq!(created["amount"], json!({"amount": "1250.50", "currency": "USD"}), "charged in the project's currency");
    assert_eq!((created["entry_date"].as_str(), created["category"].as_str()), (Some("2026-03-01"), Some("labor")));
    let path = format!("{costs}/{}", id(&created));
    let resp = app.get(&path).await;
    assert_eq!(etag(&resp), "\"1\"");
    assert_eq!(expect_json(resp, StatusCode::OK).await, created);

    let resp = app.req(Method::PATCH, &path).json(&json!({"note": "x"})).send().await.unwrap();
    assert_problem(resp, StatusCode::PRECONDITION_REQUIRED, "precondition_required").await;
    let change = json!({"amount": "99.99", "category": "travel", "note": "train"});
    let updated = expect_json(app.patch(&path, "\"1\"", &change).await, StatusCode::OK).await;
    assert_eq!(updated["amount"]["amount"], "99.99");
    assert_eq!(
        (updated["category"].as_str(), updated["note"].as_str(), updated["version"].as_i64()),
        (Some("travel"), Some("train"), Some(2))
    );
    assert_eq!(updated["entry_date"], "2026-03-01");
    let stale = app.patch(&path, "\"1\"", &json!({"note": "stale"})).await;
    assert_problem(stale, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;

    for (amount, code) in
        [("0", "not_positive"), ("1.005", "too_many_decimals"), ("-5", "negative"), ("1e3", "invalid_decimal")]
    {
        let resp = app.post(&costs, &json!({"entry_date": "2026-03-01", "amount": amount, "category": "labor"})).await;
        assert_invalid_field(resp, "amount", Some(code)).await;
        assert_invalid_field(app.patch(&path, "\"2\"", &json!({"amount": amount})).await, "amount", Some(code)).await;
    }
    let resp = app.post(&costs, &json!({"entry_date": "2026-03-01", "amount": 12.5, "category": "labor"})).await;
    assert_problem(resp, StatusCode::BAD_REQUEST, "invalid_body").await;
    let resp = app
        .post(&costs, &json!({"entry_date": "2026-02-30", "amount": "1", "category": "food", "note": "x".repeat(1001)}))
        .await;
    let problem = assert_invalid_field(resp, "entry_date", None).await;
    let fields: Vec<_> = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].clone()).collect();
    assert!(fields.contains(&json!("category")) && fields.contains(&json!("note")), "{problem}");
    assert_eq!(app.get_json(&path).await, updated, "the refused changes left the entry as it was");
    assert_eq!(app.list_all(&costs, 50).await.len(), 1, "no refused entry was stored");

    assert_eq!(app.delete(&path).await.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get(&path).await, StatusCode::NOT_FOUND, "not_found").await;
    let other = id(&app.create_project("Other").await);
    let missing = format!("/api/v1/projects/{other}/costs/{}", id(&created));
    assert_problem(app.get(&missing).await, StatusCode::NOT_FOUND, "not_found").await;
}

async fn cost_lists_filter_sort_and_page(app: TestApp) {
    let yen =
        app.create_project_with(json!({"name": "Tokyo", "budget": {"amount": "5000000", "currency": "JPY"}})).await;
    let p = id(&yen);
    let costs = format!("/api/v1/projects/{p}/costs");
    let rows = [("2026-01-05", "labor"), ("2026-01-01", "travel"), ("2026-01-04", "labor"), ("2026-01-02", "software")];
    let mut ids = Vec::new();
    for (day, category) in rows {
        let body = json!({"entry_date": day, "amount": "1500", "category": category});
        let created = expect_json(app.post(&costs, &body).await, StatusCode::CREATED).await;
        assert_eq!(created["amount"], json!({"amount": "1500", "currency": "JPY"}));
        ids.push(id(&created));
        app.clock.advance(time::Duration::seconds(1));
    }
    let resp = app.post(&costs, &json!({"entry_date": "2026-01-01", "amount": "1.5", "category": "labor"})).await;
    assert_invalid_field(resp, "amount", Some("too_many_decimals")).await;

    assert_eq!(field_of(&app.list_all(&costs, 3).await, "id"), ids);
    let labor = app.list_all(&format!("{costs}?category=labor"), 1).await;
    assert_eq!(field_of(&labor, "id"), [ids[0].clone(), ids[2].clone()]);
    let by_day = app.list_all(&format!("{costs}?sort=entry_date"), 2).await;
    assert_eq!(field_of(&by_day, "entry_date"), ["2026-01-01", "2026-01-02", "2026-01-04", "2026-01-05"]);
    let by_day_desc = app.list_all(&format!("{costs}?sort=-entry_date&category=labor"), 1).await;
    assert_eq!(field_of(&by_day_desc, "entry_date"), ["2026-01-05", "2026-01-04"]);
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(field_of(&app.list_all(&format!("{costs}?sort=-created_at"), 3).await, "id"), newest_first);

    for bad in ["limit=0", "limit=201", "sort=amount", "note=x"] {
        assert_problem(app.get(&format!("{costs}?{bad}")).await, StatusCode::BAD_REQUEST, "invalid_query").await;
    }
    assert_invalid_field(app.get(&format!("{costs}?category=food")).await, "category", Some("invalid_value")).await;
    let gone = format!("/api/v1/projects/{}/costs", uuid::Uuid::new_v4());
    assert_problem(app.get(&gone).await, StatusCode::NOT_FOUND, "not_found").await;
}

async fn user_routes(app: TestApp) {
    let (dev, dev_token) = app.user("dev", &[Role::Developer, Role::Auditor]).await;
    let me = app.get_json("/api/v1/me").await;
    assert_eq!((me["id"].as_str(), me["username"].as_str()), (Some(app.admin.id.to_string().as_str()), Some("admin")));
    assert_eq!(me["roles"], json!(["system_admin"]));
    let resp = app.client.get(app.url("/api/v1/me")).bearer_auth(&dev_token).send().await.unwrap();
    let dev_me = expect_json(resp, StatusCode::OK).await;
    assert_eq!(dev_me["id"], dev.id.to_string());
    assert_eq!(dev_me["roles"], json!(["developer", "auditor"]));
    assert!(dev_me.get("password_hash").is_none() && dev_me.get("token_hash").is_none());

    assert_eq!(app.get_json(&format!("/api/v1/users/{}", dev.id)).await, dev_me);
    let all = app.list_all("/api/v1/users", 1).await;
    assert_eq!(field_of(&all, "username"), ["admin", "dev"]);
    let desc = app.list_all("/api/v1/users?sort=-username", 1).await;
    assert_eq!(field_of(&desc, "username"), ["dev", "admin"]);
    assert_problem(
        app.get(&format!("/api/v1/users/{}", uuid::Uuid::new_v4())).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_problem(app.get("/api/v1/users/admin").await, StatusCode::NOT_FOUND, "not_found").await;
    assert_problem(app.get("/api/v1/users?role=admin").await, StatusCode::BAD_REQUEST, "invalid_query").await;
}

api_tests!(member_crud, cost_crud, cost_lists_filter_sort_and_page, user_routes);
