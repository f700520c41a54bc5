use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, SqlErr};
use tenantry_core::ids::TenantId;
use uuid::Uuid;

use crate::entity::operation;
use crate::{OperationState, Registry, RegistryError};

impl Registry {
    /// Records the start of a long operation. `params` must hold everything needed to finish or
    /// roll it back after a crash — and never a secret.
    pub async fn start_operation(
        &self,
        kind: &str,
        tenant_id: Option<TenantId>,
        step: &str,
        params: serde_json::Value,
    ) -> Result<operation::Model, RegistryError> {
        new_operation(kind, tenant_id, step, params)
            .insert(&self.db)
            .await
            .map_err(|e| match (e.sql_err(), tenant_id) {
                // The partial unique index: one running operation per tenant.
                (Some(SqlErr::UniqueConstraintViolation(_)), Some(tenant)) => RegistryError::Busy {
                    what: format!("tenant {tenant}"),
                },
                _ => e.into(),
            })
    }

    /// Records that `step` is reached (also a heartbeat: `updated_at` moves).
    pub async fn advance_operation(&self, id: Uuid, step: &str) -> Result<(), RegistryError> {
        operation::Entity::update_many()
            .col_expr(operation::Column::Step, Expr::value(step))
            .col_expr(operation::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(operation::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    pub async fn finish_operation(
        &self,
        id: Uuid,
        state: OperationState,
        error: Option<String>,
    ) -> Result<(), RegistryError> {
        let now = Utc::now();
        operation::Entity::update_many()
            .col_expr(operation::Column::State, Expr::value(state))
            .col_expr(operation::Column::Error, Expr::value(error))
            .col_expr(operation::Column::UpdatedAt, Expr::value(now))
            .col_expr(operation::Column::FinishedAt, Expr::value(now))
            .filter(operation::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// A heartbeat: moves a *running* operation's `updated_at` without changing its step.
    pub async fn touch_operation(&self, id: Uuid) -> Result<(), RegistryError> {
        operation::Entity::update_many()
            .col_expr(operation::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(operation::Column::Id.eq(id))
            .filter(operation::Column::State.eq(OperationState::Running))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Running operations whose last heartbeat is older than `before` — abandoned by a process
    /// that died (or still running elsewhere, if `before` is too recent).
    pub async fn stale_operations(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<operation::Model>, RegistryError> {
        Ok(operation::Entity::find()
            .filter(operation::Column::State.eq(OperationState::Running))
            .filter(operation::Column::UpdatedAt.lte(before))
            .order_by_asc(operation::Column::CreatedAt)
            .all(&self.db)
            .await?)
    }

    pub async fn operation(&self, id: Uuid) -> Result<Option<operation::Model>, RegistryError> {
        Ok(operation::Entity::find_by_id(id).one(&self.db).await?)
    }

    /// Counts the attempt before a retry by `reconcile`.
    pub async fn bump_operation_attempts(&self, id: Uuid) -> Result<(), RegistryError> {
        operation::Entity::update_many()
            .col_expr(
                operation::Column::Attempts,
                Expr::col(operation::Column::Attempts).add(1),
            )
            .col_expr(operation::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(operation::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

/// A `running` operation row, not yet written.
pub(crate) fn new_operation(
    kind: &str,
    tenant_id: Option<TenantId>,
    step: &str,
    params: serde_json::Value,
) -> operation::ActiveModel {
    let now = Utc::now();
    operation::ActiveModel {
        id: Set(Uuid::now_v7()),
        kind: Set(kind.to_owned()),
        tenant_id: Set(tenant_id.map(|t| t.as_uuid())),
        step: Set(step.to_owned()),
        state: Set(OperationState::Running),
        attempts: Set(1),
        error: Set(None),
        params: Set(params),
        created_at: Set(now),
        updated_at: Set(now),
        finished_at: Set(None),
    }
}
