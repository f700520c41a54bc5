//! New tenants from backups: a **clone** (a new, independent tenant made from any completed
//! backup) and a **recovery** (a deleted tenant brought back from the final backup its deletion
//! took, while that backup's retention lasts).

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::vault::random_password;
use tenantry_core::{DbServerId, ServerName, Subdomain};
use tenantry_registry::{
    Backup, DatabaseLocation, OperationKind, Origin, RegistryError, Tenant, TenantStatus,
};
use uuid::Uuid;

use crate::create::{Content, Spec};
use crate::{Created, ProvisionError, Provisioner, RESERVED_ROLE_CONNECTIONS};

/// A request to clone a tenant from one of its backups.
#[derive(Debug, Clone)]
pub struct CloneTenant {
    pub subdomain: Subdomain,
    /// `None`: the source tenant's name.
    pub name: Option<String>,
    /// As for a creation: `None` = the least loaded active server.
    pub server: Option<ServerName>,
    pub origin: Origin,
}

/// What `reconcile` needs to undo an interrupted recovery, kept in the operation's params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RecoverParams {
    pub mode: String,
    pub tenant_id: Uuid,
    pub subdomain: String,
    pub backup: Uuid,
    pub db_name: String,
    pub role: Option<String>,
    pub server_id: Option<Uuid>,
}

pub(crate) const RECOVER_MODE: &str = "recover";

impl Provisioner {
    /// A new tenant holding the data of `backup` (migrated up to the latest schema), on the
    /// source tenant's plan. The source is not touched and the two never share anything.
    pub async fn clone_tenant(
        &self,
        backup: Uuid,
        req: CloneTenant,
    ) -> Result<Created, ProvisionError> {
        let backup = self.usable_backup(backup, None).await?;
        self.verify_backup(&backup).await?;
        let source =
            self.registry
                .tenant(backup.tenant)
                .await?
                .ok_or_else(|| RegistryError::NotFound {
                    what: format!("tenant {} of backup {}", backup.tenant, backup.id),
                })?;
        let name = req.name.unwrap_or_else(|| source.name.clone());
        let spec = Spec {
            subdomain: &req.subdomain,
            name: &name,
            plan: &source.plan,
            server: req.server.as_ref(),
            origin: &req.origin,
        };
        self.create_with(spec, Content::Backup(&backup)).await
    }

    /// Brings a deleted tenant back, under its old subdomain (which must be free), from the
    /// final backup its deletion took.
    pub async fn recover(
        &self,
        subdomain: &Subdomain,
        origin: &Origin,
    ) -> Result<Tenant, ProvisionError> {
        let (tomb, backup) = self
            .registry
            .recoverable_tenant(subdomain, Utc::now())
            .await?
            .ok_or_else(|| RegistryError::NotFound {
                what: format!(
                    "deleted tenant {subdomain} with a final backup still within its retention"
                ),
            })?;
        self.verify_backup(&backup).await?;
        let params = RecoverParams {
            mode: RECOVER_MODE.into(),
            tenant_id: tomb.id.as_uuid(),
            subdomain: tomb.subdomain.to_string(),
            backup: backup.id,
            db_name: tomb.db_name.clone(),
            role: tomb.db_user.clone(),
            server_id: tomb.server.map(|s| s.as_uuid()),
        };
        self.exclusively_with(
            OperationKind::TenantRestore,
            &tomb,
            &[TenantStatus::Deleted],
            json!(params),
            origin,
            async |tomb, op| {
                let result = self.recover_steps(tomb, &backup, origin, op).await;
                if result.is_err() {
                    self.undo_recover(&params).await.ok();
                }
                result
            },
        )
        .await?;
        Ok(self.registry.find_tenant(&tomb.id.into()).await?)
    }

    async fn recover_steps(
        &self,
        tomb: &Tenant,
        backup: &Backup,
        origin: &Origin,
        op: Uuid,
    ) -> Result<(), ProvisionError> {
        let password = tomb.server.map(|_| random_password());
        let detail = json!({ "subdomain": tomb.subdomain, "backup": backup.id, "operation": op });
        let kind = OperationKind::TenantRestore.as_str();
        let revived = self
            .registry
            .revive_tenant(
                tomb.id,
                DatabaseLocation {
                    server: tomb.server,
                    db_name: tomb.db_name.clone(),
                    db_user: tomb.db_user.clone(),
                    password: password.clone(),
                },
                origin.entry(kind, Some(tomb.id), detail.clone()),
            )
            .await?;
        let backend = self.backend(revived.server).await?;
        let db = Self::tenant_database(&revived)?;
        if let Some(password) = &password {
            let plan = self.registry.plan_by_id(&revived.plan).await?;
            let limit = i32::try_from(plan.max_connections)
                .unwrap_or(i32::MAX)
                .saturating_add(RESERVED_ROLE_CONNECTIONS);
            backend.ensure_role(&db, password, limit).await?;
        }
        self.load_backup(backend.as_ref(), backup, &db).await?;
        let version = self.migrate_loaded(&revived).await?;
        let mut detail = detail;
        detail["recovered"] = json!(true);
        self.registry
            .activate_tenant(
                tomb.id,
                version,
                origin.entry(kind, Some(tomb.id), detail),
                None,
            )
            .await?;
        // Live again: its final backups are ordinary backups now, no longer a way back from a
        // deletion (a later deletion takes its own).
        for backup in self.registry.list_backups(tomb.id).await? {
            if backup.expires_at.is_some() {
                self.registry.set_backup_expiry(backup.id, None).await?;
            }
        }
        Ok(())
    }

    /// Undoes a recovery that did not finish: its database and role go, the row is a tombstone
    /// again. Idempotent; refuses once the tenant is active (then it was recovered).
    pub(crate) async fn undo_recover(&self, params: &RecoverParams) -> Result<(), ProvisionError> {
        let tenant = self.registry.tenant(params.tenant_id.into()).await?;
        if let Some(tenant) = tenant.filter(|t| t.status != TenantStatus::Provisioning) {
            if tenant.status == TenantStatus::Deleted {
                return Ok(());
            }
            return Err(ProvisionError::InvalidState {
                subdomain: tenant.subdomain.to_string(),
                status: format!("{:?}", tenant.status).to_lowercase(),
                action: "undo its recovery",
            });
        }
        let backend = self.backend(params.server_id.map(DbServerId::from)).await?;
        let db = crate::restore::restore_database(&params.db_name, params.role.as_deref())?;
        backend.end_sessions(&db).await?;
        backend.drop_database(&db).await?;
        backend.drop_role(&db).await?;
        let audit = Origin::from(tenantry_registry::Actor::System).entry(
            OperationKind::TenantRestore.as_str(),
            Some(params.tenant_id.into()),
            json!({ "subdomain": params.subdomain, "recovered": false, "backup": params.backup }),
        );
        self.registry
            .set_tenant_status(params.tenant_id.into(), TenantStatus::Deleted, None, audit)
            .await?;
        Ok(())
    }
}
