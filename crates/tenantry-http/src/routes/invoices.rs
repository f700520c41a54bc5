//! Invoices. The total is computed here from the lines (quantity × unit price, integers in
//! minor units) and stored with them in one transaction; a client never sends it. Unit prices,
//! line amounts and the total are each at most [`MAX_AMOUNT`](input::MAX_AMOUNT).

mod model;

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QueryOrder, Set, SqlErr};
use tenantry_app::UserRole;
use tenantry_app::entity::{invoice, invoice_line};
use utoipa::OpenApi;

use self::model::{InvoiceView, LineView, NewInvoice};
use super::begin_write;
use super::input;
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
        web::resource("/invoices")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(web::resource("/invoices/{id}").route(web::get().to(show)));
}

const MAX_LINES: usize = 200;
const MAX_NUMBER: usize = 64;
const MAX_CUSTOMER: usize = 200;
const MAX_DESCRIPTION: usize = 500;
/// Numbers given when the client sends none: `INV-` and the id. Clients may not use that
/// shape, so a given number can never collide with a later generated one.
const AUTO_PREFIX: &str = "INV-";
/// Most units on one line: generous for any real invoice, and keeps quantity × unit price
/// within `i128` before it is checked against `MAX_AMOUNT`.
const MAX_QUANTITY: i64 = 1_000_000_000;

async fn lines_of(
    db: &impl ConnectionTrait,
    invoices: &[i64],
) -> Result<HashMap<i64, Vec<LineView>>, ApiError> {
    lines_by_document::<invoice_line::Entity, _>(
        db,
        invoice_line::Column::InvoiceId,
        invoice_line::Column::Id,
        invoices,
        |l| l.invoice_id,
    )
    .await
}

/// Newest first (by date, then by creation), each with its lines.
#[utoipa::path(
    get,
    path = "/api/v1/invoices",
    tag = "invoices",
    operation_id = "list_invoices",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of invoices.", body = Paginated<InvoiceView>),
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
    let select = invoice::Entity::find()
        .order_by_desc(invoice::Column::Date)
        .order_by_desc(invoice::Column::Id);
    let (rows, total) = page.fetch(&*db, select).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut lines = lines_of(&*db, &ids).await?;
    let data = rows
        .into_iter()
        .map(|r| {
            let own = lines.remove(&r.id).unwrap_or_default();
            InvoiceView::new(r, own)
        })
        .collect();
    Ok(HttpResponse::Ok().json(Paginated::new(data, page, total)))
}

#[utoipa::path(
    get,
    path = "/api/v1/invoices/{id}",
    tag = "invoices",
    operation_id = "get_invoice",
    params(("id" = i64, Path, description = "The invoice's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The invoice.", body = InvoiceView),
        TenantErrors,
    )
)]
async fn show(_user: AuthUser, db: TenantDb, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let found = invoice::Entity::find_by_id(id.into_inner())
        .one(&*db)
        .await?
        .ok_or(ApiError::NotFound)?;
    let lines = lines_of(&*db, &[found.id])
        .await?
        .remove(&found.id)
        .unwrap_or_default();
    Ok(HttpResponse::Ok().json(InvoiceView::new(found, lines)))
}

struct Draft {
    number: Option<String>,
    customer_name: String,
    date: NaiveDate,
    due_date: NaiveDate,
    lines: Vec<invoice_line::ActiveModel>,
    total: i64,
}

fn is_auto_number(number: &str) -> bool {
    number
        .get(..AUTO_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(AUTO_PREFIX))
        && number[AUTO_PREFIX.len()..]
            .chars()
            .all(|c| c.is_ascii_digit())
}

