//! Password reset by email through a real SMTP server (aiosmtpd from PyPI,
//! started by each test on a free port, writing what it receives to a
//! Maildir), password change, and the first password of an account that
//! must change it (the bootstrap administrator's case) over the API.
//!
//! Without aiosmtpd (`scripts/test-deps.sh` installs it) the mail tests are
//! skipped with a notice, unless `AUTOPMO_TEST_REQUIRE_SMTP=1`.

use crate::helpers::*;
use autopmo_audit::{AuditRecord, Outcome};
use autopmo_auth::accounts::{Accounts, NewUser};
use autopmo_auth::mail::{SmtpMailer, SmtpSettings, SmtpTls};
use autopmo_crypto::PasswordHasher;
use autopmo_domain::{Clock, DisplayName, Email, Role, User, UserStatus, Username};
use autopmo_identity::password_policy::PasswordPolicy;
use autopmo_store::{audit, credentials, password_resets, users};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};
use time::Duration;

const PASSWORD: &str = "correct horse battery staple 42";
const NEW_PASSWORD: &str = "violet nebula trombone quarry 77";
const OTHER_PASSWORD: &str = "amber glacier pelican sonnet 19";

/// `aiosmtpd` listening on a free loopback port, storing mail in a Maildir.
struct SmtpServer {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

fn python() -> Option<PathBuf> {
    let venv = std::env::var("AUTOPMO_TEST_VENV")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| PathBuf::from(h).join(".cache/autopmo/venv")))
        .ok()?;
    let python = venv.join("bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(python)
}

impl SmtpServer {
    /// Starts one; `None` (with a notice) when aiosmtpd is not installed.
    fn start() -> Option<Self> {
        let Some(python) = python() else {
            let required = std::env::var("AUTOPMO_TEST_REQUIRE_SMTP").is_ok_and(|v| v == "1" || v == "true");
            assert!(!required, "AUTOPMO_TEST_REQUIRE_SMTP is set but aiosmtpd is not installed (scripts/test-deps.sh)");
            let _ = writeln!(
                std::io::stderr(),
                "\nNOTICE: password-reset mail tests SKIPPED: aiosmtpd not found; run scripts/test-deps.sh to install it.\n"
            );
            return None;
        };
        let maildir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap();
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        let server = Self { child, port, maildir };
        let deadline = Instant::now() + StdDuration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start within 30 s");
            std::thread::sleep(StdDuration::from_millis(50));
        }
        Some(server)
    }

    fn mailer(&self) -> SmtpMailer {
        SmtpMailer::new(&SmtpSettings {
            host: "127.0.0.1".to_owned(),
            port: self.port,
            from: "AutoPMO <pmo@example.org>".to_owned(),
            username: None,
            password: None,
            tls: SmtpTls::None,
            danger_allow_plain_auth: false,
            hello_name: Some("autopmo.test".to_owned()),
            timeout: StdDuration::from_secs(10),
        })
        .unwrap()
    }

    /// Every message received so far, oldest first.
    fn mails(&self) -> Vec<String> {
        let mut found = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.path().join("mail").join(sub)) else { continue };
            for entry in entries.flatten() {
                let modified = entry.metadata().and_then(|m| m.modified()).unwrap();
                found.push((modified, std::fs::read_to_string(entry.path()).unwrap()));
            }
        }
        found.sort_by_key(|(at, _)| *at);
        found.into_iter().map(|(_, text)| text).collect()
    }

    /// Waits until `count` messages have arrived (delivery happens after the
    /// answer, in the background); then returns them all.
    async fn wait_for(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + StdDuration::from_secs(20);
        loop {
            let mails = self.mails();
            if mails.len() >= count {
                return mails;
            }
            assert!(Instant::now() < deadline, "expected {count} mails within 20 s, got {}", mails.len());
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of a message, quoted-printable undone.
fn decoded(mail: &str) -> String {
    if mail.to_ascii_lowercase().contains("content-transfer-encoding: quoted-printable") {
        mail.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=")
    } else {
        mail.to_owned()
    }
}

/// The reset token in a mail's link.
fn token_in(mail: &str) -> String {
    let text = decoded(mail);
    let at = text.find("/reset-password#token=apmo_pwr_").unwrap_or_else(|| panic!("no reset link in: {text}"));
    let start = at + "/reset-password#token=".len();
    let token: String =
        text[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect();
    assert_eq!(token.len(), "apmo_pwr_".len() + 43, "{text}");
    token
}

/// Writes each listed test for SQLite and PostgreSQL, each with its own
/// SMTP server and a server whose mailer sends to it.
macro_rules! smtp_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite_smtp {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(smtp) = super::SmtpServer::start() else { return };
                    let app = super::spawn_with_mail(autopmo_test_support::Engine::Sqlite, &smtp).await;
                    super::$name(app.expect("SQLite is always available"), smtp).await;
                }
            )+
        }
        mod postgres_smtp {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(smtp) = super::SmtpServer::start() else { return };
                    let Some(app) = super::spawn_with_mail(autopmo_test_support::Engine::Postgres, &smtp).await else {
                        return;
                    };
                    super::$name(app, smtp).await;
                }
            )+
        }
    };
}

