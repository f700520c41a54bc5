//! Tenant databases from birth to deletion: the engine backends, the crash-safe provisioning
//! state machine, lifecycle (suspend, reactivate, delete), backups (take, schedule, restore,
//! clone, recover), `reconcile`, and fleet migration.
//!
//! Every long operation is recorded in the registry's `operations` table step by step, and every
//! step is idempotent, so `reconcile` can finish or roll back whatever a crash interrupted.

pub mod backend;
mod backup;
mod create;
mod error;
pub mod fleet;
mod heartbeat;
mod lifecycle;
mod observe;
mod provisioner;
pub mod reconcile;
mod recover;
mod relocate;
mod resolve_backups;
mod restore;
mod schedule;
mod spares;
mod storage;

pub use backup::BackupConfig;
pub use create::{CreateTenant, Created, RESERVED_ROLE_CONNECTIONS, Step};
pub use error::ProvisionError;
pub use heartbeat::HEARTBEAT_INTERVAL;
pub use lifecycle::{FinalBackup, Reactivated};
pub use observe::{operation_started, reporting_operation};
pub use provisioner::Provisioner;
pub use recover::CloneTenant;
pub use relocate::Moved;
pub use restore::Restored;
pub use schedule::{Schedule, SchedulePass};
pub use spares::{SPARE_STALE_AFTER, SpareRefill};
pub use storage::StoragePass;

pub(crate) use tenantry_core::error_chain;
