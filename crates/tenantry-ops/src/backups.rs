//! Backups: take one (or the fleet's), list them, restore one in place, clone a tenant from one,
//! recover a deleted tenant.

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use serde::Serialize;
use tenantry_core::{ServerName, Subdomain, TenantRef};
use tenantry_provision::{CloneTenant, Restored};
use tenantry_registry::{Backup, BackupKind, BackupState, TenantStatus};
use uuid::Uuid;

use crate::{Caller, Operator, OpsError, Permission, TenantView};

/// Most backups of the fleet taken at once (`tenants backup --all --concurrency N`).
pub const MAX_BACKUP_CONCURRENCY: usize = 16;

/// A backup as callers see it. The file is named by its location; its contents never leave
/// the store unencrypted.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BackupView {
    #[schema(value_type = String, format = "uuid")]
    pub id: Uuid,
    #[schema(value_type = String, format = "uuid")]
    pub tenant: tenantry_core::TenantId,
    #[schema(value_type = String)]
    pub kind: BackupKind,
    #[schema(value_type = String)]
    pub state: BackupState,
    /// `postgres` or `sqlite`.
    pub engine: Option<String>,
    /// Where the encrypted file is (`file:///...` or `s3://bucket/...`).
    pub location: String,
    pub bytes: Option<u64>,
    /// Of the encrypted file, as stored.
    pub sha256: Option<String>,
    pub schema_version: Option<i32>,
    /// The master key it is encrypted under.
    pub key_id: Option<String>,
    pub format_version: Option<i32>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// A deleted tenant's final backup: it can be recovered until then.
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<&Backup> for BackupView {
    fn from(b: &Backup) -> Self {
        Self {
            id: b.id,
            tenant: b.tenant,
            kind: b.kind,
            state: b.state,
            engine: b.engine.clone(),
            location: b.location.clone(),
            bytes: b.bytes,
            sha256: b.sha256.clone(),
            schema_version: b.schema_version,
            key_id: b.key_id.clone(),
            format_version: b.format_version,
            error: b.error.clone(),
            created_at: b.created_at,
            completed_at: b.completed_at,
            expires_at: b.expires_at,
        }
    }
}

/// One tenant's outcome in a fleet backup.
#[derive(Debug, Clone, Serialize)]
pub struct FleetBackup {
    pub tenant: String,
    pub backup: Option<BackupView>,
    pub error: Option<String>,
}

/// A restore in place, as callers see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RestoreView {
    pub tenant: TenantView,
    #[schema(value_type = String, format = "uuid")]
    pub backup: Uuid,
    pub from_version: Option<i32>,
    pub to_version: Option<i32>,
    /// Verify, load and migrate, while the tenant served from its old database.
    pub prepare_ms: u64,
    /// How long the tenant's requests were answered 503 during the switch.
    pub switch_ms: u64,
}

impl Operator {
    pub async fn list_backups(
        &self,
        caller: &Caller,
        tenant: &TenantRef,
    ) -> Result<Vec<BackupView>, OpsError> {
        caller.require(Permission::Read)?;
        let tenant = self.registry().find_tenant(tenant).await?;
        let backups = self.registry().list_backups(tenant.id).await?;
        Ok(backups.iter().map(BackupView::from).collect())
    }

    pub async fn backup_tenant(
        &self,
        caller: &Caller,
        tenant: &TenantRef,
    ) -> Result<BackupView, OpsError> {
        caller.require(Permission::Tenants)?;
        let backup = self.provisioner().backup(tenant, &caller.origin()).await?;
        Ok(BackupView::from(&backup))
    }

    /// Backs up every active tenant (suspended ones too with `include_suspended`), `concurrency`
    /// at a time; each outcome is reported to `progress` as it ends. One tenant's failure is
    /// reported and the others go on.
    pub async fn backup_fleet(
        &self,
        caller: &Caller,
        concurrency: usize,
        include_suspended: bool,
        progress: &(dyn Fn(&FleetBackup) + Sync),
    ) -> Result<Vec<FleetBackup>, OpsError> {
        caller.require(Permission::Tenants)?;
        if !(1..=MAX_BACKUP_CONCURRENCY).contains(&concurrency) {
            return Err(OpsError::invalid(
                "concurrency",
                format!("must be 1–{MAX_BACKUP_CONCURRENCY}"),
            ));
        }
        let mut tenants = self
            .registry()
            .list_tenants(Some(TenantStatus::Active))
            .await?;
        if include_suspended {
            tenants.extend(
                self.registry()
                    .list_tenants(Some(TenantStatus::Suspended))
                    .await?,
            );
        }
        let origin = caller.origin();
        let outcomes = futures::stream::iter(tenants)
            .map(|tenant| {
                let origin = &origin;
                async move {
                    let taken = self.provisioner().backup(&tenant.id.into(), origin).await;
                    let outcome = FleetBackup {
                        tenant: tenant.subdomain.to_string(),
                        backup: taken.as_ref().ok().map(BackupView::from),
                        error: taken.err().map(|e| tenantry_core::error_chain(&e)),
                    };
                    progress(&outcome);
                    outcome
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        Ok(outcomes)
    }

    pub async fn restore_tenant(
        &self,
        caller: &Caller,
        tenant: &TenantRef,
        backup: Uuid,
    ) -> Result<RestoreView, OpsError> {
        caller.require(Permission::Tenants)?;
        let restored: Restored = self
            .provisioner()
            .restore(tenant, backup, &caller.origin())
            .await?;
        Ok(RestoreView {
            tenant: self.view(&restored.tenant).await?,
            backup: restored.backup,
            from_version: restored.from_version,
            to_version: restored.to_version,
            prepare_ms: restored.prepare_ms,
            switch_ms: restored.switch_ms,
        })
    }

    /// A new tenant `subdomain` from `backup` (of any tenant, deleted ones included).
    pub async fn clone_tenant(
        &self,
        caller: &Caller,
        backup: Uuid,
        subdomain: &str,
        name: Option<&str>,
        server: Option<&str>,
    ) -> Result<TenantView, OpsError> {
        caller.require(Permission::Tenants)?;
        let reserved = self.provisioner().reserved_subdomains();
        let subdomain = Subdomain::parse(subdomain.trim(), reserved)
            .map_err(|e| OpsError::invalid("into", e))?;
        let server = server
            .map(|s| ServerName::parse(s).map_err(|e| OpsError::invalid("server", e)))
            .transpose()?;
        let req = CloneTenant {
            subdomain,
            name: name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()),
            server,
            origin: caller.origin(),
        };
        let created = self.provisioner().clone_tenant(backup, req).await?;
        self.view(&created.tenant).await
    }

    /// Brings back the deleted tenant `subdomain` from its final backup.
    pub async fn recover_tenant(
        &self,
        caller: &Caller,
        subdomain: &str,
    ) -> Result<TenantView, OpsError> {
        caller.require(Permission::Tenants)?;
        let subdomain = Subdomain::parse(subdomain.trim(), &[])
            .map_err(|e| OpsError::invalid("subdomain", e))?;
        let tenant = self
            .provisioner()
            .recover(&subdomain, &caller.origin())
            .await?;
        self.view(&tenant).await
    }
}
