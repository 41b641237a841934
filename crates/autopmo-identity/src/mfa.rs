//! The second factor's rules (guide §2.2), with no I/O and no clock: every
//! function that depends on time takes the time as an argument.
//!
//! - [`totp`] — RFC 6238 time-based one-time passwords for authenticator
//!   apps: the policy (HmacSHA256, 6 digits, 30 s, ±1 step by default), secret
//!   generation, code checks that refuse a replayed code, and the enrolment
//!   material (base32 secret, `otpauth://` URI, QR code as SVG).
//! - [`recovery`] — single-use recovery codes for a lost device, and their
//!   keyed hashes (only the hashes are stored).
//! - [`sms`] — six-digit SMS codes and phone-number checks. §2.2 allows SMS as
//!   a backup only: it can be intercepted or redirected by a SIM swap.
//!
//! What is not here: storing secrets, hashes and the last accepted TOTP step
//! (the store crate, with the TOTP secret sealed under the keyring), the
//! enrolment and challenge endpoints and their rate limits (the HTTP crate,
//! with failed codes counted by [`crate::bruteforce`]), sending SMS, and
//! WebAuthn.

pub mod recovery;
pub mod sms;
pub mod totp;

/// A failure to produce MFA material. Messages never include a secret or a code.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// The system random generator failed.
    #[error("no secure randomness available")]
    Random(#[from] autopmo_crypto::CryptoError),
    /// The enrolment URI does not fit in a QR code.
    #[error("cannot draw the QR code: {0}")]
    QrCode(String),
}
