//! What the invoices API sends and receives.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tenantry_app::entity::{invoice, invoice_line};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = InvoiceLine)]
pub(super) struct LineView {
    pub(super) description: String,
    pub(super) quantity: i64,
    pub(super) unit_price: i64,
    /// `quantity * unit_price`.
    pub(super) amount: i64,
}

impl From<invoice_line::Model> for LineView {
    fn from(l: invoice_line::Model) -> Self {
        Self {
            amount: l.quantity.saturating_mul(l.unit_price),
            description: l.description,
            quantity: l.quantity,
            unit_price: l.unit_price,
        }
    }
}

/// An invoice with its lines; amounts in minor units.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Invoice)]
pub(super) struct InvoiceView {
    pub(super) id: i64,
    pub(super) number: String,
    pub(super) customer_name: String,
    pub(super) date: NaiveDate,
    pub(super) due_date: NaiveDate,
    pub(super) total: i64,
    pub(super) lines: Vec<LineView>,
}

impl InvoiceView {
    pub(super) fn new(i: invoice::Model, lines: Vec<LineView>) -> Self {
        Self {
            id: i.id,
            number: i.number,
            customer_name: i.customer_name,
            date: i.date,
            due_date: i.due_date,
            total: i.total,
            lines,
        }
    }
}

/// An invoice to create: 1 to 200 lines; the server computes the amounts and the total.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvoice {
    /// Unique in the tenant; generated (`INV-000042`) when absent or `null`. `INV-<digits>` is
    /// reserved for generated numbers.
    #[schema(min_length = 1, max_length = 64, pattern = r"\S")]
    pub(super) number: Option<String>,
    /// Trimmed; not blank. `customer` is accepted as another name for it.
    #[serde(alias = "customer")]
    #[schema(required = true, value_type = String, min_length = 1, max_length = 200, pattern = r"\S")]
    pub(super) customer_name: Option<String>,
    /// `YYYY-MM-DD`.
    #[schema(required = true, value_type = String, format = Date)]
    pub(super) date: Option<String>,
    /// `YYYY-MM-DD`, not before `date`; defaults to `date` (due on receipt).
    #[schema(value_type = Option<String>, format = Date)]
    pub(super) due_date: Option<String>,
    #[schema(required = true, value_type = Vec<NewLine>, min_items = 1, max_items = 200)]
    #[serde(default, deserialize_with = "crate::routes::json::objects")]
    pub(super) lines: Option<Vec<NewLine>>,
}

/// `quantity × unit_price` is at most 10^15 minor units.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewInvoiceLine)]
pub struct NewLine {
    /// Trimmed; not blank.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 500, pattern = r"\S")]
    pub(super) description: Option<String>,
    #[schema(required = true, value_type = i64, minimum = 1, maximum = 1_000_000_000_i64)]
    pub(super) quantity: Option<Value>,
    /// Minor units.
    #[schema(required = true, value_type = i64, minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub(super) unit_price: Option<Value>,
    /// Accepted only to be refused clearly: invoice lines are not linked to ledgers in this
    /// schema, and silently dropping the link would mislead the client.
    #[schema(ignore)]
    pub(super) ledger_id: Option<Value>,
}
