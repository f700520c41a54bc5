//! Reports, computed by the database (one grouped query), so they cost one round trip however
//! many vouchers there are.

use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement};
use serde::{Deserialize, Serialize};
use tenantry_app::LedgerType;

use super::input;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::tenant::TenantDb;

pub fn router(cfg: &mut web::ServiceConfig) {
    cfg.route("/reports/trial-balance", web::get().to(trial_balance));
}

/// Every ledger with the sums of the posted voucher lines on it, in code order. Amounts are
/// minor units; `CAST` keeps PostgreSQL's `SUM(bigint)` (a numeric) an integer.
const TRIAL_BALANCE: &str = "
SELECT l.id, l.code, l.name, l.type AS ledger_type, l.parent_id,
       COALESCE(t.debit, 0) AS debit, COALESCE(t.credit, 0) AS credit
FROM ledgers l
LEFT JOIN (
    SELECT vl.ledger_id,
           CAST(SUM(vl.debit) AS BIGINT) AS debit,
           CAST(SUM(vl.credit) AS BIGINT) AS credit
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
    debit: i64,
    credit: i64,
}

#[derive(Debug, Serialize)]
struct LedgerBalance {
    id: i64,
    code: String,
    name: String,
    #[serde(rename = "type")]
    ledger_type: LedgerType,
    parent_id: Option<i64>,
    debit: i64,
    credit: i64,
    /// `debit - credit`: positive is a debit balance, negative a credit balance.
    balance: i64,
}

/// Wider than one ledger's sums: adding many BIGINT sums cannot overflow it.
#[derive(Debug, Serialize)]
struct Totals {
    debit: i128,
    credit: i128,
}

#[derive(Debug, Serialize)]
struct TrialBalance {
    /// The day the report is as of (inclusive), when asked for one.
    as_of: Option<NaiveDate>,
    ledgers: Vec<LedgerBalance>,
    /// Debits and credits over all ledgers: equal, since every voucher balances.
    totals: Totals,
}

#[derive(Debug, Deserialize)]
pub struct TrialBalanceQuery {
    /// `YYYY-MM-DD`: only vouchers dated on or before it.
    as_of: Option<String>,
}

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
        totals.debit += i128::from(r.debit);
        totals.credit += i128::from(r.credit);
        ledgers.push(LedgerBalance {
            // Both sums are non-negative, so their difference fits.
            balance: r.debit - r.credit,
            id: r.id,
            code: r.code,
            name: r.name,
            ledger_type: r.ledger_type,
            parent_id: r.parent_id,
            debit: r.debit,
            credit: r.credit,
        });
    }
    Ok(HttpResponse::Ok().json(TrialBalance {
        as_of,
        ledgers,
        totals,
    }))
}
