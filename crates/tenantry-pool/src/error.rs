use std::time::Duration;

use tenantry_core::TenantId;

/// Why a tenant connection could not be had. Every variant is about one tenant only; HTTP maps
/// `Exhausted` and `Unavailable` to 503 with `Retry-After`, `UnknownTenant` to 404.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PoolError {
    /// Every connection of the tenant's server was busy for the whole acquire timeout.
    #[error("no database connection free for tenant {tenant} within {waited:?}")]
    Exhausted { tenant: TenantId, waited: Duration },
    /// The tenant's database could not be opened (down, missing, credentials refused). Cached
    /// briefly: requests in the next moments fail at once.
    #[error("database of tenant {tenant} is unavailable: {message}")]
    Unavailable { tenant: TenantId, message: String },
    /// The resolver does not know the tenant (or it may not be connected to).
    #[error("tenant {0} has no database to connect to")]
    UnknownTenant(TenantId),
    /// The resolver failed (e.g. the master is unreachable, a secret cannot be opened).
    #[error("cannot resolve the database of tenant {tenant}: {message}")]
    Resolve { tenant: TenantId, message: String },
}

impl PoolError {
    /// Seconds a client should wait before retrying, for `Retry-After`.
    pub fn retry_after_secs(&self) -> u64 {
        match self {
            Self::Exhausted { .. } => 1,
            Self::Unavailable { .. } | Self::Resolve { .. } => 2,
            Self::UnknownTenant(_) => 0,
        }
    }
}
