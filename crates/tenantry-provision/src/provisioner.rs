use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};
use secrecy::ExposeSecret;
use sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use tenantry_core::DbServerId;
use tenantry_migrate::MigrationSource;
use tenantry_registry::{Registry, RegistryError, Tenant};

use crate::backend::postgres::PostgresBackend;
use crate::backend::sqlite::SqliteBackend;
use crate::backend::{DatabaseBackend, DbIdent, TenantDatabase};
use crate::{ProvisionError, Step};

/// Creates, changes and deletes tenant databases. Cheap to share behind an `Arc`; holds one
/// small admin pool per PostgreSQL server it has touched.
pub struct Provisioner {
    pub(crate) registry: Registry,
    data_dir: std::path::PathBuf,
    sqlite: Arc<SqliteBackend>,
    servers: Mutex<HashMap<DbServerId, Arc<PostgresBackend>>>,
    pub(crate) migrations: &'static MigrationSource,
    pub(crate) reserved_subdomains: Vec<String>,
    pub(crate) failpoint: Option<Step>,
    pub(crate) backups: Arc<crate::BackupConfig>,
}

impl Provisioner {
    /// SQLite tenants live in `<data_dir>/tenants/`.
    pub fn new(registry: Registry, data_dir: &Path) -> Self {
        let migrations = &tenantry_app::MIGRATIONS;
        Self {
            registry,
            data_dir: data_dir.to_owned(),
            sqlite: Arc::new(SqliteBackend::new(data_dir.join("tenants"), migrations)),
            servers: Mutex::new(HashMap::new()),
            migrations,
            reserved_subdomains: Vec::new(),
            failpoint: None,
            backups: Arc::new(crate::BackupConfig::local(data_dir)),
        }
    }

    /// The tenant schema to apply (tests substitute a source with extra versions).
    pub fn with_migrations(mut self, migrations: &'static MigrationSource) -> Self {
        self.migrations = migrations;
        self.sqlite = Arc::new(SqliteBackend::new(
            self.data_dir.join("tenants"),
            migrations,
        ));
        self
    }

    pub fn with_reserved_subdomains(mut self, reserved: Vec<String>) -> Self {
        self.reserved_subdomains = reserved;
        self
    }

