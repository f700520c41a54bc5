//! Helpers shared by the `backend_postgres` tests: backends on the test server, fresh tenant
//! names, logging in as a tenant role, catalog queries, and the `Cleanup` guard that drops what a
//! test created.

use secrecy::{ExposeSecret as _, SecretString};
use sqlx::{AssertSqlSafe, Connection as _, Executor as _, PgConnection};
use tenantry_core::TenantId;
use tenantry_provision::backend::postgres::PostgresBackend;
use tenantry_provision::backend::{DatabaseBackend, DbIdent, TenantDatabase};
use tenantry_test_utils::pg_admin_url;
use url::Url;

pub(crate) fn backend_at(url: &str) -> PostgresBackend {
    PostgresBackend::new("pg-test", &SecretString::from(url)).unwrap()
}

pub(crate) fn backend() -> PostgresBackend {
    backend_at(&pg_admin_url())
}

pub(crate) async fn admin() -> PgConnection {
    PgConnection::connect(&pg_admin_url()).await.unwrap()
}

pub(crate) fn new_tenant() -> TenantDatabase {
    let id = TenantId::new();
    TenantDatabase {
        name: DbIdent::derive("acme", id),
        role: Some(DbIdent::derive("acme", id)),
    }
}

pub(crate) async fn provision(pg: &PostgresBackend, db: &TenantDatabase, password: &SecretString) {
    pg.ensure_role(db, password, 7).await.unwrap();
    pg.ensure_database(db).await.unwrap();
}

/// Connects as `db`'s role with `password`, to `database` (default: its own).
pub(crate) async fn connect_as(
    pg: &PostgresBackend,
    db: &TenantDatabase,
    password: &SecretString,
    database: Option<&str>,
) -> Result<PgConnection, sqlx::Error> {
    let mut url = Url::parse(pg.tenant_url(db, Some(password)).expose_secret()).unwrap();
    if let Some(database) = database {
        url.set_path(database);
    }
    PgConnection::connect(url.as_str()).await
}

/// Logs in as `db`'s role to its own database, or panics.
pub(crate) async fn log_in(pg: &PostgresBackend, db: &TenantDatabase, password: &SecretString) {
    let conn = connect_as(pg, db, password, None).await;
    conn.unwrap_or_else(|e| panic!("{} cannot log in: {e}", db.name))
        .close()
        .await
        .unwrap();
}

pub(crate) fn sqlstate(err: &sqlx::Error) -> String {
    err.as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
        .unwrap_or_else(|| format!("not a database error: {err}"))
}

pub(crate) async fn scalar<T>(conn: &mut PgConnection, sql: &'static str, name: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    sqlx::query_scalar(sql)
        .bind(name)
        .fetch_one(conn)
        .await
        .unwrap()
}

/// How many databases and roles named like `db` the server holds.
pub(crate) async fn on_server(db: &TenantDatabase) -> (i64, i64) {
    let mut admin = admin().await;
    let role = db.role.as_ref().unwrap().as_str();
    let databases = "SELECT count(*) FROM pg_database WHERE datname = $1";
    let roles = "SELECT count(*) FROM pg_roles WHERE rolname = $1";
    (
        scalar(&mut admin, databases, db.name.as_str()).await,
        scalar(&mut admin, roles, role).await,
    )
}

/// Drops the tenants' databases and roles, then any extra roles, when the test ends however it
/// ends. `Drop` cannot await, so the work runs on its own thread and runtime.
pub(crate) struct Cleanup {
    pub(crate) tenants: Vec<TenantDatabase>,
    pub(crate) roles: Vec<String>,
}

impl Cleanup {
    pub(crate) fn of(tenants: Vec<TenantDatabase>) -> Self {
        Self {
            tenants,
            roles: Vec::new(),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (tenants, roles) = (
            std::mem::take(&mut self.tenants),
            std::mem::take(&mut self.roles),
        );
        let outcome = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let pg = backend();
                for db in &tenants {
                    pg.drop_database(db).await.map_err(|e| e.to_string())?;
                    pg.drop_role(db).await.map_err(|e| e.to_string())?;
                }
                let mut admin = admin().await;
                for role in roles {
                    admin
                        .execute(AssertSqlSafe(format!(r#"DROP ROLE IF EXISTS "{role}""#)))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok::<_, String>(())
            })
        })
        .join();
        if !matches!(outcome, Ok(Ok(()))) {
            eprintln!("backend_postgres: cleanup failed: {outcome:?}");
        }
    }
}
