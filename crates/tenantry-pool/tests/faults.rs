//! A tenant database that dies, resets or goes silent, through a real TCP proxy (the chaos
//! proxy) between the pool and PostgreSQL: every statement fails as a connection error within
//! the pool's deadline, the broken connection is never reused, and the tenant is served again
//! as soon as its database answers.

mod common;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Fixture, MapResolver, pools, scalar, scalar_text};
use sea_orm::{ConnectionTrait, DbErr, RuntimeErr, SqlxError, TransactionTrait};
use secrecy::{ExposeSecret, SecretString};
use tenantry_core::TenantId;
use tenantry_pool::{PoolConfig, PoolError, TenantPools};
use tenantry_test_utils::chaos::{ChaosProxy, Mode};
use tenantry_test_utils::pg_admin_url;

const DEADLINE: Duration = Duration::from_millis(1000);
const CONNECT: Duration = Duration::from_millis(500);
/// Scheduling slack on a loaded 2-core machine.
const MARGIN: Duration = Duration::from_millis(700);

/// One database, reached directly or through a chaos proxy.
struct Proxied {
    fixture: Fixture,
    resolver: Arc<MapResolver>,
    pools: TenantPools,
    proxy: ChaosProxy,
}

impl Proxied {
    async fn new() -> Self {
        let fixture = Fixture::new(1).await;
        let proxy = ChaosProxy::start(pg_addr()).await;
        let resolver = Arc::new(MapResolver::default());
        let pools = pools(
            PoolConfig {
                query_timeout: DEADLINE,
                connect_timeout: CONNECT,
                ..PoolConfig::default()
            },
            resolver.clone(),
        );
        Self {
            fixture,
            resolver,
            pools,
            proxy,
        }
    }

    fn direct_url(&self) -> SecretString {
        self.fixture
            .url(&self.fixture.dbs[0], &self.fixture.password)
    }

    /// A tenant whose URL points at the proxy.
    fn proxied_tenant(&self) -> TenantId {
        let mut url = url::Url::parse(self.direct_url().expose_secret()).unwrap();
        url.set_port(Some(self.proxy.addr().port())).unwrap();
        url.set_host(Some(&self.proxy.addr().ip().to_string()))
            .unwrap();
        self.resolver.add(SecretString::from(url.to_string()), 4)
    }

    fn open_connections(&self) -> usize {
        self.pools.stats().servers.iter().map(|s| s.open).sum()
    }

    /// Waits until the pool holds at most `n` connections (a released slot is settled or
    /// dropped in the background).
    async fn wait_for_open_at_most(&self, n: usize, within: Duration) -> usize {
        let start = Instant::now();
        while self.open_connections() > n && start.elapsed() < within {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.open_connections()
    }

    async fn cleanup(self) {
        drop(self.pools);
        drop(self.proxy);
        self.fixture.cleanup().await;
    }
}

fn pg_addr() -> SocketAddr {
    let url = url::Url::parse(&pg_admin_url()).unwrap();
    (url.host_str().unwrap(), url.port().unwrap_or(5432))
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap()
}

/// The pool's own deadline error.
fn is_deadline(e: &DbErr) -> bool {
    matches!(e, DbErr::Conn(RuntimeErr::Internal(m)) if m.contains("did not answer within"))
}

/// The SQLSTATE of an error the server sent.
fn sqlstate(e: &DbErr) -> Option<String> {
    match e {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            e.as_database_error()?.code().map(|c| c.into_owned())
        }
        _ => None,
    }
}

