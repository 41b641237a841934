//! The audit trail seen from the API (guide §8): every request but the
//! probes leaves exactly one `http.request` event with its outcome, every
//! change its domain event in the same transaction, personal data only
//! sealed; and when the trail cannot be written, nothing is answered and
//! nothing changes (fail closed).
//!
//! The events are read straight from the app's store. `TestApp` does not
//! hand out the app's trail, so personal data is opened the way a reader
//! gets it: through `GET /api/v1/audit/events`, which runs `EventView::open`
//! with the app's own sealer.

use crate::helpers::*;
use autopmo_audit::{AuditRecord, Category, Outcome};
use autopmo_domain::{ProjectId, Role};
use autopmo_store::{Backend, audit};
use autopmo_trail::verify::{self, Range};
use reqwest::header::{CONTENT_TYPE, USER_AGENT};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::HashMap;

/// A user agent no other test sends, to look for in the stored rows.
const AGENT: &str = "AuditProbe/7.3 (coverage run; +https://probe.example.invalid)";

/// Every event, in chain order.
async fn events(app: &TestApp) -> Vec<AuditRecord> {
    let mut conn = app.store.read().await.unwrap();
    audit::range(&mut conn, i64::MIN, i64::MAX, 100_000).await.unwrap()
}

/// The events of one request id.
fn of_request<'a>(events: &'a [AuditRecord], rid: &str) -> Vec<&'a AuditRecord> {
    events.iter().filter(|e| e.request_id.as_deref() == Some(rid)).collect()
}

/// Sends `req` as `rid` with the probe's user agent; checks the status and
/// that the id is echoed.
async fn send(req: RequestBuilder, rid: &str, status: StatusCode) -> Response {
    let resp = req.header("x-request-id", rid).header(USER_AGENT, AGENT).send().await.unwrap();
    let got = resp.status();
    let echoed = resp.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned());
    if got != status {
        panic!("{rid}: expected {status}, got {got}: {}", resp.text().await.unwrap());
    }
    assert_eq!(echoed.as_deref(), Some(rid), "{rid}: the request id is echoed");
    resp
}

/// Every text column of every row of `audit_events`, joined.
async fn stored_text(app: &TestApp) -> String {
    let rows = sqlx::query(
        "SELECT event_id, occurred_at, event_type, category, actor_user_id, actor_subject, actor_username, actor_ip, \
         actor_user_agent, resource_type, resource_id, resource_name, action, status, metadata, request_id, \
         session_id, decision_id, prev_hash, hash FROM audit_events",
    )
    .fetch_all(app.store.reader())
    .await
    .unwrap();
    let mut text = String::new();
    for row in &rows {
        for i in 0..20 {
            text.push_str(&row.try_get::<Option<String>, _>(i).unwrap().unwrap_or_default());
            text.push('\u{1f}');
        }
    }
    text
}

/// Checks the whole chain; returns how many records it holds.
async fn verify_intact(app: &TestApp) -> u64 {
    let report = verify::verify(&app.store, &[], Range::default(), |_, _| {})
        .await
        .unwrap_or_else(|e| panic!("the audit chain does not verify: {e}"));
    let stored = events(app).await;
    assert_eq!(report.checked, stored.len() as u64);
    let sequences: Vec<i64> = stored.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=i64::try_from(stored.len()).unwrap()).collect::<Vec<_>>(), "no gap in the chain");
    report.checked
}

/// A request sent, and what its request event must say.
struct Sent {
    rid: String,
    status: StatusCode,
    /// The caller, once authenticated: user id and username.
    who: Option<(String, String)>,
    category: Category,
}

