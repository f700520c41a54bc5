//! What a leased connection promises the code that uses it: queries and transactions run on the
//! slot's own connection, and whatever one request leaves behind (a transaction it dropped, a
//! query it abandoned, a connection the server killed) never reaches the next request.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Fixture, MapResolver, exec, pools, scalar};
use sea_orm::{ConnectionTrait, DbBackend, SqlErr, Statement, TransactionTrait};
use secrecy::SecretString;
use tenantry_core::TenantId;
use tenantry_pool::{PoolConfig, PoolError, TenantPools};

/// One tenant with at most one connection, so every lease reuses the same slot.
struct OneSlot {
    pools: TenantPools,
    tenant: TenantId,
    fixture: Option<Fixture>,
    _dir: Option<tempfile::TempDir>,
}

impl OneSlot {
    async fn new(backend: DbBackend) -> Self {
        let resolver = Arc::new(MapResolver::default());
        let (tenant, fixture, dir) = match backend {
            DbBackend::Postgres => {
                let fixture = Fixture::new(1).await;
                let url = fixture.url(&fixture.dbs[0], &fixture.password);
                (resolver.add(url, 1), Some(fixture), None)
            }
            _ => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("tenant.db");
                let url = SecretString::from(format!("sqlite://{}?mode=rwc", path.display()));
                (resolver.add_local(url, 1), None, Some(dir))
            }
        };
        let pools = pools(
            PoolConfig {
                acquire_timeout: Duration::from_secs(3),
                ..PoolConfig::default()
            },
            resolver,
        );
        let slot = Self {
            pools,
            tenant,
            fixture,
            _dir: dir,
        };
        // The first connect to a fresh database may miss the 1 s connect timeout on a loaded
        // machine (the tests here are about what happens after it): retry once the tenant's
        // failure is no longer cached.
        let mut tries = 0;
        let conn = loop {
            match slot.pools.acquire(tenant).await {
                Ok(conn) => break conn,
                Err(e) if tries < 3 => {
                    tries += 1;
                    eprintln!("first connect failed ({e}); retrying");
                    tokio::time::sleep(Duration::from_millis(1600)).await;
                }
                Err(e) => panic!("cannot connect to the test tenant: {e}"),
            }
        };
        exec(&conn, "CREATE TABLE items (id BIGINT PRIMARY KEY)").await;
        drop(conn);
        slot
    }

    async fn count(&self) -> i64 {
        let conn = self.pools.acquire(self.tenant).await.unwrap();
        scalar(&conn, "SELECT count(*) FROM items").await
    }

    async fn ids(&self) -> Vec<i64> {
        let conn = self.pools.acquire(self.tenant).await.unwrap();
        let rows = conn
            .query_all_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT id FROM items ORDER BY id",
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.try_get_by_index::<i64>(0).unwrap())
            .collect()
    }

    fn busy(&self) -> usize {
        self.pools.stats().servers.iter().map(|s| s.busy).sum()
    }

    async fn cleanup(self) {
        drop(self.pools);
        if let Some(fixture) = self.fixture {
            fixture.cleanup().await;
        }
    }
}

