use async_trait::async_trait;
use secrecy::SecretString;
use tenantry_core::TenantId;
use uuid::Uuid;

use crate::PoolError;

/// The database server a tenant lives on; budgets are per server. `None` is the local SQLite
/// directory (its budget bounds open files).
pub type ServerKey = Option<Uuid>;

/// Everything needed to open connections for one tenant, resolved once per cache entry.
#[derive(Clone)]
pub struct TenantTarget {
    pub server: ServerKey,
    /// The tenant's own role and database (`postgres://…` or `sqlite://…`); holds its password.
    pub url: SecretString,
    /// The plan's per-tenant connection maximum (≥ 1).
    pub max_connections: usize,
}

impl std::fmt::Debug for TenantTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTarget")
            .field("server", &self.server)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

/// Looks a tenant's target up (registry + vault). Called once per cache miss, never per request.
#[async_trait]
pub trait TargetResolver: Send + Sync + 'static {
    async fn resolve(&self, tenant: TenantId) -> Result<TenantTarget, PoolError>;
}
