//! The harness: a real server on a random loopback port over a fresh
//! database, users and tokens made directly in the store, and small request
//! and assertion helpers.

use autopmo_domain::{DisplayName, Email, ManualClock, Role, User, UserId, UserStatus, Username};
use autopmo_http::{AppState, Limits};
use autopmo_store::{Store, StoreOptions, migrate, tokens, users};
use autopmo_test_support::{Engine, TestDb};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tokio::sync::oneshot;

/// Where every test's clock starts.
pub const T0: OffsetDateTime = datetime!(2026-03-02 09:00 UTC);

/// Writes each listed test twice, `sqlite::name` and `postgres::name`. Each
/// test is an `async fn name(app: TestApp)`; the PostgreSQL copy returns
/// early (skipped, with a notice) when no server is configured. Attributes
/// before a name (`#[ignore = "…"]`) go on both copies.
macro_rules! api_tests {
    ($($(#[$meta:meta])* $name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                $(#[$meta])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::helpers::spawn_app(autopmo_test_support::Engine::Sqlite).await;
                    super::$name(app.expect("SQLite is always available")).await;
                }
            )+
        }
        mod postgres {
            $(
                $(#[$meta])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(app) = $crate::helpers::spawn_app(autopmo_test_support::Engine::Postgres).await else {
                        return;
                    };
                    super::$name(app).await;
                }
            )+
        }
    };
}
pub(crate) use api_tests;

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// A client without a token.
    pub client: reqwest::Client,
    /// The server's store (for seeding and for checking what was stored).
    pub store: Store,
    /// The server's clock; tests move it instead of sleeping.
    pub clock: ManualClock,
    /// The server's state (its token issuer, for tokens no endpoint would
    /// issue).
    pub state: AppState,
    /// An active project manager, the caller of the request helpers.
    pub admin: User,
    /// The admin's bearer token.
    pub token: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    // Last: dropped after the server was told to stop.
    _db: TestDb,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.server.abort();
    }
}

/// A fresh database on `engine`, migrated, served on a random port; `None`
/// when PostgreSQL tests are skipped.
pub async fn spawn_app(engine: Engine) -> Option<TestApp> {
    spawn_app_with(engine, |state| state).await
}

/// As [`spawn_app`], with the state adjusted by `configure` first.
pub async fn spawn_app_with(engine: Engine, configure: impl FnOnce(AppState) -> AppState) -> Option<TestApp> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    spawn_app_on(engine, listener, T0, configure).await
}

