//! The server-wide connection budget: never exceeded, and idle connections are lent across tenants.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use tenantry_pool::{PoolConfig, PoolError};

use crate::common::{self, Fixture, MapResolver, ping, pools};
use crate::support::config;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hundred_tenants_never_exceed_a_budget_of_forty() {
    let fx = Fixture::new(10).await;
    let resolver = Arc::new(MapResolver::default());
    let ids: Vec<_> = (0..300)
        .map(|i| resolver.add(fx.url(&fx.dbs[i % 10], &fx.password), 3))
        .collect();
    // A generous connect timeout: on a loaded 2-core CI machine a healthy connect can be slow,
    // and this test is about the budget, not about dead databases.
    let pools = pools(
        PoolConfig {
            acquire_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(10),
            ..config(40)
        },
        resolver,
    );

    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (done, role) = (done.clone(), fx.role.clone());
        tokio::spawn(async move {
            let admin = tenantry_test_utils::pg_admin().await;
            let sql = format!("SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}'");
            let (mut peak, mut samples) = (0, 0);
            while !done.load(Ordering::SeqCst) {
                peak = peak.max(common::scalar(&admin, &sql).await);
                samples += 1;
            }
            (peak, samples)
        })
    };
    let tasks: Vec<_> = ids
        .iter()
        .flat_map(|&t| [t, t])
        .map(|tenant| {
            let pools = pools.clone();
            tokio::spawn(async move {
                let conn = pools.acquire(tenant).await?;
                conn.execute_unprepared("SELECT pg_sleep(0.005)")
                    .await
                    .unwrap();
                Ok::<_, PoolError>(())
            })
        })
        .collect();
    let results = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(tasks))
        .await
        .expect("no request hangs");
    done.store(true, Ordering::SeqCst);
    let (peak, samples) = sampler.await.unwrap();

    let (mut ok, mut exhausted) = (0, 0);
    for r in results {
        match r.unwrap() {
            Ok(()) => ok += 1,
            Err(PoolError::Exhausted { .. }) => exhausted += 1,
            Err(other) => panic!("only the typed budget error is allowed, got {other}"),
        }
    }
    let stats = pools.stats();
    assert!(
        peak <= 40,
        "pg_stat_activity showed {peak} connections (budget 40) over {samples} samples"
    );
    assert!(samples > 10, "the sampler ran ({samples} samples)");
    assert!(
        ok >= 40,
        "at least a budget's worth of requests were served ({ok})"
    );
    assert_eq!(exhausted as u64, stats.timeouts, "{stats:?}");
    assert!(stats.servers.iter().all(|s| s.open <= 40), "{stats:?}");
    eprintln!(
        "300 tenants, budget 40: {ok} ok, {exhausted} typed timeouts, peak {peak}, {stats:?}"
    );
    drop(pools);
    fx.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_tenant_takes_an_idle_connection_at_once_when_the_budget_is_full() {
    let fx = Fixture::new(1).await;
    let resolver = Arc::new(MapResolver::default());
    let ids: Vec<_> = (0..21)
        .map(|_| resolver.add(fx.url(&fx.dbs[0], &fx.password), 2))
        .collect();
    let pools = pools(
        PoolConfig {
            acquire_timeout: Duration::from_secs(10),
            ..config(10)
        },
        resolver,
    );
    for &t in &ids[..20] {
        ping(&pools.acquire(t).await.unwrap()).await;
    }
    assert_eq!(
        fx.server_connections().await,
        10,
        "budget full of idle connections"
    );
    let before = pools.stats();
    let start = Instant::now();
    ping(&pools.acquire(ids[20]).await.unwrap()).await;
    let took = start.elapsed();

    let after = pools.stats();
    assert!(
        took < Duration::from_secs(1),
        "took {took:?}: it waited instead of taking an idle connection"
    );
    assert_eq!(after.steals, before.steals + 1);
    assert_eq!(after.waits, before.waits, "no wait");
    assert!(fx.server_connections().await <= 10);
    fx.cleanup().await;
}
