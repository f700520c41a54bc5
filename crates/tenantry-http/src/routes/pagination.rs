use sea_orm::sea_query::{Expr, SelectStatement};
use std::sync::OnceLock;

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, PaginatorTrait, QueryResult,
    QuerySelect, QueryTrait, Select, Statement, Value,
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
        let rows = Self::counted(select.clone())
            .offset(self.offset())
            .limit(self.limit)
            .into_model::<Counted<E::Model>>()
            .all(db)
            .await?;
        self.total_of(rows, db, || select).await
    }

    /// `select` with a column holding the count of all its rows (a scalar subquery).
    fn counted<E: EntityTrait>(select: Select<E>) -> Select<E> {
        let count = SelectStatement::new()
            .expr(Expr::cust("COUNT(*)"))
            .from_subquery(
                select.as_query().clone().clear_order_by().to_owned(),
                "counted",
            )
            .to_owned();
        select.expr_as(Expr::from(count), TOTAL)
    }

    /// The page's models and the total its first row carries; a page past the end counts
    /// `select` on its own.
    async fn total_of<E, C>(
        self,
        rows: Vec<Counted<E::Model>>,
        db: &C,
        select: impl FnOnce() -> Select<E>,
    ) -> Result<(Vec<E::Model>, u64), ApiError>
    where
        E: EntityTrait,
        E::Model: FromQueryResult + Send + Sync,
        C: ConnectionTrait,
    {
        let total = match rows.first() {
            Some(row) => u64::try_from(row.total).unwrap_or_default(),
            None if self.page == 1 => 0,
            None => select().count(db).await?,
        };
        Ok((rows.into_iter().map(|row| row.model).collect(), total))
    }
}

/// A list whose statement never changes shape (no optional filter): its SQL, page and count in
/// one statement as [`Page::fetch`] builds it, is built once per database dialect and reused,
/// only the page's limit and offset bound per request. Building it (a select, its clone as the
/// count's subquery, both rendered) was a tenth of a hot list's server CPU.
pub struct FixedList<E: EntityTrait> {
    select: fn() -> Select<E>,
    built: [OnceLock<Built>; 3],
}

/// A rendered [`FixedList`]: its SQL, its values, and which of them are the limit and offset.
struct Built {
    sql: String,
    values: Vec<Value>,
    limit_at: usize,
    offset_at: usize,
}

impl<E: EntityTrait> FixedList<E> {
    pub const fn new(select: fn() -> Select<E>) -> Self {
        Self {
            select,
            built: [const { OnceLock::new() }; 3],
        }
    }

    /// This list's statement for `page` in `backend`'s dialect.
    fn statement(&self, backend: DbBackend, page: Page) -> Result<Statement, ApiError> {
        let slot = match backend {
            DbBackend::Postgres => 0,
            DbBackend::Sqlite => 1,
            _ => 2,
        };
        let built = match self.built[slot].get() {
            Some(built) => built,
            None => {
                let built = Built::new(backend, (self.select)())?;
                self.built[slot].get_or_init(|| built)
            }
        };
        let mut values = built.values.clone();
        values[built.limit_at] = Value::from(page.limit);
        values[built.offset_at] = Value::from(page.offset());
        Ok(Statement::from_sql_and_values(
            backend,
            built.sql.clone(),
            values,
        ))
    }
}

impl Built {
    /// Renders `select` counted, with marker values for the limit and offset to find them by.
    fn new<E: EntityTrait>(backend: DbBackend, select: Select<E>) -> Result<Self, ApiError> {
        const LIMIT: u64 = 0x7e57_0001;
        const OFFSET: u64 = 0x7e57_0002;
        let statement = Page::counted(select)
            .offset(OFFSET)
            .limit(LIMIT)
            .build(backend);
        let values = statement.values.map(|v| v.0).unwrap_or_default();
        let at = |marker: u64| {
            let marker = Value::from(marker);
            let mut found = values.iter().enumerate().filter(|(_, v)| **v == marker);
            match (found.next(), found.next()) {
                (Some((i, _)), None) => Ok(i),
                _ => Err(ApiError::Internal(
                    "a fixed list's limit or offset is not one value".into(),
                )),
            }
        };
        Ok(Self {
            limit_at: at(LIMIT)?,
            offset_at: at(OFFSET)?,
            sql: statement.sql,
            values,
        })
    }
}

impl Page {
    /// [`Page::fetch`] of a [`FixedList`], without building its statement again.
    pub async fn fetch_fixed<E, C>(
        self,
        db: &C,
        list: &FixedList<E>,
    ) -> Result<(Vec<E::Model>, u64), ApiError>
    where
        E: EntityTrait,
        E::Model: FromQueryResult + Send + Sync,
        C: ConnectionTrait,
    {
        let statement = list.statement(db.get_database_backend(), self)?;
        let rows = Counted::<E::Model>::find_by_statement(statement)
            .all(db)
            .await?;
        self.total_of(rows, db, list.select).await
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
