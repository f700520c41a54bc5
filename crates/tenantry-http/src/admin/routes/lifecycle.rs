//! `/admin/v1/tenants/…`: suspend, reactivate, delete, migrate one tenant or the fleet.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use tenantry_ops::{FinalBackup, Permission, TenantView};
use tenantry_provision::fleet::FleetOptions;
use utoipa::{OpenApi, ToSchema};

use super::{json_body, tenant_ref};
use crate::AppState;
use crate::admin::AdminCaller;
use crate::admin::idempotency::{Answer, once};
use crate::admin::operation::{answer, preferred_wait};
use crate::admin::schemas::{MigrationOperation, Reactivated, TenantOperation};
use crate::admin::spec::{AdminErrors, Idempotent, PreferWait, WriteErrors};
use crate::error::ApiError;

#[derive(OpenApi)]
#[openapi(paths(suspend, reactivate, delete, migrate_one, migrate_fleet))]
pub struct Api;

/// Registered before `/tenants/{tenant}` (`tenants.rs`, which also routes `DELETE` here), so
/// `/tenants/migrate` is not taken for a tenant.
pub fn router(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/tenants/migrate").route(web::post().to(migrate_fleet)))
        .service(web::resource("/tenants/{tenant}/suspend").route(web::post().to(suspend)))
        .service(web::resource("/tenants/{tenant}/reactivate").route(web::post().to(reactivate)))
        .service(web::resource("/tenants/{tenant}/migrate").route(web::post().to(migrate_one)));
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SuspendBody {
    /// Why (1–500 characters): shown to operators, never to the tenant's users.
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

/// Suspends a tenant: its API answers 403 `tenant_suspended` within a second everywhere, its
/// database role can no longer log in. Suspending a suspended tenant updates the reason.
#[utoipa::path(
    post,
    path = "/admin/v1/tenants/{tenant}/suspend",
    tag = "tenants",
    operation_id = "suspend_tenant",
    params(("tenant" = String, Path, description = "The tenant's id or subdomain."), Idempotent),
    request_body = SuspendBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The suspended tenant.", body = TenantView),
        AdminErrors,
        WriteErrors,
    )
)]
pub(super) async fn suspend(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.0.require(Permission::Tenants)?;
    let tenant = tenant_ref(path)?;
    once(&req, &state, &caller.0, &body, async || {
        let b: SuspendBody = json_body(&req, &body)?;
        let view = state
            .ops
            .suspend_tenant(&caller.0, &tenant, &b.reason)
            .await?;
        Answer::new(StatusCode::OK, view)
    })
    .await
}

/// Reactivates a suspended tenant, and brings its schema up to date if it fell behind.
#[utoipa::path(
    post,
    path = "/admin/v1/tenants/{tenant}/reactivate",
    tag = "tenants",
    operation_id = "reactivate_tenant",
    params(("tenant" = String, Path, description = "The tenant's id or subdomain."), Idempotent),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The active tenant.", body = Reactivated),
        AdminErrors,
        WriteErrors,
    )
)]
pub(super) async fn reactivate(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
    body: super::Unread,
) -> Result<HttpResponse, ApiError> {
    caller.0.require(Permission::Tenants)?;
    let tenant = tenant_ref(path)?;
    once(&req, &state, &caller.0, &body, async || {
        let r = state.ops.reactivate_tenant(&caller.0, &tenant).await?;
        Answer::new(
            StatusCode::OK,
            json!({
                "tenant": state.ops.view(&r.tenant).await?,
                "migration": r.migration,
            }),
        )
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DeleteBody {
    /// The tenant's subdomain, typed again.
    #[schema(value_type = String)]
    confirm: Option<String>,
    /// Take a final backup first (default): the tenant can then be recovered
    /// (`POST /admin/v1/tenants/recover`) while it is kept. `false` deletes the data for good.
    #[serde(default = "yes")]
    backup: bool,
}

fn yes() -> bool {
    true
}

/// Deletes a tenant: a final backup is taken (unless `backup: false`), its database and role are
/// dropped, its host answers 404. A long action:
/// `202` with the operation, or `200` once it ended within `Prefer: wait=N`.
#[utoipa::path(
    delete,
    path = "/admin/v1/tenants/{tenant}",
    tag = "tenants",
    operation_id = "delete_tenant",
    params(
        ("tenant" = String, Path, description = "The tenant's id or subdomain."),
        Idempotent,
        PreferWait,
    ),
    request_body(
        content = DeleteBody,
        description = "Required: without it, or with another subdomain, the answer is 400 and \
                       nothing changes.",
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The operation ended (see `state`; `result` is the \
         deleted tenant once it succeeded).", body = TenantOperation),
        (status = 202, description = "The operation started (and may have ended since): poll it.",
         body = TenantOperation),
        AdminErrors,
        WriteErrors,
    )
)]
pub(super) async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.0.require(Permission::Tenants)?;
    let tenant = tenant_ref(path)?;
    let caller = caller.0;
    once(&req, &state, &caller, &body, async || {
        let (confirm, backup) = if body.is_empty() {
            (None, true)
        } else {
            let b = json_body::<DeleteBody>(&req, &body)?;
            (b.confirm, b.backup)
        };
        let final_backup = if backup {
            FinalBackup::Take
        } else {
            FinalBackup::Skip
        };
        let confirm = confirm.ok_or_else(|| {
            ApiError::BadRequest(
                "a body {\"confirm\": \"<subdomain>\"} naming the tenant is required".into(),
            )
        })?;
        let ops = state.ops.clone();
        let who = caller.clone();
        let submitted = state
            .ops
            .submit(async move {
                ops.delete_tenant(&who, &tenant, &confirm, final_backup)
                    .await
            })
            .await?;
        answer(&state, submitted, preferred_wait(&req), json!({})).await
    })
    .await
}