async fn spawn_with_mail(engine: autopmo_test_support::Engine, smtp: &SmtpServer) -> Option<TestApp> {
    let mailer = Arc::new(smtp.mailer());
    spawn_app_with(engine, move |state| state.with_mailer(mailer)).await
}

fn now(app: &TestApp) -> time::OffsetDateTime {
    Clock::now(&app.clock)
}

async fn with_password(app: &TestApp, name: &str) -> User {
    let (user, _) = app.user(name, &[Role::ProjectManager]).await;
    let hash = PasswordHasher::default().hash(&SecretString::from(PASSWORD.to_owned())).await.unwrap();
    let mut uow = app.store.begin().await.unwrap();
    credentials::set_password(uow.conn(), &user.id.to_string(), hash.as_str(), false, now(app)).await.unwrap();
    uow.commit().await.unwrap();
    user
}

async fn post(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.client.post(app.url(path)).json(body).send().await.unwrap()
}

async fn login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    post(app, "/api/v1/auth/login", &json!({"username": username, "password": password})).await
}

async fn tokens(app: &TestApp, username: &str, password: &str) -> (String, String) {
    let body = expect_json(login(app, username, password).await, StatusCode::OK).await;
    (body["access_token"].as_str().unwrap().to_owned(), body["refresh_token"].as_str().unwrap().to_owned())
}

async fn me(app: &TestApp, access: &str) -> StatusCode {
    app.client.get(app.url("/api/v1/me")).bearer_auth(access).send().await.unwrap().status()
}

async fn request_reset(app: &TestApp, login: &str) -> Value {
    let resp = post(app, "/api/v1/auth/password-reset", &json!({ "login": login })).await;
    expect_json(resp, StatusCode::ACCEPTED).await
}

async fn confirm(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    post(app, "/api/v1/auth/password-reset/confirm", &json!({"token": token, "new_password": password})).await
}

async fn events(app: &TestApp, event_type: &str) -> Vec<AuditRecord> {
    let mut conn = app.store.read().await.unwrap();
    let all = audit::range(&mut conn, i64::MIN, i64::MAX, 100_000).await.unwrap();
    all.into_iter().filter(|e| e.event_type == event_type).collect()
}

fn metadata(record: &AuditRecord) -> Value {
    serde_json::from_str(&record.metadata).unwrap()
}

