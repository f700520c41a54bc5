//! Restoring. A backup is verified whole (sha256 of the file as recorded, then every chunk
//! authenticated) before anything is touched; it is then loaded into a **new** database,
//! migrated up to the current schema and checked, and only then swapped in: a fence makes every
//! `serve` answer 503 for the tenant, the registry pointer moves to the new database (which
//! lifts the fence and drops pooled connections everywhere), and the old database is dropped.
//! Until the swap the tenant serves from its old database, so nobody ever sees a half-restored
//! one. A crash before the swap drops the new database (`reconcile`); after it, the old one.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_backup::archive;
use tenantry_backup::store::BackupStore;
use tenantry_core::{TenantId, TenantRef};
use tenantry_registry::{
    Backup, BackupState, DatabaseLocation, Fence, OperationKind, Origin, RegistryError, Tenant,
    TenantStatus,
};
use uuid::Uuid;

use crate::backend::{DatabaseBackend, DbIdent, TenantDatabase};
use crate::backup::PIPE_BYTES;
use crate::{ProvisionError, Provisioner};

/// A restored tenant and how long the parts took.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub tenant: Tenant,
    pub backup: Uuid,
    /// The schema version the backup was taken at, and the one it was migrated up to.
    pub from_version: Option<i32>,
    pub to_version: Option<i32>,
    /// Verification, loading and migration: the tenant served from its old database meanwhile.
    pub prepare_ms: u64,
    /// Fence to swap: the tenant's requests were answered 503 for this long.
    pub switch_ms: u64,
}

/// What `reconcile` needs to finish or undo a restore, kept in the operation's params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RestoreParams {
    pub tenant_id: Uuid,
    pub subdomain: String,
    pub backup: Uuid,
    pub old_db: String,
    pub new_db: String,
    pub role: Option<String>,
    pub server_id: Option<Uuid>,
}

impl Provisioner {
    /// Restores `backup` (one of this tenant's completed backups) in place of the tenant's
    /// database. The tenant must be active: its role migrates the restored database.
    pub async fn restore(
        &self,
        reference: &TenantRef,
        backup: Uuid,
        origin: &Origin,
    ) -> Result<Restored, ProvisionError> {
        let tenant = self.registry.find_tenant(reference).await?;
        let backup = self.usable_backup(backup, Some(tenant.id)).await?;
        let old = Self::tenant_database(&tenant)?;
        let new = TenantDatabase {
            name: DbIdent::derive(tenant.subdomain.as_str(), TenantId::from(Uuid::new_v4())),
            role: old.role.clone(),
        };
        let params = RestoreParams {
            tenant_id: tenant.id.as_uuid(),
            subdomain: tenant.subdomain.to_string(),
            backup: backup.id,
            old_db: old.name.to_string(),
            new_db: new.name.to_string(),
            role: old.role.as_ref().map(ToString::to_string),
            server_id: tenant.server.map(|s| s.as_uuid()),
        };
        let mut restored = None;
        self.exclusively_with(
            OperationKind::TenantRestore,
            &tenant,
            &[TenantStatus::Active],
            json!(params),
            origin,
            async |tenant, op| {
                let started = Instant::now();
                let result = self
                    .restore_steps(tenant, &backup, &old, &new, origin, op, started)
                    .await;
                match result {
                    Ok(done) => {
                        restored = Some(done);
                        Ok(())
                    }
                    Err(e) => {
                        // Nothing was swapped: the tenant keeps its database, the new one goes.
                        self.undo_restore(&params).await.ok();
                        Err(e)
                    }
                }
            },
        )
        .await?;
        Ok(restored.expect("a successful restore operation restored"))
    }

    #[allow(clippy::too_many_arguments)]
    async fn restore_steps(
        &self,
        tenant: &Tenant,
        backup: &Backup,
        old: &TenantDatabase,
        new: &TenantDatabase,
        origin: &Origin,
        op: Uuid,
        started: Instant,
    ) -> Result<Restored, ProvisionError> {
        let backend = self.backend(tenant.server).await?;
        self.verify_backup(backup).await?;
        self.registry.advance_operation(op, "load").await?;
        self.load_backup(backend.as_ref(), backup, new).await?;
        self.registry.advance_operation(op, "migrate").await?;
        let mut staged = tenant.clone();
        staged.db_name = new.name.to_string();
        let version = self.migrate_loaded(&staged).await?;
        let prepared = started.elapsed();

        self.registry.advance_operation(op, "swap").await?;
        let switch = Instant::now();
        self.registry
            .set_tenant_fence(tenant.id, Some(Fence::Restore))
            .await?;
        tokio::time::sleep(self.backups.fence_settle).await;
        backend.end_sessions(old).await?;
        let audit = origin.entry(
            OperationKind::TenantRestore.as_str(),
            Some(tenant.id),
            json!({
                "subdomain": tenant.subdomain,
                "backup": backup.id,
                "db_name": new.name.as_str(),
                "replaced": old.name.as_str(),
                "operation": op,
            }),
        );
        let location = DatabaseLocation {
            server: tenant.server,
            db_name: new.name.to_string(),
            db_user: tenant.db_user.clone(),
            password: None,
        };
        let tenant = self
            .registry
            .swap_tenant_database(tenant.id, location, version, audit)
            .await?;
        let switched = switch.elapsed();
        self.registry.advance_operation(op, "drop_old").await?;
        // The swap is done: a failure from here on must not undo it; reconcile drops the old
        // database if this does not.
        if let Err(e) = backend.drop_database(old).await {
            tracing::warn!(tenant = %tenant.subdomain, error = %e, "cannot drop the replaced database yet");
        }
        Ok(Restored {
            tenant,
            backup: backup.id,
            from_version: backup.schema_version,
            to_version: version,
            prepare_ms: millis(prepared),
            switch_ms: millis(switched),
        })
    }

