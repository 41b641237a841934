//! Forged and malformed access tokens through HTTP (RFC 8725): every one is
//! answered 401 with the same body as plain garbage. The claim checks
//! themselves are tested one by one in `autopmo-identity`'s token suite;
//! here each kind of forgery goes through the real extractor.

use crate::helpers::*;
use autopmo_crypto::jws::{RsaBits, SigningKey};
use autopmo_crypto::{base64url, hmac_sha256};
use autopmo_domain::Role;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use time::Duration;

const PASSWORD: &str = "correct horse battery staple 42";

fn b64(v: &Value) -> String {
    base64url(v.to_string().as_bytes())
}

fn decode(part: &str) -> Value {
    use base64::Engine;
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn access_token(app: &TestApp) -> String {
    let (user, _) = app.user("fran", &[Role::ProjectManager]).await;
    let hash = autopmo_crypto::PasswordHasher::default().hash(&SecretString::from(PASSWORD.to_owned())).await.unwrap();
    let mut uow = app.store.begin().await.unwrap();
    let now = autopmo_domain::Clock::now(&app.clock);
    autopmo_store::credentials::set_password(uow.conn(), &user.id.to_string(), hash.as_str(), false, now)
        .await
        .unwrap();
    uow.commit().await.unwrap();
    let resp = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "fran", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_json(resp, StatusCode::OK).await["access_token"].as_str().unwrap().to_owned()
}

async fn me_with(app: &TestApp, token: &str) -> (StatusCode, String) {
    let resp =
        app.client.get(app.url("/api/v1/me")).header("authorization", format!("Bearer {token}")).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

async fn forged_tokens_get_one_answer(app: TestApp) {
    let good = access_token(&app).await;
    assert_eq!(me_with(&app, &good).await.0, StatusCode::OK, "the genuine token works");
    let parts: Vec<&str> = good.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    let header = decode(h);
    let claims = decode(p);
    let with_header = |f: &dyn Fn(&mut Value)| {
        let mut v = header.clone();
        f(&mut v);
        format!("{}.{p}.{s}", b64(&v))
    };
    let with_claims = |f: &dyn Fn(&mut Value)| {
        let mut v = claims.clone();
        f(&mut v);
        format!("{h}.{}.{s}", b64(&v))
    };
    let flip = |part: &str| {
        let mut bytes = part.as_bytes().to_vec();
        let i = bytes.len() / 2;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    };
    // The published key, used as an HMAC secret (the classic confusion).
    let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    let jwk = jwks["keys"][0].to_string();
    let hs = |alg: &str, secret: &[u8]| {
        let head = b64(&json!({"alg": alg, "typ": "at+jwt", "kid": header["kid"]}));
        let mac = hmac_sha256(secret, format!("{head}.{p}").as_bytes());
        format!("{head}.{p}.{}", base64url(&mac))
    };
    // A stranger's key signing the same claims, pointing at itself.
    let stranger = SigningKey::generate(RsaBits::Rsa2048).unwrap();
    let own = stranger.sign("at+jwt", &claims).unwrap();
    let stranger_parts: Vec<&str> = own.split('.').collect();
    let mut self_signed_header = decode(stranger_parts[0]);
    self_signed_header["jwk"] = stranger.public_jwk();
    self_signed_header["jku"] = json!("https://attacker.example/jwks.json");

    let mut forged: Vec<(&str, String)> = vec![
        ("alg none", with_header(&|v| v["alg"] = json!("none"))),
        ("alg None", with_header(&|v| v["alg"] = json!("None"))),
        ("alg NONE", with_header(&|v| v["alg"] = json!("NONE"))),
        ("alg nOnE", with_header(&|v| v["alg"] = json!("nOnE"))),
        ("alg none, no signature", format!("{}.{p}.", b64(&json!({"alg": "none", "typ": "at+jwt"})))),
        (
            "alg missing",
            with_header(&|v| {
                v.as_object_mut().unwrap().remove("alg");
            }),
        ),
        ("alg as array", with_header(&|v| v["alg"] = json!(["RS256"]))),
        ("alg RS384", with_header(&|v| v["alg"] = json!("RS384"))),
        ("alg PS256", with_header(&|v| v["alg"] = json!("PS256"))),
        ("alg ES256", with_header(&|v| v["alg"] = json!("ES256"))),
        ("HS256 with the JWK", hs("HS256", jwk.as_bytes())),
        ("HS256 with the modulus", hs("HS256", jwks["keys"][0]["n"].as_str().unwrap().as_bytes())),
        ("HS512 with the JWK", hs("HS512", jwk.as_bytes())),
        ("flipped header", format!("{}.{p}.{s}", flip(h))),
        ("flipped claims", format!("{h}.{}.{s}", flip(p))),
        ("flipped signature", format!("{h}.{p}.{}", flip(s))),
        ("signature stripped", format!("{h}.{p}")),
        ("empty signature", format!("{h}.{p}.")),
        ("four parts", format!("{good}.{s}")),
        ("padding", format!("{good}=")),
        ("whitespace", format!("{h}. {p}.{s}")),
        ("standard base64", good.replace('-', "+").replace('_', "/")),
        ("oversize", format!("{h}.{}.{s}", "A".repeat(9000))),
        ("header not JSON", format!("{}.{p}.{s}", base64url(b"not json"))),
        ("header an array", format!("{}.{p}.{s}", b64(&json!(["RS256"])))),
        (
            "duplicate alg",
            format!(
                "{}.{p}.{s}",
                base64url(
                    format!(r#"{{"alg":"RS256","alg":"none","typ":"at+jwt","kid":{}}}"#, header["kid"]).as_bytes()
                )
            ),
        ),
        ("crit header", with_header(&|v| v["crit"] = json!(["exp"]))),
        ("unknown kid", with_header(&|v| v["kid"] = json!("not-our-key"))),
        (
            "kid missing",
            with_header(&|v| {
                v.as_object_mut().unwrap().remove("kid");
            }),
        ),
        ("typ JWT", with_header(&|v| v["typ"] = json!("JWT"))),
        (
            "typ missing",
            with_header(&|v| {
                v.as_object_mut().unwrap().remove("typ");
            }),
        ),
        ("typ of an MFA challenge", with_header(&|v| v["typ"] = json!("mfa-challenge+jwt"))),
        (
            "self-signed with jwk and jku",
            format!("{}.{}.{}", b64(&self_signed_header), stranger_parts[1], stranger_parts[2]),
        ),
        ("a stranger's key", own.clone()),
        ("another sub", with_claims(&|v| v["sub"] = json!(uuid::Uuid::new_v4().to_string()))),
        ("another sid", with_claims(&|v| v["sid"] = json!("ses_other"))),
        ("roles raised", with_claims(&|v| v["roles"] = json!(["system_admin"]))),
        ("exp extended", with_claims(&|v| v["exp"] = json!(v["exp"].as_i64().unwrap() + 86_400))),
        ("aud changed", with_claims(&|v| v["aud"] = json!("other-api"))),
        ("iss changed", with_claims(&|v| v["iss"] = json!("https://evil.example"))),
        ("claims not JSON", format!("{h}.{}.{s}", base64url(b"{"))),
        ("a refresh token", "apmo_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned()),
        ("an invitation", "apmo_inv_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned()),
        ("empty", String::new()),
    ];
    let (_, garbage) = me_with(&app, "garbage").await;
    for (what, token) in &forged {
        let (status, body) = me_with(&app, token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(body, garbage, "{what}: a different body");
    }
    // Expired (the genuine token, 15 minutes and a leeway later).
    app.clock.advance(Duration::minutes(17));
    forged.push(("expired", good.clone()));
    let (status, body) = me_with(&app, &good).await;
    assert_eq!((status, body), (StatusCode::UNAUTHORIZED, garbage));
    assert!(forged.len() >= 40, "{} forgeries", forged.len());
}

/// A token signed with the server's own key (as a leaked key or a bug in
/// issuing would make one) whose `sub` is one user and whose `sid` is
/// another user's live session: refused, and the session's owner is not
/// logged out by it (no session ends on a token that is not its own).
async fn a_signed_token_for_another_users_session_is_refused(app: TestApp) {
    let own = access_token(&app).await;
    let sid = decode(own.split('.').nth(1).unwrap())["sid"].as_str().unwrap().to_owned();
    let mut conn = app.store.read().await.unwrap();
    let session = autopmo_store::sessions::get(&mut conn, &sid).await.unwrap().unwrap();
    drop(conn);
    let (mallory, _) = app.user("mallory", &[Role::Developer]).await;
    let mut crossed = session.clone();
    crossed.user_id = mallory.id.to_string();
    let (token, _) = app.state.tokens.issue(&crossed, &["system_admin".to_owned()]).await.unwrap();
    // The owner's own request first, so the session is in the session cache
    // when the crossed token names it.
    assert_eq!(me_with(&app, &own).await.0, StatusCode::OK);
    assert_eq!(me_with(&app, &token).await.0, StatusCode::UNAUTHORIZED);
    // The owner's session goes on, and nothing says it ended.
    assert_eq!(me_with(&app, &own).await.0, StatusCode::OK);
    let mut conn = app.store.read().await.unwrap();
    let session = autopmo_store::sessions::get(&mut conn, &sid).await.unwrap().unwrap();
    assert_eq!(session.revoked, None);
    let filter =
        autopmo_store::audit::AuditFilter { event_type: Some("auth.session_expired".to_owned()), ..Default::default() };
    assert!(autopmo_store::audit::list(&mut conn, &filter, None, 10).await.unwrap().is_empty());
}

api_tests!(forged_tokens_get_one_answer, a_signed_token_for_another_users_session_is_refused);
