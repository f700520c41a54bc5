//! Warm spares: PostgreSQL databases created and migrated ahead of demand, so that a tenant
//! creation only renames one, sets its role's password and seeds it.
//!
//! A spare is `building` while it is created and migrated, `ready` at a schema version, and
//! `claimed` by one tenant creation, which removes the row once the spare carries the tenant's
//! names, or when it rolls back. Adding runs in one transaction under a lock of the server's row
//! (PostgreSQL) or the single writer (SQLite), and a claim in the transaction that reserves the
//! tenant, under a lock of the spare's row (skipped by other claimers) or the single writer, so
//! several processes never build past the target or claim one spare twice. The rows hold names only, never a secret.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use tenantry_core::ids::{DbServerId, TenantId};
use uuid::Uuid;

use crate::entity::{db_server, spare};
use crate::{Registry, RegistryError, SpareState};

/// A warm spare database and its role, on a PostgreSQL server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spare {
    pub id: Uuid,
    pub server: DbServerId,
    pub db_name: String,
    pub db_user: String,
    pub state: SpareState,
    pub schema_version: Option<i32>,
    /// Fingerprint of the shared seed data it holds, once `ready`.
    pub seed: Option<String>,
    pub claimed_by: Option<TenantId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<spare::Model> for Spare {
    fn from(m: spare::Model) -> Self {
        Self {
            id: m.id,
            server: m.server_id.into(),
            db_name: m.db_name,
            db_user: m.db_user,
            state: m.state,
            schema_version: m.schema_version,
            seed: m.seed,
            claimed_by: m.claimed_by.map(TenantId::from),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl Registry {
    /// Records a new `building` spare `id` on `server` with these names, unless the server
    /// already has `target` spares building or ready. Returns whether it was recorded.
    pub async fn add_spare(
        &self,
        server: DbServerId,
        id: Uuid,
        db_name: &str,
        db_user: &str,
        target: u64,
    ) -> Result<bool, RegistryError> {
        let txn = self.begin_claim().await?;
        if self.db.get_database_backend() == DbBackend::Postgres {
            // Serialises adders per server: the count below is then exact.
            db_server::Entity::find_by_id(server.as_uuid())
                .lock(LockType::Update)
                .one(&txn)
                .await?;
        }
        let held = spare::Entity::find()
            .filter(spare::Column::ServerId.eq(server.as_uuid()))
            .filter(spare::Column::State.is_in([SpareState::Building, SpareState::Ready]))
            .count(&txn)
            .await?;
        if held >= target {
            return Ok(false);
        }
        let now = Utc::now();
        spare::ActiveModel {
            id: Set(id),
            server_id: Set(server.as_uuid()),
            db_name: Set(db_name.to_owned()),
            db_user: Set(db_user.to_owned()),
            state: Set(SpareState::Building),
            schema_version: Set(None),
            seed: Set(None),
            claimed_by: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(true)
    }

    /// A `building` spare is migrated to `schema_version` and holds the shared seed data named
    /// `seed`: it may be claimed.
    pub async fn spare_ready(
        &self,
        id: Uuid,
        schema_version: i32,
        seed: &str,
    ) -> Result<(), RegistryError> {
        let done = spare::Entity::update_many()
            .col_expr(spare::Column::State, Expr::value(SpareState::Ready))
            .col_expr(spare::Column::SchemaVersion, Expr::value(schema_version))
            .col_expr(spare::Column::Seed, Expr::value(seed))
            .col_expr(spare::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(spare::Column::Id.eq(id))
            .filter(spare::Column::State.eq(SpareState::Building))
            .exec(&self.db)
            .await?;
        if done.rows_affected == 0 {
            return Err(RegistryError::NotFound {
                what: format!("building spare {id}"),
            });
        }
        Ok(())
    }

    /// Forgets a spare (claimed and used, or dropped from its server). Idempotent.
    pub async fn remove_spare(&self, id: Uuid) -> Result<(), RegistryError> {
        spare::Entity::delete_by_id(id).exec(&self.db).await?;
        Ok(())
    }

    /// Every spare of `server`, or of all servers, oldest first.
    pub async fn spares(&self, server: Option<DbServerId>) -> Result<Vec<Spare>, RegistryError> {
        let mut find = spare::Entity::find()
            .order_by_asc(spare::Column::CreatedAt)
            .order_by_asc(spare::Column::Id);
        if let Some(server) = server {
            find = find.filter(spare::Column::ServerId.eq(server.as_uuid()));
        }
        Ok(find
            .all(&self.db)
            .await?
            .into_iter()
            .map(Spare::from)
            .collect())
    }
}

/// Which spare a creation may claim: one of `server`, at `schema_version`, holding the shared
/// seed data `seed`.
#[derive(Debug, Clone, Copy)]
pub struct SpareWanted<'a> {
    pub server: DbServerId,
    pub schema_version: i32,
    pub seed: &'a str,
}

/// Claims the oldest `ready` spare `wanted` describes for tenant `tenant`, in `txn` (the
/// reservation of that tenant), if there is one. On PostgreSQL a spare another transaction is
/// claiming is skipped, not waited for; on SQLite the transaction is the only writer.
pub(crate) async fn claim(
    txn: &DatabaseTransaction,
    wanted: &SpareWanted<'_>,
    tenant: TenantId,
) -> Result<Option<Spare>, RegistryError> {
    let mut find = spare::Entity::find()
        .filter(spare::Column::ServerId.eq(wanted.server.as_uuid()))
        .filter(spare::Column::State.eq(SpareState::Ready))
        .filter(spare::Column::SchemaVersion.eq(wanted.schema_version))
        .filter(spare::Column::Seed.eq(wanted.seed))
        .order_by_asc(spare::Column::CreatedAt)
        .limit(1);
    if txn.get_database_backend() == DbBackend::Postgres {
        find = find.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let Some(found) = find.one(txn).await? else {
        return Ok(None);
    };
    let mut claimed: spare::ActiveModel = found.into();
    claimed.state = Set(SpareState::Claimed);
    claimed.claimed_by = Set(Some(tenant.as_uuid()));
    claimed.updated_at = Set(Utc::now());
    Ok(Some(claimed.update(txn).await?.into()))
}
