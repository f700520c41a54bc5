//! Backups against real databases: round trips, schema catch-up, damaged files, clones,
//! deletion and recovery, on SQLite files and the test PostgreSQL server.

mod common;
mod data;

use common::{Env, TENANT_V2, latest};
use data::{Fingerprint, fingerprint, insert_ledgers, scribble};
use tenantry_provision::{BackupConfig, CloneTenant, FinalBackup, ProvisionError, Provisioner};
use tenantry_registry::{Actor, BackupState, Origin};
use tenantry_test_utils::Dialect;

fn sub(name: &str) -> tenantry_core::Subdomain {
    tenantry_core::Subdomain::parse(name, &[]).unwrap()
}

fn origin() -> Origin {
    Actor::Cli {
        user: "test".into(),
    }
    .into()
}

/// Backups into the test's own directory, a short fence (no `serve` is watching).
fn provisioner(env: &Env) -> Provisioner {
    env.provisioner().with_backups(config(env))
}

fn config(env: &Env) -> BackupConfig {
    let mut config = BackupConfig::local(env.master.dir());
    config.fence_settle = std::time::Duration::from_millis(50);
    config
}

async fn snapshot(p: &Provisioner, subdomain: &str) -> Fingerprint {
    let tenant = p.registry().find_tenant(&subdomain.into()).await.unwrap();
    let conn = p.connect_tenant(&tenant).await.unwrap();
    let print = fingerprint(&conn).await;
    conn.close().await.unwrap();
    print
}

async fn round_trip(backend: Dialect) {
    let env = Env::new(backend).await;
    let p = provisioner(&env);
    let tenant = env.create(&p, "alpha").await;
    insert_ledgers(&p, &tenant, 0..50).await;
    let backup = p.backup(&tenant.id.into(), &origin()).await.unwrap();
    assert_eq!(backup.state, BackupState::Completed);
    assert!(backup.bytes.unwrap() > 0 && backup.sha256.as_ref().unwrap().len() == 64);
    assert_eq!(backup.schema_version, tenant.schema_version);
    let before = snapshot(&p, "alpha").await;
    assert!(before.rows("ledgers") >= 50, "{before:?}");

    scribble(&p, &tenant).await;
    assert_ne!(
        snapshot(&p, "alpha").await,
        before,
        "the scribble changed nothing"
    );

    let restored = p
        .restore(&tenant.id.into(), backup.id, &origin())
        .await
        .unwrap();
    assert_eq!(
        snapshot(&p, "alpha").await,
        before,
        "every table is as backed up"
    );
    assert_ne!(
        restored.tenant.db_name, tenant.db_name,
        "restored into a new database"
    );
    assert!(
        env.leftovers(&tenant.db_name)
            .await
            .iter()
            .all(|l| !l.contains("pg_database") && !l.ends_with(".db")),
        "the replaced database is gone"
    );
    assert_eq!(restored.to_version, latest(&tenantry_app::MIGRATIONS));
    let again = p.registry().find_tenant(&tenant.id.into()).await.unwrap();
    assert_eq!(again.fence, None);
}

#[tokio::test]
async fn round_trip_restores_every_table_sqlite() {
    round_trip(Dialect::Sqlite).await;
}

#[tokio::test]
async fn round_trip_restores_every_table_postgres() {
    round_trip(Dialect::Postgres).await;
}

async fn older_backup_is_migrated_up(backend: Dialect) {
    let env = Env::new(backend).await;
    let p = provisioner(&env);
    let tenant = env.create(&p, "older").await;
    insert_ledgers(&p, &tenant, 0..5).await;
    let backup = p.backup(&tenant.id.into(), &origin()).await.unwrap();
    let newer = provisioner(&env).with_migrations(&TENANT_V2);
    let restored = newer
        .restore(&tenant.id.into(), backup.id, &origin())
        .await
        .unwrap();
    assert_eq!(restored.from_version, latest(&tenantry_app::MIGRATIONS));
    assert_eq!(restored.to_version, latest(&TENANT_V2));
    assert!(restored.to_version > restored.from_version);
    assert_eq!(restored.tenant.schema_version, restored.to_version);
}

#[tokio::test]
async fn a_backup_at_schema_n_restores_on_n_plus_1_sqlite() {
    older_backup_is_migrated_up(Dialect::Sqlite).await;
}

#[tokio::test]
async fn a_backup_at_schema_n_restores_on_n_plus_1_postgres() {
    older_backup_is_migrated_up(Dialect::Postgres).await;
}

/// The backup file as stored (local target).
fn file_of(location: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(location.strip_prefix("file://").expect("a local backup"))
}

