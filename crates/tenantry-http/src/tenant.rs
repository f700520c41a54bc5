//! Tenant context: which tenant a request is for (Host, then `X-Tenant-Id` if enabled), whether
//! its status lets it be served, and the [`TenantDb`] extractor — the only way a handler gets a
//! tenant database connection, so no handler can query "a tenant" it has not resolved.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use async_trait::async_trait;
use tenantry_core::{Subdomain, TenantId};
use tenantry_pool::{PoolError, TargetResolver, TenantConnection, TenantTarget};
use tenantry_provision::Provisioner;
use tenantry_registry::TenantStatus;
use tracing_actix_web::RootSpan;
use uuid::Uuid;

use crate::AppState;
use crate::directory::Key;
pub use crate::directory::{ResolvedTenant, TenantDirectory};
use crate::error::ApiError;
use crate::host::{self, HostKind};

pub const TENANT_HEADER: &str = "x-tenant-id";

/// How a request names its tenant: the rules of the deployment.
pub struct TenantRouting {
    base_domain: String,
    tenant_header: bool,
    reserved: Vec<String>,
}

impl TenantRouting {
    pub fn new(base_domain: &str, tenant_header: bool, reserved: Vec<String>) -> Self {
        Self {
            base_domain: host::normalise_base_domain(base_domain),
            tenant_header,
            reserved,
        }
    }

    /// The tenant this request is for, gated by status: only an active tenant comes back.
    ///
    /// Order: a verified custom domain, else a subdomain of the base domain, else (if enabled)
    /// the `X-Tenant-Id` header. A name under the base domain decides alone: one label is a
    /// subdomain (unknown → 404 whatever the header says); the apex (the admin host) and nested
    /// names are never a tenant. Only a host outside the base domain that is no tenant's domain
    /// (an internal service name, an IP address) falls back to the header.
    pub async fn resolve(
        &self,
        directory: &TenantDirectory,
        req: &HttpRequest,
    ) -> Result<ResolvedTenant, ApiError> {
        let found = match self.host_key(req)? {
            HostKey::Subdomain(key) => directory.lookup(key).await?,
            HostKey::NoTenant => None,
            // An unknown foreign name (an internal service name) may still carry the header,
            // even while the master cannot say whether the name is some tenant's domain.
            HostKey::Domain(key) => match directory.lookup(key).await {
                Ok(found @ Some(_)) => found,
                Ok(None) => self.lookup_header(directory, req).await?,
                Err(e) => match self.lookup_header(directory, req).await? {
                    found @ Some(_) => found,
                    None => return Err(e),
                },
            },
            HostKey::Silent => self.lookup_header(directory, req).await?,
        };
        let tenant = found.ok_or(ApiError::TenantNotFound)?;
        match tenant.status {
            TenantStatus::Active if tenant.fenced => Err(ApiError::TenantMaintenance),
            TenantStatus::Active => Ok(tenant),
            TenantStatus::Provisioning => Err(ApiError::TenantProvisioning),
            TenantStatus::Suspended => Err(ApiError::TenantSuspended),
            TenantStatus::Failed => Err(ApiError::TenantUnavailable),
            TenantStatus::Deleted => Err(ApiError::TenantNotFound),
        }
    }

    /// Whether the request is for the base domain itself (the admin API's host). A malformed or
    /// contradictory host is refused as in [`Self::resolve`].
    pub fn is_apex(&self, req: &HttpRequest) -> Result<bool, ApiError> {
        Ok(self.host_kind(req)? == HostKind::Apex)
    }

    /// What the request's host names. An absolute-form target (`GET http://beta.localhost/…`)
    /// names the host (RFC 9112 §3.2.2); one that disagrees with `Host` is refused rather than
    /// guessed at.
    fn host_kind(&self, req: &HttpRequest) -> Result<HostKind, ApiError> {
        let header = match req.headers().get(actix_web::http::header::HOST) {
            Some(v) => Some(v.to_str().map_err(|_| ApiError::InvalidHost("not ASCII"))?),
            None => None,
        };
        let target = req.uri().authority().map(|a| a.as_str());
        let classify = |raw: &str| {
            host::classify(raw, &self.base_domain).map_err(|e| ApiError::InvalidHost(e.reason()))
        };
        let kind = match (target, header) {
            (Some(target), Some(header)) => {
                let kind = classify(target)?;
                if classify(header)? != kind {
                    return Err(ApiError::BadRequest(
                        "the request target and the Host header name different hosts".into(),
                    ));
                }
                kind
            }
            (Some(raw), None) | (None, Some(raw)) => classify(raw)?,
            (None, None) => classify("")?,
        };
        Ok(kind)
    }