/// As [`spawn_app_with`], serving on `listener`, with the clock at `start`.
pub async fn spawn_app_on(
    engine: Engine,
    listener: tokio::net::TcpListener,
    start: OffsetDateTime,
    configure: impl FnOnce(AppState) -> AppState,
) -> Option<TestApp> {
    let db = TestDb::new(engine).await?;
    let store = Store::connect(&StoreOptions::new(db.url.clone())).await.unwrap();
    migrate::migrate(&store, start).await.unwrap();
    let clock = ManualClock::new(start);
    let keyring = Arc::new(autopmo_crypto::Keyring::generate().unwrap());
    let trail = autopmo_trail::AuditTrail::new(store.clone(), keyring, Arc::new(clock.clone()));
    let state = configure(AppState::new(trail, Arc::new(clock.clone()), Limits::default()));
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(autopmo_http::serve(listener, state.clone(), async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build().unwrap();
    let admin = new_user("admin", &[Role::SystemAdmin]);
    insert_user(&store, &admin).await;
    let token = issue_token(&store, &clock, admin.id, None).await.secret;
    Some(TestApp {
        base: format!("http://{addr}"),
        client,
        store,
        clock,
        state,
        admin,
        token,
        shutdown: Some(tx),
        server,
        _db: db,
    })
}

async fn insert_user(store: &Store, user: &User) {
    let mut uow = store.begin().await.unwrap();
    users::insert(uow.conn(), user).await.unwrap();
    uow.commit().await.unwrap();
}

async fn issue_token(store: &Store, clock: &ManualClock, user: UserId, expires_in: Option<Duration>) -> Token {
    let now = autopmo_domain::Clock::now(clock);
    let mut uow = store.begin().await.unwrap();
    let issued =
        tokens::issue(uow.conn(), user, "test", random_bytes(), now, expires_in.map(|d| now + d)).await.unwrap();
    uow.commit().await.unwrap();
    Token { id: issued.id, secret: issued.secret }
}

fn new_user(name: &str, roles: &[Role]) -> User {
    User {
        id: UserId::new(),
        username: Username::parse(name).unwrap(),
        email: Email::parse(&format!("{name}@example.org")).unwrap(),
        display_name: DisplayName::parse(name).unwrap(),
        status: UserStatus::Active,
        roles: roles.to_vec(),
        created_at: T0,
        updated_at: T0,
        version: 1,
    }
}

fn random_bytes() -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    out[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    out
}

/// A token issued for a user.
#[derive(Debug)]
pub struct Token {
    /// Its id, for revoking.
    pub id: uuid::Uuid,
    /// The bearer secret.
    pub secret: String,
}

impl TestApp {
    /// Creates an active user with `roles` and a token that never expires.
    pub async fn user(&self, name: &str, roles: &[Role]) -> (User, String) {
        let user = new_user(name, roles);
        insert_user(&self.store, &user).await;
        let token = self.token_for(user.id, None).await;
        (user, token.secret)
    }

    /// Issues a token for `user`, expiring `expires_in` from the clock's now.
    pub async fn token_for(&self, user: UserId, expires_in: Option<Duration>) -> Token {
        issue_token(&self.store, &self.clock, user, expires_in).await
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request as the admin.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(&self.token)
    }

    /// GET as the admin.
    pub async fn get(&self, path: &str) -> Response {
        self.req(Method::GET, path).send().await.unwrap()
    }

    /// POST a JSON body as the admin.
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.req(Method::POST, path).json(body).send().await.unwrap()
    }

    /// PATCH a JSON body as the admin with `If-Match: <etag>`.
    pub async fn patch(&self, path: &str, etag: &str, body: &Value) -> Response {
        self.req(Method::PATCH, path).header("if-match", etag).json(body).send().await.unwrap()
    }

    /// DELETE as the admin.
    pub async fn delete(&self, path: &str) -> Response {
        self.req(Method::DELETE, path).send().await.unwrap()
    }

    /// Sends a raw body with the given content type (or none) as the admin.
    pub async fn send_raw(&self, method: Method, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Response {
        let mut req = self.req(method, path).body(body);
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        req.send().await.unwrap()
    }

    /// GET that must succeed: the JSON body.
    pub async fn get_json(&self, path: &str) -> Value {
        expect_json(self.get(path).await, StatusCode::OK).await
    }

    /// Creates a project named `name` with a USD budget; its JSON.
    pub async fn create_project(&self, name: &str) -> Value {
        self.create_project_with(json!({"name": name, "budget": {"amount": "1000.00", "currency": "USD"}})).await
    }

    /// Creates a project from `body`; its JSON.
    pub async fn create_project_with(&self, body: Value) -> Value {
        expect_json(self.post("/api/v1/projects", &body).await, StatusCode::CREATED).await
    }

    /// Adds `user` to `project` as `kind`.
    pub async fn add_member(&self, project: &str, user: UserId, kind: &str) -> Value {
        let body = json!({"user_id": user.to_string(), "kind": kind});
        expect_json(self.post(&format!("/api/v1/projects/{project}/members"), &body).await, StatusCode::CREATED).await
    }

    /// Creates a task in `project` from `body`; its JSON.
    pub async fn create_task(&self, project: &str, body: Value) -> Value {
        expect_json(self.post(&format!("/api/v1/projects/{project}/tasks"), &body).await, StatusCode::CREATED).await
    }

    /// Every item of a list, following the cursors with pages of `limit`.
    pub async fn list_all(&self, path_and_query: &str, limit: u32) -> Vec<Value> {
        let sep = if path_and_query.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let mut url = format!("{path_and_query}{sep}limit={limit}");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page = self.get_json(&url).await;
            let got = page["items"].as_array().unwrap();
            assert!(got.len() <= limit as usize, "a page holds at most `limit` items");
            items.extend(got.iter().cloned());
            match page.get("next_cursor").and_then(Value::as_str) {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
        panic!("the list never ended");
    }
}

/// The `field` of each item.
pub fn field_of(items: &[Value], field: &str) -> Vec<String> {
    items.iter().map(|i| i[field].as_str().unwrap_or_default().to_owned()).collect()
}

/// Asserts the status and returns the JSON body.
pub async fn expect_json(resp: Response, status: StatusCode) -> Value {
    let got = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "unexpected status; body: {text}");
    if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() }
}

/// The ETag header of a response.
pub fn etag(resp: &Response) -> String {
    resp.headers().get("etag").expect("an ETag header").to_str().unwrap().to_owned()
}

/// Asserts that `resp` is a problem document with `status` and the type
/// `urn:autopmo:problem:<slug>`; returns the document.
pub async fn assert_problem(resp: Response, status: StatusCode, slug: &str) -> Value {
    let (_, problem) = problem_parts(resp, status).await;
    assert_eq!(problem["type"], format!("urn:autopmo:problem:{slug}"), "problem: {problem}");
    problem
}

/// As [`assert_problem`], also returning the headers.
pub async fn problem_parts(resp: Response, status: StatusCode) -> (HeaderMap, Value) {
    let got = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "unexpected status; body: {text}");
    let ct = headers.get(CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert_eq!(ct, "application/problem+json", "content type of: {text}");
    let problem: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(problem["status"], status.as_u16(), "problem: {problem}");
    assert!(problem["title"].as_str().is_some_and(|t| !t.is_empty()), "problem: {problem}");
    assert!(problem["detail"].as_str().is_some(), "problem: {problem}");
    (headers, problem)
}

/// Asserts a 422 `validation` problem naming `field` (with `code`, if given).
pub async fn assert_invalid_field(resp: Response, field: &str, code: Option<&str>) -> Value {
    let problem = assert_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let errors = problem["errors"].as_array().expect("field errors");
    let hit = errors.iter().find(|e| e["field"] == field);
    let hit = hit.unwrap_or_else(|| panic!("no error for field {field}: {problem}"));
    if let Some(code) = code {
        assert_eq!(hit["code"], code, "problem: {problem}");
    }
    problem
}

/// A project with one task; returns (project path, task path).
pub async fn seed(app: &TestApp) -> (String, String) {
    let p = app.create_project("Existing").await;
    let id = p["id"].as_str().unwrap();
    let t = app.create_task(id, json!({"title": "Existing task"})).await;
    let path = format!("/api/v1/projects/{id}");
    let task = format!("{path}/tasks/{}", t["id"].as_str().unwrap());
    (path, task)
}

/// Every project and task, to compare before and after bad requests.
pub async fn snapshot(app: &TestApp) -> Value {
    let projects = app.list_all("/api/v1/projects", 200).await;
    let mut tasks = Vec::new();
    for p in &projects {
        let path = format!("/api/v1/projects/{}/tasks", p["id"].as_str().unwrap());
        tasks.extend(app.list_all(&path, 200).await);
    }
    json!({"projects": projects, "tasks": tasks})
}
