//! Password login, access tokens checked against their sessions, refresh
//! rotation with reuse detection, logout, the caller's sessions, the
//! discovery documents, and Keycloak's lockout through HTTP.

use crate::helpers::*;
use autopmo_crypto::PasswordHasher;
use autopmo_domain::{Role, UserStatus};
use autopmo_store::{credentials, users};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use time::Duration;

const PASSWORD: &str = "correct horse battery staple 42";

async fn with_password(app: &TestApp, name: &str) -> autopmo_domain::User {
    let (user, _) = app.user(name, &[Role::ProjectManager]).await;
    let hash = PasswordHasher::default().hash(&SecretString::from(PASSWORD.to_owned())).await.unwrap();
    let mut uow = app.store.begin().await.unwrap();
    credentials::set_password(uow.conn(), &user.id.to_string(), hash.as_str(), false, app.clock_now()).await.unwrap();
    uow.commit().await.unwrap();
    user
}

async fn login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn tokens(app: &TestApp, username: &str) -> (String, String) {
    let body = expect_json(login(app, username, PASSWORD).await, StatusCode::OK).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    (body["access_token"].as_str().unwrap().to_owned(), body["refresh_token"].as_str().unwrap().to_owned())
}

async fn me(app: &TestApp, access: &str) -> StatusCode {
    app.client.get(app.url("/api/v1/me")).bearer_auth(access).send().await.unwrap().status()
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.client.post(app.url("/api/v1/auth/refresh")).json(&json!({"refresh_token": token})).send().await.unwrap()
}

impl TestApp {
    fn clock_now(&self) -> time::OffsetDateTime {
        autopmo_domain::Clock::now(&self.clock)
    }
}

