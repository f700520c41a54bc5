//! The request path: answering from the index, or from the master for a miss.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tenantry_core::TenantId;
use tenantry_registry::{RegistryError, TenantStatus};

use super::{Freshness, Key, MISS_LOOKUP_TIMEOUT, ResolvedTenant, TenantDirectory};
use crate::error::ApiError;
use crate::rate_limit::RequestLimiter;

impl TenantDirectory {
    /// The tenant `key` names, if any. Status is not checked here.
    pub(crate) async fn lookup(&self, key: Key) -> Result<Option<ResolvedTenant>, ApiError> {
        let (freshness, loaded, known) = {
            let index = self.index.read().expect("directory lock");
            let known = index.get(&key).map(ResolvedTenant::from);
            (self.freshness_of(&index), index.loaded, known)
        };
        match (freshness, known) {
            // Stale beyond `registry.max_stale_secs`: nothing is trusted any more.
            (Freshness::Unavailable, _) if loaded => Err(ApiError::RegistryUnavailable),
            // A tenant being provisioned becomes active any moment: while the master answers,
            // ask it rather than answer 503 for the feed's lag.
            (Freshness::Current, Some(t)) if t.status == TenantStatus::Provisioning => {
                self.lookup_miss(key, Some(t)).await
            }
            (Freshness::Stale(_), Some(t)) => {
                self.stale_answers.fetch_add(1, Ordering::Relaxed);
                Ok(Some(t))
            }
            (_, Some(t)) => Ok(Some(t)),
            // The master is not answering: an unknown host cannot be told apart from a tenant
            // created meanwhile, and asking per request would only pile up on a dead master.
            (Freshness::Stale(_), None) => Err(ApiError::RegistryUnavailable),
            // Current, or still loading at start: look the miss up, within the budget.
            (_, None) => self.lookup_miss(key, None).await,
        }
    }

    /// A direct master lookup, at most [`MISS_LOOKUPS_PER_SEC`](super::MISS_LOOKUPS_PER_SEC);
    /// over that budget the index's answer (`known`) stands.
    async fn lookup_miss(
        &self,
        key: Key,
        known: Option<ResolvedTenant>,
    ) -> Result<Option<ResolvedTenant>, ApiError> {
        if let Some(answer) = self.misses.get(&key).await {
            return Ok(answer);
        }
        if self.miss_limiter.check().is_err() {
            return if known.is_some() || self.loaded() {
                Ok(known)
            } else {
                Err(ApiError::RegistryUnavailable)
            };
        }
        self.master_lookups.fetch_add(1, Ordering::Relaxed);
        let generation = self.miss_generation.load(Ordering::Acquire);
        let registry = &self.registry;
        let found = tokio::time::timeout(MISS_LOOKUP_TIMEOUT, async {
            Ok::<_, RegistryError>(match &key {
                Key::Domain(d) => registry.live_tenant_by_domain(d).await?,
                Key::Subdomain(s) => registry.live_tenant_by_subdomain(s).await?,
                Key::Id(id) => registry
                    .tenant(*id)
                    .await?
                    .filter(|t| t.status != TenantStatus::Deleted),
            })
        })
        .await;
        let answer = match found {
            // A tenant the index holds (one being provisioned) keeps its bucket.
            Ok(Ok(found)) => found.as_ref().map(|t| ResolvedTenant {
                limiter: self.limiter_of(t.id),
                ..ResolvedTenant::from(t)
            }),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "tenant lookup failed");
                return Err(ApiError::RegistryUnavailable);
            }
            Err(_) => {
                tracing::warn!("tenant lookup timed out");
                return Err(ApiError::RegistryUnavailable);
            }
        };
        if self.miss_generation.load(Ordering::Acquire) == generation {
            self.misses.insert(key, answer.clone()).await;
        }
        Ok(answer)
    }

    fn limiter_of(&self, id: TenantId) -> Option<Arc<RequestLimiter>> {
        let index = self.index.read().expect("directory lock");
        index.tenants.get(&id).map(|l| l.limiter.clone())
    }

    fn loaded(&self) -> bool {
        self.index.read().expect("directory lock").loaded
    }
}
