use actix_web::{HttpResponse, web};
mod model;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, SqlErr,
};
use tenantry_app::entity::{ledger, voucher_line};
use tenantry_app::{LedgerType, UserRole};
use utoipa::OpenApi;

pub use self::model::LedgerTypeDoc;
use self::model::{LedgerPatch, LedgerView, NewLedger};
use super::begin_write;
use super::json::JsonObject;
use super::pagination::{FixedList, Page, PageQuery, Paginated};
use crate::auth::AuthUser;
use crate::error::{ApiError, FieldError};
use crate::openapi::{Conflict, InvalidInput, JsonBodyErrors, TenantErrors};
use crate::tenant::TenantDb;

#[derive(OpenApi)]
#[openapi(paths(list, create, show, update, remove))]
pub struct Api;

pub fn router(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/ledgers")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/ledgers/{id}")
            .route(web::get().to(show))
            .route(web::patch().to(update))
            .route(web::delete().to(remove)),
    );
}

/// Deeper than any real chart: a longer parent chain is refused as if it were a cycle.
const MAX_DEPTH: usize = 64;

fn invalid(field: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Validation(vec![FieldError {
        field: field.into(),
        message: message.into(),
    }])
}

/// Every ledger, in code order: the hot read, its statement built once.
static LEDGERS: FixedList<ledger::Entity> =
    FixedList::new(|| ledger::Entity::find().order_by_asc(ledger::Column::Code));

/// Every ledger, in code order.
#[utoipa::path(
    get,
    path = "/api/v1/ledgers",
    tag = "ledgers",
    operation_id = "list_ledgers",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of ledgers.", body = Paginated<LedgerView>),
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
    let (rows, total) = page.fetch_fixed(&*db, &LEDGERS).await?;
    let data = rows.into_iter().map(LedgerView::from).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(data, page, total)))
}

#[utoipa::path(
    get,
    path = "/api/v1/ledgers/{id}",
    tag = "ledgers",
    operation_id = "get_ledger",
    params(("id" = i64, Path, description = "The ledger's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The ledger.", body = LedgerView),
        TenantErrors,
    )
)]
async fn show(_user: AuthUser, db: TenantDb, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let found = ledger::Entity::find_by_id(id.into_inner())
        .one(&*db)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(LedgerView::from(found)))
}

const MAX_CODE: usize = 32;
const MAX_NAME: usize = 200;

fn checked_name(name: &str) -> Result<String, FieldError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(FieldError {
            field: "name".into(),
            message: format!("must be 1 to {MAX_NAME} characters"),
        });
    }
    Ok(name.to_owned())
}

impl NewLedger {
    fn validate(self) -> Result<ledger::ActiveModel, ApiError> {
        let mut errors = Vec::new();
        let code = self.code.trim();
        if code.is_empty() || code.chars().count() > MAX_CODE {
            errors.push(FieldError {
                field: "code".into(),
                message: format!("must be 1 to {MAX_CODE} characters"),
            });
        }
        let name = checked_name(&self.name).map_err(|e| errors.push(e));
        let ledger_type = serde_json::from_value::<LedgerType>(self.ledger_type.into());
        if ledger_type.is_err() {
            errors.push(FieldError {
                field: "type".into(),
                message: "must be one of asset, liability, equity, income, expense".into(),
            });
        }
        match (ledger_type, name) {
            (Ok(ledger_type), Ok(name)) if errors.is_empty() => Ok(ledger::ActiveModel {
                code: Set(code.to_owned()),
                name: Set(name),
                ledger_type: Set(ledger_type),
                parent_id: Set(self.parent_id),
                ..Default::default()
            }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

/// A child has its parent's type (as in the seeded chart), so totals roll up within one type.
async fn check_parent(
    db: &impl ConnectionTrait,
    parent_id: i64,
    child_type: LedgerType,
) -> Result<(), ApiError> {
    let parent = ledger::Entity::find_by_id(parent_id)
        .one(db)
        .await?
        .ok_or_else(|| invalid("parent_id", "no such ledger"))?;
    if parent.ledger_type != child_type {
        return Err(invalid(
            "parent_id",
            format!(
                "must be a ledger of the same type ({}); {} is {}",
                child_type.as_str(),
                parent.code,
                parent.ledger_type.as_str()
            ),
        ));
    }
    Ok(())
}

#[utoipa::path(
    post,
    path = "/api/v1/ledgers",
    tag = "ledgers",
    operation_id = "create_ledger",
    description = "Admins and accountants only. 409 when the code is taken.",
    request_body = NewLedger,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new ledger.", body = LedgerView,
            links(
                ("get" = (operation_id = "get_ledger", parameters(("id" = "$response.body#/id")))),
                ("update" = (operation_id = "update_ledger", parameters(("id" = "$response.body#/id")))),
                ("delete" = (operation_id = "delete_ledger", parameters(("id" = "$response.body#/id")))),
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
    body: JsonObject<NewLedger>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[UserRole::Admin, UserRole::Accountant])?;
    let code = body.code.trim().to_owned();
    let row = body.into_inner().validate()?;
    if let (Set(Some(parent)), Set(ledger_type)) = (&row.parent_id, &row.ledger_type) {
        check_parent(&*db, *parent, *ledger_type).await?;
    }
    let created = row.insert(&*db).await.map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            ApiError::Conflict(format!("a ledger with code {code:?} already exists"))
        }
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => invalid("parent_id", "no such ledger"),
        _ => e.into(),
    })?;
    Ok(HttpResponse::Created().json(LedgerView::from(created)))
}

