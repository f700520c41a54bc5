//! Reading embedded migrations, without a database.

mod common;

use common::{BAD, BAD_NAME, OK, SQLITE_ONLY};
use tenantry_migrate::{Dialect, MigrateError};

#[test]
fn both_dialects_have_the_same_versions() {
    for source in [&OK, &BAD] {
        let postgres = source.versions(Dialect::Postgres).unwrap();
        assert_eq!(postgres, source.versions(Dialect::Sqlite).unwrap());
    }
    assert_eq!(OK.versions(Dialect::Postgres).unwrap(), [1, 2]);
}

#[test]
fn latest_version_is_the_highest() {
    assert_eq!(OK.latest_version(Dialect::Sqlite).unwrap(), Some(2));
    assert_eq!(BAD.latest_version(Dialect::Postgres).unwrap(), Some(3));
}

#[test]
fn migrations_carry_name_and_sql() {
    let migrations = OK.migrations(Dialect::Postgres).unwrap();
    let names: Vec<_> = migrations.iter().map(|m| m.to_string()).collect();
    assert_eq!(names, ["V1__create_notes", "V2__add_priority"]);
    assert!(migrations[0].sql().unwrap().contains("BIGSERIAL"));
}

#[test]
fn badly_named_file_gives_a_clear_error() {
    for dialect in [Dialect::Postgres, Dialect::Sqlite] {
        let err = BAD_NAME.migrations(dialect).unwrap_err();
        assert!(matches!(err, MigrateError::BadFileName { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("X1_bad.sql"), "{message}");
        assert!(message.contains("V<version>__<name>.sql"), "{message}");
    }
}

#[test]
fn missing_dialect_directory_is_an_error_and_dotfiles_are_skipped() {
    assert_eq!(SQLITE_ONLY.versions(Dialect::Sqlite).unwrap(), [1]);
    let err = SQLITE_ONLY.versions(Dialect::Postgres).unwrap_err();
    assert!(
        matches!(err, MigrateError::MissingDialect { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("postgres/"), "{err}");
}

#[test]
fn disconnected_connection_is_refused_not_a_panic() {
    let err = Dialect::of(&sea_orm::DatabaseConnection::default()).unwrap_err();
    assert!(
        matches!(err, MigrateError::UnsupportedBackend(_)),
        "{err:?}"
    );
}
