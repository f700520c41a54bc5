//! After creation: refusing and allowing login (suspension), dropping, what the listings hold,
//! and the whole lifecycle run by a non-superuser admin.

use std::time::Instant;

use secrecy::ExposeSecret as _;
use sqlx::{AssertSqlSafe, Executor as _};
use tenantry_core::vault::random_password;
use tenantry_provision::backend::{BackendError, DatabaseBackend, DbIdent, Login};
use tenantry_test_utils::pg_admin_url;
use url::Url;
use uuid::Uuid;

use crate::support::{
    Cleanup, admin, backend, backend_at, connect_as, log_in, new_tenant, on_server, provision,
    scalar, sqlstate,
};

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
