use std::time::Duration;

/// Tuning of [`crate::TenantPools`]. `From<&tenantry_core::settings::PoolSettings>` maps the
/// operator's `pool.*` settings; the rest are internal constants with sensible defaults.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Tenants kept in the cache (LRU beyond this).
    pub max_cached_tenants: u64,
    /// A tenant nobody used for this long is evicted, and its warm connection closed.
    pub idle_ttl: Duration,
    /// How long a request waits for a connection when the budget is spent.
    pub acquire_timeout: Duration,
    /// Open connections allowed per database server, all tenants together.
    pub server_budget: usize,
    /// A tenant's last connection, idle this long, may be taken by a busy tenant that needs
    /// more depth while the budget is full (before that, only a tenant with no connection at
    /// all may take it). Well above a connect (~5 ms): a tenant that is still being served
    /// keeps its connection.
    pub last_slot_kept_for: Duration,
    /// A tenant that holds connections takes another tenant's (quiet) one for more depth only
    /// once its requests have queued for its own this long: a short burst is served by the
    /// connections it has, sustained load gets the depth its plan allows.
    pub depth_after_queueing: Duration,
    /// Idle slots beyond a tenant's last warm one are closed after this long.
    pub reap_after: Duration,
    /// A tenant whose database failed to open fails fast for this long.
    pub negative_ttl: Duration,
    /// Limit on one physical connect. Also bounds how long a dead tenant takes to fail: sqlx
    /// retries a refused connection with backoff until this deadline.
    pub connect_timeout: Duration,
    /// Limit on every round trip of a leased connection (statement, `BEGIN`/`COMMIT`/
    /// `ROLLBACK`, the check before reuse), on the client and as the server's own
    /// `statement_timeout`. Past it the tenant's database counts as not answering: the
    /// connection is dropped and the caller gets a connection error, so a black-holed server
    /// costs a request this long at most.
    pub query_timeout: Duration,
    /// Housekeeping period.
    pub housekeeping_every: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_cached_tenants: 1000,
            idle_ttl: Duration::from_secs(300),
            acquire_timeout: Duration::from_secs(2),
            server_budget: 80,
            last_slot_kept_for: Duration::from_millis(250),
            depth_after_queueing: Duration::from_millis(20),
            reap_after: Duration::from_secs(1),
            negative_ttl: Duration::from_millis(1500),
            connect_timeout: Duration::from_secs(1),
            query_timeout: Duration::from_secs(10),
            housekeeping_every: Duration::from_millis(250),
        }
    }
}

impl From<&tenantry_core::settings::PoolSettings> for PoolConfig {
    fn from(s: &tenantry_core::settings::PoolSettings) -> Self {
        let acquire_timeout = Duration::from_millis(s.acquire_timeout_ms);
        Self {
            max_cached_tenants: s.max_cached_tenants,
            idle_ttl: Duration::from_secs(s.idle_ttl_secs),
            acquire_timeout,
            server_budget: s.server_connection_budget as usize,
            connect_timeout: (acquire_timeout / 2).min(Duration::from_secs(1)),
            query_timeout: Duration::from_millis(s.query_timeout_ms),
            ..Self::default()
        }
    }
}
