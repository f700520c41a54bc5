//! Tenants: views, and every lifecycle action on them.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde_json::json;
use tenantry_core::{Email, PlanId, ServerName, Subdomain, TenantRef};
use tenantry_provision::fleet::{FleetOptions, FleetReport, TenantMigration};
use tenantry_provision::{CreateTenant, FinalBackup, Reactivated};
use tenantry_registry::{TenantPatch, TenantQuery, TenantStatus};

use crate::{Caller, Operator, OpsError, Permission, TenantView};

/// A page of tenants.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TenantList {
    pub data: Vec<TenantView>,
    /// The page number (1-based) this is.
    pub page: u64,
    /// The most tenants a page holds.
    pub limit: u64,
    /// Tenants matching the filters, in all pages.
    pub total: u64,
    /// Pass as `cursor` to get the tenants after this page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A request to create a tenant, as typed by a caller (validated here).
#[derive(Debug)]
pub struct NewTenantRequest {
    pub subdomain: String,
    pub name: String,
    pub plan: String,
    pub admin_email: String,
    /// `None`: a one-time password is generated and returned once.
    pub admin_password: Option<SecretString>,
    pub server: Option<String>,
}

/// A created tenant; `one_time_password` when none was given (shown once, stored hashed only).
#[derive(Debug)]
pub struct CreatedTenant {
    pub tenant: TenantView,
    pub admin_email: Email,
    pub one_time_password: Option<SecretString>,
}

/// A checked creation request, ready to provision.
#[derive(Debug)]
pub struct PreparedTenant {
    create: CreateTenant,
    one_time_password: Option<SecretString>,
}

impl PreparedTenant {
    pub fn admin_email(&self) -> &Email {
        &self.create.admin_email
    }

    /// The generated password of the tenant admin, when none was given: show it once.
    pub fn one_time_password(&self) -> Option<&SecretString> {
        self.one_time_password.as_ref()
    }
}

/// What `PATCH /tenants/{id}` may change.
#[derive(Debug, Default)]
pub struct TenantChanges {
    pub name: Option<String>,
    pub plan: Option<String>,
    /// `Some(None)` clears it (the plan's limit applies).
    pub storage_limit_mb: Option<Option<i64>>,
    /// Replaces the tenant's own feature flags (they override its plan's).
    pub features: Option<BTreeMap<String, bool>>,
}

/// Most feature flags one tenant may carry.
pub const MAX_FEATURES: usize = 64;

/// A flag name: a lowercase letter, then up to 63 lowercase letters, digits or `_`.
fn check_features(features: &BTreeMap<String, bool>) -> Result<(), OpsError> {
    if features.len() > MAX_FEATURES {
        return Err(OpsError::invalid(
            "features",
            format!("at most {MAX_FEATURES} flags"),
        ));
    }
    let well_formed = |name: &str| {
        name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    match features.keys().find(|name| !well_formed(name)) {
        Some(name) => Err(OpsError::invalid(
            "features",
            format!(
                "flag {:?} must be a lowercase letter then up to 63 lowercase letters, digits or '_'",
                name.chars().take(80).collect::<String>()
            ),
        )),
        None => Ok(()),
    }
}

/// Longest tenant display name.
pub const MAX_NAME_CHARS: usize = 200;

fn tenant_name(raw: &str) -> Result<String, OpsError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(OpsError::invalid("name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(OpsError::invalid(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters, with no control characters"),
        ));
    }
    Ok(name.to_owned())
}

fn plan_id(raw: &str) -> Result<PlanId, OpsError> {
    raw.parse::<PlanId>()
        .map_err(|e| OpsError::invalid("plan", e))
}

impl Operator {
    pub async fn list_tenants(
        &self,
        caller: &Caller,
        query: &TenantQuery,
    ) -> Result<TenantList, OpsError> {
        caller.require(Permission::Read)?;
        let page = self.registry().search_tenants(query).await?;
        let servers = self.registry().list_servers().await?;
        Ok(TenantList {
            data: page
                .tenants
                .iter()
                .map(|t| TenantView::new(t, &servers))
                .collect(),
            page: query.page,
            limit: query.limit,
            total: page.total,
            next_cursor: page.next.map(|c| c.to_string()),
        })
    }

    /// Every tenant with `status` (`None`: every live one), oldest first, unpaged: for the CLI's
    /// listing of a whole installation.
    pub async fn list_all_tenants(
        &self,
        caller: &Caller,
        status: Option<TenantStatus>,
    ) -> Result<Vec<TenantView>, OpsError> {
        caller.require(Permission::Read)?;
        let tenants = self.registry().list_tenants(status).await?;
        let servers = self.registry().list_servers().await?;
        Ok(tenants
            .iter()
            .map(|t| TenantView::new(t, &servers))
            .collect())
    }

    pub async fn tenant(
        &self,
        caller: &Caller,
        tenant: &TenantRef,
    ) -> Result<TenantView, OpsError> {
        caller.require(Permission::Read)?;
        let tenant = self.registry().find_tenant(tenant).await?;
        self.view(&tenant).await
    }

    /// The view of `t` (with its server's name).
    pub async fn view(&self, t: &tenantry_registry::Tenant) -> Result<TenantView, OpsError> {
        let servers = self.registry().list_servers().await?;
        Ok(TenantView::new(t, &servers))
    }

    /// Creates a tenant: database, role, schema, seed data and its first admin user.
    pub async fn create_tenant(
        &self,
        caller: &Caller,
        req: NewTenantRequest,
    ) -> Result<CreatedTenant, OpsError> {
        let prepared = self.prepare_tenant(caller, req).await?;
        let admin_email = prepared.create.admin_email.clone();
        let one_time_password = prepared.one_time_password.clone();
        Ok(CreatedTenant {
            tenant: self.create_prepared(prepared).await?,
            admin_email,
            one_time_password,
        })
    }

