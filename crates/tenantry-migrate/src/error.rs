//! Errors of this crate.
//!
//! All of them are operator-facing (a deploy or `tenantry doctor` prints them): each names
//! the file, version or step that failed, and keeps the database or refinery error as its
//! `source()` rather than repeating it in its own message, so a `{:#}` chain reads once.

use crate::Dialect;
use sea_orm::DbErr;

/// Why reading, checking or applying migrations failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// A file in a dialect directory is not named `V<version>__<name>.sql`.
    #[error(
        "{dialect} migration file {file:?} is badly named: {reason} (expected V<version>__<name>.sql)"
    )]
    BadFileName {
        dialect: Dialect,
        file: String,
        reason: String,
    },
    /// Two files of one dialect carry the same version.
    #[error("{dialect} migration files {first:?} and {second:?} have the same version {version}")]
    DuplicateVersion {
        dialect: Dialect,
        version: i32,
        first: String,
        second: String,
    },
    /// The embedded directory has no subdirectory for the connection's dialect.
    #[error("embedded migrations {root:?} have no {dialect}/ directory")]
    MissingDialect {
        root: &'static str,
        dialect: Dialect,
    },
    /// The connection is neither PostgreSQL nor SQLite.
    #[error("unsupported database backend {0}: only PostgreSQL and SQLite are migrated")]
    UnsupportedBackend(String),
    /// A migration's statements or its history row failed; its transaction was rolled back,
    /// and migrations before it stay applied.
    #[error("migration V{version}__{name} failed")]
    Apply {
        version: i32,
        name: String,
        #[source]
        source: DbErr,
    },
    /// The database's history contradicts the embedded migrations (an applied migration
    /// was edited or removed, or a new one sorts before the last applied one).
    #[error("refinery_schema_history does not match the embedded migrations")]
    History(#[source] refinery_core::Error),
    /// A query outside any migration failed (history table, connection).
    #[error("database error while {context}")]
    Db {
        context: &'static str,
        #[source]
        source: DbErr,
    },
}
