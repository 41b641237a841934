//! The §3.2 policies through HTTP, the way an attacker tries them: a
//! project manager guessing the ids of another's projects, a developer
//! updating tasks outside their projects, lists that must leak nothing;
//! then policy files: a deny that overrides an allow, a reload that fails
//! (nothing changes) and one that works, both audited.

use crate::helpers::*;
use autopmo_domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn as_user(app: &TestApp, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token).header("if-match", "\"1\"");
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    json!({"status": status, "body": serde_json::from_str::<Value>(&text).unwrap_or(Value::Null)})
}

async fn create_as(app: &TestApp, token: &str, name: &str) -> String {
    let body = json!({"name": name, "budget": {"amount": "5000.00", "currency": "USD"}});
    let resp = app.client.post(app.url("/api/v1/projects")).bearer_auth(token).json(&body).send().await.unwrap();
    expect_json(resp, StatusCode::CREATED).await["id"].as_str().unwrap().to_owned()
}

async fn list_names(app: &TestApp, token: &str) -> Vec<String> {
    let resp = app.client.get(app.url("/api/v1/projects?limit=200")).bearer_auth(token).send().await.unwrap();
    let mut names = field_of(expect_json(resp, StatusCode::OK).await["items"].as_array().unwrap(), "name");
    names.sort();
    names
}

async fn a_project_manager_cannot_reach_another_managers_projects(app: TestApp) {
    use reqwest::Method as M;
    let (_, alice) = app.user("alice", &[Role::ProjectManager]).await;
    let (bob_user, bob) = app.user("bob", &[Role::ProjectManager]).await;
    let hers = create_as(&app, &alice, "Alice's").await;
    let his = create_as(&app, &bob, "Bob's").await;
    let guessed = autopmo_domain::ProjectId::new().to_string();
    // Alice reads hers first, so the server keeps it for reads: a kept
    // project is decided for each caller anew.
    let first = as_user(&app, &alice, M::GET, &format!("/api/v1/projects/{hers}"), None).await;
    assert_eq!(first["status"], 200, "{first}");
    // Reading, changing, deleting hers — or an id that exists nowhere —
    // all look alike to Bob: no such project.
    for id in [&hers, &guessed] {
        let p = format!("/api/v1/projects/{id}");
        for (method, path, body) in [
            (M::GET, p.clone(), None),
            (M::PATCH, p.clone(), Some(json!({"name": "Mine now"}))),
            (M::DELETE, p.clone(), None),
            (M::GET, format!("{p}/tasks"), None),
            (M::POST, format!("{p}/tasks"), Some(json!({"title": "Sneak"}))),
            (M::GET, format!("{p}/members"), None),
            (M::POST, format!("{p}/members"), Some(json!({"user_id": guessed, "kind": "member"}))),
            (M::GET, format!("{p}/costs"), None),
            (M::GET, format!("{p}/report"), None),
        ] {
            let got = as_user(&app, &bob, method.clone(), &path, body).await;
            assert_eq!(got["status"], 404, "{method} {path}: {got}");
            assert_eq!(got["body"]["detail"], "no such project", "{method} {path}: {got}");
        }
    }
    // Nothing changed, and Alice still has her project.
    let mine = as_user(&app, &alice, M::GET, &format!("/api/v1/projects/{hers}"), None).await;
    assert_eq!((mine["status"].clone(), mine["body"]["name"].clone()), (json!(200), json!("Alice's")));
    // Lists hold only what each may read; the auditor and the admin see all.
    assert_eq!(list_names(&app, &alice).await, ["Alice's"]);
    assert_eq!(list_names(&app, &bob).await, ["Bob's"]);
    let (_, auditor) = app.user("audrey", &[Role::Auditor]).await;
    assert_eq!(list_names(&app, &auditor).await, ["Alice's", "Bob's"]);
    assert_eq!(list_names(&app, &app.token).await, ["Alice's", "Bob's"]);
    // A PM creates projects for themselves, not in someone else's name.
    let (carol, _) = app.user("carol", &[Role::Developer]).await;
    let theirs = json!({"name": "Carol's?", "owner_id": carol.id.to_string(),
        "budget": {"amount": "1.00", "currency": "USD"}});
    let got = as_user(&app, &alice, M::POST, "/api/v1/projects", Some(theirs)).await;
    assert_eq!(got["status"], 403, "{got}");
    // Made a member of hers, Bob may read it — and is told plainly (403)
    // that he may not change or delete it.
    app.add_member(&hers, bob_user.id, "member").await;
    let p = format!("/api/v1/projects/{hers}");
    assert_eq!(as_user(&app, &bob, M::GET, &p, None).await["status"], 200);
    for (method, body) in [(M::PATCH, Some(json!({"name": "Mine now"}))), (M::DELETE, None)] {
        let got = as_user(&app, &bob, method.clone(), &p, body).await;
        assert_eq!(got["status"], 403, "{method}: {got}");
    }
    assert_eq!(list_names(&app, &bob).await, ["Alice's", "Bob's"]);
    // Alice's own changes work.
    let renamed = as_user(&app, &alice, M::PATCH, &p, Some(json!({"name": "Alice's"}))).await;
    assert_eq!(renamed["status"], 200, "{renamed}");
    let _ = his;
}

