//! Tenant databases as SQLite files, `<dir>/<name>.db`, in one directory that only the service
//! user may enter. No roles: the file is the boundary.
//!
//! A new tenant file starts as a copy of a **template**: a file migrated to the latest tenant
//! schema, `<dir>/.template-<fingerprint>.db`, built once per migration set (the fingerprint
//! covers every migration's version and checksum, so a new release builds a new template).
//! Copying ~100 KB costs a fraction of creating the schema statement by statement; the copy keeps
//! the template's migration history, so each tenant's own history is complete and later
//! migrations apply to it as usual (its `applied_on` dates are the template's).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use async_trait::async_trait;
use sea_orm::{ConnectionTrait as _, DatabaseConnection, SqlxSqliteConnector};
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use tenantry_migrate::{Dialect, MigrationSource};

use super::{BackendError, DatabaseBackend, DbIdent, Login, TenantDatabase};

mod dump;

/// Files SQLite may keep beside a database, and `-copy`, ours while a new file is written. They
/// go first on deletion: a `-wal` left behind by a crash would be replayed into a new database
/// created under the same name.
const COMPANIONS: [&str; 4] = ["-wal", "-shm", "-journal", "-copy"];

const TEMPLATE_PREFIX: &str = ".template-";

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
    async fn template(&self) -> Result<PathBuf, BackendError> {
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

async fn exists(path: &Path) -> Result<bool, BackendError> {
    tokio::fs::try_exists(path)
        .await
        .map_err(|source| BackendError::Io {
            action: "look up database file",
            path: path.to_owned(),
            source,
        })
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackendError {
    let path = path.to_owned();
    move |source| BackendError::Io {
        action,
        path,
        source,
    }
}

/// Creates `dir` with mode 0700, tightening it if someone else made it. Blocking.
fn create_private_dir(dir: &Path) -> Result<(), BackendError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        builder.mode(0o700);
        builder
            .create(dir)
            .map_err(io_error("create tenant directory", dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io_error("create tenant directory", dir))?;
    }
    #[cfg(not(unix))]
    builder
        .create(dir)
        .map_err(io_error("create tenant directory", dir))?;
    Ok(())
}

/// Unless `path` exists: removes stale companions, copies `template` to `<path>-copy` (mode
/// 0600) and links it into place, so `path` is never seen half-written and a concurrent ensure
/// of the same database is never overwritten. Blocking.
///
/// Not fsynced here: creation makes the new file durable with the checkpoint that closes its
/// seeding, before the tenant is activated; the directory entry is synced here.
fn copy_template(template: &Path, path: &Path) -> Result<(), BackendError> {
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

/// `<path><suffix>`: companions are named by appending to the full file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

fn remove_file_if_present(path: &Path) -> Result<(), BackendError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(BackendError::Io {
            action: "remove database file",
            path: path.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Removes the companions first (a `-wal` left behind by a crash would be replayed into a new
/// database created under the same name), then the file. Blocking.
fn remove_database_files(path: &Path) -> Result<(), BackendError> {
    for suffix in COMPANIONS {
        remove_file_if_present(&with_suffix(path, suffix))?;
    }
    remove_file_if_present(path)
}

/// Runs blocking file work on tokio's blocking pool, in one hop.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BackendError> + Send + 'static,
) -> Result<T, BackendError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// sqlx percent-decodes the path of a `sqlite://` URL, so a `%`, `?` or `#` in the data dir must
/// be encoded to survive.
fn url_path(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3F"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_paths_survive_sqlx_percent_decoding() {
        assert_eq!(
            url_path(Path::new("/data/a%b?c#d/t.db")),
            "/data/a%25b%3Fc%23d/t.db"
        );
        assert_eq!(
            with_suffix(Path::new("/d/t_x.db"), "-wal"),
            PathBuf::from("/d/t_x.db-wal")
        );
    }
}
