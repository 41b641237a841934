//! Bad values: each gets a clear problem document and changes nothing
//! (checked by reading everything back afterwards); hostile strings are
//! stored verbatim.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PROJECTS: &str = "/api/v1/projects";

fn project(name: &str) -> Value {
    json!({"name": name, "budget": {"amount": "10", "currency": "USD"}})
}

async fn bad_names_are_refused(app: TestApp) {
    let (path, task) = seed(&app).await;
    let before = snapshot(&app).await;
    let tasks = format!("{path}/tasks");
    let cases = [
        ("x".repeat(256), "too_long"),
        ("é".repeat(256), "too_long"),
        (String::new(), "required"),
        ("   \t  ".to_owned(), "required"),
        ("a\u{0}b".to_owned(), "invalid_characters"),
        ("line\nbreak".to_owned(), "invalid_characters"),
    ];
    for (name, code) in &cases {
        let resp = app.post(PROJECTS, &project(name)).await;
        assert_invalid_field(resp, "name", Some(code)).await;
        let resp = app.patch(&path, "\"1\"", &json!({"name": name})).await;
        assert_invalid_field(resp, "name", Some(code)).await;
        let resp = app.post(&tasks, &json!({"title": name})).await;
        assert_invalid_field(resp, "title", Some(code)).await;
        let resp = app.patch(&task, "\"1\"", &json!({"title": name})).await;
        assert_invalid_field(resp, "title", Some(code)).await;
    }
    // All the problems of one body are reported at once.
    let mut body = project("");
    body["description"] = json!("d".repeat(20_001));
    body["budget"]["amount"] = json!("x");
    body["status"] = json!("done");
    body["planned_start"] = json!("2026-13-01");
    let resp = app.post(PROJECTS, &body).await;
    let problem = assert_invalid_field(resp, "name", Some("required")).await;
    let errors = problem["errors"].as_array().unwrap();
    for f in ["description", "budget.amount", "status", "planned_start"] {
        assert!(errors.iter().any(|e| e["field"] == f), "{f} missing: {problem}");
    }
    let mut reversed = project("x");
    reversed["planned_start"] = json!("2026-05-02");
    reversed["planned_end"] = json!("2026-05-01");
    assert_invalid_field(app.post(PROJECTS, &reversed).await, "planned_end", None).await;
    let mut owned = project("x");
    owned["owner_id"] = json!(uuid::Uuid::new_v4().to_string());
    let resp = app.post(PROJECTS, &owned).await;
    assert_invalid_field(resp, "owner_id", Some("unknown_user")).await;
    let resp = app.patch(&path, "\"1\"", &json!({"owner_id": "nobody"})).await;
    assert_invalid_field(resp, "owner_id", Some("invalid_id")).await;
    assert_eq!(snapshot(&app).await, before, "nothing changed");

    // The longest names are accepted, counted in characters.
    for name in ["x".repeat(255), "é".repeat(255)] {
        assert_eq!(app.create_project(&name).await["name"], name.as_str());
    }
}