    /// A completed backup (of `tenant`, when given), or why it cannot be used.
    pub(crate) async fn usable_backup(
        &self,
        id: Uuid,
        tenant: Option<TenantId>,
    ) -> Result<Backup, ProvisionError> {
        let backup = self
            .registry
            .backup(id)
            .await?
            .filter(|b| tenant.is_none_or(|t| b.tenant == t))
            .ok_or_else(|| RegistryError::NotFound {
                what: format!("backup {id}"),
            })?;
        if backup.state != BackupState::Completed {
            return Err(ProvisionError::BackupUnusable {
                backup: id,
                reason: format!("it is {:?}", backup.state).to_lowercase(),
            });
        }
        Ok(backup)
    }

    /// Reads the whole file: its size and sha256 must be the recorded ones, its header must name
    /// this backup, and every chunk must authenticate. Nothing is written anywhere.
    pub(crate) async fn verify_backup(&self, backup: &Backup) -> Result<(), ProvisionError> {
        let (store, key) = BackupStore::for_location(&backup.location, &self.backups.s3)?;
        let reader = store.reader(&key).await?;
        let opened = archive::verify(self.registry.vault(), reader)
            .await
            .map_err(|e| unusable(backup, e.to_string()))?;
        if Some(opened.sha256.as_str()) != backup.sha256.as_deref()
            || Some(opened.bytes) != backup.bytes
        {
            return Err(unusable(
                backup,
                "its file is not the one recorded (size or sha256 differ)".into(),
            ));
        }
        if opened.header.backup_id != backup.id
            || opened.header.tenant_id != backup.tenant.as_uuid()
        {
            return Err(unusable(
                backup,
                "its file belongs to another backup".into(),
            ));
        }
        Ok(())
    }

    /// Loads a verified backup into the new database `db` (created here on PostgreSQL).
    pub(crate) async fn load_backup(
        &self,
        backend: &dyn DatabaseBackend,
        backup: &Backup,
        db: &TenantDatabase,
    ) -> Result<(), ProvisionError> {
        let engine = match backend.dialect() {
            tenantry_migrate::Dialect::Postgres => tenantry_backup::Engine::Postgres,
            tenantry_migrate::Dialect::Sqlite => tenantry_backup::Engine::Sqlite,
        };
        if backup.engine.as_deref() != Some(engine.as_str()) {
            return Err(unusable(
                backup,
                format!(
                    "it is a {} backup; this database is {}",
                    backup.engine.as_deref().unwrap_or("unknown"),
                    engine.as_str()
                ),
            ));
        }
        if engine == tenantry_backup::Engine::Postgres {
            backend.ensure_database(db).await?;
        }
        let (store, key) = BackupStore::for_location(&backup.location, &self.backups.s3)?;
        let reader = store.reader(&key).await?;
        let (mut plain_in, mut plain_out) = tokio::io::duplex(PIPE_BYTES);
        let open = async {
            let opened = archive::open(self.registry.vault(), reader, &mut plain_in)
                .await
                .map_err(|e| unusable(backup, e.to_string()))?;
            drop(plain_in);
            Ok::<_, ProvisionError>(opened)
        };
        let load = async {
            backend
                .load(db, &mut plain_out)
                .await
                .map_err(ProvisionError::from)
        };
        tokio::try_join!(open, load)?;
        Ok(())
    }

    /// Migrates a freshly loaded database (`staged` points at it) up to the current schema and
    /// checks it opens at that version. Returns the version.
    pub(crate) async fn migrate_loaded(
        &self,
        staged: &Tenant,
    ) -> Result<Option<i32>, ProvisionError> {
        let conn = self.connect_new_tenant(staged).await?;
        let report = tenantry_migrate::migrate(&conn, self.migrations).await;
        let report = match report {
            Ok(report) => report,
            Err(e) => {
                conn.close().await.ok();
                return Err(e.into());
            }
        };
        self.close_new_tenant(staged, conn).await?;
        let latest = self.latest_version_for(staged)?;
        if report.current_version != latest {
            return Err(ProvisionError::BackupUnusable {
                backup: Uuid::nil(),
                reason: format!(
                    "the restored database is at schema {:?}, not {latest:?}",
                    report.current_version
                ),
            });
        }
        Ok(report.current_version)
    }

    /// Drops a restore's new database (nothing was swapped) and lifts any fence. Idempotent.
    pub(crate) async fn undo_restore(&self, params: &RestoreParams) -> Result<(), ProvisionError> {
        let backend = self
            .backend(params.server_id.map(tenantry_core::DbServerId::from))
            .await?;
        let new = restore_database(&params.new_db, params.role.as_deref())?;
        backend.end_sessions(&new).await.ok();
        backend.drop_database(&new).await?;
        if let Some(tenant) = self.registry.tenant(params.tenant_id.into()).await?
            && tenant.is_live()
        {
            self.registry.set_tenant_fence(tenant.id, None).await?;
        }
        Ok(())
    }
}

pub(crate) fn restore_database(
    name: &str,
    role: Option<&str>,
) -> Result<TenantDatabase, ProvisionError> {
    let parse = |name: &str| {
        DbIdent::parse(name).map_err(|e| {
            ProvisionError::Registry(RegistryError::Invalid {
                what: format!("operation params: {e}"),
            })
        })
    };
    Ok(TenantDatabase {
        name: parse(name)?,
        role: role.map(parse).transpose()?,
    })
}

fn unusable(backup: &Backup, reason: String) -> ProvisionError {
    ProvisionError::BackupUnusable {
        backup: backup.id,
        reason,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
