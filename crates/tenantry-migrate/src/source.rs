//! Embedded migration files and how they become refinery migrations.

use crate::__private::EmbeddedFile;
use crate::MigrateError;
use refinery_core::Migration;
use sea_orm::{DatabaseBackend, DatabaseConnection, DatabaseConnectionType};
use std::fmt;

/// The SQL dialect a set of migrations is written for; also the name of its subdirectory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    /// The dialect of a connection's backend; MySQL and disconnected handles are refused.
    pub fn of(conn: &DatabaseConnection) -> Result<Dialect, MigrateError> {
        // `get_database_backend` panics on a disconnected handle.
        if matches!(conn.inner, DatabaseConnectionType::Disconnected) {
            return Err(MigrateError::UnsupportedBackend("disconnected".into()));
        }
        match conn.get_database_backend() {
            DatabaseBackend::Postgres => Ok(Dialect::Postgres),
            DatabaseBackend::Sqlite => Ok(Dialect::Sqlite),
            other => Err(MigrateError::UnsupportedBackend(format!("{other:?}"))),
        }
    }

    /// The subdirectory of a migrations directory holding this dialect's files.
    pub fn dir_name(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::Sqlite => "sqlite",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.dir_name())
    }
}

/// A migrations directory embedded with [`embed!`](crate::embed): files of its `postgres/`
/// and `sqlite/` subdirectories.
#[derive(Debug)]
pub struct MigrationSource {
    root: &'static str,
    postgres: Option<&'static [EmbeddedFile]>,
    sqlite: Option<&'static [EmbeddedFile]>,
}

impl MigrationSource {
    #[doc(hidden)]
    pub const fn __embedded(
        root: &'static str,
        postgres: Option<&'static [EmbeddedFile]>,
        sqlite: Option<&'static [EmbeddedFile]>,
    ) -> Self {
        MigrationSource {
            root,
            postgres,
            sqlite,
        }
    }

    /// Parsed refinery migrations for a dialect, sorted by version. Errors on a file not
    /// named `V<version>__<name>.sql`, on two files with one version, and when the dialect's
    /// directory is missing.
    pub fn migrations(&self, dialect: Dialect) -> Result<Vec<Migration>, MigrateError> {
        let files = match dialect {
            Dialect::Postgres => self.postgres,
            Dialect::Sqlite => self.sqlite,
        }
        .ok_or(MigrateError::MissingDialect {
            root: self.root,
            dialect,
        })?;
        let mut parsed: Vec<(Migration, &str)> = Vec::with_capacity(files.len());
        for file in files {
            let bad_name = |reason: &str| MigrateError::BadFileName {
                dialect,
                file: file.name.to_string(),
                reason: reason.to_string(),
            };
            let stem = check_file_name(file.name).map_err(bad_name)?;
            let migration =
                Migration::unapplied(stem, file.sql).map_err(|e| bad_name(&e.to_string()))?;
            parsed.push((migration, file.name));
        }
        parsed.sort_by_key(|(m, _)| m.version());
        if let Some(pair) = parsed
            .windows(2)
            .find(|w| w[0].0.version() == w[1].0.version())
        {
            return Err(MigrateError::DuplicateVersion {
                dialect,
                version: pair[0].0.version(),
                first: pair[0].1.to_string(),
                second: pair[1].1.to_string(),
            });
        }
        Ok(parsed.into_iter().map(|(m, _)| m).collect())
    }

    /// The versions of a dialect's migrations, ascending.
    pub fn versions(&self, dialect: Dialect) -> Result<Vec<i32>, MigrateError> {
        Ok(self
            .migrations(dialect)?
            .iter()
            .map(Migration::version)
            .collect())
    }

    /// The highest version of a dialect's migrations; `None` when there are none.
    pub fn latest_version(&self, dialect: Dialect) -> Result<Option<i32>, MigrateError> {
        Ok(self.versions(dialect)?.last().copied())
    }
}

/// Checks `V<digits>__<ascii word>.sql` and returns the stem refinery parses. refinery's own
/// pattern is looser (it ignores trailing characters, takes Unicode names and `U` prefixes),
/// and its file loader skips misnamed files with only a log line; we refuse them.
fn check_file_name(file: &str) -> Result<&str, &'static str> {
    let stem = file.strip_suffix(".sql").ok_or("it does not end in .sql")?;
    let rest = stem.strip_prefix('V').ok_or("it does not start with V")?;
    let (version, name) = rest
        .split_once("__")
        .ok_or("no double underscore between version and name")?;
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the version is not a number");
    }
    if version.parse::<i32>().is_err() {
        return Err("the version does not fit in an i32");
    }
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("the name is empty or has characters other than ASCII letters, digits and _");
    }
    Ok(stem)
}

#[cfg(test)]
mod tests {
    use super::check_file_name;

    #[test]
    fn file_names_follow_refinerys_versioned_pattern() {
        assert_eq!(check_file_name("V1__init.sql"), Ok("V1__init"));
        assert_eq!(check_file_name("V20__add_col_2.sql"), Ok("V20__add_col_2"));
        for bad in [
            "X1_bad.sql",
            "V1_bad.sql",
            "V1__bad",
            "U1__unversioned.sql",
            "V__noversion.sql",
            "V1.5__dotted.sql",
            "V1__.sql",
            "V1__has-dash.sql",
            "V99999999999__huge.sql",
        ] {
            assert!(check_file_name(bad).is_err(), "{bad} accepted");
        }
    }
}
