use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    Set, TransactionTrait,
};
use secrecy::SecretString;
use tenantry_core::ids::{DbServerId, PlanId, Subdomain, TenantId, TenantRef};
use tenantry_core::vault::{SealedSecret, SecretContext};

use crate::changes::{ChangeKind, record};
use crate::entity::tenant;
use crate::spares::{Spare, SpareWanted};
use crate::{
    Actor, AuditEntry, Operation, OperationKind, OperationState, Registry, RegistryError,
    StorageLevel, Tenant, TenantStatus,
};

/// The vault context of a tenant role's password: bound to the tenant row and the field.
pub fn db_secret_context(id: TenantId) -> SecretContext {
    SecretContext::new("tenants", id, "db_password")
}

/// A tenant row as first written, in status `provisioning`. Database names are derived by the
/// provisioner; the role password is sealed here, before the row is written.
#[derive(Debug)]
pub struct NewTenant {
    pub id: TenantId,
    pub subdomain: Subdomain,
    pub name: String,
    pub plan: PlanId,
    /// The PostgreSQL server to hold its database; `None` = a local SQLite file.
    pub server: Option<DbServerId>,
    pub db_name: String,
    pub db_user: Option<String>,
    pub db_password: Option<SecretString>,
    pub storage_limit_mb: Option<i64>,
}

/// What [`Registry::reserve_tenant_with_operation`] wrote.
#[derive(Debug)]
pub struct Reserved {
    pub tenant: Tenant,
    pub operation: Operation,
    /// The warm spare claimed for the tenant, if one was wanted and ready.
    pub spare: Option<Spare>,
}

impl Registry {
    /// Writes the tenant row in status `provisioning`. A live tenant with the same subdomain →
    /// `Conflict` (the partial unique index decides, so two concurrent creates cannot both win).
    pub async fn reserve_tenant(&self, new: NewTenant) -> Result<Tenant, RegistryError> {
        let subdomain = new.subdomain.clone();
        let row = self.provisioning_row(new)?;
        let txn = self.db.begin().await?;
        let tenant = row
            .insert(&txn)
            .await
            .map_err(|e| RegistryError::conflict_or_db(e, || format!("tenant {subdomain}")))?;
        record(&txn, tenant.id.into(), None, ChangeKind::Created).await?;
        txn.commit().await?;
        Ok(tenant.into())
    }

    /// Writes the operation that records a creation and the tenant row it reserves, in one
    /// transaction (one commit): a conflicting subdomain leaves neither behind. With `spare`,
    /// the same transaction first claims a ready spare for the tenant, if there is one, so a
    /// refused reservation never holds a spare; `params` gets the claimed spare to record it.
    pub async fn reserve_tenant_with_operation(
        &self,
        new: NewTenant,
        kind: OperationKind,
        step: &str,
        params: impl FnOnce(Option<&Spare>) -> serde_json::Value,
        actor: Option<&Actor>,
        spare: Option<SpareWanted<'_>>,
    ) -> Result<Reserved, RegistryError> {
        let subdomain = new.subdomain.clone();
        let id = new.id;
        let row = self.provisioning_row(new)?;
        // SQLite: the single writer from the start, since the claim reads before it writes.
        let txn = match self.db.get_database_backend() {
            DbBackend::Sqlite => self.begin_claim().await?,
            _ => self.db.begin().await?,
        };
        let spare = match spare {
            Some(wanted) => crate::spares::claim(&txn, &wanted, id).await?,
            None => None,
        };
        let params = params(spare.as_ref());
        let operation = crate::operations::new_operation(kind, Some(id), step, params, actor);
        let operation = operation.insert(&txn).await?;
        let tenant = row
            .insert(&txn)
            .await
            .map_err(|e| RegistryError::conflict_or_db(e, || format!("tenant {subdomain}")))?;
        record(&txn, tenant.id.into(), None, ChangeKind::Created).await?;
        txn.commit().await?;
        Ok(Reserved {
            tenant: tenant.into(),
            operation: operation.try_into()?,
            spare,
        })
    }

