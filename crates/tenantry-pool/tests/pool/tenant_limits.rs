//! One tenant's limits: its own maximum, its waiters' order, and its role's connection limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use tenantry_pool::{PoolConfig, PoolError};
use tenantry_test_utils::pg_admin;

use crate::common::{self, Fixture, MapResolver, ping, pools};
use crate::support::config;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_hundred_first_requests_open_one_pool_within_the_tenant_max() {
    let fx = Fixture::new(1).await;
    let resolver = Arc::new(MapResolver::default());
    let tenant = resolver.add(fx.url(&fx.dbs[0], &fx.password), 5);
    let pools = pools(config(40), resolver.clone());
    let sessions_before = fx.sessions(&fx.dbs[0]).await;

    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let pools = pools.clone();
            tokio::spawn(async move {
                let conn = pools.acquire(tenant).await.unwrap();
                conn.execute_unprepared("SELECT pg_sleep(0.01)")
                    .await
                    .unwrap();
            })
        })
        .collect();
    let peak = Arc::new(AtomicI64::new(0));
    while !tasks.iter().all(|t| t.is_finished()) {
        peak.fetch_max(fx.server_connections().await, Ordering::SeqCst);
    }
    for t in tasks {
        t.await.unwrap();
    }
    let stats = pools.stats();
    assert_eq!(
        resolver.resolutions.load(Ordering::SeqCst),
        1,
        "one resolution (one decryption) for 100 requests"
    );
    assert!((1..=5).contains(&stats.opens), "{stats:?}");
    assert!(
        peak.load(Ordering::SeqCst) <= 5,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );

    pools.invalidate(tenant).await;
    assert_eq!(
        fx.wait_for_connections_at_most(0, Duration::from_secs(5))
            .await,
        0,
        "invalidate closes idle connections"
    );
    let sessions = fx.sessions(&fx.dbs[0]).await - sessions_before;
    assert!(
        (1..=5).contains(&sessions),
        "PostgreSQL saw {sessions} sessions"
    );
    assert_eq!(
        sessions as u64, stats.opens,
        "our count of opens matches the server's"
    );
    fx.cleanup().await;
}

/// Many more concurrent requests than a tenant may have connections: they are served in line,
/// oldest first, so none waits while later ones go first (waiters once were all woken at every
/// release and raced newcomers; under load some starved until the acquire timeout: a 503).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiters_are_served_in_order_and_none_starves() {
    let fx = Fixture::new(1).await;
    let resolver = Arc::new(MapResolver::default());
    let tenant = resolver.add(fx.url(&fx.dbs[0], &fx.password), 2);
    // Connects are not what is measured: room for a slow one while other tests load the server.
    let config = PoolConfig {
        connect_timeout: Duration::from_secs(10),
        ..config(40)
    };
    let pools = pools(config, resolver.clone());
    // Both slots open before the crowd arrives.
    let (one, two) = (
        pools.acquire(tenant).await.unwrap(),
        pools.acquire(tenant).await.unwrap(),
    );
    drop((one, two));

    let started = Instant::now();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let pools = pools.clone();
            tokio::spawn(async move {
                let mut longest = Duration::ZERO;
                for _ in 0..25 {
                    let asked = Instant::now();
                    let conn = pools.acquire(tenant).await.expect("no acquire times out");
                    longest = longest.max(asked.elapsed());
                    ping(&conn).await;
                }
                longest
            })
        })
        .collect();
    let mut longest = Duration::ZERO;
    for t in tasks {
        longest = longest.max(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    let stats = pools.stats();
    // Each task asks again the moment it gives its connection back: were a released slot simply
    // put back idle, that task would take it again before any woken waiter ran, and the others
    // would starve until the acquire timeout.
    assert_eq!(
        stats.timeouts, 0,
        "{stats:?}; longest wait {longest:?} of {elapsed:?} for 1000 leases"
    );
    assert!(stats.opens <= 2, "{stats:?}");
    assert!(
        longest < Duration::from_secs(2),
        "longest wait {longest:?} of {elapsed:?} for 1000 leases"
    );
    fx.cleanup().await;
}

/// A tenant whose role's `CONNECTION LIMIT` is reached by a session outside the pool: the pool
/// cannot open more, but the tenant keeps being served by the connections it holds (not marked
/// unavailable, not 503 for everyone).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_at_its_role_limit_is_served_with_the_connections_it_has() {
    let fx = Fixture::new(1).await;
    let resolver = Arc::new(MapResolver::default());
    let url = fx.url(&fx.dbs[0], &fx.password);
    let tenant = resolver.add(url.clone(), 4);
    let config = PoolConfig {
        // Long: a refused open must be seen at once (one connect attempt), not retried until
        // this timeout as a sqlx pool would retry "too many connections for role" (53300).
        connect_timeout: Duration::from_secs(5),
        ..config(40)
    };
    let pools = pools(config, resolver.clone());
    let (one, two) = (
        pools.acquire(tenant).await.unwrap(),
        pools.acquire(tenant).await.unwrap(),
    );
    drop((one, two));
    common::exec(
        &pg_admin().await,
        &format!(r#"ALTER ROLE "{}" CONNECTION LIMIT 3"#, fx.role),
    )
    .await;
    // Someone else (an operator's psql, another instance) takes the third session.
    let outsider = sea_orm::Database::connect(secrecy::ExposeSecret::expose_secret(&url))
        .await
        .unwrap();
    ping(&outsider).await;

    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let pools = pools.clone();
            tokio::spawn(async move {
                let mut slowest = Duration::ZERO;
                for _ in 0..10 {
                    let started = Instant::now();
                    let conn = pools.acquire(tenant).await?;
                    slowest = slowest.max(started.elapsed());
                    conn.execute_unprepared("SELECT pg_sleep(0.002)")
                        .await
                        .unwrap();
                }
                Ok::<_, PoolError>(slowest)
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for t in tasks {
        let waited = t
            .await
            .unwrap()
            .expect("served with the connections it has");
        slowest = slowest.max(waited);
    }
    let stats = pools.stats();
    assert!(stats.open_failures >= 1, "the limit was hit: {stats:?}");
    assert!(
        slowest < Duration::from_secs(2),
        "the refusal was seen at once, not retried until the connect timeout: {slowest:?}"
    );
    assert_eq!(
        stats.fast_failures, 0,
        "never marked unavailable: {stats:?}"
    );
    outsider.close().await.unwrap();
    fx.cleanup().await;
}
