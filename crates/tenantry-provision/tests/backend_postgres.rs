//! `PostgresBackend` against the real test server (`scripts/test`): least privilege, isolation
//! between tenants, suspension, deletion, and failure reporting. Every tenant gets fresh random
//! names and is dropped by a guard, even when the test fails.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret as _, SecretString};
use sqlx::{AssertSqlSafe, Connection as _, Executor as _, PgConnection};
use tenantry_core::TenantId;
use tenantry_core::vault::random_password;
use tenantry_provision::backend::postgres::PostgresBackend;
use tenantry_provision::backend::{BackendError, DatabaseBackend, DbIdent, Login, TenantDatabase};
use tenantry_test_utils::pg_admin_url;
use url::Url;
use uuid::Uuid;

fn backend_at(url: &str) -> PostgresBackend {
    PostgresBackend::new("pg-test", &SecretString::from(url)).unwrap()
}

fn backend() -> PostgresBackend {
    backend_at(&pg_admin_url())
}

async fn admin() -> PgConnection {
    PgConnection::connect(&pg_admin_url()).await.unwrap()
}

fn new_tenant() -> TenantDatabase {
    let id = TenantId::new();
    TenantDatabase {
        name: DbIdent::derive("acme", id),
        role: Some(DbIdent::derive("acme", id)),
    }
}

async fn provision(pg: &PostgresBackend, db: &TenantDatabase, password: &SecretString) {
    pg.ensure_role(db, password, 7).await.unwrap();
    pg.ensure_database(db).await.unwrap();
}