/// Polls `acquire` + `SELECT 1` until it works; returns how long that took.
async fn time_to_recover(pools: &TenantPools, tenant: TenantId, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if let Ok(conn) = pools.acquire(tenant).await
            && conn.execute_unprepared("SELECT 1").await.is_ok()
        {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "not served again within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_stops_a_statement_at_the_deadline_too() {
    let p = Proxied::new().await;
    let tenant = p.resolver.add(p.direct_url(), 1);
    let conn = p.pools.acquire(tenant).await.unwrap();
    assert_eq!(
        scalar_text(&conn, "SELECT current_setting('statement_timeout')").await,
        "1s"
    );

    let started = Instant::now();
    let err = conn
        .execute_unprepared("SELECT pg_sleep(30)")
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took < DEADLINE + MARGIN, "took {took:?}");
    // Whichever side gave up first, the statement is not left running for nobody.
    assert!(
        is_deadline(&err) || sqlstate(&err).as_deref() == Some("57014"),
        "{err}"
    );
    drop(conn);
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = '{}' AND query LIKE '%pg_sleep(30)%' \
         AND state = 'active'",
        p.fixture.role
    );
    let admin = tenantry_test_utils::pg_admin().await;
    let start = Instant::now();
    while scalar(&admin, &sql).await > 0 {
        assert!(start.elapsed() < Duration::from_secs(2), "still running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    p.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_statement_is_a_connection_error_within_the_deadline() {
    let p = Proxied::new().await;
    let tenant = p.proxied_tenant();
    let conn = p.pools.acquire(tenant).await.unwrap();
    assert_eq!(scalar(&conn, "SELECT 1::bigint").await, 1);

    p.proxy.set_mode(Mode::Blackhole);
    let started = Instant::now();
    let err = conn.execute_unprepared("SELECT 2").await.unwrap_err();
    let took = started.elapsed();
    assert!(is_deadline(&err), "{err}");
    assert!(
        took >= DEADLINE && took < DEADLINE + MARGIN,
        "took {took:?}"
    );
    // Given up for good: the lease refuses more work, and its permit comes back at once.
    assert!(conn.execute_unprepared("SELECT 3").await.is_err());
    drop(conn);
    assert_eq!(p.wait_for_open_at_most(0, MARGIN).await, 0);

    // A new connection through the black hole is not waited for past the connect timeout.
    let started = Instant::now();
    let refused = p.pools.acquire(tenant).await.map(|_| ());
    let took = started.elapsed();
    assert!(
        matches!(refused, Err(PoolError::Unavailable { .. })),
        "{refused:?}"
    );
    assert!(took < CONNECT + MARGIN, "connect took {took:?}");

    p.proxy.set_mode(Mode::Pass);
    let recovered = time_to_recover(&p.pools, tenant, Duration::from_secs(5)).await;
    eprintln!("black hole: served again {recovered:?} after Pass");
    p.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_is_bounded_by_the_deadline_too() {
    let p = Proxied::new().await;
    let tenant = p.proxied_tenant();
    let conn = p.pools.acquire(tenant).await.unwrap();
    let txn = conn.begin().await.unwrap();
    txn.execute_unprepared("CREATE TEMP TABLE t (id int)")
        .await
        .unwrap();

    p.proxy.set_mode(Mode::Blackhole);
    let started = Instant::now();
    let err = txn.commit().await.unwrap_err();
    assert!(is_deadline(&err), "{err}");
    assert!(started.elapsed() < DEADLINE + MARGIN);
    drop(conn);
    assert_eq!(p.wait_for_open_at_most(0, MARGIN).await, 0);
    p.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_mid_query_fails_at_once_and_the_connection_is_replaced() {
    let p = Proxied::new().await;
    let tenant = p.proxied_tenant();
    let conn = p.pools.acquire(tenant).await.unwrap();
    let running = tokio::spawn(async move {
        let started = Instant::now();
        let done = conn.execute_unprepared("SELECT pg_sleep(5)").await;
        (done.map(|_| ()), started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    p.proxy.set_mode(Mode::Reset);
    let (done, took) = running.await.unwrap();
    let err = done.unwrap_err();
    // The socket died under the query: an I/O error, seen at once, not at the deadline.
    let io =
        matches!(&err, DbErr::Exec(RuntimeErr::SqlxError(e)) if matches!(**e, SqlxError::Io(_)));
    assert!(io, "{err:?}");
    assert!(took < DEADLINE, "took {took:?}");
    assert_eq!(p.wait_for_open_at_most(0, MARGIN).await, 0);

    p.proxy.set_mode(Mode::Pass);
    let recovered = time_to_recover(&p.pools, tenant, Duration::from_secs(5)).await;
    eprintln!("reset: served again {recovered:?} after Pass");
    assert_eq!(
        p.pools.stats().opens,
        2,
        "the reset connection was not reused"
    );
    p.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_fail_fast_while_open_ones_keep_working() {
    let p = Proxied::new().await;
    let holder = p.proxied_tenant();
    let newcomer = p.proxied_tenant();
    let held = p.pools.acquire(holder).await.unwrap();

    p.proxy.set_mode(Mode::Refuse);
    let started = Instant::now();
    let refused = p.pools.acquire(newcomer).await.map(|_| ());
    let took = started.elapsed();
    assert!(
        matches!(refused, Err(PoolError::Unavailable { .. })),
        "{refused:?}"
    );
    // A reset connect is an answer: no waiting for the connect timeout.
    assert!(took < CONNECT, "took {took:?}");
    assert_eq!(scalar(&held, "SELECT 5::bigint").await, 5);

    p.proxy.set_mode(Mode::Pass);
    let recovered = time_to_recover(&p.pools, newcomer, Duration::from_secs(5)).await;
    eprintln!("refuse: served again {recovered:?} after Pass");
    drop(held);
    p.cleanup().await;
}
