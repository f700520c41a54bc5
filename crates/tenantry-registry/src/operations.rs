//! Long operations (create, delete, migrate, ...): each is a row that records its step, so a
//! crashed one can be finished or rolled back by `reconcile`, and at most one runs per tenant.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, SqlErr,
};
use serde::{Deserialize, Serialize};
use tenantry_core::ids::TenantId;
use uuid::Uuid;

use crate::entity::operation;
use crate::queries::offset;
use crate::{Actor, OperationState, Registry, RegistryError};

/// What an operation does. Stored as text (`tenant.create`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum OperationKind {
    #[serde(rename = "tenant.create")]
    TenantCreate,
    #[serde(rename = "tenant.delete")]
    TenantDelete,
    #[serde(rename = "tenant.suspend")]
    TenantSuspend,
    #[serde(rename = "tenant.reactivate")]
    TenantReactivate,
    /// One tenant's schema migration.
    #[serde(rename = "tenant.migrate")]
    TenantMigrate,
    /// A migration of many tenants (its children are `tenant.migrate` operations).
    #[serde(rename = "fleet.migrate")]
    FleetMigrate,
    #[serde(rename = "tenant.backup")]
    TenantBackup,
    #[serde(rename = "tenant.restore")]
    TenantRestore,
    #[serde(rename = "tenant.move")]
    TenantMove,
}

impl OperationKind {
    pub const ALL: [Self; 9] = [
        Self::TenantCreate,
        Self::TenantDelete,
        Self::TenantSuspend,
        Self::TenantReactivate,
        Self::TenantMigrate,
        Self::FleetMigrate,
        Self::TenantBackup,
        Self::TenantRestore,
        Self::TenantMove,
    ];

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TenantCreate => "tenant.create",
            Self::TenantDelete => "tenant.delete",
            Self::TenantSuspend => "tenant.suspend",
            Self::TenantReactivate => "tenant.reactivate",
            Self::TenantMigrate => "tenant.migrate",
            Self::FleetMigrate => "fleet.migrate",
            Self::TenantBackup => "tenant.backup",
            Self::TenantRestore => "tenant.restore",
            Self::TenantMove => "tenant.move",
        }
    }
}

impl fmt::Display for OperationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operation kind this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown operation kind {0:?}")]
pub struct UnknownOperationKind(pub String);

impl FromStr for OperationKind {
    type Err = UnknownOperationKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownOperationKind(s.to_owned()))
    }
}

/// A long operation as recorded. `params` never holds a secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Operation {
    pub id: Uuid,
    pub kind: OperationKind,
    pub tenant: Option<TenantId>,
    pub step: String,
    pub state: OperationState,
    pub attempts: i32,
    pub error: Option<String>,
    pub params: serde_json::Value,
    /// Units done of `progress_total`, when the operation reports progress.
    pub progress_done: Option<u32>,
    pub progress_total: Option<u32>,
    /// Who started it (an [`Actor`]'s text); `None` for system work recorded before V4.
    pub actor: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl TryFrom<operation::Model> for Operation {
    type Error = RegistryError;
    fn try_from(row: operation::Model) -> Result<Self, RegistryError> {
        let kind = row.kind.parse().map_err(|e| RegistryError::Invalid {
            what: format!("operation {}: {e}", row.id),
        })?;
        let count = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok());
        Ok(Self {
            id: row.id,
            kind,
            tenant: row.tenant_id.map(TenantId::from),
            step: row.step,
            state: row.state,
            attempts: row.attempts,
            error: row.error,
            params: row.params,
            progress_done: count(row.progress_done),
            progress_total: count(row.progress_total),
            actor: row.actor,
            created_at: row.created_at,
            updated_at: row.updated_at,
            finished_at: row.finished_at,
        })
    }
}

/// Which operations to list: every filter given must match. Newest first.
#[derive(Debug, Clone, Default)]
pub struct OperationQuery {
    pub tenant: Option<TenantId>,
    pub state: Option<OperationState>,
    pub kind: Option<OperationKind>,
    /// 1-based.
    pub page: u64,
    pub limit: u64,
}

fn convert(rows: Vec<operation::Model>) -> Result<Vec<Operation>, RegistryError> {
    rows.into_iter().map(Operation::try_from).collect()
}