async fn login_gives_tokens_that_work(app: TestApp) {
    let user = with_password(&app, "pat").await;
    let (access, refresh_token) = tokens(&app, "pat").await;
    assert!(refresh_token.starts_with("apmo_rt_"));
    let me_body =
        expect_json(app.client.get(app.url("/api/v1/me")).bearer_auth(&access).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(me_body["id"], user.id.to_string());
    // Also by email, in any case.
    let (other, _) = tokens(&app, "PAT@example.org").await;
    assert_eq!(me(&app, &other).await, StatusCode::OK);
    // Discovery and keys.
    let jwks =
        expect_json(app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    let config =
        expect_json(app.client.get(app.url("/.well-known/openid-configuration")).send().await.unwrap(), StatusCode::OK)
            .await;
    assert!(config["jwks_uri"].as_str().unwrap().ends_with("/.well-known/jwks.json"));
    // A forged token (alg none, the same claims) is refused like garbage.
    let mut parts = access.split('.');
    let (_, payload) = (parts.next(), parts.next().unwrap());
    let none = format!("{}.{payload}.", autopmo_crypto::base64url(br#"{"alg":"none","typ":"at+jwt"}"#));
    let garbage = app.client.get(app.url("/api/v1/me")).bearer_auth("eyJ.garbage.x").send().await.unwrap();
    let forged = app.client.get(app.url("/api/v1/me")).bearer_auth(&none).send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(forged.text().await.unwrap(), garbage.text().await.unwrap());
}

async fn every_refusal_gets_the_same_answer(app: TestApp) {
    let bob = with_password(&app, "bob").await;
    with_password(&app, "carl").await;
    let mut uow = app.store.begin().await.unwrap();
    users::set_status(uow.conn(), bob.id, UserStatus::Disabled, app.clock_now()).await.unwrap();
    uow.commit().await.unwrap();
    let answers: Vec<(StatusCode, Value)> = vec![
        (
            login(&app, "nobody", PASSWORD).await.status(),
            expect_json(login(&app, "nobody2", PASSWORD).await, StatusCode::UNAUTHORIZED).await,
        ),
        (
            login(&app, "carl", "wrong wrong").await.status(),
            expect_json(login(&app, "carl", "wrong again").await, StatusCode::UNAUTHORIZED).await,
        ),
        (
            login(&app, "bob", PASSWORD).await.status(),
            expect_json(login(&app, "bob", PASSWORD).await, StatusCode::UNAUTHORIZED).await,
        ),
    ];
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::UNAUTHORIZED);
        assert_eq!(body, &answers[0].1);
    }
    assert_eq!(answers[0].1["type"], "urn:autopmo:problem:invalid_credentials");
}

async fn lockout_follows_keycloak_through_http(app: TestApp) {
    with_password(&app, "dora").await;
    for _ in 0..5 {
        app.clock.advance(Duration::seconds(5));
        assert_eq!(login(&app, "dora", "wrong wrong").await.status(), StatusCode::UNAUTHORIZED);
    }
    app.clock.advance(Duration::seconds(30));
    assert_eq!(
        login(&app, "dora", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED,
        "locked: the right password is refused"
    );
    app.clock.advance(Duration::seconds(31));
    assert_eq!(login(&app, "dora", PASSWORD).await.status(), StatusCode::OK);
}

async fn refresh_rotates_and_reuse_ends_the_family(app: TestApp) {
    with_password(&app, "eve").await;
    let (access, first) = tokens(&app, "eve").await;
    let rotated = expect_json(refresh(&app, &first).await, StatusCode::OK).await;
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert_eq!(me(&app, rotated["access_token"].as_str().unwrap()).await, StatusCode::OK);
    // The spent token again: refused, and the whole family ends.
    assert_eq!(refresh(&app, &first).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(&app, &second).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, &access).await, StatusCode::UNAUTHORIZED, "the session's access tokens stop at once");
    // Two concurrent refreshes with one token: exactly one succeeds.
    let (_, token) = tokens(&app, "eve").await;
    let (a, b) = tokio::join!(refresh(&app, &token), refresh(&app, &token));
    let ok = [a.status(), b.status()].iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 1);
    // Not a refresh token at all.
    assert_eq!(refresh(&app, &app.token).await.status(), StatusCode::UNAUTHORIZED);
}

async fn sessions_expire_and_can_be_ended(app: TestApp) {
    let user = with_password(&app, "fay").await;
    let (access, refresh_token) = tokens(&app, "fay").await;
    let (other, _) = tokens(&app, "fay").await;
    let list = expect_json(
        app.client.get(app.url("/api/v1/me/sessions")).bearer_auth(&access).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let other_id = list.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();
    let resp = app
        .client
        .request(Method::DELETE, app.url(&format!("/api/v1/me/sessions/{other_id}")))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&app, &other).await, StatusCode::UNAUTHORIZED);
    // Someone else's session id is not found.
    let (_, stranger) = app.user("stranger", &[Role::Developer]).await;
    let resp = app
        .client
        .request(Method::DELETE, app.url(&format!("/api/v1/me/sessions/{other_id}")))
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // Idle for 31 minutes: the session is over, for tokens and refresh alike.
    app.clock.advance(Duration::minutes(31));
    assert_eq!(me(&app, &access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(&app, &refresh_token).await.status(), StatusCode::UNAUTHORIZED);
    let mut conn = app.store.read().await.unwrap();
    let filter =
        autopmo_store::audit::AuditFilter { event_type: Some("auth.session_expired".to_owned()), ..Default::default() };
    assert_eq!(
        autopmo_store::audit::list(&mut conn, &filter, None, 10).await.unwrap().len(),
        1,
        "the expiry is on record"
    );
    drop(conn);
    // Active use keeps a session alive, but not beyond 8 hours.
    let (access, mut refresh_token) = tokens(&app, "fay").await;
    let mut refreshed = 0;
    for _ in 0..20 {
        app.clock.advance(Duration::minutes(29));
        let body = refresh(&app, &refresh_token).await;
        if body.status() != StatusCode::OK {
            break;
        }
        refreshed += 1;
        refresh_token = expect_json(body, StatusCode::OK).await["refresh_token"].as_str().unwrap().to_owned();
    }
    // 16 refreshes 29 minutes apart fit in 8 hours; the 17th does not.
    assert_eq!(refreshed, 16, "the session lives 8 hours with use, and no longer");
    assert_eq!(refresh(&app, &refresh_token).await.status(), StatusCode::UNAUTHORIZED, "the absolute limit holds");
    let _ = access;
    // Logout ends the current session; disabling ends all.
    let (access, _) = tokens(&app, "fay").await;
    let resp = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&app, &access).await, StatusCode::UNAUTHORIZED);
    let (access, _) = tokens(&app, "fay").await;
    // Used once first, so that its signature check is remembered.
    assert_eq!(me(&app, &access).await, StatusCode::OK);
    let mut uow = app.store.begin().await.unwrap();
    users::set_status(uow.conn(), user.id, UserStatus::Disabled, app.clock_now()).await.unwrap();
    uow.commit().await.unwrap();
    assert_eq!(me(&app, &access).await, StatusCode::UNAUTHORIZED, "a disabled user's token stops at once");
}