    /// What the request's host says about the tenant.
    fn host_key(&self, req: &HttpRequest) -> Result<HostKey, ApiError> {
        Ok(match self.host_kind(req)? {
            HostKind::Domain(domain) => HostKey::Domain(Key::Domain(domain)),
            // A label that can never be a subdomain (reserved, too short) is no tenant.
            HostKind::Subdomain(label) => match Subdomain::parse(&label, &self.reserved) {
                Ok(s) => HostKey::Subdomain(Key::Subdomain(s)),
                Err(_) => HostKey::NoTenant,
            },
            HostKind::Apex | HostKind::Nested => HostKey::NoTenant,
            HostKind::Other => HostKey::Silent,
        })
    }

    /// The tenant `X-Tenant-Id` names, if that header is enabled and present.
    async fn lookup_header(
        &self,
        directory: &TenantDirectory,
        req: &HttpRequest,
    ) -> Result<Option<ResolvedTenant>, ApiError> {
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
        directory.lookup(Key::Id(id.into())).await
    }
}

/// What a `Host` says about the tenant.
enum HostKey {
    /// A subdomain of the base domain: decides alone (unknown → 404, whatever the header says).
    Subdomain(Key),
    /// The apex, a nested name, or a label that can never be a subdomain: no tenant.
    NoTenant,
    /// Another domain: a tenant's if it is a verified custom domain, else the header may say.
    Domain(Key),
    /// Names no tenant (an IP literal): the header may say.
    Silent,
}

/// Middleware for tenant-routed scopes, in this order: resolve and gate the tenant (so an
/// unknown route of a suspended tenant is still 403; a fenced one is waited for a moment), take a request from the tenant's plan
/// quota (over it: 429 with `Retry-After`, see [`crate::rate_limit`]), refuse writes of a tenant
/// over its storage limit (403 `storage_quota_exceeded`), read the whole body within
/// the request deadline (a slow client gets 408 and never holds anything of the tenant), then
/// check the bearer token if there is one. Only then does a handler run — and lease a tenant
/// connection — so no client can hold a tenant's connection while it dawdles over its request.
pub async fn require_tenant(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("AppState is registered")
        .clone();
    let tenant = resolve_through_fence(&state, req.request()).await?;
    if let Some(span) = req.extensions().get::<RootSpan>() {
        span.record("tenant", tenant.subdomain.as_str());
    }
    if let Some(limiter) = &tenant.limiter {
        limiter.check()?;
    }
    if tenant.storage_exceeded && writes(req.request()) {
        return Err(ApiError::StorageQuotaExceeded.into());
    }
    crate::body::read_whole(&mut req, state.request_timeout).await?;
    if let Some(user) = crate::auth::authenticate(req.request(), &state, tenant.id).await? {
        req.extensions_mut().insert(user);
    }
    req.extensions_mut().insert(tenant);
    next.call(req).await
}

/// How long a request for a tenant whose database is being switched (a restore, a move) waits
/// for the switch to end before it is answered 503 `tenant_maintenance` with Retry-After. A
/// move's switch is well under this, so its requests are only delayed. Nothing of the tenant is
/// held meanwhile: no connection is leased until the tenant serves again.
const FENCE_WAIT: Duration = Duration::from_secs(1);
const FENCE_POLL: Duration = Duration::from_millis(20);

/// [`TenantRouting::resolve`], waiting up to [`FENCE_WAIT`] while the tenant is fenced.
async fn resolve_through_fence(
    state: &AppState,
    req: &HttpRequest,
) -> Result<ResolvedTenant, ApiError> {
    let started = Instant::now();
    loop {
        match state.routing.resolve(&state.directory, req).await {
            Err(ApiError::TenantMaintenance) if started.elapsed() < FENCE_WAIT => {
                tokio::time::sleep(FENCE_POLL).await;
            }
            resolved => return resolved,
        }
    }
}

/// Whether a request may grow the tenant's database: what a full tenant is refused. Reads,
/// deletes (the way back under the limit) and signing in go on.
fn writes(req: &HttpRequest) -> bool {
    use actix_web::http::Method;
    let method = req.method();
    (method == Method::POST || method == Method::PUT || method == Method::PATCH)
        && !req.path().starts_with("/api/v1/auth/")
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
        None => state.routing.resolve(&state.directory, req).await,
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
            .plan_by_id(&tenant.plan)
            .await
            .map_err(|e| failed(e.to_string()))?;
        Ok(TenantTarget {
            server: tenant.server.map(|s| s.as_uuid()),
            url,
            max_connections: usize::try_from(plan.max_connections).unwrap_or(1).max(1),
        })
    }
}
