//! The master registry: every tenant, its status, plan and (sealed) database credentials, the
//! database servers, operators, audit trail, backups and operations.
//!
//! [`Registry`] is the only door to the master database. Its methods are grouped by table in the
//! modules below; each returns [`RegistryError`] and hands out domain types ([`Tenant`],
//! [`Server`], [`Admin`], [`Operation`], [`AuditRecord`], [`Domain`]), never database rows. Secrets go in and out through the vault, so the
//! master only ever holds ciphertext. Mutations that caches in other processes depend on also
//! append to the change feed in the same transaction (`changes`).

mod admin_update;
mod admins;
mod audit;
mod backups;
mod changes;
mod claim;
mod domains;
pub(crate) mod entity;
mod error;
mod idempotency;
mod model;
mod operations;
mod plans;
mod queries;
mod servers;
mod spares;
mod storage;
mod tenant_update;
mod tenants;
mod tokens;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use secrecy::ExposeSecret;
use sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::Vault;
use tenantry_migrate::MigrationSource;

pub use admin_update::AdminPatch;
pub use audit::{Actor, AuditEntry, AuditPage, AuditQuery, AuditRecord, Origin};
pub use backups::{Backup, BackupDone, DatabaseLocation, DueBackups, NewBackup};
pub use changes::{
    CHANGE_CHANNEL, Change, ChangeBatch, ChangeKind, ChangeListener, DirectoryEntry,
};
pub use domains::NewDomain;
pub use entity::enums::{
    AdminRole, BackupKind, BackupState, Fence, OperationState, ServerDialect, ServerState,
    SpareState, StorageLevel, TenantStatus,
};
pub use error::RegistryError;
pub use idempotency::{IN_FLIGHT_LEASE, IdempotencyClaim, MAX_IDEMPOTENCY_KEY_BYTES};
pub use model::{Admin, Domain, Server, Tenant};
pub use operations::{Operation, OperationKind, OperationQuery, UnknownOperationKind};
pub use plans::Plan;
pub use queries::{TenantCursor, TenantPage, TenantQuery};
pub use servers::{NewServer, admin_secret_context};
pub use spares::{Spare, SpareWanted};
pub use tenant_update::TenantPatch;
pub use tenantry_migrate::{Dialect, MigrationReport};
pub use tenants::{NewTenant, Reserved, db_secret_context};
pub use tokens::{ApiToken, NewApiToken};

/// The master registry's migrations, both dialects (`migrations-master/`).
pub static MIGRATIONS: MigrationSource = tenantry_migrate::embed!("../../migrations-master");

/// Where the master stands relative to the migrations built into this binary.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MigrationStatus {
    pub applied: Vec<i32>,
    pub pending: Vec<i32>,
}

/// A handle on the master database. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    db: DatabaseConnection,
    vault: Arc<Vault>,
}

impl Registry {
    /// Connects to the master (creating the SQLite file and its directory if needed). Does not
    /// migrate: call [`Registry::migrate`] or check [`Registry::migration_status`].
    pub async fn connect(url: &DatabaseUrl, vault: Arc<Vault>) -> Result<Self, RegistryError> {
        if let DatabaseUrl::Sqlite(path) = url
            && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| RegistryError::Connect {
                url: url.redacted(),
                message: format!("cannot create directory {}: {e}", dir.display()),
            })?;
        }
        let mut options = ConnectOptions::new(url.connect_url().expose_secret().to_owned());
        options
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5))
            .max_connections(8)
            .sqlx_logging(false)
            // Per connection, so every pooled connection gets them. WAL lets readers proceed
            // during writes; with WAL, `synchronous = NORMAL` never corrupts and loses at most the
            // last commits on power loss (not on a crash of the process), which `reconcile`
            // reports as drift — and it makes each registry commit several times cheaper.
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5))
            });
        if let DatabaseUrl::Sqlite(_) = url {
            // A local file cannot have dropped the connection: skip sqlx's ping before every
            // acquire (a round trip through the worker thread each time).
            options.test_before_acquire(false);
        }
        let db = Database::connect(options)
            .await
            .map_err(|e| RegistryError::Connect {
                url: url.redacted(),
                message: e.to_string(),
            })?;
        Ok(Self { db, vault })
    }

    /// Applies pending master migrations. Idempotent: a second run applies nothing.
    pub async fn migrate(&self) -> Result<MigrationReport, RegistryError> {
        Ok(tenantry_migrate::migrate(&self.db, &MIGRATIONS).await?)
    }

    pub async fn migration_status(&self) -> Result<MigrationStatus, RegistryError> {
        Ok(MigrationStatus {
            applied: tenantry_migrate::applied_versions(&self.db).await?,
            pending: tenantry_migrate::pending_versions(&self.db, &MIGRATIONS).await?,
        })
    }

    /// Round trip to the master (for `doctor` and `/readyz`).
    pub async fn ping(&self) -> Result<(), RegistryError> {
        Ok(self.db.ping().await?)
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The underlying connection, for crates that own tables of their own logic (provisioning).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }
}
