//! Multi-factor authentication settings (`docs/mfa.md`, guide §2.2).

use super::redact_secret;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// TOTP, enforcement, step-up, WebAuthn and the SMS gateway.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfaConfig {
    /// `SHA256` (guide §2.2), `SHA1` (for authenticator apps that ignore
    /// the algorithm) or `SHA512`.
    pub totp_algorithm: String,
    /// Digits of a TOTP code (6–8).
    pub totp_digits: u32,
    /// Seconds per TOTP code (15–120).
    pub totp_period_secs: u32,
    /// Time steps accepted on either side of now (0–2).
    pub totp_skew: u32,
    /// The issuer shown by authenticator apps.
    pub issuer: String,
    /// Accounts holding any of these roles must pass MFA at login (in
    /// production every account must).
    pub required_roles: Vec<String>,
    /// A privileged operation needs a second factor at most this old.
    pub step_up_secs: u64,
    /// WebAuthn relying party.
    pub webauthn: WebAuthnSettings,
    /// The SMS gateway (backup codes); none: SMS is not offered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsSettings>,
}

impl Default for MfaConfig {
    fn default() -> Self {
        Self {
            totp_algorithm: "SHA256".to_owned(),
            totp_digits: 6,
            totp_period_secs: 30,
            totp_skew: 1,
            issuer: "AutoPMO".to_owned(),
            required_roles: vec!["system_admin".to_owned()],
            step_up_secs: 300,
            webauthn: WebAuthnSettings::default(),
            sms: None,
        }
    }
}

/// The WebAuthn relying party.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebAuthnSettings {
    /// The RP id (a domain); defaults to the public URL's host.
    pub rp_id: Option<String>,
    /// The origin browsers use; defaults to the public URL.
    pub rp_origin: Option<String>,
    /// The name authenticators show.
    pub rp_name: String,
}

impl Default for WebAuthnSettings {
    fn default() -> Self {
        Self { rp_id: None, rp_origin: None, rp_name: "AutoPMO".to_owned() }
    }
}

/// Which SMS gateway protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsGatewayKind {
    /// A JSON POST to a webhook of your own.
    Webhook,
    /// Twilio's Messages API (or a compatible provider).
    Twilio,
}

/// The SMS gateway.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    /// `webhook` or `twilio`.
    pub gateway: SmsGatewayKind,
    /// Webhook URL, or the Twilio API base (default `https://api.twilio.com`).
    #[serde(default)]
    pub url: Option<String>,
    /// Webhook: bearer token sent with each message.
    #[serde(default, serialize_with = "redact_secret", skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<SecretString>,
    /// Webhook: key to sign each body with (HMAC-SHA256).
    #[serde(default, serialize_with = "redact_secret", skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<SecretString>,
    /// Twilio: account SID.
    #[serde(default)]
    pub account_sid: Option<String>,
    /// Twilio: auth token.
    #[serde(default, serialize_with = "redact_secret", skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<SecretString>,
    /// Twilio: the sender number.
    #[serde(default)]
    pub from: Option<String>,
    /// Seconds allowed per message.
    #[serde(default = "default_sms_timeout")]
    pub timeout_secs: u64,
}

fn default_sms_timeout() -> u64 {
    10
}
