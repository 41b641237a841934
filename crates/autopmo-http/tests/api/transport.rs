//! Keycloak's `sslRequired: external` behind a trusted reverse proxy: a
//! public client over plain HTTP is refused (and audited), over HTTPS
//! served; the proxy's headers are believed only from the proxy.

use crate::helpers::*;
use autopmo_http::transport::{SslRequired, Transport};
use autopmo_store::audit;
use reqwest::StatusCode;

async fn behind_proxy() -> Option<TestApp> {
    spawn_app_with(autopmo_test_support::Engine::Sqlite, |state| {
        state.with_transport(Transport {
            ssl_required: SslRequired::External,
            trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_clients_need_https() {
    let app = behind_proxy().await.unwrap();
    let get = |forwarded_for: Option<&'static str>, proto: Option<&'static str>| {
        let mut req = app.client.get(app.url("/api/v1/me")).bearer_auth(&app.token);
        if let Some(f) = forwarded_for {
            req = req.header("x-forwarded-for", f);
        }
        if let Some(p) = proto {
            req = req.header("x-forwarded-proto", p);
        }
        req.header("x-request-id", format!("ssl-{}-{}", forwarded_for.unwrap_or("none"), proto.unwrap_or("none")))
            .send()
    };
    // A public client through the proxy over plain HTTP: refused.
    let resp = get(Some("203.0.113.50"), Some("http")).await.unwrap();
    assert_problem(resp, StatusCode::FORBIDDEN, "https_required").await;
    let resp = get(Some("203.0.113.50"), None).await.unwrap();
    assert_problem(resp, StatusCode::FORBIDDEN, "https_required").await;
    // Over HTTPS at the proxy: served.
    assert_eq!(get(Some("203.0.113.50"), Some("https")).await.unwrap().status(), StatusCode::OK);
    // A private client over plain HTTP: served.
    assert_eq!(get(Some("10.1.2.3"), Some("http")).await.unwrap().status(), StatusCode::OK);
    assert_eq!(get(None, None).await.unwrap().status(), StatusCode::OK);
    // The refusal is on record, with the client's (not the proxy's) address.
    let mut conn = app.store.read().await.unwrap();
    let all = audit::list(&mut conn, &audit::AuditFilter::default(), None, 100).await.unwrap();
    let refused = all.iter().find(|e| e.request_id.as_deref() == Some("ssl-203.0.113.50-http")).unwrap();
    assert_eq!(refused.status, autopmo_audit::Outcome::Denied);
    assert!(refused.metadata.contains("403"));
}
