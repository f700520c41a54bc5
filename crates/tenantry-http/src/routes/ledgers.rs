use actix_web::{HttpResponse, web};
use sea_orm::{
    ActiveModelTrait, EntityTrait, PaginatorTrait, QueryOrder, QuerySelect, Set, SqlErr,
};
use serde::{Deserialize, Serialize};
use tenantry_app::entity::ledger;
use tenantry_app::{LedgerType, UserRole};

use super::pagination::{Page, PageQuery, Paginated};
use crate::auth::AuthUser;
use crate::error::{ApiError, FieldError};
use crate::tenant::TenantDb;

pub fn router(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/ledgers")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    );
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
    let total = ledger::Entity::find().count(&*db).await?;
    let data = ledger::Entity::find()
        .order_by_asc(ledger::Column::Code)
        .offset(page.offset())
        .limit(page.limit)
        .all(&*db)
        .await?;
    Ok(HttpResponse::Ok().json(Paginated {
        data: data.into_iter().map(LedgerView::from).collect(),
        page: page.page,
        limit: page.limit,
        total,
    }))
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

impl NewLedger {
    fn validate(self) -> Result<ledger::ActiveModel, ApiError> {
        let mut errors = Vec::new();
        let code = self.code.trim();
        if code.is_empty() || code.chars().count() > MAX_CODE {
            errors.push(FieldError {
                field: "code",
                message: format!("must be 1 to {MAX_CODE} characters"),
            });
        }
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            errors.push(FieldError {
                field: "name",
                message: format!("must be 1 to {MAX_NAME} characters"),
            });
        }
        let ledger_type = serde_json::from_value::<LedgerType>(self.ledger_type.into());
        if ledger_type.is_err() {
            errors.push(FieldError {
                field: "type",
                message: "must be one of asset, liability, equity, income, expense".into(),
            });
        }
        match ledger_type {
            Ok(ledger_type) if errors.is_empty() => Ok(ledger::ActiveModel {
                code: Set(code.to_owned()),
                name: Set(name.to_owned()),
                ledger_type: Set(ledger_type),
                parent_id: Set(self.parent_id),
                ..Default::default()
            }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

async fn create(
    user: AuthUser,
    db: TenantDb,
    body: web::Json<NewLedger>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[UserRole::Admin, UserRole::Accountant])?;
    let code = body.code.trim().to_owned();
    let row = body.into_inner().validate()?;
    let created = row.insert(&*db).await.map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            ApiError::Conflict(format!("a ledger with code {code:?} already exists"))
        }
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => ApiError::Validation(vec![FieldError {
            field: "parent_id",
            message: "no such ledger".into(),
        }]),
        _ => e.into(),
    })?;
    Ok(HttpResponse::Created().json(LedgerView::from(created)))
}
