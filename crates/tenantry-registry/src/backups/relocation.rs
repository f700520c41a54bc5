//! What restore and move need of the tenant row: a fence, a swap to another database, a revival.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, TransactionTrait};
use tenantry_core::ids::TenantId;
use tenantry_core::vault::SealedSecret;

use super::DatabaseLocation;
use crate::changes::{ChangeKind, record};
use crate::entity::tenant;
use crate::tenants::db_secret_context;
use crate::{AuditEntry, Fence, Registry, RegistryError, Tenant, TenantStatus};

impl Registry {
    /// Sets (`Some`) or lifts (`None`) a live tenant's fence; every `serve` sees it through the
    /// change feed. The restore or move it is part of writes the audit row. Unknown or deleted
    /// tenant → `NotFound`.
    pub async fn set_tenant_fence(
        &self,
        id: TenantId,
        fence: Option<Fence>,
    ) -> Result<(), RegistryError> {
        let txn = self.db.begin().await?;
        let updated = tenant::Entity::update_many()
            .col_expr(tenant::Column::Fence, Expr::value(fence))
            .col_expr(tenant::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(tenant::Column::Id.eq(id.as_uuid()))
            .filter(tenant::Column::Status.ne(TenantStatus::Deleted))
            .exec(&txn)
            .await?;
        if updated.rows_affected == 0 {
            return Err(RegistryError::NotFound {
                what: format!("tenant {id}"),
            });
        }
        record(&txn, id, None, ChangeKind::Status).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Points a live tenant at another database (a restore into a new database, a move to
    /// another server) at `schema_version` and lifts its fence, with its audit row; caches drop the tenant's
    /// connections on the `database` change. Unknown or deleted tenant → `NotFound`.
    pub async fn swap_tenant_database(
        &self,
        id: TenantId,
        to: DatabaseLocation,
        schema_version: Option<i32>,
        audit: AuditEntry,
    ) -> Result<Tenant, RegistryError> {
        let update = self
            .relocate(id, to)?
            .col_expr(tenant::Column::Fence, Expr::value(Option::<Fence>::None))
            .col_expr(tenant::Column::SchemaVersion, Expr::value(schema_version))
            .col_expr(
                tenant::Column::MigrationError,
                Expr::value(Option::<String>::None),
            )
            .filter(tenant::Column::Status.ne(TenantStatus::Deleted));
        let txn = self.db.begin().await?;
        if update.exec(&txn).await?.rows_affected == 0 {
            return Err(RegistryError::NotFound {
                what: format!("tenant {id}"),
            });
        }
        let tenant = read_back(&txn, id).await?;
        crate::audit::insert(&txn, audit).await?;
        record(&txn, id, None, ChangeKind::Database).await?;
        txn.commit().await?;
        Ok(tenant)
    }

    /// Brings a deleted tenant back, in status `provisioning`, on the database its final backup
    /// is restored into, with its audit row. Its subdomain taken by a live tenant meanwhile →
    /// `Conflict`; unknown → `NotFound`; not deleted → `Refused`. Its released domains stay
    /// released.
    pub async fn revive_tenant(
        &self,
        id: TenantId,
        to: DatabaseLocation,
        audit: AuditEntry,
    ) -> Result<Tenant, RegistryError> {
        let Some(tombstone) = self.tenant(id).await? else {
            return Err(RegistryError::NotFound {
                what: format!("tenant {id}"),
            });
        };
        let update = self
            .relocate(id, to)?
            .col_expr(
                tenant::Column::Status,
                Expr::value(TenantStatus::Provisioning),
            )
            .col_expr(
                tenant::Column::StatusReason,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                tenant::Column::DeletedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(tenant::Column::Fence, Expr::value(Option::<Fence>::None))
            .filter(tenant::Column::Status.eq(TenantStatus::Deleted));
        let txn = self.db.begin().await?;
        // The partial unique index on live subdomains decides, so a concurrent create loses or
        // this does.
        let updated = update.exec(&txn).await.map_err(|e| {
            RegistryError::conflict_or_db(e, || format!("tenant {}", tombstone.subdomain))
        })?;
        if updated.rows_affected == 0 {
            return Err(RegistryError::Refused {
                reason: format!("tenant {id} is not deleted"),
            });
        }
        let tenant = read_back(&txn, id).await?;
        crate::audit::insert(&txn, audit).await?;
        record(&txn, id, None, ChangeKind::Created).await?;
        txn.commit().await?;
        Ok(tenant)
    }

    /// The update that points tenant `id` at `to` (its password sealed here), not yet run.
    fn relocate(
        &self,
        id: TenantId,
        to: DatabaseLocation,
    ) -> Result<sea_orm::UpdateMany<tenant::Entity>, RegistryError> {
        let mut update = tenant::Entity::update_many()
            .col_expr(
                tenant::Column::DbServerId,
                Expr::value(to.server.map(|s| s.as_uuid())),
            )
            .col_expr(tenant::Column::DbName, Expr::value(to.db_name))
            .col_expr(tenant::Column::DbUser, Expr::value(to.db_user))
            .col_expr(tenant::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(tenant::Column::Id.eq(id.as_uuid()));
        if let Some(password) = &to.password {
            let sealed: SealedSecret = self.vault.seal(password, &db_secret_context(id))?;
            update = update
                .col_expr(
                    tenant::Column::DbSecretKeyId,
                    Expr::value(sealed.key_id().to_string()),
                )
                .col_expr(tenant::Column::DbSecret, Expr::value(sealed.into_string()));
        }
        Ok(update)
    }
}

async fn read_back(txn: &DatabaseTransaction, id: TenantId) -> Result<Tenant, RegistryError> {
    tenant::Entity::find_by_id(id.as_uuid())
        .one(txn)
        .await?
        .map(Tenant::from)
        .ok_or_else(|| RegistryError::NotFound {
            what: format!("tenant {id}"),
        })
}
