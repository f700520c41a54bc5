//! Suspend, reactivate and delete. The registry status is the truth; the backend's login state
//! follows it, and `reconcile` re-applies it after a crash.

use serde_json::json;
use tenantry_core::TenantRef;
use tenantry_registry::{
    AuditEntry, BackupKind, OperationKind, OperationState, Origin, Tenant, TenantStatus,
};

use crate::backend::{DatabaseBackend, Login, TenantDatabase};
use crate::fleet::{FleetOutcome, TenantMigration};
use crate::heartbeat::{HEARTBEAT_INTERVAL, Heartbeat};
use crate::{ProvisionError, Provisioner};

/// Whether a deletion backs the tenant up first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalBackup {
    Take,
    /// `--no-backup`: the data is gone for good.
    Skip,
}

/// A reactivated tenant, and the schema catch-up it needed.
#[derive(Debug, Clone)]
pub struct Reactivated {
    /// The tenant as it is now: active, with `schema_version` and `migration_error` as the
    /// catch-up left them.
    pub tenant: Tenant,
    /// Fleet migration skips suspended tenants (their role cannot log in), so a tenant may come
    /// back behind the latest schema; it is migrated at once. `None` when it was up to date.
    pub migration: Option<TenantMigration>,
}

impl Reactivated {
    /// The catch-up migration failed: the tenant is active, but on an older schema.
    pub fn migration_failed(&self) -> bool {
        self.migration
            .as_ref()
            .is_some_and(|m| matches!(m.outcome, FleetOutcome::Failed(_)))
    }
}

impl Provisioner {
    /// Suspends an active tenant: status `suspended` with `reason`, its role can no longer log in
    /// and its open sessions end. Suspending a suspended tenant updates the reason.
    pub async fn suspend(
        &self,
        reference: &TenantRef,
        reason: &str,
        origin: &Origin,
    ) -> Result<Tenant, ProvisionError> {
        let tenant = self.registry.find_tenant(reference).await?;
        let allowed = [TenantStatus::Active, TenantStatus::Suspended];
        let id = tenant.id;
        let kind = OperationKind::TenantSuspend;
        self.exclusively(kind, &tenant, &allowed, origin, async |tenant| {
            let detail = json!({ "subdomain": tenant.subdomain, "reason": reason });
            let audit = origin.entry(kind.as_str(), Some(id), detail);
            self.registry
                .set_tenant_status(id, TenantStatus::Suspended, Some(reason.to_owned()), audit)
                .await?;
            self.apply_login(tenant, Login::Refused).await
        })
        .await?;
        Ok(self.registry.find_tenant(&id.into()).await?)
    }

    /// Lifts a suspension: the role may log in again, status `active`. A tenant behind the
    /// latest schema is then migrated (and the outcome recorded, as fleet migration does); a
    /// failed migration leaves the tenant active and is reported in [`Reactivated::migration`].
    /// Reactivating an active tenant retries a catch-up that failed before.
    pub async fn reactivate(
        &self,
        reference: &TenantRef,
        origin: &Origin,
    ) -> Result<Reactivated, ProvisionError> {
        let tenant = self.registry.find_tenant(reference).await?;
        let allowed = [TenantStatus::Suspended, TenantStatus::Active];
        let latest = self.latest_version_for(&tenant)?;
        let id = tenant.id;
        let kind = OperationKind::TenantReactivate;
        self.exclusively(kind, &tenant, &allowed, origin, async |tenant| {
            self.apply_login(tenant, Login::Allowed).await?;
            let detail = json!({ "subdomain": tenant.subdomain });
            let audit = origin.entry(kind.as_str(), Some(id), detail);
            self.registry
                .set_tenant_status(id, TenantStatus::Active, None, audit)
                .await?;
            Ok(())
        })
        .await?;
        let tenant = self.registry.find_tenant(&id.into()).await?;
        if tenant.schema_version >= latest {
            return Ok(Reactivated {
                tenant,
                migration: None,
            });
        }
        let migration = self.migrate_recorded(&tenant, latest).await;
        if migration.outcome == FleetOutcome::Migrated {
            tracing::info!(tenant = %tenant.subdomain, from = ?migration.from, to = ?migration.to, "reactivated tenant caught up with the schema");
        }
        Ok(Reactivated {
            tenant: self.registry.find_tenant(&id.into()).await?,
            migration: Some(migration),
        })
    }

