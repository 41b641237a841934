//! Crash safety: SIGKILL the server while clients write, many times over,
//! then check that every write acknowledged with 2xx survived with its audit
//! events, that the database passes its integrity check, and that the audit
//! chain verifies, including against checkpoints signed between the kills.
//! Runs on SQLite and PostgreSQL.
//!
//! Ten kills per backend by default; `AUTOPMO_TEST_CRASH_ROUNDS=N` asks for
//! more (the reliability harness, `scripts/harness.sh`, runs 20 or more).

use crate::server::{seed_user, start};
use autopmo_crypto::Keyring;
use autopmo_domain::{ProjectId, SystemClock, TaskId};
use autopmo_store::{audit, projects, tasks};
use autopmo_test_support::{TestDb, backend_tests};
use autopmo_trail::AuditTrail;
use autopmo_trail::verify::{self, Range};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Kills per backend unless `AUTOPMO_TEST_CRASH_ROUNDS` says otherwise.
const DEFAULT_ROUNDS: usize = 10;
const WRITERS: usize = 8;

/// How many times to kill the server: `AUTOPMO_TEST_CRASH_ROUNDS`, or
/// [`DEFAULT_ROUNDS`]. (`AUTOPMO_TEST_*` names are never read as server
/// configuration, so the variable cannot upset `autopmo serve`.)
fn rounds() -> usize {
    match std::env::var("AUTOPMO_TEST_CRASH_ROUNDS") {
        Ok(raw) => match raw.trim().parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => panic!("AUTOPMO_TEST_CRASH_ROUNDS must be a whole number of at least 1, not {raw:?}"),
        },
        Err(_) => DEFAULT_ROUNDS,
    }
}

#[derive(Default)]
struct Acked {
    projects: Vec<ProjectId>,
    tasks: Vec<(ProjectId, TaskId)>,
    /// The `X-Request-Id` echoed with each acknowledgement.
    request_ids: Vec<String>,
}

