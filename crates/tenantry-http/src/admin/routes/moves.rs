//! `POST /admin/v1/tenants/{tenant}/move`: a tenant moved to another database server while it
//! serves, a long action (`202` with the operation, or `200` once it ended within
//! `Prefer: wait=N`).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use tenantry_ops::Permission;
use utoipa::{OpenApi, ToSchema};

use super::{json_body, tenant_ref};
use crate::AppState;
use crate::admin::AdminCaller;
use crate::admin::idempotency::once;
use crate::admin::operation::{answer, preferred_wait};
use crate::admin::schemas::MoveOperation;
use crate::admin::spec::{AdminErrors, Idempotent, PreferWait, WriteErrors};
use crate::error::ApiError;

#[derive(OpenApi)]
#[openapi(paths(move_tenant))]
pub struct Api;

pub fn router(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/tenants/{tenant}/move").route(web::post().to(move_tenant)));
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MoveBody {
    /// The registered PostgreSQL server to move to.
    to: String,
}

/// Moves an active PostgreSQL tenant to another registered server without stopping it: its
/// rows are copied and streamed by logical replication while it serves, then its writes pause
/// (its requests wait, up to 1 s, then answer 503 with Retry-After) until the new server has
/// caught up and the registry points there. The result reports the pause. Both servers' admins must be superusers.
#[utoipa::path(
    post,
    path = "/admin/v1/tenants/{tenant}/move",
    tag = "tenants",
    operation_id = "move_tenant",
    params(
        ("tenant" = String, Path, description = "The tenant's id or subdomain."),
        Idempotent,
        PreferWait,
    ),
    request_body = MoveBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The operation ended (`result`: the move).",
         body = MoveOperation),
        (status = 202, description = "The operation started: poll it.", body = MoveOperation),
        AdminErrors,
        WriteErrors,
    )
)]
pub(super) async fn move_tenant(
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
        let b: MoveBody = json_body(&req, &body)?;
        let (ops, who) = (state.ops.clone(), caller.clone());
        let job = async move {
            let view = ops.move_tenant(&who, &tenant, &b.to).await?;
            Ok(json!(view))
        };
        let submitted = state.ops.submit(job).await?;
        answer(&state, submitted, preferred_wait(&req), json!({})).await
    })
    .await
}
