//! Idempotency keys of mutating admin requests. A request with an `Idempotency-Key` first
//! *claims* the key, storing a hash of itself; when it finishes it *completes* the key with its
//! response, which a retry with the same key and request then gets back instead of running again.
//! Claims are decided by the database (insert-or-conflict on the primary key), so exactly one of
//! any number of concurrent claims, in any number of processes, wins.

use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::entity::idempotency_key::{self, Column};
use crate::{Registry, RegistryError};

/// The longest key accepted, in bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;

/// How a claim on an idempotency key turned out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The caller owns the key: run the request, then complete (or release) the key.
    New,
    /// The same request already finished: answer with its response instead of running it again.
    Replay { status: u16, body: String },
    /// The same request is still running (or its process died before completing it: the claim
    /// then lapses [`IN_FLIGHT_LEASE`] after it was made).
    InFlight,
    /// The key was used for a different request.
    Mismatch,
}

/// How long an open (not completed) claim holds its key. A request that has not completed its
/// key by then is taken as lost (its process died, or completing failed), and a retry claims the
/// key afresh — rather than finding it in flight for the key's whole lifetime. Well beyond any
/// admin request's own deadline (a wait for an operation is at most 60 s).
pub const IN_FLIGHT_LEASE: Duration = Duration::from_secs(10 * 60);

/// A claim whose row vanished between the conflict and the read (released or pruned) is retried
/// this many times before giving up.
const CLAIM_ATTEMPTS: usize = 3;

fn check_key(key: &str) -> Result<(), RegistryError> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_BYTES {
        return Err(RegistryError::Invalid {
            what: format!(
                "idempotency key (must be 1–{MAX_IDEMPOTENCY_KEY_BYTES} bytes, got {})",
                key.len()
            ),
        });
    }
    Ok(())
}

impl Registry {
    /// Claims `key` within `scope` for the request hashed as `request_hash`, for `ttl`. A key
    /// whose previous claim has expired is claimed afresh. A key that is empty or longer than
    /// [`MAX_IDEMPOTENCY_KEY_BYTES`] → `Invalid`.
    pub async fn claim_idempotency_key(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        ttl: Duration,
    ) -> Result<IdempotencyClaim, RegistryError> {
        check_key(key)?;
        let invalid_ttl = || RegistryError::Invalid {
            what: format!("idempotency key lifetime {ttl:?}"),
        };
        let ttl = chrono::Duration::from_std(ttl).map_err(|_| invalid_ttl())?;
        for _ in 0..CLAIM_ATTEMPTS {
            let now = Utc::now();
            let expires_at = now.checked_add_signed(ttl).ok_or_else(invalid_ttl)?;
            let row = idempotency_key::ActiveModel {
                scope: Set(scope.to_owned()),
                key: Set(key.to_owned()),
                request_hash: Set(request_hash.to_owned()),
                status: Set(None),
                response: Set(None),
                created_at: Set(now),
                expires_at: Set(expires_at),
            };
            // Inserted, or replaced an expired claim or a lapsed open one: either way the key is
            // ours. A live row is left alone (the update's WHERE is false), and PostgreSQL
            // re-checks that WHERE against a row a concurrent claim just wrote, so only one claim
            // can win.
            let lapsed = now - chrono::Duration::from_std(IN_FLIGHT_LEASE).unwrap_or_default();
            let table = idempotency_key::Entity;
            let mut on_conflict = OnConflict::columns([Column::Scope, Column::Key]);
            on_conflict
                .update_columns([
                    Column::RequestHash,
                    Column::Status,
                    Column::Response,
                    Column::CreatedAt,
                    Column::ExpiresAt,
                ])
                .action_and_where(
                    Expr::col((table, Column::ExpiresAt))
                        .lte(now)
                        .or(Expr::col((table, Column::Status))
                            .is_null()
                            .and(Expr::col((table, Column::CreatedAt)).lte(lapsed))),
                );
            let claimed = idempotency_key::Entity::insert(row)
                .on_conflict(on_conflict)
                .exec_without_returning(&self.db)
                .await?;
            if claimed > 0 {
                return Ok(IdempotencyClaim::New);
            }
            let existing = idempotency_key::Entity::find_by_id((scope.to_owned(), key.to_owned()))
                .one(&self.db)
                .await?;
            let Some(existing) = existing else {
                continue;
            };
            if existing.request_hash != request_hash {
                return Ok(IdempotencyClaim::Mismatch);
            }
            let Some(status) = existing.status else {
                return Ok(IdempotencyClaim::InFlight);
            };
            let status = u16::try_from(status).map_err(|_| RegistryError::Invalid {
                what: format!("stored status {status} of idempotency key {key:?}"),
            })?;
            return Ok(IdempotencyClaim::Replay {
                status,
                body: existing.response.unwrap_or_default(),
            });
        }
        Err(RegistryError::Busy {
            what: format!("idempotency key {key:?}"),
        })
    }

    /// Stores the response of the request that claimed `key`, to be replayed until the claim
    /// expires. `false` if there was no open claim to complete (it was released, or it expired
    /// and was pruned or claimed again, or it was already completed).
    pub async fn complete_idempotency_key(
        &self,
        scope: &str,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<bool, RegistryError> {
        check_key(key)?;
        let completed = idempotency_key::Entity::update_many()
            .col_expr(Column::Status, Expr::value(Some(i32::from(status))))
            .col_expr(Column::Response, Expr::value(Some(body.to_owned())))
            .filter(Column::Scope.eq(scope))
            .filter(Column::Key.eq(key))
            .filter(Column::Status.is_null())
            .exec(&self.db)
            .await?
            .rows_affected;
        Ok(completed > 0)
    }

    /// Gives up an open claim (the request failed before changing anything), so a retry claims
    /// the key as [`IdempotencyClaim::New`]. A completed key is left alone.
    pub async fn release_idempotency_key(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<(), RegistryError> {
        check_key(key)?;
        idempotency_key::Entity::delete_many()
            .filter(Column::Scope.eq(scope))
            .filter(Column::Key.eq(key))
            .filter(Column::Status.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Deletes expired keys. Returns how many were deleted.
    pub async fn prune_idempotency_keys(&self) -> Result<u64, RegistryError> {
        Ok(idempotency_key::Entity::delete_many()
            .filter(Column::ExpiresAt.lte(Utc::now()))
            .exec(&self.db)
            .await?
            .rows_affected)
    }
}