impl NewInvoice {
    fn check(self) -> Result<Draft, ApiError> {
        let mut errors = Vec::new();
        let number = self.number.map(|n| {
            let n = input::text(&mut errors, "number", Some(&n), MAX_NUMBER);
            if is_auto_number(&n) {
                errors.push(FieldError {
                    field: "number".into(),
                    message: format!(
                        "numbers of the form {AUTO_PREFIX}<digits> are given automatically; \
                         leave the number out or choose another"
                    ),
                });
            }
            n
        });
        let customer_name = input::text(
            &mut errors,
            "customer_name",
            self.customer_name.as_deref(),
            MAX_CUSTOMER,
        );
        let date = input::day(&mut errors, "date", self.date.as_deref());
        let due_date = match self.due_date.as_deref() {
            None => date,
            Some(raw) => input::day(&mut errors, "due_date", Some(raw)),
        };
        if let (Some(date), Some(due)) = (date, due_date)
            && due < date
        {
            errors.push(FieldError {
                field: "due_date".into(),
                message: format!("must not be before the invoice date {date}"),
            });
        }
        let raw_lines = self.lines.unwrap_or_default();
        let mut lines = Vec::with_capacity(raw_lines.len());
        let mut total = 0i128;
        if !(1..=MAX_LINES).contains(&raw_lines.len()) {
            errors.push(FieldError {
                field: "lines".into(),
                message: format!(
                    "an invoice needs 1 to {MAX_LINES} lines, not {}",
                    raw_lines.len()
                ),
            });
        } else {
            let line_errors_before = errors.len();
            for (i, line) in raw_lines.into_iter().enumerate() {
                let description = input::text(
                    &mut errors,
                    line_field(i, "description"),
                    line.description.as_deref(),
                    MAX_DESCRIPTION,
                );
                let quantity = match input::integer(
                    &mut errors,
                    line_field(i, "quantity"),
                    line.quantity.as_ref(),
                    1,
                    None,
                    "a whole number of at least 1",
                ) {
                    Some(q) if q > MAX_QUANTITY => {
                        errors.push(FieldError::new(
                            line_field(i, "quantity"),
                            format!("must be at most {MAX_QUANTITY}"),
                        ));
                        None
                    }
                    q => q,
                };
                let unit_price = input::amount(
                    &mut errors,
                    line_field(i, "unit_price"),
                    line.unit_price.as_ref(),
                    None,
                    "a whole, non-negative number of minor units (cents), e.g. 1250 for 12.50",
                );
                if line.ledger_id.is_some_and(|v| !v.is_null()) {
                    errors.push(FieldError {
                        field: line_field(i, "ledger_id"),
                        message: "invoice lines are not linked to ledgers; leave it out".into(),
                    });
                }
                if let (Some(quantity), Some(unit_price)) = (quantity, unit_price) {
                    let amount = i128::from(quantity) * i128::from(unit_price);
                    if amount > i128::from(input::MAX_AMOUNT) {
                        errors.push(FieldError::new(
                            line_field(i, ""),
                            format!(
                                "quantity × unit_price = {amount} minor units is over the limit \
                                 of {} for one line",
                                input::amount_limit()
                            ),
                        ));
                    }
                    total += amount;
                    lines.push(invoice_line::ActiveModel {
                        description: Set(description),
                        quantity: Set(quantity),
                        unit_price: Set(unit_price),
                        ..Default::default()
                    });
                }
            }
            // Only meaningful when every line was read and within its own limit.
            if errors.len() == line_errors_before && total > i128::from(input::MAX_AMOUNT) {
                errors.push(FieldError {
                    field: "lines".into(),
                    message: format!(
                        "the total {total} minor units is over the limit of {} for one invoice",
                        input::amount_limit()
                    ),
                });
            }
        }
        // Within MAX_AMOUNT whenever there is no error.
        let total = i64::try_from(total).ok().filter(|_| errors.is_empty());
        match (date, due_date, total) {
            (Some(date), Some(due_date), Some(total)) => Ok(Draft {
                number,
                customer_name,
                date,
                due_date,
                lines,
                total,
            }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/invoices",
    tag = "invoices",
    operation_id = "create_invoice",
    description = "Admins and accountants only. 409 when the number is taken.",
    request_body = NewInvoice,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new invoice.", body = InvoiceView,
            links(
                ("get" = (operation_id = "get_invoice", parameters(("id" = "$response.body#/id")))),
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
    body: JsonObject<NewInvoice>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[UserRole::Admin, UserRole::Accountant])?;
    let draft = body.into_inner().check()?;
    let given = draft.number.clone();
    let txn = begin_write(&*db).await?;
    let inserted = invoice::ActiveModel {
        // A generated number needs the id: a unique placeholder first, replaced below in the
        // same transaction.
        number: Set(draft
            .number
            .unwrap_or_else(|| format!("pending-{}", uuid::Uuid::new_v4()))),
        customer_name: Set(draft.customer_name),
        date: Set(draft.date),
        due_date: Set(draft.due_date),
        total: Set(draft.total),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| match (e.sql_err(), &given) {
        (Some(SqlErr::UniqueConstraintViolation(_)), Some(number)) => {
            ApiError::Conflict(format!("an invoice numbered {number:?} already exists"))
        }
        _ => e.into(),
    })?;
    let created = if given.is_none() {
        let mut numbered: invoice::ActiveModel = inserted.into();
        numbered.number = Set(format!("{AUTO_PREFIX}{:06}", numbered.id.as_ref()));
        numbered.update(&txn).await?
    } else {
        inserted
    };
    let rows = draft.lines.into_iter().map(|mut l| {
        l.invoice_id = Set(created.id);
        l
    });
    invoice_line::Entity::insert_many(rows)
        .exec_without_returning(&txn)
        .await?;
    let lines = lines_of(&txn, &[created.id])
        .await?
        .remove(&created.id)
        .unwrap_or_default();
    txn.commit().await?;
    Ok(HttpResponse::Created().json(InvoiceView::new(created, lines)))
}
