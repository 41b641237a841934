//! OIDC federation end to end against a real provider: panva's
//! `oidc-provider` (tests/oidc-provider, installed by scripts/test-deps.sh)
//! started by each test on a free loopback port, standing in for Keycloak.
//! Skipped with a notice when node or the package is missing, unless
//! `AUTOPMO_TEST_REQUIRE_OIDC=1`.

use crate::helpers::{TestApp, expect_json, spawn_app_on};
use autopmo_auth::federation::{Federation, IssuerConfig, Provisioning};
use autopmo_domain::{Clock, Role};
use autopmo_test_support::Engine;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;

const CLIENT_ID: &str = "autopmo";
/// The client secret, made when the tests start and handed to the provider.
fn client_secret() -> &'static str {
    static SECRET: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SECRET.get_or_init(|| format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()))
}

/// A running provider; killed when dropped.
struct Provider {
    issuer: String,
    child: std::process::Child,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc-provider")
}

fn available() -> bool {
    let node = std::process::Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    let package = provider_dir().join("node_modules/oidc-provider/package.json").is_file();
    if node && package {
        return true;
    }
    assert!(
        std::env::var("AUTOPMO_TEST_REQUIRE_OIDC").as_deref() != Ok("1"),
        "AUTOPMO_TEST_REQUIRE_OIDC=1 but node or tests/oidc-provider/node_modules is missing (run scripts/test-deps.sh)"
    );
    eprintln!("note: OIDC federation test skipped: node or oidc-provider not installed (scripts/test-deps.sh)");
    false
}

async fn start_provider(redirect_uri: &str) -> Provider {
    let mut child = std::process::Command::new("node")
        .arg("server.mjs")
        .current_dir(provider_dir())
        .env("REDIRECT_URI", redirect_uri)
        .env("CLIENT_SECRET", client_secret())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("node starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    // Reads until the issuer line, then keeps draining so the provider never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && let Some(issuer) = v["issuer"].as_str()
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(issuer.to_owned());
            }
        }
    });
    let issuer = tokio::time::timeout(std::time::Duration::from_secs(30), rx)
        .await
        .expect("the OIDC provider listens within 30 s")
        .expect("the OIDC provider exited before it listened");
    Provider { issuer, child }
}

fn issuer_config(issuer: &str, provisioning: Provisioning) -> IssuerConfig {
    IssuerConfig {
        name: "test".to_owned(),
        issuer: issuer.to_owned(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: SecretString::from(client_secret()),
        scopes: ["openid", "email", "profile", "roles"].map(str::to_owned).to_vec(),
        audience: "autopmo-api".to_owned(),
        role_claim: "realm_access.roles".to_owned(),
        role_map: BTreeMap::from([
            ("pmo-admin".to_owned(), "system_admin".to_owned()),
            ("pmo-dev".to_owned(), "developer".to_owned()),
        ]),
        provisioning,
    }
}

/// A server federated with a fresh provider, its clock at the real time
/// (the provider's tokens carry real times).
async fn setup(engine: Engine, provisioning: Provisioning) -> Option<(TestApp, Provider)> {
    if !available() {
        return None;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let provider = start_provider(&format!("{base}/api/v1/auth/oidc/test/callback")).await;
    let issuer = provider.issuer.clone();
    let app = spawn_app_on(engine, listener, autopmo_domain::SystemClock.now(), move |state| {
        let federation =
            Federation::new(state.trail.clone(), &base, vec![issuer_config(&issuer, provisioning)]).unwrap();
        state.with_federation(federation)
    })
    .await?;
    Some((app, provider))
}

macro_rules! oidc_tests {
    ($($name:ident: $provisioning:expr),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some((app, provider)) = super::setup(autopmo_test_support::Engine::Sqlite, $provisioning).await {
                        super::$name(app, provider).await;
                    }
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some((app, provider)) = super::setup(autopmo_test_support::Engine::Postgres, $provisioning).await {
                        super::$name(app, provider).await;
                    }
                }
            )+
        }
    };
}

oidc_tests!(
    bearer_token_provisions_the_user_with_mapped_roles: autopmo_auth::federation::Provisioning::Create,
    bad_external_tokens_get_the_same_401: autopmo_auth::federation::Provisioning::Create,
    code_flow_with_pkce_ends_in_our_tokens_and_state_is_single_use: autopmo_auth::federation::Provisioning::Create,
    code_flow_links_a_local_user_by_verified_email: autopmo_auth::federation::Provisioning::LinkVerifiedEmail,
);

