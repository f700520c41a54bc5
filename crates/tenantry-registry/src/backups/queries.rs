//! Reading backup rows, and what retention and recovery need: expiry, removal, expired final
//! backups and recoverable tenants.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use tenantry_core::ids::{Subdomain, TenantId};
use uuid::Uuid;

use super::Backup;
use crate::entity::{backup, tenant};
use crate::{BackupKind, BackupState, Registry, RegistryError, Tenant, TenantStatus};

impl Registry {
    pub async fn backup(&self, id: Uuid) -> Result<Option<Backup>, RegistryError> {
        Ok(backup::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(Backup::from))
    }

    /// A tenant's backups in every state but `deleted`, newest first.
    pub async fn list_backups(&self, tenant: TenantId) -> Result<Vec<Backup>, RegistryError> {
        let rows = backup::Entity::find()
            .filter(backup::Column::TenantId.eq(tenant.as_uuid()))
            .filter(backup::Column::State.ne(BackupState::Deleted))
            .order_by_desc(backup::Column::CreatedAt)
            .order_by_desc(backup::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(Backup::from).collect())
    }

    /// Deletes the row, once its archive is gone. `false` → there was no such row.
    pub async fn remove_backup(&self, id: Uuid) -> Result<bool, RegistryError> {
        let deleted = backup::Entity::delete_by_id(id).exec(&self.db).await?;
        Ok(deleted.rows_affected > 0)
    }

    /// Sets (or clears) until when a backup is kept. Unknown → `NotFound`.
    pub async fn set_backup_expiry(
        &self,
        id: Uuid,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), RegistryError> {
        let updated = backup::Entity::update_many()
            .col_expr(backup::Column::ExpiresAt, Expr::value(expires_at))
            .filter(backup::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        if updated.rows_affected == 0 {
            return Err(RegistryError::NotFound {
                what: format!("backup {id}"),
            });
        }
        Ok(())
    }

    /// A tenant's completed manual and scheduled backups, newest first: what retention prunes.
    pub async fn backups_for_retention(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<Backup>, RegistryError> {
        let rows = backup::Entity::find()
            .filter(backup::Column::TenantId.eq(tenant.as_uuid()))
            .filter(backup::Column::State.eq(BackupState::Completed))
            .filter(backup::Column::Kind.is_in([BackupKind::Manual, BackupKind::Scheduled]))
            .order_by_desc(backup::Column::CreatedAt)
            .order_by_desc(backup::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(Backup::from).collect())
    }

    /// Completed final backups that expired before `now`, oldest expiry first: to purge.
    pub async fn expired_final_backups(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<Backup>, RegistryError> {
        let rows = backup::Entity::find()
            .filter(backup::Column::Kind.eq(BackupKind::Final))
            .filter(backup::Column::State.eq(BackupState::Completed))
            .filter(backup::Column::ExpiresAt.lt(now))
            .order_by_asc(backup::Column::ExpiresAt)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(Backup::from).collect())
    }

    /// The most recently deleted tenant with this subdomain that can still be recovered, with its
    /// newest completed final backup that expires after `now`.
    pub async fn recoverable_tenant(
        &self,
        subdomain: &Subdomain,
        now: DateTime<Utc>,
    ) -> Result<Option<(Tenant, Backup)>, RegistryError> {
        let tombstones = tenant::Entity::find()
            .filter(tenant::Column::Subdomain.eq(subdomain.as_str()))
            .filter(tenant::Column::Status.eq(TenantStatus::Deleted))
            .order_by_desc(tenant::Column::DeletedAt)
            .order_by_desc(tenant::Column::Id)
            .all(&self.db)
            .await?;
        if tombstones.is_empty() {
            return Ok(None);
        }
        let finals = backup::Entity::find()
            .filter(backup::Column::TenantId.is_in(tombstones.iter().map(|t| t.id)))
            .filter(backup::Column::Kind.eq(BackupKind::Final))
            .filter(backup::Column::State.eq(BackupState::Completed))
            .filter(backup::Column::ExpiresAt.gt(now))
            .order_by_desc(backup::Column::CreatedAt)
            .order_by_desc(backup::Column::Id)
            .all(&self.db)
            .await?;
        // Tombstones newest first; for each, its backups newest first.
        Ok(tombstones.into_iter().find_map(|t| {
            let backup = finals.iter().find(|b| b.tenant_id == t.id)?;
            Some((Tenant::from(t), Backup::from(backup.clone())))
        }))
    }
}
