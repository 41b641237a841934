//! The administration commands, as an operator runs them.

use crate::server::{binary, command, start};
use autopmo_test_support::TestDb;
use std::process::Stdio;

pub async fn run(cmd: &mut tokio::process::Command) -> (bool, String, String) {
    let out = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).output().await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn help_lists_the_subcommands() {
    let out = std::process::Command::new(binary()).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["serve", "migrate", "config", "user", "token"] {
        assert!(text.contains(sub), "--help does not list {sub}:\n{text}");
    }
}

#[tokio::test]
async fn config_show_redacts_the_database_password() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(&db, dir.path());
    cmd.env("AUTOPMO_DATABASE_URL", "postgres://pmo:hunter2-secret@db.internal:5432/pmo").args(["config", "show"]);
    let (ok, stdout, _) = run(&mut cmd).await;
    assert!(ok);
    assert!(stdout.contains("postgres://pmo:***@db.internal:5432/pmo"), "{stdout}");
    assert!(!stdout.contains("hunter2"), "{stdout}");
}

#[tokio::test]
async fn unknown_keys_and_bad_values_stop_startup_naming_the_key() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("autopmo.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\n[http]\nmax_body_byte = 10\n").unwrap();
    let mut cmd = command(&db, dir.path());
    cmd.arg("--config").arg(&file).arg("serve");
    let (ok, _, stderr) = run(&mut cmd).await;
    assert!(!ok);
    assert!(stderr.contains("http.max_body_byte") && stderr.contains("autopmo.toml"), "{stderr}");

    let mut cmd = command(&db, dir.path());
    cmd.env("AUTOPMO_DATABASE__MAX_CONNECTIONS", "lots").arg("serve");
    let (ok, _, stderr) = run(&mut cmd).await;
    assert!(!ok);
    assert!(
        stderr.contains("database.max_connections") && stderr.contains("AUTOPMO_DATABASE__MAX_CONNECTIONS"),
        "{stderr}"
    );
}

#[tokio::test]
async fn embedded_defaults_create_a_private_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested").join("autopmo-data");
    let db = TestDb::sqlite();
    let mut cmd = command(&db, &data);
    cmd.env_remove("AUTOPMO_DATABASE_URL").arg("migrate");
    let (ok, _, stderr) = run(&mut cmd).await;
    assert!(ok, "{stderr}");
    assert!(stderr.contains(&format!("version {}", autopmo_store::migrate::latest_version())), "{stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let db_mode = std::fs::metadata(data.join("autopmo.db")).unwrap().permissions().mode() & 0o777;
        assert_eq!(db_mode, 0o600);
    }
    // Migrating again changes nothing.
    let mut cmd = command(&db, &data);
    cmd.env_remove("AUTOPMO_DATABASE_URL").arg("migrate");
    let (ok, _, stderr) = run(&mut cmd).await;
    assert!(ok && stderr.contains("current"), "{stderr}");
}

#[tokio::test]
async fn a_database_from_a_newer_autopmo_is_refused() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = run(command(&db, dir.path()).arg("migrate")).await;
    assert!(ok, "{stderr}");
    let store = autopmo_store::Store::connect(&autopmo_store::StoreOptions::new(db.url.clone())).await.unwrap();
    sqlx::query(
        "INSERT INTO autopmo_schema_migrations (version, name, checksum, applied_at) VALUES (9999, 'future', 'x', 'x')",
    )
    .execute(store.reader())
    .await
    .unwrap();
    store.close().await;
    for sub in ["migrate", "serve"] {
        let (ok, _, stderr) = run(command(&db, dir.path()).arg(sub)).await;
        assert!(!ok, "{sub} accepted a newer schema");
        assert!(stderr.contains("newer than this AutoPMO"), "{sub}: {stderr}");
    }
}

