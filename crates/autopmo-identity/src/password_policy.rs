//! The password policy: what a new password must satisfy (sign-up, password change,
//! reset, an administrator setting one). Login does not apply it: it only verifies.
//!
//! The rules follow the Keycloak realm of the Security Guide (§2.1) plus what Keycloak
//! gets wrong or lacks:
//!
//! | code | rule |
//! |---|---|
//! | `too_short` | at least [`PasswordPolicy::min_len`] characters (default 12) |
//! | `too_long` | at most [`PasswordPolicy::max_len`] characters (default 128); a longer password is **refused, never truncated** |
//! | `common` | not in the shipped list of 30,000 common passwords (case-insensitive) |
//! | `contains_username` | does not contain the username (case-insensitive; usernames of 3+ characters) |
//! | `contains_email` | does not contain the email's local part (case-insensitive; local parts of 3+ characters) |
//! | `too_weak` | a [zxcvbn](https://crates.io/crates/zxcvbn) score of at least [`PasswordPolicy::min_score`] (0–4, default 3), with the username and email as known inputs |
//!
//! Lengths are counted in Unicode scalar values (`char`s), not bytes: twelve `é` are
//! twelve characters. No normalization happens here; a caller that normalizes (NFC/NFKC)
//! must do so before both [`PasswordPolicy::check`] and hashing.
//!
//! [`PasswordPolicy::check`] returns every violation at once, each with a stable
//! [`ViolationCode`] (for clients and tests) and a readable message (with zxcvbn's
//! warning and suggestions for `too_weak`). Messages never contain the password.
//!
//! ## The common-password list
//!
//! `data/common-passwords.txt` holds the 30,000 entries of the "passwords" frequency
//! list embedded in the `zxcvbn` crate 3.1.1 (crates.io), which Dropbox's zxcvbn derived
//! from Mark Burnett's ten-million-password set (lower-cased; entries that zxcvbn's
//! pattern matchers already rate low, such as dates, removed). It is MIT-licensed
//! (Copyright (c) 2012-2015 Dan Wheeler and Dropbox, Inc.; Copyright (c) 2016 Joshua
//! Holmer); the file's header carries the notice. It is embedded at compile time and
//! loaded into a set on first use.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use serde::Serialize;

/// The shipped list, one lower-case password a line, `#` lines are comments.
const COMMON_PASSWORDS_FILE: &str = include_str!("../data/common-passwords.txt");

static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| COMMON_PASSWORDS_FILE.lines().filter(|line| !line.is_empty() && !line.starts_with('#')).collect());

/// Usernames and email local parts shorter than this (in characters) are not looked
/// for inside the password: "al" inside a passphrase is no weakness.
const MIN_IDENTIFIER_LEN: usize = 3;

/// The highest zxcvbn score.
const MAX_SCORE: u8 = 4;

/// What a new password must satisfy. `Default` is AutoPMO's policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordPolicy {
    /// Fewest characters (Unicode scalar values). Default 12.
    pub min_len: usize,
    /// Most characters; a longer password is refused, never truncated. Default 128.
    pub max_len: usize,
    /// Lowest acceptable zxcvbn score, 0–4 (0 turns the strength check off). Default 3
    /// ("safely unguessable: moderate protection from offline slow-hash scenario").
    pub min_score: u8,
    /// Refuse passwords on the shipped common-password list. Default true.
    pub reject_common: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_len: 12, max_len: 128, min_score: 3, reject_common: true }
    }
}

/// A policy that cannot be satisfied or makes no sense.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidPolicy {
    /// `min_len` is 0 or larger than `max_len`.
    #[error("password policy: min_len must be between 1 and max_len ({max_len}), not {min_len}")]
    Length {
        /// Configured minimum.
        min_len: usize,
        /// Configured maximum.
        max_len: usize,
    },
    /// `min_score` is above 4.
    #[error("password policy: min_score must be between 0 and 4, not {0}")]
    Score(u8),
}

/// Why a password was refused: a stable code for programs and a message for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyViolation {
    /// Stable, machine-readable reason.
    pub code: ViolationCode,
    /// Human-readable explanation; never contains the password.
    pub message: String,
}