/// A client_credentials access token for `resource` (Keycloak's service
/// account token): an RS256 JWT with `typ: at+jwt`.
async fn client_token(app: &TestApp, provider: &Provider, resource: &str) -> String {
    let resp = app
        .client
        .post(format!("{}/token", provider.issuer))
        .basic_auth(CLIENT_ID, Some(client_secret()))
        .form(&[("grant_type", "client_credentials"), ("scope", "api"), ("resource", resource)])
        .send()
        .await
        .unwrap();
    let body = expect_json(resp, StatusCode::OK).await;
    body["access_token"].as_str().unwrap().to_owned()
}

async fn me(app: &TestApp, token: &str) -> reqwest::Response {
    app.client.get(app.url("/api/v1/me")).bearer_auth(token).send().await.unwrap()
}

async fn count_events(app: &TestApp, event_type: &str) -> i64 {
    let mut conn = app.store.read().await.unwrap();
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

async fn bearer_token_provisions_the_user_with_mapped_roles(app: TestApp, provider: Provider) {
    let token = client_token(&app, &provider, "urn:autopmo:api").await;
    let me1 = expect_json(me(&app, &token).await, StatusCode::OK).await;
    assert_eq!(me1["username"], "service-account-autopmo");
    assert_eq!(me1["email"], "svc-autopmo@example.org");
    assert_eq!(me1["roles"], json!(["system_admin"]), "pmo-admin is mapped to system_admin");
    // The second call finds the linked user; nothing is provisioned again.
    let me2 = expect_json(me(&app, &token).await, StatusCode::OK).await;
    assert_eq!(me1["id"], me2["id"]);
    assert_eq!(count_events(&app, "auth.federated_login").await, 1);
    assert_eq!(count_events(&app, "user.created").await, 1);
}

async fn bad_external_tokens_get_the_same_401(app: TestApp, provider: Provider) {
    let reference = me(&app, "not-a-token").await;
    assert_eq!(reference.status(), StatusCode::UNAUTHORIZED);
    let reference: Value = reference.json().await.unwrap();
    let refused = |label: &'static str, resp: reqwest::Response| {
        let reference = reference.clone();
        async move {
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{label}");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(
                (&body["type"], &body["title"], &body["detail"]),
                (&reference["type"], &reference["title"], &reference["detail"]),
                "{label}"
            );
        }
    };
    // The audience of another API.
    let other_audience = client_token(&app, &provider, "urn:other:api").await;
    refused("wrong audience", me(&app, &other_audience).await).await;

    // Another issuer: a second, real, provider (same development keys, other `iss`).
    let other = start_provider("http://127.0.0.1:9/cb").await;
    let foreign = client_token(&app, &other, "urn:autopmo:api").await;
    refused("another issuer", me(&app, &foreign).await).await;

    // Our issuer's name, signed by a key that is not in its JWKS.
    let key = autopmo_crypto::jws::SigningKey::generate(autopmo_crypto::jws::RsaBits::Rsa2048).unwrap();
    let now = app.clock.now().unix_timestamp();
    let forged = key
        .sign(
            "at+jwt",
            &json!({"iss": provider.issuer, "sub": "autopmo", "aud": "autopmo-api", "iat": now, "exp": now + 300,
                "email": "svc-autopmo@example.org", "email_verified": true,
                "realm_access": {"roles": ["pmo-admin"]}}),
        )
        .unwrap();
    refused("unknown key", me(&app, &forged).await).await;

    // A good token first works, then expires (10 minutes, plus 60 s leeway;
    // our clock started a little before the provider issued it).
    let good = client_token(&app, &provider, "urn:autopmo:api").await;
    expect_json(me(&app, &good).await, StatusCode::OK).await;
    let after_issue = autopmo_domain::SystemClock.now();
    app.clock.advance(after_issue - app.clock.now() + time::Duration::seconds(600 + 61));
    refused("expired", me(&app, &good).await).await;
}

/// A client that does not follow redirects, and a cookie jar for the provider.
struct Browser {
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new() -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { client, cookies: BTreeMap::new() }
    }

    fn keep_cookies(&mut self, resp: &reqwest::Response) {
        for value in resp.headers().get_all(SET_COOKIE) {
            let pair = value.to_str().unwrap().split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() {
                    self.cookies.remove(name.trim());
                } else {
                    self.cookies.insert(name.trim().to_owned(), value.to_owned());
                }
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn get(&mut self, url: &str) -> reqwest::Response {
        let resp = self.client.get(url).header(COOKIE, self.cookie_header()).send().await.unwrap();
        self.keep_cookies(&resp);
        resp
    }

    async fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let resp = self.client.post(url).header(COOKIE, self.cookie_header()).form(form).send().await.unwrap();
        self.keep_cookies(&resp);
        resp
    }
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http") { location.to_owned() } else { format!("{base}{location}") }
}

