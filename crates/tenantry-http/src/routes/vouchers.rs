//! Vouchers: journal entries in double entry. Amounts are integers in minor units (cents), as
//! the schema stores them; a JSON float or string is refused rather than rounded.
//!
//! A voucher is posted whole or not at all: it is checked first (at least two lines, each
//! exactly one of debit and credit positive, amounts and total at most
//! [`MAX_AMOUNT`](input::MAX_AMOUNT), known ledgers, debits = credits), then the voucher and its
//! lines are written in one transaction.

mod model;

use std::collections::{BTreeSet, HashMap};

use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, SqlErr,
};
use tenantry_app::UserRole;
use tenantry_app::entity::{ledger, voucher, voucher_line};
use utoipa::OpenApi;

use self::model::{LineView, NewVoucher, VoucherView};
use super::begin_write;
use super::input::{self, minor_units};
use super::json::JsonObject;
use super::pagination::{Page, PageQuery, Paginated};
use super::{line_field, lines_by_document};
use crate::auth::AuthUser;
use crate::error::{ApiError, FieldError};
use crate::openapi::{Conflict, InvalidInput, JsonBodyErrors, TenantErrors};
use crate::tenant::TenantDb;

#[derive(OpenApi)]
#[openapi(paths(list, create, show))]
pub struct Api;

pub fn router(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/vouchers")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(web::resource("/vouchers/{id}").route(web::get().to(show)));
}

const MIN_LINES: usize = 2;
const MAX_LINES: usize = 200;
const MAX_NARRATION: usize = 1000;
const AMOUNT: &str = "a whole, non-negative number of minor units (cents), e.g. 1250 for 12.50";

/// The lines of `vouchers`, in the order they were written.
async fn lines_of(
    db: &impl ConnectionTrait,
    vouchers: &[i64],
) -> Result<HashMap<i64, Vec<LineView>>, ApiError> {
    lines_by_document::<voucher_line::Entity, _>(
        db,
        voucher_line::Column::VoucherId,
        voucher_line::Column::Id,
        vouchers,
        |l| l.voucher_id,
    )
    .await
}

/// Newest first (by date, then by posting order), each with its lines.
#[utoipa::path(
    get,
    path = "/api/v1/vouchers",
    tag = "vouchers",
    operation_id = "list_vouchers",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of vouchers.", body = Paginated<VoucherView>),
        TenantErrors,
        InvalidInput,
    )
)]
async fn list(
    _user: AuthUser,
    db: TenantDb,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::try_from(&*query)?;
    let select = voucher::Entity::find()
        .order_by_desc(voucher::Column::Date)
        .order_by_desc(voucher::Column::Id);
    let (rows, total) = page.fetch(&*db, select).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut lines = lines_of(&*db, &ids).await?;
    let data = rows
        .into_iter()
        .map(|r| {
            let own = lines.remove(&r.id).unwrap_or_default();
            VoucherView::new(r, own)
        })
        .collect();
    Ok(HttpResponse::Ok().json(Paginated::new(data, page, total)))
}

#[utoipa::path(
    get,
    path = "/api/v1/vouchers/{id}",
    tag = "vouchers",
    operation_id = "get_voucher",
    params(("id" = i64, Path, description = "The voucher's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The voucher.", body = VoucherView),
        TenantErrors,
    )
)]
async fn show(_user: AuthUser, db: TenantDb, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let found = voucher::Entity::find_by_id(id.into_inner())
        .one(&*db)
        .await?
        .ok_or(ApiError::NotFound)?;
    let lines = lines_of(&*db, &[found.id])
        .await?
        .remove(&found.id)
        .unwrap_or_default();
    Ok(HttpResponse::Ok().json(VoucherView::new(found, lines)))
}

/// One checked line.
struct Posting {
    ledger_id: i64,
    debit: i64,
    credit: i64,
}

/// A voucher whose fields are well formed and whose lines balance; its ledgers are still to be
/// checked against the database.
struct Draft {
    date: NaiveDate,
    narration: String,
    lines: Vec<Posting>,
}