#[tokio::test]
async fn users_and_tokens_from_the_cli_work_against_the_api() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = run(command(&db, dir.path()).args([
        "user",
        "create",
        "--username",
        "Pat",
        "--email",
        "pat@example.org",
        "--role",
        "project_manager",
    ]))
    .await;
    assert!(ok, "{stderr}");
    let user_id = stdout.trim().to_owned();
    let (ok, _, stderr) = run(command(&db, dir.path()).args([
        "user",
        "create",
        "--username",
        "pat2",
        "--email",
        "PAT@example.org",
        "--role",
        "developer",
    ]))
    .await;
    assert!(!ok && stderr.contains("already exists"), "{stderr}");
    let (ok, _, stderr) = run(command(&db, dir.path()).args([
        "user",
        "create",
        "--username",
        "x",
        "--email",
        "x@example.org",
        "--role",
        "developer",
    ]))
    .await;
    assert!(!ok && stderr.contains("--username"), "{stderr}");
    let (ok, stdout, _) = run(command(&db, dir.path()).args(["user", "list"])).await;
    assert!(ok && stdout.contains("pat") && stdout.contains("project_manager"), "{stdout}");
    let (ok, token, stderr) = run(command(&db, dir.path()).args(["token", "create", "--user", "pat"])).await;
    assert!(ok, "{stderr}");
    let token = token.trim().to_owned();
    assert!(token.starts_with("apmo_pat_"));

    let server = start(&db, dir.path()).await;
    let me: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/me", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], user_id);
    assert_eq!(me["username"], "pat");
}

async fn events_of_type(db: &TestDb, event_type: &str) -> Vec<autopmo_audit::AuditRecord> {
    let store = autopmo_store::Store::connect(&autopmo_store::StoreOptions::new(db.url.clone())).await.unwrap();
    let mut conn = store.read().await.unwrap();
    let filter = autopmo_store::audit::AuditFilter { event_type: Some(event_type.to_owned()), ..Default::default() };
    let found = autopmo_store::audit::list(&mut conn, &filter, None, 100).await.unwrap();
    drop(conn);
    store.close().await;
    found
}

#[tokio::test]
async fn creating_an_administrator_is_audited_and_raises_an_alert() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = run(command(&db, dir.path()).args([
        "user",
        "create",
        "--username",
        "root2",
        "--email",
        "root2@example.org",
        "--role",
        "system_admin",
    ]))
    .await;
    assert!(ok, "{stderr}");
    let created = events_of_type(&db, "user.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].resource.as_ref().unwrap().id.as_deref(), Some(stdout.trim()));
    let alerts = events_of_type(&db, "security.alert").await;
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].metadata.contains("privileged_role_granted"), "{}", alerts[0].metadata);
    // The operator's account name is personal data: sealed, not in clear.
    assert!(created[0].actor.username.as_deref().is_some_and(|u| u.starts_with("v1.")));
}

#[tokio::test]
async fn a_broken_chain_fails_verify_and_raises_an_alert() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    for name in ["ann", "bob"] {
        let email = format!("{name}@example.org");
        let (ok, _, stderr) = run(command(&db, dir.path()).args([
            "user",
            "create",
            "--username",
            name,
            "--email",
            &email,
            "--role",
            "developer",
        ]))
        .await;
        assert!(ok, "{stderr}");
    }
    let (ok, _, stderr) = run(command(&db, dir.path()).args(["audit", "verify"])).await;
    assert!(ok && stderr.contains("intact"), "{stderr}");
    let store = autopmo_store::Store::connect(&autopmo_store::StoreOptions::new(db.url.clone())).await.unwrap();
    sqlx::query("UPDATE audit_events SET action = 'tampered' WHERE sequence = 1")
        .execute(store.reader())
        .await
        .unwrap();
    store.close().await;
    let (ok, _, stderr) = run(command(&db, dir.path()).args(["audit", "verify"])).await;
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("AUDIT CHAIN BROKEN") && stderr.contains("record 1"), "{stderr}");
    let alerts = events_of_type(&db, "security.alert").await;
    assert!(alerts.iter().any(|a| a.metadata.contains("audit_chain_verification_failed")), "{alerts:?}");
}

