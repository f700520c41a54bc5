//! Tenant context: which tenant a request is for (Host, then `X-Tenant-Id` if enabled), whether
//! its status lets it be served, and the [`TenantDb`] extractor — the only way a handler gets a
//! tenant database connection, so no handler can query "a tenant" it has not resolved.

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use async_trait::async_trait;
use moka::future::Cache;
use tenantry_core::{Subdomain, TenantId};
use tenantry_pool::{PoolError, TargetResolver, TenantConnection, TenantTarget};
use tenantry_provision::Provisioner;
use tenantry_registry::entity::tenant;
use tenantry_registry::{Registry, RegistryError, TenantStatus};
use tracing_actix_web::RootSpan;
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::host::{self, HostKind};

/// How long a Host → tenant answer (including "no such tenant") is reused without asking the
/// master. A status change made elsewhere (the CLI) is seen within this delay.
pub const RESOLUTION_TTL: Duration = Duration::from_secs(5);

pub const TENANT_HEADER: &str = "x-tenant-id";

/// A tenant as a request sees it: enough to gate and to route, nothing secret.
#[derive(Debug, Clone)]
pub struct ResolvedTenant {
    pub id: TenantId,
    pub subdomain: String,
    pub status: TenantStatus,
}

impl From<&tenant::Model> for ResolvedTenant {
    fn from(t: &tenant::Model) -> Self {
        Self {
            id: t.id.into(),
            subdomain: t.subdomain.clone(),
            status: t.status,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Domain(String),
    Subdomain(String),
    Id(Uuid),
}

/// Host/id → tenant lookups, cached briefly (negative answers too, so a flood of requests for
/// unknown hosts does not reach the master) and single-flight per key.
pub struct TenantDirectory {
    registry: Arc<Registry>,
    cache: Cache<Key, Option<ResolvedTenant>>,
    base_domain: String,
    tenant_header: bool,
    reserved: Vec<String>,
}

impl TenantDirectory {
    pub fn new(
        registry: Arc<Registry>,
        base_domain: &str,
        tenant_header: bool,
        reserved: Vec<String>,
    ) -> Self {
        Self {
            registry,
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(RESOLUTION_TTL)
                .build(),
            base_domain: host::normalise_base_domain(base_domain),
            tenant_header,
            reserved,
        }
    }

    /// Forgets what is cached about `id` (e.g. after a status change in this process).
    pub fn invalidate(&self, id: TenantId) {
        let uuid = id.as_uuid();
        // Entries are few and short-lived; a predicate scan keeps the keying simple.
        let _ = self.cache.invalidate_entries_if(move |k, v| match (k, v) {
            (Key::Id(u), _) => *u == uuid,
            (_, Some(t)) => t.id.as_uuid() == uuid,
            _ => false,
        });
    }

    /// The tenant this request is for, gated by status: only an active tenant comes back.
    ///
    /// Order: a verified custom domain, else a subdomain of the base domain, else (if enabled)
    /// the `X-Tenant-Id` header. A host under the base domain is decisive: an unknown subdomain is
    /// 404 whatever the header says. Any other host falls back to the header when it is no
    /// tenant's domain (an internal service name, an IP address).
    pub async fn resolve(&self, req: &HttpRequest) -> Result<ResolvedTenant, ApiError> {
        let found = match self.host_key(req)? {
            HostKey::Subdomain(key) => self.lookup(key).await?,
            HostKey::NoTenant => None,
            HostKey::Domain(key) => match self.lookup(key).await? {
                found @ Some(_) => found,
                None => self.lookup_header(req).await?,
            },
            HostKey::Silent => self.lookup_header(req).await?,
        };
        let tenant = found.ok_or(ApiError::TenantNotFound)?;
        match tenant.status {
            TenantStatus::Active => Ok(tenant),
            TenantStatus::Provisioning => Err(ApiError::TenantProvisioning),
            TenantStatus::Suspended => Err(ApiError::TenantSuspended),
            TenantStatus::Failed => Err(ApiError::TenantUnavailable),
            TenantStatus::Deleted => Err(ApiError::TenantNotFound),
        }
    }

    /// One cached, single-flight registry lookup (a miss is cached too).
    async fn lookup(&self, key: Key) -> Result<Option<ResolvedTenant>, ApiError> {
        let registry = self.registry.clone();
        self.cache
            .try_get_with(key.clone(), async move {
                let model = match &key {
                    Key::Domain(d) => registry.live_tenant_by_domain(d).await?,
                    Key::Subdomain(s) => registry.live_tenant_by_subdomain(s).await?,
                    Key::Id(id) => registry
                        .tenant((*id).into())
                        .await?
                        .filter(|t| t.status != TenantStatus::Deleted),
                };
                Ok::<_, RegistryError>(model.as_ref().map(ResolvedTenant::from))
            })
            .await
            .map_err(|e: Arc<RegistryError>| {
                tracing::error!(error = %e, "tenant lookup failed");
                ApiError::RegistryUnavailable
            })
    }

    /// What the `Host` header names.
    fn host_key(&self, req: &HttpRequest) -> Result<HostKey, ApiError> {
        let raw = match req.headers().get(actix_web::http::header::HOST) {
            Some(v) => v
                .to_str()
                .map_err(|_| ApiError::InvalidHost("not ASCII"))?
                .to_owned(),
            None => req
                .uri()
                .authority()
                .map(|a| a.as_str().to_owned())
                .unwrap_or_default(),
        };
        let kind = host::classify(&raw, &self.base_domain)
            .map_err(|e| ApiError::InvalidHost(e.reason()))?;
        Ok(match kind {
            HostKind::Domain(domain) => HostKey::Domain(Key::Domain(domain)),
            // A label that can never be a subdomain (reserved, too short) is no tenant.
            HostKind::Subdomain(label) => match Subdomain::parse(&label, &self.reserved) {
                Ok(s) => HostKey::Subdomain(Key::Subdomain(s.as_str().to_owned())),
                Err(_) => HostKey::NoTenant,
            },
            HostKind::Apex | HostKind::Other => HostKey::Silent,
        })
    }

    /// The tenant `X-Tenant-Id` names, if that header is enabled and present.
    async fn lookup_header(&self, req: &HttpRequest) -> Result<Option<ResolvedTenant>, ApiError> {
        if !self.tenant_header {
            return Ok(None);
        }
        let Some(value) = req.headers().get(TENANT_HEADER) else {
            return Ok(None);
        };
        let id = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<Uuid>().ok())
            .ok_or_else(|| ApiError::BadRequest("X-Tenant-Id must be a tenant id".into()))?;
        self.lookup(Key::Id(id)).await
    }
}

/// What a `Host` says about the tenant.
enum HostKey {
    /// A subdomain of the base domain: decides alone (unknown → 404, whatever the header says).
    Subdomain(Key),
    /// Under the base domain but never a subdomain (reserved, too short): no tenant.
    NoTenant,
    /// Another domain: a tenant's if it is a verified custom domain, else the header may say.
    Domain(Key),
    /// Names no tenant (the apex, an IP literal, a nested name): the header may say.
    Silent,
}

/// Middleware for tenant-routed scopes: resolves and gates the tenant before any route (so an
/// unknown route of a suspended tenant is still 403), records it on the request span, and leaves
/// it in the request extensions for [`TenantDb`].
pub async fn require_tenant(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("AppState is registered")
        .clone();
    let tenant = state.directory.resolve(req.request()).await?;
    if let Some(span) = req.extensions().get::<RootSpan>() {
        span.record("tenant", tenant.subdomain.as_str());
    }
    req.extensions_mut().insert(tenant);
    next.call(req).await
}

/// A leased connection to the request's tenant database. Extracting it resolves and gates the
/// tenant (unless the middleware already did) and leases from the pools; dropping it gives the
/// connection back.
pub struct TenantDb {
    pub tenant: ResolvedTenant,
    conn: TenantConnection,
}

impl std::ops::Deref for TenantDb {
    type Target = TenantConnection;
    fn deref(&self) -> &Self::Target {
        &self.conn
    }
}

impl FromRequest for TenantDb {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = app_state(&req);
            let tenant = request_tenant(&req, &state).await?;
            let conn = state.pools.acquire(tenant.id).await?;
            Ok(TenantDb { tenant, conn })
        })
    }
}

