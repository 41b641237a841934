//! Validated text values: names, titles, descriptions, usernames, emails.
//!
//! Rules shared by all of them: surrounding whitespace is trimmed; control
//! characters other than newline and tab (in long texts only) are refused;
//! lengths count Unicode scalar values, never bytes, and a value that is too
//! long is refused, never truncated. The longest length applies to the
//! value as sent (so that it is the `maxLength` the API document states),
//! the shortest to the value once trimmed (blank is empty).

use crate::validation::FieldError;
use serde::Serialize;

fn bounded(raw: &str, min: usize, max: usize, multiline: bool) -> Result<String, FieldError> {
    let sent = raw.chars().count();
    if sent > max {
        return Err(FieldError::new("", "too_long", format!("must be at most {max} characters (got {sent})")));
    }
    let value = raw.trim();
    let len = value.chars().count();
    if len < min {
        return Err(if len == 0 {
            FieldError::new("", "required", "must not be empty")
        } else {
            FieldError::new("", "too_short", format!("must be at least {min} characters"))
        });
    }
    let bad = value.chars().any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t' || c == '\r')));
    if bad {
        return Err(FieldError::new("", "invalid_characters", "must not contain control characters"));
    }
    Ok(value.to_owned())
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr, $multiline:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The longest accepted value, in characters.
            pub const MAX_CHARS: usize = $max;

            /// Validates `raw` (trimmed first).
            pub fn parse(raw: &str) -> Result<Self, FieldError> {
                bounded(raw, $min, $max, $multiline).map(Self)
            }

            /// The value.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The value, owned.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// A project's name: 1–255 characters (guide §5.1).
    ProjectName, 1, 255, false
);
text_type!(
    /// A task's title: 1–255 characters.
    TaskTitle, 1, 255, false
);
text_type!(
    /// A person's display name: 1–128 characters.
    DisplayName, 1, 128, false
);
text_type!(
    /// A long free text (project or task description): up to 20,000 characters, may be empty.
    Description, 0, 20_000, true
);
text_type!(
    /// A short free-text note on a cost entry: up to 1,000 characters, may be empty.
    Note, 0, 1_000, true
);
text_type!(
    /// The reason given with a decision (a budget approval or rejection): up
    /// to 2,000 characters, may be empty.
    Reason, 0, 2_000, true
);

/// A login name: 3–64 characters of `a–z 0–9 . _ -`, starting with a letter
/// or digit. Stored lower-case; it never changes once created.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// Validates and lower-cases `raw`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim().to_ascii_lowercase();
        let len = value.chars().count();
        if !(3..=64).contains(&len) {
            return Err(FieldError::new("", "invalid_length", "must be 3 to 64 characters"));
        }
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
        let first_ok = value.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if !first_ok || !value.chars().all(allowed) {
            return Err(FieldError::new(
                "",
                "invalid_characters",
                "may hold only a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
            ));
        }
        Ok(Self(value))
    }

    /// The value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address: `local@domain`, at most 254 characters, the domain
/// lower-cased. Two addresses that differ only in case are the same account
/// ([`Email::normalized`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Validates `raw`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        let invalid = || FieldError::new("", "invalid_email", "must be an email address like name@example.org");
        if value.len() > 254 {
            return Err(FieldError::new("", "too_long", "must be at most 254 characters"));
        }
        let (local, domain) = value.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.contains('@')
            && local.chars().all(|c| c.is_ascii_graphic() || !c.is_ascii());
        let labels_ok = domain.split('.').count() >= 2
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !local_ok || !labels_ok {
            return Err(invalid());
        }
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
    }

    /// The address as given (domain lower-cased).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive form used for uniqueness and login by email.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_name_bounds() {
        assert_eq!(ProjectName::parse("  Apollo  ").unwrap().as_str(), "Apollo");
        assert_eq!(ProjectName::parse("").unwrap_err().code, "required");
        assert_eq!(ProjectName::parse("   ").unwrap_err().code, "required");
        assert!(ProjectName::parse(&"x".repeat(255)).is_ok());
        assert_eq!(ProjectName::parse(&"x".repeat(256)).unwrap_err().code, "too_long");
        // The longest length is that of the value as sent, spaces included.
        assert_eq!(ProjectName::parse(&format!("{} ", "x".repeat(255))).unwrap_err().code, "too_long");
        // 255 multi-byte characters are 255 characters, not 765.
        assert!(ProjectName::parse(&"é".repeat(255)).is_ok());
        assert_eq!(ProjectName::parse("a\u{0}b").unwrap_err().code, "invalid_characters");
        assert_eq!(ProjectName::parse("a\nb").unwrap_err().code, "invalid_characters");
        assert_eq!(Reason::parse("board said\u{0} no").unwrap_err().code, "invalid_characters");
        assert_eq!(Reason::parse(" Board said no.\nNext year. ").unwrap().as_str(), "Board said no.\nNext year.");
        assert_eq!(Reason::parse("").unwrap().as_str(), "");
        assert_eq!(Reason::parse(&"x".repeat(2_001)).unwrap_err().code, "too_long");
    }

    #[test]
    fn sql_looking_text_is_just_text() {
        let name = ProjectName::parse("x'); DROP TABLE projects; --").unwrap();
        assert_eq!(name.as_str(), "x'); DROP TABLE projects; --");
    }

    #[test]
    fn description_allows_newlines() {
        assert!(Description::parse("line one\nline two\tTabbed").is_ok());
        assert!(Description::parse("").is_ok());
    }

    #[test]
    fn usernames() {
        assert_eq!(Username::parse("Alice.Smith").unwrap().as_str(), "alice.smith");
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("-alice").is_err());
        assert!(Username::parse("al ice").is_err());
        assert!(Username::parse("alice@x").is_err());
    }

    #[test]
    fn emails() {
        let email = Email::parse("Alice@Example.ORG").unwrap();
        assert_eq!(email.as_str(), "Alice@example.org");
        assert_eq!(email.normalized(), "alice@example.org");
        for bad in ["", "alice", "@example.org", "alice@", "alice@localhost", "a b@example.org", "a@-x.org"] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
