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

/// What draining did to one tenant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DrainOutcome {
    pub tenant: String,
    /// Where it went, and its write pause; `None` when it was not moved.
    pub to: Option<String>,
    pub write_pause_ms: Option<u64>,
    /// Why it was not moved (a suspended tenant is left: reactivate it and drain again).
    pub error: Option<String>,
}

impl Operator {
    /// Marks server `name` draining (it takes no new tenants) and moves every active tenant
    /// off it, `concurrency` at a time, each to the active server with the most free capacity.
    /// One tenant's failure does not stop the others; draining again retries what is left.
    pub async fn drain_server(
        &self,
        caller: &Caller,
        name: &str,
        concurrency: usize,
    ) -> Result<Vec<DrainOutcome>, OpsError> {
        use futures::StreamExt as _;
        caller.require(Permission::Servers)?;
        caller.require(Permission::Tenants)?;
        let server = self
            .set_server_state(caller, name, tenantry_registry::ServerState::Draining)
            .await?;
        let tenants = self.registry().tenants_on_server(server.id).await?;
        let outcomes = futures::stream::iter(tenants)
            .map(|tenant| async move {
                let subdomain = tenant.subdomain.to_string();
                let moved = async {
                    if tenant.status != tenantry_registry::TenantStatus::Active {
                        return Err(OpsError::InvalidState(format!(
                            "it is {:?}: only an active tenant moves",
                            tenant.status
                        )));
                    }
                    let to = self.provisioner().place(None).await?.ok_or_else(|| {
                        OpsError::InvalidState("no other server takes tenants".into())
                    })?;
                    self.move_tenant(caller, &TenantRef::Id(tenant.id), to.name.as_str())
                        .await
                }
                .await;
                match moved {
                    Ok(m) => DrainOutcome {
                        tenant: subdomain,
                        to: Some(m.to),
                        write_pause_ms: Some(m.write_pause_ms),
                        error: None,
                    },
                    Err(e) => DrainOutcome {
                        tenant: subdomain,
                        to: None,
                        write_pause_ms: None,
                        error: Some(e.to_string()),
                    },
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        Ok(outcomes)
    }
}