/// How to migrate; every field is optional, and so is the body.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct MigrateBody {
    /// Report what would be migrated without connecting to anything.
    #[serde(default)]
    dry_run: bool,
    /// Go on after a tenant fails (otherwise no tenant is started after the first failure).
    #[serde(default)]
    continue_on_error: bool,
    /// Tenants migrated at once (default 4).
    #[schema(minimum = 1, maximum = 64)]
    concurrency: Option<u16>,
}

fn migrate_options(req: &HttpRequest, body: &[u8]) -> Result<FleetOptions, ApiError> {
    let b: MigrateBody = if body.is_empty() {
        MigrateBody::default()
    } else {
        json_body(req, body)?
    };
    let concurrency = b.concurrency.unwrap_or(4);
    if !(1..=64).contains(&concurrency) {
        return Err(super::invalid("concurrency", "must be 1–64"));
    }
    Ok(FleetOptions {
        concurrency: usize::from(concurrency),
        continue_on_error: b.continue_on_error,
        dry_run: b.dry_run,
    })
}

/// Brings one tenant to the latest schema. A long action (`200` at once when it is up to date).
#[utoipa::path(
    post,
    path = "/admin/v1/tenants/{tenant}/migrate",
    tag = "tenants",
    operation_id = "migrate_tenant",
    params(
        ("tenant" = String, Path, description = "The tenant's id or subdomain."),
        Idempotent,
        PreferWait,
    ),
    request_body(content = Option<MigrateBody>),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The migration ended, or there was nothing to do.",
         body = MigrationOperation),
        (status = 202, description = "The operation started (and may have ended since): poll it.",
         body = MigrationOperation),
        AdminErrors,
        WriteErrors,
    )
)]
pub(super) async fn migrate_one(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.0.require(Permission::Tenants)?;
    let tenant = tenant_ref(path)?;
    let caller = caller.0;
    once(&req, &state, &caller, &body, async || {
        let options = migrate_options(&req, &body)?;
        let ops = state.ops.clone();
        let who = caller.clone();
        let submitted = state
            .ops
            .submit(async move { ops.migrate_recorded(&who, Some(&tenant), options).await })
            .await?;
        answer(&state, submitted, preferred_wait(&req), json!({})).await
    })
    .await
}

/// Brings every live tenant to the latest schema: one `fleet.migrate` operation whose
/// `progress` counts tenants done.
#[utoipa::path(
    post,
    path = "/admin/v1/tenants/migrate",
    tag = "tenants",
    operation_id = "migrate_fleet",
    params(Idempotent, PreferWait),
    request_body(content = Option<MigrateBody>),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The migration ended.", body = MigrationOperation),
        (status = 202, description = "The operation started (and may have ended since): poll it.",
         body = MigrationOperation),
        AdminErrors,
        WriteErrors,
    )
)]
pub(super) async fn migrate_fleet(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AdminCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.0.require(Permission::Tenants)?;
    let caller = caller.0;
    once(&req, &state, &caller, &body, async || {
        let options = migrate_options(&req, &body)?;
        let ops = state.ops.clone();
        let who = caller.clone();
        let submitted = state
            .ops
            .submit(async move { ops.migrate_recorded(&who, None, options).await })
            .await?;
        answer(&state, submitted, preferred_wait(&req), json!({})).await
    })
    .await
}
