//! The whole HTTP surface in one place.

mod health;
mod ledgers;
mod pagination;

use actix_web::middleware::from_fn;
use actix_web::web::{self, ServiceConfig};

use crate::error::ApiError;
use crate::tenant;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .service(
            web::scope("/api/v1")
                .wrap(from_fn(tenant::require_tenant))
                .route("/auth/login", web::post().to(crate::auth::login))
                .configure(ledgers::router)
                .default_service(web::to(not_found)),
        );
}

pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
