//! The workload: Zipf over tenant ranks, the bench databases and their tenants, one request.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use secrecy::SecretString;
use tenantry_core::TenantId;
use tenantry_pool::{PoolError, TargetResolver, TenantPools, TenantTarget};

use crate::QUERY;

// ---------------------------------------------------------------------------------------------
// The workload.

/// Zipf(s) over ranks `0..n` by inverse CDF.
pub(crate) struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    pub(crate) fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let cumulative = (1..=n)
            .map(|k| {
                total += 1.0 / (k as f64).powf(s);
                total
            })
            .collect::<Vec<_>>();
        Self {
            cumulative: cumulative.into_iter().map(|c| c / total).collect(),
        }
    }

    pub(crate) fn sample(&self, uniform: f64) -> usize {
        self.cumulative
            .partition_point(|&c| c < uniform)
            .min(self.cumulative.len() - 1)
    }
}

/// SplitMix64: a small, seedable generator (one per task).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Tenant ids mapped onto the bench databases.
pub(crate) struct Targets(HashMap<TenantId, TenantTarget>);

#[async_trait]
impl TargetResolver for Targets {
    async fn resolve(&self, tenant: TenantId) -> Result<TenantTarget, PoolError> {
        self.0
            .get(&tenant)
            .cloned()
            .ok_or(PoolError::UnknownTenant(tenant))
    }
}

pub(crate) struct Fleet {
    pub(crate) admin_url: String,
    pub(crate) role: String,
    pub(crate) password: String,
    pub(crate) databases: Vec<String>,
}

impl Fleet {
    pub(crate) fn url(&self, db: &str) -> Result<String> {
        let mut url = url::Url::parse(&self.admin_url)?;
        url.set_username(&self.role)
            .map_err(|()| anyhow::anyhow!("bad URL"))?;
        url.set_password(Some(&self.password))
            .map_err(|()| anyhow::anyhow!("bad URL"))?;
        url.set_path(db);
        Ok(url.to_string())
    }

    /// `n` tenants spread over the databases, each with at most `max` connections.
    pub(crate) fn tenants(&self, n: usize, max: usize) -> Result<(Vec<TenantId>, Arc<Targets>)> {
        let mut ids = Vec::with_capacity(n);
        let mut map = HashMap::with_capacity(n);
        for i in 0..n {
            let id = TenantId::new();
            let db = &self.databases[i % self.databases.len()];
            map.insert(
                id,
                TenantTarget {
                    server: Some(uuid::Uuid::nil()),
                    url: SecretString::from(self.url(db)?),
                    max_connections: max,
                },
            );
            ids.push(id);
        }
        Ok((ids, Arc::new(Targets(map))))
    }
}

pub(crate) async fn admin_exec(admin: &sea_orm::DatabaseConnection, sql: &str) -> Result<()> {
    admin
        .execute_unprepared(sql)
        .await
        .with_context(|| sql.to_owned())?;
    Ok(())
}

pub(crate) async fn admin_scalar(admin: &sea_orm::DatabaseConnection, sql: &str) -> Result<i64> {
    let row = admin
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .context("no row")?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// One request: lease, one indexed read, release.
pub(crate) async fn request(
    pools: &TenantPools,
    tenant: TenantId,
    id: i32,
) -> Result<(), PoolError> {
    let conn = pools.acquire(tenant).await?;
    let stmt = Statement::from_sql_and_values(DbBackend::Postgres, QUERY, [id.into()]);
    conn.query_one_raw(stmt)
        .await
        .map_err(|e| PoolError::Unavailable {
            tenant,
            message: format!("query failed: {e}"),
        })?;
    Ok(())
}
