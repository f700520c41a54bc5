//! Storage quotas: a tenant database's measured size, recorded with where it stands against its
//! limit (the tenant's own, else its plan's). Reaching 80 % or the limit, or going back under,
//! writes an audit event; crossing the limit either way records a `storage` change, so every
//! `serve` starts or stops refusing the tenant's writes.
//!
//! Measurements are claimed through the master (a conditional stamp of `storage_measured_at`),
//! so with several `serve` processes each tenant is measured once per interval.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, NullOrdering, Order};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use serde_json::json;
use tenantry_core::TenantId;

use crate::changes::{ChangeKind, record};
use crate::entity::{plan, tenant};
use crate::{Actor, Origin, Registry, RegistryError, StorageLevel, Tenant, TenantStatus};

const MB: f64 = 1024.0 * 1024.0;

impl Registry {
    /// Claims up to `limit` active or suspended tenants last measured before `older_than` (or
    /// never), never-measured and stalest first, by stamping their `storage_measured_at` with
    /// `now`. A tenant another process claimed meanwhile is left to it.
    pub async fn claim_storage_checks(
        &self,
        older_than: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Tenant>, RegistryError> {
        let stale = || {
            Condition::any()
                .add(tenant::Column::StorageMeasuredAt.is_null())
                .add(tenant::Column::StorageMeasuredAt.lt(older_than))
        };
        let candidates = tenant::Entity::find()
            .filter(tenant::Column::Status.is_in([TenantStatus::Active, TenantStatus::Suspended]))
            .filter(stale())
            .order_by_with_nulls(
                tenant::Column::StorageMeasuredAt,
                Order::Asc,
                NullOrdering::First,
            )
            .order_by_asc(tenant::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        let mut claimed = Vec::with_capacity(candidates.len());
        for row in candidates {
            let stamped = tenant::Entity::update_many()
                .col_expr(tenant::Column::StorageMeasuredAt, Expr::value(now))
                .filter(tenant::Column::Id.eq(row.id))
                .filter(stale())
                .exec(&self.db)
                .await?;
            if stamped.rows_affected == 1 {
                claimed.push(Tenant::from(row));
            }
        }
        Ok(claimed)
    }

    /// Records tenant `id`'s database size, measured at `now`, and returns its level (`None`: the
    /// tenant was deleted meanwhile). A new level is audited (`tenant.storage_warning`,
    /// `tenant.storage_exceeded`, `tenant.storage_ok`); crossing the limit is a change.
    pub async fn record_storage(
        &self,
        id: TenantId,
        used_bytes: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<StorageLevel>, RegistryError> {
        let used = i64::try_from(used_bytes).unwrap_or(i64::MAX);
        let live = || {
            Condition::all()
                .add(tenant::Column::Id.eq(id.as_uuid()))
                .add(tenant::Column::Status.ne(TenantStatus::Deleted))
        };
        let txn = self.db.begin().await?;
        // Write first (as `update_tenant` does): the row is then locked and the read is current.
        let touched = tenant::Entity::update_many()
            .col_expr(tenant::Column::StorageUsedBytes, Expr::value(used))
            .col_expr(tenant::Column::StorageMeasuredAt, Expr::value(now))
            .filter(live())
            .exec(&txn)
            .await?;
        if touched.rows_affected == 0 {
            return Ok(None);
        }
        let Some(row) = tenant::Entity::find().filter(live()).one(&txn).await? else {
            return Ok(None);
        };
        let limit_mb = storage_limit_mb(&txn, &row).await?;
        let level = StorageLevel::of(used, limit_mb);
        if level != row.storage_level {
            tenant::Entity::update_many()
                .col_expr(tenant::Column::StorageLevel, Expr::value(level))
                .filter(tenant::Column::Id.eq(row.id))
                .exec(&txn)
                .await?;
            let action = match level {
                StorageLevel::Ok => "tenant.storage_ok",
                StorageLevel::Warning => "tenant.storage_warning",
                StorageLevel::Exceeded => "tenant.storage_exceeded",
            };
            let detail = json!({
                "used_mb": (used as f64 / MB * 10.0).round() / 10.0,
                "limit_mb": limit_mb,
                "from": row.storage_level,
            });
            let audit = Origin::from(Actor::System).entry(action, Some(id), detail);
            crate::audit::insert(&txn, audit).await?;
        }
        let exceeded = |l: StorageLevel| l == StorageLevel::Exceeded;
        if exceeded(level) != exceeded(row.storage_level) {
            record(&txn, id, None, ChangeKind::Storage).await?;
        }
        txn.commit().await?;
        Ok(Some(level))
    }
}

/// The limit that applies to `row`: its own, else its plan's (MB).
pub(crate) async fn storage_limit_mb(
    conn: &impl ConnectionTrait,
    row: &tenant::Model,
) -> Result<i64, RegistryError> {
    if let Some(own) = row.storage_limit_mb {
        return Ok(own);
    }
    let plan = plan::Entity::find_by_id(row.plan_id.as_str())
        .one(conn)
        .await?
        .ok_or_else(|| RegistryError::NotFound {
            what: format!("plan {}", row.plan_id),
        })?;
    Ok(plan.storage_limit_mb)
}
