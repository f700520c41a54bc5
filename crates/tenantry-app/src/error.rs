//! Errors of this crate.
//!
//! They are operator-facing (provisioning and `tenantry reconcile` report them, never a tenant
//! user): [`SeedError::InvalidAdmin`] is the caller's mistake and says which field; the others
//! keep the database error as their `source()` and name the step that failed. None of them
//! carries the admin's password hash.

use sea_orm::DbErr;

/// Why seeding a tenant database failed. The seed transaction was rolled back: the database is
/// as before the call, and seeding again is safe.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The tenant admin's email, name or password hash is unusable.
    #[error("invalid tenant admin: {0}")]
    InvalidAdmin(&'static str),
    /// A ledger of the chart names a parent code that no ledger before it has.
    #[error(
        "chart of accounts: ledger {code} names parent {parent}, which is not listed before it"
    )]
    UnknownParent {
        code: &'static str,
        parent: &'static str,
    },
    /// A statement of the seed failed (connection, constraint, missing table: is the database
    /// migrated?).
    #[error("database error while {context}")]
    Db {
        context: &'static str,
        #[source]
        source: DbErr,
    },
}
