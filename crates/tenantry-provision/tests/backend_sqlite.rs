//! `SqliteBackend`: one file per tenant in a private directory.

use std::path::Path;

use secrecy::{ExposeSecret as _, SecretString};
use sqlx::{Connection as _, Executor as _, SqliteConnection};
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
    let backend = SqliteBackend::new(dir.path().join("tenants"));
    (dir, backend)
}

async fn open(
    backend: &SqliteBackend,
    db: &TenantDatabase,
) -> Result<SqliteConnection, sqlx::Error> {
    SqliteConnection::connect(backend.tenant_url(db, None).expose_secret()).await
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
    let mut conn = open(&backend, &db).await.unwrap();
    conn.execute("CREATE TABLE ledgers (id INTEGER PRIMARY KEY)")
        .await
        .unwrap();
    conn.close().await.unwrap();
    backend.ensure_database(&db).await.unwrap();

    let path = backend.path_of(&db);
    assert_eq!(
        path,
        dir.path().join("tenants").join(format!("{}.db", db.name))
    );
    assert!(backend.database_exists(&db).await.unwrap());
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
    assert_eq!(tables, 0, "the second ensure kept the data");
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
    let mut conn = open(&backend, &db).await.unwrap();
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
