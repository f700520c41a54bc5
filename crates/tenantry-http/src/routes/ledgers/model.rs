//! What the ledgers API sends and receives.

use serde::{Deserialize, Deserializer, Serialize};
use tenantry_app::LedgerType;
use tenantry_app::entity::ledger;
use utoipa::ToSchema;

/// What a ledger is: totals roll up within one type.
#[derive(ToSchema)]
#[schema(as = LedgerType)]
#[allow(dead_code)] // only described
#[serde(rename_all = "lowercase")]
pub enum LedgerTypeDoc {
    Asset,
    Liability,
    Equity,
    Income,
    Expense,
}

/// A ledger (account) of the chart.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Ledger)]
pub struct LedgerView {
    pub(super) id: i64,
    /// Unique in the tenant.
    pub(super) code: String,
    pub(super) name: String,
    #[serde(rename = "type")]
    #[schema(value_type = LedgerTypeDoc)]
    pub(super) ledger_type: LedgerType,
    /// The parent ledger (of the same type), if any.
    pub(super) parent_id: Option<i64>,
}

impl From<ledger::Model> for LedgerView {
    fn from(m: ledger::Model) -> Self {
        Self {
            id: m.id,
            code: m.code,
            name: m.name,
            ledger_type: m.ledger_type,
            parent_id: m.parent_id,
        }
    }
}

/// A new ledger. Text is trimmed; it must not be blank.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewLedger {
    /// Unique in the tenant.
    #[schema(min_length = 1, max_length = 32, pattern = r"\S")]
    pub(super) code: String,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub(super) name: String,
    #[serde(rename = "type")]
    #[schema(value_type = LedgerTypeDoc)]
    pub(super) ledger_type: String,
    /// An existing ledger of the same type.
    pub(super) parent_id: Option<i64>,
}

/// Only the name and the place in the chart change; the code and type are what postings and
/// reports are read by.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LedgerPatch {
    /// Absent or `null`: unchanged.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub(super) name: Option<String>,
    /// Absent: unchanged; `null`: becomes a top-level ledger.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub(super) parent_id: Option<Option<i64>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`, via `default`).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}
