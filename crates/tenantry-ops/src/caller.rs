//! Who asks, and what they may do. Every operator-service method takes a [`Caller`]: its actor
//! and origin go into the audit row, its role decides whether the method runs at all.

use std::fmt;

use tenantry_core::TenantId;
use tenantry_registry::{Actor, AdminRole, AuditEntry, Origin};

/// What a method needs. `owner` has every permission, `operator` all but [`Permission::Admins`],
/// `viewer` only [`Permission::Read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Views: tenants, servers, operations, audit, stats.
    Read,
    /// Tenant lifecycle: create, change, suspend, reactivate, delete, migrate, domains.
    Tenants,
    /// Database servers: add, drain.
    Servers,
    /// Operators and API tokens.
    Admins,
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Read => "read",
            Self::Tenants => "tenants",
            Self::Servers => "servers",
            Self::Admins => "admins",
        })
    }
}

/// Whether `role` has `permission`.
pub fn allows(role: AdminRole, permission: Permission) -> bool {
    match role {
        AdminRole::Owner => true,
        AdminRole::Operator => permission != Permission::Admins,
        AdminRole::Viewer => permission == Permission::Read,
    }
}

/// The caller of an operator-service method.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who, from where, in which request: what the audit rows name.
    pub origin: Origin,
    pub role: AdminRole,
}

impl Caller {
    /// The operator at a shell: `tenantry` runs with the master key, so it may do everything.
    pub fn cli() -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Self {
            origin: Origin::from(Actor::Cli { user }),
            role: AdminRole::Owner,
        }
    }

    /// Tenantry itself (start-up, schedules).
    pub fn system() -> Self {
        Self {
            origin: Origin::from(Actor::System),
            role: AdminRole::Owner,
        }
    }

    pub fn require(&self, permission: Permission) -> Result<(), crate::OpsError> {
        if allows(self.role, permission) {
            Ok(())
        } else {
            Err(crate::OpsError::Forbidden(permission))
        }
    }

    /// The audit row of an action by this caller. `detail` names things, never a secret.
    pub fn audit(
        &self,
        action: &'static str,
        tenant: Option<TenantId>,
        detail: serde_json::Value,
    ) -> AuditEntry {
        self.origin.entry(action, tenant, detail)
    }

    /// Who asks, for the provisioner's audit rows.
    pub fn origin(&self) -> Origin {
        self.origin.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest() {
        use Permission::*;
        for p in [Read, Tenants, Servers, Admins] {
            assert!(allows(AdminRole::Owner, p));
            assert_eq!(allows(AdminRole::Operator, p), p != Admins);
            assert_eq!(allows(AdminRole::Viewer, p), p == Read);
        }
    }
}
