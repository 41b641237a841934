//! Browser sessions by cookie: a login with `"session": "cookie"` sets the
//! `__Host-autopmo_session` cookie; the cookie authenticates like an access
//! token (same session rules), unsafe methods need the CSRF header and a
//! same-origin `Origin`, logout clears it.
//!
//! reqwest does not send `Secure` cookies over `http://`, so the tests set
//! the `Cookie` header themselves from the `Set-Cookie` value.

use crate::helpers::*;
use autopmo_crypto::PasswordHasher;
use autopmo_domain::{Role, User, UserStatus};
use autopmo_store::{credentials, users};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use time::Duration;

const PASSWORD: &str = "correct horse battery staple 42";
/// The public URL's origin in the test server (`AppState::new`).
const ORIGIN: &str = "http://127.0.0.1:8080";

fn now(app: &TestApp) -> time::OffsetDateTime {
    autopmo_domain::Clock::now(&app.clock)
}

async fn with_password(app: &TestApp, name: &str) -> User {
    let (user, _) = app.user(name, &[Role::ProjectManager]).await;
    let hash = PasswordHasher::default().hash(&SecretString::from(PASSWORD.to_owned())).await.unwrap();
    let mut uow = app.store.begin().await.unwrap();
    credentials::set_password(uow.conn(), &user.id.to_string(), hash.as_str(), false, now(app)).await.unwrap();
    uow.commit().await.unwrap();
    user
}

async fn login(app: &TestApp, body: &Value) -> Response {
    app.client.post(app.url("/api/v1/auth/login")).json(body).send().await.unwrap()
}

/// Logs `name` in for a browser; the `Set-Cookie` value and the `Cookie`
/// header a browser would send back.
async fn cookie_login(app: &TestApp, name: &str) -> (String, String) {
    let resp = login(app, &json!({"username": name, "password": PASSWORD, "session": "cookie"})).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let set = resp.headers().get("set-cookie").expect("a Set-Cookie header").to_str().unwrap().to_owned();
    let pair = set.split(';').next().unwrap().to_owned();
    (set, pair)
}

fn with_cookie(app: &TestApp, method: Method, path: &str, cookie: &str) -> RequestBuilder {
    app.client.request(method, app.url(path)).header("cookie", cookie)
}

async fn me(app: &TestApp, cookie: &str) -> StatusCode {
    with_cookie(app, Method::GET, "/api/v1/me", cookie).send().await.unwrap().status()
}

async fn project_count(app: &TestApp) -> usize {
    app.list_all("/api/v1/projects", 200).await.len()
}

