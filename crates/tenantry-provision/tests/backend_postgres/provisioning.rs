//! Creating a tenant's role and database: least privilege, convergence when repeated or run
//! concurrently, isolation between tenants, and a password that leaves only as a SCRAM verifier.

use std::time::Instant;

use secrecy::ExposeSecret as _;
use sqlx::{Connection as _, Executor as _};
use tenantry_core::vault::random_password;
use tenantry_provision::backend::DatabaseBackend;

use crate::support::{
    Cleanup, admin, backend, connect_as, log_in, new_tenant, on_server, provision, scalar, sqlstate,
};

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
