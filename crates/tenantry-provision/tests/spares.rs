//! Warm spares on PostgreSQL: built ahead of demand, claimed by `create` (renamed, new password,
//! seeded), refilled, rebuilt at a newer schema, never counted as drift or listed as tenants,
//! never built past the target by concurrent processes, and cleaned up after any crash.

mod common;

use std::time::Duration;

use common::{Env, TENANT_V2, count, drift_about, latest, request};
use sea_orm::{ConnectionTrait, Statement};
use tenantry_provision::reconcile::DriftScope;
use tenantry_provision::{Provisioner, SpareRefill, Step};
use tenantry_registry::{Spare, SpareState};
use tenantry_test_utils::{Dialect, pg_admin};

async fn spares(env: &Env) -> Vec<Spare> {
    env.registry.spares(None).await.unwrap()
}

/// Makes every spare look older than `SPARE_STALE_AFTER` (as if its process died long ago).
async fn age_spares(env: &Env) {
    let sql = "UPDATE spares SET updated_at = updated_at - INTERVAL '1 day'";
    env.registry
        .connection()
        .execute_unprepared(sql)
        .await
        .unwrap();
}

async fn stored_verifier(role: &str) -> String {
    let admin = pg_admin().await;
    let row = admin
        .query_one_raw(Statement::from_string(
            admin.get_database_backend(),
            format!("SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<String>(0).unwrap()
}

#[tokio::test]
async fn a_create_claims_a_ready_spare_which_is_then_refilled() {
    let env = Env::new(Dialect::Postgres).await;
    let p = env.provisioner();
    let built = p.refill_spares(2, 2).await.unwrap();
    assert_eq!(built.built, 2, "{built:?}");
    let before = spares(&env).await;
    let version = latest(&tenantry_app::MIGRATIONS);
    assert!(
        before
            .iter()
            .all(|s| s.state == SpareState::Ready && s.schema_version == version),
        "{before:?}"
    );

    let tenant = env.create(&p, "spared").await;
    assert!(
        tenant.db_name.starts_with("t_spared_"),
        "{}",
        tenant.db_name
    );
    assert_eq!(tenant.schema_version, version);
    let after = spares(&env).await;
    assert_eq!(after.len(), 1, "one spare taken: {after:?}");
    let taken = before.iter().find(|s| s.id != after[0].id).unwrap();
    assert!(
        env.leftovers(&taken.db_name).await.is_empty(),
        "the spare's names are the tenant's now"
    );
    // The tenant's own data, its own password (16-round verifier), its plan's limit.
    let conn = p.connect_tenant(&tenant).await.unwrap();
    let chart = i64::try_from(tenantry_app::DEFAULT_CHART.len()).unwrap();
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM ledgers").await, chart);
    let admins = "SELECT COUNT(*) FROM users WHERE email = 'admin@spared.example'";
    assert_eq!(count(&conn, admins).await, 1);
    conn.close().await.unwrap();
    let role = tenant.db_user.as_deref().unwrap();
    assert!(stored_verifier(role).await.starts_with("SCRAM-SHA-256$16:"));

    // Invisible as tenants and as drift; the pool is topped up again.
    assert_eq!(env.registry.list_tenants(None).await.unwrap().len(), 1);
    let report = p
        .reconcile(Duration::ZERO, DriftScope::Catalog)
        .await
        .unwrap();
    let names: Vec<&str> = after.iter().map(|s| s.db_name.as_str()).collect();
    assert!(drift_about(&report.drift, &names).is_empty(), "{report:?}");
    assert_eq!(p.refill_spares(2, 2).await.unwrap().built, 1);
    assert_eq!(spares(&env).await.len(), 2);
    p.refill_spares(0, 1).await.unwrap();
    assert!(spares(&env).await.is_empty(), "0 drops every ready spare");
    for spare in &after {
        assert!(env.leftovers(&spare.db_name).await.is_empty());
    }
}

#[tokio::test]
async fn concurrent_refills_never_build_past_the_target_and_creates_take_different_spares() {
    let env = Env::new(Dialect::Postgres).await;
    let (a, b) = (env.provisioner(), env.provisioner());
    let (ra, rb) = tokio::join!(a.refill_spares(3, 2), b.refill_spares(3, 2));
    let built = ra.unwrap().built + rb.unwrap().built;
    assert_eq!(built, 3);
    assert_eq!(spares(&env).await.len(), 3);

    let (x, y) = tokio::join!(a.create(request("spare-x")), b.create(request("spare-y")));
    let (x, y) = (x.unwrap().tenant, y.unwrap().tenant);
    assert_ne!(x.db_name, y.db_name);
    assert_eq!(spares(&env).await.len(), 1, "each took its own spare");
    for tenant in [&x, &y] {
        let conn = a.connect_tenant(tenant).await.unwrap();
        assert!(count(&conn, "SELECT COUNT(*) FROM ledgers").await >= 10);
        conn.close().await.unwrap();
    }
    a.refill_spares(0, 1).await.unwrap();
}

#[tokio::test]
async fn a_create_that_loses_its_subdomain_leaves_the_spares_it_did_not_use_ready() {
    let env = Env::new(Dialect::Postgres).await;
    let (a, b) = (env.provisioner(), env.provisioner());
    a.refill_spares(2, 1).await.unwrap();
    // The claim is in the reservation's transaction: the loser's refused reservation claims
    // nothing (its spare is neither held nor dropped).
    let (x, y) = tokio::join!(
        a.create(request("contested")),
        b.create(request("contested"))
    );
    assert!(x.is_ok() != y.is_ok(), "exactly one wins: {x:?} / {y:?}");
    let left = spares(&env).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].state, SpareState::Ready);
    a.refill_spares(0, 1).await.unwrap();
}

#[tokio::test]
async fn spares_at_an_older_schema_are_rebuilt_not_claimed() {
    let env = Env::new(Dialect::Postgres).await;
    env.provisioner().refill_spares(1, 1).await.unwrap();
    let old = spares(&env).await;
    let newer =
        Provisioner::new(env.registry.clone(), env.master.dir()).with_migrations(&TENANT_V2);
    let pass = newer.refill_spares(1, 1).await.unwrap();
    assert_eq!(
        pass,
        SpareRefill {
            built: 1,
            dropped: 1,
            failed: 0
        }
    );
    let now = spares(&env).await;
    assert_eq!(now.len(), 1);
    assert_ne!(now[0].id, old[0].id);
    assert_eq!(now[0].schema_version, latest(&TENANT_V2));
    assert!(env.leftovers(&old[0].db_name).await.is_empty());
    // The older release finds no spare at its schema: it creates the usual way.
    let tenant = env.create(&env.provisioner(), "old-release").await;
    assert_eq!(tenant.schema_version, latest(&tenantry_app::MIGRATIONS));
    assert_eq!(spares(&env).await.len(), 1, "the newer spare is left alone");
    newer.refill_spares(0, 1).await.unwrap();
}

#[tokio::test]
async fn spares_holding_another_build_s_chart_are_rebuilt_not_claimed() {
    let env = Env::new(Dialect::Postgres).await;
    let p = env.provisioner();
    p.refill_spares(1, 1).await.unwrap();
    let [built]: [Spare; 1] = spares(&env).await.try_into().unwrap();
    assert_eq!(
        built.seed.as_deref(),
        Some(tenantry_app::chart_fingerprint().as_str())
    );
    // As if an older build, with another chart, had built it.
    let sql = format!(
        "UPDATE spares SET seed = 'chart-0000000000000000' WHERE id = '{}'",
        built.id
    );
    env.registry
        .connection()
        .execute_unprepared(&sql)
        .await
        .unwrap();
    let tenant = env.create(&p, "other-chart").await;
    assert_eq!(spares(&env).await.len(), 1, "not claimed");
    assert!(!env.leftovers(&built.db_name).await.is_empty());
    let conn = p.connect_tenant(&tenant).await.unwrap();
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM ledgers").await,
        i64::try_from(tenantry_app::DEFAULT_CHART.len()).unwrap()
    );
    conn.close().await.unwrap();

    let pass = p.refill_spares(1, 1).await.unwrap();
    assert_eq!((pass.built, pass.dropped, pass.failed), (1, 1, 0));
    assert!(env.leftovers(&built.db_name).await.is_empty());
    p.refill_spares(0, 1).await.unwrap();
}

