//! Taking backups. A tenant's database streams from the engine's dump (`pg_dump -Fc`, SQLite's
//! `VACUUM INTO`) through the vault's stream cipher into the backup store, so a dump is never
//! whole in memory nor in plaintext on disk. Each backup is a `backups` row (running →
//! completed, with size, sha256, schema version, key id and format) taken under a recorded
//! `tenant.backup` operation; a failed one leaves no file behind, and a crashed one is closed
//! by `reconcile`.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use tenantry_backup::Engine;
use tenantry_backup::archive::{self, HeaderFields};
use tenantry_backup::store::{BackupStore, S3Options};
use tenantry_core::TenantRef;
use tenantry_registry::{
    Backup, BackupDone, BackupKind, NewBackup, OperationKind, Origin, Tenant, TenantStatus,
};
use uuid::Uuid;

use crate::{ProvisionError, Provisioner};

/// Bytes in flight between a dump and its encryption.
pub(crate) const PIPE_BYTES: usize = 256 * 1024;

/// Where backups go and how they are made.
#[derive(Debug, Clone)]
pub struct BackupConfig {
    /// A local directory or `s3://bucket/prefix`.
    pub target: String,
    pub s3: S3Options,
    /// Where `pg_dump` and `pg_restore` live (`None`: looked up for each server's version).
    pub pg_bin: Option<PathBuf>,
    /// How long a deleted tenant's final backup keeps it recoverable.
    pub deleted_retention: chrono::Duration,
    /// How long a fence stands before a database is switched, so every `serve` has stopped
    /// using the old one (the change feed's delivery bound).
    pub fence_settle: std::time::Duration,
}

impl BackupConfig {
    /// The embedded default: `<data_dir>/backups`, deleted tenants recoverable for 7 days.
    pub fn local(data_dir: &std::path::Path) -> Self {
        Self {
            target: data_dir.join("backups").to_string_lossy().into_owned(),
            s3: S3Options::default(),
            pg_bin: None,
            deleted_retention: chrono::Duration::days(7),
            fence_settle: std::time::Duration::from_millis(1200),
        }
    }
}

impl Provisioner {
    pub fn with_backups(mut self, config: BackupConfig) -> Self {
        self.backups = Arc::new(config);
        self
    }

    pub fn backup_config(&self) -> &BackupConfig {
        &self.backups
    }

    /// Backs a tenant up now (`kind` manual, or final before a deletion).
    pub async fn backup(
        &self,
        reference: &TenantRef,
        origin: &Origin,
    ) -> Result<Backup, ProvisionError> {
        let tenant = self.registry.find_tenant(reference).await?;
        let mut taken = None;
        let allowed = [TenantStatus::Active, TenantStatus::Suspended];
        let params = json!({ "subdomain": tenant.subdomain });
        self.exclusively_with(
            OperationKind::TenantBackup,
            &tenant,
            &allowed,
            params,
            origin,
            async |tenant, op| {
                let row = self
                    .start_backup_row(tenant, BackupKind::Manual, Some(op))
                    .await?;
                taken = Some(self.fill_backup(tenant, row, None).await?);
                Ok(())
            },
        )
        .await?;
        Ok(taken.expect("a successful backup operation took a backup"))
    }

    /// Takes a backup whose row the scheduler has already claimed (`running`, kind scheduled).
    pub async fn backup_claimed(
        &self,
        tenant: &Tenant,
        row: Backup,
        origin: &Origin,
    ) -> Result<Backup, ProvisionError> {
        let mut taken = None;
        let allowed = [TenantStatus::Active, TenantStatus::Suspended];
        let params = json!({ "subdomain": tenant.subdomain, "backup": row.id });
        let id = row.id;
        let result = self
            .exclusively_with(
                OperationKind::TenantBackup,
                tenant,
                &allowed,
                params,
                origin,
                async |tenant, _| {
                    taken = Some(self.fill_backup(tenant, row, None).await?);
                    Ok(())
                },
            )
            .await;
        if let Err(e) = &result {
            // Refused before it started (busy, deleted meanwhile): the claim must not stay open.
            self.registry
                .fail_backup(id, &crate::error_chain(e))
                .await
                .ok();
        }
        result.map(|()| taken.expect("a successful backup operation took a backup"))
    }

