//! Applying migrations and reading what is applied.

use crate::adapter::SeaOrmMigrator;
use crate::{Dialect, MigrateError, MigrationSource};
use refinery_core::error::Kind;
use refinery_core::traits::r#async::{AsyncMigrate, AsyncQuery};
use refinery_core::{Migration, Target};
use sea_orm::{DatabaseConnection, DbErr};

/// refinery's default history table, which this crate always uses.
pub const HISTORY_TABLE: &str = "refinery_schema_history";

/// What one [`migrate`] call did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationReport {
    /// Migrations applied by this call, as (version, name), in order; empty when up to date.
    pub applied: Vec<(i32, String)>,
    /// The highest applied version afterwards; `None` when no migration was ever applied.
    pub current_version: Option<i32>,
}

/// Applies all pending migrations of the connection's dialect, each in its own transaction
/// with its history row. Idempotent: a second run applies nothing.
///
/// Like refinery's defaults, it refuses to run (and changes nothing) when an applied
/// migration was edited (different name or checksum) or is no longer in `source`, or when
/// an unapplied migration has a version below the last applied one.
pub async fn migrate(
    conn: &DatabaseConnection,
    source: &MigrationSource,
) -> Result<MigrationReport, MigrateError> {
    let dialect = Dialect::of(conn)?;
    let migrations = source.migrations(dialect)?;
    let before = applied_in(conn, dialect).await?;
    let mut migrator = SeaOrmMigrator::new(conn);
    let report = migrator
        .migrate(
            &migrations,
            true,  // abort_divergent
            true,  // abort_missing
            false, // grouped: one transaction per migration
            Target::Latest,
            HISTORY_TABLE,
        )
        .await
        .map_err(|err| classify(err, &migrations, &before))?;
    let applied: Vec<(i32, String)> = report
        .applied_migrations()
        .iter()
        .map(|m| (m.version(), m.name().to_string()))
        .collect();
    for (version, name) in &applied {
        tracing::debug!(%dialect, version, name, "applied migration");
    }
    let current_version = before
        .iter()
        .chain(applied.iter().map(|(v, _)| v))
        .max()
        .copied();
    Ok(MigrationReport {
        applied,
        current_version,
    })
}

/// Versions recorded in `refinery_schema_history`, ascending; empty when the table does not
/// exist. Reads only: never creates the table.
pub async fn applied_versions(conn: &DatabaseConnection) -> Result<Vec<i32>, MigrateError> {
    applied_in(conn, Dialect::of(conn)?).await
}

/// Versions of `source` (for the connection's dialect) not yet applied, ascending. Applies
/// nothing; whether they *can* be applied (see [`migrate`]) is not checked.
pub async fn pending_versions(
    conn: &DatabaseConnection,
    source: &MigrationSource,
) -> Result<Vec<i32>, MigrateError> {
    let dialect = Dialect::of(conn)?;
    let migrations = source.migrations(dialect)?;
    let applied = applied_in(conn, dialect).await?;
    Ok(migrations
        .iter()
        .map(Migration::version)
        .filter(|v| !applied.contains(v))
        .collect())
}

async fn applied_in(conn: &DatabaseConnection, dialect: Dialect) -> Result<Vec<i32>, MigrateError> {
    let db = |context| move |source| MigrateError::Db { context, source };
    let mut migrator = SeaOrmMigrator::new(conn);
    let exists = migrator
        .table_exists(dialect, HISTORY_TABLE)
        .await
        .map_err(db("looking for refinery_schema_history"))?;
    if !exists {
        return Ok(Vec::new());
    }
    let query = SeaOrmMigrator::get_applied_migrations_query(HISTORY_TABLE);
    let applied = migrator
        .query(&query)
        .await
        .map_err(db("reading refinery_schema_history"))?;
    Ok(applied.iter().map(Migration::version).collect())
}

/// Turns refinery's error into ours, naming the migration that failed. refinery reports an
/// apply failure as a connection error carrying the migrations applied before it.
fn classify(err: refinery_core::Error, migrations: &[Migration], before: &[i32]) -> MigrateError {
    let db_err = match err.kind() {
        Kind::Connection(_, source) => source.downcast_ref::<DbErr>().cloned(),
        _ => None,
    };
    let Some(source) = db_err else {
        return MigrateError::History(err);
    };
    let Some(report) = err.report() else {
        let context = "creating or reading refinery_schema_history";
        return MigrateError::Db { context, source };
    };
    let done: Vec<i32> = report
        .applied_migrations()
        .iter()
        .map(Migration::version)
        .collect();
    let failed = migrations
        .iter()
        .find(|m| !before.contains(&m.version()) && !done.contains(&m.version()));
    match failed {
        Some(m) => MigrateError::Apply {
            version: m.version(),
            name: m.name().to_string(),
            source,
        },
        None => MigrateError::Db {
            context: "applying migrations",
            source,
        },
    }
}
