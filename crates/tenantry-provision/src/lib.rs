//! Tenant databases from birth to deletion: the engine backends, the crash-safe provisioning
//! state machine, lifecycle (suspend, reactivate, delete), `reconcile`, and fleet migration.
//!
//! Every long operation is recorded in the registry's `operations` table step by step, and every
//! step is idempotent, so `reconcile` can finish or roll back whatever a crash interrupted.

pub mod backend;
mod create;
mod error;
pub mod fleet;
mod heartbeat;
mod lifecycle;
mod observe;
mod provisioner;
pub mod reconcile;

pub use create::{CreateTenant, Created, RESERVED_ROLE_CONNECTIONS, Step};
pub use error::ProvisionError;
pub use heartbeat::HEARTBEAT_INTERVAL;
pub use lifecycle::Reactivated;
pub use observe::{operation_started, reporting_operation};
pub use provisioner::Provisioner;

pub(crate) use tenantry_core::error_chain;
