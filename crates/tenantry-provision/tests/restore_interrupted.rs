//! `reconcile` after a restore was interrupted: before the swap the new database goes and the
//! tenant keeps its own; after it the replaced database goes. Either way the fence is lifted.
//! And after a backup was cut off: its row is failed and no file of it is left.
//! The interrupted state is built as a killed process leaves it: a running `tenant.restore`
//! operation with its params, a fence, and the new database on the server.

mod common;
mod data;

use std::time::Duration;

use common::Env;
use data::{fingerprint, insert_ledgers};
use serde_json::json;
use tenantry_provision::{BackupConfig, Provisioner};
use tenantry_registry::{Actor, Fence, OperationKind, OperationState, Origin, Tenant};
use tenantry_test_utils::Dialect;
use uuid::Uuid;

fn provisioner(env: &Env) -> Provisioner {
    env.provisioner()
        .with_backups(BackupConfig::local(env.master.dir()))
}

/// A second database for `tenant` holding a copy of its data, as a restore's load leaves it;
/// returns its name.
async fn loaded_copy(p: &Provisioner, tenant: &Tenant) -> String {
    let origin: Origin = Actor::System.into();
    let backup = p.backup(&tenant.id.into(), &origin).await.unwrap();
    let clone = p
        .clone_tenant(
            backup.id,
            tenantry_provision::CloneTenant {
                subdomain: tenantry_core::Subdomain::parse("scratch", &[]).unwrap(),
                name: None,
                server: None,
                origin,
            },
        )
        .await
        .unwrap()
        .tenant;
    // Keep its database, forget the tenant: the database now belongs to nobody but the op.
    p.registry()
        .set_tenant_status(
            clone.id,
            tenantry_registry::TenantStatus::Deleted,
            None,
            Origin::from(Actor::System).entry("test", Some(clone.id), json!({})),
        )
        .await
        .unwrap();
    clone.db_name
}

/// A running restore of `tenant` from `old_db` to `new_db`, fenced.
async fn interrupted(p: &Provisioner, tenant: &Tenant, old_db: &str, new_db: &str) -> Uuid {
    let params = json!({
        "tenant_id": tenant.id.as_uuid(),
        "subdomain": tenant.subdomain,
        "backup": Uuid::nil(),
        "old_db": old_db,
        "new_db": new_db,
        "role": tenant.db_user,
        "server_id": tenant.server.map(|s| s.as_uuid()),
    });
    let op = p
        .registry()
        .start_operation(
            OperationKind::TenantRestore,
            Some(tenant.id),
            "swap",
            params,
            Some(&Actor::System),
        )
        .await
        .unwrap();
    p.registry()
        .set_tenant_fence(tenant.id, Some(Fence::Restore))
        .await
        .unwrap();
    op.id
}

async fn resolve(p: &Provisioner, op: Uuid) -> OperationState {
    tokio::time::sleep(Duration::from_millis(20)).await;
    p.resolve_interrupted(Duration::from_millis(10))
        .await
        .unwrap();
    p.registry().operation(op).await.unwrap().unwrap().state
}

async fn before_the_swap_the_new_database_goes(backend: Dialect) {
    let env = Env::new(backend).await;
    let p = provisioner(&env);
    let tenant = env.create(&p, "halfway").await;
    insert_ledgers(&p, &tenant, 0..10).await;
    let conn = p.connect_tenant(&tenant).await.unwrap();
    let before = fingerprint(&conn).await;
    conn.close().await.unwrap();
    let new_db = loaded_copy(&p, &tenant).await;
    let op = interrupted(&p, &tenant, &tenant.db_name, &new_db).await;

    assert_eq!(resolve(&p, op).await, OperationState::RolledBack);
    assert!(
        env.leftovers(&new_db)
            .await
            .iter()
            .all(|l| !l.contains("pg_database") && !l.ends_with(".db")),
        "the new database remains"
    );
    let now = p.registry().find_tenant(&tenant.id.into()).await.unwrap();
    assert_eq!(
        (now.db_name.as_str(), now.fence),
        (tenant.db_name.as_str(), None)
    );
    let conn = p.connect_tenant(&now).await.unwrap();
    assert_eq!(fingerprint(&conn).await, before);
    conn.close().await.unwrap();
}

