//! The connection manager against a real PostgreSQL: connection counts are read from
//! `pg_stat_activity` and `pg_stat_database`, not only from our own stats.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use common::{Fixture, MapResolver, ping, pools};
use sea_orm::ConnectionTrait;
use tenantry_pool::{PoolConfig, PoolError};
use tenantry_test_utils::pg_admin;

fn config(budget: usize) -> PoolConfig {
    PoolConfig {
        server_budget: budget,
        acquire_timeout: Duration::from_secs(2),
        negative_ttl: Duration::from_millis(400),
        ..PoolConfig::default()
    }
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_tenant_fails_fast_alone_and_recovers_by_itself() {
    let fx = Fixture::new(2).await;
    let resolver = Arc::new(MapResolver::default());
    let healthy = resolver.add(fx.url(&fx.dbs[0], &fx.password), 2);
    let wrong_password = resolver.add(fx.url(&fx.dbs[1], "not-the-password"), 2);
    let stopped_server = resolver.add(fx.url(&fx.dbs[1], &fx.password).clone(), 2);
    {
        // Point it at a port where no server listens.
        let mut url = url::Url::parse(secrecy::ExposeSecret::expose_secret(
            &fx.url(&fx.dbs[1], &fx.password),
        ))
        .unwrap();
        url.set_port(Some(1)).unwrap();
        resolver
            .targets
            .lock()
            .unwrap()
            .get_mut(&stopped_server)
            .unwrap()
            .url = secrecy::SecretString::from(url.to_string());
    }
    let missing_db = resolver.add(fx.url(&format!("{}_later", fx.role), &fx.password), 2);
    let pools = pools(config(10), resolver.clone());

    for dead in [wrong_password, stopped_server, missing_db] {
        let start = Instant::now();
        let err = pools.acquire(dead).await.err().expect("dead tenant fails");
        assert!(matches!(err, PoolError::Unavailable { .. }), "{err}");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "took {:?}",
            start.elapsed()
        );
        assert!(
            !err.to_string().contains(&fx.password),
            "secret in error: {err}"
        );
        let again = Instant::now();
        assert!(matches!(
            pools.acquire(dead).await,
            Err(PoolError::Unavailable { .. })
        ));
        assert!(
            again.elapsed() < Duration::from_millis(50),
            "the second failure is served from the negative cache"
        );
        ping(&pools.acquire(healthy).await.unwrap()).await;
    }
    let stats = pools.stats();
    assert_eq!(stats.fast_failures, 3, "{stats:?}");
    assert!(
        stats.servers.iter().all(|s| s.open <= 1),
        "dead tenants hold no budget: {stats:?}"
    );

    // The database comes back: the tenant recovers by itself after the negative TTL.
    let admin = tenantry_test_utils::pg_admin().await;
    common::exec(
        &admin,
        &format!(
            "CREATE DATABASE \"{}_later\" OWNER \"{}\"",
            fx.role, fx.role
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    ping(&pools.acquire(missing_db).await.expect("recovered")).await;
    drop(pools);
    common::exec(
        &admin,
        &format!("DROP DATABASE \"{}_later\" WITH (FORCE)", fx.role),
    )
    .await;
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