impl Registry {
    /// Records the start of a long operation. `params` must hold everything needed to finish or
    /// roll it back after a crash — and never a secret. Another operation running on the same
    /// tenant → `Busy`.
    pub async fn start_operation(
        &self,
        kind: OperationKind,
        tenant_id: Option<TenantId>,
        step: &str,
        params: serde_json::Value,
        actor: Option<&Actor>,
    ) -> Result<Operation, RegistryError> {
        new_operation(kind, tenant_id, step, params, actor)
            .insert(&self.db)
            .await
            .map_err(|e| match (e.sql_err(), tenant_id) {
                // The partial unique index: one running operation per tenant.
                (Some(SqlErr::UniqueConstraintViolation(_)), Some(tenant)) => RegistryError::Busy {
                    what: format!("tenant {tenant}"),
                },
                _ => e.into(),
            })?
            .try_into()
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

    /// Records progress (`done` of `total` units; also a heartbeat). Unknown id → `NotFound`.
    pub async fn set_operation_progress(
        &self,
        id: Uuid,
        done: u32,
        total: u32,
    ) -> Result<(), RegistryError> {
        let int = |v: u32| {
            i32::try_from(v).map_err(|_| RegistryError::Invalid {
                what: format!("operation progress {v} (at most {})", i32::MAX),
            })
        };
        let updated = operation::Entity::update_many()
            .col_expr(operation::Column::ProgressDone, Expr::value(int(done)?))
            .col_expr(operation::Column::ProgressTotal, Expr::value(int(total)?))
            .col_expr(operation::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(operation::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        if updated.rows_affected == 0 {
            return Err(RegistryError::NotFound {
                what: format!("operation {id}"),
            });
        }
        Ok(())
    }

    pub async fn finish_operation(
        &self,
        id: Uuid,
        state: OperationState,
        error: Option<String>,
    ) -> Result<(), RegistryError> {
        finish(&self.db, id, state, error).await
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

    /// Takes an abandoned operation for resolving: moves its heartbeat only if it is still
    /// running and idle since `before`. `false` → another process took it first (or it moved).
    pub async fn claim_stale_operation(
        &self,
        id: Uuid,
        before: DateTime<Utc>,
    ) -> Result<bool, RegistryError> {
        let claimed = operation::Entity::update_many()
            .col_expr(operation::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(operation::Column::Id.eq(id))
            .filter(operation::Column::State.eq(OperationState::Running))
            .filter(operation::Column::UpdatedAt.lte(before))
            .exec(&self.db)
            .await?;
        Ok(claimed.rows_affected == 1)
    }

    /// Running operations whose last heartbeat is older than `before` — abandoned by a process
    /// that died (or still running elsewhere, if `before` is too recent). An operation of a kind
    /// this build does not know (recorded by a newer release, which alone can resolve it) is
    /// left out, with a warning, so it cannot keep the others from being resolved.
    pub async fn stale_operations(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<Operation>, RegistryError> {
        let rows = operation::Entity::find()
            .filter(operation::Column::State.eq(OperationState::Running))
            .filter(operation::Column::UpdatedAt.lte(before))
            .order_by_asc(operation::Column::CreatedAt)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| match Operation::try_from(row) {
                Ok(op) => Some(op),
                Err(e) => {
                    tracing::warn!(error = %e, "skipping an operation of an unknown kind");
                    None
                }
            })
            .collect())
    }

    pub async fn operation(&self, id: Uuid) -> Result<Option<Operation>, RegistryError> {
        operation::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(Operation::try_from)
            .transpose()
    }

    /// A page of the operations matching `query`, newest first, and how many match in all.
    /// `page` 0 or `limit` 0 → `Invalid`.
    pub async fn list_operations(
        &self,
        query: &OperationQuery,
    ) -> Result<(Vec<Operation>, u64), RegistryError> {
        let skip = offset(query.page, query.limit)?;
        let mut select = operation::Entity::find();
        if let Some(tenant) = query.tenant {
            select = select.filter(operation::Column::TenantId.eq(tenant.as_uuid()));
        }
        if let Some(state) = query.state {
            select = select.filter(operation::Column::State.eq(state));
        }
        if let Some(kind) = query.kind {
            select = select.filter(operation::Column::Kind.eq(kind.as_str()));
        }
        let total = select.clone().count(&self.db).await?;
        let rows = select
            .order_by_desc(operation::Column::CreatedAt)
            .order_by_desc(operation::Column::Id)
            .offset(skip)
            .limit(query.limit)
            .all(&self.db)
            .await?;
        Ok((convert(rows)?, total))
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
    kind: OperationKind,
    tenant_id: Option<TenantId>,
    step: &str,
    params: serde_json::Value,
    actor: Option<&Actor>,
) -> operation::ActiveModel {
    let now = Utc::now();
    operation::ActiveModel {
        id: Set(Uuid::now_v7()),
        kind: Set(kind.as_str().to_owned()),
        tenant_id: Set(tenant_id.map(|t| t.as_uuid())),
        step: Set(step.to_owned()),
        state: Set(OperationState::Running),
        attempts: Set(1),
        error: Set(None),
        params: Set(params),
        created_at: Set(now),
        updated_at: Set(now),
        finished_at: Set(None),
        progress_done: Set(None),
        progress_total: Set(None),
        actor: Set(actor.map(ToString::to_string)),
    }
}

/// [`Registry::finish_operation`] on `conn` (a transaction that does more).
pub(crate) async fn finish(
    conn: &impl sea_orm::ConnectionTrait,
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
        .exec(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_stored_text() {
        for kind in OperationKind::ALL {
            assert_eq!(kind.as_str().parse::<OperationKind>(), Ok(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
        assert_eq!(
            "tenant.explode".parse::<OperationKind>(),
            Err(UnknownOperationKind("tenant.explode".into()))
        );
    }
}
