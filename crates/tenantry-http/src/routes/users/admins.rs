//! The last active admin of a tenant can be neither demoted, disabled nor deleted: a tenant
//! must keep someone who can manage its users.

use sea_orm::{
    ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _,
};
use tenantry_app::UserRole;
use tenantry_app::entity::user;

use crate::error::ApiError;

pub(super) fn is_active_admin(u: &user::Model) -> bool {
    u.role == UserRole::Admin && u.disabled_at.is_none()
}

/// Locks the active admins' rows until the transaction ends (PostgreSQL), so two concurrent
/// demotions cannot each see the other admin still in place and leave none. On SQLite the
/// immediate transaction already serialises writers.
pub(super) async fn lock_active_admins(txn: &impl ConnectionTrait) -> Result<u64, ApiError> {
    let ids: Vec<i64> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Role.eq(UserRole::Admin))
        .filter(user::Column::DisabledAt.is_null())
        .order_by_asc(user::Column::Id)
        .lock_exclusive()
        .into_tuple()
        .all(txn)
        .await?;
    Ok(ids.len() as u64)
}

pub(super) fn last_admin(u: &user::Model, action: &str) -> ApiError {
    ApiError::Conflict(format!(
        "{} is the last active admin and cannot be {action}; make another user admin first",
        u.email
    ))
}
