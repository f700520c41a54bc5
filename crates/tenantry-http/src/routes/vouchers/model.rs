//! What the vouchers API sends and receives.

use chrono::NaiveDate;
use sea_orm::prelude::DateTimeUtc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tenantry_app::entity::{voucher, voucher_line};
use utoipa::ToSchema;

/// One posting: exactly one of `debit` and `credit` is positive.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = VoucherLine)]
pub(super) struct LineView {
    pub(super) ledger_id: i64,
    pub(super) debit: i64,
    pub(super) credit: i64,
}

/// A posted voucher with its lines, in the order they were written.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Voucher)]
pub(super) struct VoucherView {
    pub(super) id: i64,
    /// `JV-000042`, given at posting.
    pub(super) number: String,
    pub(super) date: NaiveDate,
    pub(super) narration: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub(super) posted_at: Option<DateTimeUtc>,
    pub(super) created_by: Option<i64>,
    /// The sum of the debits (= the sum of the credits).
    pub(super) total: i64,
    pub(super) lines: Vec<LineView>,
}

impl VoucherView {
    pub(super) fn new(v: voucher::Model, lines: Vec<LineView>) -> Self {
        Self {
            id: v.id,
            number: v.number,
            date: v.date,
            narration: v.narration,
            posted_at: v.posted_at,
            created_by: v.created_by,
            total: lines.iter().map(|l| l.debit).sum(),
            lines,
        }
    }
}

impl From<voucher_line::Model> for LineView {
    fn from(l: voucher_line::Model) -> Self {
        Self {
            ledger_id: l.ledger_id,
            debit: l.debit,
            credit: l.credit,
        }
    }
}

/// A voucher to post: 2 to 200 lines whose debits equal their credits, on ledgers of this
/// tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVoucher {
    /// `YYYY-MM-DD`.
    #[schema(required = true, value_type = String, format = Date)]
    pub(super) date: Option<String>,
    /// Trimmed; may be empty.
    #[schema(max_length = 1000)]
    pub(super) narration: Option<String>,
    #[schema(required = true, value_type = Vec<NewLine>, min_items = 2, max_items = 200)]
    #[serde(default, deserialize_with = "crate::routes::json::objects")]
    pub(super) lines: Option<Vec<NewLine>>,
}

/// One line of a new voucher: a ledger and exactly one of a positive debit or credit.
// Raw JSON values, so that a wrong value is reported on its own field (`lines[2].debit`)
// instead of failing the whole body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewVoucherLine)]
pub struct NewLine {
    /// A ledger of this tenant.
    #[schema(required = true, value_type = i64, minimum = 1)]
    pub(super) ledger_id: Option<Value>,
    /// Minor units; absent or `null` is 0. Exactly one of `debit` and `credit` is positive.
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub(super) debit: Option<Value>,
    /// Minor units; absent or `null` is 0.
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub(super) credit: Option<Value>,
}
