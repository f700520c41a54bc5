//! A tenant whose database cannot be reached fails fast, alone, and recovers by itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tenantry_pool::PoolError;

use crate::common::{self, Fixture, MapResolver, ping, pools};
use crate::support::config;

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
