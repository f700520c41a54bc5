//! `/admin/v1/tenants/…/backups`, `…/restore` and `/tenants/recover`: backups, restore in
//! place, clones and recovery of deleted tenants. All but the listing are long actions (`202`
//! with the operation, or `200` once it ended within `Prefer: wait=N`).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use tenantry_ops::{BackupView, Permission};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use super::{json_body, tenant_ref};
use crate::AppState;
use crate::admin::AdminCaller;
use crate::admin::idempotency::once;
use crate::admin::operation::{answer, preferred_wait};
use crate::admin::schemas::{BackupOperation, DataList, RestoreOperation, TenantOperation};
use crate::admin::spec::{AdminErrors, Idempotent, PreferWait, WriteErrors};
use crate::error::ApiError;

#[derive(OpenApi)]
#[openapi(paths(list, create, restore, recover))]
pub struct Api;

/// Registered before `/tenants/{tenant}`, so `/tenants/recover` is not taken for a tenant.
pub fn router(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/tenants/recover").route(web::post().to(recover)))
        .service(
            web::resource("/tenants/{tenant}/backups")
                .route(web::get().to(list))
                .route(web::post().to(create)),
        )
        .service(web::resource("/tenants/{tenant}/restore").route(web::post().to(restore)));
}

/// The tenant's backups, newest first (failed ones too, with their error).
#[utoipa::path(
    get,
    path = "/admin/v1/tenants/{tenant}/backups",
    tag = "backups",
    operation_id = "list_backups",
    params(("tenant" = String, Path, description = "The tenant's id or subdomain.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Its backups.", body = DataList<BackupView>),
        AdminErrors,
    )
)]
pub(super) async fn list(
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_ref(path)?;
    let backups = state.ops.list_backups(&caller.0, &tenant).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": backups })))
}

/// Backs the tenant up now: its database, encrypted as it streams, into the backup store.
#[utoipa::path(
    post,
    path = "/admin/v1/tenants/{tenant}/backups",
    tag = "backups",
    operation_id = "create_backup",
    params(
        ("tenant" = String, Path, description = "The tenant's id or subdomain."),
        Idempotent,
        PreferWait,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The operation ended (`result` is the backup once it \
         succeeded).", body = BackupOperation),
        (status = 202, description = "The operation started: poll it.", body = BackupOperation),
        AdminErrors,
        WriteErrors,
    )
)]
pub(super) async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AdminCaller,
    path: web::Path<String>,
    body: super::Unread,
) -> Result<HttpResponse, ApiError> {
    caller.0.require(Permission::Tenants)?;
    let tenant = tenant_ref(path)?;
    let caller = caller.0;
    once(&req, &state, &caller, &body, async || {
        let (ops, who) = (state.ops.clone(), caller.clone());
        let submitted = state
            .ops
            .submit(async move { ops.backup_tenant(&who, &tenant).await })
            .await?;
        answer(&state, submitted, preferred_wait(&req), json!({})).await
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    /// One of this tenant's completed backups.
    #[schema(value_type = String, format = "uuid")]
    backup: Uuid,
    /// Clone instead: a new tenant with this subdomain, made from the backup. The tenant in the
    /// path is not touched.
    into: Option<String>,
    /// The clone's name (default: the source tenant's).
    name: Option<String>,
    /// The clone's server (default: the least loaded).
    server: Option<String>,
}

/// Restores a backup in place of the tenant's database (or, with `into`, clones it into a new
/// tenant). The file is verified before anything is touched, loaded into a new database,
/// migrated and checked; the tenant serves from its old database meanwhile and answers 503 only
/// during the switch.
#[utoipa::path(
    post,
    path = "/admin/v1/tenants/{tenant}/restore",
    tag = "backups",
    operation_id = "restore_backup",
    params(
        ("tenant" = String, Path, description = "The tenant's id or subdomain."),
        Idempotent,
        PreferWait,
    ),
    request_body = RestoreBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The operation ended (`result`: the restore, or the \
         clone's tenant).", body = RestoreOperation),
        (status = 202, description = "The operation started: poll it.", body = RestoreOperation),
        AdminErrors,
        WriteErrors,
    )
)]
pub(super) async fn restore(
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
        let b: RestoreBody = json_body(&req, &body)?;
        let (ops, who) = (state.ops.clone(), caller.clone());
        let submitted = match b.into {
            Some(into) => {
                // The path names the source: it must exist and own the backup.
                let backups = state.ops.list_backups(&caller, &tenant).await?;
                if !backups.iter().any(|x| x.id == b.backup) {
                    return Err(ApiError::NotFound);
                }
                let job = async move {
                    let view = ops
                        .clone_tenant(
                            &who,
                            b.backup,
                            &into,
                            b.name.as_deref(),
                            b.server.as_deref(),
                        )
                        .await?;
                    Ok(json!(view))
                };
                state.ops.submit(job).await?
            }
            None => {
                let job = async move {
                    let view = ops.restore_tenant(&who, &tenant, b.backup).await?;
                    Ok(json!(view))
                };
                state.ops.submit(job).await?
            }
        };
        answer(&state, submitted, preferred_wait(&req), json!({})).await
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RecoverBody {
    /// The deleted tenant's subdomain (free again: no live tenant may hold it).
    subdomain: String,
}

/// Brings a deleted tenant back from the final backup its deletion took, while that backup's
/// retention lasts.
#[utoipa::path(
    post,
    path = "/admin/v1/tenants/recover",
    tag = "backups",
    operation_id = "recover_tenant",
    params(Idempotent, PreferWait),
    request_body = RecoverBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The operation ended (`result`: the recovered tenant).",
         body = TenantOperation),
        (status = 202, description = "The operation started: poll it.", body = TenantOperation),
        AdminErrors,
        WriteErrors,
    )
)]
pub(super) async fn recover(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: AdminCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.0.require(Permission::Tenants)?;
    let caller = caller.0;
    once(&req, &state, &caller, &body, async || {
        let b: RecoverBody = json_body(&req, &body)?;
        let (ops, who) = (state.ops.clone(), caller.clone());
        let submitted = state
            .ops
            .submit(async move { ops.recover_tenant(&who, &b.subdomain).await })
            .await?;
        answer(&state, submitted, preferred_wait(&req), json!({})).await
    })
    .await
}
