use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tenantry_test_utils::{Dialect, TestDb, pg_admin};

fn pg_name(db: &TestDb) -> String {
    db.url().rsplit('/').next().unwrap().to_owned()
}

async fn pg_database_exists(name: &str) -> bool {
    let row = pg_admin()
        .await
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            [name.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap() == 1
}

#[tokio::test]
async fn postgres_database_exists_while_alive_and_is_gone_after_drop() {
    let db = TestDb::postgres().await;
    let name = pg_name(&db);
    assert!(name.starts_with("tenantry_test_"), "{name}");
    assert_eq!(db.dialect(), Dialect::Postgres);
    assert!(db.sqlite_path().is_none());
    assert!(db.dir().is_dir());

    // A connection still open at drop time must not keep the database alive.
    let conn = db.connect().await;
    conn.execute_unprepared("CREATE TABLE t (id int)")
        .await
        .unwrap();
    assert!(pg_database_exists(&name).await);

    let dir = db.dir().to_owned();
    drop(db);
    assert!(!pg_database_exists(&name).await);
    assert!(!dir.exists());
    assert!(conn.execute_unprepared("SELECT 1").await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_drop_works_on_a_multi_thread_runtime() {
    let db = TestDb::postgres().await;
    let name = pg_name(&db);
    drop(db);
    assert!(!pg_database_exists(&name).await);
}

#[test]
fn postgres_drop_works_outside_a_runtime() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDb::postgres());
    let name = pg_name(&db);
    drop(db);
    assert!(!runtime.block_on(pg_database_exists(&name)));
}

#[tokio::test]
async fn sqlite_file_exists_while_alive_and_its_dir_is_removed_after_drop() {
    let db = TestDb::sqlite().await;
    assert_eq!(db.dialect(), Dialect::Sqlite);
    let path = db.sqlite_path().unwrap().to_owned();
    assert!(path.is_file());
    assert!(path.starts_with(db.dir()));
    assert_eq!(db.url(), format!("sqlite://{}?mode=rwc", path.display()));

    let conn = db.connect().await;
    conn.execute_unprepared("CREATE TABLE t (id integer)")
        .await
        .unwrap();
    conn.close().await.unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > 0);

    let dir = db.dir().to_owned();
    drop(db);
    assert!(!path.exists());
    assert!(!dir.exists());
}

#[tokio::test]
async fn every_test_db_is_distinct() {
    for dialect in Dialect::ALL {
        let (a, b) = (TestDb::new(dialect).await, TestDb::new(dialect).await);
        assert_eq!(a.dialect(), dialect);
        assert_ne!(a.url(), b.url());
        assert_ne!(a.dir(), b.dir());
    }
    let (a, b) = (TestDb::postgres().await, TestDb::postgres().await);
    assert_ne!(pg_name(&a), pg_name(&b));
}
