//! Tenant queries of the admin API: search with pagination (by page or by keyset cursor) and
//! counts per status and plan.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use tenantry_core::ids::{PlanId, TenantId};
use uuid::Uuid;

use crate::entity::tenant;
use crate::{Registry, RegistryError, Tenant, TenantStatus};

/// The rows to skip for a 1-based `page` of `limit` rows. `page` 0 or `limit` 0 → `Invalid`.
pub(crate) fn offset(page: u64, limit: u64) -> Result<u64, RegistryError> {
    if page == 0 || limit == 0 {
        return Err(RegistryError::Invalid {
            what: format!("page {page} of {limit} (both start at 1)"),
        });
    }
    (page - 1)
        .checked_mul(limit)
        .ok_or_else(|| RegistryError::Invalid {
            what: format!("page {page} of {limit} (too far)"),
        })
}

/// Where a walk through tenants (oldest first) stopped: the last tenant's creation time and id.
/// Opaque to clients: `Display` and `FromStr` use base64url; a malformed cursor → `Invalid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantCursor {
    created_at: DateTime<Utc>,
    id: TenantId,
}

impl TenantCursor {
    /// The cursor just after `tenant`.
    pub fn after(tenant: &Tenant) -> Self {
        Self {
            created_at: tenant.created_at,
            id: tenant.id,
        }
    }
}

impl fmt::Display for TenantCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = [0u8; CURSOR_BYTES];
        bytes[..8].copy_from_slice(&self.created_at.timestamp().to_be_bytes());
        bytes[8..12].copy_from_slice(&self.created_at.timestamp_subsec_nanos().to_be_bytes());
        bytes[12..].copy_from_slice(self.id.as_uuid().as_bytes());
        f.write_str(&URL_SAFE_NO_PAD.encode(bytes))
    }
}

/// Seconds (i64), nanoseconds (u32), id (16 bytes), big-endian.
const CURSOR_BYTES: usize = 28;

impl FromStr for TenantCursor {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || RegistryError::Invalid {
            what: "cursor".into(),
        };
        let bytes: [u8; CURSOR_BYTES] = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| invalid())?
            .try_into()
            .map_err(|_| invalid())?;
        let (secs, rest) = bytes.split_at(8);
        let (nanos, id) = rest.split_at(4);
        let secs = i64::from_be_bytes(secs.try_into().map_err(|_| invalid())?);
        let nanos = u32::from_be_bytes(nanos.try_into().map_err(|_| invalid())?);
        let created_at = DateTime::from_timestamp(secs, nanos).ok_or_else(invalid)?;
        let id = Uuid::from_slice(id).map_err(|_| invalid())?;
        Ok(Self {
            created_at,
            id: id.into(),
        })
    }
}

impl Serialize for TenantCursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Which tenants to list, oldest first.
#[derive(Debug, Clone, Default)]
pub struct TenantQuery {
    /// A case-insensitive substring of the subdomain or the name, taken literally (`%` and `_`
    /// are not wildcards). Case folding is ASCII-only on SQLite.
    pub search: Option<String>,
    /// `None` = every live (not deleted) tenant.
    pub status: Option<TenantStatus>,
    pub plan: Option<PlanId>,
    /// 1-based; ignored when `after` is given.
    pub page: u64,
    pub limit: u64,
    /// Continue after this cursor (from [`TenantPage::next`]) instead of at `page`.
    pub after: Option<TenantCursor>,
}

/// A page of tenants. `total` counts every match (regardless of page or cursor); `next` is the
/// cursor of the following page, `None` on the last.
#[derive(Debug, Clone, Serialize)]
pub struct TenantPage {
    pub tenants: Vec<Tenant>,
    pub total: u64,
    pub next: Option<TenantCursor>,
}