impl NewVoucher {
    /// Checks everything that needs no database. Every problem goes to `errors`; the ledger ids
    /// that could be read come back (line index, id) even then, so unknown ledgers are reported
    /// in the same answer.
    fn check(self, errors: &mut Vec<FieldError>) -> (Option<Draft>, Vec<(usize, i64)>) {
        let date = input::day(errors, "date", self.date.as_deref());
        let narration = self.narration.unwrap_or_default().trim().to_owned();
        if narration.chars().count() > MAX_NARRATION {
            errors.push(FieldError {
                field: "narration".into(),
                message: format!("must be at most {MAX_NARRATION} characters"),
            });
        }
        let raw_lines = self.lines.unwrap_or_default();
        if !(MIN_LINES..=MAX_LINES).contains(&raw_lines.len()) {
            errors.push(FieldError {
                field: "lines".into(),
                message: format!(
                    "a voucher needs {MIN_LINES} to {MAX_LINES} lines, not {}",
                    raw_lines.len()
                ),
            });
            return (None, Vec::new());
        }
        let mut lines = Vec::with_capacity(raw_lines.len());
        let mut refs = Vec::with_capacity(raw_lines.len());
        for (i, line) in raw_lines.into_iter().enumerate() {
            let ledger_id = input::integer(
                errors,
                line_field(i, "ledger_id"),
                line.ledger_id.as_ref(),
                1,
                None,
                "a ledger id",
            );
            let debit = input::amount(
                errors,
                line_field(i, "debit"),
                line.debit.as_ref(),
                Some(0),
                AMOUNT,
            );
            let credit = input::amount(
                errors,
                line_field(i, "credit"),
                line.credit.as_ref(),
                Some(0),
                AMOUNT,
            );
            if let Some(id) = ledger_id {
                refs.push((i, id));
            }
            if let (Some(debit), Some(credit)) = (debit, credit)
                && (debit > 0) == (credit > 0)
            {
                errors.push(FieldError {
                    field: line_field(i, ""),
                    message: "exactly one of debit and credit must be positive".into(),
                });
            }
            if let (Some(ledger_id), Some(debit), Some(credit)) = (ledger_id, debit, credit) {
                lines.push(Posting {
                    ledger_id,
                    debit,
                    credit,
                });
            }
        }
        if !errors.is_empty() {
            return (None, refs);
        }
        // At most MAX_LINES amounts of at most MAX_AMOUNT each: these sums cannot overflow.
        let debits: i64 = lines.iter().map(|l| l.debit).sum();
        let credits: i64 = lines.iter().map(|l| l.credit).sum();
        if debits != credits {
            errors.push(FieldError {
                field: "lines".into(),
                message: format!(
                    "debits {} ≠ credits {}: a voucher must balance",
                    minor_units(debits),
                    minor_units(credits)
                ),
            });
        } else if debits > input::MAX_AMOUNT {
            errors.push(FieldError {
                field: "lines".into(),
                message: format!(
                    "the total {} is over the limit of {} for one voucher",
                    minor_units(debits),
                    input::amount_limit()
                ),
            });
        }
        let draft = date.filter(|_| errors.is_empty()).map(|date| Draft {
            date,
            narration,
            lines,
        });
        (draft, refs)
    }
}

/// Adds a `lines[i].ledger_id` error for each line naming a ledger this tenant does not have.
async fn check_ledgers(
    db: &impl ConnectionTrait,
    refs: &[(usize, i64)],
    errors: &mut Vec<FieldError>,
) -> Result<(), ApiError> {
    if refs.is_empty() {
        return Ok(());
    }
    let wanted: BTreeSet<i64> = refs.iter().map(|&(_, id)| id).collect();
    let known: BTreeSet<i64> = ledger::Entity::find()
        .select_only()
        .column(ledger::Column::Id)
        .filter(ledger::Column::Id.is_in(wanted))
        .into_tuple::<i64>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    for &(i, id) in refs {
        if !known.contains(&id) {
            errors.push(FieldError {
                field: line_field(i, "ledger_id"),
                message: format!("no ledger has id {id}"),
            });
        }
    }
    Ok(())
}

#[utoipa::path(
    post,
    path = "/api/v1/vouchers",
    tag = "vouchers",
    operation_id = "create_voucher",
    description = "Admins and accountants only. Posted whole or not at all. 409 when a ledger \
                   or the poster is removed while posting.",
    request_body = NewVoucher,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The posted voucher.", body = VoucherView,
            links(
                ("get" = (operation_id = "get_voucher", parameters(("id" = "$response.body#/id")))),
            )
        ),
        Conflict,
        TenantErrors,
        JsonBodyErrors,
    )
)]
async fn create(
    user: AuthUser,
    db: TenantDb,
    body: JsonObject<NewVoucher>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[UserRole::Admin, UserRole::Accountant])?;
    let mut errors = Vec::new();
    let (draft, refs) = body.into_inner().check(&mut errors);
    check_ledgers(&*db, &refs, &mut errors).await?;
    let Some(draft) = draft.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    // A ledger deleted between the check and the insert, or the poster's own user deleted
    // meanwhile, fails a foreign key: the transaction is rolled back and nothing is written.
    let raced = |e: sea_orm::DbErr| match e.sql_err() {
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => ApiError::Conflict(
            "a ledger of this voucher or your user was removed while posting; nothing was posted"
                .into(),
        ),
        _ => ApiError::from(e),
    };
    let txn = begin_write(&*db).await?;
    // The number is derived from the id, which only the insert gives: a unique placeholder
    // first, the real number in the same transaction.
    let inserted = voucher::ActiveModel {
        number: Set(format!("pending-{}", uuid::Uuid::new_v4())),
        date: Set(draft.date),
        narration: Set(draft.narration),
        posted_at: Set(Some(chrono::Utc::now())),
        created_by: Set(Some(user.user_id)),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(raced)?;
    let mut numbered: voucher::ActiveModel = inserted.into();
    numbered.number = Set(format!("JV-{:06}", numbered.id.as_ref()));
    let posted = numbered.update(&txn).await?;
    let rows = draft.lines.iter().map(|l| voucher_line::ActiveModel {
        voucher_id: Set(posted.id),
        ledger_id: Set(l.ledger_id),
        debit: Set(l.debit),
        credit: Set(l.credit),
        ..Default::default()
    });
    voucher_line::Entity::insert_many(rows)
        .exec_without_returning(&txn)
        .await
        .map_err(raced)?;
    txn.commit().await?;
    let lines = draft
        .lines
        .into_iter()
        .map(|l| LineView {
            ledger_id: l.ledger_id,
            debit: l.debit,
            credit: l.credit,
        })
        .collect();
    Ok(HttpResponse::Created().json(VoucherView::new(posted, lines)))
}