async fn after_the_swap_the_old_database_goes(backend: Dialect) {
    let env = Env::new(backend).await;
    let p = provisioner(&env);
    let tenant = env.create(&p, "swapped").await;
    // A database nobody uses stands in for the replaced one, which a real restore (below)
    // already dropped: the crash came after the swap, before the drop.
    let replaced = loaded_copy(&p, &tenant).await;
    let origin: Origin = Actor::System.into();
    let backup = p.backup(&tenant.id.into(), &origin).await.unwrap();
    let restored = p
        .restore(&tenant.id.into(), backup.id, &origin)
        .await
        .unwrap()
        .tenant;
    let op = interrupted(&p, &restored, &replaced, &restored.db_name).await;

    assert_eq!(resolve(&p, op).await, OperationState::Succeeded);
    assert!(
        env.leftovers(&replaced)
            .await
            .iter()
            .all(|l| !l.contains("pg_database") && !l.ends_with(".db")),
        "the replaced database remains"
    );
    let now = p.registry().find_tenant(&tenant.id.into()).await.unwrap();
    assert_eq!(
        (now.db_name.as_str(), now.fence),
        (restored.db_name.as_str(), None)
    );
    p.connect_tenant(&now).await.unwrap().close().await.unwrap();
}

#[tokio::test]
async fn before_the_swap_reconcile_drops_the_new_database_sqlite() {
    before_the_swap_the_new_database_goes(Dialect::Sqlite).await;
}

#[tokio::test]
async fn before_the_swap_reconcile_drops_the_new_database_postgres() {
    before_the_swap_the_new_database_goes(Dialect::Postgres).await;
}

#[tokio::test]
async fn after_the_swap_reconcile_drops_the_old_database_sqlite() {
    after_the_swap_the_old_database_goes(Dialect::Sqlite).await;
}

#[tokio::test]
async fn after_the_swap_reconcile_drops_the_old_database_postgres() {
    after_the_swap_the_old_database_goes(Dialect::Postgres).await;
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .flat_map(|e| {
            let path = e.path();
            if path.is_dir() {
                files_under(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

#[tokio::test]
async fn a_backup_cut_off_anywhere_is_failed_and_leaves_no_file() {
    let env = Env::new(Dialect::Postgres).await;
    let p = provisioner(&env);
    let origin: Origin = Actor::System.into();
    for (i, after_ms) in [5u64, 40, 90, 160, 300].into_iter().enumerate() {
        let tenant = env.create(&p, &format!("cutbk{i}")).await;
        insert_ledgers(&p, &tenant, 0..200).await;
        let cut = tokio::time::timeout(
            Duration::from_millis(after_ms),
            p.backup(&tenant.id.into(), &origin),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let resolved = p
            .resolve_interrupted(Duration::from_millis(10))
            .await
            .unwrap();
        let at = format!(
            "cut after {after_ms} ms ({})",
            if cut.is_ok() { "done" } else { "cut" }
        );

        let backups = p.registry().list_backups(tenant.id).await.unwrap();
        let unfinished: Vec<_> = backups
            .iter()
            .filter(|b| b.state != tenantry_registry::BackupState::Completed)
            .collect();
        for b in &unfinished {
            assert_eq!(
                b.state,
                tenantry_registry::BackupState::Failed,
                "{at}: {resolved:?}"
            );
        }
        // Only completed backups have a file.
        let files = files_under(env.master.dir());
        for b in &unfinished {
            let id = b.id.to_string();
            let left: Vec<_> = files
                .iter()
                .filter(|f| f.to_string_lossy().contains(&id))
                .collect();
            assert!(left.is_empty(), "{at}: {left:?}");
        }
        for b in backups
            .iter()
            .filter(|b| b.state == tenantry_registry::BackupState::Completed)
        {
            let path = b.location.strip_prefix("file://").unwrap();
            assert!(std::path::Path::new(path).is_file(), "{at}: {}", b.location);
        }
        // The tenant serves on, and a new backup works.
        let again = p.backup(&tenant.id.into(), &origin).await;
        assert!(again.is_ok(), "{at}: {again:?}");
    }
}
