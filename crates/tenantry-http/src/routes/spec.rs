//! The tenant API's OpenAPI document: each route module's own (`Api`), plus the login, which
//! `crate::auth` implements. Served at `GET /api/v1/openapi.json`, Swagger UI at
//! `GET /api/v1/docs/`, on any host, with no tenant and no token.

use actix_web::web::ServiceConfig;
use utoipa::openapi::OpenApi as Document;
use utoipa::{OpenApi, ToSchema};

use super::{account, invoices, ledgers, reports, users, vouchers};
use crate::openapi::{JsonBodyErrors, SharedComponents, TenantErrors, error_response};

pub const PREFIX: &str = "/api/v1";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tenantry tenant API",
        description = "One tenant's books: ledgers, users, vouchers, invoices and reports. The \
                       tenant is the request's host (`<subdomain>.<base domain>`, a verified \
                       custom domain, or `X-Tenant-Id` where enabled). Amounts are integers in \
                       minor units (cents). Every error is `{\"error\": {code, message, \
                       request_id, fields?}}`.",
    ),
    paths(login),
    modifiers(&SharedComponents),
    tags(
        (name = "auth", description = "Tokens for the tenant's users."),
        (name = "ledgers", description = "The chart of accounts."),
        (name = "users", description = "The tenant's users (admins only)."),
        (name = "vouchers", description = "Journal entries, in double entry."),
        (name = "invoices", description = "Invoices, totalled by the server."),
        (name = "reports", description = "Reports computed from posted vouchers."),
        (name = "account", description = "The tenant's plan, limits and feature flags."),
    )
)]
struct TenantApi;

/// The whole tenant API document.
pub fn document() -> Document {
    let mut doc = TenantApi::openapi();
    for part in [
        ledgers::Api::openapi(),
        users::Api::openapi(),
        vouchers::Api::openapi(),
        invoices::Api::openapi(),
        reports::Api::openapi(),
        account::Api::openapi(),
    ] {
        doc.merge(part);
    }
    // Merged parts bring their schemas; the shared ones are added last so nothing replaces them.
    utoipa::Modify::modify(&SharedComponents, &mut doc);
    doc
}

pub fn configure(cfg: &mut ServiceConfig) {
    crate::openapi::serve(cfg, PREFIX, document());
}

/// `POST /auth/login` (`crate::auth::Login`).
#[derive(ToSchema)]
#[allow(dead_code)] // only described
struct LoginRequest {
    /// The user's email (case does not matter).
    email: String,
    #[schema(format = Password)]
    password: String,
}

#[derive(ToSchema)]
#[allow(dead_code)] // only described
struct TokenResponse {
    /// A JWT for `Authorization: Bearer …`, valid for an hour on this tenant only.
    token: String,
}

struct LoginErrors;

impl utoipa::IntoResponses for LoginErrors {
    fn responses()
    -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
        let mut out = TenantErrors::responses();
        out.insert(
            "401".into(),
            error_response(
                401,
                "`invalid_credentials`: wrong email or password, or a disabled user; \
                 `unauthorized`: an `Authorization` header was sent and is not a valid token.",
            )
            .into(),
        );
        out.insert(
            "429".into(),
            error_response(
                429,
                "`too_many_requests`: too many attempts from this client or for this account.",
            )
            .into(),
        );
        out
    }
}

/// Logs a tenant user in. Throttled per client and per account.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    operation_id = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "A token for this tenant.", body = TokenResponse),
        LoginErrors,
        JsonBodyErrors,
    )
)]
#[allow(dead_code)] // only described: `crate::auth::login` serves it
fn login() {}
