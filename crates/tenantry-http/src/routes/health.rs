use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::error::ApiError;
use crate::{AppState, Freshness};

/// The process is up; nothing else is checked.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready to serve tenants: the registry change feed reached the master within its deadline.
/// While the master is unreachable, known tenants are still served from their last known state:
/// that is "degraded" (200, so a load balancer keeps the instance), not down, until
/// `registry.max_stale_secs`. Costs no master query: the feed already polls it.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match state.directory.freshness() {
        Freshness::Current => Ok(HttpResponse::Ok().json(json!({ "status": "ready" }))),
        Freshness::Stale(age) => Ok(HttpResponse::Ok().json(json!({
            "status": "degraded",
            "registry": "unreachable",
            "stale_secs": age.as_secs(),
        }))),
        Freshness::Unavailable => Err(ApiError::RegistryUnavailable),
    }
}
