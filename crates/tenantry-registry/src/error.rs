use sea_orm::{DbErr, SqlErr};
use tenantry_core::vault::VaultError;

/// Errors of the registry layer. `Conflict` and `NotFound` are about the caller's input and are
/// safe to show; the others are internal and shown as a summary (their cause is logged).
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot connect to the master database at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("master migrations failed: {0}")]
    Migrate(#[from] tenantry_migrate::MigrateError),
    #[error("{what} already exists")]
    Conflict { what: String },
    #[error("{what} not found")]
    NotFound { what: String },
    /// Another operation on the same tenant is running (in this process or another).
    #[error(
        "{what} is busy: another operation on it is still running (if its process died, \
         `tenantry reconcile` closes it)"
    )]
    Busy { what: String },
    #[error("invalid {what}")]
    Invalid { what: String },
    /// The change is well-formed but the current state does not allow it.
    #[error("{reason}")]
    Refused { reason: String },
    #[error("a secret in the master could not be opened: {0}")]
    Vault(#[from] VaultError),
    #[error("master database error: {0}")]
    Db(#[from] DbErr),
}

impl RegistryError {
    /// Maps a unique-constraint violation to `Conflict { what }`, anything else to `Db`.
    pub(crate) fn conflict_or_db(err: DbErr, what: impl FnOnce() -> String) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Self::Conflict { what: what() },
            _ => Self::Db(err),
        }
    }
}
