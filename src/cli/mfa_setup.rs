//! The `[mfa]` settings turned into the MFA service: the TOTP policy, who
//! must use MFA (roles; everyone in production), the step-up window, the
//! WebAuthn relying party (from the public URL unless set) and the SMS
//! gateway.

use anyhow::Context;
use autopmo_auth::login::MfaRequirement;
use autopmo_auth::mfa::{Mfa, MfaPolicy};
use autopmo_config::{Config, Environment, SmsGatewayKind};
use autopmo_identity::mfa::totp::{Algorithm, TotpPolicy};
use std::sync::Arc;
use std::time::Duration;

/// Who must pass MFA at login.
pub fn requirement(config: &Config) -> anyhow::Result<MfaRequirement> {
    let roles = config
        .mfa
        .required_roles
        .iter()
        .map(|r| {
            autopmo_domain::Role::parse(r).map_err(|e| anyhow::anyhow!("mfa.required_roles: {r:?}: {}", e.message))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(MfaRequirement { roles, everyone: config.environment == Environment::Production, ..MfaRequirement::default() })
}

/// The MFA service for `logins`.
pub fn service(
    config: &Config,
    trail: &autopmo_trail::AuditTrail,
    logins: autopmo_auth::login::Logins,
) -> anyhow::Result<Mfa> {
    let m = &config.mfa;
    let algorithm = Algorithm::parse(&m.totp_algorithm)
        .ok_or_else(|| anyhow::anyhow!("mfa.totp_algorithm: {:?} is not SHA1, SHA256 or SHA512", m.totp_algorithm))?;
    let totp = TotpPolicy { algorithm, digits: m.totp_digits, period: m.totp_period_secs, skew: m.totp_skew };
    totp.validate().map_err(|e| anyhow::anyhow!("mfa: {e}"))?;
    let policy = MfaPolicy {
        totp,
        issuer: m.issuer.clone(),
        step_up: time::Duration::seconds(i64::try_from(m.step_up_secs).unwrap_or(300)),
        ..MfaPolicy::default()
    };
    let mut mfa = Mfa::new(trail.clone(), logins, policy);
    let origin = m.webauthn.rp_origin.clone().unwrap_or_else(|| config.effective_public_url());
    let rp_id = m.webauthn.rp_id.clone().unwrap_or_else(|| host_of(&origin));
    let rp = autopmo_webauthn::WebAuthnConfig { rp_id, rp_origin: origin, rp_name: m.webauthn.rp_name.clone() };
    match autopmo_webauthn::WebAuthn::new(&rp) {
        Ok(webauthn) => mfa = mfa.with_webauthn(webauthn),
        // Explicit settings that do not work stop start-up; derived ones
        // (an IP address in the public URL, say) only switch WebAuthn off.
        Err(e) if m.webauthn.rp_origin.is_some() || m.webauthn.rp_id.is_some() => {
            return Err(anyhow::anyhow!("mfa.webauthn: {e}"));
        }
        Err(e) => tracing::warn!(error = %e, "WebAuthn is off: set public_url to an https:// domain (or mfa.webauthn)"),
    }
    if let Some(sms) = &m.sms {
        let timeout = Duration::from_secs(sms.timeout_secs);
        let gateway: Arc<dyn autopmo_auth::sms::SmsGateway> = match sms.gateway {
            SmsGatewayKind::Webhook => Arc::new(
                autopmo_auth::sms::WebhookGateway::new(
                    sms.url.as_deref().unwrap_or_default(),
                    sms.bearer_token.clone(),
                    sms.signing_key.clone(),
                    timeout,
                )
                .context("mfa.sms")?,
            ),
            SmsGatewayKind::Twilio => Arc::new(
                autopmo_auth::sms::TwilioGateway::new(
                    sms.url.as_deref(),
                    sms.account_sid.as_deref().unwrap_or_default(),
                    sms.auth_token.clone().unwrap_or_else(|| secrecy::SecretString::from(String::new())),
                    sms.from.as_deref().unwrap_or_default(),
                    timeout,
                )
                .context("mfa.sms")?,
            ),
        };
        mfa = mfa.with_sms(gateway);
    }
    Ok(mfa)
}

/// The host of a URL (`https://pmo.example.org:8443/x` → `pmo.example.org`).
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
        .to_owned()
}
