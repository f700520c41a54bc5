//! The operator service: every tenant-lifecycle action, view and check, in one place. The CLI
//! (`tenantry`) and the admin API (`/admin/v1`) are thin adapters over [`Operator`]: they parse
//! their input, build a [`Caller`], call one method and render its answer. Neither holds
//! lifecycle logic.
//!
//! Every method takes the [`Caller`] and checks its [`Permission`] first; every mutation writes
//! its audit row naming the caller, its address and request id.

mod admins;
mod backups;
mod caller;
mod dns;
mod domains;
mod error;
mod fleet;
mod health;
mod jobs;
mod moves;
mod records;
mod servers;
mod tenants;
mod tokens;
mod views;

use std::sync::Arc;
use std::time::Duration;

use tenantry_core::vault::PasswordChecker;
use tenantry_provision::Provisioner;
use tenantry_registry::Registry;

pub use admins::{AdminChanges, AdminView, NewAdmin};
pub use backups::{BackupView, FleetBackup, MAX_BACKUP_CONCURRENCY, RestoreView};
pub use caller::{Caller, Permission, allows};
pub use domains::{DomainRules, DomainView, Verification};
pub use error::OpsError;
pub use health::TenantHealth;
pub use jobs::{Done, Jobs, Submitted};
pub use moves::{DrainOutcome, MoveView};
pub use records::FleetStats;
pub use servers::{NewServerRequest, ServerView, check_server};
pub use tenantry_provision::FinalBackup;
pub use tenants::{CreatedTenant, NewTenantRequest, PreparedTenant, TenantChanges, TenantList};
pub use tokens::{IssuedToken, TOKEN_PREFIX, TokenView};
pub use views::{OperationView, TenantView};

/// How the operator service runs long operations started over HTTP.
#[derive(Debug, Clone, Copy)]
pub struct JobLimits {
    /// Operations running at once.
    pub workers: usize,
    /// Operations admitted to wait for a worker; beyond that, `Busy`.
    pub queue: usize,
}

impl Default for JobLimits {
    fn default() -> Self {
        Self {
            workers: 4,
            queue: 32,
        }
    }
}

/// The operator service. Cheap to clone.
#[derive(Clone)]
pub struct Operator {
    inner: Arc<Inner>,
}

struct Inner {
    provisioner: Arc<Provisioner>,
    passwords: Arc<PasswordChecker>,
    jobs: Jobs,
    domains: DomainRules,
    health: health::Probes,
}

impl Operator {
    pub fn new(
        provisioner: Arc<Provisioner>,
        passwords: Arc<PasswordChecker>,
        limits: JobLimits,
        domains: DomainRules,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                provisioner,
                passwords,
                jobs: Jobs::new(limits.workers, limits.queue),
                domains,
                health: health::Probes::default(),
            }),
        }
    }

    pub fn registry(&self) -> &Registry {
        self.inner.provisioner.registry()
    }

    pub fn provisioner(&self) -> &Arc<Provisioner> {
        &self.inner.provisioner
    }

    /// The password checker (argon2id on a fixed set of threads) logins go through.
    pub fn passwords(&self) -> &PasswordChecker {
        &self.inner.passwords
    }

    /// The base domain and `[domains]` settings custom domains are checked against.
    pub fn domain_rules(&self) -> &DomainRules {
        &self.inner.domains
    }

    /// Runs a long action on the bounded worker set (see [`Jobs::submit`]).
    pub async fn submit<T, F>(&self, action: F) -> Result<Submitted<T>, OpsError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, OpsError>> + Send + 'static,
    {
        self.inner.jobs.submit(action).await
    }

    /// Stops taking long actions and gives running ones `grace` to finish.
    pub async fn shut_down(&self, grace: Duration) {
        self.inner.jobs.shut_down(grace).await;
    }
}