async fn every_request_is_recorded_once_with_its_outcome(app: TestApp) {
    let (quentin, token) = app.user("quentin.audited", &[Role::ProjectManager]).await;
    let (dora, dora_token) = app.user("dora.denied", &[Role::Developer]).await;
    let q = Some((quentin.id.to_string(), quentin.username.to_string()));
    let as_quentin = |method: Method, path: &str| app.client.request(method, app.url(path)).bearer_auth(&token);
    let budget = json!({"amount": "1000.00", "currency": "USD"});
    let mut sent: Vec<Sent> = Vec::new();
    let mut expect = |rid: &str, status: StatusCode, who: &Option<(String, String)>| {
        sent.push(Sent { rid: rid.to_owned(), status, who: who.clone(), category: Category::DataAccess });
    };

    send(as_quentin(Method::GET, "/api/v1/projects"), "cov-list", StatusCode::OK).await;
    expect("cov-list", StatusCode::OK, &q);
    let body = json!({"name": "Audited", "budget": budget});
    let created =
        send(as_quentin(Method::POST, "/api/v1/projects").json(&body), "cov-create", StatusCode::CREATED).await;
    expect("cov-create", StatusCode::CREATED, &q);
    let project_id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let project = format!("/api/v1/projects/{project_id}");
    send(as_quentin(Method::GET, &project), "cov-read", StatusCode::OK).await;
    expect("cov-read", StatusCode::OK, &q);
    let rename = as_quentin(Method::PATCH, &project).header("if-match", "\"1\"").json(&json!({"name": "Audited II"}));
    send(rename, "cov-update", StatusCode::OK).await;
    expect("cov-update", StatusCode::OK, &q);
    let stale = as_quentin(Method::PATCH, &project).header("if-match", "\"1\"").json(&json!({"name": "Stale"}));
    send(stale, "cov-stale", StatusCode::PRECONDITION_FAILED).await;
    expect("cov-stale", StatusCode::PRECONDITION_FAILED, &q);
    let broken = as_quentin(Method::POST, "/api/v1/projects").header(CONTENT_TYPE, "application/json").body("{\"na");
    send(broken, "cov-malformed", StatusCode::BAD_REQUEST).await;
    expect("cov-malformed", StatusCode::BAD_REQUEST, &q);
    let untyped = as_quentin(Method::POST, "/api/v1/projects").body(body.to_string());
    send(untyped, "cov-no-content-type", StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    expect("cov-no-content-type", StatusCode::UNSUPPORTED_MEDIA_TYPE, &q);
    send(app.client.get(app.url("/api/v1/projects")), "cov-anonymous", StatusCode::UNAUTHORIZED).await;
    expect("cov-anonymous", StatusCode::UNAUTHORIZED, &None);
    let forged = app.client.get(app.url("/api/v1/projects")).bearer_auth("apmo_pat_not-a-real-token");
    send(forged, "cov-bad-token", StatusCode::UNAUTHORIZED).await;
    expect("cov-bad-token", StatusCode::UNAUTHORIZED, &None);
    let as_dora = app.client.get(app.url("/api/v1/audit/events")).bearer_auth(&dora_token);
    send(as_dora, "cov-forbidden", StatusCode::FORBIDDEN).await;
    expect("cov-forbidden", StatusCode::FORBIDDEN, &Some((dora.id.to_string(), dora.username.to_string())));
    let nowhere = format!("/api/v1/projects/{}", ProjectId::new());
    send(as_quentin(Method::GET, &nowhere), "cov-no-project", StatusCode::NOT_FOUND).await;
    expect("cov-no-project", StatusCode::NOT_FOUND, &q);
    send(as_quentin(Method::DELETE, &nowhere), "cov-delete-missing", StatusCode::NOT_FOUND).await;
    expect("cov-delete-missing", StatusCode::NOT_FOUND, &q);
    // No route, or not this method: no principal is extracted, so the caller
    // stays anonymous.
    send(as_quentin(Method::GET, "/api/v1/no-such-route"), "cov-no-route", StatusCode::NOT_FOUND).await;
    expect("cov-no-route", StatusCode::NOT_FOUND, &None);
    send(as_quentin(Method::PUT, "/api/v1/projects"), "cov-wrong-method", StatusCode::METHOD_NOT_ALLOWED).await;
    expect("cov-wrong-method", StatusCode::METHOD_NOT_ALLOWED, &None);
    let blank = json!({"name": "   ", "budget": budget});
    send(as_quentin(Method::POST, "/api/v1/projects").json(&blank), "cov-invalid", StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    expect("cov-invalid", StatusCode::UNPROCESSABLE_ENTITY, &q);
    let new_task = as_quentin(Method::POST, &format!("{project}/tasks")).json(&json!({"title": "Audit me"}));
    let task = send(new_task, "cov-task", StatusCode::CREATED).await;
    expect("cov-task", StatusCode::CREATED, &q);
    let task_id = task.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    send(as_quentin(Method::GET, "/api/v1/users"), "cov-users", StatusCode::OK).await;
    sent.push(Sent {
        rid: "cov-users".to_owned(),
        status: StatusCode::OK,
        who: q.clone(),
        category: Category::Administrative,
    });
    // A request id the server refuses to echo is replaced by one of its own,
    // and that one is recorded.
    for given in [Some("not a valid id!"), None] {
        let mut req = as_quentin(Method::GET, "/api/v1/projects").header(USER_AGENT, AGENT);
        if let Some(id) = given {
            req = req.header("x-request-id", id);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let echoed = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "the server's own id: {echoed}");
        sent.push(Sent { rid: echoed, status: StatusCode::OK, who: q.clone(), category: Category::DataAccess });
    }
    // Probes are not API calls and are not recorded.
    send(app.client.get(app.url("/healthz")), "cov-healthz", StatusCode::OK).await;
    send(app.client.get(app.url("/readyz")), "cov-readyz", StatusCode::OK).await;

    let stored = events(&app).await;
    let requests: Vec<&AuditRecord> = stored.iter().filter(|e| e.event_type == "http.request").collect();
    assert_eq!(requests.len(), sent.len(), "one request event per request: {requests:#?}");
    for s in &sent {
        let rid = s.rid.as_str();
        let mine: Vec<&AuditRecord> =
            requests.iter().copied().filter(|e| e.request_id.as_deref() == Some(rid)).collect();
        assert_eq!(mine.len(), 1, "{rid}: exactly one request event");
        let event = mine[0];
        let outcome = match s.status.as_u16() {
            200..=399 => Outcome::Success,
            401 | 403 => Outcome::Denied,
            _ => Outcome::Failure,
        };
        assert_eq!(event.status, outcome, "{rid}");
        let metadata: Value = serde_json::from_str(&event.metadata).unwrap();
        assert_eq!(metadata["http_status"], s.status.as_u16(), "{rid}: {metadata}");
        assert_eq!(event.category, s.category, "{rid}");
        assert_eq!(event.actor.user_id, s.who.as_ref().map(|w| w.0.clone()), "{rid}: who");
        assert_eq!(event.actor.username.is_some(), s.who.is_some(), "{rid}: the name, once known, sealed");
        assert!(event.actor.ip_address.is_some() && event.actor.user_agent.is_some(), "{rid}: from where, sealed");
    }
    let unmatched = of_request(&stored, "cov-no-route")[0];
    assert_eq!(unmatched.action, "GET (unmatched)");
    let metadata: Value = serde_json::from_str(&unmatched.metadata).unwrap();
    assert_eq!(metadata["path"], "/api/v1/no-such-route", "the path asked for is kept");
    let update = of_request(&stored, "cov-update");
    assert_eq!(update.last().unwrap().action, "PATCH /api/v1/projects/{project_id}", "the route, not the path");

    // The changes have their domain event, just before their request event:
    // the same unit of work. Failed requests have none.
    let domain: Vec<&AuditRecord> =
        stored.iter().filter(|e| e.event_type != "http.request" && e.event_type != "authz.denied").collect();
    // The refusal has its authorization event, with the decision id its
    // request event carries too; allowed requests carry theirs.
    let refused = of_request(&stored, "cov-forbidden");
    assert_eq!(refused.len(), 2, "{refused:#?}");
    assert_eq!((refused[0].event_type.as_str(), refused[0].status), ("authz.denied", Outcome::Denied));
    assert_eq!(refused[0].category, Category::Authorization);
    assert!(refused[0].decision_id.is_some());
    assert_eq!(refused[0].decision_id, refused[1].decision_id, "one decision, in both events");
    assert!(of_request(&stored, "cov-read")[0].decision_id.is_some(), "an allowed request names its decision");
    let expected = [
        ("cov-create", "project.created", "project", project_id.as_str()),
        ("cov-update", "project.updated", "project", project_id.as_str()),
        ("cov-task", "task.created", "task", task_id.as_str()),
    ];
    let got: Vec<(&str, &str, &str, &str)> = domain
        .iter()
        .map(|e| {
            let resource = e.resource.as_ref().unwrap();
            let rid = e.request_id.as_deref().unwrap();
            (rid, e.event_type.as_str(), resource.kind.as_str(), resource.id.as_deref().unwrap())
        })
        .collect();
    assert_eq!(got, expected, "exactly the successful changes have a domain event");
    for event in &domain {
        let rid = event.request_id.as_deref().unwrap();
        let request = requests.iter().find(|r| r.request_id.as_deref() == Some(rid)).unwrap();
        assert_eq!(request.sequence, event.sequence + 1, "{rid}: domain and request event are written together");
        assert_eq!((event.status, event.category), (Outcome::Success, Category::DataAccess));
        assert_eq!(event.actor, request.actor, "{rid}: the same caller, sealed the same way");
    }
    assert_eq!(stored.len(), sent.len() + expected.len() + 1, "nothing else was recorded (one refusal)");
    for probe in ["cov-healthz", "cov-readyz"] {
        assert!(of_request(&stored, probe).is_empty(), "{probe} was recorded");
    }
    verify_intact(&app).await;

    // Personal data is stored sealed only: the names, the address and the
    // user agent appear in no column.
    let text = stored_text(&app).await;
    for clear in [quentin.username.as_str(), dora.username.as_str(), AGENT, "127.0.0.1"] {
        assert!(!text.contains(clear), "{clear:?} is stored in clear");
    }
    // An auditor reading the log gets them opened with the app's sealer.
    let (_, auditor) = app.user("audrey", &[Role::Auditor]).await;
    let page = expect_json(
        app.client
            .get(app.url("/api/v1/audit/events?event_type=http.request&limit=200"))
            .bearer_auth(&auditor)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let views: HashMap<&str, &Value> =
        page["items"].as_array().unwrap().iter().filter_map(|v| v["request_id"].as_str().map(|rid| (rid, v))).collect();
    for s in &sent {
        let actor = &views[s.rid.as_str()]["actor"];
        let rid = &s.rid;
        assert_eq!(actor["user_agent"], AGENT, "{rid}: {actor}");
        assert_eq!(actor["ip_address"], "127.0.0.1", "{rid}: {actor}");
        match &s.who {
            Some((id, name)) => {
                assert_eq!(
                    (actor["user_id"].as_str(), actor["username"].as_str()),
                    (Some(id.as_str()), Some(name.as_str()))
                );
            }
            None => assert_eq!((&actor["user_id"], &actor["username"]), (&Value::Null, &Value::Null), "{rid}"),
        }
    }
}

async fn concurrent_requests_are_each_recorded_once(app: TestApp) {
    let project = app.create_project("Busy").await;
    let path = format!("/api/v1/projects/{}", project["id"].as_str().unwrap());
    let handles: Vec<_> = (0..40)
        .map(|i| {
            let (client, base, token, path) = (app.client.clone(), app.base.clone(), app.token.clone(), path.clone());
            tokio::spawn(async move {
                let rid = format!("busy-{i}");
                let req = match i % 4 {
                    0 => client.get(format!("{base}{path}")).bearer_auth(&token),
                    1 => client.post(format!("{base}{path}/tasks")).bearer_auth(&token).json(&json!({"title": rid})),
                    2 => client.get(format!("{base}/api/v1/projects")),
                    _ => client.get(format!("{base}/api/v1/projects/{}", ProjectId::new())).bearer_auth(&token),
                };
                let status = req.header("x-request-id", &rid).send().await.unwrap().status();
                (rid, status)
            })
        })
        .collect();
    let mut sent = Vec::new();
    for h in handles {
        sent.push(h.await.unwrap());
    }
    let stored = events(&app).await;
    for (rid, status) in &sent {
        let mine = of_request(&stored, rid);
        let request: Vec<_> = mine.iter().filter(|e| e.event_type == "http.request").collect();
        assert_eq!(request.len(), 1, "{rid}");
        let metadata: Value = serde_json::from_str(&request[0].metadata).unwrap();
        assert_eq!(metadata["http_status"], status.as_u16(), "{rid}");
        let created = mine.iter().filter(|e| e.event_type == "task.created").count();
        assert_eq!(created, usize::from(*status == StatusCode::CREATED), "{rid}");
    }
    // 40 requests, 10 tasks created, and the project creation before them
    // (with its request). Ten refusals from one address may also raise a
    // security alert; nothing else is recorded.
    let count = |t: &str| stored.iter().filter(|e| e.event_type == t).count();
    assert_eq!((count("http.request"), count("task.created"), count("project.created")), (41, 10, 1));
    let others: Vec<&str> = stored
        .iter()
        .map(|e| e.event_type.as_str())
        .filter(|t| !["http.request", "task.created", "project.created", "security.alert"].contains(t))
        .collect();
    assert!(others.is_empty(), "unexpected events: {others:?}");
    verify_intact(&app).await;
}

async fn every_change_leaves_its_domain_event(app: TestApp) {
    let (dev, _) = app.user("dev", &[Role::Developer]).await;
    let call = |method: Method, path: &str| app.req(method, path);
    let json_of = async |resp: Response| resp.json::<Value>().await.unwrap();

    let project = json_of(
        send(
            call(Method::POST, "/api/v1/projects")
                .json(&json!({"name": "Changes", "budget": {"amount": "5000", "currency": "USD"}})),
            "chg-project-create",
            StatusCode::CREATED,
        )
        .await,
    )
    .await;
    let p = project["id"].as_str().unwrap().to_owned();
    let pp = format!("/api/v1/projects/{p}");
    send(
        call(Method::PATCH, &pp).header("if-match", "\"1\"").json(&json!({"name": "Changed"})),
        "chg-project-update",
        StatusCode::OK,
    )
    .await;

    let member = format!("{pp}/members/{}", dev.id);
    send(
        call(Method::POST, &format!("{pp}/members")).json(&json!({"user_id": dev.id.to_string(), "kind": "member"})),
        "chg-member-add",
        StatusCode::CREATED,
    )
    .await;
    send(
        call(Method::PATCH, &member).header("if-match", "\"1\"").json(&json!({"kind": "manager"})),
        "chg-member-update",
        StatusCode::OK,
    )
    .await;

    let task = json_of(
        send(
            call(Method::POST, &format!("{pp}/tasks")).json(&json!({"title": "Write it down"})),
            "chg-task-create",
            StatusCode::CREATED,
        )
        .await,
    )
    .await;
    let t = task["id"].as_str().unwrap().to_owned();
    let tp = format!("{pp}/tasks/{t}");
    send(
        call(Method::PATCH, &tp).header("if-match", "\"1\"").json(&json!({"percent_complete": 50})),
        "chg-task-update",
        StatusCode::OK,
    )
    .await;
    send(
        call(Method::POST, &format!("{tp}/assign")).json(&json!({"assignee_id": dev.id.to_string()})),
        "chg-task-assign",
        StatusCode::OK,
    )
    .await;

    let cost = json_of(
        send(
            call(Method::POST, &format!("{pp}/costs"))
                .json(&json!({"entry_date": "2026-03-01", "amount": "12.50", "category": "travel"})),
            "chg-cost-create",
            StatusCode::CREATED,
        )
        .await,
    )
    .await;
    let c = cost["id"].as_str().unwrap().to_owned();
    let cp = format!("{pp}/costs/{c}");
    send(
        call(Method::PATCH, &cp).header("if-match", "\"1\"").json(&json!({"amount": "13.00"})),
        "chg-cost-update",
        StatusCode::OK,
    )
    .await;
    send(call(Method::DELETE, &cp), "chg-cost-delete", StatusCode::NO_CONTENT).await;
    send(call(Method::DELETE, &tp), "chg-task-delete", StatusCode::NO_CONTENT).await;
    send(call(Method::DELETE, &member), "chg-member-remove", StatusCode::NO_CONTENT).await;
    send(call(Method::DELETE, &pp), "chg-project-delete", StatusCode::NO_CONTENT).await;

    let member_id = format!("{p}/{}", dev.id);
    let expected = [
        ("chg-project-create", "project.created", "project", p.as_str(), "create"),
        ("chg-project-update", "project.updated", "project", p.as_str(), "update"),
        ("chg-member-add", "project.member_added", "project_member", member_id.as_str(), "create"),
        ("chg-member-update", "project.member_updated", "project_member", member_id.as_str(), "update"),
        ("chg-task-create", "task.created", "task", t.as_str(), "create"),
        ("chg-task-update", "task.updated", "task", t.as_str(), "update"),
        ("chg-task-assign", "task.assigned", "task", t.as_str(), "assign"),
        ("chg-cost-create", "cost.created", "cost_entry", c.as_str(), "create"),
        ("chg-cost-update", "cost.updated", "cost_entry", c.as_str(), "update"),
        ("chg-cost-delete", "cost.deleted", "cost_entry", c.as_str(), "delete"),
        ("chg-task-delete", "task.deleted", "task", t.as_str(), "delete"),
        ("chg-member-remove", "project.member_removed", "project_member", member_id.as_str(), "delete"),
        ("chg-project-delete", "project.deleted", "project", p.as_str(), "delete"),
    ];
    let stored = events(&app).await;
    assert_eq!(stored.len(), 2 * expected.len(), "one domain and one request event per change");
    for (rid, event_type, kind, id, action) in expected {
        let mine = of_request(&stored, rid);
        assert_eq!(mine.len(), 2, "{rid}: {mine:#?}");
        let (domain, request) = (mine[0], mine[1]);
        assert_eq!(domain.event_type, event_type, "{rid}");
        assert_eq!(domain.action, action, "{rid}");
        assert_eq!(domain.category, Category::DataAccess, "{rid}");
        assert_eq!(domain.status, Outcome::Success, "{rid}");
        assert_eq!(domain.actor.user_id, Some(app.admin.id.to_string()), "{rid}");
        let resource = domain.resource.as_ref().unwrap();
        assert_eq!((resource.kind.as_str(), resource.id.as_deref()), (kind, Some(id)), "{rid}");
        assert_eq!(request.event_type, "http.request", "{rid}");
        assert_eq!(request.sequence, domain.sequence + 1, "{rid}: in the same unit");
        assert_eq!(request.status, Outcome::Success, "{rid}");
        assert_eq!(
            request.resource.as_ref().and_then(|r| r.id.as_deref()),
            Some(id),
            "{rid}: the request names it too"
        );
    }
    verify_intact(&app).await;
}

/// Runs DDL on one of the store's pooled connections. On SQLite the
/// connection first reads the schema afresh: another connection may have
/// changed it, and SQLite checks `CREATE TRIGGER` against its cached copy.
async fn ddl(app: &TestApp, statements: &[String]) {
    let mut conn = app.store.reader().acquire().await.unwrap();
    if app.store.backend() == Backend::Sqlite {
        sqlx::query("SELECT COUNT(*) FROM sqlite_master").fetch_all(&mut *conn).await.unwrap();
    }
    for sql in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone())).execute(&mut *conn).await.unwrap();
    }
}