/// Drives the login through the provider's development pages as `login`
/// and returns the URL of our callback it redirects to.
async fn callback_url(app: &TestApp, provider: &Provider, login: &str) -> String {
    let mut browser = Browser::new();
    let start = browser.get(&app.url("/api/v1/auth/oidc/test/login")).await;
    assert_eq!(start.status(), StatusCode::FOUND);
    let mut url = start.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/auth?", provider.issuer)), "{url}");
    for query in ["code_challenge_method=S256", "code_challenge=", "state=", "nonce=", "response_type=code"] {
        assert!(url.contains(query), "{query} in {url}");
    }
    for _ in 0..20 {
        if url.starts_with(&app.base) {
            return url;
        }
        let resp = browser.get(&url).await;
        if resp.status().is_redirection() {
            url = absolute(&provider.issuer, resp.headers()[LOCATION].to_str().unwrap());
            continue;
        }
        assert_eq!(resp.status(), StatusCode::OK, "{url}");
        let html = resp.text().await.unwrap();
        let action = html.split("action=\"").nth(1).and_then(|rest| rest.split('"').next()).expect("a form");
        let action = absolute(&provider.issuer, action);
        let submitted = if html.contains("name=\"login\"") {
            browser.post_form(&action, &[("prompt", "login"), ("login", login), ("password", "any")]).await
        } else {
            browser.post_form(&action, &[("prompt", "consent")]).await
        };
        assert!(submitted.status().is_redirection(), "form {action} answered {}", submitted.status());
        url = absolute(&provider.issuer, submitted.headers()[LOCATION].to_str().unwrap());
    }
    panic!("the provider never sent the browser back");
}

async fn code_flow_with_pkce_ends_in_our_tokens_and_state_is_single_use(app: TestApp, provider: Provider) {
    let callback = callback_url(&app, &provider, "alice").await;
    assert!(callback.contains("code=") && callback.contains("state="), "{callback}");
    let tokens = expect_json(app.client.get(&callback).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["refresh_token"].as_str().unwrap().starts_with("apmo_rt_"));
    let access = tokens["access_token"].as_str().unwrap();
    let alice = expect_json(me(&app, access).await, StatusCode::OK).await;
    assert_eq!(alice["username"], "alice");
    assert_eq!(alice["email"], "alice@example.org");
    assert_eq!(alice["roles"], json!(["system_admin"]));
    let sessions = expect_json(
        app.client.get(app.url("/api/v1/me/sessions")).bearer_auth(access).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(sessions[0]["amr"], json!(["fed"]));
    assert_eq!(count_events(&app, "auth.federated_login").await, 1);

    // The same state (and code) again: refused, and recorded.
    let replay = app.client.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(count_events(&app, "auth.federated_login").await, 2);

    // A state we never issued.
    let forged = callback.replace("state=", "state=x");
    assert_eq!(app.client.get(&forged).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    // An unknown provider name.
    let unknown = app.client.get(app.url("/api/v1/auth/oidc/nope/login")).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

async fn code_flow_links_a_local_user_by_verified_email(app: TestApp, provider: Provider) {
    let (bob, _) = app.user("bob", &[Role::ProjectManager]).await;
    let callback = callback_url(&app, &provider, "bob").await;
    let tokens = expect_json(app.client.get(&callback).send().await.unwrap(), StatusCode::OK).await;
    let linked = expect_json(me(&app, tokens["access_token"].as_str().unwrap()).await, StatusCode::OK).await;
    assert_eq!(linked["id"], bob.id.to_string(), "the existing local user, linked");
    assert_eq!(linked["roles"], json!(["developer"]), "the provider's roles, mapped, are authoritative");
    assert_eq!(count_events(&app, "user.roles_changed").await, 1, "the change is recorded with old and new roles");

    // Carol's email is not verified by the provider: no link, no user.
    app.user("carol", &[Role::Developer]).await;
    let callback = callback_url(&app, &provider, "carol").await;
    assert_eq!(app.client.get(&callback).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    // Alice has no local user, and this issuer does not create users.
    let callback = callback_url(&app, &provider, "alice").await;
    assert_eq!(app.client.get(&callback).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}