    pub(crate) async fn start_backup_row(
        &self,
        tenant: &Tenant,
        kind: BackupKind,
        operation: Option<Uuid>,
    ) -> Result<Backup, ProvisionError> {
        let id = Uuid::now_v7();
        let store = self.backup_store()?;
        Ok(self
            .registry
            .start_backup(NewBackup {
                id,
                tenant: tenant.id,
                location: store.location(&backup_key(tenant.id, id)),
                kind,
                engine: engine_of(tenant).as_str().to_owned(),
                operation,
            })
            .await?)
    }

    /// Dumps, encrypts and stores the tenant's database into `row`'s location, then completes
    /// the row; on failure the row is marked failed and any partial file is removed.
    pub(crate) async fn fill_backup(
        &self,
        tenant: &Tenant,
        row: Backup,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Backup, ProvisionError> {
        // Opening the configured store creates its directory; the row's location is in it.
        self.backup_store()?;
        let (store, key) = BackupStore::for_location(&row.location, &self.backups.s3)?;
        match self.stream_backup(tenant, &row, &store, &key).await {
            Ok(sealed) => {
                let done = BackupDone {
                    bytes: sealed.bytes,
                    sha256: sealed.sha256,
                    schema_version: tenant.schema_version,
                    key_id: sealed.key_id.to_string(),
                    format_version: i32::try_from(sealed.format_version).unwrap_or(i32::MAX),
                    expires_at,
                };
                let backup = self.registry.complete_backup(row.id, done).await?;
                tracing::info!(tenant = %tenant.subdomain, backup = %row.id, bytes = sealed.bytes, "backup completed");
                Ok(backup)
            }
            Err(e) => {
                if let Err(cleanup) = store.delete(&key).await {
                    tracing::warn!(backup = %row.id, error = %cleanup, "cannot remove a failed backup's file");
                }
                self.registry
                    .fail_backup(row.id, &crate::error_chain(&e))
                    .await?;
                Err(e)
            }
        }
    }

    async fn stream_backup(
        &self,
        tenant: &Tenant,
        row: &Backup,
        store: &BackupStore,
        key: &str,
    ) -> Result<archive::Sealed, ProvisionError> {
        let backend = self.backend(tenant.server).await?;
        let db = Self::tenant_database(tenant)?;
        let header = HeaderFields {
            backup_id: row.id,
            tenant_id: tenant.id.as_uuid(),
            engine: engine_of(tenant),
            schema_version: tenant.schema_version,
            created_at: row.created_at,
        };
        let (mut plain_in, plain_out) = tokio::io::duplex(PIPE_BYTES);
        let mut out = store.writer(key).await?;
        let dump = async {
            backend.dump(&db, &mut plain_in).await?;
            // Dropping our end is the end of the stream for the encryption side.
            drop(plain_in);
            Ok::<_, ProvisionError>(())
        };
        let seal = async {
            archive::seal(self.registry.vault(), header, plain_out, &mut out)
                .await
                .map_err(ProvisionError::from)
        };
        // A failed dump stops the encryption at once: the upload is never completed, and is
        // aborted (an object store would otherwise keep its parts).
        match tokio::try_join!(dump, seal) {
            Ok(((), sealed)) => Ok(sealed),
            Err(e) => {
                if let Err(abort) = out.abort().await {
                    tracing::warn!(backup = %row.id, error = %abort, "cannot abort the unfinished upload");
                }
                Err(e)
            }
        }
    }

    /// The configured store (new backups go there; existing ones are read where they were
    /// written, see [`BackupStore::for_location`]).
    pub(crate) fn backup_store(&self) -> Result<BackupStore, ProvisionError> {
        Ok(BackupStore::open(&self.backups.target, &self.backups.s3)?)
    }
}

/// `<tenant id>_<backup id>.tbk`: one flat namespace (a location is its store plus one name),
/// each tenant's names together and in time order (UUIDv7).
pub(crate) fn backup_key(tenant: tenantry_core::TenantId, backup: Uuid) -> String {
    format!("{tenant}_{backup}.tbk")
}

pub(crate) fn engine_of(tenant: &Tenant) -> Engine {
    if tenant.server.is_some() {
        Engine::Postgres
    } else {
        Engine::Sqlite
    }
}
