//! The admin benchmark's baseline: the rows a request reads, with one bare query over one sqlx
//! connection to the master (no count, no token check, no HTTP). The SQL is fixed text chosen by
//! which filters are set; values are bound.

use std::time::Instant;

use anyhow::{Result, ensure};
use chrono::{DateTime, Utc};
use sea_orm::sqlx::{AssertSqlSafe, PgConnection, Row as _};
use uuid::Uuid;

use super::LIMIT;
use super::fleet::{Filter, Seeded};

/// Where a keyset page starts: the last row's creation time and id.
pub type Key = (DateTime<Utc>, Uuid);

/// `SELECT *` of the rows `filter` selects, in listing order, after `after` or from `offset`:
/// the time taken (ms) and the rows' keys.
pub async fn page(
    conn: &mut PgConnection,
    filter: &Filter,
    offset: usize,
    after: Option<Key>,
) -> Result<(f64, Vec<Key>)> {
    let mut sql = String::from("SELECT * FROM tenants WHERE ");
    let mut n = 0;
    let mut param = || {
        n += 1;
        format!("${n}")
    };
    sql += &match filter.status {
        Some(_) => format!("status = {}", param()),
        None => "status <> 'deleted'".into(),
    };
    if filter.plan.is_some() {
        sql += &format!(" AND plan_id = {}", param());
    }
    if filter.search.is_some() {
        let p = param();
        sql += &format!(" AND (lower(subdomain) LIKE {p} OR lower(name) LIKE {p})");
    }
    if after.is_some() {
        sql += &format!(" AND (created_at, id) > ({}, {})", param(), param());
    }
    sql += &format!(" ORDER BY created_at, id LIMIT {LIMIT} OFFSET {offset}");
    let mut query = sea_orm::sqlx::query(AssertSqlSafe(sql));
    for value in [filter.status, filter.plan].into_iter().flatten() {
        query = query.bind(value);
    }
    if let Some(s) = filter.search {
        query = query.bind(format!("%{}%", s.to_lowercase()));
    }
    if let Some((at, id)) = after {
        query = query.bind(at).bind(id);
    }
    let start = Instant::now();
    let rows = query.fetch_all(&mut *conn).await?;
    let took = start.elapsed().as_secs_f64() * 1e3;
    let keys = rows
        .iter()
        .map(|r| Ok((r.try_get("created_at")?, r.try_get("id")?)))
        .collect::<Result<_, sea_orm::sqlx::Error>>()?;
    Ok((took, keys))
}

/// `SELECT *` of one live tenant by id or by subdomain: the time taken (ms).
pub async fn show(conn: &mut PgConnection, by_id: bool, t: &Seeded) -> Result<f64> {
    let query = match by_id {
        true => sea_orm::sqlx::query("SELECT * FROM tenants WHERE id = $1").bind(t.id),
        false => sea_orm::sqlx::query(
            "SELECT * FROM tenants WHERE subdomain = $1 AND status <> 'deleted'",
        )
        .bind(t.subdomain.clone()),
    };
    let start = Instant::now();
    let row = query.fetch_one(&mut *conn).await?;
    let took = start.elapsed().as_secs_f64() * 1e3;
    ensure!(
        row.try_get::<Uuid, _>("id")? == t.id,
        "baseline: another tenant"
    );
    Ok(took)
}
