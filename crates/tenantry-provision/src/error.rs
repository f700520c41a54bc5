use tenantry_registry::RegistryError;

use crate::Step;
use crate::backend::BackendError;

/// Errors of provisioning and lifecycle operations. Those about the request (`Conflict`,
/// `NotFound`, `InvalidState`, `Confirmation`, `UnknownPlan`, `NoCapacity`) are for the caller;
/// the others are failures whose cause chain is logged.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("unknown plan {0:?}")]
    UnknownPlan(String),
    #[error("server {server} cannot take tenants: {reason}")]
    NoCapacity { server: String, reason: String },
    #[error("tenant {subdomain} is {status}: cannot {action}")]
    InvalidState {
        subdomain: String,
        status: String,
        action: &'static str,
    },
    #[error("confirmation {given:?} does not match the tenant's subdomain {expected:?}")]
    Confirmation { given: String, expected: String },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("cannot open tenant database {db}: {message}")]
    TenantConnect { db: String, message: String },
    #[error("tenant migration failed: {}", crate::error_chain(.0))]
    Migrate(#[from] tenantry_migrate::MigrateError),
    #[error("seeding the tenant database failed: {}", crate::error_chain(.0))]
    Seed(#[from] tenantry_app::SeedError),
    /// A backup that cannot be restored: not completed, not the file recorded, corrupt or
    /// tampered with, or for another engine. Nothing was touched.
    #[error("tenant {subdomain} cannot move: {reason}")]
    CannotMove { subdomain: String, reason: String },
    #[error("backup {backup} cannot be used: {reason}")]
    BackupUnusable { backup: uuid::Uuid, reason: String },
    #[error("backup archive: {0}")]
    Archive(#[from] tenantry_backup::archive::ArchiveError),
    #[error("backup storage: {0}")]
    Store(#[from] tenantry_backup::store::StoreError),
    /// Test-only: the configured failpoint stopped the operation after `Step`, as a crash would.
    #[error("failpoint: stopped after step {0}")]
    Failpoint(Step),
}

impl ProvisionError {
    /// Whether the error is about the caller's request rather than a failure of ours.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Registry(RegistryError::Conflict { .. }))
    }
}
