//! Reports, computed by the database (one grouped query), so they cost one round trip however
//! many vouchers there are.

use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement};
use serde::{Deserialize, Serialize};
use tenantry_app::LedgerType;
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::input;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::openapi::{InvalidInput, TenantErrors, big_integer};
use crate::tenant::TenantDb;

#[derive(OpenApi)]
#[openapi(paths(trial_balance))]
pub struct Api;

pub fn router(cfg: &mut web::ServiceConfig) {
    // A resource, so other methods are 405 with `Allow` (a bare route would be a 404).
    cfg.service(web::resource("/reports/trial-balance").route(web::get().to(trial_balance)));
}

/// Every ledger with the sums of the posted voucher lines on it, in code order. Amounts are
/// minor units.
///
/// A ledger's sum can outgrow a BIGINT (10^4 lines of `MAX_AMOUNT` already do), which SQLite
/// refuses ("integer overflow") and PostgreSQL cannot cast back. So each amount is split at 2^32
/// into a high and a low part, summed separately and put together as `i128` here: for amounts up
/// to `MAX_AMOUNT` the high parts are below 2^18 and the low ones below 2^32, so neither sum can
/// overflow before a ledger has 2^31 lines. Both dialects divide and take the remainder the same
/// way (truncating), and `CAST` keeps PostgreSQL's `SUM(bigint)` (a numeric) an integer.
const TRIAL_BALANCE: &str = "
SELECT l.id, l.code, l.name, l.type AS ledger_type, l.parent_id,
       COALESCE(t.debit_high, 0) AS debit_high, COALESCE(t.debit_low, 0) AS debit_low,
       COALESCE(t.credit_high, 0) AS credit_high, COALESCE(t.credit_low, 0) AS credit_low
FROM ledgers l
LEFT JOIN (
    SELECT vl.ledger_id,
           CAST(SUM(vl.debit / 4294967296) AS BIGINT) AS debit_high,
           CAST(SUM(vl.debit % 4294967296) AS BIGINT) AS debit_low,
           CAST(SUM(vl.credit / 4294967296) AS BIGINT) AS credit_high,
           CAST(SUM(vl.credit % 4294967296) AS BIGINT) AS credit_low
    FROM voucher_lines vl
    JOIN vouchers v ON v.id = vl.voucher_id
    WHERE v.posted_at IS NOT NULL {as_of}
    GROUP BY vl.ledger_id
) t ON t.ledger_id = l.id
ORDER BY l.code";

#[derive(Debug, FromQueryResult)]
struct Row {
    id: i64,
    code: String,
    name: String,
    ledger_type: LedgerType,
    parent_id: Option<i64>,
    debit_high: i64,
    debit_low: i64,
    credit_high: i64,
    credit_low: i64,
}

/// The split sums of [`TRIAL_BALANCE`] put back together.
fn joined(high: i64, low: i64) -> i128 {
    (i128::from(high) << 32) + i128::from(low)
}

#[derive(Debug, Serialize, ToSchema)]
struct LedgerBalance {
    id: i64,
    code: String,
    name: String,
    #[serde(rename = "type")]
    #[schema(value_type = super::ledgers::LedgerTypeDoc)]
    ledger_type: LedgerType,
    parent_id: Option<i64>,
    /// Sums as JSON integers, which may exceed 64 bits.
    #[schema(schema_with = big_integer)]
    debit: i128,
    #[schema(schema_with = big_integer)]
    credit: i128,
    /// `debit - credit`: positive is a debit balance, negative a credit balance.
    #[schema(schema_with = big_integer)]
    balance: i128,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TrialBalanceTotals)]
struct Totals {
    #[schema(schema_with = big_integer)]
    debit: i128,
    #[schema(schema_with = big_integer)]
    credit: i128,
}

/// Every ledger with the sums of the posted voucher lines on it, in code order; amounts in
/// minor units.
#[derive(Debug, Serialize, ToSchema)]
struct TrialBalance {
    /// The day the report is as of (inclusive), when asked for one.
    as_of: Option<NaiveDate>,
    ledgers: Vec<LedgerBalance>,
    /// Debits and credits over all ledgers: equal, since every voucher balances.
    totals: Totals,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrialBalanceQuery {
    /// `YYYY-MM-DD`: only vouchers dated on or before it.
    #[param(value_type = Option<String>, format = Date)]
    as_of: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/reports/trial-balance",
    tag = "reports",
    operation_id = "trial_balance",
    params(TrialBalanceQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The trial balance.", body = TrialBalance),
        TenantErrors,
        InvalidInput,
    )
)]
async fn trial_balance(
    _user: AuthUser,
    db: TenantDb,
    query: web::Query<TrialBalanceQuery>,
) -> Result<HttpResponse, ApiError> {
    let as_of = match query.as_of.as_deref() {
        None => None,
        Some(raw) => {
            let mut errors = Vec::new();
            let day = input::day(&mut errors, "as_of", Some(raw));
            Some(day.ok_or(ApiError::Validation(errors))?)
        }
    };
    let backend = db.get_database_backend();
    let statement = match as_of {
        None => Statement::from_string(backend, TRIAL_BALANCE.replace("{as_of}", "")),
        Some(day) => {
            let placeholder = match backend {
                DbBackend::Postgres => "$1",
                _ => "?",
            };
            Statement::from_sql_and_values(
                backend,
                TRIAL_BALANCE.replace("{as_of}", &format!("AND v.date <= {placeholder}")),
                [day.into()],
            )
        }
    };
    let rows = Row::find_by_statement(statement).all(&*db).await?;
    let mut totals = Totals {
        debit: 0,
        credit: 0,
    };
    let mut ledgers = Vec::with_capacity(rows.len());
    for r in rows {
        let (debit, credit) = (
            joined(r.debit_high, r.debit_low),
            joined(r.credit_high, r.credit_low),
        );
        totals.debit += debit;
        totals.credit += credit;
        ledgers.push(LedgerBalance {
            balance: debit - credit,
            id: r.id,
            code: r.code,
            name: r.name,
            ledger_type: r.ledger_type,
            parent_id: r.parent_id,
            debit,
            credit,
        });
    }
    Ok(HttpResponse::Ok().json(TrialBalance {
        as_of,
        ledgers,
        totals,
    }))
}
