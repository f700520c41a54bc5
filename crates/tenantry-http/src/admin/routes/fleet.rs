//! `/admin/v1` views of the installation: operations, audit log, stats, pools, servers, and one
//! tenant's health.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use tenantry_core::TenantId;
use tenantry_ops::{NewServerRequest, OperationView, ServerView};
use tenantry_registry::{
    AuditQuery, AuditRecord, OperationKind, OperationQuery, OperationState, ServerState,
};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use super::{json_body, no_nul, page_of, tenant_ref};
use crate::AppState;
use crate::admin::AdminCaller;
use crate::admin::idempotency::{Answer, once};
use crate::admin::operation::{preferred_wait, wait_for};
use crate::admin::schemas::{DataList, Health, PoolStats, Stats};
use crate::admin::spec::{AdminErrors, Idempotent, PreferWait, QueryErrors, WriteErrors};
use crate::error::ApiError;
use crate::openapi::Paginated;
use tenantry_ops::Permission;

#[derive(OpenApi)]
#[openapi(paths(
    operations,
    operation,
    audit,
    stats,
    pool,
    servers,
    add_server,
    server_state,
    health
))]
pub struct Api;

pub fn router(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/operations").route(web::get().to(operations)))
        .service(web::resource("/operations/{id}").route(web::get().to(operation)))
        .service(web::resource("/audit").route(web::get().to(audit)))
        .service(web::resource("/stats").route(web::get().to(stats)))
        .service(web::resource("/pool").route(web::get().to(pool)))
        .service(
            web::resource("/servers")
                .route(web::get().to(servers))
                .route(web::post().to(add_server)),
        )
        .service(web::resource("/servers/{name}/state").route(web::post().to(server_state)))
        .service(web::resource("/tenants/{tenant}/health").route(web::get().to(health)));
}

/// `?page&limit&tenant&state&kind`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct OperationsQuery {
    /// The page to return, from 1.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1_000_000)]
    page: Option<String>,
    /// Operations per page (default 50).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Only this tenant's operations.
    #[param(value_type = Option<String>, format = "uuid")]
    tenant: Option<TenantId>,
    state: Option<OperationState>,
    kind: Option<OperationKind>,
}

/// Operations, newest first.
#[utoipa::path(
    get,
    path = "/admin/v1/operations",
    tag = "operations",
    operation_id = "list_operations",
    params(OperationsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of operations.", body = Paginated<OperationView>),
        AdminErrors,
        QueryErrors,
    )
)]
async fn operations(
    state: web::Data<AppState>,
    caller: AdminCaller,
    query: web::Query<OperationsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = page_of(&q.page, &q.limit)?;
    let query = OperationQuery {
        tenant: q.tenant,
        state: q.state,
        kind: q.kind,
        page: page.page,
        limit: page.limit,
    };
    let (data, total) = state.ops.list_operations(&caller.0, &query).await?;
    Ok(HttpResponse::Ok().json(json!({
        "data": data, "page": page.page, "limit": page.limit, "total": total,
    })))
}

/// One operation; with `Prefer: wait=N`, once it has finished or N seconds have passed.
#[utoipa::path(
    get,
    path = "/admin/v1/operations/{id}",
    tag = "operations",
    operation_id = "get_operation",
    params(("id" = String, Path, format = "uuid", description = "The operation's id."), PreferWait),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The operation.", body = OperationView),
        AdminErrors,
    )
)]
async fn operation(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.0.require(Permission::Read)?;
    let id: Uuid = path.into_inner().parse().map_err(|_| ApiError::NotFound)?;
    let op = wait_for(&state, id, preferred_wait(&req)).await?;
    Ok(HttpResponse::Ok().json(op))
}

/// `?page&limit&actor&action&tenant&from&to`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditParams {
    /// The page to return, from 1.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1_000_000)]
    page: Option<String>,
    /// Entries per page (default 50).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Only this actor's entries (`admin:<email>`, `token:<name>`, `cli:<user>`, `system`).
    actor: Option<String>,
    /// Only this action's entries (`tenant.create`, …).
    action: Option<String>,
    /// Only entries about this tenant.
    #[param(value_type = Option<String>, format = "uuid")]
    tenant: Option<TenantId>,
    /// Only entries at or after this time.
    from: Option<DateTime<Utc>>,
    /// Only entries before this time.
    to: Option<DateTime<Utc>>,
}

/// The audit log, newest first.
#[utoipa::path(
    get,
    path = "/admin/v1/audit",
    tag = "fleet",
    operation_id = "list_audit",
    params(AuditParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of audit entries.", body = Paginated<AuditRecord>),
        AdminErrors,
        QueryErrors,
    )
)]
async fn audit(
    state: web::Data<AppState>,
    caller: AdminCaller,
    query: web::Query<AuditParams>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = page_of(&q.page, &q.limit)?;
    no_nul("actor", &q.actor)?;
    no_nul("action", &q.action)?;
    let query = AuditQuery {
        actor: q.actor,
        action: q.action,
        tenant: q.tenant,
        from: q.from,
        to: q.to,
        page: page.page,
        limit: page.limit,
    };
    let found = state.ops.audit_log(&caller.0, &query).await?;
    Ok(HttpResponse::Ok().json(json!({
        "data": found.entries, "page": page.page, "limit": page.limit, "total": found.total,
    })))
}

