//! Moving a tenant between two real PostgreSQL clusters while a writer runs at full speed: no
//! acknowledged write lost, the write pause reported, the tenant served from the new server and
//! its old database and role gone; and the moves that are refused before anything is touched.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Env, add_server, count};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tenantry_core::{ServerName, TenantRef};
use tenantry_provision::{ProvisionError, Provisioner};
use tenantry_registry::{
    Actor, OperationQuery, OperationState, Origin, Registry, ServerState, Tenant,
};
use tenantry_test_utils::{Dialect, pg_admin, pg2_admin_url};

const TWO: &str = "pg-two";

fn origin() -> Origin {
    Actor::Cli {
        user: "test".into(),
    }
    .into()
}

/// A connection to wherever the registry says the tenant is now (`None` once stopped).
async fn connect(
    p: &Provisioner,
    registry: &Registry,
    tenant: &Tenant,
    stop: &AtomicBool,
) -> Option<DatabaseConnection> {
    while !stop.load(Ordering::Relaxed) {
        let current = registry.tenant(tenant.id).await.unwrap().unwrap();
        match p.connect_tenant(&current).await {
            Ok(conn) => return Some(conn),
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    None
}

/// Inserts ledgers as fast as it can until stopped, reconnecting (to wherever the registry
/// says the tenant is) after any failure; the codes whose INSERT was acknowledged, and how many
/// of them were acknowledged after `moved` was set.
fn spawn_writer(
    p: Arc<Provisioner>,
    registry: Registry,
    tenant: Tenant,
    stop: Arc<AtomicBool>,
    moved: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(Vec<String>, usize)> {
    tokio::spawn(async move {
        let (mut acked, mut after) = (Vec::new(), 0);
        let mut n = 0;
        while let Some(conn) = connect(&p, &registry, &tenant, &stop).await {
            let failed = loop {
                if stop.load(Ordering::Relaxed) {
                    break false;
                }
                n += 1;
                let code = format!("w{n}");
                let insert = Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "INSERT INTO ledgers (code, name, type) VALUES ($1, $1, 'asset')",
                    [code.clone().into()],
                );
                match conn.execute_raw(insert).await {
                    Ok(_) => {
                        after += usize::from(moved.load(Ordering::Relaxed));
                        acked.push(code);
                    }
                    Err(_) => break true,
                }
            };
            conn.close().await.ok();
            if !failed {
                break;
            }
        }
        (acked, after)
    })
}

async fn databases_named(conn: &DatabaseConnection, name: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'");
    count(conn, &sql).await
}

#[tokio::test]
async fn a_tenant_moves_between_clusters_while_a_writer_runs_and_loses_nothing() {
    let env = Env::new(Dialect::Postgres).await;
    let p = Arc::new(env.provisioner());
    let tenant = env.create(&p, "mover").await;
    add_server(&env.registry, TWO, &pg2_admin_url()).await;
    let source = tenant.server;

    let (stop, moved_flag) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let writer = spawn_writer(
        p.clone(),
        env.registry.clone(),
        tenant.clone(),
        stop.clone(),
        moved_flag.clone(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let to = ServerName::parse(TWO).unwrap();
    let (which, by) = (TenantRef::Id(tenant.id), origin());
    let moving = p.move_tenant(&which, &to, &by);
    let moved = tokio::time::timeout(Duration::from_secs(120), moving)
        .await
        .expect("the move ends within 2 minutes")
        .unwrap_or_else(|e| panic!("move: {e}"));
    moved_flag.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let (acked, after) = writer.await.unwrap();
    println!(
        "moved {} → {}: copy {} ms, write pause {} ms, {} writes acknowledged ({after} after)",
        moved.from,
        moved.to,
        moved.copy_ms,
        moved.write_pause_ms,
        acked.len()
    );

    assert_eq!(
        (moved.from.as_str(), moved.to.as_str()),
        (common::SERVER, TWO)
    );
    assert_ne!(moved.tenant.server, source);
    assert!(after > 0, "no write was acknowledged on the new server");
    assert!(
        moved.write_pause_ms < 5_000,
        "write pause {} ms",
        moved.write_pause_ms
    );
    // Every acknowledged write is on the new server.
    let conn = p.connect_tenant(&moved.tenant).await.unwrap();
    let rows = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT code FROM ledgers WHERE code LIKE 'w%'",
        ))
        .await
        .unwrap();
    let present: BTreeSet<String> = rows
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect();
    let lost: Vec<_> = acked.iter().filter(|c| !present.contains(*c)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost: {lost:?}",
        lost.len()
    );
    conn.close().await.unwrap();

    // Gone from the old cluster, there on the new one.
    let db = &moved.tenant.db_name;
    assert_eq!(databases_named(&pg_admin().await, db).await, 0);
    let two = sea_orm::Database::connect(pg2_admin_url()).await.unwrap();
    assert_eq!(databases_named(&two, db).await, 1);
    let slots = format!("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{db}'");
    assert_eq!(count(&pg_admin().await, &slots).await, 0, "a slot was left");
    let audit = env.registry.recent_audit(5).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "tenant.move"), "{audit:?}");
}

