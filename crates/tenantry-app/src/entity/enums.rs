//! Closed sets of values stored as text (the migrations' CHECK constraints list the same values).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The kind of a ledger (account) in the chart of accounts.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum LedgerType {
    #[sea_orm(string_value = "asset")]
    Asset,
    #[sea_orm(string_value = "liability")]
    Liability,
    #[sea_orm(string_value = "equity")]
    Equity,
    #[sea_orm(string_value = "income")]
    Income,
    #[sea_orm(string_value = "expense")]
    Expense,
}

impl LedgerType {
    /// The stored (and JSON) spelling: `asset`, `liability`, `equity`, `income`, `expense`.
    pub const fn as_str(self) -> &'static str {
        match self {
            LedgerType::Asset => "asset",
            LedgerType::Liability => "liability",
            LedgerType::Equity => "equity",
            LedgerType::Income => "income",
            LedgerType::Expense => "expense",
        }
    }
}

/// What a tenant user may do in the accounting app.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum UserRole {
    #[sea_orm(string_value = "admin")]
    Admin,
    #[sea_orm(string_value = "accountant")]
    Accountant,
    #[sea_orm(string_value = "viewer")]
    Viewer,
}

impl UserRole {
    /// The stored (and JSON) spelling: `admin`, `accountant`, `viewer`.
    pub const fn as_str(self) -> &'static str {
        match self {
            UserRole::Admin => "admin",
            UserRole::Accountant => "accountant",
            UserRole::Viewer => "viewer",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    #[test]
    fn as_str_is_the_stored_value() {
        for t in LedgerType::iter() {
            assert_eq!(t.as_str(), t.to_value());
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        for r in UserRole::iter() {
            assert_eq!(r.as_str(), r.to_value());
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }
}