    /// The row of a tenant being provisioned, its role password sealed to the row.
    fn provisioning_row(&self, new: NewTenant) -> Result<tenant::ActiveModel, RegistryError> {
        let sealed: Option<SealedSecret> = new
            .db_password
            .as_ref()
            .map(|p| self.vault.seal(p, &db_secret_context(new.id)))
            .transpose()?;
        let now = Utc::now();
        Ok(tenant::ActiveModel {
            id: Set(new.id.as_uuid()),
            subdomain: Set(new.subdomain.as_str().to_owned()),
            name: Set(new.name),
            status: Set(TenantStatus::Provisioning),
            status_reason: Set(None),
            plan_id: Set(new.plan.as_str().to_owned()),
            db_server_id: Set(new.server.map(|s| s.as_uuid())),
            db_name: Set(new.db_name),
            db_user: Set(new.db_user),
            db_secret_key_id: Set(sealed.as_ref().map(|s| s.key_id().to_string())),
            db_secret: Set(sealed.map(SealedSecret::into_string)),
            schema_version: Set(None),
            migration_error: Set(None),
            storage_limit_mb: Set(new.storage_limit_mb),
            features: Set(serde_json::json!({})),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
            fence: Set(None),
            storage_used_bytes: Set(None),
            storage_measured_at: Set(None),
            storage_level: Set(StorageLevel::Ok),
        })
    }

    /// The tenant with this id, in any status (a deleted one is a tombstone).
    pub async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>, RegistryError> {
        Ok(tenant::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await?
            .map(Tenant::from))
    }

    /// The live (not deleted) tenant with this subdomain.
    pub async fn live_tenant_by_subdomain(
        &self,
        subdomain: &Subdomain,
    ) -> Result<Option<Tenant>, RegistryError> {
        self.live_tenant_by_subdomain_text(subdomain.as_str()).await
    }

    async fn live_tenant_by_subdomain_text(
        &self,
        subdomain: &str,
    ) -> Result<Option<Tenant>, RegistryError> {
        Ok(tenant::Entity::find()
            .filter(tenant::Column::Subdomain.eq(subdomain))
            .filter(tenant::Column::Status.ne(TenantStatus::Deleted))
            .one(&self.db)
            .await?
            .map(Tenant::from))
    }

    /// Looks a tenant up by id (any status) or by live subdomain, as operators name it (`T` in
    /// the CLI). Not found → `NotFound`.
    pub async fn find_tenant(&self, reference: &TenantRef) -> Result<Tenant, RegistryError> {
        let found = match reference {
            TenantRef::Id(id) => self.tenant(*id).await?,
            TenantRef::Subdomain(s) => self.live_tenant_by_subdomain_text(s).await?,
        };
        found.ok_or_else(|| RegistryError::NotFound {
            what: format!("tenant {reference}"),
        })
    }

    /// Tenants, oldest first; `status = None` lists every live (not deleted) tenant.
    pub async fn list_tenants(
        &self,
        status: Option<TenantStatus>,
    ) -> Result<Vec<Tenant>, RegistryError> {
        let query = tenant::Entity::find()
            .order_by_asc(tenant::Column::CreatedAt)
            .order_by_asc(tenant::Column::Id);
        let query = match status {
            Some(status) => query.filter(tenant::Column::Status.eq(status)),
            None => query.filter(tenant::Column::Status.ne(TenantStatus::Deleted)),
        };
        Ok(query
            .all(&self.db)
            .await?
            .into_iter()
            .map(Tenant::from)
            .collect())
    }

    pub async fn count_tenants_on_server(&self, server: DbServerId) -> Result<u64, RegistryError> {
        Ok(tenant::Entity::find()
            .filter(tenant::Column::DbServerId.eq(server.as_uuid()))
            .filter(tenant::Column::Status.ne(TenantStatus::Deleted))
            .count(&self.db)
            .await?)
    }

    /// The live tenants whose database is on `server`, oldest first.
    pub async fn tenants_on_server(
        &self,
        server: DbServerId,
    ) -> Result<Vec<Tenant>, RegistryError> {
        let rows = tenant::Entity::find()
            .filter(tenant::Column::DbServerId.eq(server.as_uuid()))
            .filter(tenant::Column::Status.ne(TenantStatus::Deleted))
            .order_by_asc(tenant::Column::CreatedAt)
            .order_by_asc(tenant::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(Tenant::from).collect())
    }

