//! `/admin/v1/admins` and `/admin/v1/tokens`: operators and their scripts' API tokens (owners).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::json;
use tenantry_core::ApiTokenId;
use tenantry_ops::{AdminView, NewAdmin, TokenView};
use tenantry_registry::AdminRole;
use utoipa::{OpenApi, ToSchema};

use super::json_body;
use crate::AppState;
use crate::admin::AdminCaller;
use crate::admin::idempotency::{Answer, once};
use crate::admin::schemas::{CreatedAdmin, CreatedToken, DataList, RevokedToken};
use crate::admin::spec::{AdminErrors, Idempotent, WriteErrors};
use crate::error::ApiError;
use tenantry_ops::Permission;

#[derive(OpenApi)]
#[openapi(paths(list_admins, create_admin, list_tokens, create_token, revoke_token))]
pub struct Api;

pub fn router(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admins")
            .route(web::get().to(list_admins))
            .route(web::post().to(create_admin)),
    )
    .service(
        web::resource("/tokens")
            .route(web::get().to(list_tokens))
            .route(web::post().to(create_token)),
    )
    .service(web::resource("/tokens/{id}").route(web::delete().to(revoke_token)));
}

/// Every operator.
#[utoipa::path(
    get,
    path = "/admin/v1/admins",
    tag = "admins",
    operation_id = "list_admins",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The operators.", body = DataList<AdminView>),
        AdminErrors,
    )
)]
async fn list_admins(
    state: web::Data<AppState>,
    caller: AdminCaller,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(json!({ "data": state.ops.list_admins(&caller.0).await? })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AdminBody {
    /// Their email, the login name (case does not matter); not taken.
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// 12–1024 characters, not one character repeated; when absent, one is generated and
    /// answered once as `one_time_password`.
    #[schema(value_type = Option<String>, format = Password, min_length = 12, max_length = 1024)]
    password: Option<SecretString>,
    role: AdminRole,
}

/// Adds an operator.
#[utoipa::path(
    post,
    path = "/admin/v1/admins",
    tag = "admins",
    operation_id = "create_admin",
    params(Idempotent),
    request_body = AdminBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new operator.", body = CreatedAdmin),
        AdminErrors,
        WriteErrors,
    )
)]
async fn create_admin(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AdminCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.0.require(Permission::Admins)?;
    once(&req, &state, &caller.0, &body, async || {
        let b: AdminBody = json_body(&req, &body)?;
        let (admin, one_time) = state
            .ops
            .create_admin(
                &caller.0,
                NewAdmin {
                    email: b.email,
                    password: b.password,
                    role: b.role,
                },
            )
            .await?;
        let mut body = serde_json::to_value(admin).map_err(ApiError::internal)?;
        body["one_time_password"] = json!(one_time.map(|p| p.expose_secret().to_owned()));
        Answer::new(StatusCode::CREATED, body)
    })
    .await
}

/// Every API token, revoked and expired ones included (never their secrets).
#[utoipa::path(
    get,
    path = "/admin/v1/tokens",
    tag = "tokens",
    operation_id = "list_tokens",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The tokens.", body = DataList<TokenView>),
        AdminErrors,
    )
)]
async fn list_tokens(
    state: web::Data<AppState>,
    caller: AdminCaller,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(json!({ "data": state.ops.list_tokens(&caller.0).await? })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    /// 1–64 characters: letters, digits, space, '-', '_' or '.'; not taken. Audit rows name
    /// the token's actions `token:<name>`.
    #[schema(pattern = "^[A-Za-z0-9 ._-]{1,64}$")]
    name: String,
    role: AdminRole,
    /// When it stops working (default: never).
    expires_at: Option<DateTime<Utc>>,
}

/// Creates an API token; its secret is answered this once.
#[utoipa::path(
    post,
    path = "/admin/v1/tokens",
    tag = "tokens",
    operation_id = "create_token",
    params(Idempotent),
    request_body = TokenBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new token and its secret.", body = CreatedToken),
        AdminErrors,
        WriteErrors,
    )
)]
async fn create_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AdminCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.0.require(Permission::Admins)?;
    once(&req, &state, &caller.0, &body, async || {
        let b: TokenBody = json_body(&req, &body)?;
        let issued = state
            .ops
            .create_token(&caller.0, &b.name, b.role, b.expires_at)
            .await?;
        let mut body = serde_json::to_value(&issued.token).map_err(ApiError::internal)?;
        body["secret"] = json!(issued.secret.expose_secret());
        Answer::new(StatusCode::CREATED, body)
    })
    .await
}

/// Revokes an API token: refused from the next request on, in every process.
#[utoipa::path(
    delete,
    path = "/admin/v1/tokens/{id}",
    tag = "tokens",
    operation_id = "revoke_token",
    params(
        ("id" = String, Path, format = "uuid", description = "The token's id."),
        Idempotent,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Revoked.", body = RevokedToken),
        AdminErrors,
        WriteErrors,
    )
)]
async fn revoke_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
    body: super::Unread,
) -> Result<HttpResponse, ApiError> {
    caller.0.require(Permission::Admins)?;
    let id: ApiTokenId = path.into_inner().parse().map_err(|_| ApiError::NotFound)?;
    once(&req, &state, &caller.0, &body, async || {
        state.ops.revoke_token(&caller.0, id).await?;
        Answer::new(StatusCode::OK, json!({ "id": id, "revoked": true }))
    })
    .await
}
