//! The whole HTTP surface in one place.

mod account;
mod health;
mod invoices;
pub(crate) mod json;
mod ledgers;
pub mod pagination;
mod reports;
mod spec;
mod users;
mod vouchers;

use actix_web::middleware::from_fn;
use actix_web::web::{self, ServiceConfig};
use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};

use crate::error::ApiError;
use crate::tenant;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .configure(spec::configure)
        .configure(crate::admin::configure)
        .service(
            web::scope("/api/v1")
                .wrap(from_fn(tenant::require_tenant))
                .service(web::resource("/auth/login").route(web::post().to(crate::auth::login)))
                .configure(ledgers::router)
                .configure(users::router)
                .configure(vouchers::router)
                .configure(invoices::router)
                .configure(reports::router)
                .configure(account::router)
                .default_service(web::to(not_found)),
        );
}

pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// A write transaction. On SQLite it takes the write lock at `BEGIN`, so a transaction that
/// reads before it writes waits for other writers (busy timeout) instead of failing to upgrade
/// its lock; PostgreSQL ignores the option.
pub(crate) async fn begin_write<C: TransactionTrait>(db: &C) -> Result<C::Transaction, ApiError> {
    Ok(db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?)
}

/// The lines of documents (vouchers, invoices), grouped by document, in the order they were
/// written: one query for a whole page of documents.
pub(crate) async fn lines_by_document<L, V>(
    db: &impl sea_orm::ConnectionTrait,
    document_column: L::Column,
    id_column: L::Column,
    documents: &[i64],
    document_of: impl Fn(&L::Model) -> i64,
) -> Result<std::collections::HashMap<i64, Vec<V>>, ApiError>
where
    L: sea_orm::EntityTrait,
    V: From<L::Model>,
{
    use sea_orm::{ColumnTrait as _, QueryFilter as _, QueryOrder as _};
    let rows = L::find()
        .filter(document_column.is_in(documents.iter().copied()))
        .order_by_asc(id_column)
        .all(db)
        .await?;
    let mut by_document: std::collections::HashMap<i64, Vec<V>> = Default::default();
    for row in rows {
        by_document
            .entry(document_of(&row))
            .or_default()
            .push(row.into());
    }
    Ok(by_document)
}

/// `lines[3]` (empty `name`) or `lines[3].debit`: the field name of a line's value.
pub(crate) fn line_field(index: usize, name: &str) -> std::borrow::Cow<'static, str> {
    if name.is_empty() {
        format!("lines[{index}]").into()
    } else {
        format!("lines[{index}].{name}").into()
    }
}

/// Reading request fields into domain values, collecting every problem as a [`FieldError`] so a
/// 422 names all of them at once.
///
/// [`FieldError`]: crate::error::FieldError
pub(crate) mod input {
    use std::borrow::Cow;

    use chrono::{Datelike as _, NaiveDate};
    use serde_json::Value;

    use crate::error::FieldError;

    /// Trimmed text of 1 to `max` characters.
    pub fn text(
        errors: &mut Vec<FieldError>,
        field: impl Into<Cow<'static, str>>,
        raw: Option<&str>,
        max: usize,
    ) -> String {
        let value = raw.unwrap_or_default().trim();
        if value.is_empty() || value.chars().count() > max {
            let message = if raw.is_none() {
                "is required".to_owned()
            } else {
                format!("must be 1 to {max} characters")
            };
            errors.push(FieldError::new(field, message));
        }
        value.to_owned()
    }

    /// A calendar day written `YYYY-MM-DD` (years 0001 to 9999, which both dialects store).
    pub fn day(
        errors: &mut Vec<FieldError>,
        field: impl Into<Cow<'static, str>>,
        raw: Option<&str>,
    ) -> Option<NaiveDate> {
        let Some(raw) = raw else {
            errors.push(FieldError {
                field: field.into(),
                message: "is required (YYYY-MM-DD)".into(),
            });
            return None;
        };
        let parsed = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .ok()
            .filter(|d| (1..=9999).contains(&d.year()) && d.format("%Y-%m-%d").to_string() == raw);
        if parsed.is_none() {
            errors.push(FieldError {
                field: field.into(),
                message: "must be a calendar day written YYYY-MM-DD".into(),
            });
        }
        parsed
    }

    /// A JSON integer (not a float, not a string) in `min..`; `None` (absent or null) gives
    /// `default`, or an error when there is none.
    pub fn integer(
        errors: &mut Vec<FieldError>,
        field: impl Into<Cow<'static, str>>,
        raw: Option<&Value>,
        min: i64,
        default: Option<i64>,
        what: &str,
    ) -> Option<i64> {
        let value = match raw {
            None | Some(Value::Null) => default,
            Some(v) => v.as_i64().filter(|n| *n >= min),
        };
        if value.is_none() {
            let message = if raw.is_none_or(Value::is_null) {
                format!("is required: {what}")
            } else {
                format!("must be {what}")
            };
            errors.push(FieldError::new(field, message));
        }
        value
    }

    /// The largest amount, in minor units, of any one debit, credit, unit price, invoice line
    /// or document total: 10^15 (ten trillion in a currency of cents). A sum of accepted amounts
    /// then stays far from `i64::MAX` within a document, and reports add them up in a way that
    /// is exact for any number of documents (see `reports`).
    pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

    /// `MAX_AMOUNT` as messages state it.
    pub fn amount_limit() -> String {
        format!("{MAX_AMOUNT} minor units ({})", minor_units(MAX_AMOUNT))
    }

    /// An amount in minor units: a JSON integer in `0..=MAX_AMOUNT` (`what` describes it);
    /// absent or null gives `default`, or an error when there is none.
    pub fn amount(
        errors: &mut Vec<FieldError>,
        field: impl Into<Cow<'static, str>>,
        raw: Option<&Value>,
        default: Option<i64>,
        what: &str,
    ) -> Option<i64> {
        let field = field.into();
        let value = integer(errors, field.clone(), raw, 0, default, what)?;
        if value > MAX_AMOUNT {
            errors.push(FieldError::new(
                field,
                format!("must be at most {}", amount_limit()),
            ));
            return None;
        }
        Some(value)
    }

    /// Minor units (cents) shown as a decimal amount for messages: `-1234` → `-12.34`.
    pub fn minor_units(amount: i64) -> String {
        let sign = if amount < 0 { "-" } else { "" };
        let abs = amount.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}