#[tokio::test]
async fn a_creation_cut_off_after_its_claim_is_rolled_back_with_the_spare() {
    let env = Env::new(Dialect::Postgres).await;
    let p = env.provisioner();
    // Every step before activation, the spare path's unrecorded ones included.
    let steps = [
        Step::Reserve,
        Step::Role,
        Step::Database,
        Step::Migrate,
        Step::Seed,
    ];
    for (i, step) in steps.into_iter().enumerate() {
        p.refill_spares(1, 1).await.unwrap();
        let spare = spares(&env).await.remove(0);
        let crashing = env.provisioner().with_failpoint(Some(step));
        crashing
            .create(request(&format!("cut-{i}")))
            .await
            .unwrap_err();
        let resolved = p.resolve_interrupted(Duration::ZERO).await.unwrap();
        assert_eq!(resolved.len(), 1, "{step}: {resolved:?}");
        assert!(
            spares(&env).await.is_empty(),
            "{step}: the claimed spare is gone"
        );
        assert!(env.leftovers(&spare.db_name).await.is_empty(), "{step}");
        assert!(env.registry.list_tenants(None).await.unwrap().is_empty());
    }
}

async fn server_count(sql: String) -> i64 {
    let admin = pg_admin().await;
    let row = admin
        .query_one_raw(Statement::from_string(admin.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

#[tokio::test]
async fn a_claim_the_server_refuses_renames_nothing_and_is_rolled_back() {
    let env = Env::new(Dialect::Postgres).await;
    let p = env.provisioner();
    p.refill_spares(1, 1).await.unwrap();
    let spare = spares(&env).await.remove(0);
    // Its database went away behind our back: the role's rename, first in the claim's
    // transaction, must not survive the database's failed one.
    let admin = pg_admin().await;
    admin
        .execute_unprepared(&format!("DROP DATABASE \"{}\"", spare.db_name))
        .await
        .unwrap();

    // A name no other test uses: roles and databases are the cluster's, shared by every test.
    p.create(request("refused-claim")).await.unwrap_err();
    assert!(env.registry.list_tenants(None).await.unwrap().is_empty());
    assert!(
        spares(&env).await.is_empty(),
        "the claimed spare is released"
    );
    assert!(env.leftovers(&spare.db_name).await.is_empty());
    let tenant_names = "FROM pg_roles WHERE rolname LIKE 't\\_refused\\_claim\\_%'";
    assert_eq!(
        server_count(format!("SELECT COUNT(*) {tenant_names}")).await,
        0
    );
    let tenant_dbs = "FROM pg_database WHERE datname LIKE 't\\_refused\\_claim\\_%'";
    assert_eq!(
        server_count(format!("SELECT COUNT(*) {tenant_dbs}")).await,
        0
    );
}

#[tokio::test]
async fn spares_a_dead_process_abandoned_are_dropped() {
    let env = Env::new(Dialect::Postgres).await;
    let p = env.provisioner();
    p.refill_spares(2, 1).await.unwrap();
    let [building, claimed]: [Spare; 2] = spares(&env).await.try_into().unwrap();
    // One left half-built, one claimed by a creation that never recorded its tenant.
    env.registry
        .connection()
        .execute_unprepared(&format!(
            "UPDATE spares SET state = 'building', schema_version = NULL WHERE id = '{}'",
            building.id
        ))
        .await
        .unwrap();
    // As a release that claimed before reserving could leave it: claimed for a tenant that
    // was never recorded.
    let ghost = tenantry_core::TenantId::new();
    env.registry
        .connection()
        .execute_unprepared(&format!(
            "UPDATE spares SET state = 'claimed', claimed_by = '{ghost}' WHERE id = '{}'",
            claimed.id
        ))
        .await
        .unwrap();
    assert_eq!(
        p.resolve_spares().await.unwrap(),
        0,
        "young: maybe alive elsewhere"
    );

    age_spares(&env).await;
    assert_eq!(p.resolve_spares().await.unwrap(), 2);
    assert!(spares(&env).await.is_empty());
    for spare in [&building, &claimed] {
        assert!(env.leftovers(&spare.db_name).await.is_empty());
    }
}
