//! The chart of accounts every new tenant starts with.

use crate::LedgerType;

/// The default chart of accounts, seeded at provisioning: (code, name, type, parent code).
/// Parents come before their children, and a child has its parent's type.
pub const DEFAULT_CHART: &[(&str, &str, LedgerType, Option<&str>)] = &[
    ("1000", "Assets", LedgerType::Asset, None),
    ("1100", "Cash", LedgerType::Asset, Some("1000")),
    ("1200", "Bank", LedgerType::Asset, Some("1000")),
    (
        "1300",
        "Accounts Receivable",
        LedgerType::Asset,
        Some("1000"),
    ),
    ("1400", "Inventory", LedgerType::Asset, Some("1000")),
    ("2000", "Liabilities", LedgerType::Liability, None),
    (
        "2100",
        "Accounts Payable",
        LedgerType::Liability,
        Some("2000"),
    ),
    ("2200", "Taxes Payable", LedgerType::Liability, Some("2000")),
    ("2300", "Loans Payable", LedgerType::Liability, Some("2000")),
    ("3000", "Equity", LedgerType::Equity, None),
    ("3100", "Owner's Capital", LedgerType::Equity, Some("3000")),
    (
        "3200",
        "Retained Earnings",
        LedgerType::Equity,
        Some("3000"),
    ),
    ("4000", "Income", LedgerType::Income, None),
    ("4100", "Sales", LedgerType::Income, Some("4000")),
    ("4200", "Service Revenue", LedgerType::Income, Some("4000")),
    ("4300", "Other Income", LedgerType::Income, Some("4000")),
    ("5000", "Expenses", LedgerType::Expense, None),
    (
        "5100",
        "Cost of Goods Sold",
        LedgerType::Expense,
        Some("5000"),
    ),
    ("5200", "Rent", LedgerType::Expense, Some("5000")),
    ("5300", "Salaries", LedgerType::Expense, Some("5000")),
    ("5400", "Utilities", LedgerType::Expense, Some("5000")),
    ("5500", "Office Supplies", LedgerType::Expense, Some("5000")),
    ("5600", "Bank Charges", LedgerType::Expense, Some("5000")),
];

#[cfg(test)]
mod tests {
    use super::DEFAULT_CHART;
    use std::collections::HashMap;

    #[test]
    fn codes_are_unique_and_parents_come_first_with_the_same_type() {
        let mut seen = HashMap::new();
        for &(code, name, ledger_type, parent) in DEFAULT_CHART {
            assert!(!name.is_empty(), "{code} has no name");
            if let Some(parent) = parent {
                let parent_type = seen
                    .get(parent)
                    .unwrap_or_else(|| panic!("{code}'s parent {parent} is not listed before it"));
                assert_eq!(*parent_type, ledger_type, "{code} differs from its parent");
            }
            assert!(seen.insert(code, ledger_type).is_none(), "{code} twice");
        }
    }
}
