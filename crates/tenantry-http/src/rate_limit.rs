//! Per-tenant request limits: each tenant may make its plan's `requests_per_minute` requests to
//! the tenant API; past that it gets 429 `too_many_requests` with the seconds until the next
//! request is allowed (`Retry-After`). Another tenant is never affected: each tenant has its own
//! bucket.
//!
//! - **Where.** The tenant middleware ([`crate::tenant::require_tenant`]) takes one cell per
//!   request, right after the tenant is resolved and gated, before the body is read or a token
//!   checked: a refused request costs no tenant connection, no body, no signature check.
//! - **How.** One GCRA bucket (`governor`) per tenant, holding the whole quota and refilling
//!   evenly over a minute: a burst of `requests_per_minute` is allowed, then one request every
//!   `60 / requests_per_minute` seconds. A check is one atomic compare-and-swap: no lock.
//! - **Kept with the tenant's directory entry** ([`crate::directory`]): the entry is refreshed
//!   by the registry change feed, so a plan change reaches every `serve` within a second. A
//!   refresh that leaves the limit as it was keeps the bucket (a status or domain change does not
//!   hand out a fresh quota); a new limit gets a new, full bucket.
//! - **Per process.** Each `serve` counts on its own: behind a load balancer spreading requests
//!   over N processes, a tenant may make up to N × its quota. Buckets live in memory and start
//!   full after a restart.
//! - **Plans are cached** ([`PlanLimits`]) for [`PLAN_TTL`]: a plan's limit is read at most once
//!   per TTL for the feed's refreshes, not once per tenant refresh (a full reload reads every
//!   plan at once and caches none). Editing a plan's limit in the master (there is no API for it)
//!   reaches a tenant at its first refresh after that TTL, or at the next full reload.
//! - A tenant the directory does not hold yet (created less than a feed interval ago and
//!   answered by a direct lookup) is not limited until its entry arrives.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use moka::future::Cache;
use tenantry_core::PlanId;
use tenantry_registry::{Registry, RegistryError};

use crate::error::ApiError;

/// How long a plan's limit is reused before it is read again.
pub const PLAN_TTL: Duration = Duration::from_secs(30);

/// One tenant's bucket.
pub struct RequestLimiter {
    per_minute: NonZeroU32,
    limiter: DefaultDirectRateLimiter,
    clock: DefaultClock,
}

impl std::fmt::Debug for RequestLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestLimiter")
            .field("per_minute", &self.per_minute)
            .finish_non_exhaustive()
    }
}

impl RequestLimiter {
    /// A full bucket of `per_minute` requests (at least 1).
    pub fn new(per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            per_minute,
            // `per_minute` sets the burst to the same count.
            limiter: RateLimiter::direct(Quota::per_minute(per_minute)),
            clock: DefaultClock::default(),
        }
    }

    /// The quota this bucket enforces.
    pub fn per_minute(&self) -> u32 {
        self.per_minute.get()
    }

    /// Takes one request from the bucket, or says how long until one is free.
    pub fn check(&self) -> Result<(), ApiError> {
        self.limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::TooManyRequests {
                retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }
}

/// Each plan's `requests_per_minute`, read from the master at most once per [`PLAN_TTL`].
pub(crate) struct PlanLimits {
    cache: Cache<PlanId, u32>,
}

impl PlanLimits {
    pub(crate) fn new() -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(1_000)
                .time_to_live(PLAN_TTL)
                .build(),
        }
    }

    /// The limit of `plan`, from the cache or the master.
    pub(crate) async fn requests_per_minute(
        &self,
        registry: &Registry,
        plan: &PlanId,
    ) -> Result<u32, RegistryError> {
        if let Some(limit) = self.cache.get(plan).await {
            return Ok(limit);
        }
        let limit = registry.plan_by_id(plan).await?.requests_per_minute;
        self.cache.insert(plan.clone(), limit).await;
        Ok(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry_after(r: Result<(), ApiError>) -> u64 {
        match r {
            Err(ApiError::TooManyRequests { retry_after }) => retry_after,
            other => panic!("expected 429, got {other:?}"),
        }
    }

    #[test]
    fn the_quota_is_a_burst_then_one_request_per_refill() {
        let limiter = RequestLimiter::new(3);
        for _ in 0..3 {
            limiter.check().unwrap();
        }
        // One request refills every 20 s.
        let wait = retry_after(limiter.check());
        assert!((19..=20).contains(&wait), "{wait}");
        assert_eq!(limiter.per_minute(), 3);
    }

    #[test]
    fn a_zero_limit_still_allows_one_request_a_minute() {
        let limiter = RequestLimiter::new(0);
        limiter.check().unwrap();
        assert_eq!(retry_after(limiter.check()), 60);
    }
}
