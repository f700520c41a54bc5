//! A tenant's connections over time: eviction, shrinking after a burst, and invalidation.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use tenantry_pool::PoolConfig;

use crate::common::{self, Fixture, MapResolver, ping, pools};
use crate::support::config;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eviction_never_closes_a_connection_under_a_running_query() {
    let fx = Fixture::new(3).await;
    let resolver = Arc::new(MapResolver::default());
    let ids: Vec<_> = fx
        .dbs
        .iter()
        .map(|db| resolver.add(fx.url(db, &fx.password), 2))
        .collect();
    let pools = pools(
        PoolConfig {
            max_cached_tenants: 1,
            ..config(10)
        },
        resolver,
    );

    let long = {
        let pools = pools.clone();
        let x = ids[0];
        tokio::spawn(async move {
            let conn = pools.acquire(x).await.unwrap();
            conn.execute_unprepared("SELECT pg_sleep(1.0)").await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    for &other in &ids[1..] {
        ping(&pools.acquire(other).await.unwrap()).await;
        pools.run_housekeeping().await;
    }
    assert!(
        pools.stats().evictions >= 1,
        "X was evicted while its query ran: {:?}",
        pools.stats()
    );
    long.await
        .unwrap()
        .expect("the long query on the evicted tenant completes");
    let start = Instant::now();
    while fx.server_connections_to(&fx.dbs[0]).await > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "X's connection was not closed after its lease ended"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fx.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_burst_a_tenant_shrinks_to_one_warm_connection() {
    let fx = Fixture::new(1).await;
    let resolver = Arc::new(MapResolver::default());
    let tenant = resolver.add(fx.url(&fx.dbs[0], &fx.password), 5);
    let pools = pools(
        PoolConfig {
            reap_after: Duration::from_millis(200),
            housekeeping_every: Duration::from_millis(50),
            ..config(10)
        },
        resolver,
    );
    let housekeeping = pools.spawn_housekeeping();
    let leases: Vec<_> = futures::future::join_all((0..5).map(|_| pools.acquire(tenant))).await;
    assert_eq!(fx.server_connections().await, 5, "a burst of 5 opens 5");
    drop(leases);
    assert_eq!(
        fx.wait_for_connections_at_most(1, Duration::from_secs(5))
            .await,
        1,
        "shrunk to one warm connection"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        fx.server_connections().await,
        1,
        "the last warm connection is kept"
    );
    let hits = pools.stats().hits;
    ping(&pools.acquire(tenant).await.unwrap()).await;
    assert_eq!(
        pools.stats().hits,
        hits + 1,
        "the warm connection serves the next request"
    );
    housekeeping.abort();
    fx.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalidation_makes_the_next_request_resolve_afresh() {
    let fx = Fixture::new(2).await;
    let resolver = Arc::new(MapResolver::default());
    let tenant = resolver.add(fx.url(&fx.dbs[0], &fx.password), 2);
    let pools = pools(config(10), resolver.clone());
    let lease = pools.acquire(tenant).await.unwrap();

    // The tenant moves (or its credentials rotate) while a request is running.
    resolver
        .targets
        .lock()
        .unwrap()
        .get_mut(&tenant)
        .unwrap()
        .url = fx.url(&fx.dbs[1], &fx.password);
    pools.invalidate(tenant).await;
    lease
        .execute_unprepared("SELECT 1")
        .await
        .expect("the running request keeps its connection");
    drop(lease);

    let conn = pools.acquire(tenant).await.unwrap();
    let db = common::scalar_text(&conn, "SELECT current_database()").await;
    assert_eq!(db, fx.dbs[1], "the next request uses the new target");
    drop(conn);
    assert_eq!(resolver.resolutions.load(Ordering::SeqCst), 2);
    let start = Instant::now();
    while fx.server_connections_to(&fx.dbs[0]).await > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the old connection was not closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fx.cleanup().await;
}
