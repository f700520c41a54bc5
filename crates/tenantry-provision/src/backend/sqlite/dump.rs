//! Backups of SQLite tenant files: a dump is a `VACUUM INTO` copy (consistent while writers go
//! on, compacted, no WAL), and a load writes such a copy to `<name>.db-copy` and renames it into
//! place once it is complete and synced.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};

use super::{
    BackendError, SqliteBackend, TenantDatabase, exists, io_error, remove_file_if_present,
    with_suffix,
};

impl SqliteBackend {
    pub(super) async fn dump_file(
        &self,
        db: &TenantDatabase,
        out: &mut (dyn AsyncWrite + Unpin + Send),
    ) -> Result<(), BackendError> {
        let path = self.path_of(db);
        if !exists(&path).await? {
            return Err(BackendError::Failed {
                action: "dump database",
                message: format!("database file {} does not exist", path.display()),
            });
        }
        let copy = self.dir.join(format!(".dump-{}.db", uuid::Uuid::new_v4()));
        let result = async {
            vacuum_into(&path, &copy).await?;
            let mut file = tokio::fs::File::open(&copy)
                .await
                .map_err(io_error("read database copy", &copy))?;
            tokio::io::copy(&mut file, out)
                .await
                .map_err(io_error("stream database copy", &copy))?;
            Ok(())
        }
        .await;
        let cleanup = copy.clone();
        super::blocking(move || remove_file_if_present(&cleanup))
            .await
            .ok();
        result
    }

    pub(super) async fn load_file(
        &self,
        db: &TenantDatabase,
        input: &mut (dyn AsyncRead + Unpin + Send),
    ) -> Result<(), BackendError> {
        let path = self.path_of(db);
        let dir = self.dir.clone();
        super::blocking(move || super::create_private_dir(&dir)).await?;
        if exists(&path).await? {
            return Err(BackendError::Failed {
                action: "load database",
                message: format!("database file {} exists already", path.display()),
            });
        }
        let copy = with_suffix(&path, "-copy");
        let result = async {
            let mut options = tokio::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true).mode(0o600);
            let mut file = options
                .open(&copy)
                .await
                .map_err(io_error("create database file", &copy))?;
            tokio::io::copy(input, &mut file)
                .await
                .map_err(io_error("write database file", &copy))?;
            file.flush()
                .await
                .map_err(io_error("write database file", &copy))?;
            file.sync_all()
                .await
                .map_err(io_error("sync database file", &copy))?;
            tokio::fs::rename(&copy, &path)
                .await
                .map_err(io_error("install database file", &path))?;
            sync_dir(&self.dir).await
        }
        .await;
        if result.is_err() {
            let cleanup = copy.clone();
            super::blocking(move || remove_file_if_present(&cleanup))
                .await
                .ok();
        }
        result
    }
}

/// `VACUUM INTO` on a connection of its own: reads one snapshot of `from` (WAL included) and
/// writes it, compacted, to `to`.
async fn vacuum_into(from: &Path, to: &Path) -> Result<(), BackendError> {
    let failed = |e: sqlx::Error| BackendError::Failed {
        action: "copy database (VACUUM INTO)",
        message: e.to_string(),
    };
    let mut conn = SqliteConnectOptions::new()
        .filename(from)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(5))
        .disable_statement_logging()
        .connect()
        .await
        .map_err(failed)?;
    let copied = sqlx::query("VACUUM INTO ?")
        .bind(to.to_string_lossy().into_owned())
        .execute(&mut conn)
        .await;
    conn.close().await.ok();
    copied.map(drop).map_err(failed)
}

async fn sync_dir(dir: &Path) -> Result<(), BackendError> {
    let owned = dir.to_owned();
    super::blocking(move || {
        std::fs::File::open(&owned)
            .and_then(|d| d.sync_all())
            .map_err(io_error("sync tenant directory", &owned))
    })
    .await
}
