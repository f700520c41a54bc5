//! Moving a tenant to another database server while it serves (PostgreSQL, by logical
//! replication; see `tenantry-provision`'s `relocate.rs`).

use serde::Serialize;
use tenantry_core::{ServerName, TenantRef};
use tenantry_provision::Moved;

use crate::{Caller, Operator, OpsError, Permission, TenantView};

/// A finished move, as callers see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MoveView {
    pub tenant: TenantView,
    pub from: String,
    pub to: String,
    /// Schema, rows and streaming until caught up, while the tenant served as usual.
    pub copy_ms: u64,
    /// How long the tenant's requests were answered 503 (no write was accepted meanwhile).
    pub write_pause_ms: u64,
}

impl Operator {
    pub async fn move_tenant(
        &self,
        caller: &Caller,
        tenant: &TenantRef,
        to: &str,
    ) -> Result<MoveView, OpsError> {
        caller.require(Permission::Tenants)?;
        let to = ServerName::parse(to).map_err(|e| OpsError::invalid("to", e))?;
        let moved: Moved = self
            .provisioner()
            .move_tenant(tenant, &to, &caller.origin())
            .await?;
        Ok(MoveView {
            tenant: self.view(&moved.tenant).await?,
            from: moved.from,
            to: moved.to,
            copy_ms: moved.copy_ms,
            write_pause_ms: moved.write_pause_ms,
        })
    }
}
