//! SMS codes: a backup second factor only (guide §2.2), because a text
//! message can be intercepted, or redirected by a SIM swap.
//!
//! [`generate_code`] makes the six digits to send; the caller stores a hash
//! of it with a short expiry, counts wrong codes with
//! [`crate::bruteforce`], and sends it through whatever gateway is
//! configured. [`normalize_phone`] checks a number once, where it is
//! entered, and [`mask_phone`] is how it is shown afterwards ("a code was
//! sent to +44•••••••123") and logged, if at all.

use autopmo_crypto::random_bytes;

use super::MfaError;

/// Digits in a code.
pub const CODE_DIGITS: usize = 6;

/// How many six-digit codes there are.
const CODES: u32 = 1_000_000;
/// The largest multiple of [`CODES`] that fits in a `u32`: samples from here
/// up are drawn again, so that every code is exactly as likely.
const ACCEPT_BELOW: u32 = (u32::MAX / CODES) * CODES;

/// Six uniformly random digits, zero-padded (`000000` to `999999`).
pub fn generate_code() -> Result<String, MfaError> {
    loop {
        // A sample is drawn again with probability 2.3 × 10⁻⁴.
        if let Some(code) = code_from_sample(u32::from_be_bytes(random_bytes::<4>()?)) {
            return Ok(code);
        }
    }
}

/// Rejection sampling: `None` for a sample that would bias the low codes.
fn code_from_sample(sample: u32) -> Option<String> {
    (sample < ACCEPT_BELOW).then(|| format!("{:06}", sample % CODES))
}

/// The fewest digits after the `+`.
const MIN_DIGITS: usize = 8;
/// The most digits after the `+` (E.164).
const MAX_DIGITS: usize = 15;

/// `raw` as an E.164 number, `+` and 8 to 15 digits starting with the
/// country code, after removing spaces, dashes, dots and parentheses.
/// The error says what is wrong, without repeating the number.
pub fn normalize_phone(raw: &str) -> Result<String, String> {
    let compact: String = raw.chars().filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '(' | ')')).collect();
    let Some(digits) = compact.strip_prefix('+') else {
        return Err("a phone number must start with + and the country code (E.164), e.g. +44 20 7946 0958".to_owned());
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(
            "a phone number may contain only digits after the +, and spaces, dashes, dots or parentheses".to_owned()
        );
    }
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) {
        return Err(format!(
            "a phone number must have {MIN_DIGITS} to {MAX_DIGITS} digits after the +, including the country code; \
             this one has {}",
            digits.len()
        ));
    }
    if digits.starts_with('0') {
        return Err("a phone number must start with + and the country code, which never starts with 0".to_owned());
    }
    Ok(compact)
}

/// The number with all but the `+`, the first two digits and the last three
/// replaced by `•`: `+441234567123` → `+44•••••••123`. Anything shorter
/// than E.164 allows is masked entirely.
pub fn mask_phone(e164: &str) -> String {
    let digits = e164.strip_prefix('+').unwrap_or(e164);
    let count = digits.chars().count();
    let masked =
        digits.chars().enumerate().map(|(i, c)| if count >= MIN_DIGITS && (i < 2 || i + 3 >= count) { c } else { '•' });
    std::iter::once('+').chain(masked).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn codes_are_six_digits() {
        let codes: Vec<String> = (0..500).map(|_| generate_code().unwrap()).collect();
        for code in &codes {
            assert_eq!(code.len(), CODE_DIGITS, "{code}");
            assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        }
        // Every digit turns up in every position, and codes repeat rarely.
        for position in 0..CODE_DIGITS {
            let seen: HashSet<u8> = codes.iter().map(|code| code.as_bytes()[position]).collect();
            assert_eq!(seen.len(), 10, "position {position}");
        }
        assert!(codes.iter().collect::<HashSet<_>>().len() > 490);
    }

    #[test]
    fn rejection_sampling_has_no_modulo_bias() {
        assert_eq!(ACCEPT_BELOW, 4_294_000_000);
        assert_eq!(ACCEPT_BELOW % CODES, 0);
        assert!(u64::from(u32::MAX) + 1 - u64::from(ACCEPT_BELOW) < u64::from(CODES));
        assert_eq!(code_from_sample(0).as_deref(), Some("000000"));
        assert_eq!(code_from_sample(42).as_deref(), Some("000042"));
        assert_eq!(code_from_sample(1_000_000).as_deref(), Some("000000"));
        assert_eq!(code_from_sample(ACCEPT_BELOW - 1).as_deref(), Some("999999"));
        assert_eq!(code_from_sample(ACCEPT_BELOW), None);
        assert_eq!(code_from_sample(u32::MAX), None);
    }

    #[test]
    fn phone_numbers_are_normalized_to_e164() {
        for (raw, expected) in [
            ("+44 20 7946 0958", "+442079460958"),
            ("+1 (415) 555-2671", "+14155552671"),
            ("+49.30.1234567", "+49301234567"),
            ("  +33 6 12 34 56 78\t", "+33612345678"),
            ("+12345678", "+12345678"),
            ("+123456789012345", "+123456789012345"),
        ] {
            assert_eq!(normalize_phone(raw).as_deref(), Ok(expected), "{raw:?}");
        }
    }

    #[test]
    fn phone_numbers_are_refused_with_a_reason() {
        let refused = |raw: &str, reason: &str| {
            let error = normalize_phone(raw).unwrap_err();
            assert!(error.contains(reason), "{raw:?}: {error}");
            let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
            assert!(digits.len() < 6 || !error.contains(&digits), "the number is not repeated: {error}");
        };
        refused("", "must start with +");
        refused("020 7946 0958", "must start with +");
        refused("0044 20 7946 0958", "must start with +");
        refused("+44 20 7946 095x", "only digits");
        refused("+44 20 7946 0958 ext 12", "only digits");
        refused("++442079460958", "only digits");
        refused("+４４2079460958", "only digits");
        refused("+", "8 to 15 digits");
        refused("+1234567", "8 to 15 digits");
        refused("+1234567890123456", "8 to 15 digits");
        refused("+0442079460958", "never starts with 0");
    }

    #[test]
    fn masking_keeps_the_country_and_the_last_three_digits() {
        assert_eq!(mask_phone("+441234567123"), "+44•••••••123");
        assert_eq!(mask_phone("+14155552671"), "+14••••••671");
        assert_eq!(mask_phone("+12345678"), "+12•••678");
        assert_eq!(mask_phone("+1234"), "+••••");
        assert_eq!(mask_phone(""), "+");
        let masked = mask_phone(&normalize_phone("+44 20 7946 0958").unwrap());
        assert_eq!(masked, "+44•••••••958");
        assert_eq!(masked.chars().count(), "+442079460958".len());
    }
}