/// `s` as a LIKE pattern that matches it anywhere, literally (escape character `\`).
pub(crate) fn contains_pattern(s: &str) -> String {
    let mut pattern = String::with_capacity(s.len() + 2);
    pattern.push('%');
    for c in s.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

fn matches_filters(query: &TenantQuery) -> Condition {
    let mut cond = Condition::all();
    cond = match query.status {
        Some(status) => cond.add(tenant::Column::Status.eq(status)),
        None => cond.add(tenant::Column::Status.ne(TenantStatus::Deleted)),
    };
    if let Some(plan) = &query.plan {
        cond = cond.add(tenant::Column::PlanId.eq(plan.as_str()));
    }
    if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
        let pattern = contains_pattern(search);
        let like = |col: tenant::Column| {
            Expr::expr(Func::lower(Expr::col((tenant::Entity, col))))
                .like(LikeExpr::new(pattern.clone()).escape('\\'))
        };
        cond = cond.add(
            Condition::any()
                .add(like(tenant::Column::Subdomain))
                .add(like(tenant::Column::Name)),
        );
    }
    cond
}

impl Registry {
    /// Tenants matching `query`, oldest first, one page at a time. `limit` 0, or `page` 0
    /// without a cursor → `Invalid`.
    pub async fn search_tenants(&self, query: &TenantQuery) -> Result<TenantPage, RegistryError> {
        let skip = match query.after {
            Some(_) => offset(1, query.limit)?,
            None => offset(query.page, query.limit)?,
        };
        let filtered = tenant::Entity::find().filter(matches_filters(query));
        let total = filtered.clone().count(&self.db).await?;
        let mut select = filtered;
        if let Some(cursor) = query.after {
            // The bound on `created_at` alone lets PostgreSQL start the (created_at, id) index
            // scan at the cursor: the OR below is only a filter, and without the bound each page
            // re-read the index from the start (a walk through 10,000 tenants: ~8,000 rows a page).
            select = select.filter(tenant::Column::CreatedAt.gte(cursor.created_at));
            select = select.filter(
                Condition::any()
                    .add(tenant::Column::CreatedAt.gt(cursor.created_at))
                    .add(
                        Condition::all()
                            .add(tenant::Column::CreatedAt.eq(cursor.created_at))
                            .add(tenant::Column::Id.gt(cursor.id.as_uuid())),
                    ),
            );
        }
        let mut rows = select
            .order_by_asc(tenant::Column::CreatedAt)
            .order_by_asc(tenant::Column::Id)
            .offset(skip)
            .limit(query.limit.saturating_add(1))
            .all(&self.db)
            .await?;
        let more = rows.len() as u64 > query.limit;
        rows.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
        let tenants: Vec<Tenant> = rows.into_iter().map(Tenant::from).collect();
        let next = more
            .then(|| tenants.last().map(TenantCursor::after))
            .flatten();
        Ok(TenantPage {
            tenants,
            total,
            next,
        })
    }

    /// How many tenants there are per status and plan (deleted ones included), ordered by
    /// status text, then plan.
    pub async fn tenant_counts(&self) -> Result<Vec<(TenantStatus, PlanId, u64)>, RegistryError> {
        let rows: Vec<(TenantStatus, String, i64)> = tenant::Entity::find()
            .select_only()
            .column(tenant::Column::Status)
            .column(tenant::Column::PlanId)
            .column_as(tenant::Column::Id.count(), "n")
            .group_by(tenant::Column::Status)
            .group_by(tenant::Column::PlanId)
            .order_by_asc(tenant::Column::Status)
            .order_by_asc(tenant::Column::PlanId)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(status, plan, n)| {
                (
                    status,
                    PlanId::from_stored(plan),
                    u64::try_from(n).unwrap_or(0),
                )
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_take_wildcards_literally() {
        assert_eq!(contains_pattern("Acme"), "%acme%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = TenantCursor {
            created_at: DateTime::from_timestamp_nanos(1_700_000_000_123_456_789),
            id: TenantId::new(),
        };
        assert_eq!(cursor.to_string().parse::<TenantCursor>().unwrap(), cursor);
        for bad in ["", "!!", "AAAA", &cursor.to_string()[1..]] {
            assert!(
                matches!(
                    bad.parse::<TenantCursor>(),
                    Err(RegistryError::Invalid { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn pages_start_at_one() {
        assert_eq!(offset(1, 20).unwrap(), 0);
        assert_eq!(offset(3, 20).unwrap(), 40);
        assert!(offset(0, 20).is_err());
        assert!(offset(1, 0).is_err());
        assert!(offset(u64::MAX, 2).is_err());
    }
}
