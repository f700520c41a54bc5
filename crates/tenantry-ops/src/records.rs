//! Read-only views of the installation: operations, the audit trail and fleet statistics.

use std::collections::BTreeMap;

use serde::Serialize;
use tenantry_registry::{AuditPage, AuditQuery, OperationQuery};
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
}
