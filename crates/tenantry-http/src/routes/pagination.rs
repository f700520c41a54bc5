use sea_orm::sea_query::{Expr, SelectStatement};
use sea_orm::{
    ConnectionTrait, DbErr, EntityTrait, FromQueryResult, PaginatorTrait, QueryResult, QuerySelect,
    QueryTrait, Select,
};
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

    /// This page of `select` (ordered by the caller), and how many rows there are in all, in
    /// one statement: the count is a scalar subquery over the same rows (computed once, an
    /// index-only scan where it can be), so the page still stops at its limit. Only a page past
    /// the end, which has no row to carry the count, costs a second statement.
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
        let count = SelectStatement::new()
            .expr(Expr::cust("COUNT(*)"))
            .from_subquery(
                select.as_query().clone().clear_order_by().to_owned(),
                "counted",
            )
            .to_owned();
        let rows = select
            .clone()
            .expr_as(Expr::from(count), TOTAL)
            .offset(self.offset())
            .limit(self.limit)
            .into_model::<Counted<E::Model>>()
            .all(db)
            .await?;
        let total = match rows.first() {
            Some(row) => u64::try_from(row.total).unwrap_or_default(),
            None if self.page == 1 => 0,
            None => select.count(db).await?,
        };
        Ok((rows.into_iter().map(|row| row.model).collect(), total))
    }
}

/// The alias of the count column a page's rows carry.
const TOTAL: &str = "tenantry_total";

/// A row of a page and the count of all rows the page is cut from.
struct Counted<M> {
    model: M,
    total: i64,
}

impl<M: FromQueryResult> FromQueryResult for Counted<M> {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            model: M::from_query_result(res, pre)?,
            total: res.try_get(pre, TOTAL)?,
        })
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
