//! SMS delivery through the webhook and Twilio gateways.
//!
//! The gateways talk to a **stand-in**: an axum server on `127.0.0.1:0`
//! started by each test, speaking the real protocols — Twilio's Messages API
//! (`POST /2010-04-01/Accounts/{sid}/Messages.json`, form fields, HTTP Basic,
//! 201 `{sid, status}` or `{code, message}` errors) and the webhook's JSON
//! contract. Twilio itself cannot run on these machines, and a test must not
//! send real text messages; everything between the gateway and the socket
//! (reqwest, hyper, the timeouts) is the real code.

use autopmo_auth::sms::{SIGNATURE_HEADER, SmsError, SmsGateway, SmsMessage, TwilioGateway, WebhookGateway};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use secrecy::SecretString;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BEARER: &str = "bearer-s3cret-Tok3n";
const SIGNING_KEY: &str = "signing-s3cret-K3y";
const SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "twilio-auth-s3cret-T0ken";
const FROM: &str = "+15005550006";
const CODE: &str = "493027";
const TIMEOUT: Duration = Duration::from_secs(5);

fn message() -> SmsMessage {
    SmsMessage {
        to: "+14155550100".to_owned(),
        body: format!("Your AutoPMO code is {CODE}"),
        id: "mfa-0190f3c2-7d1e-7c4a-9b1d-2f6a8e5c4b3a".to_owned(),
    }
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
struct Received {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or_else(|| panic!("no {name} header"))
    }
}

#[derive(Clone)]
struct StandIn {
    received: Arc<Mutex<Vec<Received>>>,
    status: StatusCode,
    answer: String,
    delay: Duration,
}

async fn answer(
    State(stand_in): State<StandIn>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    stand_in.received.lock().unwrap().push(Received { method, path: uri.path().to_owned(), headers, body });
    tokio::time::sleep(stand_in.delay).await;
    (stand_in.status, [(header::CONTENT_TYPE, "application/json")], stand_in.answer).into_response()
}

/// Starts a stand-in answering every request with `status` and `answer`
/// after `delay`; returns its base URL and what it receives.
async fn stand_in(status: u16, answer_body: &str, delay: Duration) -> (String, Arc<Mutex<Vec<Received>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let state = StandIn {
        received: received.clone(),
        status: StatusCode::from_u16(status).unwrap(),
        answer: answer_body.to_owned(),
        delay,
    };
    let app = Router::new().fallback(answer).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), received)
}

/// A loopback URL nobody listens on.
async fn nobody_listening() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn webhook(url: &str, timeout: Duration) -> WebhookGateway {
    WebhookGateway::new(url, Some(secret(BEARER)), Some(secret(SIGNING_KEY)), timeout).unwrap()
}

fn twilio(base: &str, timeout: Duration) -> TwilioGateway {
    TwilioGateway::new(Some(base), SID, secret(AUTH_TOKEN), FROM, timeout).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        write!(out, "{b:02x}").unwrap();
        out
    })
}

/// The form fields of a request body, in order.
fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    let url = reqwest_tls::Url::parse(&format!("http://x/?{}", std::str::from_utf8(body).unwrap())).unwrap();
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// Neither a secret nor the body (nor its code) shows in `text`.
fn assert_no_secret(text: &str) {
    for secret in [BEARER, SIGNING_KEY, AUTH_TOKEN, CODE, message().body.as_str()] {
        assert!(!text.contains(secret), "{text:?} leaks {secret:?}");
    }
}

