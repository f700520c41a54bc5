//! `/admin/v1/tenants`: list, show, create, change. The lifecycle actions are in `lifecycle.rs`.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::json;
use tenantry_ops::{NewTenantRequest, TenantChanges, TenantList, TenantView};
use tenantry_registry::{TenantQuery, TenantStatus};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::{json_body, no_nul, page_of, parse_cursor, tenant_ref};
use crate::AppState;
use crate::admin::AdminCaller;
use crate::admin::idempotency::once;
use crate::admin::operation::{answer, preferred_wait};
use crate::admin::schemas::TenantOperation;
use crate::admin::spec::{AdminErrors, Idempotent, PreferWait, QueryErrors, WriteErrors};
use crate::error::ApiError;
use tenantry_ops::Permission;

#[derive(OpenApi)]
#[openapi(paths(list, show, create, update))]
pub struct Api;

pub fn router(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/tenants")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/tenants/{tenant}")
            .route(web::get().to(show))
            .route(web::patch().to(update))
            .route(web::delete().to(super::lifecycle::delete)),
    );
}

/// `?page&limit&search&status&plan&cursor`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// The page to return, from 1 (ignored with `cursor`).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1_000_000)]
    page: Option<String>,
    /// Tenants per page (default 50).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Part of the subdomain or the name (case does not matter).
    search: Option<String>,
    /// Only tenants in this status (default: every status but `deleted`).
    status: Option<TenantStatus>,
    /// Only tenants on this plan.
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,31}$")]
    plan: Option<String>,
    /// `next_cursor` of the previous page: the tenants after it (keyset paging, for walking a
    /// large fleet).
    cursor: Option<String>,
}

/// Tenants, oldest first (by creation, then id): a page, filtered.
#[utoipa::path(
    get,
    path = "/admin/v1/tenants",
    tag = "tenants",
    operation_id = "list_tenants",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of tenants.", body = TenantList),
        AdminErrors,
        QueryErrors,
    )
)]
async fn list(
    state: web::Data<AppState>,
    caller: AdminCaller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = page_of(&q.page, &q.limit)?;
    no_nul("search", &q.search)?;
    let plan = q
        .plan
        .as_deref()
        .map(|p| p.parse().map_err(|e| super::invalid("plan", e)))
        .transpose()?;
    let query = TenantQuery {
        search: q.search.filter(|s| !s.trim().is_empty()),
        status: q.status,
        plan,
        page: page.page,
        limit: page.limit,
        after: q.cursor.as_deref().map(parse_cursor).transpose()?,
    };
    Ok(HttpResponse::Ok().json(state.ops.list_tenants(&caller.0, &query).await?))
}

/// One tenant, deleted ones included.
#[utoipa::path(
    get,
    path = "/admin/v1/tenants/{tenant}",
    tag = "tenants",
    operation_id = "get_tenant",
    params(("tenant" = String, Path, description = "The tenant's id or subdomain.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The tenant.", body = TenantView),
        AdminErrors,
    )
)]
async fn show(
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = state.ops.tenant(&caller.0, &tenant_ref(path)?).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// A new tenant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// Its host label: 3–63 characters of a–z, 0–9 and '-', not at either end; not reserved
    /// (`www`, `admin`, `api`, …) nor taken.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")]
    subdomain: String,
    /// Its display name: 1–200 characters, no control characters.
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// An existing plan (default `standard`).
    #[serde(default = "standard")]
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,31}$", default = "standard")]
    plan: String,
    /// The email of the tenant's first admin user.
    #[schema(format = Email, max_length = 254)]
    admin_email: String,
    /// That user's password (12–1024 characters, not one character repeated); when absent, one
    /// is generated and answered once as `one_time_password`.
    #[schema(value_type = Option<String>, format = Password, min_length = 12, max_length = 1024)]
    admin_password: Option<SecretString>,
    /// The name of the database server to hold its database (default: the least loaded).
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    server: Option<String>,
}

fn standard() -> String {
    "standard".into()
}

/// Creates a tenant: its database, role, schema, seed data and first admin user. A long
/// action: `202` with the operation, or `200` once it ended within `Prefer: wait=N`.
#[utoipa::path(
    post,
    path = "/admin/v1/tenants",
    tag = "tenants",
    operation_id = "create_tenant",
    request_body = CreateBody,
    params(Idempotent, PreferWait),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The operation ended (see `state`; `result` is the \
         tenant once it succeeded).", body = TenantOperation),
        (status = 202, description = "The operation started (and may have ended since): poll it.",
         body = TenantOperation),
        AdminErrors,
        WriteErrors,
    )
)]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AdminCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.0.require(Permission::Tenants)?;
    let caller = caller.0;
    once(&req, &state, &caller, &body, async || {
        let b: CreateBody = json_body(&req, &body)?;
        let prepared = state
            .ops
            .prepare_tenant(
                &caller,
                NewTenantRequest {
                    subdomain: b.subdomain,
                    name: b.name,
                    plan: b.plan,
                    admin_email: b.admin_email,
                    admin_password: b.admin_password,
                    server: b.server,
                },
            )
            .await?;
        let extra = json!({
            "admin_email": prepared.admin_email(),
            "one_time_password": prepared.one_time_password().map(|p| p.expose_secret().to_owned()),
        });
        let ops = state.ops.clone();
        let submitted = state
            .ops
            .submit(async move { ops.create_prepared(prepared).await })
            .await?;
        answer(&state, submitted, preferred_wait(&req), extra).await
    })
    .await
}

/// What `PATCH` changes; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    /// 1–200 characters, no control characters.
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    /// An existing plan: its limits apply within a second everywhere.
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,31}$")]
    plan: Option<String>,
    /// The tenant's own storage limit (MB); `null` clears it (the plan's applies).
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 2_147_483_647)]
    storage_limit_mb: Option<Option<i64>>,
    /// Replaces the tenant's own feature flags (they override its plan's): up to 64 names, each
    /// a lowercase letter then up to 63 lowercase letters, digits or `_`.
    features: Option<BTreeMap<String, bool>>,
}

/// Changes a tenant's name, plan, storage limit or feature flags.
#[utoipa::path(
    patch,
    path = "/admin/v1/tenants/{tenant}",
    tag = "tenants",
    operation_id = "update_tenant",
    params(("tenant" = String, Path, description = "The tenant's id or subdomain.")),
    request_body = UpdateBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The tenant as changed.", body = TenantView),
        AdminErrors,
        WriteErrors,
    )
)]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.0.require(Permission::Tenants)?;
    let tenant = tenant_ref(path)?;
    let b: UpdateBody = json_body(&req, &body)?;
    let changes = TenantChanges {
        name: b.name,
        plan: b.plan,
        storage_limit_mb: b.storage_limit_mb,
        features: b.features,
    };
    let view = state.ops.update_tenant(&caller.0, &tenant, changes).await?;
    Ok(HttpResponse::Ok().json(view))
}
