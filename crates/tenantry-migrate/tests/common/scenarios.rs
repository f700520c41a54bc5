//! The same checks, run against SQLite (tests/sqlite.rs) and PostgreSQL (tests/postgres.rs).

use super::{BAD, BAD_NAME, DIVERGENT, HISTORY_REFUSED, OK, V1_ONLY, count, history, table_exists};
use sea_orm::DatabaseConnection;
use std::error::Error as _;
use tenantry_migrate::{Dialect, MigrateError, applied_versions, migrate, pending_versions};

fn v1_v2() -> Vec<(i32, String)> {
    vec![(1, "create_notes".into()), (2, "add_priority".into())]
}

pub async fn migrate_twice_applies_nothing_the_second_time(conn: &DatabaseConnection) {
    assert_eq!(pending_versions(conn, &OK).await.unwrap(), [1, 2]);
    assert_eq!(applied_versions(conn).await.unwrap(), Vec::<i32>::new());
    assert!(
        !table_exists(conn, "refinery_schema_history").await,
        "reading created the table"
    );

    let first = migrate(conn, &OK).await.unwrap();
    assert_eq!(first.applied, v1_v2());
    assert_eq!(first.current_version, Some(2));
    let history_after_first = history(conn).await;

    let second = migrate(conn, &OK).await.unwrap();
    assert!(
        second.applied.is_empty(),
        "second run applied {:?}",
        second.applied
    );
    assert_eq!(second.current_version, Some(2));
    assert_eq!(history(conn).await, history_after_first);
    assert_eq!(
        pending_versions(conn, &OK).await.unwrap(),
        Vec::<i32>::new()
    );
    assert_eq!(applied_versions(conn).await.unwrap(), [1, 2]);
    assert_eq!(
        count(conn, "SELECT COUNT(*) FROM notes").await,
        1,
        "V2's row ran once"
    );
}

pub async fn history_rows_are_refinerys(conn: &DatabaseConnection) {
    migrate(conn, &OK).await.unwrap();
    let dialect = Dialect::of(conn).unwrap();
    let expected = OK.migrations(dialect).unwrap();
    let rows = history(conn).await;
    assert_eq!(rows.len(), expected.len());
    for ((version, name, applied_on, checksum), migration) in rows.iter().zip(&expected) {
        assert_eq!(
            (*version, name.as_str()),
            (migration.version(), migration.name())
        );
        assert_eq!(checksum, &migration.checksum().to_string());
        let rfc3339 = &time::format_description::well_known::Rfc3339;
        time::OffsetDateTime::parse(applied_on, rfc3339).expect("applied_on is RFC 3339");
    }
}

pub async fn broken_migration_fails_with_its_version_and_rolls_back(conn: &DatabaseConnection) {
    assert_eq!(pending_versions(conn, &BAD).await.unwrap(), [1, 2, 3]);
    let err = migrate(conn, &BAD).await.unwrap_err();
    let MigrateError::Apply { version, name, .. } = &err else {
        panic!("expected an Apply error, got {err:?}");
    };
    assert_eq!((*version, name.as_str()), (3, "broken"));
    assert!(err.to_string().contains("V3__broken"), "{err}");
    let cause = err.source().expect("the database error").to_string();
    assert!(cause.contains("no_such_table"), "{cause}");

    // V1 and V2 committed before V3 ran; nothing of V3 survived.
    assert_eq!(applied_versions(conn).await.unwrap(), [1, 2]);
    assert_eq!(pending_versions(conn, &BAD).await.unwrap(), [3]);
    assert!(
        !table_exists(conn, "tags").await,
        "V3's CREATE TABLE was not rolled back"
    );
    assert_eq!(
        count(conn, "SELECT COUNT(*) FROM notes").await,
        1,
        "V3's INSERT survived"
    );

    // Fixing the source (here: dropping V3) lets the database move on.
    assert!(migrate(conn, &OK).await.unwrap().applied.is_empty());
}

/// PostgreSQL already rolls back a multi-statement string that fails, so this is the case
/// that needs our transaction: the migration's SQL succeeded, its history row did not.
pub async fn failed_history_insert_rolls_back_the_migration(conn: &DatabaseConnection) {
    let err = migrate(conn, &HISTORY_REFUSED).await.unwrap_err();
    let MigrateError::Apply { version, .. } = &err else {
        panic!("expected an Apply error, got {err:?}");
    };
    assert_eq!(*version, 3);
    assert_eq!(applied_versions(conn).await.unwrap(), [1, 2]);
    assert!(
        !table_exists(conn, "tags").await,
        "V3 took effect without its history row"
    );
}

pub async fn edited_migration_is_refused(conn: &DatabaseConnection) {
    migrate(conn, &OK).await.unwrap();
    let before = history(conn).await;
    let err = migrate(conn, &DIVERGENT).await.unwrap_err();
    assert!(matches!(err, MigrateError::History(_)), "{err:?}");
    let cause = err.source().expect("refinery's reason").to_string();
    assert!(cause.contains("V2__add_priority"), "{cause}");
    assert_eq!(history(conn).await, before);
}

pub async fn applied_migration_missing_from_source_is_refused(conn: &DatabaseConnection) {
    migrate(conn, &OK).await.unwrap();
    let err = migrate(conn, &V1_ONLY).await.unwrap_err();
    assert!(matches!(err, MigrateError::History(_)), "{err:?}");
    assert!(
        err.source().unwrap().to_string().contains("missing"),
        "{err:?}"
    );
}

pub async fn badly_named_file_is_refused_before_touching_the_database(conn: &DatabaseConnection) {
    let err = migrate(conn, &BAD_NAME).await.unwrap_err();
    let MigrateError::BadFileName { file, .. } = &err else {
        panic!("expected BadFileName, got {err:?}");
    };
    assert_eq!(file, "X1_bad.sql");
    assert!(pending_versions(conn, &BAD_NAME).await.is_err());
    assert!(!table_exists(conn, "refinery_schema_history").await);
}
