//! Depth for a hot tenant when the budget is full of other tenants' idle connections, and the
//! acquire timeout as a hard bound on how long a request waits for a connection.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Fixture, MapResolver, ping, pools};
use sea_orm::ConnectionTrait;
use tenantry_pool::{PoolConfig, PoolError};

/// 40 tenants each served once (one idle connection each: a budget of 40 full), then load on
/// one of them: it must reach its plan's 5 connections within a second, by taking the last
/// connections of tenants that have gone quiet, and never push the server past the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hot_tenant_reaches_its_plan_s_connections_when_the_budget_is_full_of_idle_ones() {
    let fx = Fixture::new(1).await;
    let resolver = Arc::new(MapResolver::default());
    let ids: Vec<_> = (0..40)
        .map(|_| resolver.add(fx.url(&fx.dbs[0], &fx.password), 5))
        .collect();
    let pools = pools(
        PoolConfig {
            server_budget: 40,
            acquire_timeout: Duration::from_secs(5),
            ..PoolConfig::default()
        },
        resolver,
    );
    for &t in &ids {
        ping(&pools.acquire(t).await.unwrap()).await;
    }
    assert_eq!(
        fx.server_connections().await,
        40,
        "budget full of idle ones"
    );

    let hot = ids[0];
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..16)
        .map(|_| {
            let (pools, stop) = (pools.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let conn = pools.acquire(hot).await.unwrap();
                    conn.execute_unprepared("SELECT pg_sleep(0.005)")
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let started = Instant::now();
    let mut peak = 0;
    let reached = loop {
        let s = pools.tenant_stats(hot);
        if s.idle + s.busy == 5 {
            break Some(started.elapsed());
        }
        peak = peak.max(fx.server_connections().await);
        if started.elapsed() > Duration::from_secs(3) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let stats = pools.stats();
    peak = peak.max(fx.server_connections().await);
    let reached = reached.unwrap_or_else(|| {
        panic!(
            "still at {:?} after 3 s; {stats:?}",
            pools.tenant_stats(hot)
        )
    });
    assert!(
        reached < Duration::from_secs(1),
        "took {reached:?} to reach 5 connections"
    );
    assert!(stats.steals >= 4, "{stats:?}");
    assert_eq!(stats.timeouts, 0, "{stats:?}");
    assert!(peak <= 40, "{peak} connections: over the budget");
    fx.cleanup().await;
}

/// A connect that hangs (a server that accepts and never answers) is cut off at the acquire
/// timeout, not at the longer connect timeout: the request gets its typed error by then, and
/// the permit it reserved comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hanging_connect_is_answered_by_the_acquire_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket); // never answered, never closed
        }
    });
    let resolver = Arc::new(MapResolver::default());
    let url = format!("postgres://nobody:secret@{addr}/void");
    let tenant = resolver.add(url.into(), 2);
    let pools = pools(
        PoolConfig {
            server_budget: 1,
            acquire_timeout: Duration::from_millis(300),
            connect_timeout: Duration::from_secs(10),
            ..PoolConfig::default()
        },
        resolver,
    );
    for _ in 0..2 {
        let started = Instant::now();
        let answer = pools.acquire(tenant).await;
        let took = started.elapsed();
        assert!(
            matches!(answer, Err(PoolError::Exhausted { .. })),
            "{:?}",
            answer.err()
        );
        assert!(
            took < Duration::from_millis(800),
            "answered after {took:?}, past the 300 ms acquire timeout"
        );
    }
    let stats = pools.stats();
    assert_eq!(stats.timeouts, 2, "{stats:?}");
    // The abandoned opens gave their permits back (the second acquire could plan an open).
    assert_eq!(stats.opens, 2, "{stats:?}");
    held.abort();
}
