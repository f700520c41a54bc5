//! The tenant template: the migrated file every new tenant database starts as a copy of, built
//! once per migration set and named by its fingerprint, and the copy that makes a new tenant.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use sea_orm::{ConnectionTrait as _, DatabaseConnection, SqlxSqliteConnector};
use sha2::{Digest as _, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use tenantry_migrate::{Dialect, MigrationSource};

use super::files::{
    COMPANIONS, blocking, create_private_dir, exists, io_error, remove_database_files,
    remove_file_if_present, url_path, with_suffix,
};
use super::{BackendError, SqliteBackend};

const TEMPLATE_PREFIX: &str = ".template-";

impl SqliteBackend {
    /// The template for the current migration set, `<dir>/.template-<fingerprint>.db`.
    pub fn template_path(&self) -> Result<PathBuf, BackendError> {
        let migrations =
            self.migrations
                .migrations(Dialect::Sqlite)
                .map_err(|e| BackendError::Failed {
                    action: "read tenant migrations",
                    message: e.to_string(),
                })?;
        let mut hash = Sha256::new();
        for m in &migrations {
            hash.update(m.version().to_be_bytes());
            hash.update(m.checksum().to_be_bytes());
        }
        let digest = hash.finalize();
        let fingerprint: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Ok(self.dir.join(format!("{TEMPLATE_PREFIX}{fingerprint}.db")))
    }

    /// The template file, built first if it is missing.
    pub(super) async fn template(&self) -> Result<PathBuf, BackendError> {
        let path = self.template_path()?;
        if exists(&path).await? {
            return Ok(path);
        }
        let _one_at_a_time = self.building.lock().await;
        if exists(&path).await? {
            return Ok(path);
        }
        let dir = self.dir.clone();
        blocking(move || create_private_dir(&dir)).await?;
        let building = with_suffix(&path, &format!(".{}.building", uuid::Uuid::new_v4()));
        let built = build_template(&building, self.migrations).await;
        let installed = match built {
            Ok(()) => {
                let (from, to) = (building.clone(), path.clone());
                blocking(move || {
                    std::fs::rename(&from, &to).map_err(|source| BackendError::Io {
                        action: "install tenant template",
                        path: to,
                        source,
                    })
                })
                .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = installed {
            let building = building.clone();
            blocking(move || remove_database_files(&building))
                .await
                .ok();
            return Err(e);
        }
        tracing::info!(template = %path.display(), "built the SQLite tenant template");
        Ok(path)
    }
}

/// Creates a database at `path` migrated to the latest version, fully checkpointed into the file
/// (no `-wal` left), in WAL mode (a property of the file that its copies keep).
async fn build_template(path: &Path, migrations: &MigrationSource) -> Result<(), BackendError> {
    let failed = |e: &dyn std::fmt::Display| BackendError::Failed {
        action: "build tenant template",
        message: e.to_string(),
    };
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}?mode=rwc", url_path(path)))
        .map_err(|e| failed(&e))?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let pool = sqlx::pool::PoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(|e| failed(&e))?;
    let conn: DatabaseConnection = SqlxSqliteConnector::from_sqlx_sqlite_pool(pool);
    let result = async {
        tenantry_migrate::migrate(&conn, migrations)
            .await
            .map_err(|e| failed(&e))?;
        conn.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .map_err(|e| failed(&e))?;
        Ok(())
    }
    .await;
    conn.close().await.map_err(|e| failed(&e))?;
    result
}

/// Unless `path` exists: removes stale companions, copies `template` to `<path>-copy` (mode
/// 0600) and links it into place, so `path` is never seen half-written and a concurrent ensure
/// of the same database is never overwritten. Blocking.
///
/// Not fsynced here: creation makes the new file durable with the checkpoint that closes its
/// seeding, before the tenant is activated; the directory entry is synced here.
pub(super) fn copy_template(template: &Path, path: &Path) -> Result<(), BackendError> {
    if path
        .try_exists()
        .map_err(io_error("look up database file", path))?
    {
        return Ok(());
    }
    for suffix in COMPANIONS {
        remove_file_if_present(&with_suffix(path, suffix))?;
    }
    let copy = with_suffix(path, "-copy");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut to = options
        .open(&copy)
        .map_err(io_error("create database file", &copy))?;
    // No SQLite connection to the template is ever open in this process (it is built under
    // another name and closed before the rename), so reading it cannot drop SQLite's locks.
    let mut from =
        std::fs::File::open(template).map_err(io_error("read tenant template", template))?;
    std::io::copy(&mut from, &mut to).map_err(io_error("copy tenant template", &copy))?;
    drop(to);
    let linked = match std::fs::hard_link(&copy, path) {
        // A concurrent ensure of the same database made it first: same outcome.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        other => other.map_err(io_error("create database file", path)),
    };
    remove_file_if_present(&copy)?;
    linked?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error("sync tenant directory", dir))?;
    }
    Ok(())
}