async fn run_with_stdin(cmd: &mut tokio::process::Command, input: &str) -> (bool, String, String) {
    use tokio::io::AsyncWriteExt;
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn passwords_from_stdin_follow_the_policy_and_accounts_can_be_disabled() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let create = [
        "user",
        "create",
        "--username",
        "carol",
        "--email",
        "carol@example.org",
        "--role",
        "developer",
        "--password-stdin",
    ];
    let (ok, _, stderr) = run_with_stdin(command(&db, dir.path()).args(create), "password123\n").await;
    assert!(!ok, "a weak password was accepted");
    assert!(!stderr.contains("password123"), "the error repeats the password: {stderr}");
    let (ok, _, stderr) =
        run_with_stdin(command(&db, dir.path()).args(create), "a long and unusual passphrase 93\n").await;
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = run(command(&db, dir.path()).args(["user", "reset-password", "--user", "carol"])).await;
    assert!(ok, "{stderr}");
    assert!(stdout.trim().len() >= 20 && stderr.contains("one-time password"), "{stdout} {stderr}");
    let (ok, token, _) = run(command(&db, dir.path()).args(["token", "create", "--user", "carol"])).await;
    assert!(ok);
    let (ok, _, stderr) = run(command(&db, dir.path()).args(["user", "disable", "--user", "carol"])).await;
    assert!(ok && stderr.contains("disabled carol"), "{stderr}");
    let server = start(&db, dir.path()).await;
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/me", server.base))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "a disabled user's token still works");
    let (ok, _, stderr) = run(command(&db, dir.path()).args(["user", "unlock", "--user", "nobody"])).await;
    assert!(!ok && stderr.contains("nobody"), "{stderr}");
}

#[tokio::test]
async fn the_first_start_creates_an_administrator_once() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(&db, dir.path()).arg("serve").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stderr));
    let mut seen = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        let done = line.starts_with("AutoPMO listening on");
        seen.push(line);
        if done {
            break;
        }
    }
    child.start_kill().unwrap();
    let _ = child.wait().await;
    let text = seen.join("\n");
    assert!(text.contains("first administrator") && text.contains("username: admin"), "{text}");
    let password = seen.iter().find_map(|l| l.trim().strip_prefix("one-time password: ")).unwrap();
    assert!(password.len() >= 20);
    // A second start does not create (or print) another.
    let server = start(&db, dir.path()).await;
    drop(server);
    let (ok, stdout, _) = run(command(&db, dir.path()).args(["user", "list"])).await;
    assert!(ok);
    assert_eq!(stdout.lines().filter(|l| l.contains("system_admin")).count(), 1, "{stdout}");
}

