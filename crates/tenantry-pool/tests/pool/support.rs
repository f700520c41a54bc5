//! Helpers shared by the pool tests: the pool configuration they start from.

use std::time::Duration;

use tenantry_pool::PoolConfig;

pub(crate) fn config(budget: usize) -> PoolConfig {
    PoolConfig {
        server_budget: budget,
        acquire_timeout: Duration::from_secs(2),
        negative_ttl: Duration::from_millis(400),
        ..PoolConfig::default()
    }
}