/// Makes the audit store refuse inserts (of `only` events, or of all).
async fn block_audit(app: &TestApp, only: Option<&str>) {
    let statements = match app.store.backend() {
        Backend::Sqlite => {
            let when = only.map(|t| format!("WHEN NEW.event_type = '{t}' ")).unwrap_or_default();
            vec![format!(
                "CREATE TRIGGER audit_block BEFORE INSERT ON audit_events {when}BEGIN \
                 SELECT RAISE(ABORT, 'audit store unwritable'); END"
            )]
        }
        Backend::Postgres => {
            let when = only.map(|t| format!("WHEN (NEW.event_type = '{t}') ")).unwrap_or_default();
            vec![
                "CREATE OR REPLACE FUNCTION audit_block() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'audit store unwritable'; END $$"
                    .to_owned(),
                format!(
                    "CREATE TRIGGER audit_block BEFORE INSERT ON audit_events FOR EACH ROW {when}\
                     EXECUTE FUNCTION audit_block()"
                ),
            ]
        }
    };
    ddl(app, &statements).await;
}

/// Makes the audit store writable again.
async fn unblock_audit(app: &TestApp) {
    let sql = match app.store.backend() {
        Backend::Sqlite => "DROP TRIGGER audit_block",
        Backend::Postgres => "DROP TRIGGER audit_block ON audit_events",
    };
    ddl(app, &[sql.to_owned()]).await;
}