/// The stable reason codes (serialized in `snake_case`, as [`ViolationCode::as_str`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationCode {
    /// Fewer than `min_len` characters.
    TooShort,
    /// More than `max_len` characters.
    TooLong,
    /// On the common-password list.
    Common,
    /// Contains the username.
    ContainsUsername,
    /// Contains the email's local part.
    ContainsEmail,
    /// zxcvbn score below `min_score`.
    TooWeak,
}

impl ViolationCode {
    /// The code as it appears on the wire: `too_short`, `too_long`, `common`,
    /// `contains_username`, `contains_email`, `too_weak`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ViolationCode::TooShort => "too_short",
            ViolationCode::TooLong => "too_long",
            ViolationCode::Common => "common",
            ViolationCode::ContainsUsername => "contains_username",
            ViolationCode::ContainsEmail => "contains_email",
            ViolationCode::TooWeak => "too_weak",
        }
    }
}

impl fmt::Display for ViolationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PasswordPolicy {
    /// Check that the policy can be satisfied (for configuration loading).
    pub fn validate(&self) -> Result<(), InvalidPolicy> {
        if self.min_len == 0 || self.min_len > self.max_len {
            return Err(InvalidPolicy::Length { min_len: self.min_len, max_len: self.max_len });
        }
        if self.min_score > MAX_SCORE {
            return Err(InvalidPolicy::Score(self.min_score));
        }
        Ok(())
    }

    /// Check a new password for the account `username` / `email`. Returns every
    /// violation found; a password over `max_len` gets `too_long` alone (it is not
    /// analysed further).
    pub fn check(&self, password: &str, username: &str, email: &str) -> Result<(), Vec<PolicyViolation>> {
        let mut violations = Vec::new();
        // Count at most max_len + 1 characters: enough to know, bounded work.
        let len = password.chars().take(self.max_len.saturating_add(1)).count();
        if len > self.max_len {
            violations.push(PolicyViolation {
                code: ViolationCode::TooLong,
                message: format!(
                    "Use at most {} characters. Longer passwords are refused, not shortened.",
                    self.max_len
                ),
            });
            return Err(violations);
        }
        if len < self.min_len {
            violations.push(PolicyViolation {
                code: ViolationCode::TooShort,
                message: format!("Use at least {} characters.", self.min_len),
            });
        }

        let lowered = password.to_lowercase();
        if self.reject_common && COMMON_PASSWORDS.contains(lowered.as_str()) {
            violations.push(PolicyViolation {
                code: ViolationCode::Common,
                message: "This is one of the most commonly used passwords. Choose another.".to_owned(),
            });
        }

        let username = significant_identifier(username);
        if let Some(name) = &username
            && lowered.contains(name.as_str())
        {
            violations.push(PolicyViolation {
                code: ViolationCode::ContainsUsername,
                message: "The password must not contain your username.".to_owned(),
            });
        }
        let local_part = significant_identifier(email.rsplit_once('@').map_or(email, |(local, _)| local));
        if let Some(local) = &local_part
            && lowered.contains(local.as_str())
        {
            violations.push(PolicyViolation {
                code: ViolationCode::ContainsEmail,
                message: "The password must not contain your email address.".to_owned(),
            });
        }

        if self.min_score > 0
            && let Some(violation) = self.strength(password, &[username.as_deref(), local_part.as_deref(), Some(email)])
        {
            violations.push(violation);
        }

        if violations.is_empty() { Ok(()) } else { Err(violations) }
    }

    /// zxcvbn's verdict, as a violation when below `min_score`.
    fn strength(&self, password: &str, user_inputs: &[Option<&str>]) -> Option<PolicyViolation> {
        if password.is_empty() {
            return Some(PolicyViolation { code: ViolationCode::TooWeak, message: "Choose a password.".to_owned() });
        }
        let inputs: Vec<&str> = user_inputs.iter().flatten().copied().filter(|s| !s.is_empty()).collect();
        let entropy = zxcvbn::zxcvbn(password, &inputs);
        let score = u8::from(entropy.score());
        if score >= self.min_score {
            return None;
        }
        let mut message = format!(
            "This password is too easy to guess (strength {score} of {MAX_SCORE}; at least {} is needed).",
            self.min_score
        );
        if let Some(feedback) = entropy.feedback() {
            if let Some(warning) = feedback.warning() {
                message.push(' ');
                message.push_str(&warning.to_string());
            }
            for suggestion in feedback.suggestions() {
                message.push(' ');
                message.push_str(&suggestion.to_string());
            }
        }
        Some(PolicyViolation { code: ViolationCode::TooWeak, message })
    }
}

