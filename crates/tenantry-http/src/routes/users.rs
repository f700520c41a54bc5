//! The tenant's users, managed by its admins only.
//!
//! Passwords are hashed (argon2id, deliberately slow) on the password checker *before* a tenant
//! connection is leased, so a burst of user creations does not hold the tenant's connections.
//! Hashes are never returned or logged. The tenant always keeps at least one active admin:
//! demoting, disabling or deleting the last one is a 409.

mod admins;
mod model;
mod seats;

use self::admins::{is_active_admin, last_admin, lock_active_admins};

use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
    SqlErr,
};
use secrecy::{ExposeSecret as _, SecretString};
use tenantry_app::UserRole;
use tenantry_app::entity::{user, voucher};
use tenantry_core::Email;
use utoipa::OpenApi;

use self::model::{NewUser, UserPatch, UserView};
use super::begin_write;
use super::input;
use super::json::JsonObject;
use super::pagination::{Page, PageQuery, Paginated};
use crate::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, FieldError};
use crate::openapi::{Conflict, InvalidInput, JsonBodyErrors, TenantErrors};
use crate::tenant::{TenantDb, app_state};

#[derive(OpenApi)]
#[openapi(paths(list, create, show, update, remove))]
pub struct Api;

pub fn router(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/users")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/users/{id}")
            .route(web::get().to(show))
            .route(web::patch().to(update))
            .route(web::delete().to(remove)),
    );
}

const MAX_NAME: usize = 200;

#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    operation_id = "list_users",
    description = "Admins only. In id order.",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of users.", body = Paginated<UserView>),
        TenantErrors,
        InvalidInput,
    )
)]
async fn list(
    user: AuthUser,
    db: TenantDb,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[UserRole::Admin])?;
    let page = Page::try_from(&*query)?;
    let select = user::Entity::find().order_by_asc(user::Column::Id);
    let (rows, total) = page.fetch(&*db, select).await?;
    let data = rows.into_iter().map(UserView::from).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(data, page, total)))
}

#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "users",
    operation_id = "get_user",
    description = "Admins only.",
    params(("id" = i64, Path, description = "The user's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user.", body = UserView),
        TenantErrors,
    )
)]
async fn show(user: AuthUser, db: TenantDb, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    user.require(&[UserRole::Admin])?;
    let found = user::Entity::find_by_id(id.into_inner())
        .one(&*db)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(UserView::from(found)))
}

fn role(errors: &mut Vec<FieldError>, raw: &str) -> Option<UserRole> {
    let parsed = serde_json::from_value::<UserRole>(raw.into()).ok();
    if parsed.is_none() {
        errors.push(FieldError {
            field: "role".into(),
            message: "must be one of admin, accountant, viewer".into(),
        });
    }
    parsed
}

/// The policy shared with the CLI (`tenantry_core::password`), so no door is weaker.
fn password(errors: &mut Vec<FieldError>, raw: Option<&SecretString>) {
    use tenantry_core::password::{RULE, check};
    let message = match raw {
        None => format!("is required: {RULE}"),
        Some(p) => match check(p.expose_secret()) {
            Ok(()) => return,
            Err(e) => e.to_string(),
        },
    };
    errors.push(FieldError::new("password", message));
}

/// Argon2id on the shared password checker: it takes tens of milliseconds by design, and a
/// saturated checker answers 503 `busy` rather than queueing without bound.
async fn hash(req: &HttpRequest, password: SecretString) -> Result<String, ApiError> {
    app_state(req)
        .passwords
        .hash(password)
        .await
        .map_err(crate::throttle::checker_error)
}

#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    operation_id = "create_user",
    description = "Admins only. 409 when the email is taken; 403 `plan_limit_reached` when the \
                   tenant's plan includes no more active users.",
    request_body = NewUser,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new user.", body = UserView,
            links(
                ("get" = (operation_id = "get_user", parameters(("id" = "$response.body#/id")))),
                ("update" = (operation_id = "update_user", parameters(("id" = "$response.body#/id")))),
                ("delete" = (operation_id = "delete_user", parameters(("id" = "$response.body#/id")))),
            )
        ),
        Conflict,
        TenantErrors,
        JsonBodyErrors,
    )
)]
async fn create(
    req: HttpRequest,
    user: AuthUser,
    body: JsonObject<NewUser>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[UserRole::Admin])?;
    let NewUser {
        email,
        name,
        password: secret,
        role: raw_role,
    } = body.into_inner();
    let mut errors = Vec::new();
    let email = Email::parse(email.as_deref().unwrap_or_default()).ok();
    if email.is_none() {
        errors.push(FieldError {
            field: "email".into(),
            message: "must be an email address (local@domain.tld)".into(),
        });
    }
    let name = input::text(&mut errors, "name", name.as_deref(), MAX_NAME);
    password(&mut errors, secret.as_ref());
    let role = role(&mut errors, raw_role.as_deref().unwrap_or_default());
    let (Some(email), Some(secret), Some(role), true) = (email, secret, role, errors.is_empty())
    else {
        return Err(ApiError::Validation(errors));
    };
    let password_hash = hash(&req, secret).await?;
    let db = TenantDb::extract(&req).await?;
    let included = seats::included(&app_state(&req), db.tenant.id).await?;
    let txn = begin_write(&*db).await?;
    seats::take(&txn, included).await?;
    let created = user::ActiveModel {
        email: Set(email.as_str().to_owned()),
        name: Set(name),
        password_hash: Set(password_hash),
        role: Set(role),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            ApiError::Conflict(format!("a user with email {email} already exists"))
        }
        _ => e.into(),
    })?;
    txn.commit().await?;
    Ok(HttpResponse::Created().json(UserView::from(created)))
}