/// `(name, version)` of the project `id`, read from the table itself.
async fn project_row(app: &TestApp, id: &str) -> Option<(String, i64)> {
    sqlx::query("SELECT name, version FROM projects WHERE id = $1")
        .bind(id)
        .fetch_optional(app.store.reader())
        .await
        .unwrap()
        .map(|r| (r.try_get(0).unwrap(), r.try_get(1).unwrap()))
}

async fn projects_named(app: &TestApp, name: &str) -> i64 {
    sqlx::query("SELECT COUNT(*) FROM projects WHERE name = $1")
        .bind(name)
        .fetch_one(app.store.reader())
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
}

async fn an_unwritable_trail_fails_closed(app: TestApp) {
    let existing = app.create_project("Before the outage").await;
    let id = existing["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/projects/{id}");
    let before = events(&app).await;

    block_audit(&app, None).await;
    let budget = json!({"amount": "10.00", "currency": "USD"});
    let resp = app.post("/api/v1/projects", &json!({"name": "During the outage", "budget": budget})).await;
    assert_problem(resp, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert_eq!(projects_named(&app, "During the outage").await, 0, "the refused creation was not stored");

    let resp = app.patch(&path, "\"1\"", &json!({"name": "Renamed during the outage"})).await;
    assert_problem(resp, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert_eq!(project_row(&app, &id).await, Some(("Before the outage".to_owned(), 1)), "the row is unchanged");

    let resp = app.delete(&path).await;
    assert_problem(resp, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert!(project_row(&app, &id).await.is_some(), "the refused deletion left the project");

    // A read is not answered either: no project data leaves.
    let resp = app.get(&path).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = resp.text().await.unwrap();
    assert!(!body.contains(&id) && !body.contains("Before the outage"), "the read was answered: {body}");
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["type"], "urn:autopmo:problem:unavailable");
    let resp = app.get("/api/v1/projects").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(!resp.text().await.unwrap().contains(&id));
    // Nor is a refusal or an error.
    assert_problem(
        app.client.get(app.url(&path)).send().await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
    assert_problem(app.get("/api/v1/no-such-route").await, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    // The probes are not audited: the process is alive.
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(events(&app).await, before, "nothing was recorded");
    unblock_audit(&app).await;

    // Only the request event refused: the change and its domain event,
    // which could be written, are undone with it.
    block_audit(&app, Some("http.request")).await;
    let resp = app.post("/api/v1/projects", &json!({"name": "Half recorded", "budget": budget})).await;
    assert_problem(resp, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert_eq!(projects_named(&app, "Half recorded").await, 0);
    let resp = app.patch(&path, "\"1\"", &json!({"name": "Half renamed"})).await;
    assert_problem(resp, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert_eq!(project_row(&app, &id).await, Some(("Before the outage".to_owned(), 1)));
    assert_eq!(events(&app).await, before, "no domain event without its request event");
    unblock_audit(&app).await;

    // Writable again: the next requests succeed and continue the chain with no gap.
    let resp = app.patch(&path, "\"1\"", &json!({"name": "After the outage"})).await;
    assert_eq!(expect_json(resp, StatusCode::OK).await["version"], 2);
    app.create_project("Also after").await;
    assert_eq!(app.get_json(&path).await["name"], "After the outage");
    let after = events(&app).await;
    assert_eq!(&after[..before.len()], &before[..], "what was recorded before is untouched");
    assert_eq!(after[before.len()].prev_hash, before.last().unwrap().hash, "the chain continues where it stopped");
    let types: Vec<&str> = after[before.len()..].iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["project.updated", "http.request", "project.created", "http.request", "http.request"]);
    verify_intact(&app).await;
}

api_tests!(
    every_request_is_recorded_once_with_its_outcome,
    concurrent_requests_are_each_recorded_once,
    every_change_leaves_its_domain_event,
    an_unwritable_trail_fails_closed,
);
