//! `autopmo policy` and policies in a running server: checked with line
//! numbers, shown as the §3.1 table, fail closed at start-up, reloaded on
//! SIGHUP (audited).

use crate::commands::run;
use crate::server::command;
use autopmo_domain::Role;
use autopmo_store::{Store, StoreOptions};
use autopmo_test_support::TestDb;

const VALID: &str = "policies:
  - name: admin_all
    description: administrators
    effect: allow
    subjects:
      roles: [system_admin]
    resources:
      types: [\"*\"]
    actions: [\"*\"]
";

/// Two policies: a bad role on line 6, a bad condition on line 18.
const INVALID: &str = "policies:
  - name: admin_all
    description: administrators
    effect: allow
    subjects:
      roles: [system_administrator]
    resources:
      types: [project]
    actions: [read]
  - name: owners
    description: owners
    effect: allow
    subjects:
      roles: [project_manager]
    resources:
      types: [project]
    conditions:
      - project.owner_id = user.id
    actions: [read]
";

#[tokio::test]
async fn check_reports_every_error_with_its_line() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&good, VALID).unwrap();
    std::fs::write(&bad, INVALID).unwrap();
    let (ok, stdout, stderr) = run(command(&db, dir.path()).args(["policy", "check"]).arg(&good)).await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("ok, 1 policies"), "{stdout}");
    let (ok, _, stderr) = run(command(&db, dir.path()).args(["policy", "check"]).arg(&bad)).await;
    assert!(!ok);
    assert!(stderr.contains("bad.yaml:6:"), "the unknown role's line: {stderr}");
    assert!(stderr.contains("bad.yaml:18:"), "the bad condition's line: {stderr}");
}

#[tokio::test]
async fn show_prints_the_effective_matrix() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = run(command(&db, dir.path()).args(["policy", "show"])).await;
    assert!(ok, "{stderr}");
    for text in ["system_admin", "ml_engineer", "projects:create", "models:deploy", "audit:read", "pm_own_projects"] {
        assert!(stdout.contains(text), "{text} missing:\n{stdout}");
    }
}

#[tokio::test]
async fn an_invalid_policy_file_stops_the_server() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, INVALID).unwrap();
    let mut cmd = command(&db, dir.path());
    cmd.env("AUTOPMO_AUTHORIZATION__POLICY_FILE", &bad).arg("serve");
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), run(&mut cmd)).await;
    let (ok, _, stderr) = out.expect("the server must stop, not serve");
    assert!(!ok);
    assert!(stderr.contains("bad.yaml:6:"), "{stderr}");
}

async fn seed_admin(db: &TestDb) -> String {
    let (store, _, token) = crate::server::seed_user_as(db, "policy-admin", &[Role::SystemAdmin]).await;
    store.close().await;
    token
}

#[tokio::test]
async fn sighup_reloads_the_policies_and_a_broken_file_changes_nothing() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let token = seed_admin(&db).await;
    let file = dir.path().join("policies.yaml");
    std::fs::write(&file, VALID).unwrap();
    // The server reads the file named in its environment.
    let mut server = {
        let mut cmd = command(&db, dir.path());
        cmd.env("AUTOPMO_AUTHORIZATION__POLICY_FILE", &file);
        crate::server::start_with(cmd).await
    };
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let policies = || async {
        let resp = client.get(format!("{base}/api/v1/policies")).bearer_auth(&token).send().await;
        resp.unwrap().json::<serde_json::Value>().await.unwrap()
    };
    let before = policies().await;
    assert_eq!(before["policies"].as_array().unwrap().len(), 1, "{before}");
    let pid = server.child.id().unwrap().to_string();
    let hup = || std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap();

    // Broken: the policies in force stay.
    std::fs::write(&file, INVALID).unwrap();
    assert!(hup().success());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(policies().await["digest"], before["digest"]);
    // Fixed, with a second policy: reloaded.
    std::fs::write(&file, format!("{VALID}{}", VALID.replace("policies:\n", "").replace("admin_all", "second")))
        .unwrap();
    assert!(hup().success());
    let mut after = policies().await;
    for _ in 0..50 {
        if after["digest"] != before["digest"] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        after = policies().await;
    }
    assert_eq!(after["policies"].as_array().unwrap().len(), 2, "{after}");
    server.child.kill().await.unwrap();

    // Both attempts are in the audit trail.
    let store = Store::connect(&StoreOptions::new(db.url.clone())).await.unwrap();
    let mut conn = store.read().await.unwrap();
    let events = autopmo_store::audit::range(&mut conn, i64::MIN, i64::MAX, 100_000).await.unwrap();
    let reloads: Vec<&str> =
        events.iter().map(|e| e.event_type.as_str()).filter(|t| t.starts_with("authz.policies")).collect();
    assert_eq!(reloads, ["authz.policies_reload_failed", "authz.policies_reloaded"]);
}

/// A TOTP secret as an authenticator app reads it.
pub fn unbase32(text: &str) -> Vec<u8> {
    autopmo_test_support::base32_decode(text).unwrap()
}
