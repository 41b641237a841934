//! Effort and schedule values: hours, percent complete, planned dates.

use crate::validation::FieldError;
use rust_decimal::Decimal;
use std::str::FromStr;
use time::Date;

/// Hours of effort, exact to the hundredth, from 0 to 1,000,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hours {
    hundredths: i64,
}

impl Hours {
    /// The largest accepted value, in hours.
    pub const MAX: i64 = 1_000_000;

    /// Parses a decimal string such as `"7.5"`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let text = raw.trim();
        if text.starts_with('-') {
            return Err(FieldError::new("", "negative", "must not be negative"));
        }
        let ok = !text.is_empty()
            && text.chars().all(|c| c.is_ascii_digit() || c == '.')
            && text.matches('.').count() <= 1
            && !text.starts_with('.')
            && !text.ends_with('.');
        if !ok {
            return Err(FieldError::new("", "invalid_decimal", "must be a decimal string like \"7.5\""));
        }
        if text.split_once('.').is_some_and(|(_, f)| f.len() > 2) {
            return Err(FieldError::new("", "too_many_decimals", "allows at most 2 decimal places"));
        }
        let range = || FieldError::new("", "out_of_range", format!("must be at most {}", Self::MAX));
        let value = Decimal::from_str(text).map_err(|_| range())?;
        if value > Decimal::from(Self::MAX) {
            return Err(range());
        }
        let hundredths = i64::try_from((value * Decimal::ONE_HUNDRED).trunc()).map_err(|_| range())?;
        Ok(Self { hundredths })
    }

    /// From a stored count of hundredths; `None` when out of range.
    pub fn from_hundredths(hundredths: i64) -> Option<Self> {
        (0..=Self::MAX * 100).contains(&hundredths).then_some(Self { hundredths })
    }

    /// The stored form.
    pub fn hundredths(&self) -> i64 {
        self.hundredths
    }
}

impl std::fmt::Display for Hours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Decimal::new(self.hundredths, 2).normalize().fmt(f)
    }
}

/// A percentage from 0 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Percent(u8);

impl Percent {
    /// Validates `value`.
    pub fn new(value: i64) -> Result<Self, FieldError> {
        u8::try_from(value)
            .ok()
            .filter(|v| *v <= 100)
            .map(Self)
            .ok_or_else(|| FieldError::new("", "out_of_range", "must be an integer from 0 to 100"))
    }

    /// The value.
    pub fn value(self) -> u8 {
        self.0
    }
}

/// A planned start and end; when both are set, the end is not before the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlannedDates {
    /// Planned start.
    pub start: Option<Date>,
    /// Planned end or finish.
    pub end: Option<Date>,
}

impl PlannedDates {
    /// Checks the order of the two dates.
    pub fn new(start: Option<Date>, end: Option<Date>) -> Result<Self, FieldError> {
        if let (Some(s), Some(e)) = (start, end)
            && e < s
        {
            return Err(FieldError::new(
                "",
                "end_before_start",
                "the planned end must not be before the planned start",
            ));
        }
        Ok(Self { start, end })
    }
}

/// Parses an ISO 8601 calendar date (`2026-12-31`).
pub fn parse_date(raw: &str) -> Result<Date, FieldError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(raw.trim(), format).map_err(|_| FieldError::new("", "invalid_date", "must be a date like 2026-12-31"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn hours() {
        assert_eq!(Hours::parse("7.5").unwrap().hundredths(), 750);
        assert_eq!(Hours::parse("7.5").unwrap().to_string(), "7.5");
        assert_eq!(Hours::parse("0").unwrap().hundredths(), 0);
        assert_eq!(Hours::parse("-1").unwrap_err().code, "negative");
        assert_eq!(Hours::parse("1.005").unwrap_err().code, "too_many_decimals");
        assert_eq!(Hours::parse("1000001").unwrap_err().code, "out_of_range");
        assert_eq!(Hours::parse("1e3").unwrap_err().code, "invalid_decimal");
    }

    #[test]
    fn percent() {
        assert_eq!(Percent::new(100).unwrap().value(), 100);
        assert!(Percent::new(101).is_err());
        assert!(Percent::new(-1).is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("2026-02-28").unwrap(), date!(2026 - 02 - 28));
        assert!(parse_date("2026-02-30").is_err());
        assert!(parse_date("28/02/2026").is_err());
        assert!(PlannedDates::new(Some(date!(2026 - 03 - 01)), Some(date!(2026 - 02 - 01))).is_err());
        assert!(PlannedDates::new(Some(date!(2026 - 03 - 01)), Some(date!(2026 - 03 - 01))).is_ok());
    }
}