#[tokio::test]
async fn the_first_administrator_sets_its_password_over_the_api() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(&db, dir.path()).arg("serve").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stderr));
    let (mut password, mut base) = (None, None);
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(p) = line.trim().strip_prefix("one-time password: ") {
            password = Some(p.to_owned());
        }
        if let Some(rest) = line.strip_prefix("AutoPMO listening on ") {
            base = Some(rest.split_whitespace().next().unwrap().to_owned());
            break;
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let (password, base) = (password.expect("a one-time password"), base.expect("listening"));
    let client = reqwest::Client::new();
    let login = |password: String| {
        client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"username": "admin", "password": password}))
            .send()
    };
    // Login names the way out, and it works without the CLI.
    let refused = login(password.clone()).await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("POST /api/v1/auth/password"));
    let new_password = "a fresh and unusual passphrase 61";
    let changed = client
        .post(format!("{base}/api/v1/auth/password"))
        .json(&serde_json::json!({"username": "admin", "current_password": password, "new_password": new_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204, "{}", changed.text().await.unwrap());
    assert_eq!(login(password).await.unwrap().status(), 401, "the one-time password is spent");
    let ok = login(new_password.to_owned()).await.unwrap();
    assert_eq!(ok.status(), 200);
    // An administrator configures an authenticator before anything else (§2.2).
    let pending = ok.json::<serde_json::Value>().await.unwrap();
    assert_eq!(pending["required_action"], "CONFIGURE_TOTP", "{pending}");
    let offer = client
        .post(format!("{base}/api/v1/auth/mfa/enroll-totp"))
        .json(&serde_json::json!({"mfa_token": pending["mfa_token"]}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let secret = crate::policy::unbase32(offer["secret"].as_str().unwrap());
    let now = autopmo_domain::Clock::now(&autopmo_domain::SystemClock).unix_timestamp();
    let code = autopmo_identity::mfa::totp::code_at(&secret, &Default::default(), now);
    let verified = client
        .post(format!("{base}/api/v1/auth/mfa/verify"))
        .json(&serde_json::json!({"mfa_token": pending["mfa_token"], "method": "totp", "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 200);
    let access = verified.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let me = client.get(format!("{base}/api/v1/me")).bearer_auth(access).send().await.unwrap();
    assert_eq!(me.status(), 200);
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

#[tokio::test]
async fn a_keycloak_realm_export_configures_brute_force_protection() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let realm = dir.path().join("realm.json");
    std::fs::write(
        &realm,
        r#"{"realm": "autopmo", "enabled": true, "sslRequired": "external", "registrationAllowed": true,
            "loginWithEmailAllowed": true, "duplicateEmailsAllowed": false, "resetPasswordAllowed": true,
            "editUsernameAllowed": false, "bruteForceProtected": true, "permanentLockout": false,
            "maxFailureWaitSeconds": 900, "minimumQuickLoginWaitSeconds": 60, "waitIncrementSeconds": 600,
            "quickLoginCheckMilliSeconds": 1000, "maxDeltaTimeSeconds": 43200, "failureFactor": 3,
            "smtpServer": {"host": "mail.example.org"}}"#,
    )
    .unwrap();
    let (ok, _, stderr) = run(command(&db, dir.path()).args(["realm", "import"]).arg(&realm)).await;
    assert!(ok, "{stderr}");
    assert!(stderr.contains("applied   failureFactor = 3"), "{stderr}");
    assert!(stderr.contains("refused   registrationAllowed"), "{stderr}");
    assert!(stderr.contains("ignored   smtpServer"), "{stderr}");
    assert!(stderr.contains("holds     duplicateEmailsAllowed"), "{stderr}");
    let imported = events_of_type(&db, "realm.imported").await;
    assert_eq!(imported.len(), 1);
    assert!(imported[0].metadata.contains("failureFactor"), "{}", imported[0].metadata);
    // An invalid value changes nothing.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"failureFactor": 0}"#).unwrap();
    let (ok, _, stderr) = run(command(&db, dir.path()).args(["realm", "import"]).arg(&bad)).await;
    assert!(!ok && stderr.contains("nothing changed") && stderr.contains("failureFactor"), "{stderr}");
    // The server enforces the imported factor: three failures lock the account.
    let create = [
        "user",
        "create",
        "--username",
        "gil",
        "--email",
        "gil@example.org",
        "--role",
        "developer",
        "--password-stdin",
    ];
    let (ok, _, stderr) =
        run_with_stdin(command(&db, dir.path()).args(create), "a long and unusual passphrase 93\n").await;
    assert!(ok, "{stderr}");
    let server = start(&db, dir.path()).await;
    let client = reqwest::Client::new();
    let login = |password: &'static str| {
        client
            .post(format!("{}/api/v1/auth/login", server.base))
            .json(&serde_json::json!({"username": "gil", "password": password}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(login("wrong wrong wrong").await.unwrap().status(), 401);
    }
    assert_eq!(login("a long and unusual passphrase 93").await.unwrap().status(), 401, "locked after 3");
}

#[tokio::test]
async fn weak_password_settings_are_refused_at_start() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let limit = std::time::Duration::from_secs(60);
    let mut weak_hash = command(&db, dir.path());
    weak_hash.env("AUTOPMO_PASSWORDS__MEMORY_KIB", "1024").arg("serve");
    let (ok, _, stderr) = tokio::time::timeout(limit, run(&mut weak_hash)).await.expect("serve must refuse to start");
    assert!(!ok && stderr.contains("passwords.memory_kib"), "{stderr}");
    let mut short = command(&db, dir.path());
    short.env("AUTOPMO_PASSWORDS__MIN_LENGTH", "4").arg("serve");
    let (ok, _, stderr) = tokio::time::timeout(limit, run(&mut short)).await.expect("serve must refuse to start");
    assert!(!ok && stderr.contains("passwords.min_length"), "{stderr}");
    // A stricter policy applies to new accounts.
    let create = [
        "user",
        "create",
        "--username",
        "hal",
        "--email",
        "hal@example.org",
        "--role",
        "developer",
        "--password-stdin",
    ];
    let (ok, _, stderr) = run_with_stdin(
        command(&db, dir.path()).env("AUTOPMO_PASSWORDS__MIN_LENGTH", "40").args(create),
        "a long and unusual passphrase 93\n",
    )
    .await;
    assert!(!ok && stderr.contains("40"), "{stderr}");
}

#[tokio::test]
async fn roles_and_service_accounts_from_the_cli_are_audited() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let mut cmd = command(&db, dir.path());
        cmd.args(args);
        cmd
    };
    let create = ["user", "create", "--username", "pat", "--email", "pat@example.org", "--role", "developer"];
    let (ok, _, stderr) = run(&mut cli(&create)).await;
    assert!(ok, "{stderr}");

    // Roles: the complete new set, checked, recorded with the old and the new.
    let (ok, _, stderr) = run(&mut cli(&["user", "roles", "pat", "--set", "developer,stakeholder"])).await;
    assert!(ok && stderr.contains("[developer] -> [developer,stakeholder]"), "{stderr}");
    let (ok, _, stderr) = run(&mut cli(&["user", "roles", "pat", "--set", "developer,wizard"])).await;
    assert!(!ok && stderr.contains("--set") && stderr.contains("wizard"), "{stderr}");
    let changed = events_of_type(&db, "user.roles_changed").await;
    assert_eq!(changed.len(), 1);
    let metadata: serde_json::Value = serde_json::from_str(&changed[0].metadata).unwrap();
    assert_eq!(metadata["old_roles"], serde_json::json!(["developer"]));
    assert_eq!(metadata["new_roles"], serde_json::json!(["developer", "stakeholder"]));
    assert!(changed[0].actor.username.as_deref().is_some_and(|u| u.starts_with("v1.")), "the operator, sealed");

    // Service accounts: scoped roles only, keys printed once.
    let (ok, _, stderr) = run(&mut cli(&["service-account", "create", "ops", "--role", "system_admin"])).await;
    assert!(!ok && stderr.contains("system_admin is for people"), "{stderr}");
    let (ok, id, stderr) =
        run(&mut cli(&["service-account", "create", "ci-bot", "--role", "developer", "--description", "CI"])).await;
    assert!(ok, "{stderr}");
    let id = id.trim().to_owned();
    let (ok, listed, _) = run(&mut cli(&["service-account", "list"])).await;
    assert!(ok && listed.contains("ci-bot") && listed.contains(&id) && listed.contains("developer"), "{listed}");
    let (ok, _, stderr) = run(&mut cli(&["token", "create", "--user", "ci-bot"])).await;
    assert!(!ok && stderr.contains("service account"), "no personal token for a service account: {stderr}");
    let key_create = ["service-account", "key", "create", "ci-bot", "--key-name", "ci", "--expires-days", "30"];
    let (ok, secret, stderr) = run(&mut cli(&key_create)).await;
    assert!(ok, "{stderr}");
    let secret = secret.trim().to_owned();
    assert!(secret.starts_with("apmo_sak_") && secret.len() == 52, "{secret}");

    let server = start(&db, dir.path()).await;
    let me = |key: String| {
        let url = format!("{}/api/v1/me", server.base);
        async move { reqwest::Client::new().get(url).bearer_auth(key).send().await.unwrap() }
    };
    let body: serde_json::Value = me(secret.clone()).await.json().await.unwrap();
    assert_eq!((body["id"].as_str(), body["username"].as_str()), (Some(id.as_str()), Some("ci-bot")));

    let (ok, keys, _) = run(&mut cli(&["service-account", "key", "list", "ci-bot"])).await;
    assert!(ok && keys.contains("ci") && keys.contains("active") && !keys.contains(&secret[9..]), "{keys}");
    let key_id = keys.lines().nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    let (ok, _, stderr) = run(&mut cli(&["service-account", "key", "revoke", "ci-bot", &key_id])).await;
    assert!(ok, "{stderr}");
    assert_eq!(me(secret.clone()).await.status(), 401, "a revoked key");
    let (ok, again, _) = run(&mut cli(&["service-account", "key", "create", "ci-bot"])).await;
    assert!(ok);
    let (ok, _, stderr) = run(&mut cli(&["service-account", "disable", "ci-bot"])).await;
    assert!(ok && stderr.contains("1 key(s) revoked"), "{stderr}");
    assert_eq!(me(again.trim().to_owned()).await.status(), 401, "a disabled account's key");

    for event in [
        "service_account.created",
        "service_account.key_created",
        "service_account.key_revoked",
        "service_account.disabled",
    ] {
        let found = events_of_type(&db, event).await;
        assert!(!found.is_empty(), "{event} is recorded");
        assert!(found.iter().all(|e| !e.metadata.contains(&secret[9..])), "{event} holds the secret");
    }
}

#[tokio::test]
async fn a_log_that_is_not_a_terminal_has_no_colour_codes() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(&db, dir.path());
    cmd.env("AUTOPMO_LOG__LEVEL", "info");
    // `start_with` refuses any line with an escape code.
    let server = crate::server::start_with(cmd).await;
    let logged = server.startup.iter().filter(|l| l.contains(" INFO ")).count();
    assert!(logged > 0, "no INFO line to check: {:?}", server.startup);
}