#[utoipa::path(
    patch,
    path = "/api/v1/ledgers/{id}",
    tag = "ledgers",
    operation_id = "update_ledger",
    description = "Admins and accountants only.",
    params(("id" = i64, Path, description = "The ledger's id.")),
    request_body = LedgerPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The ledger as changed.", body = LedgerView),
        TenantErrors,
        JsonBodyErrors,
    )
)]
async fn update(
    user: AuthUser,
    db: TenantDb,
    id: web::Path<i64>,
    body: JsonObject<LedgerPatch>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[UserRole::Admin, UserRole::Accountant])?;
    let id = id.into_inner();
    let LedgerPatch { name, parent_id } = body.into_inner();
    let name = name
        .as_deref()
        .map(checked_name)
        .transpose()
        .map_err(|e| ApiError::Validation(vec![e]))?;
    let txn = begin_write(&*db).await?;
    let current = ledger::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound)?;
    if let Some(Some(parent)) = parent_id {
        check_parent(&txn, parent, current.ledger_type).await?;
        // Walk up from the new parent: meeting this ledger means it would become its own
        // ancestor.
        let mut cursor = Some(parent);
        let mut depth = 0;
        while let Some(ancestor) = cursor {
            if ancestor == id || depth > MAX_DEPTH {
                return Err(invalid(
                    "parent_id",
                    "would make the ledger its own ancestor",
                ));
            }
            cursor = ledger::Entity::find_by_id(ancestor)
                .one(&txn)
                .await?
                .and_then(|l| l.parent_id);
            depth += 1;
        }
    }
    let mut row: ledger::ActiveModel = current.into();
    if let Some(name) = name {
        row.name = Set(name);
    }
    if let Some(parent_id) = parent_id {
        row.parent_id = Set(parent_id);
    }
    let updated = row.update(&txn).await.map_err(|e| match e.sql_err() {
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => invalid("parent_id", "no such ledger"),
        _ => e.into(),
    })?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(LedgerView::from(updated)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/ledgers/{id}",
    tag = "ledgers",
    operation_id = "delete_ledger",
    description = "Admins and accountants only. Only a ledger nothing is posted to and that has \
                   no sub-ledgers can be deleted (else 409).",
    params(("id" = i64, Path, description = "The ledger's id.")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted."),
        Conflict,
        TenantErrors,
    )
)]
async fn remove(
    user: AuthUser,
    db: TenantDb,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[UserRole::Admin, UserRole::Accountant])?;
    let id = id.into_inner();
    let txn = begin_write(&*db).await?;
    let found = ledger::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound)?;
    let postings = voucher_line::Entity::find()
        .filter(voucher_line::Column::LedgerId.eq(id))
        .count(&txn)
        .await?;
    if postings > 0 {
        return Err(ApiError::Conflict(format!(
            "ledger {} has {postings} voucher line(s) posted to it and cannot be deleted",
            found.code
        )));
    }
    let children = ledger::Entity::find()
        .filter(ledger::Column::ParentId.eq(id))
        .count(&txn)
        .await?;
    if children > 0 {
        return Err(ApiError::Conflict(format!(
            "ledger {} has {children} sub-ledger(s); delete or move them first",
            found.code
        )));
    }
    ledger::Entity::delete_by_id(id)
        .exec(&txn)
        .await
        .map_err(|e| match e.sql_err() {
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => ApiError::Conflict(format!(
                "ledger {} is still referenced and cannot be deleted",
                found.code
            )),
            _ => e.into(),
        })?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
