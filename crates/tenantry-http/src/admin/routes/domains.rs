//! `/admin/v1/tenants/{tenant}/domains`: a tenant's custom domains — list, add (pending), verify
//! (a TXT record looked up in DNS), remove.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use tenantry_core::{TenantId, TenantRef};
use tenantry_ops::{DomainView, Permission};
use utoipa::openapi::{RefOr, Response};
use utoipa::{IntoResponses, OpenApi, ToSchema};

use super::{json_body, tenant_ref};
use crate::AppState;
use crate::admin::AdminCaller;
use crate::admin::idempotency::{Answer, once};
use crate::admin::schemas::DataList;
use crate::admin::spec::{AdminErrors, Idempotent, WriteErrors};
use crate::error::ApiError;
use crate::openapi::responses;

#[derive(OpenApi)]
#[openapi(paths(list, add, verify, remove))]
pub struct Api;

pub fn router(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/tenants/{tenant}/domains")
            .route(web::get().to(list))
            .route(web::post().to(add)),
    )
    .service(web::resource("/tenants/{tenant}/domains/{domain}").route(web::delete().to(remove)))
    .service(
        web::resource("/tenants/{tenant}/domains/{domain}/verify").route(web::post().to(verify)),
    );
}

/// A tenant and one of its domains, named in the path.
fn tenant_and_domain(path: web::Path<(String, String)>) -> Result<(TenantRef, String), ApiError> {
    let (tenant, domain) = path.into_inner();
    if tenant.contains('\0') || domain.contains('\0') {
        return Err(ApiError::NotFound);
    }
    Ok((tenant.parse().expect("infallible"), domain))
}

/// Answers in this process at once what the change feed tells every other `serve` within a
/// second: the domain routes, or stops routing, from the next request on.
async fn refresh(state: &AppState, tenant: TenantId) {
    if let Err(e) = state.directory.refresh(tenant).await {
        tracing::warn!(error = %e, %tenant, "could not refresh the tenant after a domain change");
    }
}

/// The tenant's custom domains, verified or not, oldest first.
#[utoipa::path(
    get,
    path = "/admin/v1/tenants/{tenant}/domains",
    tag = "domains",
    operation_id = "list_domains",
    params(("tenant" = String, Path, description = "The tenant's id or subdomain.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The domains.", body = DataList<DomainView>),
        AdminErrors,
    )
)]
async fn list(
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_ref(path)?;
    let domains = state.ops.list_domains(&caller.0, &tenant).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": domains })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DomainBody {
    /// A domain name (`books.acme.com`; case and a trailing dot do not matter), outside the
    /// base domain, held by no tenant.
    #[schema(example = "books.acme.com", max_length = 232)]
    domain: String,
}

/// Adds a custom domain, pending: it routes to the tenant only once verified. The answer's
/// `verification` names the TXT record to publish, then call `…/verify`.
#[utoipa::path(
    post,
    path = "/admin/v1/tenants/{tenant}/domains",
    tag = "domains",
    operation_id = "add_domain",
    params(("tenant" = String, Path, description = "The tenant's id or subdomain."), Idempotent),
    request_body = DomainBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The domain, pending verification.", body = DomainView),
        AdminErrors,
        WriteErrors,
    )
)]
async fn add(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.0.require(Permission::Tenants)?;
    let tenant = tenant_ref(path)?;
    once(&req, &state, &caller.0, &body, async || {
        let b: DomainBody = json_body(&req, &body)?;
        let added = state.ops.add_domain(&caller.0, &tenant, &b.domain).await?;
        Answer::new(StatusCode::CREATED, added)
    })
    .await
}

/// What a verification can fail with, besides any write's errors.
struct VerifyErrors;

impl IntoResponses for VerifyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            (
                409,
                "`domain_unverified`: the TXT record is not in DNS (yet): the message names the \
                 record and value expected (DNS changes can take a while to spread; retry). \
                 `invalid_state`: the domain has no challenge (remove and add it again); \
                 `idempotency_key_in_use` (`Retry-After`).",
            ),
            (
                503,
                "`dns_unavailable`: the resolver answered with an error or could not be \
                 reached; `registry_unavailable`, `busy`. Retry later (`Retry-After`).",
            ),
            (
                504,
                "`dns_timeout`: DNS did not answer within `domains.lookup_timeout_ms`; retry \
                 later (`Retry-After`).",
            ),
        ])
    }
}

/// Looks the domain's TXT challenge up in DNS; when it holds the expected value, the domain is
/// verified and routes to the tenant within a second on every instance. Verifying a verified
/// domain answers it as it is.
#[utoipa::path(
    post,
    path = "/admin/v1/tenants/{tenant}/domains/{domain}/verify",
    tag = "domains",
    operation_id = "verify_domain",
    params(
        ("tenant" = String, Path, description = "The tenant's id or subdomain."),
        ("domain" = String, Path, description = "One of the tenant's domains."),
        Idempotent,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The domain, verified.", body = DomainView),
        AdminErrors,
        WriteErrors,
        VerifyErrors,
    )
)]
async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<(String, String)>,
    body: super::Unread,
) -> Result<HttpResponse, ApiError> {
    caller.0.require(Permission::Tenants)?;
    let (tenant, domain) = tenant_and_domain(path)?;
    once(&req, &state, &caller.0, &body, async || {
        let verified = state.ops.verify_domain(&caller.0, &tenant, &domain).await?;
        refresh(&state, verified.tenant).await;
        Answer::new(StatusCode::OK, verified)
    })
    .await
}

/// Removes a custom domain: it stops routing within a second on every instance.
#[utoipa::path(
    delete,
    path = "/admin/v1/tenants/{tenant}/domains/{domain}",
    tag = "domains",
    operation_id = "remove_domain",
    params(
        ("tenant" = String, Path, description = "The tenant's id or subdomain."),
        ("domain" = String, Path, description = "One of the tenant's domains."),
        Idempotent,
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed."),
        AdminErrors,
        WriteErrors,
    )
)]
async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<(String, String)>,
    body: super::Unread,
) -> Result<HttpResponse, ApiError> {
    caller.0.require(Permission::Tenants)?;
    let (tenant, domain) = tenant_and_domain(path)?;
    once(&req, &state, &caller.0, &body, async || {
        let owner = state.ops.remove_domain(&caller.0, &tenant, &domain).await?;
        refresh(&state, owner).await;
        Answer::no_content()
    })
    .await
}
