//! MFA through HTTP (guide §2.2): TOTP enrolment and login, replay and
//! recovery codes, enforcement for administrators and in production
//! (`CONFIGURE_TOTP`), step-up with an injected clock, WebAuthn ceremonies
//! with a software authenticator, and SMS as a backup through a local
//! gateway — a stand-in speaking the webhook protocol of
//! `autopmo_auth::sms::WebhookGateway` (no real SMS can be sent here) —
//! including a gateway that is down.

use crate::helpers::*;
use autopmo_domain::{Clock, Role};
use autopmo_identity::mfa::totp::{self, TotpPolicy};
use autopmo_test_support::Engine;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const PASSWORD: &str = "correct horse battery staple 42";

fn unbase32(text: &str) -> Vec<u8> {
    autopmo_test_support::base32_decode(text).unwrap()
}

fn code(app: &TestApp, secret: &[u8]) -> String {
    totp::code_at(secret, &TotpPolicy::default(), app.clock.now().unix_timestamp())
}

/// The claims of a JWT (unverified: the server made it).
fn claims(jwt: &str) -> Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn post(app: &TestApp, token: Option<&str>, path: &str, body: &Value) -> (StatusCode, Value) {
    let mut req = app.client.post(app.url(path)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json::<Value>().await.unwrap_or(Value::Null))
}

/// A user with `roles`, a password and a personal token.
async fn person(app: &TestApp, name: &str, roles: &[Role]) -> (autopmo_domain::User, String) {
    let (user, token) = app.user(name, roles).await;
    let hash = autopmo_crypto::PasswordHasher::default().hash(&SecretString::from(PASSWORD.to_owned())).await.unwrap();
    let mut uow = app.store.begin().await.unwrap();
    autopmo_store::credentials::set_password(uow.conn(), &user.id.to_string(), hash.as_str(), false, app.clock.now())
        .await
        .unwrap();
    uow.commit().await.unwrap();
    (user, token)
}

async fn login(app: &TestApp, name: &str) -> (StatusCode, Value) {
    post(app, None, "/api/v1/auth/login", &json!({"username": name, "password": PASSWORD})).await
}