/// Connects as `db`'s role with `password`, to `database` (default: its own).
async fn connect_as(
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
async fn log_in(pg: &PostgresBackend, db: &TenantDatabase, password: &SecretString) {
    let conn = connect_as(pg, db, password, None).await;
    conn.unwrap_or_else(|e| panic!("{} cannot log in: {e}", db.name))
        .close()
        .await
        .unwrap();
}

fn sqlstate(err: &sqlx::Error) -> String {
    err.as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
        .unwrap_or_else(|| format!("not a database error: {err}"))
}

async fn scalar<T>(conn: &mut PgConnection, sql: &'static str, name: &str) -> T
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
async fn on_server(db: &TenantDatabase) -> (i64, i64) {
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
struct Cleanup {
    tenants: Vec<TenantDatabase>,
    roles: Vec<String>,
}

impl Cleanup {
    fn of(tenants: Vec<TenantDatabase>) -> Self {
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

#[tokio::test]
async fn provisioning_twice_converges_on_one_least_privilege_role_and_database() {
    let (pg, db) = (backend(), new_tenant());
    let _cleanup = Cleanup::of(vec![db.clone()]);
    let (first, second) = (random_password(), random_password());

    let started = Instant::now();
    pg.ensure_role(&db, &first, 7).await.unwrap();
    let role_ms = started.elapsed().as_millis();
    let started = Instant::now();
    pg.ensure_database(&db).await.unwrap();
    let create_ms = started.elapsed().as_millis();
    // Again, as after a crash: the password is reset to the one given now.
    pg.ensure_role(&db, &second, 7).await.unwrap();
    let started = Instant::now();
    pg.ensure_database(&db).await.unwrap();
    let again_ms = started.elapsed().as_millis();
    eprintln!(
        "ensure_role {role_ms} ms, first ensure_database {create_ms} ms, second {again_ms} ms"
    );

    let (name, role) = (db.name.as_str(), db.role.as_ref().unwrap().as_str());
    let mut admin = admin().await;
    assert_eq!(on_server(&db).await, (1, 1));
    let attributes: (bool, bool, bool, bool, bool, bool, bool, i32) = sqlx::query_as(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolreplication, rolbypassrls, \
                rolcanlogin, rolconnlimit FROM pg_roles WHERE rolname = $1",
    )
    .bind(role)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    // rolinherit is true on purpose: see ROLE_ATTRIBUTES in backend/postgres.rs.
    assert_eq!(
        attributes,
        (false, false, false, true, false, false, true, 7)
    );
    let memberships = "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1";
    assert_eq!(
        scalar::<i64>(&mut admin, memberships, role).await,
        0,
        "granted no roles"
    );
    let owner = "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1";
    assert_eq!(scalar::<String>(&mut admin, owner, name).await, role);
    let public = "SELECT has_database_privilege('public', $1, 'CONNECT') \
                  OR has_database_privilege('public', $1, 'TEMPORARY')";
    assert!(
        !scalar::<bool>(&mut admin, public, name).await,
        "PUBLIC may not connect or use temp"
    );
    let stored = "SELECT rolpassword FROM pg_authid WHERE rolname = $1";
    assert!(
        scalar::<String>(&mut admin, stored, role)
            .await
            .starts_with("SCRAM-SHA-256$16:")
    );

    // Over TCP with scram-sha-256: only the latest password works.
    let err = connect_as(&pg, &db, &first, None).await.unwrap_err();
    assert_eq!(sqlstate(&err), "28P01", "{err}");
    let mut tenant = connect_as(&pg, &db, &second, None).await.unwrap();
    // What migrations need: tables in its own database's `public` schema.
    tenant
        .execute("CREATE TABLE ledgers (id bigint PRIMARY KEY)")
        .await
        .unwrap();
    tenant.close().await.unwrap();

    assert!(pg.database_exists(&db).await.unwrap());
    assert!(
        pg.list_databases()
            .await
            .unwrap()
            .contains(&name.to_owned())
    );
    assert!(pg.list_roles().await.unwrap().contains(&role.to_owned()));
}

#[tokio::test]
async fn a_tenant_role_reaches_only_its_own_database() {
    let pg = backend();
    let (a, b) = (new_tenant(), new_tenant());
    let _cleanup = Cleanup::of(vec![a.clone(), b.clone()]);
    let (pw_a, pw_b) = (random_password(), random_password());
    provision(&pg, &a, &pw_a).await;
    provision(&pg, &b, &pw_b).await;

    log_in(&pg, &a, &pw_a).await;
    let err = connect_as(&pg, &a, &pw_a, Some(b.name.as_str()))
        .await
        .unwrap_err();
    assert_eq!(
        sqlstate(&err),
        "42501",
        "permission denied for database: {err}"
    );
    assert!(err.to_string().contains("permission denied"), "{err}");

    // `postgres` keeps PostgreSQL's default CONNECT for PUBLIC (a server-wide setting we leave
    // alone), so the role can log in there — but it cannot create anything.
    let mut postgres = connect_as(&pg, &a, &pw_a, Some("postgres"))
        .await
        .expect("PUBLIC has CONNECT on postgres by default");
    let err = postgres
        .execute("CREATE TABLE stolen (id int)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "{err}");
    postgres.close().await.unwrap();
}

#[tokio::test]
async fn the_password_is_sent_only_as_a_scram_verifier() {
    let (pg, db) = (backend(), new_tenant());
    let _cleanup = Cleanup::of(vec![db.clone()]);
    let password = random_password();
    pg.ensure_role(&db, &password, 3).await.unwrap();

    // The admin connection stays open and idle; pg_stat_activity shows its last statement.
    let mut admin = admin().await;
    let queries: Vec<String> = sqlx::query_scalar(
        "SELECT query FROM pg_stat_activity WHERE application_name = 'tenantry-provision'",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let ours = format!("CREATE ROLE {}", db.role.as_ref().unwrap().quoted());
    let sent = queries
        .iter()
        .find(|q| q.starts_with(&ours))
        .expect("our CREATE ROLE is visible");
    assert!(sent.contains("PASSWORD 'SCRAM-SHA-256$16:"), "{sent}");
    assert!(
        queries
            .iter()
            .all(|q| !q.contains(password.expose_secret()))
    );
}

#[tokio::test]
async fn refusing_login_ends_open_sessions_and_allowing_restores_it() {
    let (pg, db) = (backend(), new_tenant());
    let _cleanup = Cleanup::of(vec![db.clone()]);
    let password = random_password();
    provision(&pg, &db, &password).await;
    let mut open = connect_as(&pg, &db, &password, None).await.unwrap();
    open.execute("SELECT 1").await.unwrap();

    let started = Instant::now();
    pg.set_login(&db, Login::Refused).await.unwrap();
    eprintln!(
        "set_login(Refused) with one open session: {} ms",
        started.elapsed().as_millis()
    );
    assert!(
        open.execute("SELECT 1").await.is_err(),
        "the open session was ended"
    );
    let err = connect_as(&pg, &db, &password, None).await.unwrap_err();
    assert_eq!(
        sqlstate(&err),
        "28000",
        "role is not permitted to log in: {err}"
    );
    let mut admin = admin().await;
    let sessions = "SELECT count(*) FROM pg_stat_activity WHERE usename = $1";
    assert_eq!(
        scalar::<i64>(&mut admin, sessions, db.role.as_ref().unwrap().as_str()).await,
        0
    );
    pg.set_login(&db, Login::Refused).await.unwrap();

    pg.set_login(&db, Login::Allowed).await.unwrap();
    log_in(&pg, &db, &password).await;
}

#[tokio::test]
async fn dropping_removes_database_and_role_and_is_idempotent() {
    let (pg, db) = (backend(), new_tenant());
    let _cleanup = Cleanup::of(vec![db.clone()]);
    let password = random_password();
    provision(&pg, &db, &password).await;
    let _session = connect_as(&pg, &db, &password, None).await.unwrap();

    // Role before database is refused, with the order to follow.
    let err = pg.drop_role(&db).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Failed { .. }) && err.to_string().contains("first"),
        "{err}"
    );

    let started = Instant::now();
    pg.drop_database(&db).await.unwrap(); // ends the open session (WITH (FORCE))
    eprintln!(
        "drop_database with one open session: {} ms",
        started.elapsed().as_millis()
    );
    pg.drop_role(&db).await.unwrap();
    pg.drop_database(&db).await.unwrap();
    pg.drop_role(&db).await.unwrap();

    assert_eq!(on_server(&db).await, (0, 0));
    assert!(!pg.database_exists(&db).await.unwrap());
    assert!(
        !pg.list_databases()
            .await
            .unwrap()
            .contains(&db.name.to_string())
    );
}

#[tokio::test]
async fn listings_hold_tenant_names_only() {
    let pg = backend();
    let mut admin = admin().await;
    let all: Vec<String> = sqlx::query_scalar("SELECT datname::text FROM pg_database")
        .fetch_all(&mut admin)
        .await
        .unwrap();
    assert!(all.iter().any(|n| n == "template0") && all.iter().any(|n| n == "template1"));
    let listed = pg.list_databases().await.unwrap();
    for system in ["template0", "template1", "postgres"] {
        assert!(!listed.iter().any(|n| n == system), "{system} listed");
    }
    assert!(
        listed.iter().all(|n| DbIdent::parse(n).is_ok()),
        "{listed:?}"
    );
    let roles = pg.list_roles().await.unwrap();
    assert!(roles.iter().all(|n| DbIdent::parse(n).is_ok()), "{roles:?}");
}

#[tokio::test]
async fn concurrent_provisioning_of_one_tenant_converges() {
    let db = new_tenant();
    let _cleanup = Cleanup::of(vec![db.clone()]);
    let password = random_password();
    let (one, two) = (backend(), backend());
    let (r1, r2) = tokio::join!(
        async {
            one.ensure_role(&db, &password, 5).await?;
            one.ensure_database(&db).await
        },
        async {
            two.ensure_role(&db, &password, 5).await?;
            two.ensure_database(&db).await
        },
    );
    r1.unwrap();
    r2.unwrap();
    log_in(&one, &db, &password).await;
}

/// Managed services (RDS, Cloud SQL) give no superuser: a CREATEROLE CREATEDB admin must manage
/// the whole lifecycle too.
#[tokio::test]
async fn a_non_superuser_admin_can_run_the_whole_lifecycle() {
    let admin_role = format!("tenantry_test_admin_{}", Uuid::new_v4().simple());
    let admin_password = random_password();
    let db = new_tenant();
    let _cleanup = Cleanup {
        tenants: vec![db.clone()],
        roles: vec![admin_role.clone()],
    };
    admin()
        .await
        .execute(AssertSqlSafe(format!(
            r#"CREATE ROLE "{admin_role}" LOGIN CREATEROLE CREATEDB PASSWORD '{}'"#,
            admin_password.expose_secret() // base64url: no quotes
        )))
        .await
        .unwrap();
    let mut url = Url::parse(&pg_admin_url()).unwrap();
    url.set_username(&admin_role).unwrap();
    url.set_password(Some(admin_password.expose_secret()))
        .unwrap();
    let pg = backend_at(url.as_str());

    let password = random_password();
    provision(&pg, &db, &password).await;
    provision(&pg, &db, &password).await; // ALTER ROLE path without SUPERUSER-only attributes
    let mut session = connect_as(&pg, &db, &password, None).await.unwrap();
    pg.set_login(&db, Login::Refused).await.unwrap();
    assert!(session.execute("SELECT 1").await.is_err());
    pg.set_login(&db, Login::Allowed).await.unwrap();
    pg.drop_database(&db).await.unwrap();
    pg.drop_role(&db).await.unwrap();
    assert_eq!(on_server(&db).await, (0, 0));
}

#[tokio::test]
async fn an_unreachable_server_is_reported_quickly_without_secrets() {
    let pg = backend_at("postgres://x:hunter2-secret@127.0.0.1:1/postgres");
    let started = Instant::now();
    let err = pg
        .ensure_role(&new_tenant(), &SecretString::from("tenant-secret"), 1)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    eprintln!("unreachable after {} ms: {err}", elapsed.as_millis());
    assert!(matches!(err, BackendError::Unreachable { .. }), "{err:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains("hunter2") && !text.contains("tenant-secret"),
        "{text}"
    );
    assert!(text.contains("refused"), "says why: {text}");
}

#[tokio::test]
async fn refused_admin_credentials_are_unreachable() {
    let mut url = Url::parse(&pg_admin_url()).unwrap();
    url.set_username("tenantry_no_such_admin").unwrap();
    url.set_password(Some("wrong-pw")).unwrap();
    let err = backend_at(url.as_str()).list_databases().await.unwrap_err();
    assert!(matches!(err, BackendError::Unreachable { .. }), "{err:?}");
    assert!(!format!("{err:?}").contains("wrong-pw"), "{err:?}");
}