async fn damaged_backups_are_refused(backend: Dialect) {
    let env = Env::new(backend).await;
    let p = provisioner(&env);
    let tenant = env.create(&p, "fragile").await;
    insert_ledgers(&p, &tenant, 0..20).await;
    let backup = p.backup(&tenant.id.into(), &origin()).await.unwrap();
    let path = file_of(&backup.location);
    let good = std::fs::read(&path).unwrap();
    scribble(&p, &tenant).await;
    let current = snapshot(&p, "fragile").await;
    let databases_before = env_databases(&p, &tenant).await;

    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    let truncated = good[..good.len() - 100].to_vec();
    for (what, damaged) in [
        ("one flipped byte", flipped),
        ("a truncated file", truncated),
    ] {
        std::fs::write(&path, &damaged).unwrap();
        let refused = p.restore(&tenant.id.into(), backup.id, &origin()).await;
        assert!(
            matches!(refused, Err(ProvisionError::BackupUnusable { .. })),
            "{what}: {refused:?}"
        );
        let message = refused.unwrap_err().to_string();
        assert!(
            message.contains(&backup.id.to_string()),
            "{what}: {message}"
        );
        assert_eq!(
            snapshot(&p, "fragile").await,
            current,
            "{what}: the tenant was touched"
        );
        let now = p.registry().find_tenant(&tenant.id.into()).await.unwrap();
        assert_eq!(now.db_name, tenant.db_name, "{what}");
        assert_eq!(
            env_databases(&p, &tenant).await,
            databases_before,
            "{what}: a database was left"
        );
    }
    // The same file, undamaged, restores: the refusals were about the damage.
    std::fs::write(&path, &good).unwrap();
    p.restore(&tenant.id.into(), backup.id, &origin())
        .await
        .unwrap();
}

/// The tenant databases on the tenant's backend whose name carries its subdomain.
async fn env_databases(p: &Provisioner, tenant: &tenantry_registry::Tenant) -> Vec<String> {
    let stem = format!("t_{}_", tenant.subdomain.as_str().replace('-', "_"));
    let mut names: Vec<String> = p
        .list_tenant_databases(tenant.server)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with(&stem))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_flipped_byte_or_a_truncated_file_is_refused_sqlite() {
    damaged_backups_are_refused(Dialect::Sqlite).await;
}

#[tokio::test]
async fn a_flipped_byte_or_a_truncated_file_is_refused_postgres() {
    damaged_backups_are_refused(Dialect::Postgres).await;
}

async fn clone_and_recover(backend: Dialect) {
    let env = Env::new(backend).await;
    let p = provisioner(&env);
    let source = env.create(&p, "source").await;
    insert_ledgers(&p, &source, 0..10).await;
    let backup = p.backup(&source.id.into(), &origin()).await.unwrap();
    let original = snapshot(&p, "source").await;

    let clone = p
        .clone_tenant(
            backup.id,
            CloneTenant {
                subdomain: sub("copy"),
                name: None,
                server: None,
                origin: origin(),
            },
        )
        .await
        .unwrap()
        .tenant;
    assert_ne!(clone.id, source.id);
    assert_eq!(
        snapshot(&p, "copy").await,
        original,
        "the clone holds the backup's data"
    );
    insert_ledgers(&p, &clone, 100..105).await;
    assert_eq!(
        snapshot(&p, "source").await,
        original,
        "writing to the clone changed the source"
    );
    scribble(&p, &source).await;
    assert_eq!(
        snapshot(&p, "copy").await.rows("ledgers"),
        original.rows("ledgers") + 5
    );

    // Delete (with its final backup), recover: the data is back.
    let before_delete = snapshot(&p, "source").await;
    p.delete(&source.id.into(), "source", &origin())
        .await
        .unwrap();
    assert!(
        p.registry()
            .live_tenant_by_subdomain(&sub("source"))
            .await
            .unwrap()
            .is_none()
    );
    let recovered = p.recover(&sub("source"), &origin()).await.unwrap();
    assert_eq!(recovered.id, source.id);
    assert_eq!(recovered.status, tenantry_registry::TenantStatus::Active);
    assert_eq!(snapshot(&p, "source").await, before_delete);

    // After its retention, a deleted tenant's backup is purged and it cannot come back.
    let mut expired = config(&env);
    expired.deleted_retention = chrono::Duration::seconds(-1);
    let p = env.provisioner().with_backups(expired);
    p.delete_with(&source.id.into(), "source", FinalBackup::Take, &origin())
        .await
        .unwrap();
    let gone = p.recover(&sub("source"), &origin()).await;
    assert!(
        matches!(
            gone,
            Err(ProvisionError::Registry(
                tenantry_registry::RegistryError::NotFound { .. }
            ))
        ),
        "{gone:?}"
    );
    let final_backup = p.registry().list_backups(source.id).await.unwrap()[0].clone();
    assert_eq!(
        p.purge_expired_backups(chrono::Utc::now()).await.unwrap(),
        1
    );
    assert!(
        !file_of(&final_backup.location).exists(),
        "the purged file remains"
    );
    assert!(
        p.registry()
            .backup(final_backup.id)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn clone_delete_recover_and_purge_sqlite() {
    clone_and_recover(Dialect::Sqlite).await;
}

#[tokio::test]
async fn clone_delete_recover_and_purge_postgres() {
    clone_and_recover(Dialect::Postgres).await;
}
