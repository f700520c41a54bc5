//! `GET /api/v1/tenant`: what the tenant's users may know of their own account — its plan, the
//! limits that apply, and its feature flags (the plan's, overridden by the tenant's own), so an
//! application can show or hide what the plan includes. Read from the master on each call, so
//! an operator's change shows at once.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use tenantry_ops::OpsError;
use utoipa::{OpenApi, ToSchema};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::openapi::TenantErrors;
use crate::tenant::{app_state, request_tenant};

#[derive(OpenApi)]
#[openapi(paths(show))]
pub struct Api;

pub fn router(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/tenant").route(web::get().to(show)));
}

#[derive(Serialize, ToSchema)]
struct Account {
    subdomain: String,
    name: String,
    plan: String,
    /// Active users the plan includes.
    max_users: u32,
    /// Requests per minute the plan allows (beyond: 429).
    requests_per_minute: u32,
    /// The tenant's own storage limit, else the plan's.
    storage_limit_mb: i64,
    /// On or off, by name: the plan's flags, overridden by the tenant's own.
    features: BTreeMap<String, bool>,
}

/// The tenant's plan, limits and feature flags. Any signed-in user.
#[utoipa::path(
    get,
    path = "/api/v1/tenant",
    tag = "account",
    operation_id = "get_account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The tenant's account.", body = Account),
        TenantErrors,
    )
)]
async fn show(req: HttpRequest, _user: AuthUser) -> Result<HttpResponse, ApiError> {
    let state = app_state(&req);
    let resolved = request_tenant(&req, &state).await?;
    let registry = &state.registry;
    let tenant = registry
        .tenant(resolved.id)
        .await
        .map_err(OpsError::from)?
        .ok_or(ApiError::TenantNotFound)?;
    let plan = registry
        .plan_by_id(&tenant.plan)
        .await
        .map_err(OpsError::from)?;
    let mut features: BTreeMap<String, bool> = plan
        .features
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, on)| on.as_bool().map(|on| (name.clone(), on)))
        .collect();
    features.extend(tenant.features.clone());
    Ok(HttpResponse::Ok().json(Account {
        subdomain: tenant.subdomain.to_string(),
        name: tenant.name,
        plan: plan.id.to_string(),
        max_users: plan.max_users,
        requests_per_minute: plan.requests_per_minute,
        storage_limit_mb: tenant.storage_limit_mb.unwrap_or(plan.storage_limit_mb),
        features,
    }))
}