async fn login_with_cookie_sets_a_host_cookie(app: TestApp) {
    with_password(&app, "bea").await;
    let resp = login(&app, &json!({"username": "bea", "password": PASSWORD, "session": "cookie"})).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store");
    let cookies: Vec<_> = resp.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies.len(), 1);
    let set = cookies[0].to_str().unwrap().to_owned();
    let secret = set
        .strip_prefix("__Host-autopmo_session=")
        .and_then(|rest| rest.strip_suffix("; Path=/; Secure; HttpOnly; SameSite=Strict"))
        .unwrap_or_else(|| panic!("unexpected cookie: {set}"));
    assert!(secret.starts_with("apmo_ses_") && secret.len() > 40, "secret: {secret}");
    assert!(!set.to_ascii_lowercase().contains("domain"));
    assert_eq!(resp.text().await.unwrap(), "", "no tokens in the body");
    // The token flow is unchanged, explicitly or by default.
    for body in [
        json!({"username": "bea", "password": PASSWORD}),
        json!({"username": "bea", "password": PASSWORD, "session": "tokens"}),
    ] {
        let resp = login(&app, &body).await;
        assert!(resp.headers().get("set-cookie").is_none());
        let tokens = expect_json(resp, StatusCode::OK).await;
        assert!(tokens["refresh_token"].as_str().unwrap().starts_with("apmo_rt_"));
    }
    // An unknown mode is refused.
    let resp = login(&app, &json!({"username": "bea", "password": PASSWORD, "session": "both"})).await;
    assert!(resp.status().is_client_error(), "{}", resp.status());
    // A wrong password sets no cookie.
    let resp = login(&app, &json!({"username": "bea", "password": "wrong wrong", "session": "cookie"})).await;
    assert!(resp.headers().get("set-cookie").is_none());
    assert_problem(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

async fn the_cookie_authenticates_gets(app: TestApp) {
    let user = with_password(&app, "cal").await;
    let (_, cookie) = cookie_login(&app, "cal").await;
    let body =
        expect_json(with_cookie(&app, Method::GET, "/api/v1/me", &cookie).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(body["id"], user.id.to_string());
    // Among other cookies, too.
    let mixed = format!("theme=dark; {cookie}; lang=en");
    assert_eq!(me(&app, &mixed).await, StatusCode::OK);
    // The browser session is listed, as the current one.
    let tokens =
        expect_json(login(&app, &json!({"username": "cal", "password": PASSWORD})).await, StatusCode::OK).await;
    let list = expect_json(
        with_cookie(&app, Method::GET, "/api/v1/me/sessions", &cookie).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    let current: Vec<_> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["kind"], "browser");
    assert!(list.iter().any(|s| s["current"] == false && s["kind"] == "api"));
    // An Authorization header wins over the cookie: a bad one is refused.
    let resp = with_cookie(&app, Method::GET, "/api/v1/me", &cookie).bearer_auth("eyJ.garbage.x").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let access = tokens["access_token"].as_str().unwrap();
    let resp = with_cookie(&app, Method::GET, "/api/v1/me", &cookie).bearer_auth(access).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

async fn unsafe_methods_need_the_csrf_header_and_same_origin(app: TestApp) {
    with_password(&app, "dan").await;
    let (_, cookie) = cookie_login(&app, "dan").await;
    let project = json!({"name": "By cookie", "budget": {"amount": "10.00", "currency": "USD"}});
    let post = || with_cookie(&app, Method::POST, "/api/v1/projects", &cookie).json(&project);
    // No X-Requested-With: refused, nothing created.
    let problem = assert_problem(post().send().await.unwrap(), StatusCode::FORBIDDEN, "csrf_rejected").await;
    assert!(problem["detail"].as_str().unwrap().contains("X-Requested-With"));
    let resp = post().header("x-requested-with", "XMLHttpRequest").send().await.unwrap();
    assert_problem(resp, StatusCode::FORBIDDEN, "csrf_rejected").await;
    // A foreign origin, even with the header: refused.
    for origin in ["https://evil.example", "http://127.0.0.1:8081", "null"] {
        let resp = post().header("x-requested-with", "autopmo").header("origin", origin).send().await.unwrap();
        assert_problem(resp, StatusCode::FORBIDDEN, "csrf_rejected").await;
    }
    assert_eq!(project_count(&app).await, 0, "nothing was created");
    // With the header (and the public URL's origin, or none): created.
    let resp = post().header("x-requested-with", "autopmo").send().await.unwrap();
    let created = expect_json(resp, StatusCode::CREATED).await;
    // The other unsafe methods alike (there is no PUT route).
    let path = format!("/api/v1/projects/{}", created["id"].as_str().unwrap());
    let resp = with_cookie(&app, Method::PATCH, &path, &cookie).header("if-match", "\"1\"").json(&json!({"name": "x"}));
    assert_problem(resp.send().await.unwrap(), StatusCode::FORBIDDEN, "csrf_rejected").await;
    let resp = with_cookie(&app, Method::DELETE, &path, &cookie).send().await.unwrap();
    assert_problem(resp, StatusCode::FORBIDDEN, "csrf_rejected").await;
    assert_eq!(app.get_json(&path).await["name"], "By cookie", "unchanged");
    let resp = post().header("x-requested-with", "autopmo").header("origin", ORIGIN).send().await.unwrap();
    expect_json(resp, StatusCode::CREATED).await;
    assert_eq!(project_count(&app).await, 2);
    // Bearer-authenticated requests are not affected.
    expect_json(app.post("/api/v1/projects", &project).await, StatusCode::CREATED).await;
    let resp = app.req(Method::POST, "/api/v1/projects").header("origin", "https://evil.example").json(&project);
    expect_json(resp.send().await.unwrap(), StatusCode::CREATED).await;
}

async fn idle_and_absolute_timeouts_hold(app: TestApp) {
    with_password(&app, "eli").await;
    let (_, cookie) = cookie_login(&app, "eli").await;
    app.clock.advance(Duration::minutes(31));
    assert_eq!(me(&app, &cookie).await, StatusCode::UNAUTHORIZED, "idle for 31 minutes");
    // Use slides the idle timeout, but not beyond 8 hours.
    let (_, cookie) = cookie_login(&app, "eli").await;
    let mut alive = 0;
    for _ in 0..20 {
        app.clock.advance(Duration::minutes(29));
        if me(&app, &cookie).await != StatusCode::OK {
            break;
        }
        alive += 1;
    }
    assert_eq!(alive, 16, "16 uses 29 minutes apart fit in 8 hours; the 17th does not");
    app.clock.advance(Duration::minutes(1));
    assert_eq!(me(&app, &cookie).await, StatusCode::UNAUTHORIZED, "the absolute limit holds");
}

async fn logout_ends_the_session_and_clears_the_cookie(app: TestApp) {
    with_password(&app, "fox").await;
    let (_, cookie) = cookie_login(&app, "fox").await;
    // Logout is a POST: the CSRF rule applies.
    let resp = with_cookie(&app, Method::POST, "/api/v1/auth/logout", &cookie).send().await.unwrap();
    assert_problem(resp, StatusCode::FORBIDDEN, "csrf_rejected").await;
    assert_eq!(me(&app, &cookie).await, StatusCode::OK);
    let resp = with_cookie(&app, Method::POST, "/api/v1/auth/logout", &cookie)
        .header("x-requested-with", "autopmo")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        resp.headers().get("set-cookie").unwrap(),
        "__Host-autopmo_session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"
    );
    assert_eq!(me(&app, &cookie).await, StatusCode::UNAUTHORIZED);
    // A token logout sets no cookie.
    let tokens =
        expect_json(login(&app, &json!({"username": "fox", "password": PASSWORD})).await, StatusCode::OK).await;
    let resp = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.headers().get("set-cookie").is_none());
}

async fn disabling_the_user_ends_it_at_once(app: TestApp) {
    let user = with_password(&app, "gus").await;
    let (_, cookie) = cookie_login(&app, "gus").await;
    assert_eq!(me(&app, &cookie).await, StatusCode::OK);
    let mut uow = app.store.begin().await.unwrap();
    users::set_status(uow.conn(), user.id, UserStatus::Disabled, now(&app)).await.unwrap();
    uow.commit().await.unwrap();
    assert_eq!(me(&app, &cookie).await, StatusCode::UNAUTHORIZED);
}

async fn a_made_up_cookie_is_refused_like_a_bad_token(app: TestApp) {
    let bad_token = app.client.get(app.url("/api/v1/me")).bearer_auth("eyJ.garbage.x").send().await.unwrap();
    let (_, expected) = problem_parts(bad_token, StatusCode::UNAUTHORIZED).await;
    let made_up = format!("__Host-autopmo_session=apmo_ses_{}", "A".repeat(43));
    for cookie in [made_up.as_str(), "__Host-autopmo_session=", "__Host-autopmo_session=garbage"] {
        let resp = with_cookie(&app, Method::GET, "/api/v1/me", cookie).send().await.unwrap();
        let (_, body) = problem_parts(resp, StatusCode::UNAUTHORIZED).await;
        assert_eq!(body, expected, "cookie {cookie}");
    }
    // The session id (public) is not the secret.
    with_password(&app, "hal").await;
    let (_, cookie) = cookie_login(&app, "hal").await;
    let list = expect_json(
        with_cookie(&app, Method::GET, "/api/v1/me/sessions", &cookie).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let id = list[0]["id"].as_str().unwrap();
    assert_eq!(me(&app, &format!("__Host-autopmo_session={id}")).await, StatusCode::UNAUTHORIZED);
    // A cookie without the prefix is not the session cookie.
    let value = cookie.split_once('=').unwrap().1;
    assert_eq!(me(&app, &format!("autopmo_session={value}")).await, StatusCode::UNAUTHORIZED);
}

/// An API session is held by tokens, never by a cookie: its secret sent as
/// the session cookie is refused, the first time (read from the store) and
/// again once the store has cached the session it found by that secret.
async fn an_api_sessions_secret_is_no_cookie(app: TestApp) {
    let (user, _) = app.user("apiuser", &[Role::ProjectManager]).await;
    let secret = "apmo_ses_an-api-session-secret-known-to-the-attacker";
    let session = autopmo_store::sessions::Session {
        id: "ses_api_only".to_owned(),
        user_id: user.id.to_string(),
        kind: autopmo_store::sessions::SessionKind::Api,
        created_at: now(&app),
        last_seen_at: now(&app),
        absolute_expires_at: now(&app) + Duration::hours(8),
        auth_time: now(&app),
        amr: vec!["pwd".to_owned()],
        revoked: None,
    };
    let mut uow = app.store.begin().await.unwrap();
    let hash = autopmo_auth::login::secret_hash(secret);
    autopmo_store::sessions::insert(uow.conn(), &session, &hash).await.unwrap();
    uow.commit().await.unwrap();
    let cookie = format!("__Host-autopmo_session={secret}");
    assert_eq!(me(&app, &cookie).await, StatusCode::UNAUTHORIZED);
    let cached = app.store.session_with_user_by_secret(&hash, autopmo_store::Freshness::Recent).await.unwrap();
    assert_eq!(cached.map(|(s, _)| s.id).as_deref(), Some("ses_api_only"), "the session is in the cache");
    assert_eq!(me(&app, &cookie).await, StatusCode::UNAUTHORIZED);
}

api_tests!(
    an_api_sessions_secret_is_no_cookie,
    login_with_cookie_sets_a_host_cookie,
    the_cookie_authenticates_gets,
    unsafe_methods_need_the_csrf_header_and_same_origin,
    idle_and_absolute_timeouts_hold,
    logout_ends_the_session_and_clears_the_cookie,
    disabling_the_user_ends_it_at_once,
    a_made_up_cookie_is_refused_like_a_bad_token,
);