    /// Sets status and reason (the reason is cleared when `None`) and writes `audit`, in one
    /// transaction: the change and its audit row commit together or not at all. Unknown tenant
    /// → `NotFound` (and no audit row).
    pub async fn set_tenant_status(
        &self,
        id: TenantId,
        status: TenantStatus,
        reason: Option<String>,
        audit: AuditEntry,
    ) -> Result<(), RegistryError> {
        let now = Utc::now();
        let mut update = tenant::Entity::update_many()
            .col_expr(tenant::Column::Status, Expr::value(status))
            .col_expr(tenant::Column::StatusReason, Expr::value(reason))
            .col_expr(tenant::Column::UpdatedAt, Expr::value(now));
        if status == TenantStatus::Deleted {
            update = update.col_expr(tenant::Column::DeletedAt, Expr::value(now));
        }
        // Deletion releases the tenant's domains in the same commit as the tombstone.
        let txn = self.db.begin().await?;
        let result = update
            .filter(tenant::Column::Id.eq(id.as_uuid()))
            .exec(&txn)
            .await?;
        if result.rows_affected == 0 {
            return Err(RegistryError::NotFound {
                what: format!("tenant {id}"),
            });
        }
        let kind = if status == TenantStatus::Deleted {
            crate::domains::release_domains(&txn, id).await?;
            ChangeKind::Deleted
        } else {
            ChangeKind::Status
        };
        crate::audit::insert(&txn, audit).await?;
        record(&txn, id, None, kind).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Records the outcome of a migration attempt: the version the tenant's database is at and
    /// the error, if it failed (cleared on success).
    pub async fn record_schema_version(
        &self,
        id: TenantId,
        version: Option<i32>,
        error: Option<String>,
    ) -> Result<(), RegistryError> {
        tenant::Entity::update_many()
            .col_expr(tenant::Column::SchemaVersion, Expr::value(version))
            .col_expr(tenant::Column::MigrationError, Expr::value(error))
            .col_expr(tenant::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(tenant::Column::Id.eq(id.as_uuid()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Activates a provisioned tenant in one transaction: its schema version, its audit row, the
    /// status `active` and, when given, the end (`succeeded`) of the operation that provisioned
    /// it become visible together, for one commit. Returns the tenant as it now is.
    pub async fn activate_tenant(
        &self,
        id: TenantId,
        schema_version: Option<i32>,
        audit: AuditEntry,
        operation: Option<uuid::Uuid>,
    ) -> Result<Tenant, RegistryError> {
        let txn = self.db.begin().await?;
        let activated = tenant::Entity::update_many()
            .col_expr(tenant::Column::Status, Expr::value(TenantStatus::Active))
            .col_expr(tenant::Column::SchemaVersion, Expr::value(schema_version))
            .col_expr(
                tenant::Column::MigrationError,
                Expr::value(Option::<String>::None),
            )
            .col_expr(tenant::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(tenant::Column::Id.eq(id.as_uuid()))
            .filter(tenant::Column::Status.eq(TenantStatus::Provisioning))
            .exec(&txn)
            .await?
            .rows_affected
            > 0;
        crate::audit::insert(&txn, audit).await?;
        if activated {
            record(&txn, id, None, ChangeKind::Status).await?;
        }
        if let Some(operation) = operation {
            crate::operations::finish(&txn, operation, OperationState::Succeeded, None).await?;
        }
        let tenant = tenant::Entity::find_by_id(id.as_uuid())
            .one(&txn)
            .await?
            .ok_or_else(|| RegistryError::NotFound {
                what: format!("tenant {id}"),
            })?;
        txn.commit().await?;
        Ok(tenant.into())
    }

    /// Removes a tenant row that never became active (rollback of a failed provisioning).
    /// Refuses to touch a row in any other status.
    pub async fn remove_unprovisioned_tenant(&self, id: TenantId) -> Result<bool, RegistryError> {
        let txn = self.db.begin().await?;
        let removed = tenant::Entity::delete_many()
            .filter(tenant::Column::Id.eq(id.as_uuid()))
            .filter(tenant::Column::Status.eq(TenantStatus::Provisioning))
            .exec(&txn)
            .await?
            .rows_affected
            > 0;
        if removed {
            record(&txn, id, None, ChangeKind::Deleted).await?;
        }
        txn.commit().await?;
        Ok(removed)
    }

    /// Opens the tenant role's sealed password, if it has one.
    pub fn tenant_db_password(
        &self,
        tenant: &Tenant,
    ) -> Result<Option<SecretString>, RegistryError> {
        tenant
            .db_secret
            .0
            .as_deref()
            .map(|sealed| self.vault.open(sealed, &db_secret_context(tenant.id)))
            .transpose()
            .map_err(Into::into)
    }
}