pub(crate) fn app_state(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>()
        .expect("AppState is registered")
        .clone()
}

/// The request's tenant: as the middleware left it, else resolved (and gated) now.
pub(crate) async fn request_tenant(
    req: &HttpRequest,
    state: &AppState,
) -> Result<ResolvedTenant, ApiError> {
    let resolved = req.extensions().get::<ResolvedTenant>().cloned();
    match resolved {
        Some(t) => Ok(t),
        None => state.directory.resolve(req).await,
    }
}

/// Opens tenant databases for the pools: the registry row (must be active), its decrypted URL
/// and its plan's connection maximum. Runs once per pool cache miss, never per request.
pub struct RegistryTargets {
    pub provisioner: Arc<Provisioner>,
}

#[async_trait]
impl TargetResolver for RegistryTargets {
    async fn resolve(&self, id: TenantId) -> Result<TenantTarget, PoolError> {
        let failed = |message: String| PoolError::Resolve {
            tenant: id,
            message,
        };
        let registry = self.provisioner.registry();
        let tenant = registry
            .tenant(id)
            .await
            .map_err(|e| failed(e.to_string()))?
            .filter(|t| t.status == TenantStatus::Active)
            .ok_or(PoolError::UnknownTenant(id))?;
        let url = self
            .provisioner
            .tenant_url(&tenant)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let plan = registry
            .plan(&tenant.plan_id)
            .await
            .map_err(|e| failed(e.to_string()))?;
        Ok(TenantTarget {
            server: tenant.db_server_id,
            url,
            max_connections: usize::try_from(plan.max_connections).unwrap_or(1).max(1),
        })
    }
}