async fn reset_by_mail_sets_a_new_password_once(app: TestApp, smtp: SmtpServer) {
    let rita = with_password(&app, "rita").await;
    let (access, refresh) = tokens(&app, "rita", PASSWORD).await;
    let (disabled, _) = app.user("dora", &[Role::Developer]).await;
    let mut uow = app.store.begin().await.unwrap();
    users::set_status(uow.conn(), disabled.id, UserStatus::Disabled, now(&app)).await.unwrap();
    uow.commit().await.unwrap();

    // The same answer for an unknown, a disabled and an existing account.
    let unknown = request_reset(&app, "nobody@example.org").await;
    let inactive = request_reset(&app, "dora").await;
    let known = request_reset(&app, "rita").await;
    assert_eq!(unknown, known);
    assert_eq!(inactive, known);
    // Only the existing, active account gets a mail.
    let mails = smtp.wait_for(1).await;
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    let mails_later = smtp.mails();
    assert_eq!(mails_later.len(), 1, "exactly one mail: {mails_later:?}");
    let mail = &mails[0];
    assert!(mail.contains("rita@example.org"), "{mail}");
    assert!(mail.contains("Subject: Reset your AutoPMO password"), "{mail}");
    assert!(decoded(mail).contains("http://127.0.0.1:8080/reset-password#token=apmo_pwr_"), "{mail}");
    let token = token_in(mail);
    // Only the hash is stored.
    let mut conn = app.store.read().await.unwrap();
    let stored = password_resets::by_hash(&mut conn, &autopmo_auth::login::secret_hash(&token)).await.unwrap();
    let stored = stored.expect("the token's hash is stored");
    assert_eq!(stored.user_id, rita.id.to_string());
    assert_eq!(stored.expires_at - stored.created_at, Duration::minutes(30));
    assert!(password_resets::by_hash(&mut conn, &token).await.unwrap().is_none());
    drop(conn);

    // A password the policy refuses: 422, and the token is not spent.
    let refused = confirm(&app, &token, "password123").await;
    let problem = assert_invalid_field(refused, "new_password", None).await;
    assert!(!problem.to_string().contains("password123"), "{problem}");
    assert_eq!(me(&app, &access).await, StatusCode::OK, "a refused reset ends nothing");

    // The reset: 204, every session ended, the old password gone.
    assert_eq!(confirm(&app, &token, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&app, &access).await, StatusCode::UNAUTHORIZED, "sessions end with a reset");
    let resp = post(&app, "/api/v1/auth/refresh", &json!({ "refresh_token": refresh })).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "refresh tokens end too");
    assert_eq!(login(&app, "rita", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    let (access, _) = tokens(&app, "rita", NEW_PASSWORD).await;
    assert_eq!(me(&app, &access).await, StatusCode::OK);

    // Single use; an unknown token gets the same answer.
    let again =
        assert_problem(confirm(&app, &token, OTHER_PASSWORD).await, StatusCode::BAD_REQUEST, "invalid_reset_token")
            .await;
    let forged = format!("apmo_pwr_{}", "A".repeat(43));
    let unknown_token =
        assert_problem(confirm(&app, &forged, OTHER_PASSWORD).await, StatusCode::BAD_REQUEST, "invalid_reset_token")
            .await;
    let garbage =
        assert_problem(confirm(&app, "garbage", OTHER_PASSWORD).await, StatusCode::BAD_REQUEST, "invalid_reset_token")
            .await;
    assert_eq!(again, unknown_token);
    assert_eq!(again, garbage);
    assert_eq!(login(&app, "rita", OTHER_PASSWORD).await.status(), StatusCode::UNAUTHORIZED);

    // Recorded: three requests (the account only where one exists), one completion.
    let requested = events(&app, "auth.password_reset_requested").await;
    assert_eq!(requested.len(), 3, "{requested:?}");
    let delivery: Vec<Value> = requested.iter().map(|e| metadata(e)["delivery"].clone()).collect();
    assert_eq!(delivery, [json!("none"), json!("none"), json!("queued")]);
    assert!(requested[..2].iter().all(|e| e.resource.is_none()));
    assert_eq!(requested[2].resource.as_ref().unwrap().id.as_deref(), Some(rita.id.to_string().as_str()));
    for event in &requested {
        assert!(!event.metadata.contains("nobody") && !event.metadata.contains("example.org"), "{event:?}");
    }
    let completed = events(&app, "auth.password_reset_completed").await;
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].status, Outcome::Success);
    assert_eq!(metadata(&completed[0])["sessions_ended"], 1);
    assert_eq!(completed[0].resource.as_ref().unwrap().id.as_deref(), Some(rita.id.to_string().as_str()));
    let changed = events(&app, "user.password_changed").await;
    assert_eq!(changed.len(), 1);
    assert_eq!(metadata(&changed[0])["method"], "reset");
}