#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "users",
    operation_id = "update_user",
    description = "Admins only. A new role, password or status ends the user's sessions. 409 \
                   when it would leave the tenant without an active admin.",
    params(("id" = i64, Path, description = "The user's id.")),
    request_body = UserPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user as changed.", body = UserView),
        Conflict,
        TenantErrors,
        JsonBodyErrors,
    )
)]
async fn update(
    req: HttpRequest,
    user: AuthUser,
    id: web::Path<i64>,
    body: JsonObject<UserPatch>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[UserRole::Admin])?;
    let UserPatch {
        name,
        role: raw_role,
        active,
        password: secret,
    } = body.into_inner();
    let mut errors = Vec::new();
    let name = name.map(|n| input::text(&mut errors, "name", Some(&n), MAX_NAME));
    let role = raw_role.map(|r| role(&mut errors, &r));
    if secret.is_some() {
        password(&mut errors, secret.as_ref());
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let password_hash = match secret {
        Some(secret) => Some(hash(&req, secret).await?),
        None => None,
    };
    let db = TenantDb::extract(&req).await?;
    let included = match active {
        Some(true) => Some(seats::included(&app_state(&req), db.tenant.id).await?),
        _ => None,
    };
    let txn = begin_write(&*db).await?;
    let admins = lock_active_admins(&txn).await?;
    let current = user::Entity::find_by_id(id.into_inner())
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound)?;
    let new_role = role.flatten().unwrap_or(current.role);
    let disabled_at = match active {
        Some(false) => current.disabled_at.or_else(|| Some(chrono::Utc::now())),
        Some(true) => None,
        None => current.disabled_at,
    };
    if let (Some(included), Some(_)) = (included, current.disabled_at) {
        seats::take(&txn, included).await?;
    }
    if is_active_admin(&current)
        && (new_role != UserRole::Admin || disabled_at.is_some())
        && admins <= 1
    {
        let action = if disabled_at.is_some() {
            "disabled"
        } else {
            "demoted"
        };
        return Err(last_admin(&current, action));
    }
    // Every earlier token of the user stops working when what it vouches for changes.
    let ends_sessions = password_hash.is_some()
        || new_role != current.role
        || disabled_at.is_some() != current.disabled_at.is_some();
    let session_version = current.session_version + i64::from(ends_sessions);
    let mut row: user::ActiveModel = current.into();
    if let Some(name) = name {
        row.name = Set(name);
    }
    row.role = Set(new_role);
    row.disabled_at = Set(disabled_at);
    row.session_version = Set(session_version);
    if let Some(hash) = password_hash {
        row.password_hash = Set(hash);
    }
    let updated = row.update(&txn).await?;
    txn.commit().await?;
    if ends_sessions {
        sessions_ended(&app_state(&req), db.tenant.id, updated.id).await;
    }
    Ok(HttpResponse::Ok().json(UserView::from(updated)))
}

/// Deletes a user who never wrote anything; one who authored vouchers stays known as their
/// author and can only be disabled (`PATCH {"active": false}`).
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}",
    tag = "users",
    operation_id = "delete_user",
    description = "Admins only. 409 for the last active admin, and for a user who authored \
                   vouchers (disable them instead).",
    params(("id" = i64, Path, description = "The user's id.")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted."),
        Conflict,
        TenantErrors,
    )
)]
async fn remove(
    state: web::Data<AppState>,
    user: AuthUser,
    db: TenantDb,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[UserRole::Admin])?;
    let id = id.into_inner();
    let txn = begin_write(&*db).await?;
    let admins = lock_active_admins(&txn).await?;
    let current = user::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound)?;
    if is_active_admin(&current) && admins <= 1 {
        return Err(last_admin(&current, "deleted"));
    }
    let authored = voucher::Entity::find()
        .filter(voucher::Column::CreatedBy.eq(id))
        .count(&txn)
        .await?;
    let authored_conflict = || {
        ApiError::Conflict(format!(
            "{} authored vouchers and cannot be deleted; disable them instead \
             (PATCH with {{\"active\": false}})",
            current.email
        ))
    };
    if authored > 0 {
        return Err(authored_conflict());
    }
    user::Entity::delete_by_id(id)
        .exec(&txn)
        .await
        .map_err(|e| match e.sql_err() {
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => authored_conflict(),
            _ => e.into(),
        })?;
    txn.commit().await?;
    sessions_ended(&state, db.tenant.id, id).await;
    Ok(HttpResponse::NoContent().finish())
}

/// A user's tokens stop working: at once in this process, and in every other `serve` when it
/// reads the registry change feed (within a second). If the master cannot take the change now,
/// the others notice when their cached copy of the user expires
/// ([`crate::auth::USER_STATUS_TTL`]).
async fn sessions_ended(
    state: &web::Data<AppState>,
    tenant: tenantry_core::TenantId,
    user_id: i64,
) {
    // Spawned, so a client hanging up after the commit cannot cancel it half-way.
    let state = state.clone();
    let task = tokio::spawn(async move {
        state.users.forget(tenant, user_id).await;
        if let Err(e) = state.registry.record_user_change(tenant, user_id).await {
            tracing::warn!(error = %e, user_id, "could not publish a user's ended sessions");
        }
    });
    let _ = task.await;
}