async fn developers_work_only_inside_their_projects(app: TestApp) {
    use reqwest::Method as M;
    let (dev, dev_token) = app.user("dan", &[Role::Developer]).await;
    let (other, _) = app.user("olga", &[Role::Developer]).await;
    let inside = app.create_project("Inside").await["id"].as_str().unwrap().to_owned();
    let outside = app.create_project("Outside").await["id"].as_str().unwrap().to_owned();
    app.add_member(&inside, dev.id, "member").await;
    app.add_member(&outside, other.id, "member").await;
    let mine = app.create_task(&inside, json!({"title": "Mine", "assignee_id": dev.id.to_string()})).await;
    let theirs = app.create_task(&outside, json!({"title": "Theirs", "assignee_id": other.id.to_string()})).await;
    let path = |p: &str, t: &Value| format!("/api/v1/projects/{p}/tasks/{}", t["id"].as_str().unwrap());
    // Their own task: yes. A task outside their projects: it does not exist for them.
    let got = as_user(&app, &dev_token, M::PATCH, &path(&inside, &mine), Some(json!({"status": "in_progress"}))).await;
    assert_eq!(got["status"], 200, "{got}");
    let got = as_user(&app, &dev_token, M::PATCH, &path(&outside, &theirs), Some(json!({"status": "done"}))).await;
    assert_eq!(got["status"], 404, "{got}");
    // Reassigning is assigning: tasks:update is not enough.
    let reassign = json!({"assignee_id": other.id.to_string()});
    let got = as_user(&app, &dev_token, M::PATCH, &path(&inside, &mine), Some(reassign)).await;
    assert_eq!(
        (got["status"].clone(), got["body"]["type"].clone()),
        (json!(403), json!("urn:autopmo:problem:forbidden"))
    );
    let got = as_user(&app, &dev_token, M::POST, &format!("{}/assign", path(&inside, &mine)), Some(json!({}))).await;
    assert_eq!(got["status"], 403, "{got}");
    // Reads: their project and its report, not the other one; the list
    // shows only theirs.
    assert_eq!(as_user(&app, &dev_token, M::GET, &format!("/api/v1/projects/{inside}"), None).await["status"], 200);
    assert_eq!(as_user(&app, &dev_token, M::GET, &format!("/api/v1/projects/{outside}"), None).await["status"], 404);
    let report = as_user(&app, &dev_token, M::GET, &format!("/api/v1/projects/{inside}/report"), None).await;
    assert_eq!((report["status"].clone(), report["body"]["tasks"]["in_progress"].clone()), (json!(200), json!(1)));
    assert_eq!(list_names(&app, &dev_token).await, ["Inside"]);
    // A stakeholder member reads and reports, but changes nothing.
    let (sally, sally_token) = app.user("sally", &[Role::Stakeholder]).await;
    app.add_member(&inside, sally.id, "stakeholder").await;
    assert_eq!(
        as_user(&app, &sally_token, M::GET, &format!("/api/v1/projects/{inside}/report"), None).await["status"],
        200
    );
    let got = as_user(&app, &sally_token, M::PATCH, &path(&inside, &mine), Some(json!({"status": "done"}))).await;
    assert_eq!(got["status"], 403, "{got}");
    assert_eq!(
        as_user(&app, &sally_token, M::GET, &format!("/api/v1/projects/{outside}/report"), None).await["status"],
        404
    );
}

const DENY_ACTIVE_DELETES: &str = r#"
policies:
  - name: admin_all
    description: administrators may do everything the matrix grants
    effect: allow
    subjects:
      roles: [system_admin]
    resources:
      types: ["*"]
    actions: ["*"]
  - name: keep_active_projects
    description: an active project is never deleted, whoever asks
    effect: deny
    subjects:
      roles: ["*"]
    resources:
      types: [project]
    conditions:
      - project.status == "active"
    actions: [delete]
"#;

