use sea_orm::{ConnectionTrait, EntityTrait, FromQueryResult, PaginatorTrait, QuerySelect, Select};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use crate::error::{ApiError, FieldError};
pub use crate::openapi::Paginated;

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 100;

/// `?page&limit` as sent: strings, so a bad value is a 422 naming the field, not a bare 400.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The page to return, from 1.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1_000_000)]
    page: Option<String>,
    /// Items per page (default 50).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

impl PageQuery {
    pub fn new(page: Option<String>, limit: Option<String>) -> Self {
        Self { page, limit }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Page {
    pub page: u64,
    pub limit: u64,
}

impl Page {
    pub fn offset(self) -> u64 {
        (self.page - 1).saturating_mul(self.limit)
    }

    /// This page of `select` (ordered by the caller), and how many rows there are in all.
    pub async fn fetch<E, C>(
        self,
        db: &C,
        select: Select<E>,
    ) -> Result<(Vec<E::Model>, u64), ApiError>
    where
        E: EntityTrait,
        E::Model: FromQueryResult + Send + Sync,
        C: ConnectionTrait,
    {
        let total = select.clone().count(db).await?;
        let rows = select
            .offset(self.offset())
            .limit(self.limit)
            .all(db)
            .await?;
        Ok((rows, total))
    }
}

impl TryFrom<&PageQuery> for Page {
    type Error = ApiError;

    fn try_from(q: &PageQuery) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let mut field = |name: &'static str, raw: &Option<String>, default: u64, max: u64| {
            let Some(raw) = raw else { return default };
            match raw.parse::<u64>() {
                Ok(n) if (1..=max).contains(&n) => n,
                _ => {
                    errors.push(FieldError {
                        field: name.into(),
                        message: format!("must be an integer from 1 to {max}"),
                    });
                    default
                }
            }
        };
        let page = field("page", &q.page, 1, 1_000_000);
        let limit = field("limit", &q.limit, DEFAULT_LIMIT, MAX_LIMIT);
        if errors.is_empty() {
            Ok(Self { page, limit })
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

impl<T> Paginated<T> {
    pub fn new(data: Vec<T>, page: Page, total: u64) -> Self {
        Self {
            data,
            page: page.page,
            limit: page.limit,
            total,
        }
    }
}