/// Whether `password` (any case) is on the shipped common-password list.
pub fn is_common_password(password: &str) -> bool {
    COMMON_PASSWORDS.contains(password.to_lowercase().as_str())
}

/// The lower-cased identifier, if long enough to look for.
fn significant_identifier(identifier: &str) -> Option<String> {
    let lowered = identifier.trim().to_lowercase();
    (lowered.chars().count() >= MIN_IDENTIFIER_LEN).then_some(lowered)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRONG: &str = "Tangerine-Orbit-Falcon-42";

    fn codes(result: Result<(), Vec<PolicyViolation>>) -> Vec<&'static str> {
        match result {
            Ok(()) => Vec::new(),
            Err(violations) => violations.iter().map(|v| v.code.as_str()).collect(),
        }
    }

    fn check(password: &str) -> Vec<&'static str> {
        codes(PasswordPolicy::default().check(password, "jdoe", "jane.doe@example.org"))
    }

    #[test]
    fn a_strong_password_passes() {
        assert_eq!(check(STRONG), Vec::<&str>::new());
        assert_eq!(check("correct horse battery staple"), Vec::<&str>::new());
    }

    #[test]
    fn too_short() {
        assert_eq!(check("Tq9#vL2!xw"), ["too_short"]);
        assert_eq!(check(""), ["too_short", "too_weak"]);
        let lax = PasswordPolicy { min_len: 8, ..PasswordPolicy::default() };
        assert!(lax.check("Tq9#vL2!xw", "jdoe", "jane.doe@example.org").is_ok());
    }

    #[test]
    fn lengths_are_counted_in_characters() {
        let policy = PasswordPolicy { min_score: 0, ..PasswordPolicy::default() };
        let twelve = "é".repeat(12); // 24 bytes
        assert_eq!(twelve.len(), 24);
        assert!(policy.check(&twelve, "jdoe", "jane.doe@example.org").is_ok());
        assert_eq!(codes(policy.check(&"é".repeat(11), "jdoe", "jane.doe@example.org")), ["too_short"]);
        // 128 four-byte characters are allowed, 129 are not.
        assert!(policy.check(&"🦀".repeat(128), "jdoe", "jane.doe@example.org").is_ok());
        assert_eq!(codes(policy.check(&"🦀".repeat(129), "jdoe", "jane.doe@example.org")), ["too_long"]);
    }

    #[test]
    fn too_long_is_refused_not_truncated() {
        let long = format!("{STRONG}{}", "x7Q!".repeat(26)); // 25 + 104 = 129 characters
        assert_eq!(long.chars().count(), 129);
        assert_eq!(check(&long), ["too_long"]);
        let violations = PasswordPolicy::default().check(&long, "jdoe", "jane.doe@example.org").unwrap_err();
        assert!(violations[0].message.contains("128"), "{}", violations[0].message);
        assert!(violations[0].message.contains("not shortened"));
        // The first 128 characters alone are fine: the 129th is what is refused.
        let first_128: String = long.chars().take(128).collect();
        assert_eq!(check(&first_128), Vec::<&str>::new());
        // Huge input: refused without analysis.
        assert_eq!(check(&"a".repeat(1_000_000)), ["too_long"]);
    }

    #[test]
    fn common_passwords_case_insensitive() {
        assert!(is_common_password("password"));
        assert!(is_common_password("PassWord"));
        assert!(is_common_password("qwertyuiop"));
        assert!(!is_common_password(STRONG));
        assert!(COMMON_PASSWORDS.len() >= 29_000, "{}", COMMON_PASSWORDS.len());
        assert!(!COMMON_PASSWORDS.iter().any(|p| p.starts_with('#') || p.is_empty()));
        // Long entries of the list are refused as common even though long enough.
        assert!(check("1QAZ2WSX3EDC").contains(&"common"));
        assert!(check("LeaveMeAlone").contains(&"common"));
        let no_list = PasswordPolicy { reject_common: false, ..PasswordPolicy::default() };
        assert!(!codes(no_list.check("LeaveMeAlone", "jdoe", "jane.doe@example.org")).contains(&"common"));
    }

    #[test]
    fn username_inside_is_refused() {
        let policy = PasswordPolicy::default();
        let with_name = "Orbit-JDoe-Tangerine-42";
        assert!(codes(policy.check(with_name, "jdoe", "someone@example.org")).contains(&"contains_username"));
        assert!(codes(policy.check(with_name, "JDOE", "someone@example.org")).contains(&"contains_username"));
        // Short usernames are not looked for.
        assert!(policy.check("Orbit-Al-Tangerine-Falcon-42", "al", "someone@example.org").is_ok());
        // Non-ASCII usernames, compared case-insensitively.
        assert!(
            codes(policy.check("Orbit-ÉLODIE-Tangerine-42", "élodie", "x@example.org")).contains(&"contains_username")
        );
    }

    #[test]
    fn email_local_part_inside_is_refused() {
        let policy = PasswordPolicy::default();
        let result = policy.check("Orbit-Jane.Doe-Tangerine-42", "someone", "jane.doe@example.org");
        assert_eq!(codes(result), ["contains_email"]);
        // The domain alone is not the local part.
        assert!(policy.check("Orbit-example-Tangerine-42", "someone", "jane.doe@example.org").is_ok());
        // Short local parts are not looked for.
        assert!(policy.check("Orbit-Jo-Tangerine-Falcon-42", "someone", "jo@example.org").is_ok());
    }

    #[test]
    fn weak_passwords_are_refused_with_feedback() {
        for weak in
            ["aaaaaaaaaaaa", "abcdefghijklmn", "qwertyuiopasdf", "iloveyou2024!", "Password2024!", "december1990"]
        {
            let violations = PasswordPolicy::default().check(weak, "jdoe", "jane.doe@example.org").unwrap_err();
            let weak_one = violations.iter().find(|v| v.code == ViolationCode::TooWeak);
            let Some(weak_one) = weak_one else { panic!("{weak}: {violations:?}") };
            assert!(weak_one.message.contains("too easy to guess"), "{}", weak_one.message);
            assert!(weak_one.message.len() > "too easy to guess".len() + 60, "no feedback: {}", weak_one.message);
        }
        // The floor is configurable.
        let lenient = PasswordPolicy { min_score: 2, ..PasswordPolicy::default() };
        assert!(lenient.check("Password2024!", "jdoe", "jane.doe@example.org").is_ok());
        let off = PasswordPolicy { min_score: 0, ..PasswordPolicy::default() };
        assert!(off.check("aaaaaaaaaaaa", "jdoe", "jane.doe@example.org").is_ok());
    }

    #[test]
    fn messages_never_contain_the_password() {
        let policy = PasswordPolicy::default();
        for password in ["Zq", "password1234", "jdoe-jane.doe-1", "aaaaaaaaaaaa", &"Kx".repeat(70)] {
            let Err(violations) = policy.check(password, "jdoe", "jane.doe@example.org") else {
                panic!("{password} accepted")
            };
            for v in violations {
                assert!(!v.message.contains(password), "{password}: {}", v.message);
            }
        }
    }

    #[test]
    fn codes_are_stable_on_the_wire() {
        let v = PolicyViolation { code: ViolationCode::ContainsEmail, message: "m".to_owned() };
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"code":"contains_email","message":"m"}"#);
        for code in [
            ViolationCode::TooShort,
            ViolationCode::TooLong,
            ViolationCode::Common,
            ViolationCode::ContainsUsername,
            ViolationCode::ContainsEmail,
            ViolationCode::TooWeak,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn policy_validation() {
        assert_eq!(PasswordPolicy::default().validate(), Ok(()));
        let bad = PasswordPolicy { min_len: 20, max_len: 10, ..PasswordPolicy::default() };
        assert!(matches!(bad.validate(), Err(InvalidPolicy::Length { .. })));
        let bad = PasswordPolicy { min_len: 0, ..PasswordPolicy::default() };
        assert!(bad.validate().is_err());
        let bad = PasswordPolicy { min_score: 5, ..PasswordPolicy::default() };
        assert_eq!(bad.validate(), Err(InvalidPolicy::Score(5)));
    }
}