async fn policy_files_load_deny_and_reload(engine: autopmo_test_support::Engine) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policies.yaml");
    std::fs::write(&file, DENY_ACTIVE_DELETES).unwrap();
    let source = autopmo_http::PolicySource { policy_file: Some(file.clone()), matrix_file: None };
    let authz = autopmo_http::Authz::new(source.load().unwrap(), source);
    let Some(app) = spawn_app_with(engine, |state| state.with_authz(authz)).await else { return };
    let active = app
        .create_project_with(json!({"name": "Live", "status": "active",
        "budget": {"amount": "1.00", "currency": "USD"}}))
        .await;
    let id = active["id"].as_str().unwrap();
    // The deny wins over admin_all: even the administrator is refused.
    let refused =
        assert_problem(app.delete(&format!("/api/v1/projects/{id}")).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(refused["detail"].as_str().unwrap().contains("projects:delete"), "{refused}");
    let shown = app.get_json("/api/v1/policies").await;
    assert_eq!(shown["policies"].as_array().unwrap().len(), 2);
    assert_eq!(shown["matrix"]["projects:delete"], json!(["system_admin", "project_manager"]));
    let digest = shown["digest"].as_str().unwrap().to_owned();

    // A broken file: refused with its line, and the policies in force stay.
    std::fs::write(&file, DENY_ACTIVE_DELETES.replace("project.status == \"active\"", "project.colour == 1")).unwrap();
    let failed = app.post("/api/v1/policies/reload", &json!({})).await;
    let problem = assert_problem(failed, StatusCode::UNPROCESSABLE_ENTITY, "invalid_policies").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("policies.yaml:19:"), "the line of the bad condition: {detail}");
    assert_eq!(app.get_json("/api/v1/policies").await["digest"], digest.as_str());
    assert_eq!(app.delete(&format!("/api/v1/projects/{id}")).await.status(), StatusCode::FORBIDDEN);

    // Without the deny: the delete goes through.
    let without: String = DENY_ACTIVE_DELETES.split("  - name: keep_active_projects").next().unwrap().to_owned();
    std::fs::write(&file, without).unwrap();
    let reloaded = expect_json(app.post("/api/v1/policies/reload", &json!({})).await, StatusCode::OK).await;
    assert_eq!((reloaded["changed"].clone(), reloaded["old_digest"].clone()), (json!(true), json!(digest)));
    assert_eq!(app.delete(&format!("/api/v1/projects/{id}")).await.status(), StatusCode::NO_CONTENT);

    // Both reloads are on record, with who asked.
    let mut conn = app.store.read().await.unwrap();
    let events = autopmo_store::audit::range(&mut conn, i64::MIN, i64::MAX, 100_000).await.unwrap();
    let kinds: Vec<(&str, autopmo_audit::Outcome)> = events
        .iter()
        .filter(|e| e.event_type.starts_with("authz.policies"))
        .map(|e| (e.event_type.as_str(), e.status))
        .collect();
    assert_eq!(
        kinds,
        [
            ("authz.policies_reload_failed", autopmo_audit::Outcome::Failure),
            ("authz.policies_reloaded", autopmo_audit::Outcome::Success)
        ]
    );
    assert!(events.iter().filter(|e| e.event_type.starts_with("authz.policies")).all(|e| e.actor.user_id.is_some()));
}

/// A change is decided on the project as it is, never on the copy a read
/// keeps for up to a second: a member removed outside this server's units
/// of work (by another server, or by the CLI on the same SQLite file; here
/// by a statement on the store's own pool, which no unit of work
/// announces) cannot change a task at once, even just after a read put the
/// project, with them in it, in the cache. Reads see it within the bound.
async fn a_change_is_decided_on_the_project_as_it_is(app: TestApp) {
    use reqwest::Method as M;
    let (dev, dev_token) = app.user("dan", &[Role::Developer]).await;
    let project = app.create_project("Inside").await["id"].as_str().unwrap().to_owned();
    app.add_member(&project, dev.id, "member").await;
    // Not assigned to them: membership alone lets them change it.
    let task = app.create_task(&project, json!({"title": "Ours"})).await;
    let task = format!("/api/v1/projects/{project}/tasks/{}", task["id"].as_str().unwrap());
    let path = format!("/api/v1/projects/{project}");
    let read = || as_user(&app, &dev_token, M::GET, &path, None);
    let got = as_user(&app, &dev_token, M::PATCH, &task, Some(json!({"status": "in_progress"}))).await;
    assert_eq!(got["status"], 200, "a member may: {got}");
    // After that change (a unit of work), a read keeps the project again.
    assert_eq!(read().await["status"], 200);

    let mut conn = app.store.read().await.unwrap();
    sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2")
        .bind(&project)
        .bind(dev.id.to_string())
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let got = as_user(&app, &dev_token, M::PATCH, &task, Some(json!({"status": "done"}))).await;
    assert_eq!(got["status"], 404, "{got}");
    tokio::time::sleep(autopmo_store::recent::MAX_BOUND).await;
    assert_eq!(read().await["status"], 404);
}

api_tests!(
    a_project_manager_cannot_reach_another_managers_projects,
    developers_work_only_inside_their_projects,
    a_change_is_decided_on_the_project_as_it_is
);

mod policy_files {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::policy_files_load_deny_and_reload(autopmo_test_support::Engine::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::policy_files_load_deny_and_reload(autopmo_test_support::Engine::Postgres).await;
    }
}
