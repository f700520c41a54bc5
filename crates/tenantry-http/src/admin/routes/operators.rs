//! Changing operators: an owner changes another's role, disables or re-enables them, or sets a
//! new password; a signed-in operator changes their own password. Each ends the sessions of the
//! operator changed at once, in every process (the session version is checked per request).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;
use tenantry_core::AdminId;
use tenantry_ops::{AdminChanges, AdminView, Permission};
use tenantry_registry::{Actor, AdminRole};
use utoipa::{OpenApi, ToSchema};

use super::json_body;
use crate::AppState;
use crate::admin::AdminCaller;
use crate::admin::auth::throttle_password_check;
use crate::admin::idempotency::{Answer, once};
use crate::admin::spec::{AdminErrors, Idempotent, WriteErrors};
use crate::error::ApiError;

#[derive(OpenApi)]
#[openapi(paths(update_admin, change_password))]
pub struct Api;

pub fn router(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admins/{id}").route(web::patch().to(update_admin)))
        .service(web::resource("/password").route(web::post().to(change_password)));
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AdminPatchBody {
    role: Option<AdminRole>,
    /// `true` disables the operator (their logins and sessions are refused); `false` enables
    /// them again.
    disabled: Option<bool>,
    /// A new password: 12–1024 characters, not one character repeated.
    #[schema(value_type = Option<String>, format = Password, min_length = 12, max_length = 1024)]
    password: Option<SecretString>,
}

/// Changes an operator (owners only). Ends the operator's sessions; the last active owner can
/// be neither demoted nor disabled (409 `invalid_state`).
#[utoipa::path(
    patch,
    path = "/admin/v1/admins/{id}",
    tag = "admins",
    operation_id = "update_admin",
    params(("id" = String, Path, format = "uuid", description = "The operator's id.")),
    request_body = AdminPatchBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The operator as changed.", body = AdminView),
        AdminErrors,
        WriteErrors,
    )
)]
async fn update_admin(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.0.require(Permission::Admins)?;
    let id: AdminId = path.into_inner().parse().map_err(|_| ApiError::NotFound)?;
    let b: AdminPatchBody = json_body(&req, &body)?;
    let changes = AdminChanges {
        role: b.role,
        disabled: b.disabled,
        password: b.password,
    };
    let admin = state.ops.update_admin(&caller.0, id, changes).await?;
    Ok(HttpResponse::Ok().json(admin))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    #[schema(value_type = String, format = Password)]
    current_password: SecretString,
    /// 12–1024 characters, not one character repeated.
    #[schema(value_type = String, format = Password, min_length = 12, max_length = 1024)]
    new_password: SecretString,
}

/// Password checks beyond the client's or the operator's quota.
struct Throttled;

impl utoipa::IntoResponses for Throttled {
    fn responses()
    -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
        crate::openapi::responses(&[(
            429,
            "`too_many_requests`: too many password checks from this client or for this \
             operator (logins included); `Retry-After` says when to try again.",
        )])
    }
}

#[derive(serde::Serialize, ToSchema)]
struct PasswordChanged {
    /// Always `true`.
    changed: bool,
}

/// The signed-in operator changes their own password. Every session of theirs ends, this one
/// included: sign in again. An API token has no password (409 `invalid_state`). Checks count
/// against the same quotas as logins (429 beyond them).
#[utoipa::path(
    post,
    path = "/admin/v1/password",
    tag = "admins",
    operation_id = "change_password",
    params(Idempotent),
    request_body = PasswordBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed; sign in again.", body = PasswordChanged),
        AdminErrors,
        WriteErrors,
        Throttled,
    )
)]
async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AdminCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    once(&req, &state, &caller.0, &body, async || {
        let b: PasswordBody = json_body(&req, &body)?;
        if let Actor::Admin { email } = &caller.0.origin.actor {
            throttle_password_check(&req, &state, email.as_str())?;
        }
        state
            .ops
            .change_own_password(&caller.0, b.current_password, b.new_password)
            .await?;
        Answer::new(StatusCode::OK, PasswordChanged { changed: true })
    })
    .await
}
