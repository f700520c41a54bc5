//! What `serve` does on its own: two processes on one master with a backup schedule take each
//! tenant's scheduled backup once, and measure each tenant's storage.

mod common;

use std::time::{Duration, Instant};

use common::fleet::{create_in_process, registry};
use common::serve::Serve;
use common::{Master, assert_exit};
use tenantry_registry::{BackupKind, BackupState, Registry, TenantQuery};
use tenantry_test_utils::Dialect;

const TENANTS: usize = 8;

fn all() -> TenantQuery {
    TenantQuery {
        page: 1,
        limit: 100,
        ..TenantQuery::default()
    }
}

/// Every live tenant's scheduled backups: (completed, any other state).
async fn scheduled(registry: &Registry) -> Vec<(String, usize, usize)> {
    let page = registry.search_tenants(&all()).await.unwrap();
    let mut counts = Vec::new();
    for tenant in page.tenants {
        let backups = registry.list_backups(tenant.id).await.unwrap();
        let of = |done: bool| {
            backups
                .iter()
                .filter(|b| b.kind == BackupKind::Scheduled)
                .filter(|b| (b.state == BackupState::Completed) == done)
                .count()
        };
        counts.push((tenant.subdomain.to_string(), of(true), of(false)));
    }
    counts
}

#[tokio::test]
async fn two_serves_take_each_scheduled_backup_once_and_measure_storage() {
    let master = Master::new(Dialect::Postgres).await;
    assert_exit(&master.run(&["master", "migrate"]), 0);
    let names: Vec<String> = (0..TENANTS).map(|i| format!("sched{i:02}")).collect();
    create_in_process(&master, &names).await;
    let registry = registry(&master).await;

    let env = [
        ("TENANTRY__BACKUPS__EVERY_SECS", "3600"),
        ("TENANTRY__BACKUPS__JITTER_SECS", "0"),
        ("TENANTRY__BACKUPS__CONCURRENCY", "3"),
        ("TENANTRY__TENANTS__STORAGE_CHECK_EVERY_SECS", "10"),
    ];
    let serves = [Serve::start(&master, &env), Serve::start(&master, &env)];

    let started = Instant::now();
    loop {
        let counts = scheduled(&registry).await;
        assert_eq!(counts.len(), TENANTS);
        if counts.iter().all(|(_, done, _)| *done >= 1) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "scheduled backups not all taken: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Let both schedulers finish their pass: still exactly one each, none failed.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (tenant, done, other) in scheduled(&registry).await {
        assert_eq!((done, other), (1, 0), "{tenant}");
    }

    let started = Instant::now();
    loop {
        let page = registry.search_tenants(&all()).await.unwrap();
        let unmeasured: Vec<_> = page
            .tenants
            .iter()
            .filter(|t| t.storage_used_bytes.is_none_or(|b| b <= 0))
            .map(|t| t.subdomain.to_string())
            .collect();
        if unmeasured.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "storage never measured: {unmeasured:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for serve in serves {
        let log = serve.stop();
        assert!(!log.contains("pass failed"), "{log}");
    }
}