#[tokio::test]
async fn webhook_delivers_signed_json_with_the_bearer_token() {
    let (base, received) = stand_in(202, "{}", Duration::ZERO).await;
    let gateway = webhook(&format!("{base}/relay/sms"), TIMEOUT);
    assert_eq!(gateway.name(), "webhook");
    gateway.send(&message()).await.unwrap();

    let requests = received.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/relay/sms");
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(request.header("authorization"), format!("Bearer {BEARER}"));
    assert_eq!(request.header("idempotency-key"), message().id);
    // The receiver's check: HMAC-SHA256 of the exact bytes it got.
    let signature = request.header(&SIGNATURE_HEADER.to_ascii_lowercase()).to_owned();
    let expected = hex(&autopmo_crypto::hmac_sha256(SIGNING_KEY.as_bytes(), &request.body));
    assert_eq!(signature, format!("sha256={expected}"));
    let wrong_key = hex(&autopmo_crypto::hmac_sha256(b"another key", &request.body));
    assert_ne!(signature, format!("sha256={wrong_key}"));

    let json: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({ "id": message().id, "to": "+14155550100", "body": message().body }),
        "exactly id, to and body"
    );
}

#[tokio::test]
async fn webhook_without_secrets_sends_neither_token_nor_signature() {
    let (base, received) = stand_in(200, "", Duration::ZERO).await;
    let gateway = WebhookGateway::new(&base, None, None, TIMEOUT).unwrap();
    gateway.send(&message()).await.unwrap();
    let request = received.lock().unwrap()[0].clone();
    assert!(request.headers.get("authorization").is_none());
    assert!(request.headers.get(SIGNATURE_HEADER).is_none());
    assert_eq!(request.header("idempotency-key"), message().id);
}

#[tokio::test]
async fn twilio_delivers_the_form_with_basic_credentials() {
    let (base, received) =
        stand_in(201, r#"{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"}"#, Duration::ZERO).await;
    let gateway = twilio(&base, TIMEOUT);
    assert_eq!(gateway.name(), "twilio");
    gateway.send(&message()).await.unwrap();

    let request = received.lock().unwrap()[0].clone();
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, format!("/2010-04-01/Accounts/{SID}/Messages.json"));
    assert_eq!(request.header("content-type"), "application/x-www-form-urlencoded");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{AUTH_TOKEN}"));
    assert_eq!(request.header("authorization"), format!("Basic {basic}"));
    let fields = form_fields(&request.body);
    assert_eq!(
        fields,
        vec![
            ("To".to_owned(), "+14155550100".to_owned()),
            ("From".to_owned(), FROM.to_owned()),
            ("Body".to_owned(), message().body),
        ]
    );
}