async fn expired_spent_and_racing_tokens_are_refused(app: TestApp, smtp: SmtpServer) {
    with_password(&app, "sam").await;
    // 31 minutes later the link no longer works, and nothing changed.
    request_reset(&app, "sam").await;
    let expired = token_in(&smtp.wait_for(1).await[0]);
    app.clock.advance(Duration::minutes(31));
    assert_problem(confirm(&app, &expired, NEW_PASSWORD).await, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
    assert_eq!(login(&app, "sam", PASSWORD).await.status(), StatusCode::OK);

    // Two concurrent confirmations of one token: exactly one succeeds.
    request_reset(&app, "SAM@example.org").await;
    let mails = smtp.wait_for(2).await;
    let token = token_in(&mails[1]);
    assert_ne!(token, expired);
    let (a, b) = tokio::join!(confirm(&app, &token, NEW_PASSWORD), confirm(&app, &token, OTHER_PASSWORD));
    let statuses = [a.status(), b.status()];
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::NO_CONTENT).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::BAD_REQUEST).count(), 1, "{statuses:?}");
    let winner = if a.status() == StatusCode::NO_CONTENT { NEW_PASSWORD } else { OTHER_PASSWORD };
    assert_eq!(login(&app, "sam", winner).await.status(), StatusCode::OK);

    // A reset withdraws the account's other links.
    request_reset(&app, "sam").await;
    request_reset(&app, "sam").await;
    let mails = smtp.wait_for(4).await;
    let (first, second) = (token_in(&mails[2]), token_in(&mails[3]));
    assert_eq!(confirm(&app, &first, PASSWORD).await.status(), StatusCode::NO_CONTENT);
    assert_problem(confirm(&app, &second, NEW_PASSWORD).await, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
    assert_eq!(login(&app, "sam", PASSWORD).await.status(), StatusCode::OK);

    // At most five mails per account within 30 minutes (three were sent in
    // this window already); the answer stays the same.
    let answer = request_reset(&app, "sam").await;
    for _ in 0..4 {
        assert_eq!(request_reset(&app, "sam").await, answer);
    }
    smtp.wait_for(6).await;
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    assert_eq!(smtp.mails().len(), 6, "throttled after five in the window");
    let requested = events(&app, "auth.password_reset_requested").await;
    assert_eq!(requested.iter().filter(|e| metadata(e)["delivery"] == "throttled").count(), 3);
}

smtp_tests!(reset_by_mail_sets_a_new_password_once, expired_spent_and_racing_tokens_are_refused);

async fn without_mail_reset_requests_are_answered_alike(app: TestApp) {
    with_password(&app, "tom").await;
    let known = request_reset(&app, "tom").await;
    let unknown = request_reset(&app, "nobody").await;
    assert_eq!(known, unknown);
    let requested = events(&app, "auth.password_reset_requested").await;
    let delivery: Vec<Value> = requested.iter().map(|e| metadata(e)["delivery"].clone()).collect();
    assert_eq!(delivery, [json!("mail_not_configured"), json!("none")]);
    // Malformed requests are refused like any other.
    let resp = post(&app, "/api/v1/auth/password-reset", &json!({"login": ""})).await;
    assert_invalid_field(resp, "login", Some("invalid_login")).await;
    let resp = post(&app, "/api/v1/auth/password-reset", &json!({"login": "tom", "email": "x"})).await;
    assert_problem(resp, StatusCode::BAD_REQUEST, "invalid_body").await;
}

/// An account made like the bootstrap administrator: a one-time password
/// it must change at first login.
async fn must_change(app: &TestApp, name: &str) -> (User, String) {
    let accounts = Accounts::new(app_trail(app), PasswordHasher::default(), PasswordPolicy::default());
    let system = autopmo_audit::Actor::default();
    let new = NewUser {
        username: Username::parse(name).unwrap(),
        email: Email::parse(&format!("{name}@example.org")).unwrap(),
        display_name: DisplayName::parse(name).unwrap(),
        roles: vec![Role::SystemAdmin],
        password: None,
        must_change_password: true,
    };
    let user = accounts.create(new, &system).await.unwrap();
    let password = autopmo_auth::accounts::one_time_password().unwrap();
    accounts.set_password(&user, &password, true, &system).await.unwrap();
    (user, secrecy::ExposeSecret::expose_secret(&password).to_owned())
}

