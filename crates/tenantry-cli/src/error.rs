//! Outcomes of a command and their exit codes:
//! 0 success · 1 operational failure (database unreachable, a check failed) · 2 invalid
//! settings, key or arguments · 3 conflict (already exists, busy, or not allowed in the tenant's
//! current status) · 4 not found.
//! Messages are for operators; none contains a secret.

use tenantry_core::SettingsError;
use tenantry_ops::OpsError;
use tenantry_provision::ProvisionError;
use tenantry_registry::RegistryError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The master key could not be loaded; the message names its source.
    #[error("{0}")]
    Key(String),
    /// An argument is invalid; the message names it.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{}", with_causes(.0))]
    Provision(#[from] ProvisionError),
    /// From the operator service (`tenantry_ops`), which every tenant, server, admin and token
    /// command goes through.
    #[error("{}", with_causes(.0))]
    Ops(#[from] OpsError),
    /// A command ran but did not succeed (e.g. a doctor check); details were printed already.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Settings(_) | Self::Key(_) | Self::Usage(_) => 2,
            Self::Registry(e) | Self::Provision(ProvisionError::Registry(e)) => match e {
                RegistryError::Conflict { .. } | RegistryError::Busy { .. } => 3,
                RegistryError::NotFound { .. } => 4,
                _ => 1,
            },
            Self::Provision(
                ProvisionError::UnknownPlan(_) | ProvisionError::Confirmation { .. },
            ) => 2,
            Self::Provision(ProvisionError::InvalidState { .. }) => 3,
            Self::Ops(e) => match e {
                OpsError::Invalid { .. } | OpsError::Confirmation { .. } => 2,
                OpsError::Conflict { .. } | OpsError::Busy { .. } | OpsError::InvalidState(_) => 3,
                OpsError::NotFound { .. } => 4,
                OpsError::Forbidden(_)
                | OpsError::Stopping
                | OpsError::DomainUnverified { .. }
                | OpsError::DnsTimeout { .. }
                | OpsError::DnsFailed { .. }
                | OpsError::BackupUnusable(_)
                | OpsError::Failed(_) => 1,
            },
            Self::Failed(_) | Self::Provision(_) => 1,
        }
    }

    pub fn usage(argument: &str, message: impl std::fmt::Display) -> Self {
        Self::Usage(format!("{argument}: {message}"))
    }
}

/// Maps an operator-service error, naming an invalid field by the argument that set it
/// (`flags`: (field, argument) pairs), so `invalid admin_email: ...` reads `--admin-email: ...`.
pub fn ops(flags: &'static [(&'static str, &'static str)]) -> impl Fn(OpsError) -> CliError {
    move |e| match e {
        OpsError::Invalid { field, message } => match flags.iter().find(|(f, _)| *f == field) {
            Some((_, argument)) => CliError::usage(argument, message),
            None => CliError::Ops(OpsError::Invalid { field, message }),
        },
        e => CliError::Ops(e),
    }
}

pub use tenantry_core::error_chain as with_causes;
