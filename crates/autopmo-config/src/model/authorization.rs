//! Authorization settings (`docs/authorization.md`).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The permission matrix, the policies and the budget approval rule.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthorizationConfig {
    /// A YAML policy file (guide §3.2 format) replacing the shipped
    /// policies; reloaded on SIGHUP and by `POST /api/v1/policies/reload`.
    pub policy_file: Option<PathBuf>,
    /// A TOML permission matrix replacing the built-in §3.1 matrix.
    pub matrix_file: Option<PathBuf>,
    /// Guide §3.3: budgets over a threshold need a system_admin's approval.
    pub budget_approval: BudgetApprovalConfig,
}

/// Guide §3.3: "Budget over $1M requires admin approval".
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetApprovalConfig {
    /// On: a larger budget asked for by someone who is not a system_admin
    /// waits for approval. Off: it is refused.
    pub enabled: bool,
    /// The threshold, a decimal string in major units (`"1000000"`).
    pub threshold: String,
    /// The threshold's currency (ISO 4217). Budgets in other currencies
    /// are compared with the same number (no exchange rates are kept).
    pub currency: String,
}

impl Default for BudgetApprovalConfig {
    fn default() -> Self {
        Self { enabled: true, threshold: "1000000".to_owned(), currency: "USD".to_owned() }
    }
}