async fn bad_budgets_are_refused(app: TestApp) {
    let (path, _) = seed(&app).await;
    let before = snapshot(&app).await;
    let with_budget = |budget: &Value| json!({"name": "Money", "budget": budget});
    let wrong_shape = [
        json!({"amount": 1250.5, "currency": "USD"}),
        json!({"amount": 100, "currency": "USD"}),
        json!(100),
        json!({"amount": "1"}),
    ];
    for budget in &wrong_shape {
        let resp = app.post(PROJECTS, &with_budget(budget)).await;
        assert_problem(resp, StatusCode::BAD_REQUEST, "invalid_body").await;
        let resp = app.patch(&path, "\"1\"", &json!({"budget": budget})).await;
        assert_problem(resp, StatusCode::BAD_REQUEST, "invalid_body").await;
    }
    for body in [json!({"name": "No budget"}), with_budget(&Value::Null)] {
        let resp = app.post(PROJECTS, &body).await;
        assert_problem(resp, StatusCode::BAD_REQUEST, "invalid_body").await;
    }
    let huge = "9".repeat(38);
    let cases = [
        ("-5", "USD", "budget.amount", "negative"),
        ("1.005", "USD", "budget.amount", "too_many_decimals"),
        ("1.5", "JPY", "budget.amount", "too_many_decimals"),
        ("1e309", "USD", "budget.amount", "invalid_decimal"),
        ("NaN", "USD", "budget.amount", "invalid_decimal"),
        ("1,000", "USD", "budget.amount", "invalid_decimal"),
        (huge.as_str(), "USD", "budget.amount", "out_of_range"),
        ("10", "XXX", "budget.currency", "unknown_currency"),
        ("10", "usd", "budget.currency", "unknown_currency"),
        ("10", "US'; --", "budget.currency", "unknown_currency"),
    ];
    for (amount, currency, field, code) in cases {
        let budget = json!({"amount": amount, "currency": currency});
        let resp = app.post(PROJECTS, &with_budget(&budget)).await;
        assert_invalid_field(resp, field, Some(code)).await;
        let resp = app.patch(&path, "\"1\"", &json!({"budget": budget})).await;
        assert_invalid_field(resp, field, Some(code)).await;
    }
    // A number too large for a double is refused too, not turned into infinity.
    for amount in ["1e309", "-1e309"] {
        let raw = format!(r#"{{"name":"Huge","budget":{{"amount":{amount},"currency":"USD"}}}}"#);
        let resp = app.send_raw(Method::POST, PROJECTS, Some("application/json"), raw.into()).await;
        let status = resp.status();
        let (_, problem) = problem_parts(resp, status).await;
        assert!(status.is_client_error(), "{status}: {problem}");
    }
    assert_eq!(snapshot(&app).await, before, "nothing changed");
}

const NASTY: [&str; 8] = [
    "Robert'); DROP TABLE projects; --",
    "' OR '1'='1",
    "\"; DELETE FROM tasks; --",
    "x' UNION SELECT token_hash FROM api_tokens --",
    "$1 $2 ? %s %d {0}",
    "\\'; \\\"; \\\\",
    "<script>alert(1)</script>",
    "😀 ünïcødé 日本",
];

async fn injection_strings_are_stored_verbatim(app: TestApp) {
    let (path, _) = seed(&app).await;
    let p = path.rsplit('/').next().unwrap().to_owned();
    for nasty in NASTY {
        let mut body = project(nasty);
        body["description"] = json!(nasty);
        let project = app.create_project_with(body).await;
        assert_eq!((project["name"].as_str(), project["description"].as_str()), (Some(nasty), Some(nasty)));
        let id = project["id"].as_str().unwrap();
        assert_eq!(app.get_json(&format!("{PROJECTS}/{id}")).await, project);
        let task = app.create_task(&p, json!({"title": nasty, "description": nasty})).await;
        assert_eq!((task["title"].as_str(), task["description"].as_str()), (Some(nasty), Some(nasty)));
        let cost = json!({"entry_date": "2026-01-01", "amount": "1", "category": "other", "note": nasty});
        let cost = expect_json(app.post(&format!("{path}/costs"), &cost).await, StatusCode::CREATED).await;
        assert_eq!(cost["note"], nasty);
    }
    // Every project is still there, and sorting by the odd names pages cleanly.
    let by_name = app.list_all("/api/v1/projects?sort=name", 1).await;
    let mut want: Vec<String> = NASTY.iter().map(|s| (*s).to_owned()).collect();
    want.push("Existing".to_owned());
    want.sort();
    assert_eq!(field_of(&by_name, "name"), want);
    let titles = app.list_all(&format!("{path}/tasks?sort=title"), 2).await;
    assert_eq!(titles.len(), NASTY.len() + 1);
    assert_eq!(app.get_json("/api/v1/me").await["username"], "admin", "users are intact");

    // Injection through query strings and paths is refused, not run.
    let quoted = "%27%20OR%20%271%27%3D%271";
    let resp = app.get(&format!("{PROJECTS}?status={quoted}")).await;
    assert_invalid_field(resp, "status", None).await;
    let resp = app.get(&format!("{PROJECTS}?owner={quoted}")).await;
    assert_invalid_field(resp, "owner", None).await;
    let resp = app.get("/api/v1/projects?sort=name%3B%20DROP%20TABLE%20projects").await;
    assert_problem(resp, StatusCode::BAD_REQUEST, "invalid_query").await;
    let resp = app.get(&format!("{PROJECTS}/{quoted}")).await;
    assert_problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.list_all(PROJECTS, 200).await.len(), NASTY.len() + 1);
}

api_tests!(bad_names_are_refused, bad_budgets_are_refused, injection_strings_are_stored_verbatim);