/// The request id a response was answered under.
fn request_id(resp: &reqwest::Response) -> String {
    resp.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

async fn killed_during_writes_loses_nothing(db: TestDb) {
    let data = tempfile::tempdir().unwrap();
    let (store, _user, token) = seed_user(&db).await;
    let acked = Arc::new(Mutex::new(Acked::default()));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let mut home: Option<ProjectId> = None;
    let mut trail: Option<AuditTrail> = None;
    let mut checkpoints = 0;
    let rounds = rounds();

    for round in 0..rounds {
        let mut server = start(&db, data.path()).await;
        let base = server.base.clone();
        if home.is_none() {
            let resp = client
                .post(format!("{base}/api/v1/projects"))
                .bearer_auth(&token)
                .json(&json!({"name": "home", "budget": {"amount": "1000.00", "currency": "USD"}}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 201);
            let rid = request_id(&resp);
            let body: serde_json::Value = resp.json().await.unwrap();
            let id: ProjectId = body["id"].as_str().unwrap().parse().unwrap();
            let mut acked = acked.lock().unwrap();
            acked.projects.push(id);
            acked.request_ids.push(rid);
            home = Some(id);
        }
        let home_id = home.unwrap();
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let (client, base, token, acked) = (client.clone(), base.clone(), token.clone(), Arc::clone(&acked));
            writers.push(tokio::spawn(async move {
                for i in 0.. {
                    let name = format!("r{round}-w{w}-{i}");
                    if w % 2 == 0 {
                        let body = json!({"name": name, "budget": {"amount": "10.00", "currency": "USD"}});
                        let Ok(resp) =
                            client.post(format!("{base}/api/v1/projects")).bearer_auth(&token).json(&body).send().await
                        else {
                            return;
                        };
                        if resp.status() != 201 {
                            return;
                        }
                        let rid = request_id(&resp);
                        let Ok(v) = resp.json::<serde_json::Value>().await else {
                            return;
                        };
                        let mut acked = acked.lock().unwrap();
                        acked.projects.push(v["id"].as_str().unwrap().parse().unwrap());
                        acked.request_ids.push(rid);
                    } else {
                        let body = json!({"title": name, "estimate_hours": "1.5"});
                        let url = format!("{base}/api/v1/projects/{home_id}/tasks");
                        let Ok(resp) = client.post(url).bearer_auth(&token).json(&body).send().await else {
                            return;
                        };
                        if resp.status() != 201 {
                            return;
                        }
                        let rid = request_id(&resp);
                        let Ok(v) = resp.json::<serde_json::Value>().await else {
                            return;
                        };
                        let mut acked = acked.lock().unwrap();
                        acked.tasks.push((home_id, v["id"].as_str().unwrap().parse().unwrap()));
                        acked.request_ids.push(rid);
                    }
                }
            }));
        }
        // Let the writers get going, then kill -9 at a different moment each
        // round (cycling through 20 moments, from 150 ms to 0.85 s).
        tokio::time::sleep(Duration::from_millis(150 + 37 * (round % 20) as u64)).await;
        server.child.start_kill().unwrap();
        let _ = server.child.wait().await;
        for w in writers {
            w.await.unwrap();
        }
        // Between kills, sign a checkpoint of the chain as the crash left it
        // (with the keys the server made): later rounds must extend exactly
        // this chain.
        let trail = trail.get_or_insert_with(|| {
            let keys = Keyring::open_or_create(&data.path().join("keys")).expect("the server's keyring");
            AuditTrail::new(store.clone(), Arc::new(keys), Arc::new(SystemClock))
        });
        if autopmo_trail::checkpoint::take(trail).await.unwrap().is_some() {
            checkpoints += 1;
        }
    }

    let acked = std::mem::take(&mut *acked.lock().unwrap());
    eprintln!("{} projects and {} tasks acknowledged over {rounds} kills", acked.projects.len(), acked.tasks.len());
    assert!(
        acked.projects.len() + acked.tasks.len() >= rounds,
        "the writers got too few writes acknowledged to prove anything"
    );
    let mut conn = store.read().await.unwrap();
    for id in &acked.projects {
        projects::get(&mut conn, *id).await.unwrap_or_else(|e| panic!("acknowledged project {id} lost: {e}"));
    }
    for (project, id) in &acked.tasks {
        tasks::get(&mut conn, *project, *id).await.unwrap_or_else(|e| panic!("acknowledged task {id} lost: {e}"));
    }
    drop(conn);
    let problems = store.integrity_check().await.unwrap();
    assert!(problems.is_empty(), "integrity check failed: {problems:?}");

    // Every acknowledged change has its domain event and its request event.
    let mut conn = store.read().await.unwrap();
    let events = audit::range(&mut conn, i64::MIN, i64::MAX, 10_000_000).await.unwrap();
    drop(conn);
    let created: HashSet<(&str, &str)> =
        events.iter().filter_map(|e| Some((e.event_type.as_str(), e.resource.as_ref()?.id.as_deref()?))).collect();
    for id in &acked.projects {
        let id = id.to_string();
        assert!(
            created.contains(&("project.created", id.as_str())),
            "acknowledged project {id} has no project.created event"
        );
    }
    for (_, id) in &acked.tasks {
        let id = id.to_string();
        assert!(created.contains(&("task.created", id.as_str())), "acknowledged task {id} has no task.created event");
    }
    let by_request: HashMap<&str, Vec<&str>> = events.iter().fold(HashMap::new(), |mut m, e| {
        if let Some(rid) = e.request_id.as_deref() {
            m.entry(rid).or_default().push(e.event_type.as_str());
        }
        m
    });
    for rid in &acked.request_ids {
        let types = by_request.get(rid.as_str()).unwrap_or_else(|| panic!("acknowledged request {rid} left no event"));
        assert_eq!(types.iter().filter(|t| **t == "http.request").count(), 1, "request {rid}: {types:?}");
        assert_eq!(types.len(), 2, "request {rid}: its domain and request events: {types:?}");
    }
    for e in events.iter().filter(|e| e.event_type == "http.request") {
        let status = serde_json::from_str::<serde_json::Value>(&e.metadata).unwrap()["http_status"].as_u64();
        assert!(status.is_some(), "request event {} has no http_status", e.sequence);
    }

    // The chain survived every kill: every link, and every checkpoint signed
    // between the kills, verify.
    let keys = Keyring::open_or_create(&data.path().join("keys")).unwrap().public_keys();
    let report = verify::verify(&store, &keys, Range::default(), |_, _| {})
        .await
        .unwrap_or_else(|e| panic!("the audit chain does not verify after {rounds} kills: {e}"));
    assert_eq!(report.checked, events.len() as u64);
    assert!(checkpoints >= 1, "no checkpoint could be signed between the kills");
    let mut conn = store.read().await.unwrap();
    let stored = audit::checkpoints(&mut conn).await.unwrap().len();
    drop(conn);
    assert!(stored >= checkpoints, "the checkpoints signed between the kills are kept");
    assert_eq!(report.checkpoints, stored, "every signed checkpoint matches its record");
    eprintln!("audit chain intact: {} records, {checkpoints} checkpoints", report.checked);
}

backend_tests!(killed_during_writes_loses_nothing);
