//! `SqliteBackend`: one file per tenant in a private directory.

use std::path::Path;

use secrecy::{ExposeSecret as _, SecretString};
use std::str::FromStr as _;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions as _, Connection as _, Executor as _, SqliteConnection};
use tempfile::TempDir;
use tenantry_core::TenantId;
use tenantry_provision::backend::sqlite::SqliteBackend;
use tenantry_provision::backend::{DatabaseBackend, DbIdent, Login, TenantDatabase};

fn new_tenant() -> TenantDatabase {
    TenantDatabase {
        name: DbIdent::derive("acme", TenantId::new()),
        role: None,
    }
}

fn setup() -> (TempDir, SqliteBackend) {
    let dir = tempfile::tempdir().unwrap();
    let backend = SqliteBackend::new(dir.path().join("tenants"), &tenantry_app::MIGRATIONS);
    (dir, backend)
}

async fn open(
    backend: &SqliteBackend,
    db: &TenantDatabase,
) -> Result<SqliteConnection, sqlx::Error> {
    SqliteConnection::connect(backend.tenant_url(db, None).expose_secret()).await
}

/// As every opener of a tenant file in Tenantry does (the provisioner, the connection manager).
async fn open_wal(backend: &SqliteBackend, db: &TenantDatabase) -> SqliteConnection {
    SqliteConnectOptions::from_str(backend.tenant_url(db, None).expose_secret())
        .unwrap()
        .journal_mode(SqliteJournalMode::Wal)
        .connect()
        .await
        .unwrap()
}

fn companions(path: &Path) -> Vec<String> {
    ["-wal", "-shm", "-journal"]
        .into_iter()
        .map(|suffix| format!("{}{suffix}", path.display()))
        .filter(|p| Path::new(p).exists())
        .collect()
}

