//! The admin API, `/admin/v1` on the apex host only: thin handlers over the operator service
//! ([`tenantry_ops::Operator`]). Each parses its input, calls one operator method with the
//! request's [`Caller`](tenantry_ops::Caller) and renders the answer; permissions, validation
//! and audit rows are the operator service's.
//!
//! Long actions (create, delete, migrate) answer `202` with their operation (`operation.rs`);
//! every POST and DELETE honours `Idempotency-Key` (`idempotency.rs`).
//!
//! The API's OpenAPI document (`spec.rs`) is served at `/admin/v1/openapi.json`, with Swagger UI
//! at `/admin/v1/docs/`: on the apex host, with no token.

pub mod auth;
mod idempotency;
pub(crate) mod operation;
mod routes;
mod schemas;
pub mod spec;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpMessage as _, web};

use crate::AppState;
use crate::error::ApiError;

pub use auth::{AdminCaller, AdminKeys};

/// Paths under `/admin/v1` that need no token: the login and the API description (the document,
/// the docs page and its assets under `/admin/v1/docs/`).
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/admin/v1/login" | "/admin/v1/openapi.json" | "/admin/v1/docs"
    ) || path.starts_with("/admin/v1/docs/")
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    let document = spec::document();
    cfg.service(
        web::scope(spec::PREFIX)
            .wrap(from_fn(require_admin))
            .service(web::resource("/login").route(web::post().to(auth::login)))
            .configure(routes::configure)
            .configure(|cfg| crate::openapi::serve_scoped(cfg, spec::PREFIX, document))
            .default_service(web::to(crate::routes::not_found)),
    );
}

/// Middleware for `/admin/v1`, in this order: the apex host only (anywhere else the admin API
/// does not exist: 404), the whole body within the request deadline, then the bearer token
/// (except on the login and the API description).
async fn require_admin(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("AppState is registered")
        .clone();
    if !state.routing.is_apex(req.request())? {
        return Err(ApiError::NotFound.into());
    }
    crate::body::read_whole(&mut req, state.request_timeout).await?;
    if !is_public(req.path()) {
        let caller = auth::authenticate(req.request(), &state).await?;
        req.extensions_mut().insert(AdminCaller(caller));
    }
    next.call(req).await
}