    /// The first half of a creation, done before answering: checks the caller and the request,
    /// and hashes (or generates) the tenant admin's password.
    pub async fn prepare_tenant(
        &self,
        caller: &Caller,
        req: NewTenantRequest,
    ) -> Result<PreparedTenant, OpsError> {
        caller.require(Permission::Tenants)?;
        let reserved = self.provisioner().reserved_subdomains();
        let subdomain = Subdomain::parse(req.subdomain.trim(), reserved)
            .map_err(|e| OpsError::invalid("subdomain", e))?;
        let name = tenant_name(&req.name)?;
        let plan = plan_id(&req.plan)?;
        let admin_email =
            Email::parse(&req.admin_email).map_err(|e| OpsError::invalid("admin_email", e))?;
        let server = req
            .server
            .as_deref()
            .map(|s| ServerName::parse(s).map_err(|e| OpsError::invalid("server", e)))
            .transpose()?;
        let (password, one_time, hash) = self
            .password_or_generated(req.admin_password, "admin_password")
            .await?;
        Ok(PreparedTenant {
            create: CreateTenant {
                subdomain,
                name,
                plan,
                admin_email,
                admin_password_hash: hash,
                server,
                origin: caller.origin(),
            },
            one_time_password: one_time.then_some(password),
        })
    }

    /// The second half: provisions the tenant (a recorded operation; the long part).
    pub async fn create_prepared(&self, prepared: PreparedTenant) -> Result<TenantView, OpsError> {
        let created = self.provisioner().create(prepared.create).await?;
        self.view(&created.tenant).await
    }

    /// Changes a tenant's name, plan, storage limit or feature flags. A plan change reaches every `serve`
    /// within a second (change feed).
    pub async fn update_tenant(
        &self,
        caller: &Caller,
        tenant: &TenantRef,
        changes: TenantChanges,
    ) -> Result<TenantView, OpsError> {
        caller.require(Permission::Tenants)?;
        let name = changes.name.as_deref().map(tenant_name).transpose()?;
        let plan = changes.plan.as_deref().map(plan_id).transpose()?;
        if let Some(plan) = &plan {
            self.registry()
                .plan_by_id(plan)
                .await
                .map_err(|e| match e {
                    tenantry_registry::RegistryError::NotFound { .. } => {
                        OpsError::invalid("plan", format!("no plan {plan}"))
                    }
                    e => e.into(),
                })?;
        }
        if let Some(Some(limit)) = changes.storage_limit_mb
            && !(1..=i64::from(i32::MAX)).contains(&limit)
        {
            return Err(OpsError::invalid(
                "storage_limit_mb",
                format!("must be between 1 and {}", i32::MAX),
            ));
        }
        if let Some(features) = &changes.features {
            check_features(features)?;
        }
        let current = self.registry().find_tenant(tenant).await?;
        if !current.is_live() {
            return Err(OpsError::NotFound {
                what: format!("tenant {tenant}"),
            });
        }
        let detail = json!({
            "subdomain": current.subdomain,
            "name": name,
            "plan": plan.as_ref().map(ToString::to_string),
            "storage_limit_mb": changes.storage_limit_mb,
            "features": changes.features,
        });
        let updated = self
            .registry()
            .update_tenant(
                current.id,
                TenantPatch {
                    name,
                    plan,
                    storage_limit_mb: changes.storage_limit_mb,
                    features: changes.features,
                },
                caller.audit("tenant.update", Some(current.id), detail),
            )
            .await?;
        self.view(&updated).await
    }

    pub async fn suspend_tenant(
        &self,
        caller: &Caller,
        tenant: &TenantRef,
        reason: &str,
    ) -> Result<TenantView, OpsError> {
        caller.require(Permission::Tenants)?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(OpsError::invalid("reason", "must be 1–500 characters"));
        }
        let t = self
            .provisioner()
            .suspend(tenant, reason, &caller.origin())
            .await?;
        self.view(&t).await
    }

    pub async fn reactivate_tenant(
        &self,
        caller: &Caller,
        tenant: &TenantRef,
    ) -> Result<Reactivated, OpsError> {
        caller.require(Permission::Tenants)?;
        Ok(self
            .provisioner()
            .reactivate(tenant, &caller.origin())
            .await?)
    }

    /// Deletes the tenant's database and role; `confirm` must be its subdomain. With
    /// [`FinalBackup::Take`] it is backed up first and stays recoverable for a while.
    pub async fn delete_tenant(
        &self,
        caller: &Caller,
        tenant: &TenantRef,
        confirm: &str,
        final_backup: FinalBackup,
    ) -> Result<TenantView, OpsError> {
        caller.require(Permission::Tenants)?;
        let t = self
            .provisioner()
            .delete_with(tenant, confirm, final_backup, &caller.origin())
            .await?;
        self.view(&t).await
    }

    /// Brings one tenant, or every live tenant (`None`), to the latest schema.
    pub async fn migrate_tenants(
        &self,
        caller: &Caller,
        tenant: Option<&TenantRef>,
        options: FleetOptions,
        progress: &(dyn Fn(&TenantMigration) + Sync),
    ) -> Result<FleetReport, OpsError> {
        caller.require(Permission::Tenants)?;
        let tenants = match tenant {
            Some(t) => vec![self.registry().find_tenant(t).await?],
            None => self.registry().list_tenants(None).await?,
        };
        Ok(self
            .provisioner()
            .migrate_tenants(tenants, options, progress)
            .await?)
    }
}