#[tokio::test]
async fn creating_twice_gives_one_wal_file_in_a_private_directory() {
    let (dir, backend) = setup();
    let db = new_tenant();
    assert!(!backend.database_exists(&db).await.unwrap());
    backend
        .ensure_role(&db, &SecretString::from("unused"), 5)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    backend.ensure_database(&db).await.unwrap();
    eprintln!("SQLite ensure_database: {:?}", started.elapsed());
    let path = backend.path_of(&db);
    // A private copy of the template: already at the latest schema, its history included.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let mut conn = open(&backend, &db).await.unwrap();
    let versions: Vec<i32> =
        sqlx::query_scalar("SELECT version FROM refinery_schema_history ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        versions,
        tenantry_app::MIGRATIONS
            .versions(tenantry_migrate::Dialect::Sqlite)
            .unwrap()
    );
    conn.close().await.unwrap();
    let mut conn = open_wal(&backend, &db).await;
    conn.execute("INSERT INTO ledgers (code, name, type) VALUES ('1000', 'Cash', 'asset')")
        .await
        .unwrap();
    conn.close().await.unwrap();
    backend.ensure_database(&db).await.unwrap();

    assert_eq!(
        path,
        dir.path().join("tenants").join(format!("{}.db", db.name))
    );
    assert!(backend.database_exists(&db).await.unwrap());
    // WAL is a property of the file: a plain connection finds it.
    let mut conn = open(&backend, &db).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM ledgers")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(tables, 1, "the second ensure kept the data");
    conn.close().await.unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

#[tokio::test]
async fn the_tenant_url_never_creates_a_missing_database() {
    let (_dir, backend) = setup();
    let db = new_tenant();
    let url = backend.tenant_url(&db, None);
    assert!(
        url.expose_secret().starts_with("sqlite://") && url.expose_secret().ends_with("?mode=rw")
    );
    assert!(open(&backend, &db).await.is_err());
    assert!(!backend.path_of(&db).exists());
}

#[tokio::test]
async fn dropping_removes_the_file_and_its_companions() {
    let (_dir, backend) = setup();
    let db = new_tenant();
    backend.ensure_database(&db).await.unwrap();
    let path = backend.path_of(&db);

    // A live writer keeps -wal and -shm beside the file.
    let mut conn = open_wal(&backend, &db).await;
    conn.execute("CREATE TABLE t (x); INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    assert_eq!(companions(&path).len(), 2, "{:?}", companions(&path));
    conn.close().await.unwrap();
    // What a crash leaves behind.
    for suffix in ["-wal", "-shm", "-journal"] {
        std::fs::write(format!("{}{suffix}", path.display()), b"stale").unwrap();
    }

    backend.drop_database(&db).await.unwrap();
    assert!(!path.exists());
    assert!(companions(&path).is_empty(), "{:?}", companions(&path));
    assert!(!backend.database_exists(&db).await.unwrap());
    backend.drop_database(&db).await.unwrap();
    backend.drop_role(&db).await.unwrap();
}

#[tokio::test]
async fn listing_names_tenant_files_only() {
    let (_dir, backend) = setup();
    assert!(
        backend.list_databases().await.unwrap().is_empty(),
        "no directory yet"
    );
    let (a, b) = (new_tenant(), new_tenant());
    backend.ensure_database(&a).await.unwrap();
    backend.ensure_database(&b).await.unwrap();
    let dir = backend.path_of(&a).parent().unwrap().to_owned();
    for stray in [
        "notes.db",
        "t_bad.db",
        "t_acme_1234abcd.db-wal",
        "t_acme_1234abcd.txt",
    ] {
        std::fs::write(dir.join(stray), b"").unwrap();
    }

    let mut expected = vec![a.name.to_string(), b.name.to_string()];
    expected.sort();
    assert_eq!(backend.list_databases().await.unwrap(), expected);
    assert!(backend.list_roles().await.unwrap().is_empty());
    backend.set_login(&a, Login::Refused).await.unwrap();
    backend.drop_database(&a).await.unwrap();
    assert_eq!(
        backend.list_databases().await.unwrap(),
        vec![b.name.to_string()]
    );
}

/// The real tenant migrations + one fixture migration (as `common::TENANT_V2`).
static TENANT_V2: tenantry_migrate::MigrationSource =
    tenantry_migrate::embed!("tests/fixtures/tenant-v2");

#[tokio::test]
async fn new_files_are_copies_of_one_template_per_migration_set() {
    let (dir, backend) = setup();
    let template = backend.template_path().unwrap();
    assert!(!template.exists(), "built on first use only");
    let (a, b) = (new_tenant(), new_tenant());
    backend.ensure_database(&a).await.unwrap();
    let built = std::fs::metadata(&template).unwrap().modified().unwrap();
    backend.ensure_database(&b).await.unwrap();
    assert_eq!(
        std::fs::metadata(&template).unwrap().modified().unwrap(),
        built,
        "the second tenant reused the template"
    );
    assert!(
        companions(&template).is_empty(),
        "the template is fully checkpointed: {:?}",
        companions(&template)
    );
    // Copies are independent files.
    let mut conn = open(&backend, &a).await.unwrap();
    conn.execute("INSERT INTO ledgers (code, name, type) VALUES ('1000', 'Cash', 'asset')")
        .await
        .unwrap();
    conn.close().await.unwrap();
    let mut conn = open(&backend, &b).await.unwrap();
    let in_b: i64 = sqlx::query_scalar("SELECT count(*) FROM ledgers")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(in_b, 0);
    conn.close().await.unwrap();

    // Another migration set has its own template, at its own latest version.
    let v2 = SqliteBackend::new(dir.path().join("tenants"), &TENANT_V2);
    assert_ne!(v2.template_path().unwrap(), template);
    let c = new_tenant();
    v2.ensure_database(&c).await.unwrap();
    let mut conn = open(&v2, &c).await.unwrap();
    let latest: i32 = sqlx::query_scalar("SELECT max(version) FROM refinery_schema_history")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    assert_eq!(
        Some(latest),
        TENANT_V2
            .latest_version(tenantry_migrate::Dialect::Sqlite)
            .unwrap()
    );

    // Templates are never mistaken for tenant databases.
    let mut expected = vec![a.name.to_string(), b.name.to_string(), c.name.to_string()];
    expected.sort();
    assert_eq!(backend.list_databases().await.unwrap(), expected);
}