async fn an_invitation_becomes_an_account(app: TestApp) {
    let token = format!("apmo_inv_{}", uuid::Uuid::new_v4().simple());
    let now = app.clock_now();
    let invite = autopmo_store::invites::Invite {
        token_hash: autopmo_auth::login::secret_hash(&token),
        email_normalized: "ivy@example.org".to_owned(),
        roles: r#"["developer"]"#.to_owned(),
        created_by: None,
        created_at: now,
        expires_at: now + Duration::hours(72),
        used_at: None,
    };
    let mut uow = app.store.begin().await.unwrap();
    autopmo_store::invites::insert(uow.conn(), &invite).await.unwrap();
    uow.commit().await.unwrap();
    let accept = |username: &str, password: &str| {
        app.client
            .post(app.url("/api/v1/auth/invites/accept"))
            .json(&json!({"token": token, "username": username, "password": password}))
            .send()
    };
    // A weak password is refused and the invitation stays usable.
    assert_eq!(accept("ivy", "password").await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);
    let created = expect_json(accept("ivy", PASSWORD).await.unwrap(), StatusCode::CREATED).await;
    assert_eq!(created["username"], "ivy");
    assert_problem(accept("ivy2", PASSWORD).await.unwrap(), StatusCode::BAD_REQUEST, "invalid_invite").await;
    let (access, _) = tokens(&app, "ivy@example.org").await;
    let me_body =
        expect_json(app.client.get(app.url("/api/v1/me")).bearer_auth(&access).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(me_body["roles"], json!(["developer"]));
}

async fn an_administrator_ends_all_sessions_of_a_user(app: TestApp) {
    let user = with_password(&app, "gus").await;
    let (first, _) = tokens(&app, "gus").await;
    let (second, _) = tokens(&app, "gus").await;
    let path = format!("/api/v1/users/{}/sessions/revoke", user.id);
    // A project manager may not.
    let (_, manager) = app.user("pam", &[Role::ProjectManager]).await;
    let refused = app.client.post(app.url(&path)).bearer_auth(&manager).json(&json!({})).send().await.unwrap();
    assert_problem(refused, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(me(&app, &first).await, StatusCode::OK);
    let (_, admin) = app.user("root", &[Role::SystemAdmin]).await;
    let resp = app.client.post(app.url(&path)).bearer_auth(&admin).json(&json!({})).send().await.unwrap();
    assert_eq!(expect_json(resp, StatusCode::OK).await["sessions_ended"], 2);
    assert_eq!(me(&app, &first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, &second).await, StatusCode::UNAUTHORIZED);
}

api_tests!(
    an_administrator_ends_all_sessions_of_a_user,
    an_invitation_becomes_an_account,
    login_gives_tokens_that_work,
    every_refusal_gets_the_same_answer,
    lockout_follows_keycloak_through_http,
    refresh_rotates_and_reuse_ends_the_family,
    sessions_expire_and_can_be_ended,
);
