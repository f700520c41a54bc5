//! Scheduled backups: two schedulers (two `serve` processes) over one master take each due
//! backup once; retention prunes by the policy at a given (fake) time.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::Env;
use tenantry_backup::retention::Policy;
use tenantry_provision::{BackupConfig, Provisioner, Schedule};
use tenantry_registry::{Actor, BackupKind, BackupState, Origin};
use tenantry_test_utils::Dialect;

fn provisioner(env: &Env) -> Provisioner {
    env.provisioner()
        .with_backups(BackupConfig::local(env.master.dir()))
}

fn schedule(concurrency: usize) -> Schedule {
    Schedule {
        every: Duration::from_secs(3600),
        keep: Policy {
            daily: 7,
            weekly: 4,
            monthly: 12,
            min_keep: 3,
        },
        concurrency,
        include_suspended: false,
    }
}

async fn each_backup_is_taken_once(backend: Dialect) {
    let env = Env::new(backend).await;
    let (first, second) = (provisioner(&env), provisioner(&env));
    let mut tenants = Vec::new();
    for i in 0..12 {
        tenants.push(env.create(&first, &format!("sched{i}")).await);
    }
    let now = Utc::now();
    let plan = schedule(50);
    let (a, b) = tokio::join!(
        first.run_backup_schedule(&plan, now),
        second.run_backup_schedule(&plan, now),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.taken + b.taken, 12, "{a:?} {b:?}");
    assert_eq!(a.failed + b.failed, 0, "{a:?} {b:?}");
    for tenant in &tenants {
        let backups = first.registry().list_backups(tenant.id).await.unwrap();
        assert_eq!(backups.len(), 1, "{}: {backups:?}", tenant.subdomain);
        assert_eq!(backups[0].state, BackupState::Completed);
        assert_eq!(backups[0].kind, BackupKind::Scheduled);
    }
    // Nothing is due until `every` has passed.
    let again = first.run_backup_schedule(&schedule(50), now).await.unwrap();
    assert_eq!(again.taken, 0, "{again:?}");

    // Suspended tenants are skipped unless asked for.
    let origin: Origin = Actor::System.into();
    first
        .suspend(&tenants[0].id.into(), "unpaid", &origin)
        .await
        .unwrap();
    let later = now + chrono::Duration::hours(2);
    let pass = second
        .run_backup_schedule(&schedule(50), later)
        .await
        .unwrap();
    assert_eq!(pass.taken, 11, "{pass:?}");
    let suspended = first.registry().list_backups(tenants[0].id).await.unwrap();
    assert_eq!(suspended.len(), 1, "the suspended tenant was backed up");
}

#[tokio::test]
async fn two_schedulers_take_each_backup_once_sqlite() {
    each_backup_is_taken_once(Dialect::Sqlite).await;
}

#[tokio::test]
async fn two_schedulers_take_each_backup_once_postgres() {
    each_backup_is_taken_once(Dialect::Postgres).await;
}

/// At a time far ahead (a fake clock), the policy keeps exactly its minimum of the oldest-looking
/// backups' newest ones, and pruning removes each file with its row.
#[tokio::test]
async fn retention_prunes_files_and_rows_at_a_later_time() {
    let env = Env::new(Dialect::Sqlite).await;
    let p = provisioner(&env);
    let tenant = env.create(&p, "keeper").await;
    let origin: Origin = Actor::System.into();
    let mut taken = Vec::new();
    for _ in 0..4 {
        taken.push(p.backup(&tenant.id.into(), &origin).await.unwrap());
    }
    let now = Utc::now();
    let policy = Policy {
        daily: 7,
        weekly: 0,
        monthly: 0,
        min_keep: 2,
    };
    // Today: one per day is kept, plus the newest two overall → the newest two stay.
    assert_eq!(p.prune_backups(&tenant, &policy, now).await.unwrap(), 2);
    let left = p.registry().list_backups(tenant.id).await.unwrap();
    let ids: Vec<_> = left.iter().map(|b| b.id).collect();
    assert_eq!(ids, vec![taken[3].id, taken[2].id]);
    for gone in &taken[..2] {
        let path = gone.location.strip_prefix("file://").unwrap();
        assert!(!std::path::Path::new(path).exists(), "{path} remains");
    }
    // A year on, no day or week bucket holds them: only the minimum count keeps them.
    let later = now + chrono::Duration::days(365);
    assert_eq!(p.prune_backups(&tenant, &policy, later).await.unwrap(), 0);
    let strict = Policy {
        min_keep: 1,
        ..policy
    };
    assert_eq!(p.prune_backups(&tenant, &strict, later).await.unwrap(), 1);
    let left = p.registry().list_backups(tenant.id).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, taken[3].id);
}

/// A tenant whose backup fails is reported and not retried within the pass, which ends; the
/// others are taken, one at a time.
#[tokio::test]
async fn a_failing_tenant_is_reported_and_the_pass_ends() {
    let env = Env::new(Dialect::Sqlite).await;
    let p = provisioner(&env);
    let mut tenants = Vec::new();
    for name in ["ok-one", "broken", "ok-two"] {
        tenants.push(env.create(&p, name).await);
    }
    let file = env
        .master
        .dir()
        .join("tenants")
        .join(format!("{}.db", tenants[1].db_name));
    std::fs::remove_file(&file).unwrap();
    let pass = p
        .run_backup_schedule(&schedule(1), Utc::now())
        .await
        .unwrap();
    assert_eq!((pass.taken, pass.failed), (2, 1), "{pass:?}");
    let failed = p.registry().list_backups(tenants[1].id).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].state, BackupState::Failed);
    assert!(
        failed[0]
            .error
            .as_deref()
            .unwrap()
            .contains("does not exist"),
        "{failed:?}"
    );
}
