//! A private login role and a few databases on the test server, and a resolver mapping any
//! number of tenant ids onto them (many tenants per database keeps the suite fast; the budget
//! counts connections, whatever database they serve).

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use secrecy::SecretString;
use tenantry_core::TenantId;
use tenantry_pool::{PoolConfig, PoolError, TargetResolver, TenantPools, TenantTarget};
use tenantry_test_utils::{pg_admin, pg_admin_url};

/// A role and `dbs` databases owned by it, dropped on `cleanup`.
pub struct Fixture {
    pub role: String,
    pub password: String,
    pub dbs: Vec<String>,
    admin: DatabaseConnection,
}

impl Fixture {
    pub async fn new(dbs: usize) -> Self {
        let admin = pg_admin().await;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let role = format!("pooltest_{}", &id[..12]);
        let password = format!("pw{id}");
        exec(
            &admin,
            &format!("CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'"),
        )
        .await;
        let mut names = Vec::new();
        for i in 0..dbs {
            let db = format!("{role}_{i}");
            exec(
                &admin,
                &format!("CREATE DATABASE \"{db}\" OWNER \"{role}\""),
            )
            .await;
            names.push(db);
        }
        Self {
            role,
            password,
            dbs: names,
            admin,
        }
    }

    pub fn url(&self, db: &str, password: &str) -> SecretString {
        let mut url = url::Url::parse(&pg_admin_url()).unwrap();
        url.set_username(&self.role).unwrap();
        url.set_password(Some(password)).unwrap();
        url.set_path(db);
        SecretString::from(url.to_string())
    }

    /// Connections of this fixture's role, as the server sees them.
    pub async fn server_connections(&self) -> i64 {
        scalar(
            &self.admin,
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = '{}'",
                self.role
            ),
        )
        .await
    }

    pub async fn server_connections_to(&self, db: &str) -> i64 {
        scalar(
            &self.admin,
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = '{}' AND datname = '{db}'",
                self.role
            ),
        )
        .await
    }

    /// Sessions ever established to `db` (PostgreSQL's own counter, flushed as sessions end).
    pub async fn sessions(&self, db: &str) -> i64 {
        exec(&self.admin, "SELECT pg_stat_clear_snapshot()").await;
        scalar(
            &self.admin,
            &format!("SELECT COALESCE(sessions, 0) FROM pg_stat_database WHERE datname = '{db}'"),
        )
        .await
    }

    /// Waits until the server shows at most `n` connections of this role.
    pub async fn wait_for_connections_at_most(&self, n: i64, within: Duration) -> i64 {
        let start = Instant::now();
        loop {
            let now = self.server_connections().await;
            if now <= n || start.elapsed() > within {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until at most `n` sessions of this role are idle inside a transaction.
    pub async fn wait_for_idle_in_transaction_at_most(&self, n: i64, within: Duration) -> i64 {
        let sql = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = '{}' \
             AND state LIKE 'idle in transaction%'",
            self.role
        );
        let start = Instant::now();
        loop {
            let now = scalar(&self.admin, &sql).await;
            if now <= n || start.elapsed() > within {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Ends one of this role's sessions from the server side (as a restart or an admin would).
    pub async fn terminate(&self, pid: i64) {
        exec(&self.admin, &format!("SELECT pg_terminate_backend({pid})")).await;
    }

    pub async fn cleanup(self) {
        for db in &self.dbs {
            exec(
                &self.admin,
                &format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"),
            )
            .await;
        }
        exec(
            &self.admin,
            &format!("DROP ROLE IF EXISTS \"{}\"", self.role),
        )
        .await;
    }
}

pub async fn exec(conn: &impl ConnectionTrait, sql: &str) {
    conn.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

pub async fn scalar(conn: &impl ConnectionTrait, sql: &str) -> i64 {
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// Maps tenant ids to targets; counts resolutions (each one = one secret decryption).
#[derive(Default)]
pub struct MapResolver {
    pub targets: Mutex<HashMap<TenantId, TenantTarget>>,
    pub resolutions: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl TargetResolver for MapResolver {
    async fn resolve(&self, tenant: TenantId) -> Result<TenantTarget, PoolError> {
        self.resolutions
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.targets
            .lock()
            .unwrap()
            .get(&tenant)
            .cloned()
            .ok_or(PoolError::UnknownTenant(tenant))
    }
}

impl MapResolver {
    pub fn add(&self, url: SecretString, max_connections: usize) -> TenantId {
        let id = TenantId::new();
        self.targets.lock().unwrap().insert(
            id,
            TenantTarget {
                server: Some(uuid::Uuid::nil()),
                url,
                max_connections,
            },
        );
        id
    }

    /// A SQLite tenant: no server, so it counts against the local file budget.
    pub fn add_local(&self, url: SecretString, max_connections: usize) -> TenantId {
        let id = self.add(url, max_connections);
        self.targets.lock().unwrap().get_mut(&id).unwrap().server = None;
        id
    }
}

pub fn pools(config: PoolConfig, resolver: Arc<MapResolver>) -> TenantPools {
    TenantPools::new(config, resolver)
}

/// Runs a trivial query on a leased connection.
pub async fn ping(conn: &impl ConnectionTrait) {
    conn.execute_unprepared("SELECT 1").await.unwrap();
}

pub async fn scalar_text(conn: &impl ConnectionTrait, sql: &str) -> String {
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<String>(0).unwrap()
}
