//! How `reconcile` resolves backup, restore and recovery operations a crash interrupted.

use tenantry_registry::{BackupKind, BackupState, Operation, RegistryError, Tenant, TenantStatus};

use crate::reconcile::Outcome;
use crate::recover::{RECOVER_MODE, RecoverParams};
use crate::restore::{RestoreParams, restore_database};
use crate::{ProvisionError, Provisioner};

impl Provisioner {
    /// An interrupted backup never completed: its row is marked failed and its partial file
    /// removed. The next backup (scheduled or asked for) starts afresh.
    pub(crate) async fn resolve_backup(
        &self,
        op: &Operation,
        tenant: Option<&Tenant>,
    ) -> Result<Outcome, ProvisionError> {
        if let Some(tenant) = tenant {
            self.fail_backups_of(op, tenant).await?;
        }
        Ok(Outcome::RolledBack)
    }

    /// Before an interrupted deletion is finished: if it was to take a final backup and none
    /// completed, take it now, so a crash never turns a recoverable deletion into a final one.
    pub(crate) async fn ensure_final_backup(
        &self,
        op: &Operation,
        tenant: &Tenant,
    ) -> Result<(), ProvisionError> {
        self.fail_backups_of(op, tenant).await?;
        let wanted = op.params.get("final_backup").and_then(|v| v.as_bool()) == Some(true);
        if !wanted || tenant.status == TenantStatus::Failed {
            return Ok(());
        }
        let taken = self
            .registry
            .list_backups(tenant.id)
            .await?
            .into_iter()
            .any(|b| {
                b.operation == Some(op.id)
                    && b.kind == BackupKind::Final
                    && b.state == BackupState::Completed
            });
        if !taken {
            let row = self
                .start_backup_row(tenant, BackupKind::Final, Some(op.id))
                .await?;
            let expires = chrono::Utc::now() + self.backups.deleted_retention;
            self.fill_backup(tenant, row, Some(expires)).await?;
        }
        Ok(())
    }

    /// A restore that swapped the pointer is finished (the replaced database dropped, the fence
    /// lifted); one that did not is undone (its new database dropped). A recovery that did not
    /// activate the tenant is undone: the row is a tombstone again.
    pub(crate) async fn resolve_restore(
        &self,
        op: &Operation,
        tenant: Option<&Tenant>,
    ) -> Result<Outcome, ProvisionError> {
        let invalid = |e: serde_json::Error| {
            ProvisionError::Registry(RegistryError::Invalid {
                what: format!("params of operation {}: {e}", op.id),
            })
        };
        if op.params.get("mode").and_then(|m| m.as_str()) == Some(RECOVER_MODE) {
            let params: RecoverParams =
                serde_json::from_value(op.params.clone()).map_err(invalid)?;
            if tenant.is_some_and(|t| t.status == TenantStatus::Active) {
                return Ok(Outcome::Completed);
            }
            self.undo_recover(&params).await?;
            return Ok(Outcome::RolledBack);
        }
        let params: RestoreParams = serde_json::from_value(op.params.clone()).map_err(invalid)?;
        match tenant {
            Some(tenant) if tenant.db_name == params.new_db => {
                let backend = self.backend(tenant.server).await?;
                let old = restore_database(&params.old_db, params.role.as_deref())?;
                backend.drop_database(&old).await?;
                self.registry.set_tenant_fence(tenant.id, None).await?;
                Ok(Outcome::Completed)
            }
            _ => {
                self.undo_restore(&params).await?;
                Ok(Outcome::RolledBack)
            }
        }
    }

    /// Marks the backups `op` left running as failed and removes their files.
    async fn fail_backups_of(&self, op: &Operation, tenant: &Tenant) -> Result<(), ProvisionError> {
        for backup in self.registry.list_backups(tenant.id).await? {
            if backup.operation != Some(op.id) || backup.state != BackupState::Running {
                continue;
            }
            if let Ok((store, key)) = tenantry_backup::store::BackupStore::for_location(
                &backup.location,
                &self.backups.s3,
            ) {
                store.delete(&key).await.ok();
            }
            self.registry
                .fail_backup(backup.id, "interrupted by a crash")
                .await?;
        }
        Ok(())
    }
}