#[tokio::test]
async fn a_twilio_clone_is_reached_under_its_base_url() {
    let (base, received) = stand_in(201, r#"{"sid":"SMx","status":"accepted"}"#, Duration::ZERO).await;
    twilio(&format!("{base}/compat/"), TIMEOUT).send(&message()).await.unwrap();
    assert_eq!(received.lock().unwrap()[0].path, format!("/compat/2010-04-01/Accounts/{SID}/Messages.json"));
}

#[tokio::test]
async fn twilio_invalid_number_is_rejected_with_its_message() {
    let (base, _) = stand_in(
        400,
        r#"{"code":21211,"message":"The 'To' number is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#,
        Duration::ZERO,
    )
    .await;
    match twilio(&base, TIMEOUT).send(&message()).await {
        Err(SmsError::Rejected(text)) => {
            assert!(text.contains("The 'To' number is not a valid phone number."), "{text}");
            assert!(text.contains("21211"), "{text}");
            assert_no_secret(&text);
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn statuses_decide_between_unavailable_rejected_and_config() {
    let twilio_500 = r#"{"code":20500,"message":"Internal Server Error"}"#;
    for (status, answer_body, expect) in [
        (500, twilio_500, "unavailable"),
        (503, "", "unavailable"),
        (429, r#"{"code":20429,"message":"Too Many Requests"}"#, "unavailable"),
        (401, r#"{"code":20003,"message":"Authenticate"}"#, "config"),
        (404, r#"{"code":20404,"message":"The requested resource was not found"}"#, "rejected"),
    ] {
        let (base, _) = stand_in(status, answer_body, Duration::ZERO).await;
        let twilio_error = twilio(&base, TIMEOUT).send(&message()).await.unwrap_err();
        let webhook_error = webhook(&base, TIMEOUT).send(&message()).await.unwrap_err();
        for error in [twilio_error, webhook_error] {
            let kind = match &error {
                SmsError::Unavailable(_) => "unavailable",
                SmsError::Rejected(_) => "rejected",
                SmsError::Config(_) => "config",
            };
            assert_eq!(kind, expect, "HTTP {status}: {error}");
            assert!(error.to_string().contains(&status.to_string()), "{error}");
        }
    }
    // A webhook's own words on a 4xx come along.
    let (base, _) = stand_in(422, r#"{"error":"number not reachable by this relay"}"#, Duration::ZERO).await;
    let error = webhook(&base, TIMEOUT).send(&message()).await.unwrap_err();
    assert!(matches!(&error, SmsError::Rejected(t) if t.contains("number not reachable by this relay")), "{error}");
}

#[tokio::test]
async fn a_gateway_that_is_down_is_unavailable_quickly() {
    let url = nobody_listening().await;
    let gateways: [Box<dyn SmsGateway>; 2] = [Box::new(webhook(&url, TIMEOUT)), Box::new(twilio(&url, TIMEOUT))];
    for gateway in gateways {
        let started = Instant::now();
        let error = gateway.send(&message()).await.unwrap_err();
        assert!(matches!(error, SmsError::Unavailable(_)), "{}: {error:?}", gateway.name());
        assert!(started.elapsed() < Duration::from_secs(2), "{} took {:?}", gateway.name(), started.elapsed());
        assert!(error.to_string().contains("cannot connect"), "{error}");
    }
}

#[tokio::test]
async fn a_gateway_that_hangs_is_unavailable_after_the_timeout() {
    let (base, received) = stand_in(201, "{}", Duration::from_secs(60)).await;
    let timeout = Duration::from_millis(300);
    let gateways: [Box<dyn SmsGateway>; 2] = [Box::new(webhook(&base, timeout)), Box::new(twilio(&base, timeout))];
    for gateway in gateways {
        let started = Instant::now();
        let error = gateway.send(&message()).await.unwrap_err();
        let took = started.elapsed();
        assert!(matches!(error, SmsError::Unavailable(_)), "{}: {error:?}", gateway.name());
        assert!(error.to_string().contains("no answer within"), "{error}");
        assert!(took >= timeout && took < Duration::from_secs(3), "{} took {took:?}", gateway.name());
    }
    assert_eq!(received.lock().unwrap().len(), 2, "both requests arrived before the stand-in stalled");
}

#[tokio::test]
async fn no_secret_shows_in_any_error() {
    let mut errors = Vec::new();
    // Gateways that echo what they were sent back in their errors.
    let echo = format!(r#"{{"code":21211,"message":"bad request from {AUTH_TOKEN}: {}"}}"#, message().body);
    let (base, _) = stand_in(400, &echo, Duration::ZERO).await;
    errors.push(twilio(&base, TIMEOUT).send(&message()).await.unwrap_err());
    let echo = format!(r#"{{"message":"{BEARER} {SIGNING_KEY} {}"}}"#, message().body);
    let (base, _) = stand_in(400, &echo, Duration::ZERO).await;
    errors.push(webhook(&base, TIMEOUT).send(&message()).await.unwrap_err());
    let (base, _) = stand_in(500, &echo, Duration::ZERO).await;
    errors.push(webhook(&base, TIMEOUT).send(&message()).await.unwrap_err());
    // Down, hanging, refused credentials.
    let down = nobody_listening().await;
    errors.push(webhook(&down, TIMEOUT).send(&message()).await.unwrap_err());
    errors.push(twilio(&down, TIMEOUT).send(&message()).await.unwrap_err());
    let (slow, _) = stand_in(200, "{}", Duration::from_secs(60)).await;
    errors.push(twilio(&slow, Duration::from_millis(200)).send(&message()).await.unwrap_err());
    let (base, _) = stand_in(401, r#"{"code":20003,"message":"Authenticate"}"#, Duration::ZERO).await;
    errors.push(twilio(&base, TIMEOUT).send(&message()).await.unwrap_err());
    // Configuration refused.
    let token_in_url = format!("https://user:{AUTH_TOKEN}@sms.example.org/send");
    errors.push(WebhookGateway::new(&token_in_url, None, None, TIMEOUT).unwrap_err());
    errors.push(WebhookGateway::new("http://sms.example.org/send", Some(secret(BEARER)), None, TIMEOUT).unwrap_err());
    errors.push(
        TwilioGateway::new(Some("http://twilio.example.org"), SID, secret(AUTH_TOKEN), FROM, TIMEOUT).unwrap_err(),
    );
    errors.push(WebhookGateway::new(&base, Some(secret("two words")), None, TIMEOUT).unwrap_err());

    for error in &errors {
        assert_no_secret(&error.to_string());
        assert_no_secret(&format!("{error:?}"));
    }
    assert_eq!(errors.len(), 11);
    assert!(errors[0].to_string().contains("[redacted]"), "{}", errors[0]);
    // Nor in the gateways' or the message's Debug.
    assert_no_secret(&format!("{:?}", webhook(&base, TIMEOUT)));
    assert_no_secret(&format!("{:?}", twilio(&base, TIMEOUT)));
    assert_no_secret(&format!("{:?}", message()));
}

#[tokio::test]
async fn urls_must_be_https_except_to_the_loopback_interface() {
    let config = |r: Result<WebhookGateway, SmsError>| matches!(r, Err(SmsError::Config(_)));
    for url in [
        "http://sms.example.org/send",
        "http://10.0.0.5/send",
        "ftp://sms.example.org/send",
        "not a url",
        "https://user:pw@sms.example.org/send",
    ] {
        assert!(config(WebhookGateway::new(url, None, None, TIMEOUT)), "{url} was accepted");
    }
    for url in ["https://sms.example.org/send", "http://127.0.0.1:9/send", "http://localhost:9/", "http://[::1]:9/"] {
        assert!(WebhookGateway::new(url, None, None, TIMEOUT).is_ok(), "{url} was refused");
    }
    assert!(config(WebhookGateway::new("https://sms.example.org", None, None, Duration::ZERO)), "a zero timeout");
    assert!(config(WebhookGateway::new("https://sms.example.org", None, Some(secret("")), TIMEOUT)));

    assert!(TwilioGateway::new(None, SID, secret(AUTH_TOKEN), FROM, TIMEOUT).is_ok(), "the default base is Twilio's");
    let twilio = |base: Option<&str>, sid: &str, token: &str| {
        matches!(TwilioGateway::new(base, sid, secret(token), FROM, TIMEOUT), Err(SmsError::Config(_)))
    };
    assert!(twilio(Some("http://api.twilio.com"), SID, AUTH_TOKEN));
    assert!(twilio(None, "AC../../x", AUTH_TOKEN), "the SID goes into the path");
    assert!(twilio(None, SID, ""), "an empty token");
}

#[tokio::test]
async fn messages_are_checked_before_anything_is_sent() {
    let (base, received) = stand_in(201, "{}", Duration::ZERO).await;
    let gateway = twilio(&base, TIMEOUT);
    let bad = [
        SmsMessage { to: "004141555010".to_owned(), ..message() },
        SmsMessage { to: "+1 415 555 0100".to_owned(), ..message() },
        SmsMessage { to: "+123".to_owned(), ..message() },
        SmsMessage { body: String::new(), ..message() },
        SmsMessage { body: "x".repeat(1601), ..message() },
        SmsMessage { id: "two words".to_owned(), ..message() },
        SmsMessage { id: String::new(), ..message() },
    ];
    for message in &bad {
        assert!(matches!(gateway.send(message).await, Err(SmsError::Rejected(_))), "{message:?} was sent");
    }
    assert!(received.lock().unwrap().is_empty());
}