const BACKENDS: [DbBackend; 2] = [DbBackend::Postgres, DbBackend::Sqlite];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transaction_dropped_open_is_rolled_back_before_the_connection_is_reused() {
    for backend in BACKENDS {
        let slot = OneSlot::new(backend).await;
        {
            let conn = slot.pools.acquire(slot.tenant).await.unwrap();
            let txn = conn.begin().await.unwrap();
            exec(&txn, "INSERT INTO items (id) VALUES (1)").await;
            // Dropped without commit, as a handler returning an error early does.
        }
        assert_eq!(
            slot.count().await,
            0,
            "{backend:?}: the insert was rolled back"
        );
        if let Some(fixture) = &slot.fixture {
            // The rollback is sent when the lease ends, not when the connection is next used:
            // no session of the tenant sits idle in a transaction holding its locks.
            let conn = slot.pools.acquire(slot.tenant).await.unwrap();
            let txn = conn.begin().await.unwrap();
            exec(&txn, "INSERT INTO items (id) VALUES (2)").await;
            drop(txn);
            drop(conn);
            let stuck = fixture
                .wait_for_idle_in_transaction_at_most(0, Duration::from_secs(3))
                .await;
            assert_eq!(stuck, 0, "the dropped transaction ended without a reuse");
        }
        assert_eq!(slot.count().await, 0, "{backend:?}");
        assert_eq!(
            slot.pools.stats().opens,
            1,
            "{backend:?}: one connection throughout"
        );
        slot.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nested_transactions_are_savepoints_and_commit_persists() {
    for backend in BACKENDS {
        let slot = OneSlot::new(backend).await;
        {
            let conn = slot.pools.acquire(slot.tenant).await.unwrap();
            let outer = conn.begin().await.unwrap();
            exec(&outer, "INSERT INTO items (id) VALUES (1)").await;
            let inner = outer.begin().await.unwrap();
            exec(&inner, "INSERT INTO items (id) VALUES (2)").await;
            inner.rollback().await.unwrap();
            let inner = outer.begin().await.unwrap();
            exec(&inner, "INSERT INTO items (id) VALUES (3)").await;
            inner.commit().await.unwrap();
            outer.commit().await.unwrap();
        }
        assert_eq!(slot.ids().await, vec![1, 3], "{backend:?}");
        slot.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_statement_keeps_its_error_and_its_connection() {
    for backend in BACKENDS {
        let slot = OneSlot::new(backend).await;
        {
            let conn = slot.pools.acquire(slot.tenant).await.unwrap();
            exec(&conn, "INSERT INTO items (id) VALUES (1)").await;
            let err = conn
                .execute_unprepared("INSERT INTO items (id) VALUES (1)")
                .await
                .expect_err("duplicate key");
            assert!(
                matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
                "{backend:?}: sea-orm reads the error as it reads its own: {err:?}"
            );
            // The same lease goes on working.
            assert_eq!(scalar(&conn, "SELECT count(*) FROM items").await, 1);
        }
        assert_eq!(slot.count().await, 1);
        assert_eq!(
            slot.pools.stats().opens,
            1,
            "{backend:?}: the connection was kept"
        );
        slot.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_abandoned_query_never_answers_the_next_request() {
    let slot = OneSlot::new(DbBackend::Postgres).await;
    {
        let conn = slot.pools.acquire(slot.tenant).await.unwrap();
        let slow = conn.query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT 42::bigint FROM pg_sleep(0.5)",
        ));
        let abandoned = tokio::time::timeout(Duration::from_millis(50), slow).await;
        assert!(abandoned.is_err(), "the query was cut off mid-way");
    }
    // The slot is brought back to a known state before it is leased again.
    let conn = slot.pools.acquire(slot.tenant).await.unwrap();
    assert_eq!(scalar(&conn, "SELECT 7::bigint").await, 7);
    drop(conn);
    assert_eq!(slot.busy(), 0);
    slot.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_killed_by_the_server_is_replaced() {
    let slot = OneSlot::new(DbBackend::Postgres).await;
    let opened = slot.pools.stats().opens;
    let pid_sql = "SELECT pg_backend_pid()::bigint";
    let first = {
        let conn = slot.pools.acquire(slot.tenant).await.unwrap();
        scalar(&conn, pid_sql).await
    };
    let fixture = slot.fixture.as_ref().unwrap();
    fixture.terminate(first).await;
    {
        let conn = slot.pools.acquire(slot.tenant).await.unwrap();
        conn.execute_unprepared("SELECT 1")
            .await
            .expect_err("its session is gone");
    }
    let conn = slot.pools.acquire(slot.tenant).await.unwrap();
    let second = scalar(&conn, pid_sql).await;
    assert_ne!(first, second, "a new session serves the tenant");
    drop(conn);
    assert_eq!(slot.pools.stats().opens, opened + 1);
    slot.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transaction_keeps_its_connection_leased_after_the_lease_is_dropped() {
    for backend in BACKENDS {
        let slot = OneSlot::new(backend).await;
        let conn = slot.pools.acquire(slot.tenant).await.unwrap();
        let txn = conn.begin().await.unwrap();
        drop(conn);
        assert_eq!(
            slot.busy(),
            1,
            "{backend:?}: still leased by the transaction"
        );
        let short =
            tokio::time::timeout(Duration::from_millis(200), slot.pools.acquire(slot.tenant));
        assert!(
            matches!(short.await, Err(_) | Ok(Err(PoolError::Exhausted { .. }))),
            "{backend:?}: nobody else gets the connection of an open transaction"
        );
        exec(&txn, "INSERT INTO items (id) VALUES (5)").await;
        txn.commit().await.unwrap();
        assert_eq!(slot.busy(), 0, "{backend:?}");
        assert_eq!(slot.ids().await, vec![5], "{backend:?}");
        slot.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_abandoned_long_query_gives_its_connection_up_within_the_connect_timeout() {
    let slot = OneSlot::new(DbBackend::Postgres).await;
    let opened = slot.pools.stats().opens;
    {
        let conn = slot.pools.acquire(slot.tenant).await.unwrap();
        let long = conn.execute_unprepared("SELECT pg_sleep(10)");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), long)
                .await
                .is_err()
        );
    }
    // Not waited for to its end: after the connect timeout (1 s) the slot is dropped and the
    // tenant gets a new connection.
    let started = std::time::Instant::now();
    let conn = slot.pools.acquire(slot.tenant).await.unwrap();
    assert_eq!(scalar(&conn, "SELECT 7::bigint").await, 7);
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
    assert_eq!(slot.pools.stats().opens, opened + 1);
    drop(conn);
    slot.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_begin_cut_off_before_its_answer_retires_the_connection() {
    let slot = OneSlot::new(DbBackend::Postgres).await;
    let fixture = slot.fixture.as_ref().unwrap();
    let mut interrupted = 0;
    // On a loaded machine the answer may be there by the first poll: try until some are cut
    // off (a few hundred tries at most; each is one round trip).
    for _ in 0..400 {
        if interrupted >= 3 {
            break;
        }
        let conn = slot.pools.acquire(slot.tenant).await.unwrap();
        // Polled once, then dropped: `BEGIN` is sent, its answer not yet read.
        let first_poll = {
            let mut begin = std::pin::pin!(conn.begin());
            futures::poll!(begin.as_mut())
        };
        match first_poll {
            std::task::Poll::Ready(txn) => drop(txn.unwrap()),
            std::task::Poll::Pending => {
                interrupted += 1;
                // sqlx does not count a transaction it has not seen begin: the lease refuses
                // more work rather than run it inside an unowned transaction.
                let refused = conn.execute_unprepared("INSERT INTO items (id) VALUES (1)");
                assert!(refused.await.is_err());
            }
        }
    }
    assert!(interrupted > 0, "no BEGIN was cut off mid-way");
    assert_eq!(
        fixture
            .wait_for_idle_in_transaction_at_most(0, Duration::from_secs(3))
            .await,
        0,
        "no session is left inside a transaction"
    );
    assert_eq!(slot.count().await, 0);
    slot.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transactions_end_innermost_first() {
    for backend in BACKENDS {
        let slot = OneSlot::new(backend).await;
        {
            let conn = slot.pools.acquire(slot.tenant).await.unwrap();
            let outer = conn.begin().await.unwrap();
            exec(&outer, "INSERT INTO items (id) VALUES (1)").await;
            // A sibling begun on the connection nests inside the open one.
            let sibling = conn.begin().await.unwrap();
            exec(&sibling, "INSERT INTO items (id) VALUES (2)").await;
            let err = outer.commit().await.expect_err("the sibling is still open");
            assert!(err.to_string().contains("level"), "{backend:?}: {err}");
            sibling
                .commit()
                .await
                .expect_err("its savepoint went with the outer rollback");
        }
        assert_eq!(
            slot.ids().await,
            Vec::<i64>::new(),
            "{backend:?}: nothing half-committed"
        );
        slot.cleanup().await;
    }
}
