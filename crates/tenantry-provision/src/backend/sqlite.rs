//! Tenant databases as SQLite files, `<dir>/<name>.db`, in one directory that only the service
//! user may enter. No roles: the file is the boundary.
//!
//! A new tenant file starts as a copy of a **template**: a file migrated to the latest tenant
//! schema, `<dir>/.template-<fingerprint>.db`, built once per migration set (the fingerprint
//! covers every migration's version and checksum, so a new release builds a new template).
//! Copying ~100 KB costs a fraction of creating the schema statement by statement; the copy keeps
//! the template's migration history, so each tenant's own history is complete and later
//! migrations apply to it as usual (its `applied_on` dates are the template's).
//!
//! File layout and blocking file work are in `files.rs`, the template in `template.rs`, backups
//! (dump and load) in `dump.rs`; the backend's lifecycle operations are here.

use std::io::ErrorKind;
use std::path::PathBuf;

use async_trait::async_trait;
use secrecy::SecretString;
use tenantry_migrate::{Dialect, MigrationSource};

use super::{BackendError, DatabaseBackend, DbIdent, Login, TenantDatabase};
// `dump` reaches some of these helpers through this import, as `super::…`.
use files::{
    blocking, create_private_dir, exists, io_error, remove_database_files, remove_file_if_present,
    url_path, with_suffix,
};
use template::copy_template;

mod dump;
mod files;
mod template;
#[cfg(test)]
mod tests;

pub struct SqliteBackend {
    dir: PathBuf,
    migrations: &'static MigrationSource,
    /// One template build at a time in this process (other processes build under their own
    /// temporary names; the last rename wins, and every candidate is complete).
    building: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBackend")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl SqliteBackend {
    /// `dir` is `<data_dir>/tenants`; it is created (mode 0700) with the first database. New
    /// databases start at the latest version of `migrations`.
    pub fn new(dir: impl Into<PathBuf>, migrations: &'static MigrationSource) -> Self {
        Self {
            dir: dir.into(),
            migrations,
            building: tokio::sync::Mutex::new(()),
        }
    }

    /// `<dir>/<name>.db`.
    pub fn path_of(&self, db: &TenantDatabase) -> PathBuf {
        self.dir.join(format!("{}.db", db.name))
    }
}

#[async_trait]
impl DatabaseBackend for SqliteBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn ensure_role(
        &self,
        _: &TenantDatabase,
        _: &SecretString,
        _: i32,
    ) -> Result<(), BackendError> {
        Ok(())
    }

    /// Copies the template (built first if missing): the new database is already at the latest
    /// schema, and migrating it is a no-op.
    async fn ensure_database(&self, db: &TenantDatabase) -> Result<(), BackendError> {
        let path = self.path_of(db);
        if exists(&path).await? {
            return Ok(());
        }
        let template = self.template().await?;
        blocking(move || copy_template(&template, &path)).await
    }

    fn tenant_url(&self, db: &TenantDatabase, _: Option<&SecretString>) -> SecretString {
        // `rw`, not `rwc`: a missing file is an error, never a fresh empty tenant.
        SecretString::from(format!("sqlite://{}?mode=rw", url_path(&self.path_of(db))))
    }

    async fn set_login(&self, _: &TenantDatabase, _: Login) -> Result<(), BackendError> {
        Ok(())
    }

    /// Open connections to the file should be closed first: on Unix they would keep working on
    /// the unlinked file.
    async fn drop_database(&self, db: &TenantDatabase) -> Result<(), BackendError> {
        let path = self.path_of(db);
        blocking(move || remove_database_files(&path)).await
    }

    async fn drop_role(&self, _: &TenantDatabase) -> Result<(), BackendError> {
        Ok(())
    }

    async fn database_exists(&self, db: &TenantDatabase) -> Result<bool, BackendError> {
        exists(&self.path_of(db)).await
    }

    async fn database_size(&self, db: &TenantDatabase) -> Result<u64, BackendError> {
        let path = self.path_of(db);
        let io = |path: &std::path::Path, source| BackendError::Io {
            action: "measure database",
            path: path.to_owned(),
            source,
        };
        let file = tokio::fs::metadata(&path).await.map_err(|e| io(&path, e))?;
        let mut wal = path.clone().into_os_string();
        wal.push("-wal");
        let wal = std::path::PathBuf::from(wal);
        let wal = match tokio::fs::metadata(&wal).await {
            Ok(m) => m.len(),
            Err(e) if e.kind() == ErrorKind::NotFound => 0,
            Err(e) => return Err(io(&wal, e)),
        };
        Ok(file.len() + wal)
    }

    async fn list_databases(&self) -> Result<Vec<String>, BackendError> {
        let io = |source| BackendError::Io {
            action: "list tenant directory",
            path: self.dir.clone(),
            source,
        };
        let mut entries = match tokio::fs::read_dir(&self.dir).await {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            other => other.map_err(io)?,
        };
        let mut names = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(io)? {
            let file_name = entry.file_name();
            let stem = file_name.to_str().and_then(|name| name.strip_suffix(".db"));
            if let Some(stem) = stem.filter(|stem| DbIdent::parse(stem).is_ok()) {
                names.push(stem.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    async fn list_roles(&self) -> Result<Vec<String>, BackendError> {
        Ok(Vec::new())
    }

    async fn dump(
        &self,
        db: &TenantDatabase,
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<(), BackendError> {
        self.dump_file(db, out).await
    }

    async fn load(
        &self,
        db: &TenantDatabase,
        input: &mut (dyn tokio::io::AsyncRead + Unpin + Send),
    ) -> Result<(), BackendError> {
        self.load_file(db, input).await
    }
}
