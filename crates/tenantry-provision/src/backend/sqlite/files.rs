//! Tenant database files on disk: their companions, the private directory, lookups and removal
//! (blocking `std::fs` work, run through [`blocking`]), and the `sqlite://` URL that names them.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::BackendError;

/// Files SQLite may keep beside a database, and `-copy`, ours while a new file is written. They
/// go first on deletion: a `-wal` left behind by a crash would be replayed into a new database
/// created under the same name.
pub(super) const COMPANIONS: [&str; 4] = ["-wal", "-shm", "-journal", "-copy"];

pub(super) async fn exists(path: &Path) -> Result<bool, BackendError> {
    tokio::fs::try_exists(path)
        .await
        .map_err(|source| BackendError::Io {
            action: "look up database file",
            path: path.to_owned(),
            source,
        })
}

pub(super) fn io_error(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> BackendError {
    let path = path.to_owned();
    move |source| BackendError::Io {
        action,
        path,
        source,
    }
}

/// Creates `dir` with mode 0700, tightening it if someone else made it. Blocking.
pub(super) fn create_private_dir(dir: &Path) -> Result<(), BackendError> {
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

/// `<path><suffix>`: companions are named by appending to the full file name.
pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

pub(super) fn remove_file_if_present(path: &Path) -> Result<(), BackendError> {
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
pub(super) fn remove_database_files(path: &Path) -> Result<(), BackendError> {
    for suffix in COMPANIONS {
        remove_file_if_present(&with_suffix(path, suffix))?;
    }
    remove_file_if_present(path)
}

/// Runs blocking file work on tokio's blocking pool, in one hop.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BackendError> + Send + 'static,
) -> Result<T, BackendError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// sqlx percent-decodes the path of a `sqlite://` URL, so a `%`, `?` or `#` in the data dir must
/// be encoded to survive.
pub(super) fn url_path(path: &Path) -> String {
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
