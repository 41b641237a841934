//! [`WebhookGateway`]: hands each message to an HTTPS endpoint of the
//! operator's own (an SMS relay, a paging system) as JSON.
//!
//! The request is `POST <url>` with `Content-Type: application/json` and the
//! body `{"id": …, "to": …, "body": …}`, plus
//! - `Idempotency-Key: <id>` (the same for every retry of one message),
//! - `Authorization: Bearer <token>` when a bearer token is configured,
//! - `X-AutoPMO-Signature: sha256=<hex>` when a signing key is configured:
//!   the lowercase hex HMAC-SHA256 of the exact body bytes under that key,
//!   which the receiver recomputes over the bytes it got and compares in
//!   constant time.
//!
//! Any 2xx means sent. 408, 425, 429, 5xx and network errors are
//! [`SmsError::Unavailable`]; 401 and 403 are [`SmsError::Config`]; any
//! other 4xx is [`SmsError::Rejected`], with the receiver's `message` or
//! `error` text if its answer is JSON carrying one.

use super::transport::{self, endpoint};
use super::{SendFuture, SmsError, SmsGateway, SmsMessage};
use reqwest_tls as reqwest;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use std::fmt::Write as _;
use std::time::Duration;

/// The header carrying the body's HMAC-SHA256, as `sha256=<lowercase hex>`.
pub const SIGNATURE_HEADER: &str = "X-AutoPMO-Signature";

const NAME: &str = "webhook";

/// Delivers messages as JSON to one HTTPS endpoint.
pub struct WebhookGateway {
    http: reqwest::Client,
    url: reqwest::Url,
    bearer_token: Option<SecretString>,
    signing_key: Option<SecretString>,
    timeout: Duration,
}

impl std::fmt::Debug for WebhookGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookGateway")
            .field("endpoint", &transport::origin(&self.url))
            .field("bearer_token", &self.bearer_token.is_some())
            .field("signed", &self.signing_key.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Payload<'a> {
    id: &'a str,
    to: &'a str,
    body: &'a str,
}

impl WebhookGateway {
    /// A gateway POSTing to `url` (`https://`, or `http://` to the loopback
    /// interface), with an optional bearer token and an optional signing
    /// key, giving up after `timeout` (to connect, and in all).
    pub fn new(
        url: &str,
        bearer_token: Option<SecretString>,
        signing_key: Option<SecretString>,
        timeout: Duration,
    ) -> Result<Self, SmsError> {
        let url = endpoint(url, "the webhook URL")?;
        if let Some(token) = &bearer_token {
            let token = token.expose_secret();
            if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(SmsError::Config("the webhook bearer token must be visible ASCII characters".to_owned()));
            }
        }
        if signing_key.as_ref().is_some_and(|key| key.expose_secret().is_empty()) {
            return Err(SmsError::Config("the webhook signing key is empty".to_owned()));
        }
        Ok(Self { http: transport::client(timeout)?, url, bearer_token, signing_key, timeout })
    }

    async fn deliver(&self, message: &SmsMessage) -> Result<(), SmsError> {
        message.validate()?;
        let payload = serde_json::to_vec(&Payload { id: &message.id, to: &message.to, body: &message.body })
            .map_err(|e| SmsError::Rejected(format!("{NAME}: the message cannot be encoded: {e}")))?;
        let mut request = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", message.id.as_str());
        if let Some(token) = &self.bearer_token {
            request = request.bearer_auth(token.expose_secret());
        }
        if let Some(key) = &self.signing_key {
            let tag = autopmo_crypto::hmac_sha256(key.expose_secret().as_bytes(), &payload);
            request = request.header(SIGNATURE_HEADER, format!("sha256={}", hex(&tag)));
        }
        let response = request.body(payload).send().await.map_err(|e| transport::unavailable(NAME, e, self.timeout))?;
        let status = response.status();
        if status.is_success() {
            tracing::debug!(gateway = NAME, id = %message.id, %status, "sms accepted");
            return Ok(());
        }
        let said = transport::read_body(response).await.and_then(|body| receiver_text(&body));
        let secrets = [
            message.body.as_str(),
            self.bearer_token.as_ref().map_or("", |t| t.expose_secret()),
            self.signing_key.as_ref().map_or("", |k| k.expose_secret()),
        ];
        Err(transport::refused(NAME, status, said.map(|text| transport::detail(&text, &secrets))))
    }
}

impl SmsGateway for WebhookGateway {
    fn send<'a>(&'a self, message: &'a SmsMessage) -> SendFuture<'a> {
        Box::pin(self.deliver(message))
    }

    fn name(&self) -> &'static str {
        NAME
    }
}

/// `message` or `error` from a JSON answer, if there is one.
fn receiver_text(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    ["message", "error"].iter().find_map(|key| value.get(key)?.as_str().map(str::to_owned))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}
