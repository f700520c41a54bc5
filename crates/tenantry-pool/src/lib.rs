//! The connection manager: database connections for tenants, cached per tenant, under a
//! connection budget per database server.
//!
//! # Model
//! A tenant's pool is a set of **slots**: one physical sqlx connection each. Every open slot
//! holds one **permit** of its server's budget, so the budget bounds real connections, not
//! pools. Requests *lease* a slot and run sea-orm statements and transactions on its connection
//! directly ([`TenantConnection`]: no per-query checkout, no ping after each query); a slot that
//! a request leaves in an unknown state is checked before anyone else gets it. Leasing:
//!
//! 1. the tenant's idle slot, if it has one (a hit: no connect);
//! 2. else a new slot, if the server has a free permit and the tenant is under its plan's max;
//! 3. else a new slot replacing the server's least recently used *idle* slot of another tenant
//!    (a steal: the budget is spent on breadth, never held idle while someone waits);
//! 4. else wait for a release, up to `acquire_timeout`, then [`PoolError::Exhausted`].
//!
//! Tenants are cached in a moka LRU ([`PoolConfig::max_cached_tenants`], time-to-idle); the cache
//! entry holds the tenant's resolved target (URL decrypted once per open of the entry) and is
//! single-flight. Evicting or invalidating a tenant closes its idle slots at once and its leased
//! slots when they come back — never under a running query. A tenant whose database cannot be
//! reached fails fast and is negatively cached for a moment, so it holds no budget and slows no
//! one. A housekeeping task runs moka's pending work and shrinks each tenant to one warm idle
//! slot shortly after a burst.

mod config;
mod conn;
mod driver;
mod error;
mod lease;
mod pools;
mod state;
mod stats;
mod target;

pub use config::PoolConfig;
pub use error::PoolError;
pub use lease::{TenantConnection, TenantTransaction};
pub use pools::TenantPools;
pub use stats::{PoolStats, ServerStats, TenantPoolStats};
pub use target::{ServerKey, TargetResolver, TenantTarget};
