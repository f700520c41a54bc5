//! Tenant databases as SQLite files, `<dir>/<name>.db`, in one directory that only the service
//! user may enter. No roles: the file is the boundary.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use secrecy::SecretString;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions as _, Connection as _};
use tenantry_migrate::Dialect;

use super::{BackendError, DatabaseBackend, DbIdent, Login, TenantDatabase};

/// Files SQLite may keep beside a database. The companions go first on deletion: a `-wal` left
/// behind by a crash would be replayed into a new database created under the same name.
const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

#[derive(Debug)]
pub struct SqliteBackend {
    dir: PathBuf,
}

impl SqliteBackend {
    /// `dir` is `<data_dir>/tenants`; it is created (mode 0700) with the first database.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `<dir>/<name>.db`.
    pub fn path_of(&self, db: &TenantDatabase) -> PathBuf {
        self.dir.join(format!("{}.db", db.name))
    }

    async fn create_dir(&self) -> Result<(), BackendError> {
        let io = |source| BackendError::Io {
            action: "create tenant directory",
            path: self.dir.clone(),
            source,
        };
        let mut builder = tokio::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        builder.mode(0o700);
        builder.create(&self.dir).await.map_err(io)?;
        #[cfg(unix)]
        {
            // `mode` applies only if we created it; tighten a directory made by someone else.
            use std::os::unix::fs::PermissionsExt as _;
            let permissions = std::fs::Permissions::from_mode(0o700);
            tokio::fs::set_permissions(&self.dir, permissions)
                .await
                .map_err(io)?;
        }
        Ok(())
    }
}

/// `<path><suffix>`: companions are named by appending to the full file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

async fn remove_if_present(path: PathBuf) -> Result<(), BackendError> {
    match tokio::fs::remove_file(&path).await {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(BackendError::Io {
            action: "remove database file",
            path,
            source: e,
        }),
        _ => Ok(()),
    }
}

async fn remove_companions(path: &Path) -> Result<(), BackendError> {
    for suffix in COMPANIONS {
        remove_if_present(with_suffix(path, suffix)).await?;
    }
    Ok(())
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

    async fn ensure_database(&self, db: &TenantDatabase) -> Result<(), BackendError> {
        self.create_dir().await?;
        let path = self.path_of(db);
        let exists = tokio::fs::try_exists(&path)
            .await
            .map_err(|source| BackendError::Io {
                action: "look up database file",
                path: path.clone(),
                source,
            })?;
        if !exists {
            remove_companions(&path).await?;
        }
        let failed = |e: sqlx::Error| BackendError::Failed {
            action: "create database file",
            message: format!("{}: {e}", path.display()),
        };
        // WAL is a property of the file: set once here, every later connection gets it.
        let conn = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .disable_statement_logging()
            .connect()
            .await
            .map_err(failed)?;
        conn.close().await.map_err(failed)
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
        remove_companions(&path).await?;
        remove_if_present(path).await
    }

    async fn drop_role(&self, _: &TenantDatabase) -> Result<(), BackendError> {
        Ok(())
    }

    async fn database_exists(&self, db: &TenantDatabase) -> Result<bool, BackendError> {
        let path = self.path_of(db);
        tokio::fs::try_exists(&path)
            .await
            .map_err(|source| BackendError::Io {
                action: "look up database file",
                path,
                source,
            })
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
