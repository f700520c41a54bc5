//! Read-only views of the installation: operations, the audit trail, fleet statistics and one
//! tenant's health.

use std::collections::BTreeMap;
use std::time::Instant;

use sea_orm::{ConnectionTrait as _, DbBackend, Statement};
use serde::Serialize;
use tenantry_core::{TenantId, TenantRef};
use tenantry_registry::{AuditPage, AuditQuery, OperationQuery, TenantStatus};
use uuid::Uuid;

use crate::{Caller, OperationView, Operator, OpsError, Permission};

/// Counts of live and deleted tenants by status and by plan.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FleetStats {
    /// Tenants in all, deleted ones included.
    pub tenants: u64,
    /// Tenants by status (`active`, `suspended`, …).
    pub by_status: BTreeMap<String, u64>,
    /// Tenants by plan.
    pub by_plan: BTreeMap<String, u64>,
}

/// What `GET /tenants/{id}/health` reports (the HTTP layer adds its pool's view).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantHealth {
    #[schema(value_type = String, format = "uuid")]
    pub tenant: TenantId,
    pub status: TenantStatus,
    /// A fresh session as the tenant's own role answered a query.
    pub database_accessible: bool,
    /// Why not, when it did not (no secret: the cause as the driver names it).
    pub error: Option<String>,
    /// Round trip of that query, connecting excluded.
    pub last_query_time_ms: Option<f64>,
    pub storage_used_mb: Option<f64>,
    pub storage_limit_mb: Option<i64>,
    pub schema_version: Option<i32>,
}

impl Operator {
    pub async fn operation(&self, id: Uuid) -> Result<OperationView, OpsError> {
        self.registry()
            .operation(id)
            .await?
            .map(OperationView::from)
            .ok_or_else(|| OpsError::NotFound {
                what: format!("operation {id}"),
            })
    }

    /// One operation, for a caller who may read.
    pub async fn show_operation(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> Result<OperationView, OpsError> {
        caller.require(Permission::Read)?;
        self.operation(id).await
    }

    pub async fn list_operations(
        &self,
        caller: &Caller,
        query: &OperationQuery,
    ) -> Result<(Vec<OperationView>, u64), OpsError> {
        caller.require(Permission::Read)?;
        let (ops, total) = self.registry().list_operations(query).await?;
        Ok((ops.into_iter().map(OperationView::from).collect(), total))
    }

    pub async fn audit_log(
        &self,
        caller: &Caller,
        query: &AuditQuery,
    ) -> Result<AuditPage, OpsError> {
        caller.require(Permission::Read)?;
        Ok(self.registry().list_audit(query).await?)
    }

    pub async fn stats(&self, caller: &Caller) -> Result<FleetStats, OpsError> {
        caller.require(Permission::Read)?;
        let mut stats = FleetStats {
            tenants: 0,
            by_status: BTreeMap::new(),
            by_plan: BTreeMap::new(),
        };
        for (status, plan, n) in self.registry().tenant_counts().await? {
            let status = serde_json::to_value(status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            *stats.by_status.entry(status).or_default() += n;
            if n > 0 {
                *stats.by_plan.entry(plan.to_string()).or_default() += n;
            }
            stats.tenants += n;
        }
        Ok(stats)
    }

    /// Opens a fresh session as the tenant's role, times one query on it and reads its size.
    pub async fn tenant_health(
        &self,
        caller: &Caller,
        tenant: &TenantRef,
    ) -> Result<TenantHealth, OpsError> {
        caller.require(Permission::Read)?;
        let t = self.registry().find_tenant(tenant).await?;
        let mut health = TenantHealth {
            tenant: t.id,
            status: t.status,
            database_accessible: false,
            error: None,
            last_query_time_ms: None,
            storage_used_mb: None,
            storage_limit_mb: t.storage_limit_mb,
            schema_version: t.schema_version,
        };
        if t.status != TenantStatus::Active {
            health.error = Some("the tenant is not active".into());
            return Ok(health);
        }
        let conn = match self.provisioner().connect_tenant(&t).await {
            Ok(conn) => conn,
            Err(e) => {
                health.error = Some(e.to_string());
                return Ok(health);
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
        let probe = conn
            .query_one_raw(Statement::from_string(backend, "SELECT 1"))
            .await;
        let elapsed = started.elapsed();
        match probe {
            Ok(_) => {
                health.database_accessible = true;
                health.last_query_time_ms = Some(elapsed.as_secs_f64() * 1000.0);
                let size = conn
                    .query_one_raw(Statement::from_string(backend, size_sql))
                    .await
                    .ok()
                    .flatten()
                    .and_then(|row| row.try_get_by_index::<i64>(0).ok());
                health.storage_used_mb = size.map(|b| b as f64 / (1024.0 * 1024.0));
            }
            Err(e) => health.error = Some(e.to_string()),
        }
        conn.close().await.ok();
        Ok(health)
    }
}
