//! Guide §3.3: "Budget over $1M requires admin approval" — as a workflow.
//! Someone who may not decide approvals asks for a budget above the
//! threshold: the budget does not take effect; a pending approval is made
//! for a system_admin to decide. With approvals off, the request is refused
//! with §3.3's message.

use autopmo_domain::{Currency, Money};
use rust_decimal::Decimal;

/// The threshold and whether approval requests are made.
#[derive(Debug, Clone)]
pub struct BudgetRule {
    /// Make approval requests (else refuse).
    pub enabled: bool,
    /// The threshold, major units.
    pub threshold: Decimal,
    /// Its currency, for the message.
    pub currency: Currency,
}

impl Default for BudgetRule {
    fn default() -> Self {
        Self { enabled: true, threshold: Decimal::from(1_000_000), currency: Currency::USD }
    }
}

impl BudgetRule {
    /// From the `[authorization.budget_approval]` settings.
    pub fn new(enabled: bool, threshold: &str, currency: &str) -> Result<Self, String> {
        let currency = Currency::parse(currency)
            .map_err(|e| format!("authorization.budget_approval.currency: {currency:?}: {}", e.message))?;
        let threshold: Decimal = threshold
            .parse()
            .ok()
            .filter(|d: &Decimal| !d.is_sign_negative())
            .ok_or_else(|| format!("authorization.budget_approval.threshold: {threshold:?} is not an amount"))?;
        Ok(Self { enabled, threshold, currency })
    }

    /// Whether `budget` is above the threshold. Budgets in other currencies
    /// are compared by number: no exchange rates are kept.
    pub fn exceeds(&self, budget: &Money) -> bool {
        budget.to_decimal() > self.threshold
    }

    /// §3.3's message, with the configured threshold ("Budget over $1M
    /// requires admin approval").
    pub fn message(&self) -> String {
        let amount = compact(self.threshold);
        if self.currency == Currency::USD {
            format!("Budget over ${amount} requires admin approval")
        } else {
            format!("Budget over {} {amount} requires admin approval", self.currency.code())
        }
    }
}

/// 1000000 → `1M`, 250000 → `250K`, 1234.5 → `1234.5`.
fn compact(d: Decimal) -> String {
    let d = d.normalize();
    let million = Decimal::from(1_000_000);
    let thousand = Decimal::from(1_000);
    if d >= million && (d % million).is_zero() {
        format!("{}M", d / million)
    } else if d >= thousand && (d % thousand).is_zero() {
        format!("{}K", d / thousand)
    } else {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_the_guides_for_the_default() {
        assert_eq!(BudgetRule::default().message(), "Budget over $1M requires admin approval");
        let eur = BudgetRule::new(true, "250000.00", "EUR");
        assert_eq!(eur.map(|r| r.message()), Ok("Budget over EUR 250K requires admin approval".to_owned()));
    }

    #[test]
    fn above_not_at_the_threshold() {
        let rule = BudgetRule::default();
        let at = Money::parse("1000000.00", "USD").ok();
        let above = Money::parse("1000000.01", "USD").ok();
        assert_eq!(at.map(|m| rule.exceeds(&m)), Some(false));
        assert_eq!(above.map(|m| rule.exceeds(&m)), Some(true));
    }

    #[test]
    fn bad_settings_are_named() {
        assert!(BudgetRule::new(true, "-5", "USD").is_err_and(|e| e.contains("threshold")));
        assert!(BudgetRule::new(true, "5", "XXX").is_err_and(|e| e.contains("currency")));
    }
}
