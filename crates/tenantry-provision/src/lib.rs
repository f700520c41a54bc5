//! Tenant databases from birth to deletion: the engine backends, the crash-safe provisioning
//! state machine, lifecycle (suspend, reactivate, delete), `reconcile`, and fleet migration.
//!
//! Every long operation is recorded in the registry's `operations` table step by step, and every
//! step is idempotent, so `reconcile` can finish or roll back whatever a crash interrupted.

pub mod backend;
mod create;
mod error;
pub mod fleet;
mod lifecycle;
mod provisioner;
pub mod reconcile;

pub use create::{CreateTenant, Created, Step};
pub use error::ProvisionError;
pub use lifecycle::Reactivated;
pub use provisioner::Provisioner;

/// `error: cause: cause…`, skipping causes the message already contains.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}
