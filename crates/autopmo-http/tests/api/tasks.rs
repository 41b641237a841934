//! Tasks over HTTP: CRUD, the `assign` action, who may be assigned,
//! dependencies and lists.

use crate::helpers::*;
use crate::projects::race;
use autopmo_domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn task_crud_and_assign(app: TestApp) {
    let (dev, _) = app.user("dev", &[Role::Developer]).await;
    let (boss, _) = app.user("boss", &[Role::Stakeholder]).await;
    let (outsider, _) = app.user("outsider", &[Role::Developer]).await;
    let p = id(&app.create_project("Apollo").await);
    app.add_member(&p, dev.id, "member").await;
    app.add_member(&p, boss.id, "stakeholder").await;
    let tasks = format!("/api/v1/projects/{p}/tasks");

    let resp = app
        .post(
            &tasks,
            &json!({
                "title": "Design",
                "description": "Sketch it",
                "estimate_hours": "7.5",
                "planned_start": "2026-04-01",
                "planned_finish": "2026-04-03",
                "percent_complete": 10,
            }),
        )
        .await;
    assert_eq!(etag(&resp), "\"1\"");
    let created = expect_json(resp, StatusCode::CREATED).await;
    assert_eq!(created["project_id"], p.as_str());
    assert_eq!(created["status"], "todo");
    assert_eq!(created["assignee_id"], Value::Null);
    assert_eq!(created["estimate_hours"], "7.5");
    assert_eq!(created["actual_hours"], Value::Null);
    assert_eq!(created["percent_complete"], 10);
    assert_eq!(created["depends_on"], json!([]));
    let path = format!("{tasks}/{}", id(&created));
    let resp = app.get(&path).await;
    assert_eq!(etag(&resp), "\"1\"");
    assert_eq!(expect_json(resp, StatusCode::OK).await, created);

    let change =
        json!({"status": "in_progress", "actual_hours": "2.25", "percent_complete": 50, "planned_start": null});
    let updated = expect_json(app.patch(&path, "\"1\"", &change).await, StatusCode::OK).await;
    assert_eq!((updated["status"].as_str(), updated["actual_hours"].as_str()), (Some("in_progress"), Some("2.25")));
    assert_eq!((updated["percent_complete"].as_i64(), updated["version"].as_i64()), (Some(50), Some(2)));
    assert_eq!((updated["planned_start"].clone(), updated["title"].as_str()), (Value::Null, Some("Design")));

    // Assign: If-Match is optional.
    let assign = format!("{path}/assign");
    let resp = app.post(&assign, &json!({"assignee_id": dev.id.to_string()})).await;
    assert_eq!(etag(&resp), "\"3\"");
    let assigned = expect_json(resp, StatusCode::OK).await;
    assert_eq!(assigned["assignee_id"], dev.id.to_string());
    let resp = app
        .req(Method::POST, &assign)
        .header("if-match", "\"2\"")
        .json(&json!({"assignee_id": null}))
        .send()
        .await
        .unwrap();
    assert_problem(resp, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;

    // Only managers and members of the project may be assigned.
    for who in [boss.id.to_string(), outsider.id.to_string(), uuid::Uuid::new_v4().to_string()] {
        let resp = app.post(&assign, &json!({"assignee_id": who})).await;
        assert_invalid_field(resp, "assignee_id", Some("not_assignable")).await;
        let resp = app.patch(&path, "\"3\"", &json!({"assignee_id": who})).await;
        assert_invalid_field(resp, "assignee_id", Some("not_assignable")).await;
        let resp = app.post(&tasks, &json!({"title": "Theirs", "assignee_id": who})).await;
        assert_invalid_field(resp, "assignee_id", Some("not_assignable")).await;
    }
    assert_invalid_field(app.post(&assign, &json!({"assignee_id": "nope"})).await, "assignee_id", Some("invalid_id"))
        .await;
    assert_eq!(app.get_json(&path).await, assigned, "refused assignments changed nothing");
    assert_eq!(field_of(&app.list_all(&tasks, 50).await, "id"), [id(&created)], "refused creations stored nothing");

    let resp = app
        .req(Method::POST, &assign)
        .header("if-match", "\"3\"")
        .json(&json!({"assignee_id": null}))
        .send()
        .await
        .unwrap();
    let unassigned = expect_json(resp, StatusCode::OK).await;
    assert_eq!((unassigned["assignee_id"].clone(), unassigned["version"].as_i64()), (Value::Null, Some(4)));

    // A task is reached only through its own project.
    let other = id(&app.create_project("Other").await);
    let wrong = format!("/api/v1/projects/{other}/tasks/{}", id(&created));
    assert_problem(app.get(&wrong).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_problem(app.delete(&wrong).await, StatusCode::NOT_FOUND, "not_found").await;
    let missing = format!("/api/v1/projects/{}/tasks", uuid::Uuid::new_v4());
    assert_problem(app.post(&missing, &json!({"title": "x"})).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_problem(app.get(&missing).await, StatusCode::NOT_FOUND, "not_found").await;

    assert_eq!(app.delete(&path).await.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get(&path).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_problem(app.post(&assign, &json!({"assignee_id": null})).await, StatusCode::NOT_FOUND, "not_found").await;
}

async fn removing_a_member_unassigns_their_tasks(app: TestApp) {
    let (dev, _) = app.user("dev", &[Role::Developer]).await;
    let p = id(&app.create_project("Apollo").await);
    app.add_member(&p, dev.id, "member").await;
    let task = app.create_task(&p, json!({"title": "Build", "assignee_id": dev.id.to_string()})).await;
    assert_eq!(task["assignee_id"], dev.id.to_string());
    let member = format!("/api/v1/projects/{p}/members/{}", dev.id);
    assert_eq!(app.delete(&member).await.status(), StatusCode::NO_CONTENT);
    let now = app.get_json(&format!("/api/v1/projects/{p}/tasks/{}", id(&task))).await;
    assert_eq!(now["assignee_id"], Value::Null);
    assert_eq!(now["version"], 2, "the change shows in the ETag");
}

async fn task_lists_filter_sort_and_page(app: TestApp) {
    let (dev, _) = app.user("dev", &[Role::Developer]).await;
    let (ann, _) = app.user("ann", &[Role::Developer]).await;
    let p = id(&app.create_project("Apollo").await);
    app.add_member(&p, dev.id, "member").await;
    app.add_member(&p, ann.id, "manager").await;
    let rows = [
        ("delta", "todo", Some(dev.id)),
        ("alpha", "done", Some(ann.id)),
        ("echo", "in_progress", Some(dev.id)),
        ("charlie", "todo", None),
        ("bravo", "blocked", Some(dev.id)),
    ];
    let mut ids = Vec::new();
    for (title, status, assignee) in rows {
        let body = json!({"title": title, "status": status, "assignee_id": assignee.map(|a| a.to_string())});
        ids.push(id(&app.create_task(&p, body).await));
        app.clock.advance(time::Duration::seconds(1));
    }
    // Another project's tasks never show.
    let q = id(&app.create_project("Other").await);
    app.create_task(&q, json!({"title": "foreign", "status": "todo"})).await;

    let base = format!("/api/v1/projects/{p}/tasks");
    let titles = |items: Vec<Value>| field_of(&items, "title");
    assert_eq!(field_of(&app.list_all(&base, 2).await, "id"), ids);
    assert_eq!(titles(app.list_all(&format!("{base}?status=todo"), 1).await), ["delta", "charlie"]);
    assert_eq!(titles(app.list_all(&format!("{base}?assignee={}", dev.id), 2).await), ["delta", "echo", "bravo"]);
    let both = format!("{base}?assignee={}&status=todo", dev.id);
    assert_eq!(titles(app.list_all(&both, 2).await), ["delta"]);
    assert_eq!(
        titles(app.list_all(&format!("{base}?sort=title"), 2).await),
        ["alpha", "bravo", "charlie", "delta", "echo"]
    );
    assert_eq!(
        titles(app.list_all(&format!("{base}?sort=-title"), 3).await),
        ["echo", "delta", "charlie", "bravo", "alpha"]
    );
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(field_of(&app.list_all(&format!("{base}?sort=-created_at"), 2).await, "id"), newest_first);
    let by_status = app.list_all(&format!("{base}?sort=status"), 2).await;
    assert_eq!(field_of(&by_status, "status"), ["blocked", "done", "in_progress", "todo", "todo"]);

    for bad in ["limit=0", "limit=201", "sort=assignee", "assignee_id=x", "project_id=x"] {
        assert_problem(app.get(&format!("{base}?{bad}")).await, StatusCode::BAD_REQUEST, "invalid_query").await;
    }
    assert_invalid_field(app.get(&format!("{base}?status=finished")).await, "status", None).await;
    assert_invalid_field(app.get(&format!("{base}?assignee=bob")).await, "assignee", Some("invalid_id")).await;
    assert_eq!(app.get_json(&format!("{base}?limit=200")).await["items"].as_array().unwrap().len(), 5);
}

async fn dependencies_stay_in_the_project_and_acyclic(app: TestApp) {
    let p = id(&app.create_project("Apollo").await);
    let q = id(&app.create_project("Other").await);
    let a = app.create_task(&p, json!({"title": "A"})).await;
    let b = app.create_task(&p, json!({"title": "B", "depends_on": [id(&a)]})).await;
    assert_eq!(b["depends_on"], json!([id(&a)]));
    let c = app.create_task(&p, json!({"title": "C", "depends_on": [id(&b), id(&b)]})).await;
    assert_eq!(c["depends_on"], json!([id(&b)]), "duplicates are merged");
    let foreign = app.create_task(&q, json!({"title": "X"})).await;
    let tasks = format!("/api/v1/projects/{p}/tasks");

    let resp = app.post(&tasks, &json!({"title": "D", "depends_on": [id(&foreign)]})).await;
    assert_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "rule_violation").await;
    let resp = app.post(&tasks, &json!({"title": "D", "depends_on": [uuid::Uuid::new_v4().to_string()]})).await;
    assert_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "rule_violation").await;
    let resp = app.post(&tasks, &json!({"title": "D", "depends_on": ["not-an-id"]})).await;
    assert_invalid_field(resp, "depends_on", Some("invalid_id")).await;
    assert_eq!(app.list_all(&tasks, 50).await.len(), 3, "no refused task was stored");

    let a_path = format!("{tasks}/{}", id(&a));
    for deps in [json!([id(&b)]), json!([id(&c)]), json!([id(&a)]), json!([id(&foreign)])] {
        let resp = app.patch(&a_path, "\"1\"", &json!({"depends_on": deps, "title": "A2"})).await;
        assert_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "rule_violation").await;
    }
    assert_eq!(app.get_json(&a_path).await, a, "the refused changes left A as it was");

    // Replacing the dependencies works, and a dependency on a deleted task goes with it.
    let c_path = format!("{tasks}/{}", id(&c));
    let c2 =
        expect_json(app.patch(&c_path, "\"1\"", &json!({"depends_on": [id(&a), id(&b)]})).await, StatusCode::OK).await;
    let mut want = vec![id(&a), id(&b)];
    want.sort();
    assert_eq!(c2["depends_on"], json!(want));
    assert_eq!(app.delete(&a_path).await.status(), StatusCode::NO_CONTENT);
    let b_now = app.get_json(&format!("{tasks}/{}", id(&b))).await;
    assert_eq!(b_now["depends_on"], json!([]));
    assert_eq!(app.get_json(&c_path).await["depends_on"], json!([id(&b)]));
}

async fn concurrent_task_patches_one_wins(app: TestApp) {
    let p = id(&app.create_project("Apollo").await);
    let task = app.create_task(&p, json!({"title": "Race"})).await;
    let path = format!("/api/v1/projects/{p}/tasks/{}", id(&task));
    let results = race(&app, &path, "title", 6).await;
    let winners: Vec<_> = results.iter().filter(|(s, _)| *s == StatusCode::OK).collect();
    assert_eq!(winners.len(), 1, "exactly one writer wins: {results:?}");
    assert!(results.iter().all(|(s, _)| *s == StatusCode::OK || *s == StatusCode::PRECONDITION_FAILED), "{results:?}");
    let now = app.get_json(&path).await;
    assert_eq!((now["version"].as_i64(), now["title"].as_str()), (Some(2), Some(winners[0].1.as_str())));
}

api_tests!(
    task_crud_and_assign,
    removing_a_member_unassigns_their_tasks,
    task_lists_filter_sort_and_page,
    dependencies_stay_in_the_project_and_acyclic,
    concurrent_task_patches_one_wins,
);