fn app_trail(app: &TestApp) -> autopmo_trail::AuditTrail {
    let keyring = Arc::new(autopmo_crypto::Keyring::generate().unwrap());
    autopmo_trail::AuditTrail::new(app.store.clone(), keyring, Arc::new(app.clock.clone()))
}

async fn change(app: &TestApp, bearer: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = app.client.post(app.url("/api/v1/auth/password")).json(body);
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

async fn a_first_password_is_set_over_the_api(app: TestApp) {
    let (root, one_time) = must_change(&app, "root").await;
    // Login refuses, and says what to do.
    let (_, problem) = problem_parts(login(&app, "root", &one_time).await, StatusCode::FORBIDDEN).await;
    assert!(problem["detail"].as_str().unwrap().contains("POST /api/v1/auth/password"), "{problem}");

    let body = |current: &str, new: &str| json!({"username": "root", "current_password": current, "new_password": new});
    // A wrong current password is a failed login.
    assert_problem(
        change(&app, None, &body("wrong wrong", NEW_PASSWORD)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    // The new password must pass the policy and differ from the current one.
    let resp = change(&app, None, &body(&one_time, "password123")).await;
    assert_invalid_field(resp, "new_password", None).await;
    let resp = change(&app, None, &body(&one_time, &one_time)).await;
    assert_invalid_field(resp, "new_password", Some("unchanged")).await;
    // Without a username and a bearer, there is no one to authenticate.
    let resp = change(&app, None, &json!({"current_password": one_time, "new_password": NEW_PASSWORD})).await;
    assert_problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    // Done: the new password works, the one-time one no longer does.
    assert_eq!(change(&app, None, &body(&one_time, NEW_PASSWORD)).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(login(&app, "root", &one_time).await.status(), StatusCode::UNAUTHORIZED);
    // An administrator must configure a second factor before anything else.
    let pending = expect_json(login(&app, "root", NEW_PASSWORD).await, StatusCode::OK).await;
    assert_eq!(pending["required_action"], "CONFIGURE_TOTP", "{pending}");
    let (access, _) = crate::mfa::configure_totp(&app, &pending).await;
    let me_body =
        expect_json(app.client.get(app.url("/api/v1/me")).bearer_auth(&access).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(me_body["id"], root.id.to_string());
    // Once changed, the form without a token is closed to this account.
    let resp = change(&app, None, &body(NEW_PASSWORD, OTHER_PASSWORD)).await;
    assert_problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_eq!(me(&app, &access).await, StatusCode::OK, "a refused change leaves the session alone");
    let changed = events(&app, "user.password_changed").await;
    assert_eq!(metadata(changed.last().unwrap())["method"], "change");
}

async fn a_password_is_changed_with_an_access_token(app: TestApp) {
    with_password(&app, "uma").await;
    let (access, _) = tokens(&app, "uma", PASSWORD).await;
    let (other_session, _) = tokens(&app, "uma", PASSWORD).await;
    let body = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    // Unusable credentials are refused before anything else.
    let resp = change(&app, Some("garbage"), &body(PASSWORD, NEW_PASSWORD)).await;
    assert_problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    // Only one's own password.
    let mut other = body(PASSWORD, NEW_PASSWORD);
    other["username"] = json!("admin");
    assert_problem(change(&app, Some(&access), &other).await, StatusCode::FORBIDDEN, "forbidden").await;
    // Wrong current password: refused, and counted like a failed login.
    for _ in 0..5 {
        app.clock.advance(Duration::seconds(5));
        let resp = change(&app, Some(&access), &body("wrong wrong", NEW_PASSWORD)).await;
        assert_problem(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    app.clock.advance(Duration::seconds(5));
    assert_eq!(login(&app, "uma", PASSWORD).await.status(), StatusCode::UNAUTHORIZED, "locked out by the failures");
    app.clock.advance(Duration::seconds(60));
    // The change: every session ends, the new password works.
    assert_eq!(change(&app, Some(&access), &body(PASSWORD, NEW_PASSWORD)).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&app, &access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, &other_session).await, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&app, "uma", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login(&app, "uma", NEW_PASSWORD).await.status(), StatusCode::OK);
}

api_tests!(
    without_mail_reset_requests_are_answered_alike,
    a_first_password_is_set_over_the_api,
    a_password_is_changed_with_an_access_token,
);
