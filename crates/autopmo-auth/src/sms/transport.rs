//! What the HTTP gateways share: the client, the URL rule, and turning
//! transport errors and HTTP statuses into [`SmsError`]s without leaking
//! secrets.

use super::SmsError;
use reqwest_tls as reqwest;
use std::time::Duration;

/// The most of a gateway's answer that is read.
const MAX_RESPONSE_BYTES: usize = 16 * 1024;
/// The most of a gateway's own error text that goes into an [`SmsError`].
const MAX_DETAIL_CHARS: usize = 200;

/// A client that follows no redirects and gives up after `timeout`, both
/// to connect and for the whole exchange.
pub(super) fn client(timeout: Duration) -> Result<reqwest::Client, SmsError> {
    if timeout.is_zero() {
        return Err(SmsError::Config("the timeout must be more than zero".to_owned()));
    }
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("AutoPMO/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SmsError::Config(format!("HTTP client: {}", chain(&e.without_url()))))
}

/// `url` parsed, if it is `https://` (or plain `http://` to the loopback
/// interface) and carries no credentials. The error does not repeat it.
pub(super) fn endpoint(url: &str, what: &str) -> Result<reqwest::Url, SmsError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| SmsError::Config(format!("{what} is not a URL: {e}")))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(SmsError::Config(format!("{what} must not carry credentials; configure them separately")));
    }
    let acceptable = match parsed.scheme() {
        "https" => parsed.host_str().is_some_and(|h| !h.is_empty()),
        "http" => parsed.host_str().is_some_and(is_loopback),
        _ => false,
    };
    if !acceptable {
        return Err(SmsError::Config(format!(
            "{what} must be an https:// URL (plain http:// only to the loopback interface)"
        )));
    }
    Ok(parsed)
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `scheme://host[:port]` of `url`, for `Debug` (a path or query may hold a token).
pub(super) fn origin(url: &reqwest::Url) -> String {
    url.origin().ascii_serialization()
}

/// A request that did not get an answer: always worth trying later.
pub(super) fn unavailable(gateway: &str, error: reqwest::Error, timeout: Duration) -> SmsError {
    let error = error.without_url();
    let what = if error.is_timeout() {
        format!("no answer within {timeout:?}")
    } else if error.is_connect() {
        format!("cannot connect: {}", chain(&error))
    } else {
        chain(&error)
    };
    SmsError::Unavailable(format!("{gateway}: {what}"))
}

/// An answer that is not a success, by its status: 408, 425 and 429 and
/// every 1xx, 3xx and 5xx are worth trying later; 401 and 403 mean the
/// credentials are wrong; any other 4xx rejects the message.
pub(super) fn refused(gateway: &str, status: reqwest::StatusCode, detail: Option<String>) -> SmsError {
    let detail = detail.map(|d| format!(": {d}")).unwrap_or_default();
    let code = status.as_u16();
    match code {
        408 | 425 | 429 => SmsError::Unavailable(format!("{gateway}: HTTP {code}{detail}")),
        401 | 403 => SmsError::Config(format!("{gateway}: HTTP {code}, the gateway refused our credentials{detail}")),
        _ if status.is_client_error() => SmsError::Rejected(format!("{gateway}: HTTP {code}{detail}")),
        _ if status.is_redirection() => {
            SmsError::Unavailable(format!("{gateway}: HTTP {code} (redirects are not followed){detail}"))
        }
        _ => SmsError::Unavailable(format!("{gateway}: HTTP {code}{detail}")),
    }
}

/// The answer's body, if it is small enough and arrives in time.
pub(super) async fn read_body(mut response: reqwest::Response) -> Option<Vec<u8>> {
    if response.content_length().is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
        return None;
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.ok()? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body)
}

/// A gateway's own words, made safe to log: control characters become
/// spaces, anything in `secrets` (should it echo the body or a token) is
/// redacted, and the text is cut to a reasonable length.
pub(super) fn detail(text: &str, secrets: &[&str]) -> String {
    let mut text = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "[redacted]");
    }
    let text: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let text = text.trim();
    match text.char_indices().nth(MAX_DETAIL_CHARS) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text.to_owned(),
    }
}

/// An error and its sources, joined by `: `.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}
