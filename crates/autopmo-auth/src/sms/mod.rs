//! Sending text messages: the [`SmsGateway`] an SMS one-time code is handed
//! to, and two real gateways over HTTPS (reqwest, rustls on aws-lc-rs; no
//! OpenSSL).
//!
//! SMS is a *backup* second factor only (security guide §2.2): TOTP and
//! WebAuthn come first. This module only delivers; issuing, storing and
//! checking the code belong to the MFA flow that calls it.
//!
//! - [`WebhookGateway`] POSTs `{"id", "to", "body"}` as JSON to a URL of the
//!   operator's own relay, with an optional bearer token and an optional
//!   `X-AutoPMO-Signature: sha256=<hex HMAC-SHA256 of the body>`.
//! - [`TwilioGateway`] speaks Twilio's Messages API (form fields `To`,
//!   `From`, `Body`, HTTP Basic `AccountSid:AuthToken`); providers that clone
//!   that API work by changing its base URL.
//!
//! Both refuse URLs that are not `https://` (plain `http://` only to the
//! loopback interface), follow no redirects, and bound the connection and
//! the whole exchange by the configured timeout. The outcome says what the
//! caller may do next: [`SmsError::Unavailable`] — try later (network
//! error, timeout, 5xx, 429); [`SmsError::Rejected`] — this message will not
//! go (e.g. an invalid number); [`SmsError::Config`] — the operator must fix
//! the settings (including credentials the gateway refuses). No error text
//! carries a token, a signing key or a message body (the body holds a code).

mod transport;
mod twilio;
mod webhook;

pub use twilio::{TWILIO_API_URL, TwilioGateway};
pub use webhook::{SIGNATURE_HEADER, WebhookGateway};

use std::future::Future;
use std::pin::Pin;

/// The longest body sent, in characters (Twilio's limit for one message).
pub const MAX_BODY_CHARS: usize = 1600;
/// The longest message id, in bytes.
pub const MAX_ID_LEN: usize = 255;

/// One text message to one phone. Its body holds a one-time code, so
/// `Debug` shows only the id.
#[derive(Clone, PartialEq, Eq)]
pub struct SmsMessage {
    /// The recipient in E.164 form: `+` and 7 to 15 digits, e.g. `+14155550100`.
    pub to: String,
    /// The text; at most [`MAX_BODY_CHARS`] characters.
    pub body: String,
    /// Idempotency and correlation id: 1 to [`MAX_ID_LEN`] visible ASCII
    /// characters, the same for every retry of one message.
    pub id: String,
}

impl std::fmt::Debug for SmsMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsMessage").field("id", &self.id).finish_non_exhaustive()
    }
}

impl SmsMessage {
    /// Checks the message before anything is sent; a [`SmsError::Rejected`]
    /// names the field but never repeats the number or the body.
    pub fn validate(&self) -> Result<(), SmsError> {
        if !is_e164(&self.to) {
            return Err(SmsError::Rejected("the recipient is not an E.164 number (+ and 7 to 15 digits)".to_owned()));
        }
        if self.body.is_empty() || self.body.chars().count() > MAX_BODY_CHARS {
            return Err(SmsError::Rejected(format!("the body must be 1 to {MAX_BODY_CHARS} characters")));
        }
        if self.id.is_empty() || self.id.len() > MAX_ID_LEN || !self.id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SmsError::Rejected(format!(
                "the message id must be 1 to {MAX_ID_LEN} visible ASCII characters"
            )));
        }
        Ok(())
    }
}

fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else { return false };
    (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

/// Why a message was not sent. The text never holds a secret or the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsError {
    /// The gateway could not take it now (network error, timeout, 5xx, 429):
    /// try again later with the same message id.
    #[error("sms gateway unavailable: {0}")]
    Unavailable(String),
    /// The message will not be delivered as it is (4xx, e.g. an invalid
    /// number); retrying does not help.
    #[error("sms rejected: {0}")]
    Rejected(String),
    /// The gateway settings cannot work (a non-https URL, credentials the
    /// gateway refuses): the operator must fix them.
    #[error("sms configuration: {0}")]
    Config(String),
}

/// What [`SmsGateway::send`] returns.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SmsError>> + Send + 'a>>;

/// Something that delivers text messages.
pub trait SmsGateway: Send + Sync + std::fmt::Debug {
    /// Sends `message`; done when the gateway accepted it (not when the
    /// phone received it).
    fn send<'a>(&'a self, message: &'a SmsMessage) -> SendFuture<'a>;
    /// A short name for logs and audit events (`webhook`, `twilio`).
    fn name(&self) -> &'static str;
}
