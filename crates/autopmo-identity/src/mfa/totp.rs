//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP) for
//! authenticator apps.
//!
//! Enrolment: [`generate_secret`] for the user's policy, then show
//! [`otpauth_uri`] as a QR code ([`qr_svg`]) and as text ([`base32`]), seal
//! and store the secret, and confirm enrolment only once the user has typed a
//! valid code. Login: [`verify`] with the time from the clock and the last
//! accepted step, then store the returned step so that neither the same code
//! nor an earlier one is accepted again (RFC 6238 §5.2). A refused code is a
//! failure for [`crate::bruteforce`]: six digits do not survive unlimited
//! guessing.
//!
//! The default [`TotpPolicy`] is the guide's §2.2: `HmacSHA256`, 6 digits,
//! 30-second steps, and one step of clock skew either way.
//!
//! # Authenticator apps that ignore the algorithm
//! Some authenticator apps (Google Authenticator, historically, and others
//! that copied it) ignore the `algorithm` parameter of the `otpauth://` URI
//! and always compute HMAC-SHA-1; some also ignore `digits` and `period`.
//! Enrolled with a SHA-256 secret, such an app shows codes that are never
//! accepted, and the user learns it at the confirmation step. Where a fleet
//! uses such apps, set the policy's algorithm to [`Algorithm::Sha1`]:
//! HMAC-SHA-1 is still sound for this use (its known weaknesses are in
//! collisions, not in the MAC). The policy is kept per enrolment, so
//! changing it leaves existing enrolments working.

mod enrol;
#[cfg(test)]
mod tests;

use std::fmt;
use std::ops::RangeInclusive;

use autopmo_crypto::{constant_time_eq, hmac_sha1, hmac_sha256, hmac_sha512, random_bytes};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use enrol::{base32, otpauth_uri, qr_svg};

use super::MfaError;

/// Code lengths [`TotpPolicy::validate`] accepts.
pub const DIGITS: RangeInclusive<u32> = 6..=8;
/// Step lengths, in seconds, [`TotpPolicy::validate`] accepts.
pub const PERIOD_SECONDS: RangeInclusive<u32> = 15..=120;
/// Steps of clock skew either way [`TotpPolicy::validate`] accepts.
pub const SKEW_STEPS: RangeInclusive<u32> = 0..=2;

/// The HMAC behind the codes. Written as in the `otpauth://` URI (`SHA1`,
/// `SHA256`, `SHA512`) when serialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// HMAC-SHA-1: what every authenticator app supports.
    Sha1,
    /// HMAC-SHA-256: the guide's choice.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Algorithm {
    /// The name used in `otpauth://` URIs: `SHA1`, `SHA256` or `SHA512`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }

    /// Reads a name, ignoring case: `SHA1`, `SHA256`, `SHA512`, or Keycloak's
    /// `HmacSHA1`, `HmacSHA256`, `HmacSHA512`.
    pub fn parse(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        match lower.strip_prefix("hmac").unwrap_or(&lower) {
            "sha1" => Some(Self::Sha1),
            "sha256" => Some(Self::Sha256),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Length in bytes of the secrets [`generate_secret`] makes: the HMAC's
    /// output length (20, 32 or 64), as in RFC 6238's test seeds, and at
    /// least RFC 4226's 160 bits.
    pub fn secret_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }

    fn mac(self, key: &[u8], data: &[u8]) -> u32 {
        match self {
            Self::Sha1 => truncate(&hmac_sha1(key, data)),
            Self::Sha256 => truncate(&hmac_sha256(key, data)),
            Self::Sha512 => truncate(&hmac_sha512(key, data)),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Algorithm {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Algorithm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown TOTP algorithm {name:?}: expected SHA1, SHA256 or SHA512"))
        })
    }
}

/// How codes are computed and checked. Kept with each enrolment: the
/// authenticator app was set up with these values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TotpPolicy {
    /// The HMAC.
    pub algorithm: Algorithm,
    /// Digits per code, 6 to 8.
    pub digits: u32,
    /// Length of a time step in seconds, 15 to 120.
    pub period: u32,
    /// Steps before and after the current one whose codes are also accepted,
    /// for clocks that differ and codes typed late; 0 to 2.
    pub skew: u32,
}

impl Default for TotpPolicy {
    /// The guide's §2.2: HmacSHA256, 6 digits, 30 seconds, ±1 step.
    fn default() -> Self {
        Self { algorithm: Algorithm::Sha256, digits: 6, period: 30, skew: 1 }
    }
}