/// Adds a TOTP authenticator for the caller of `token`; its secret and the
/// recovery codes.
async fn add_totp(app: &TestApp, token: &str) -> (Vec<u8>, Vec<String>) {
    let (status, started) =
        post(app, Some(token), "/api/v1/me/mfa", &json!({"kind": "totp", "name": "phone app"})).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let uri = started["totp"]["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/") && uri.contains("algorithm=SHA256") && uri.contains("digits=6"),
        "{uri}"
    );
    assert!(started["totp"]["qr_svg"].as_str().unwrap().contains("<svg"));
    let secret = unbase32(started["totp"]["secret"].as_str().unwrap());
    assert!(secret.len() * 8 >= 160, "a secret of at least 160 bits");
    // Not counted until confirmed: a wrong code does not confirm it.
    let factor = started["factor_id"].clone();
    let (status, _) =
        post(app, Some(token), "/api/v1/me/mfa/confirm", &json!({"factor_id": factor, "code": "000000"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, done) =
        post(app, Some(token), "/api/v1/me/mfa/confirm", &json!({"factor_id": factor, "code": code(app, &secret)}))
            .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let codes: Vec<String> = serde_json::from_value(done["recovery_codes"].clone()).unwrap();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

/// Completes a `CONFIGURE_TOTP` login; its access and refresh tokens.
pub async fn configure_totp(app: &TestApp, pending: &Value) -> (String, String) {
    let token = pending["mfa_token"].as_str().unwrap();
    let (status, offer) = post(app, None, "/api/v1/auth/mfa/enroll-totp", &json!({"mfa_token": token})).await;
    assert_eq!(status, StatusCode::OK, "{offer}");
    let secret = unbase32(offer["secret"].as_str().unwrap());
    let answer = json!({"mfa_token": token, "method": "totp", "code": code(app, &secret)});
    let (status, done) = post(app, None, "/api/v1/auth/mfa/verify", &answer).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["recovery_codes"].as_array().unwrap().len(), 10, "recovery codes come with the first factor");
    (done["access_token"].as_str().unwrap().to_owned(), done["refresh_token"].as_str().unwrap().to_owned())
}

async fn totp_logins_refuse_replays_and_take_recovery_codes(app: TestApp) {
    let (_, token) = person(&app, "tina", &[Role::Developer]).await;
    // Without a factor, a developer logs in with the password alone.
    let (status, plain) = login(&app, "tina").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(claims(plain["access_token"].as_str().unwrap())["amr"], json!(["pwd"]));
    let (secret, recovery) = add_totp(&app, &token).await;

    // Now the password is not enough: no session until the second factor.
    app.clock.advance(time::Duration::seconds(31));
    let (status, pending) = login(&app, "tina").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pending["mfa_required"], true);
    assert!(pending.get("access_token").is_none(), "{pending}");
    assert_eq!(pending["methods"], json!(["totp", "recovery_code"]));
    let now_code = code(&app, &secret);
    let answer = json!({"mfa_token": pending["mfa_token"], "method": "totp", "code": now_code});
    let (status, tokens) = post(&app, None, "/api/v1/auth/mfa/verify", &answer).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let c = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(c["amr"], json!(["pwd", "otp"]), "{c}");
    // The same code cannot serve twice, even within its 30 seconds.
    let (_, again) = login(&app, "tina").await;
    let replay = json!({"mfa_token": again["mfa_token"], "method": "totp", "code": now_code});
    assert_eq!(post(&app, None, "/api/v1/auth/mfa/verify", &replay).await.0, StatusCode::UNAUTHORIZED);
    // A recovery code works once.
    app.clock.advance(time::Duration::seconds(2));
    let rc = json!({"mfa_token": again["mfa_token"], "method": "recovery_code", "code": recovery[0]});
    let (status, rc_tokens) = post(&app, None, "/api/v1/auth/mfa/verify", &rc).await;
    assert_eq!(status, StatusCode::OK, "{rc_tokens}");
    assert_eq!(claims(rc_tokens["access_token"].as_str().unwrap())["amr"], json!(["pwd", "rc"]));
    let (_, third) = login(&app, "tina").await;
    let reused = json!({"mfa_token": third["mfa_token"], "method": "recovery_code", "code": recovery[0]});
    assert_eq!(post(&app, None, "/api/v1/auth/mfa/verify", &reused).await.0, StatusCode::UNAUTHORIZED);
    // New recovery codes void the old set.
    let (status, fresh) = post(&app, Some(&token), "/api/v1/me/mfa/recovery-codes", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    app.clock.advance(time::Duration::seconds(2));
    let (_, next) = login(&app, "tina").await;
    let old = json!({"mfa_token": next["mfa_token"], "method": "recovery_code", "code": recovery[1]});
    assert_eq!(post(&app, None, "/api/v1/auth/mfa/verify", &old).await.0, StatusCode::UNAUTHORIZED);
    app.clock.advance(time::Duration::seconds(2));
    let new = json!({"mfa_token": next["mfa_token"], "method": "recovery_code", "code": fresh["recovery_codes"][0]});
    assert_eq!(post(&app, None, "/api/v1/auth/mfa/verify", &new).await.0, StatusCode::OK);
    // A spent token cannot complete another login.
    let stale = json!({"mfa_token": pending["mfa_token"], "method": "totp", "code": code(&app, &secret)});
    assert_eq!(post(&app, None, "/api/v1/auth/mfa/verify", &stale).await.0, StatusCode::UNAUTHORIZED);

    // Five wrong answers end a pending login, whatever comes next.
    app.clock.advance(time::Duration::minutes(20));
    let (_, fourth) = login(&app, "tina").await;
    for _ in 0..5 {
        app.clock.advance(time::Duration::seconds(2));
        let wrong = json!({"mfa_token": fourth["mfa_token"], "method": "totp", "code": "123456"});
        assert_eq!(post(&app, None, "/api/v1/auth/mfa/verify", &wrong).await.0, StatusCode::UNAUTHORIZED);
    }
    app.clock.advance(time::Duration::minutes(1));
    let right = json!({"mfa_token": fourth["mfa_token"], "method": "totp", "code": code(&app, &secret)});
    assert_eq!(post(&app, None, "/api/v1/auth/mfa/verify", &right).await.0, StatusCode::UNAUTHORIZED);

    // On record: the failures (counted in the MFA counter), the successes,
    // the enrolment, the recovery code.
    let mut conn = app.store.read().await.unwrap();
    let events = autopmo_store::audit::range(&mut conn, i64::MIN, i64::MAX, 100_000).await.unwrap();
    let count = |t: &str| events.iter().filter(|e| e.event_type == t).count();
    assert!(count("auth.mfa_failed") >= 6, "{}", count("auth.mfa_failed"));
    assert_eq!(count("auth.mfa_verified"), 3);
    assert_eq!(count("mfa.enrolled"), 1);
    assert_eq!(count("mfa.recovery_code_used"), 2);
    assert_eq!(count("mfa.recovery_codes_generated"), 1);
    let failed = events.iter().rfind(|e| e.event_type == "auth.mfa_failed" && e.metadata.contains("mfa_failures"));
    assert!(failed.is_some());
}

async fn administrators_must_configure_a_factor_first(app: TestApp) {
    let (_, _) = person(&app, "ada", &[Role::SystemAdmin]).await;
    let (status, pending) = login(&app, "ada").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((pending["required_action"].as_str(), pending["methods"].clone()), (Some("CONFIGURE_TOTP"), json!([])));
    // The token is not a session: nothing else is possible with it.
    let resp = app.client.get(app.url("/api/v1/me")).bearer_auth(pending["mfa_token"].as_str().unwrap()).send().await;
    assert_eq!(resp.unwrap().status(), StatusCode::UNAUTHORIZED);
    let (access, _) = configure_totp(&app, &pending).await;
    assert_eq!(claims(&access)["amr"], json!(["pwd", "otp"]));
    // Outside production, only system_admin is asked.
    for role in Role::ALL.iter().filter(|r| **r != Role::SystemAdmin) {
        let name = format!("only-{}", role.as_str().replace('_', "-"));
        person(&app, &name, &[*role]).await;
        let (status, body) = login(&app, &name).await;
        assert!(status == StatusCode::OK && body.get("access_token").is_some(), "{role}: {body}");
    }
    // Holding system_admin among other roles is enough to be asked.
    person(&app, "both", &[Role::Developer, Role::SystemAdmin]).await;
    assert_eq!(login(&app, "both").await.1["required_action"], "CONFIGURE_TOTP");
}

async fn in_production_every_account_needs_mfa(engine: Engine) {
    let Some(app) = spawn_app_with(engine, |state| {
        let mut policy = state.logins.policy().clone();
        policy.mfa.everyone = true;
        autopmo_http::AppState::with_auth(
            state.trail.clone(),
            state.clock.clone(),
            state.limits,
            "http://127.0.0.1:8080",
            policy,
        )
    })
    .await
    else {
        return;
    };
    for (name, role) in [("dev", Role::Developer), ("sue", Role::Stakeholder), ("aud", Role::Auditor)] {
        person(&app, name, &[role]).await;
        let (_, pending) = login(&app, name).await;
        assert_eq!(pending["required_action"], "CONFIGURE_TOTP", "{name}: {pending}");
    }
}

async fn privileged_operations_need_a_recent_second_factor(app: TestApp) {
    let (_, token) = person(&app, "paula", &[Role::ProjectManager]).await;
    let (secret, _) = add_totp(&app, &token).await;
    let body = json!({"name": "Doomed", "budget": {"amount": "1.00", "currency": "USD"}});
    let (_, project) = post(&app, Some(&token), "/api/v1/projects", &body).await;
    let path = format!("/api/v1/projects/{}", project["id"].as_str().unwrap());
    app.clock.advance(time::Duration::seconds(31));
    let (_, pending) = login(&app, "paula").await;
    let answer = json!({"mfa_token": pending["mfa_token"], "method": "totp", "code": code(&app, &secret)});
    let (_, tokens) = post(&app, None, "/api/v1/auth/mfa/verify", &answer).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    // Six minutes after the second factor, a delete needs a new one.
    app.clock.advance(time::Duration::minutes(6));
    let resp = app.client.delete(app.url(&path)).bearer_auth(&access).send().await.unwrap();
    assert_problem(resp, StatusCode::FORBIDDEN, "step_up_required").await;
    let wrong = json!({"method": "totp", "code": "000000"});
    assert_eq!(post(&app, Some(&access), "/api/v1/auth/step-up", &wrong).await.0, StatusCode::UNAUTHORIZED);
    app.clock.advance(time::Duration::seconds(2));
    let (status, raised) =
        post(&app, Some(&access), "/api/v1/auth/step-up", &json!({"method": "totp", "code": code(&app, &secret)}))
            .await;
    assert_eq!(status, StatusCode::OK, "{raised}");
    let fresh = raised["access_token"].as_str().unwrap();
    assert_eq!(claims(fresh)["auth_time"].as_i64(), Some(app.clock.now().unix_timestamp()));
    let resp = app.client.delete(app.url(&path)).bearer_auth(&access).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT, "stepped up: the same session may delete");
    // Removing a factor is privileged too, and a personal token cannot step up.
    app.clock.advance(time::Duration::minutes(6));
    let mine = app.client.get(app.url("/api/v1/me/mfa")).bearer_auth(&access).send().await;
    let listed: Value = mine.unwrap().json().await.unwrap();
    let factor = listed["factors"][0]["id"].as_str().unwrap().to_owned();
    let resp = app.client.delete(app.url(&format!("/api/v1/me/mfa/{factor}"))).bearer_auth(&access).send().await;
    assert_problem(resp.unwrap(), StatusCode::FORBIDDEN, "step_up_required").await;
    let (status, _) = post(&app, Some(&token), "/api/v1/auth/step-up", &json!({"method": "totp", "code": "1"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn webauthn_ceremonies_with_a_software_authenticator(engine: Engine) {
    const ORIGIN: &str = "https://localhost";
    let Some(app) = spawn_app_with(engine, |state| {
        let rp = autopmo_webauthn::WebAuthnConfig {
            rp_id: "localhost".to_owned(),
            rp_origin: ORIGIN.to_owned(),
            rp_name: "AutoPMO".to_owned(),
        };
        let mfa = autopmo_auth::mfa::Mfa::new(state.trail.clone(), state.logins.clone(), Default::default())
            .with_webauthn(autopmo_webauthn::WebAuthn::new(&rp).unwrap());
        state.with_mfa(mfa)
    })
    .await
    else {
        return;
    };
    let (_, token) = person(&app, "wendy", &[Role::Developer]).await;
    let mut key = autopmo_webauthn::soft::SoftAuthenticator::new();
    let (status, started) =
        post(&app, Some(&token), "/api/v1/me/mfa", &json!({"kind": "webauthn", "name": "key"})).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let credential = key.register(ORIGIN, &started["webauthn"]).unwrap();
    let confirm = json!({"mfa_token": started["mfa_token"], "credential": credential});
    let (status, done) = post(&app, Some(&token), "/api/v1/me/mfa/confirm", &confirm).await;
    assert_eq!(status, StatusCode::OK, "{done}");

    let (_, pending) = login(&app, "wendy").await;
    assert_eq!(pending["methods"], json!(["webauthn", "recovery_code"]));
    let ask = json!({"mfa_token": pending["mfa_token"], "method": "webauthn"});
    let (status, options) = post(&app, None, "/api/v1/auth/mfa/challenge", &ask).await;
    assert_eq!(status, StatusCode::OK, "{options}");
    let assertion = key.authenticate(ORIGIN, &options["webauthn"]).unwrap();
    let answer = json!({"mfa_token": pending["mfa_token"], "method": "webauthn", "assertion": assertion});
    let (status, tokens) = post(&app, None, "/api/v1/auth/mfa/verify", &answer).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(claims(tokens["access_token"].as_str().unwrap())["amr"], json!(["pwd", "hwk"]));
    // The same assertion does not open a second login.
    let (_, second) = login(&app, "wendy").await;
    let (_, _) = post(
        &app,
        None,
        "/api/v1/auth/mfa/challenge",
        &json!({"mfa_token": second["mfa_token"], "method": "webauthn"}),
    )
    .await;
    let replayed = json!({"mfa_token": second["mfa_token"], "method": "webauthn", "assertion": assertion});
    assert_eq!(post(&app, None, "/api/v1/auth/mfa/verify", &replayed).await.0, StatusCode::UNAUTHORIZED);
}

/// The local SMS gateway: records what it is asked to deliver.
async fn gateway(up: bool) -> (String, Arc<Mutex<Vec<Value>>>) {
    let sent: Arc<Mutex<Vec<Value>>> = Arc::default();
    let log = Arc::clone(&sent);
    let app = axum::Router::new().route(
        "/sms",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let log = Arc::clone(&log);
            async move {
                log.lock().unwrap().push(body);
                axum::http::StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    if up {
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    (url, sent)
}

/// The state with SMS codes sent through the webhook at `url`.
fn with_sms_to(state: autopmo_http::AppState, url: &str) -> autopmo_http::AppState {
    let hook = autopmo_auth::sms::WebhookGateway::new(url, None, None, std::time::Duration::from_secs(2)).unwrap();
    let mfa = autopmo_auth::mfa::Mfa::new(state.trail.clone(), state.logins.clone(), Default::default())
        .with_sms(Arc::new(hook));
    state.with_mfa(mfa)
}

async fn sms_is_a_backup_through_the_gateway(engine: Engine) {
    let (url, sent) = gateway(true).await;
    let Some(app) = spawn_app_with(engine, |state| with_sms_to(state, &url)).await else { return };
    let (_, token) = person(&app, "sam", &[Role::Developer]).await;
    let sms = json!({"kind": "sms", "name": "mobile", "phone": "+44 7700 900123"});
    // Never the only factor.
    let (status, refused) = post(&app, Some(&token), "/api/v1/me/mfa", &sms).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (secret, _) = add_totp(&app, &token).await;
    let (status, started) = post(&app, Some(&token), "/api/v1/me/mfa", &sms).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    assert_eq!(started["sent_to"], "+44•••••••123");
    let texted = |n: usize| {
        let body = sent.lock().unwrap()[n]["body"].as_str().unwrap().to_owned();
        body.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6).unwrap().to_owned()
    };
    assert_eq!(sent.lock().unwrap()[0]["to"], "+447700900123");
    let confirm = json!({"mfa_token": started["mfa_token"], "code": texted(0)});
    assert_eq!(post(&app, Some(&token), "/api/v1/me/mfa/confirm", &confirm).await.0, StatusCode::OK);

    // Login by SMS: a code is sent, answered once.
    app.clock.advance(time::Duration::minutes(2));
    let (_, pending) = login(&app, "sam").await;
    assert_eq!(pending["methods"], json!(["totp", "sms", "recovery_code"]));
    let ask = json!({"mfa_token": pending["mfa_token"], "method": "sms"});
    assert_eq!(post(&app, None, "/api/v1/auth/mfa/challenge", &ask).await.0, StatusCode::OK);
    // A second SMS within the minute is refused.
    assert_eq!(post(&app, None, "/api/v1/auth/mfa/challenge", &ask).await.0, StatusCode::TOO_MANY_REQUESTS);
    let answer = json!({"mfa_token": pending["mfa_token"], "method": "sms", "code": texted(1)});
    let (status, tokens) = post(&app, None, "/api/v1/auth/mfa/verify", &answer).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(claims(tokens["access_token"].as_str().unwrap())["amr"], json!(["pwd", "sms"]));
    let _ = &secret;
}

async fn a_gateway_that_is_down_leaves_the_other_factors(engine: Engine) {
    let (url, _) = gateway(false).await;
    let Some(app) = spawn_app_with(engine, |state| with_sms_to(state, &url)).await else { return };
    let (_, token) = person(&app, "dora", &[Role::Developer]).await;
    let (secret, _) = add_totp(&app, &token).await;
    let sms = json!({"kind": "sms", "name": "mobile", "phone": "+15555550100"});
    let (status, problem) = post(&app, Some(&token), "/api/v1/me/mfa", &sms).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("could not be sent"), "{problem}");
    // The authenticator still works; nothing was locked.
    app.clock.advance(time::Duration::seconds(31));
    let (_, pending) = login(&app, "dora").await;
    let answer = json!({"mfa_token": pending["mfa_token"], "method": "totp", "code": code(&app, &secret)});
    assert_eq!(post(&app, None, "/api/v1/auth/mfa/verify", &answer).await.0, StatusCode::OK);
}

api_tests!(
    totp_logins_refuse_replays_and_take_recovery_codes,
    administrators_must_configure_a_factor_first,
    privileged_operations_need_a_recent_second_factor,
);

macro_rules! engine_tests {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(autopmo_test_support::Engine::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(autopmo_test_support::Engine::Postgres).await;
                }
            }
        )+
    };
}

engine_tests!(
    in_production_every_account_needs_mfa,
    webauthn_ceremonies_with_a_software_authenticator,
    sms_is_a_backup_through_the_gateway,
    a_gateway_that_is_down_leaves_the_other_factors,
);
