//! Money as exact decimals — never floats.
//!
//! An [`Amount`] is parsed from a decimal *string* (`"1250000.00"`); JSON
//! numbers are refused at the edge because a float cannot hold money exactly.
//! It is stored as an integer count of the currency's minor unit (cents for
//! USD, yen for JPY), so the database sorts and sums it exactly on every
//! backend.

use crate::validation::FieldError;
use rust_decimal::Decimal;
use serde::Serialize;
use std::str::FromStr;

/// The currencies AutoPMO accepts (ISO 4217), with their minor-unit exponents.
const CURRENCIES: &[(&str, u32)] = &[
    ("AUD", 2),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CNY", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("INR", 2),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("MXN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("PLN", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("USD", 2),
    ("ZAR", 2),
];

/// The largest amount accepted in any currency: one hundred trillion units.
pub const MAX_AMOUNT_UNITS: i64 = 100_000_000_000_000;

/// An ISO 4217 currency code that AutoPMO supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct Currency {
    code: &'static str,
    exponent: u32,
}

impl Currency {
    /// US dollars, the default currency.
    pub const USD: Self = Self { code: "USD", exponent: 2 };

    /// Looks up a three-letter code (upper-case).
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        CURRENCIES.iter().find(|(code, _)| *code == raw).map(|&(code, exponent)| Self { code, exponent }).ok_or_else(
            || {
                FieldError::new(
                    "",
                    "unknown_currency",
                    format!(
                        "must be one of the supported ISO 4217 codes: {}",
                        CURRENCIES.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
                    ),
                )
            },
        )
    }

    /// Every supported currency.
    pub fn all() -> impl Iterator<Item = Self> {
        CURRENCIES.iter().map(|&(code, exponent)| Self { code, exponent })
    }

    /// The code, e.g. `USD`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Digits after the decimal point of the minor unit (2 for USD, 0 for JPY).
    pub fn exponent(&self) -> u32 {
        self.exponent
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> Self {
        c.code.to_owned()
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code)
    }
}

/// A non-negative exact amount in some currency's minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount {
    minor: i64,
}

impl Amount {
    /// Parses a decimal string for `currency`: digits with an optional
    /// fraction of at most the currency's exponent, no sign, no exponent
    /// notation, at most [`MAX_AMOUNT_UNITS`].
    pub fn parse(raw: &str, currency: Currency) -> Result<Self, FieldError> {
        let text = raw.trim();
        let well_formed = !text.is_empty()
            && text.chars().all(|c| c.is_ascii_digit() || c == '.')
            && text.matches('.').count() <= 1
            && !text.starts_with('.')
            && !text.ends_with('.');
        if text.starts_with('-') {
            return Err(FieldError::new("", "negative", "must not be negative"));
        }
        if !well_formed {
            return Err(FieldError::new(
                "",
                "invalid_decimal",
                "must be a decimal string like \"1250.00\" (digits, at most one '.', no sign or exponent)",
            ));
        }
        let decimals = text.split_once('.').map_or(0, |(_, frac)| frac.len());
        if decimals > currency.exponent as usize {
            return Err(FieldError::new(
                "",
                "too_many_decimals",
                format!("{} allows at most {} decimal places", currency.code, currency.exponent),
            ));
        }
        let too_large = || FieldError::new("", "out_of_range", format!("must be at most {MAX_AMOUNT_UNITS}"));
        let value = Decimal::from_str(text).map_err(|_| too_large())?;
        if value > Decimal::from(MAX_AMOUNT_UNITS) {
            return Err(too_large());
        }
        let minor = value
            .checked_mul(Decimal::from(10_i64.pow(currency.exponent)))
            .and_then(|m| i64::try_from(m.trunc()).ok())
            .ok_or_else(too_large)?;
        Ok(Self { minor })
    }

    /// An amount from a stored minor-unit count; `None` when negative or too large.
    pub fn from_minor(minor: i64, currency: Currency) -> Option<Self> {
        let max = MAX_AMOUNT_UNITS.checked_mul(10_i64.pow(currency.exponent))?;
        (0..=max).contains(&minor).then_some(Self { minor })
    }

    /// Zero.
    pub const ZERO: Self = Self { minor: 0 };

    /// The count of minor units.
    pub fn minor(&self) -> i64 {
        self.minor
    }

    /// The exact decimal value in `currency`.
    pub fn to_decimal(&self, currency: Currency) -> Decimal {
        Decimal::new(self.minor, currency.exponent)
    }

    /// The canonical string, with exactly the currency's decimal places.
    pub fn to_string_in(&self, currency: Currency) -> String {
        let value = self.to_decimal(currency);
        format!("{value:.prec$}", prec = currency.exponent as usize)
    }
}

/// An amount with its currency: a project's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    /// How much.
    pub amount: Amount,
    /// In what.
    pub currency: Currency,
}

impl Money {
    /// Parses `amount` in the currency `currency`.
    pub fn parse(amount: &str, currency: &str) -> Result<Self, FieldError> {
        let currency = Currency::parse(currency).map_err(|e| e.at("currency"))?;
        let amount = Amount::parse(amount, currency).map_err(|e| e.at("amount"))?;
        Ok(Self { amount, currency })
    }

    /// The exact decimal value.
    pub fn to_decimal(&self) -> Decimal {
        self.amount.to_decimal(self.currency)
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.amount.to_string_in(self.currency), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_amounts() {
        let m = Money::parse("1250000.50", "USD").unwrap();
        assert_eq!(m.amount.minor(), 125_000_050);
        assert_eq!(m.to_string(), "1250000.50 USD");
        assert_eq!(Money::parse("7", "USD").unwrap().amount.to_string_in(Currency::USD), "7.00");
        assert_eq!(Money::parse("1000", "JPY").unwrap().amount.minor(), 1000);
        assert_eq!(Money::parse("1.234", "KWD").unwrap().amount.minor(), 1234);
    }

    #[test]
    fn refuses_bad_amounts() {
        let code = |a: &str, c: &str| Money::parse(a, c).unwrap_err().code;
        assert_eq!(code("-1", "USD"), "negative");
        assert_eq!(code("1.001", "USD"), "too_many_decimals");
        assert_eq!(code("1.5", "JPY"), "too_many_decimals");
        assert_eq!(code("1e309", "USD"), "invalid_decimal");
        assert_eq!(code("1e3", "USD"), "invalid_decimal");
        assert_eq!(code("NaN", "USD"), "invalid_decimal");
        assert_eq!(code("", "USD"), "invalid_decimal");
        assert_eq!(code("1.", "USD"), "invalid_decimal");
        assert_eq!(code("+1", "USD"), "invalid_decimal");
        assert_eq!(code("1,000", "USD"), "invalid_decimal");
        assert_eq!(code(&"9".repeat(40), "USD"), "out_of_range");
        assert_eq!(code("100000000000000.01", "USD"), "out_of_range");
        assert_eq!(code("10", "XXX"), "unknown_currency");
        assert_eq!(code("10", "usd"), "unknown_currency");
        assert!(Money::parse("100000000000000", "USD").is_ok());
    }

    #[test]
    fn minor_units_round_trip() {
        let amount = Amount::from_minor(123_456, Currency::USD).unwrap();
        assert_eq!(amount.to_string_in(Currency::USD), "1234.56");
        assert!(Amount::from_minor(-1, Currency::USD).is_none());
    }
}