#[tokio::test]
async fn moves_that_cannot_work_are_refused_before_anything_is_touched() {
    let env = Env::new(Dialect::Postgres).await;
    let p = env.provisioner();
    let tenant = env.create(&p, "stay").await;
    let here = ServerName::parse(common::SERVER).unwrap();
    let refused = p
        .move_tenant(&TenantRef::Id(tenant.id), &here, &origin())
        .await;
    assert!(
        matches!(&refused, Err(ProvisionError::CannotMove { reason, .. }) if reason.contains("already")),
        "{refused:?}"
    );
    // A draining server takes no tenants, moved or new.
    add_server(&env.registry, TWO, &pg2_admin_url()).await;
    let two = ServerName::parse(TWO).unwrap();
    let audit = origin().entry("server.state", None, serde_json::json!({}));
    env.registry
        .set_server_state(&two, ServerState::Draining, audit)
        .await
        .unwrap();
    let full = p
        .move_tenant(&TenantRef::Id(tenant.id), &two, &origin())
        .await;
    assert!(
        matches!(&full, Err(ProvisionError::NoCapacity { .. })),
        "{full:?}"
    );
    let nowhere = ServerName::parse("pg-nowhere").unwrap();
    let unknown = p
        .move_tenant(&TenantRef::Id(tenant.id), &nowhere, &origin())
        .await;
    assert!(unknown.is_err());

    let lite = Env::new(Dialect::Sqlite).await;
    let lp = lite.provisioner();
    let local = lite.create(&lp, "local").await;
    add_server(&lite.registry, TWO, &pg2_admin_url()).await;
    let to = ServerName::parse(TWO).unwrap();
    let refused = lp
        .move_tenant(&TenantRef::Id(local.id), &to, &origin())
        .await;
    assert!(
        matches!(&refused, Err(ProvisionError::CannotMove { reason, .. }) if reason.contains("SQLite")),
        "{refused:?}"
    );
    // Both tenants untouched and active.
    for (registry, id) in [(&env.registry, tenant.id), (&lite.registry, local.id)] {
        let t = registry.tenant(id).await.unwrap().unwrap();
        assert_eq!(t.status, tenantry_registry::TenantStatus::Active);
        assert!(t.fence.is_none());
    }
}

#[tokio::test]
async fn a_move_cut_off_anywhere_is_resolved_to_one_working_database() {
    let env = Env::new(Dialect::Postgres).await;
    add_server(&env.registry, TWO, &pg2_admin_url()).await;
    let p = env.provisioner();
    let two = sea_orm::Database::connect(pg2_admin_url()).await.unwrap();
    let (one_name, two_name) = (
        ServerName::parse(common::SERVER).unwrap(),
        ServerName::parse(TWO).unwrap(),
    );
    let two_id = env.registry.server_by_name(&two_name).await.unwrap().id;
    // Cut off while copying, around the switch, and (the longest) after it.
    for (i, after_ms) in [30u64, 150, 300, 450, 700, 1500].into_iter().enumerate() {
        let tenant = env.create(&p, &format!("cut{i}")).await;
        // New tenants go to either server: move each to the other one.
        let to = if tenant.server == Some(two_id) {
            &one_name
        } else {
            &two_name
        };
        let (which, by) = (TenantRef::Id(tenant.id), origin());
        let cut = tokio::time::timeout(
            Duration::from_millis(after_ms),
            p.move_tenant(&which, to, &by),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let resolved = p
            .resolve_interrupted(Duration::from_millis(10))
            .await
            .unwrap();

        let now = env.registry.tenant(tenant.id).await.unwrap().unwrap();
        let at = format!(
            "cut after {after_ms} ms ({})",
            if cut.is_ok() { "finished" } else { "cut" }
        );
        assert_eq!(now.status, tenantry_registry::TenantStatus::Active, "{at}");
        assert!(now.fence.is_none(), "{at}");
        let query = OperationQuery {
            tenant: Some(tenant.id),
            state: Some(OperationState::Running),
            kind: None,
            page: 1,
            limit: 10,
        };
        let (running, _) = env.registry.list_operations(&query).await.unwrap();
        assert!(running.is_empty(), "{at}: {resolved:?}");
        // Exactly one database, where the registry says, and the tenant's role logs in to it.
        let (here, there) = (
            databases_named(&pg_admin().await, &now.db_name).await,
            databases_named(&two, &now.db_name).await,
        );
        let on_two = now.server == Some(two_id);
        assert_eq!((here, there), if on_two { (0, 1) } else { (1, 0) }, "{at}");
        let conn = p
            .connect_tenant(&now)
            .await
            .unwrap_or_else(|e| panic!("{at}: {e}"));
        assert!(
            count(&conn, "SELECT count(*) FROM ledgers").await > 0,
            "{at}"
        );
        conn.close().await.unwrap();
    }
    for admin in [pg_admin().await, two] {
        let ours = r"SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 't\_cut%'";
        assert_eq!(
            count(&admin, ours).await,
            0,
            "replication slots left behind"
        );
    }
}
