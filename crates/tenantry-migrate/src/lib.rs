//! Runs [refinery] migrations over a sea-orm [`DatabaseConnection`](sea_orm::DatabaseConnection),
//! on PostgreSQL and SQLite.
//!
//! refinery has no sqlx/sea-orm driver, so this crate implements refinery's async traits over
//! sea-orm and lets refinery decide what to apply. The history table is refinery's own
//! `refinery_schema_history`, created and filled by refinery's SQL, so databases stay
//! readable by refinery's CLI and drivers.
//!
//! Migrations are plain files, `<dir>/postgres/V<n>__<name>.sql` and
//! `<dir>/sqlite/V<n>__<name>.sql`, embedded at compile time with [`embed!`]:
//!
//! ```no_run
//! // In tenantry-registry this would be `embed!("../../migrations-master")`.
//! static MASTER: tenantry_migrate::MigrationSource =
//!     tenantry_migrate::embed!("tests/fixtures/ok");
//!
//! # async fn run(conn: &sea_orm::DatabaseConnection) -> Result<(), tenantry_migrate::MigrateError> {
//! let report = tenantry_migrate::migrate(conn, &MASTER).await?;
//! println!("applied {:?}, now at {:?}", report.applied, report.current_version);
//! # Ok(())
//! # }
//! ```
//!
//! Each migration runs in its own transaction together with its history row, so a failing
//! migration leaves the database at the previous version (both PostgreSQL and SQLite have
//! transactional DDL). A migration therefore must not contain `BEGIN`/`COMMIT` itself, nor
//! statements PostgreSQL refuses inside a transaction (`CREATE INDEX CONCURRENTLY`, ...).
//!
//! [refinery]: https://docs.rs/refinery

mod adapter;
mod error;
mod run;
mod source;

pub use error::MigrateError;
pub use run::{HISTORY_TABLE, MigrationReport, applied_versions, migrate, pending_versions};
pub use source::{Dialect, MigrationSource};

/// Embeds a migrations directory (with `postgres/` and `sqlite/` subdirectories) into the
/// binary, as a [`MigrationSource`]. The path is relative to the directory holding the
/// *calling* crate's `Cargo.toml`. Usable in a `static`:
///
/// ```
/// use tenantry_migrate::{Dialect, MigrationSource};
///
/// // In tenantry-app this would be `embed!("../../migrations-tenant")`.
/// static TENANT: MigrationSource = tenantry_migrate::embed!("tests/fixtures/ok");
///
/// assert_eq!(TENANT.versions(Dialect::Postgres)?, TENANT.versions(Dialect::Sqlite)?);
/// # Ok::<(), tenantry_migrate::MigrateError>(())
/// ```
///
/// A directory that does not exist does not compile:
///
/// ```compile_fail
/// static NONE: tenantry_migrate::MigrationSource = tenantry_migrate::embed!("no/such/dir");
/// ```
///
/// File names are checked when the migrations are
/// read ([`MigrationSource::migrations`]), so a test calling it catches a misnamed file.
///
/// Cargo rebuilds the calling crate when an embedded file changes, but on stable Rust it
/// cannot notice a *new* file. Crates that embed migrations should have a `build.rs` with
/// `println!("cargo:rerun-if-changed=../../migrations-tenant");` (the same path).
#[macro_export]
macro_rules! embed {
    ($path:literal) => {
        $crate::__private::embed_migrations!($crate, $path)
    };
}

/// Items the [`embed!`] expansion refers to; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use tenantry_migrate_macros::embed_migrations;

    /// One embedded migration file, as found in a dialect directory.
    #[derive(Debug)]
    pub struct EmbeddedFile {
        pub name: &'static str,
        pub sql: &'static str,
    }
}