impl TotpPolicy {
    /// Checks the numbers against [`DIGITS`], [`PERIOD_SECONDS`] and
    /// [`SKEW_STEPS`]; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !DIGITS.contains(&self.digits) {
            return Err(format!("TOTP digits must be 6 to 8, not {}", self.digits));
        }
        if !PERIOD_SECONDS.contains(&self.period) {
            return Err(format!("TOTP period must be 15 to 120 seconds, not {}", self.period));
        }
        if !SKEW_STEPS.contains(&self.skew) {
            return Err(format!("TOTP skew must be 0 to 2 steps, not {}", self.skew));
        }
        Ok(())
    }
}

/// A new random secret of [`Algorithm::secret_len`] bytes for the policy's
/// algorithm (160 bits for SHA-1, 256 for SHA-256, 512 for SHA-512).
pub fn generate_secret(policy: &TotpPolicy) -> Result<Vec<u8>, MfaError> {
    Ok(match policy.algorithm {
        Algorithm::Sha1 => random_bytes::<20>()?.to_vec(),
        Algorithm::Sha256 => random_bytes::<32>()?.to_vec(),
        Algorithm::Sha512 => random_bytes::<64>()?.to_vec(),
    })
}

/// The time step containing `unix_seconds`: ⌊t / period⌋ (RFC 6238's `T`
/// with `T0 = 0`), rounding down before 1970 too. A period of 0 counts as 1.
pub fn step_of(policy: &TotpPolicy, unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(i64::from(policy.period.max(1)))
}

/// The code for `unix_seconds`, zero-padded to `policy.digits`.
///
/// Never panics: with a policy that [`TotpPolicy::validate`] refuses, a
/// period of 0 counts as 1 and more than 10 digits as 10 (a code has 31
/// bits), but [`verify`] accepts nothing under such a policy.
pub fn code_at(secret: &[u8], policy: &TotpPolicy, unix_seconds: i64) -> String {
    code_for_step(secret, policy, step_of(policy, unix_seconds))
}

/// The time step matched if `code` is valid at `unix_seconds`, in the
/// current step or up to `policy.skew` steps before or after it, **and** that
/// step is later than `last_step`, the step last accepted for this secret:
/// so a code, or an earlier one, cannot be used twice. Store the returned
/// step as the next `last_step`.
///
/// `code` must be exactly `policy.digits` ASCII digits (the caller may strip
/// spaces first); anything else, and any policy that
/// [`TotpPolicy::validate`] refuses, gives `None`. Codes are compared in
/// constant time, and every step of the window is computed whatever matches.
pub fn verify(
    secret: &[u8],
    policy: &TotpPolicy,
    code: &str,
    unix_seconds: i64,
    last_step: Option<i64>,
) -> Option<i64> {
    policy.validate().ok()?;
    let well_formed = usize::try_from(policy.digits).is_ok_and(|digits| code.len() == digits)
        && code.bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        return None;
    }
    let now = step_of(policy, unix_seconds);
    let skew = i64::from(policy.skew);
    let mut matched = None;
    for step in now.saturating_sub(skew)..=now.saturating_add(skew) {
        let equal = constant_time_eq(code_for_step(secret, policy, step).as_bytes(), code.as_bytes());
        let fresh = last_step.is_none_or(|last| step > last);
        if equal && fresh {
            matched = Some(step);
        }
    }
    matched
}

/// The most digits a code can have: the truncated value has 31 bits.
const MAX_DIGITS: u32 = 10;

/// HOTP (RFC 4226 §5.3) with the step as the moving factor, as 8 bytes big
/// endian (two's complement for steps before 1970).
fn code_for_step(secret: &[u8], policy: &TotpPolicy, step: i64) -> String {
    let value = policy.algorithm.mac(secret, &step.to_be_bytes());
    let digits = policy.digits.min(MAX_DIGITS);
    let code = u64::from(value) % 10u64.pow(digits);
    format!("{code:0width$}", width = digits as usize)
}

/// RFC 4226 §5.3 dynamic truncation: 31 bits at the offset given by the low
/// nibble of the last byte.
fn truncate(mac: &[u8]) -> u32 {
    let offset = mac.last().map_or(0, |last| usize::from(last & 0x0f));
    // The offset is at most 15 and a MAC at least 20 bytes, so four bytes are always there.
    mac.get(offset..)
        .and_then(|rest| rest.first_chunk::<4>())
        .map_or(0, |bytes| u32::from_be_bytes(*bytes) & 0x7fff_ffff)
}
