use actix_web::{HttpResponse, web};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, SqlErr,
};
use serde::{Deserialize, Deserializer, Serialize};
use tenantry_app::entity::{ledger, voucher_line};
use tenantry_app::{LedgerType, UserRole};

use super::begin_write;
use super::pagination::{Page, PageQuery, Paginated};
use crate::auth::AuthUser;
use crate::error::{ApiError, FieldError};
use crate::tenant::TenantDb;

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

#[derive(Debug, Serialize)]
pub struct LedgerView {
    id: i64,
    code: String,
    name: String,
    #[serde(rename = "type")]
    ledger_type: LedgerType,
    parent_id: Option<i64>,
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

async fn list(
    _user: AuthUser,
    db: TenantDb,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::try_from(&*query)?;
    let select = ledger::Entity::find().order_by_asc(ledger::Column::Code);
    let (rows, total) = page.fetch(&*db, select).await?;
    let data = rows.into_iter().map(LedgerView::from).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(data, page, total)))
}

async fn show(_user: AuthUser, db: TenantDb, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let found = ledger::Entity::find_by_id(id.into_inner())
        .one(&*db)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(LedgerView::from(found)))
}

#[derive(Debug, Deserialize)]
pub struct NewLedger {
    code: String,
    name: String,
    #[serde(rename = "type")]
    ledger_type: String,
    parent_id: Option<i64>,
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

async fn create(
    user: AuthUser,
    db: TenantDb,
    body: web::Json<NewLedger>,
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

/// `PATCH /ledgers/{id}`: only the name and the place in the chart change; the code and type
/// are what postings and reports are read by.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerPatch {
    name: Option<String>,
    /// Absent: unchanged; `null`: becomes a top-level ledger.
    #[serde(default, deserialize_with = "present")]
    parent_id: Option<Option<i64>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`, via `default`).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

async fn update(
    user: AuthUser,
    db: TenantDb,
    id: web::Path<i64>,
    body: web::Json<LedgerPatch>,
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
