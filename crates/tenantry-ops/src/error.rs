use tenantry_provision::ProvisionError;
use tenantry_registry::RegistryError;

use crate::Permission;

/// Errors of the operator service. Every variant but `Failed` is about the request and safe to
/// show its caller; `Failed` carries an internal failure whose cause chain is logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("{what} already exists")]
    Conflict { what: String },
    #[error("{what} is busy; retry shortly")]
    Busy { what: String },
    /// The tenant's status does not allow the action (`tenant acme is deleted: cannot suspend`).
    #[error("{0}")]
    InvalidState(String),
    #[error("confirmation {given:?} does not match the tenant's subdomain")]
    Confirmation { given: String },
    #[error("this needs the {0} permission")]
    Forbidden(Permission),
    #[error("the server is stopping")]
    Stopping,
    /// A custom domain's challenge is not (yet) in DNS: none at its name, or other values only.
    #[error(
        "domain {domain} is not verified: publish a TXT record {record} with the value \
         {expected:?} (found {}); DNS changes can take a while to spread, then retry",
        found_text(*found)
    )]
    DomainUnverified {
        domain: String,
        record: String,
        expected: String,
        /// TXT values found at `record` (none of them the expected one).
        found: usize,
    },
    /// DNS did not answer within `domains.lookup_timeout_ms`.
    #[error("the DNS lookup of {name} timed out after {after_ms} ms; retry later")]
    DnsTimeout { name: String, after_ms: u64 },
    /// The resolver answered with an error (SERVFAIL, REFUSED) or could not be asked.
    #[error("the DNS lookup of {name} failed: {reason}; retry later")]
    DnsFailed { name: String, reason: String },
    /// A backup that cannot be restored (not completed, corrupt, tampered with, another
    /// engine's). Nothing was touched.
    #[error("{0}")]
    BackupUnusable(String),
    #[error("{0}")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl OpsError {
    pub fn invalid(field: impl Into<String>, message: impl ToString) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

impl From<RegistryError> for OpsError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::NotFound { what } => Self::NotFound { what },
            RegistryError::Conflict { what } => Self::Conflict { what },
            RegistryError::Busy { what } => Self::Busy { what },
            RegistryError::Refused { reason } => Self::InvalidState(reason),
            RegistryError::Invalid { what } => Self::Invalid {
                field: what,
                message: "not valid".into(),
            },
            e => Self::Failed(Box::new(e)),
        }
    }
}

impl From<ProvisionError> for OpsError {
    fn from(e: ProvisionError) -> Self {
        match e {
            ProvisionError::Registry(e) => e.into(),
            ProvisionError::UnknownPlan(plan) => Self::invalid("plan", format!("no plan {plan:?}")),
            e @ ProvisionError::NoCapacity { .. } => Self::invalid("server", e),
            e @ (ProvisionError::InvalidState { .. } | ProvisionError::CannotMove { .. }) => {
                Self::InvalidState(e.to_string())
            }
            ProvisionError::Confirmation { given, .. } => Self::Confirmation { given },
            e @ ProvisionError::BackupUnusable { .. } => Self::BackupUnusable(e.to_string()),
            e => Self::Failed(Box::new(e)),
        }
    }
}

fn found_text(found: usize) -> String {
    match found {
        0 => "no TXT record there".into(),
        1 => "1 TXT record there, with another value".into(),
        n => format!("{n} TXT records there, none with this value"),
    }
}
