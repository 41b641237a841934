//! [`TwilioGateway`]: Twilio's Programmable Messaging API, and the
//! providers that clone it (change the base URL).
//!
//! The request is `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`
//! with the form fields `To`, `From` and `Body` and HTTP Basic credentials
//! `AccountSid:AuthToken`. Twilio answers 201 with the created message as
//! JSON (`sid`, `status`); a refusal is JSON `{code, message, …}`: a 4xx
//! becomes [`SmsError::Rejected`] with that message and code (`21211` is an
//! invalid `To` number), 401 and 403 [`SmsError::Config`] (wrong account or
//! token), 429, 5xx, a timeout or a connection error
//! [`SmsError::Unavailable`]. Twilio's API has no idempotency key: a retry
//! after a lost answer may send the message twice.

use super::transport::{self, endpoint};
use super::{SendFuture, SmsError, SmsGateway, SmsMessage};
use reqwest_tls as reqwest;
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// Twilio's API base URL, used when no other is given.
pub const TWILIO_API_URL: &str = "https://api.twilio.com";

const NAME: &str = "twilio";

/// Delivers messages through Twilio's Messages API (or a clone of it).
pub struct TwilioGateway {
    http: reqwest::Client,
    messages_url: reqwest::Url,
    account_sid: String,
    auth_token: SecretString,
    from: String,
    timeout: Duration,
}

impl std::fmt::Debug for TwilioGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioGateway")
            .field("endpoint", &transport::origin(&self.messages_url))
            .field("account_sid", &self.account_sid)
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TwilioGateway {
    /// A gateway for the account `account_sid` with its `auth_token`,
    /// sending from `from` (an E.164 number, an alphanumeric sender id or a
    /// messaging service SID), at `base_url` ([`TWILIO_API_URL`] when
    /// `None`; `https://`, or `http://` to the loopback interface), giving
    /// up after `timeout` (to connect, and in all).
    pub fn new(
        base_url: Option<&str>,
        account_sid: &str,
        auth_token: SecretString,
        from: &str,
        timeout: Duration,
    ) -> Result<Self, SmsError> {
        if account_sid.is_empty()
            || account_sid.len() > 64
            || !account_sid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(SmsError::Config("the account SID must be 1 to 64 letters, digits, - or _".to_owned()));
        }
        if auth_token.expose_secret().is_empty() {
            return Err(SmsError::Config("the auth token is empty".to_owned()));
        }
        if from.trim().is_empty() {
            return Err(SmsError::Config("the sender (from) is empty".to_owned()));
        }
        let base = endpoint(base_url.unwrap_or(TWILIO_API_URL), "the Twilio base URL")?;
        if base.query().is_some() || base.fragment().is_some() {
            return Err(SmsError::Config("the Twilio base URL must not have a query or a fragment".to_owned()));
        }
        let messages_url = endpoint(
            &format!("{}/2010-04-01/Accounts/{account_sid}/Messages.json", base.as_str().trim_end_matches('/')),
            "the Twilio base URL",
        )?;
        Ok(Self {
            http: transport::client(timeout)?,
            messages_url,
            account_sid: account_sid.to_owned(),
            auth_token,
            from: from.to_owned(),
            timeout,
        })
    }

    async fn deliver(&self, message: &SmsMessage) -> Result<(), SmsError> {
        message.validate()?;
        let form = [("To", message.to.as_str()), ("From", self.from.as_str()), ("Body", message.body.as_str())];
        let response = self
            .http
            .post(self.messages_url.clone())
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .form(&form)
            .send()
            .await
            .map_err(|e| transport::unavailable(NAME, e, self.timeout))?;
        let status = response.status();
        let answer = transport::read_body(response).await.and_then(|body| serde_json::from_slice(&body).ok());
        if status.is_success() {
            let field = |name: &str| answer.as_ref().and_then(|a: &serde_json::Value| a.get(name)?.as_str());
            tracing::debug!(
                gateway = NAME,
                id = %message.id,
                sid = field("sid").unwrap_or("?"),
                status = field("status").unwrap_or("?"),
                "sms accepted"
            );
            return Ok(());
        }
        let said = answer.as_ref().and_then(provider_text);
        let secrets = [message.body.as_str(), self.auth_token.expose_secret()];
        Err(transport::refused(NAME, status, said.map(|text| transport::detail(&text, &secrets))))
    }
}

impl SmsGateway for TwilioGateway {
    fn send<'a>(&'a self, message: &'a SmsMessage) -> SendFuture<'a> {
        Box::pin(self.deliver(message))
    }

    fn name(&self) -> &'static str {
        NAME
    }
}

/// `error <code>: <message>` from Twilio's error document.
fn provider_text(answer: &serde_json::Value) -> Option<String> {
    let message = answer.get("message").and_then(serde_json::Value::as_str);
    let code = answer.get("code").and_then(|c| c.as_u64().map(|n| n.to_string()).or(c.as_str().map(str::to_owned)));
    match (code, message) {
        (Some(code), Some(message)) => Some(format!("error {code}: {message}")),
        (Some(code), None) => Some(format!("error {code}")),
        (None, Some(message)) => Some(message.to_owned()),
        (None, None) => None,
    }
}