    /// Test hook: stop `create` right after `step`, leaving everything as a crash would.
    pub fn with_failpoint(mut self, step: Option<Step>) -> Self {
        self.failpoint = step;
        self
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn reserved_subdomains(&self) -> &[String] {
        &self.reserved_subdomains
    }

    /// The backend holding databases of `server` (`None` = the local SQLite directory).
    pub(crate) async fn backend(
        &self,
        server: Option<DbServerId>,
    ) -> Result<Arc<dyn DatabaseBackend>, ProvisionError> {
        let Some(id) = server else {
            return Ok(self.sqlite.clone());
        };
        if let Some(backend) = self.servers.lock().expect("server map lock").get(&id) {
            return Ok(backend.clone());
        }
        let server = self.registry.server(id).await?;
        let url = self.registry.server_connect_url(&server)?;
        let backend = Arc::new(PostgresBackend::with_pg_bin(
            server.name.as_str(),
            &url,
            self.backups.pg_bin.clone(),
        )?);
        self.servers
            .lock()
            .expect("server map lock")
            .insert(id, backend.clone());
        Ok(backend)
    }

    /// Tenant databases present on `server` (`None`: the SQLite directory), for checks.
    pub async fn list_tenant_databases(
        &self,
        server: Option<DbServerId>,
    ) -> Result<Vec<String>, ProvisionError> {
        Ok(self.backend(server).await?.list_databases().await?)
    }

    /// The tenant's database and role names, re-validated from the registry row.
    pub(crate) fn tenant_database(tenant: &Tenant) -> Result<TenantDatabase, ProvisionError> {
        let invalid = |e: crate::backend::IdentError| {
            ProvisionError::Registry(RegistryError::Invalid {
                what: format!("database name of tenant {}: {e}", tenant.subdomain),
            })
        };
        Ok(TenantDatabase {
            name: DbIdent::parse(&tenant.db_name).map_err(invalid)?,
            role: tenant
                .db_user
                .as_deref()
                .map(DbIdent::parse)
                .transpose()
                .map_err(invalid)?,
        })
    }

    /// The URL the tenant's own role connects with (its password decrypted): for the connection
    /// manager, which opens it once per cache entry. Never log it.
    pub async fn tenant_url(
        &self,
        tenant: &Tenant,
    ) -> Result<secrecy::SecretString, ProvisionError> {
        let backend = self.backend(tenant.server).await?;
        let db = Self::tenant_database(tenant)?;
        let password = self.registry.tenant_db_password(tenant)?;
        Ok(backend.tenant_url(&db, password.as_ref()))
    }

    /// Opens a short-lived connection to the tenant's database *as the tenant's own role*
    /// (migrations and seed data are then owned by it, and run with its privileges only).
    /// Every commit on it is durable.
    pub async fn connect_tenant(
        &self,
        tenant: &Tenant,
    ) -> Result<DatabaseConnection, ProvisionError> {
        self.open_tenant(tenant, SqliteSynchronous::Full).await
    }

    /// Like [`Self::connect_tenant`], for a database that nothing else has open yet (a tenant
    /// being created): on SQLite its commits are made durable together, by the checkpoint of
    /// [`Self::close_new_tenant`], instead of one WAL flush each. PostgreSQL: no difference.
    pub(crate) async fn connect_new_tenant(
        &self,
        tenant: &Tenant,
    ) -> Result<DatabaseConnection, ProvisionError> {
        self.open_tenant(tenant, SqliteSynchronous::Normal).await
    }

    /// Writes everything committed on a [`Self::connect_new_tenant`] connection to the database
    /// file, flushed (on SQLite a `TRUNCATE` checkpoint, which syncs the WAL and then the file),
    /// then closes it.
    pub(crate) async fn close_new_tenant(
        &self,
        tenant: &Tenant,
        conn: DatabaseConnection,
    ) -> Result<(), ProvisionError> {
        let failed = |message: String| ProvisionError::TenantConnect {
            db: tenant.db_name.clone(),
            message,
        };
        if conn.get_database_backend() == DbBackend::Sqlite {
            // (busy, WAL frames, frames checkpointed): busy = 1 means another connection kept
            // the checkpoint from completing, so the commits are not known to be on disk.
            let row = conn
                .query_one_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    "PRAGMA wal_checkpoint(TRUNCATE)",
                ))
                .await;
            let busy = row.and_then(|row| {
                row.map(|row| row.try_get_by_index::<i32>(0))
                    .transpose()
                    .map(Option::unwrap_or_default)
            });
            match busy {
                Ok(0) => {}
                Ok(_) => {
                    conn.close().await.ok();
                    return Err(failed("the checkpoint after seeding was blocked".into()));
                }
                Err(e) => {
                    conn.close().await.ok();
                    return Err(failed(format!("checkpoint after seeding: {e}")));
                }
            }
        }
        conn.close().await.map_err(|e| failed(e.to_string()))
    }

    async fn open_tenant(
        &self,
        tenant: &Tenant,
        synchronous: SqliteSynchronous,
    ) -> Result<DatabaseConnection, ProvisionError> {
        let url = self.tenant_url(tenant).await?;
        self.open_url(&url, &tenant.db_name, synchronous).await
    }

    /// A short-lived connection to database `db_name` at `url` (a tenant's or a spare's role).
    pub(crate) async fn open_url(
        &self,
        url: &secrecy::SecretString,
        db_name: &str,
        synchronous: SqliteSynchronous,
    ) -> Result<DatabaseConnection, ProvisionError> {
        let mut options = ConnectOptions::new(url.expose_secret().to_owned());
        options
            .max_connections(1)
            .min_connections(0)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5))
            // Short-lived and just opened: no ping before each of its few acquires.
            .test_before_acquire(false)
            .sqlx_logging(false)
            // Like every opener of a tenant file (the connection manager too): WAL, which the
            // first connection to a fresh (empty) file writes into its header.
            .map_sqlx_sqlite_opts(move |o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(synchronous)
                    .busy_timeout(Duration::from_secs(5))
            });
        Database::connect(options)
            .await
            .map_err(|e| ProvisionError::TenantConnect {
                db: db_name.to_owned(),
                // Refused, timed out, authentication, missing database: what an operator acts on.
                message: crate::backend::ConnectFailure::from_db_err(&e)
                    .map_or_else(|| e.to_string(), |c| c.to_string()),
            })
    }
}
