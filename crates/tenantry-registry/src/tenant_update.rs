//! Editing a tenant's name, plan, storage limit and feature flags (the admin API's `PATCH`).

use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter, Set,
    SqlErr, TransactionTrait,
};
use tenantry_core::ids::{PlanId, TenantId};

use crate::changes::{ChangeKind, record};
use crate::entity::tenant;
use crate::storage::storage_limit_mb;
use crate::{AuditEntry, Registry, RegistryError, StorageLevel, Tenant, TenantStatus};

/// What to change about a tenant; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantPatch {
    pub name: Option<String>,
    pub plan: Option<PlanId>,
    /// `Some(None)` removes the limit.
    pub storage_limit_mb: Option<Option<i64>>,
    /// Replaces the tenant's own feature flags.
    pub features: Option<BTreeMap<String, bool>>,
}

impl Registry {
    /// Applies `patch` to a live tenant, with its audit row and one change-feed entry
    /// (`plan` when the plan changed, else `status`), in one transaction. Unknown or deleted
    /// tenant → `NotFound`; unknown plan → `NotFound { what: "plan …" }`; an empty name or a
    /// limit below 1 MB → `Invalid`.
    pub async fn update_tenant(
        &self,
        id: TenantId,
        patch: TenantPatch,
        audit: AuditEntry,
    ) -> Result<Tenant, RegistryError> {
        let not_found = || RegistryError::NotFound {
            what: format!("tenant {id}"),
        };
        let live = || {
            Condition::all()
                .add(tenant::Column::Id.eq(id.as_uuid()))
                .add(tenant::Column::Status.ne(TenantStatus::Deleted))
        };
        if patch.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(RegistryError::Invalid {
                what: "tenant name (must not be empty)".into(),
            });
        }
        if let Some(Some(limit)) = patch.storage_limit_mb
            && limit <= 0
        {
            return Err(RegistryError::Invalid {
                what: format!("storage limit {limit} MB (must be positive)"),
            });
        }
        let txn = self.db.begin().await?;
        // Write first: the row is then locked (PostgreSQL) and the SQLite transaction holds the
        // write lock, so the read below cannot go stale and no lock has to be upgraded.
        let touched = tenant::Entity::update_many()
            .col_expr(tenant::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(live())
            .exec(&txn)
            .await?;
        if touched.rows_affected == 0 {
            return Err(not_found());
        }
        let row = tenant::Entity::find()
            .filter(live())
            .one(&txn)
            .await?
            .ok_or_else(not_found)?;
        let plan_changed = patch
            .plan
            .as_ref()
            .is_some_and(|plan| plan.as_str() != row.plan_id);
        let mut active = row.into_active_model();
        active.updated_at = Set(Utc::now());
        if let Some(name) = patch.name {
            active.name = Set(name);
        }
        if let Some(plan) = &patch.plan {
            active.plan_id = Set(plan.as_str().to_owned());
        }
        if let Some(limit) = patch.storage_limit_mb {
            active.storage_limit_mb = Set(limit);
        }
        if let Some(features) = &patch.features {
            active.features = Set(serde_json::json!(features));
        }
        let limit_changed = plan_changed || patch.storage_limit_mb.is_some();
        let mut updated = active.update(&txn).await.map_err(|e| match e.sql_err() {
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => RegistryError::NotFound {
                what: format!("plan {}", patch.plan.as_ref().map_or("?", |p| p.as_str())),
            },
            _ => e.into(),
        })?;
        // A new limit places the last measurement anew (the change below reloads directories).
        if let Some(used) = updated.storage_used_bytes.filter(|_| limit_changed) {
            let level = StorageLevel::of(used, storage_limit_mb(&txn, &updated).await?);
            if level != updated.storage_level {
                tenant::Entity::update_many()
                    .col_expr(tenant::Column::StorageLevel, Expr::value(level))
                    .filter(tenant::Column::Id.eq(id.as_uuid()))
                    .exec(&txn)
                    .await?;
                updated.storage_level = level;
            }
        }
        crate::audit::insert(&txn, audit).await?;
        let kind = if plan_changed {
            ChangeKind::Plan
        } else {
            ChangeKind::Status
        };
        record(&txn, id, None, kind).await?;
        txn.commit().await?;
        Ok(updated.into())
    }
}
