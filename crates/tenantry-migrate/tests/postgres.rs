//! Migrations over a sea-orm PostgreSQL connection: a random database per test on the
//! server of `TENANTRY_TEST_PG_URL` (set by scripts/test); these fail when it is unset.

#[macro_use]
mod common;

scenario_tests!(common::pg_db:
    migrate_twice_applies_nothing_the_second_time,
    history_rows_are_refinerys,
    broken_migration_fails_with_its_version_and_rolls_back,
    failed_history_insert_rolls_back_the_migration,
    edited_migration_is_refused,
    applied_migration_missing_from_source_is_refused,
    badly_named_file_is_refused_before_touching_the_database,
);

#[tokio::test]
async fn postgres_connection_has_the_postgres_dialect() {
    let db = common::pg_db().await;
    let dialect = tenantry_migrate::Dialect::of(&db.conn).unwrap();
    assert_eq!(dialect, tenantry_migrate::Dialect::Postgres);
}