    /// Deletes a tenant's database and role and leaves a tombstone row (status `deleted`), after
    /// which the subdomain may be reused. `confirm` must equal the tenant's subdomain. A final
    /// backup is taken first (see [`Self::delete_with`]).
    pub async fn delete(
        &self,
        reference: &TenantRef,
        confirm: &str,
        origin: &Origin,
    ) -> Result<Tenant, ProvisionError> {
        self.delete_with(reference, confirm, FinalBackup::Take, origin)
            .await
    }

    /// Like [`Self::delete`]. With [`FinalBackup::Take`] an active or suspended tenant is backed
    /// up first, under the same operation, and stays recoverable ([`Self::recover`]) for
    /// `backups.deleted_retention`; a failed backup stops the deletion.
    pub async fn delete_with(
        &self,
        reference: &TenantRef,
        confirm: &str,
        final_backup: FinalBackup,
        origin: &Origin,
    ) -> Result<Tenant, ProvisionError> {
        let tenant = self.registry.find_tenant(reference).await?;
        if confirm != tenant.subdomain.as_str() {
            return Err(ProvisionError::Confirmation {
                given: confirm.to_owned(),
                expected: tenant.subdomain.to_string(),
            });
        }
        let allowed = [
            TenantStatus::Active,
            TenantStatus::Suspended,
            TenantStatus::Failed,
        ];
        let id = tenant.id;
        let kind = OperationKind::TenantDelete;
        let params = json!({
            "subdomain": tenant.subdomain,
            "final_backup": final_backup == FinalBackup::Take,
        });
        self.exclusively_with(
            kind,
            &tenant,
            &allowed,
            params,
            origin,
            async |tenant, op| {
                let mut detail = deletion_detail(tenant);
                // A database already gone (a deletion interrupted half-way, drift) has
                // nothing to back up: the deletion finishes without one, and says so.
                let backed_up = final_backup == FinalBackup::Take
                    && tenant.status != TenantStatus::Failed
                    && self.database_present(tenant).await?;
                if final_backup == FinalBackup::Take && !backed_up {
                    detail["final_backup"] = json!(null);
                }
                if backed_up {
                    let row = self
                        .start_backup_row(tenant, BackupKind::Final, Some(op))
                        .await?;
                    let expires = chrono::Utc::now() + self.backups.deleted_retention;
                    let backup = self.fill_backup(tenant, row, Some(expires)).await?;
                    detail["final_backup"] = json!(backup.id);
                    detail["recoverable_until"] = json!(expires);
                }
                let audit = origin.entry(kind.as_str(), Some(id), detail);
                self.finish_delete(tenant, audit).await
            },
        )
        .await?;
        Ok(self.registry.tenant(id).await?.unwrap_or(tenant))
    }

    /// Whether the tenant's database exists on its backend.
    async fn database_present(&self, tenant: &Tenant) -> Result<bool, ProvisionError> {
        let db = Self::tenant_database(tenant)?;
        Ok(self
            .backend(tenant.server)
            .await?
            .database_exists(&db)
            .await?)
    }

    /// Runs `body` as *the* running operation on `tenant` (`kind`, recorded in `operations` with
    /// its `actor`; its step is the action's verb):
    /// while another one runs on it — here or in another process — this one is refused with
    /// `Busy` (the partial unique index on running operations decides). Under the operation the
    /// tenant is read again and its status checked against `allowed`, so an operation that
    /// finished just before cannot be overridden by a stale read. An error in `body` closes the
    /// operation as failed and is returned (the action may be retried); a crash leaves it running
    /// for `reconcile`.
    async fn exclusively(
        &self,
        kind: OperationKind,
        tenant: &Tenant,
        allowed: &[TenantStatus],
        origin: &Origin,
        body: impl AsyncFnOnce(&Tenant) -> Result<(), ProvisionError>,
    ) -> Result<(), ProvisionError> {
        self.exclusively_with(
            kind,
            tenant,
            allowed,
            json!({}),
            origin,
            async |tenant, _| body(tenant).await,
        )
        .await
    }

