//! Crash safety: SIGKILL the server while clients write, many times over,
//! then check that every write acknowledged with 2xx survived and that the
//! database passes its integrity check. Runs on SQLite and PostgreSQL.

use crate::server::{seed_user, start};
use autopmo_domain::{ProjectId, TaskId};
use autopmo_store::{projects, tasks};
use autopmo_test_support::{TestDb, backend_tests};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ROUNDS: usize = 10;
const WRITERS: usize = 8;

#[derive(Default)]
struct Acked {
    projects: Vec<ProjectId>,
    tasks: Vec<(ProjectId, TaskId)>,
}

async fn killed_during_writes_loses_nothing(db: TestDb) {
    let data = tempfile::tempdir().unwrap();
    let (store, _user, token) = seed_user(&db).await;
    let acked = Arc::new(Mutex::new(Acked::default()));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let mut home: Option<ProjectId> = None;

    for round in 0..ROUNDS {
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
            let body: serde_json::Value = resp.json().await.unwrap();
            home = Some(body["id"].as_str().unwrap().parse().unwrap());
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
                        let Ok(v) = resp.json::<serde_json::Value>().await else {
                            return;
                        };
                        acked.lock().unwrap().projects.push(v["id"].as_str().unwrap().parse().unwrap());
                    } else {
                        let body = json!({"title": name, "estimate_hours": "1.5"});
                        let url = format!("{base}/api/v1/projects/{home_id}/tasks");
                        let Ok(resp) = client.post(url).bearer_auth(&token).json(&body).send().await else {
                            return;
                        };
                        if resp.status() != 201 {
                            return;
                        }
                        let Ok(v) = resp.json::<serde_json::Value>().await else {
                            return;
                        };
                        acked.lock().unwrap().tasks.push((home_id, v["id"].as_str().unwrap().parse().unwrap()));
                    }
                }
            }));
        }
        // Let the writers get going, then kill -9 at a different moment each round.
        tokio::time::sleep(Duration::from_millis(150 + 37 * round as u64)).await;
        server.child.start_kill().unwrap();
        let _ = server.child.wait().await;
        for w in writers {
            w.await.unwrap();
        }
    }

    let acked = std::mem::take(&mut *acked.lock().unwrap());
    eprintln!("{} projects and {} tasks acknowledged over {ROUNDS} kills", acked.projects.len(), acked.tasks.len());
    assert!(
        acked.projects.len() + acked.tasks.len() >= ROUNDS,
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
}

backend_tests!(killed_during_writes_loses_nothing);
