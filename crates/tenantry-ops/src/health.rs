//! One tenant's health: a session as the tenant's own role, one timed query, the database size.
//!
//! A probe opens a connection to a tenant database, so callers cannot be let to open them at
//! will (a loop over `GET /tenants/{id}/health` would use up the role's few connections, or the
//! server's): concurrent asks for one tenant share one probe, an answer is reused for
//! [`FRESH_FOR`], at most [`PROBES_AT_ONCE`] probes run at a time (beyond that, `Busy` after
//! [`QUEUE_WAIT`]), and a probe that hangs ends as inaccessible after [`PROBE_DEADLINE`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use sea_orm::{ConnectionTrait as _, DbBackend, Statement};
use serde::Serialize;
use tenantry_core::{TenantId, TenantRef};
use tenantry_provision::Provisioner;
use tenantry_registry::{StorageLevel, Tenant, TenantStatus};
use tokio::sync::Semaphore;

use crate::{Caller, Operator, OpsError, Permission};

/// How long one probe's answer is reused.
pub const FRESH_FOR: Duration = Duration::from_secs(2);
/// Probes running at once, per process.
const PROBES_AT_ONCE: usize = 4;
/// How long an ask waits for a probe to be free before it is `Busy`.
const QUEUE_WAIT: Duration = Duration::from_secs(5);
/// Connect and queries, at most.
const PROBE_DEADLINE: Duration = Duration::from_secs(5);

/// What `GET /tenants/{id}/health` reports (the HTTP layer adds its pool's view).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantHealth {
    #[schema(value_type = String, format = "uuid")]
    pub tenant: TenantId,
    pub status: TenantStatus,
    /// A session as the tenant's own role answered a query.
    pub database_accessible: bool,
    /// Why not, when it did not (no secret: the cause as the driver names it).
    pub error: Option<String>,
    /// Round trip of that query, connecting excluded.
    pub last_query_time_ms: Option<f64>,
    pub storage_used_mb: Option<f64>,
    pub storage_limit_mb: Option<i64>,
    /// The level the last scheduled measurement recorded (`exceeded`: writes are refused).
    pub storage_level: StorageLevel,
    pub schema_version: Option<i32>,
}

/// The probes of one process: recent answers and the permits to run new ones.
pub(crate) struct Probes {
    recent: Cache<(TenantId, TenantStatus), Arc<TenantHealth>>,
    running: Semaphore,
}

impl Default for Probes {
    fn default() -> Self {
        Self {
            recent: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(FRESH_FOR)
                .build(),
            running: Semaphore::new(PROBES_AT_ONCE),
        }
    }
}

impl Operator {
    /// The health of `tenant`, probed at most every [`FRESH_FOR`] (see the module docs).
    pub async fn tenant_health(
        &self,
        caller: &Caller,
        tenant: &TenantRef,
    ) -> Result<TenantHealth, OpsError> {
        caller.require(Permission::Read)?;
        let t = self.registry().find_tenant(tenant).await?;
        let probes = &self.inner.health;
        let key = (t.id, t.status);
        let probe = async {
            let _permit = tokio::time::timeout(QUEUE_WAIT, probes.running.acquire())
                .await
                .map_err(|_| busy())?
                .map_err(|_| busy())?;
            Ok(Arc::new(probe(self.provisioner(), &t).await))
        };
        let health = probes
            .recent
            .try_get_with(key, probe)
            .await
            .map_err(|e: Arc<OpsError>| match &*e {
                OpsError::Busy { what } => OpsError::Busy { what: what.clone() },
                _ => busy(),
            })?;
        Ok((*health).clone())
    }
}

fn busy() -> OpsError {
    OpsError::Busy {
        what: "tenant health probes".into(),
    }
}

async fn probe(provisioner: &Provisioner, t: &Tenant) -> TenantHealth {
    let mut health = TenantHealth {
        tenant: t.id,
        status: t.status,
        database_accessible: false,
        error: None,
        last_query_time_ms: None,
        storage_used_mb: None,
        storage_limit_mb: t.storage_limit_mb,
        storage_level: t.storage_level,
        schema_version: t.schema_version,
    };
    if t.status != TenantStatus::Active {
        health.error = Some("the tenant is not active".into());
        return health;
    }
    let probed = tokio::time::timeout(PROBE_DEADLINE, query(provisioner, t, &mut health)).await;
    if probed.is_err() {
        health.database_accessible = false;
        health.error = Some(format!("no answer within {} s", PROBE_DEADLINE.as_secs()));
    }
    health
}

async fn query(provisioner: &Provisioner, t: &Tenant, health: &mut TenantHealth) {
    let conn = match provisioner.connect_tenant(t).await {
        Ok(conn) => conn,
        Err(e) => {
            health.error = Some(e.to_string());
            return;
        }
    };
    let backend = conn.get_database_backend();
    let size_sql = match backend {
        DbBackend::Postgres => "SELECT pg_database_size(current_database())::BIGINT",
        _ => {
            "SELECT (SELECT page_count FROM pragma_page_count()) * (SELECT page_size FROM pragma_page_size())"
        }
    };
    let started = Instant::now();
    let answered = conn
        .query_one_raw(Statement::from_string(backend, "SELECT 1"))
        .await;
    let elapsed = started.elapsed();
    match answered {
        Ok(_) => {
            health.database_accessible = true;
            health.last_query_time_ms = Some(elapsed.as_secs_f64() * 1000.0);
            let size = conn
                .query_one_raw(Statement::from_string(backend, size_sql))
                .await
                .ok()
                .flatten()
                .and_then(|row| row.try_get_by_index::<i64>(0).ok());
            health.storage_used_mb = size.map(crate::views::mebibytes);
        }
        Err(e) => health.error = Some(e.to_string()),
    }
    conn.close().await.ok();
}
