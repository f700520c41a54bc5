//! The tenant's plan includes so many users (`plans.max_users`): active users, disabled ones not
//! counted. Creating or re-enabling a user beyond that is 403 `plan_limit_reached`. The plan is
//! read from the master at that moment (a user is created far less often than a request is
//! served, and argon2 already costs far more), so a plan change applies at once.

use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DbBackend, EntityTrait as _, PaginatorTrait as _,
    QueryFilter as _, Statement,
};
use tenantry_app::entity::user;
use tenantry_core::TenantId;
use tenantry_ops::OpsError;

use crate::AppState;
use crate::error::ApiError;

/// An arbitrary key for the transaction-scoped advisory lock that serialises seat checks in one
/// tenant database (PostgreSQL; SQLite's immediate transactions already serialise writers).
const SEATS_LOCK: i64 = 0x7465_6e61_6e74_7279; // "tenantry"

/// The users `tenant`'s plan includes.
pub(super) async fn included(state: &AppState, tenant: TenantId) -> Result<u64, ApiError> {
    let registry = &state.registry;
    let found = registry.tenant(tenant).await.map_err(OpsError::from)?;
    let plan = found.ok_or(ApiError::TenantNotFound)?.plan;
    let plan = registry.plan_by_id(&plan).await.map_err(OpsError::from)?;
    Ok(u64::from(plan.max_users))
}

/// Inside a write transaction, before a user becomes active: refuses when `included` active
/// users already exist. Holds a lock until the transaction ends, so two creations at once cannot
/// both take the last seat.
pub(super) async fn take(txn: &impl ConnectionTrait, included: u64) -> Result<(), ApiError> {
    if txn.get_database_backend() == DbBackend::Postgres {
        let lock = format!("SELECT pg_advisory_xact_lock({SEATS_LOCK})");
        txn.execute_raw(Statement::from_string(DbBackend::Postgres, lock))
            .await?;
    }
    let active = user::Entity::find()
        .filter(user::Column::DisabledAt.is_null())
        .count(txn)
        .await?;
    if active >= included {
        return Err(ApiError::PlanLimit(format!(
            "the tenant's plan includes {included} active users, and {active} exist; disable \
             one or move the tenant to a larger plan"
        )));
    }
    Ok(())
}