    /// [`Self::exclusively`] with `params` recorded in the operation (what `reconcile` needs to
    /// resolve it after a crash); `body` also gets the operation's id.
    pub(crate) async fn exclusively_with(
        &self,
        kind: OperationKind,
        tenant: &Tenant,
        allowed: &[TenantStatus],
        params: serde_json::Value,
        origin: &Origin,
        body: impl AsyncFnOnce(&Tenant, uuid::Uuid) -> Result<(), ProvisionError>,
    ) -> Result<(), ProvisionError> {
        let action = verb(kind);
        require(tenant, allowed, action)?;
        let id = tenant.id;
        let op = self
            .registry
            .start_operation(kind, Some(id), action, params, Some(&origin.actor))
            .await?;
        crate::operation_started(op.id);
        let heartbeat = Heartbeat::start(self.registry.clone(), op.id, HEARTBEAT_INTERVAL);
        let result = async {
            let current = self.registry.find_tenant(&id.into()).await?;
            require(&current, allowed, action)?;
            body(&current, op.id).await
        }
        .await;
        drop(heartbeat);
        let (state, error) = match &result {
            Ok(()) => (OperationState::Succeeded, None),
            Err(e) => (OperationState::Failed, Some(crate::error_chain(e))),
        };
        self.registry.finish_operation(op.id, state, error).await?;
        result
    }

    /// The idempotent body of a deletion, shared with `reconcile`. `audit` is written with the
    /// tombstone, in its transaction.
    pub(crate) async fn finish_delete(
        &self,
        tenant: &Tenant,
        audit: AuditEntry,
    ) -> Result<(), ProvisionError> {
        let backend = self.backend(tenant.server).await?;
        let db = Self::tenant_database(tenant)?;
        if let Err(e) = backend.set_login(&db, Login::Refused).await {
            // No role left to refuse: an earlier attempt (crashed, or running concurrently) got
            // past `drop_role`, and with it past `drop_database`. Only the status is left to set.
            if role_exists(backend.as_ref(), &db).await? {
                return Err(e.into());
            }
        }
        backend.drop_database(&db).await?;
        backend.drop_role(&db).await?;
        self.registry
            .set_tenant_status(tenant.id, TenantStatus::Deleted, None, audit)
            .await?;
        Ok(())
    }

    pub(crate) async fn apply_login(
        &self,
        tenant: &Tenant,
        login: Login,
    ) -> Result<(), ProvisionError> {
        let backend = self.backend(tenant.server).await?;
        backend
            .set_login(&Self::tenant_database(tenant)?, login)
            .await?;
        Ok(())
    }
}

/// What a deletion's audit row names: the subdomain and the dropped database.
pub(crate) fn deletion_detail(tenant: &Tenant) -> serde_json::Value {
    json!({ "subdomain": tenant.subdomain, "db_name": tenant.db_name })
}

async fn role_exists(
    backend: &dyn DatabaseBackend,
    db: &TenantDatabase,
) -> Result<bool, ProvisionError> {
    let Some(role) = &db.role else {
        return Ok(false);
    };
    Ok(backend
        .list_roles()
        .await?
        .iter()
        .any(|name| name == role.as_str()))
}

/// The verb an operation's kind is refused and recorded (as its step) with.
fn verb(kind: OperationKind) -> &'static str {
    match kind {
        OperationKind::TenantSuspend => "suspend",
        OperationKind::TenantReactivate => "reactivate",
        OperationKind::TenantDelete => "delete",
        OperationKind::TenantBackup => "back up",
        OperationKind::TenantRestore => "restore",
        other => other.as_str(),
    }
}

pub(crate) fn require(
    tenant: &Tenant,
    allowed: &[TenantStatus],
    action: &'static str,
) -> Result<(), ProvisionError> {
    if allowed.contains(&tenant.status) {
        Ok(())
    } else {
        Err(ProvisionError::InvalidState {
            subdomain: tenant.subdomain.to_string(),
            status: format!("{:?}", tenant.status).to_lowercase(),
            action,
        })
    }
}
