//! The list parameters the document describes are the ones the server
//! takes: every value a `limit` or `sort` schema admits is answered, every
//! value it refuses is refused (the API fuzzer sends both kinds and fails a
//! run on either mismatch).

use crate::helpers::*;
use crate::openapi::document;
use crate::protocol::fill;
use reqwest::StatusCode;
use serde_json::Value;

/// The query parameter `name` of `op`, if it has one.
fn param<'a>(op: &'a Value, name: &str) -> Option<&'a Value> {
    op["parameters"].as_array()?.iter().find(|p| p["in"] == "query" && p["name"] == name)
}

/// The names a sort pattern of the form `^-?(a|b|c)$` admits.
fn sort_names(pattern: &str) -> Vec<String> {
    let inner = pattern.strip_prefix("^-?(").and_then(|p| p.strip_suffix(")$"));
    let inner = inner.unwrap_or_else(|| panic!("sort pattern {pattern} is not ^-?(a|b)$"));
    inner.split('|').map(str::to_owned).collect()
}

/// The status of `GET path?query`, and the URL for the message.
async fn status(app: &TestApp, path: &str, query: &str) -> (StatusCode, String) {
    let url = format!("{path}?{query}");
    (app.get(&url).await.status(), url)
}

async fn list_parameters_admit_what_the_server_takes(app: TestApp) {
    let (project, _) = seed(&app).await;
    let project_id = project.rsplit('/').next().unwrap().to_owned();
    let ids = [("project_id", project_id)];
    let doc = document();
    let mut lists = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        let Some(op) = item.get("get") else { continue };
        let Some(limit) = param(op, "limit") else { continue };
        lists += 1;
        let path = fill(template, &ids);
        assert_eq!((limit["schema"]["minimum"].as_u64(), limit["schema"]["maximum"].as_u64()), (Some(1), Some(200)));
        for ok in ["limit=1", "limit=200"] {
            let (got, url) = status(&app, &path, ok).await;
            assert_eq!(got, StatusCode::OK, "{url}");
        }
        for bad in ["limit=0", "limit=201"] {
            let (got, url) = status(&app, &path, bad).await;
            assert_eq!(got, StatusCode::BAD_REQUEST, "{url}");
        }
        let Some(sort) = param(op, "sort") else { continue };
        let pattern = sort["schema"]["pattern"].as_str().unwrap_or_else(|| panic!("{template}: sort has no pattern"));
        for name in sort_names(pattern) {
            for value in [name.clone(), format!("-{name}")] {
                let (got, url) = status(&app, &path, &format!("sort={value}")).await;
                assert_eq!(got, StatusCode::OK, "{url}");
            }
        }
        for bad in ["sort=", "sort=--created_at", "sort=Created_at", "sort=nope"] {
            let (got, url) = status(&app, &path, bad).await;
            assert_eq!(got, StatusCode::BAD_REQUEST, "{url}");
        }
    }
    assert!(lists >= 9, "only {lists} lists have a limit");
    // Exports ignore `limit`, but refuse a value the document refuses.
    let (got, url) = status(&app, "/api/v1/audit/events", "format=jsonl&limit=0").await;
    assert_eq!(got, StatusCode::BAD_REQUEST, "{url}");
}

api_tests!(list_parameters_admit_what_the_server_takes);