/// Tenant counts by status and plan, and this process's pools.
#[utoipa::path(
    get,
    path = "/admin/v1/stats",
    tag = "fleet",
    operation_id = "get_stats",
    security(("bearer" = [])),
    responses((status = 200, description = "The figures.", body = Stats), AdminErrors)
)]
async fn stats(state: web::Data<AppState>, caller: AdminCaller) -> Result<HttpResponse, ApiError> {
    let mut stats =
        serde_json::to_value(state.ops.stats(&caller.0).await?).map_err(ApiError::internal)?;
    stats["pool"] = pool_figures(&state);
    Ok(HttpResponse::Ok().json(stats))
}

fn pool_figures(state: &AppState) -> serde_json::Value {
    serde_json::to_value(state.pools.stats()).unwrap_or_default()
}

/// This process's tenant connection pools.
#[utoipa::path(
    get,
    path = "/admin/v1/pool",
    tag = "fleet",
    operation_id = "get_pool",
    security(("bearer" = [])),
    responses((status = 200, description = "The figures.", body = PoolStats), AdminErrors)
)]
async fn pool(state: web::Data<AppState>, caller: AdminCaller) -> Result<HttpResponse, ApiError> {
    caller.0.require(tenantry_ops::Permission::Read)?;
    Ok(HttpResponse::Ok().json(pool_figures(&state)))
}

/// Every registered database server.
#[utoipa::path(
    get,
    path = "/admin/v1/servers",
    tag = "servers",
    operation_id = "list_servers",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The servers.", body = DataList<ServerView>),
        AdminErrors,
    )
)]
async fn servers(
    state: web::Data<AppState>,
    caller: AdminCaller,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(json!({ "data": state.ops.list_servers(&caller.0).await? })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ServerBody {
    /// 1–63 characters of a–z, 0–9 and '-', not at either end; not taken.
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    name: String,
    /// `postgres://ADMIN@HOST:PORT[/DB]`, without a password.
    url: String,
    /// The admin's password (stored sealed).
    #[schema(value_type = Option<String>, format = Password)]
    admin_password: Option<SecretString>,
    /// The most tenant databases it may hold (default 100).
    #[schema(minimum = 1, maximum = 1_000_000)]
    capacity: Option<i32>,
    /// Register without first checking that the admin can connect and create databases and
    /// roles.
    #[serde(default)]
    skip_check: bool,
}

/// Registers a PostgreSQL server, after checking that its admin can connect and create
/// databases and roles (unless `skip_check`).
#[utoipa::path(
    post,
    path = "/admin/v1/servers",
    tag = "servers",
    operation_id = "add_server",
    params(Idempotent),
    request_body = ServerBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The registered server.", body = ServerView),
        AdminErrors,
        WriteErrors,
    )
)]
async fn add_server(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AdminCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.0.require(Permission::Servers)?;
    once(&req, &state, &caller.0, &body, async || {
        let b: ServerBody = json_body(&req, &body)?;
        let server = state
            .ops
            .add_server(
                &caller.0,
                NewServerRequest {
                    name: b.name,
                    url: b.url,
                    admin_password: b.admin_password,
                    capacity: b.capacity.unwrap_or(100),
                    skip_check: b.skip_check,
                },
            )
            .await?;
        Answer::new(StatusCode::CREATED, server)
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StateBody {
    /// `draining`: takes no new tenants; `active`: takes them again.
    state: ServerState,
}

/// Sets a server's state.
#[utoipa::path(
    post,
    path = "/admin/v1/servers/{name}/state",
    tag = "servers",
    operation_id = "set_server_state",
    params(("name" = String, Path, description = "The server's name."), Idempotent),
    request_body = StateBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The server.", body = ServerView),
        AdminErrors,
        WriteErrors,
    )
)]
async fn server_state(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.0.require(Permission::Servers)?;
    let name = path.into_inner();
    once(&req, &state, &caller.0, &body, async || {
        let b: StateBody = json_body(&req, &body)?;
        let server = state
            .ops
            .set_server_state(&caller.0, &name, b.state)
            .await?;
        Answer::new(StatusCode::OK, server)
    })
    .await
}

/// Whether a tenant's database answers, how fast, how large it is, and its connections here.
#[utoipa::path(
    get,
    path = "/admin/v1/tenants/{tenant}/health",
    tag = "tenants",
    operation_id = "get_tenant_health",
    params(("tenant" = String, Path, description = "The tenant's id or subdomain.")),
    security(("bearer" = [])),
    responses((status = 200, description = "The tenant's health.", body = Health), AdminErrors)
)]
async fn health(
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_ref(path)?;
    let mut health = serde_json::to_value(state.ops.tenant_health(&caller.0, &tenant).await?)
        .map_err(ApiError::internal)?;
    let id: TenantId =
        serde_json::from_value(health["tenant"].clone()).map_err(ApiError::internal)?;
    health["connection_pool_status"] =
        serde_json::to_value(state.pools.tenant_stats(id)).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(health))
}
