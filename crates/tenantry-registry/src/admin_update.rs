//! Changing an operator: role, disabled or not, password. Each change that alters what a session
//! vouches for ends every session of that operator at once (`session_version` is bumped: the
//! admin API compares it on every request). The last active owner can be neither demoted nor
//! disabled, so the installation always keeps someone who can manage operators.

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, EntityTrait as _, IntoActiveModel as _,
    PaginatorTrait as _, QueryFilter as _, Set, TransactionTrait as _,
};
use tenantry_core::AdminId;

use crate::entity::admin;
use crate::{Admin, AdminRole, AuditEntry, Registry, RegistryError};

/// What to change about an operator; `None` leaves it as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminPatch {
    pub role: Option<AdminRole>,
    pub disabled: Option<bool>,
    /// A new argon2id PHC string.
    pub password_hash: Option<String>,
}

impl Registry {
    /// Applies `patch` to operator `id`, with its audit row, in one transaction. Unknown id →
    /// `NotFound`; demoting or disabling the last active owner → `Conflict`.
    pub async fn update_admin(
        &self,
        id: AdminId,
        patch: AdminPatch,
        audit: AuditEntry,
    ) -> Result<Admin, RegistryError> {
        let owners = || {
            admin::Entity::find()
                .filter(admin::Column::Role.eq(AdminRole::Owner))
                .filter(admin::Column::DisabledAt.is_null())
        };
        let txn = self.db.begin().await?;
        // Write first: the target and every active owner are then locked (PostgreSQL), or the
        // SQLite transaction holds the write lock, so two demotions at once cannot each see the
        // other owner still in place.
        admin::Entity::update_many()
            .col_expr(admin::Column::Id, Expr::col(admin::Column::Id))
            .filter(
                admin::Column::Id.eq(id.as_uuid()).or(admin::Column::Role
                    .eq(AdminRole::Owner)
                    .and(admin::Column::DisabledAt.is_null())),
            )
            .exec(&txn)
            .await?;
        let current = admin::Entity::find_by_id(id.as_uuid())
            .one(&txn)
            .await?
            .ok_or_else(|| RegistryError::NotFound {
                what: format!("admin {id}"),
            })?;
        let role = patch.role.unwrap_or(current.role);
        let disabled_at = match patch.disabled {
            Some(true) => current.disabled_at.or_else(|| Some(Utc::now())),
            Some(false) => None,
            None => current.disabled_at,
        };
        let was_owner = current.role == AdminRole::Owner && current.disabled_at.is_none();
        let stays_owner = role == AdminRole::Owner && disabled_at.is_none();
        if was_owner && !stays_owner && owners().count(&txn).await? <= 1 {
            return Err(RegistryError::Refused {
                reason: format!(
                    "{} is the last active owner and cannot be demoted or disabled; make \
                     another operator owner first",
                    current.email
                ),
            });
        }
        let ends_sessions = role != current.role
            || disabled_at.is_some() != current.disabled_at.is_some()
            || patch.password_hash.is_some();
        let version = current.session_version + i32::from(ends_sessions);
        let mut row = current.into_active_model();
        row.role = Set(role);
        row.disabled_at = Set(disabled_at);
        row.session_version = Set(version);
        if let Some(hash) = patch.password_hash {
            row.password_hash = Set(hash);
        }
        let updated = row.update(&txn).await?;
        crate::audit::insert(&txn, audit).await?;
        txn.commit().await?;
        Ok(updated.into())
    }
}
