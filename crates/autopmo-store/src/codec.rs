//! Turning domain values into column values and back. Timestamps are stored
//! as fixed-width RFC 3339 UTC text (`2026-12-04T21:30:00.000000Z`) so that
//! text order is time order on every backend; dates as `YYYY-MM-DD`.

use crate::error::StoreError;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

const TIMESTAMP: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
const DATE: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// A timestamp as stored.
pub fn ts(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC).format(TIMESTAMP).unwrap_or_default()
}

/// A stored timestamp.
pub fn parse_ts(table: &'static str, raw: &str) -> Result<OffsetDateTime, StoreError> {
    PrimitiveDateTime::parse(raw, TIMESTAMP)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|e| StoreError::corrupt(table, format!("timestamp {raw:?}: {e}")))
}

/// A date as stored.
pub fn date(d: Date) -> String {
    d.format(DATE).unwrap_or_default()
}

/// A stored date.
pub fn parse_date(table: &'static str, raw: &str) -> Result<Date, StoreError> {
    Date::parse(raw, DATE).map_err(|e| StoreError::corrupt(table, format!("date {raw:?}: {e}")))
}

/// An optional stored date.
pub fn parse_opt_date(table: &'static str, raw: Option<String>) -> Result<Option<Date>, StoreError> {
    raw.map(|r| parse_date(table, &r)).transpose()
}

/// Parses a stored value with a domain parser, naming the table when it fails.
pub fn field<T, E: std::fmt::Display>(table: &'static str, result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::corrupt(table, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_are_fixed_width_and_round_trip() {
        let at = datetime!(2026-12-04 21:30:00.5 UTC);
        assert_eq!(ts(at), "2026-12-04T21:30:00.500000Z");
        assert_eq!(parse_ts("t", &ts(at)).unwrap(), at);
        let earlier = datetime!(2026-12-04 09:00:00 +02:00);
        assert_eq!(ts(earlier), "2026-12-04T07:00:00.000000Z");
        assert!(ts(earlier) < ts(at));
    }
}
