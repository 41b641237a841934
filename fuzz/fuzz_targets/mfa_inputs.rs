//! Second-factor inputs (`autopmo_identity::mfa`): TOTP codes through
//! `totp::verify` under any policy, phone numbers through
//! `sms::normalize_phone` and `mask_phone`, recovery codes through
//! `recovery::normalize`, and the enrolment URI.
//!
//! Properties beyond "never panics": `verify` accepts a code only under a
//! valid policy, only as exactly `digits` ASCII digits, only within the skew
//! window and after `last_step`; the current code is accepted and cannot be
//! replayed; a normalized phone number is E.164 and normalizes to itself;
//! the mask keeps the length and hides the middle; recovery-code
//! normalization is idempotent.
#![no_main]

use arbitrary::Arbitrary;
use autopmo_identity::mfa::totp::{self, Algorithm, TotpPolicy};
use autopmo_identity::mfa::{recovery, sms};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Alg {
    Sha1,
    Sha256,
    Sha512,
}

#[derive(Arbitrary, Debug)]
struct Input {
    secret: Vec<u8>,
    alg: Alg,
    digits: u32,
    period: u32,
    skew: u32,
    code: String,
    unix_seconds: i64,
    last_step: Option<i64>,
    phone: String,
    recovery: String,
    account: String,
}

fuzz_target!(|input: Input| {
    let algorithm = match input.alg {
        Alg::Sha1 => Algorithm::Sha1,
        Alg::Sha256 => Algorithm::Sha256,
        Alg::Sha512 => Algorithm::Sha512,
    };
    let policy = TotpPolicy { algorithm, digits: input.digits, period: input.period, skew: input.skew };
    let valid = policy.validate().is_ok();
    let t = input.unix_seconds;

    if let Some(step) = totp::verify(&input.secret, &policy, &input.code, t, input.last_step) {
        assert!(valid, "a code was accepted under an invalid policy {policy:?}");
        assert_eq!(input.code.len(), policy.digits as usize);
        assert!(input.code.bytes().all(|b| b.is_ascii_digit()));
        let now = totp::step_of(&policy, t);
        assert!(step.abs_diff(now) <= u64::from(policy.skew), "step {step} outside the window around {now}");
        assert!(input.last_step.is_none_or(|last| step > last), "a used step was accepted again");
        assert_eq!(totp::verify(&input.secret, &policy, &input.code, t, Some(step)), None, "replayed");
    }
    if valid {
        let code = totp::code_at(&input.secret, &policy, t);
        assert_eq!(code.len(), policy.digits as usize);
        let step = totp::verify(&input.secret, &policy, &code, t, None);
        assert!(step.is_some(), "the current code was refused");
        assert_eq!(totp::verify(&input.secret, &policy, &code, t, step), None, "the current code replayed");
        let _ = totp::otpauth_uri(&input.secret, &policy, "AutoPMO", &input.account);
    }

    if let Ok(e164) = sms::normalize_phone(&input.phone) {
        let digits = e164.strip_prefix('+').expect("E.164 starts with +");
        assert!((8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()));
        assert!(!digits.starts_with('0'));
        assert_eq!(sms::normalize_phone(&e164).as_deref(), Ok(e164.as_str()), "not idempotent");
        let masked = sms::mask_phone(&e164);
        assert_eq!(masked.chars().count(), e164.chars().count());
        assert!(masked.contains('•'), "nothing of {e164} was masked");
    }
    let _ = sms::mask_phone(&input.phone);

    let once = recovery::normalize(&input.recovery);
    assert_eq!(recovery::normalize(&once), once, "recovery-code normalization is not idempotent");
});
