//! Host → tenant: which tenant a request is for, answered from memory.
//!
//! Every `serve` holds an index of the live tenants (subdomain, verified domains, id → status),
//! loaded from the master at start and kept current by the registry change feed
//! ([`crate::feed`]), so a request costs no master query and a change made anywhere (the CLI,
//! another `serve`) is seen within a second.
//!
//! - **Unknown hosts cost the master (almost) nothing.** The index is authoritative up to the
//!   feed's lag; a miss is looked up directly only to cover that lag (a tenant created a moment
//!   ago), single-flight, remembered briefly, and at most [`MISS_LOOKUPS_PER_SEC`] per second —
//!   beyond that an unknown host is simply unknown. A flood of random subdomains cannot compete
//!   with real tenants for the master's connections.
//! - **Tenants outlive a master outage.** While the feed cannot reach the master, known tenants
//!   are served from their last known state for up to `registry.max_stale_secs`; unknown hosts
//!   get a fast 503 (the master is not asked per request: the feed is the circuit breaker).
//! - **Each entry carries the tenant's request bucket** ([`crate::rate_limit`]), sized by its
//!   plan's `requests_per_minute` (read once per entry refresh, plans cached), so the limit is
//!   enforced from the same lookup that routes the request, and a plan change follows the feed.
//!
//! The index itself lives in `index`, the request path in `lookup`, and what the feed applies
//! in `update`.

mod index;
mod lookup;
mod update;

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use moka::future::Cache;
use tenantry_core::{Subdomain, TenantId};
use tenantry_registry::{Registry, StorageLevel, Tenant, TenantStatus};

use crate::rate_limit::{PlanLimits, RequestLimiter};

pub(crate) use index::Loaded;
use index::{Index, Listed};

/// Direct master lookups for hosts the index does not know, per second, across all requests.
pub const MISS_LOOKUPS_PER_SEC: u32 = 20;
/// How long a direct lookup's answer is reused (the feed clears it at every change it applies;
/// the TTL bounds an answer that raced with that).
const MISS_TTL: Duration = Duration::from_secs(1);
/// How long a direct lookup may take before the request gets 503.
const MISS_LOOKUP_TIMEOUT: Duration = Duration::from_secs(1);

/// A tenant as a request sees it: enough to gate, to route and to rate-limit, nothing secret.
#[derive(Debug, Clone)]
pub struct ResolvedTenant {
    pub id: TenantId,
    pub subdomain: String,
    pub status: TenantStatus,
    /// Its database is being switched (restore, move): requests get 503 with Retry-After.
    pub fenced: bool,
    /// Its database has reached its storage limit: writes get 403 `storage_quota_exceeded`.
    pub storage_exceeded: bool,
    /// The tenant's request bucket; `None` while the directory does not hold the tenant yet.
    pub(crate) limiter: Option<Arc<RequestLimiter>>,
}

/// Equal when they describe the same tenant state (the bucket is not compared).
impl PartialEq for ResolvedTenant {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.subdomain == other.subdomain
            && self.status == other.status
            && self.fenced == other.fenced
            && self.storage_exceeded == other.storage_exceeded
    }
}

impl Eq for ResolvedTenant {}

impl From<&Listed> for ResolvedTenant {
    fn from(l: &Listed) -> Self {
        let e = &l.loaded.entry;
        Self {
            id: e.id,
            subdomain: e.subdomain.clone(),
            status: e.status,
            fenced: e.fence.is_some(),
            storage_exceeded: e.storage_exceeded,
            limiter: Some(l.limiter.clone()),
        }
    }
}

impl From<&Tenant> for ResolvedTenant {
    fn from(t: &Tenant) -> Self {
        Self {
            id: t.id,
            subdomain: t.subdomain.to_string(),
            status: t.status,
            fenced: t.fence.is_some(),
            storage_exceeded: t.storage_level == StorageLevel::Exceeded,
            limiter: None,
        }
    }
}

/// What names a tenant: a verified custom domain, a subdomain, or (`X-Tenant-Id`) an id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Domain(String),
    Subdomain(Subdomain),
    Id(TenantId),
}

/// How current this process's view of the registry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Synced within the feed's deadline.
    Current,
    /// The master has not answered for this long; known tenants are still served.
    Stale(Duration),
    /// Never loaded, or stale beyond `registry.max_stale_secs`: nothing is served.
    Unavailable,
}

/// The in-memory Host → tenant index of one `serve`.
pub struct TenantDirectory {
    registry: Arc<Registry>,
    index: RwLock<Index>,
    plans: PlanLimits,
    misses: Cache<Key, Option<ResolvedTenant>>,
    miss_limiter: DefaultDirectRateLimiter,
    master_lookups: AtomicU64,
    /// Answers given from the last known state while the master was unreachable.
    stale_answers: AtomicU64,
    /// Bumped whenever the remembered direct answers are forgotten, so a lookup that raced with
    /// a change does not store its (possibly older) answer.
    miss_generation: AtomicU64,
    /// A sync older than this no longer counts as current (the master may be unreachable).
    current_for: Duration,
    max_stale: Duration,
}

impl TenantDirectory {
    pub fn new(registry: Arc<Registry>, poll_every: Duration, max_stale: Duration) -> Self {
        let per_sec = NonZeroU32::new(MISS_LOOKUPS_PER_SEC).expect("non-zero");
        Self {
            registry,
            index: RwLock::default(),
            plans: PlanLimits::new(),
            misses: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(MISS_TTL)
                .build(),
            miss_limiter: RateLimiter::direct(Quota::per_second(per_sec)),
            master_lookups: AtomicU64::new(0),
            stale_answers: AtomicU64::new(0),
            miss_generation: AtomicU64::new(0),
            current_for: (poll_every * 4).max(Duration::from_secs(2)),
            max_stale,
        }
    }

    fn freshness_of(&self, index: &Index) -> Freshness {
        match index.synced_at {
            Some(at) if index.loaded => {
                let age = at.elapsed();
                if age <= self.current_for {
                    Freshness::Current
                } else if age <= self.max_stale {
                    Freshness::Stale(age)
                } else {
                    Freshness::Unavailable
                }
            }
            _ => Freshness::Unavailable,
        }
    }

    /// How current the index is (for `/readyz`).
    pub fn freshness(&self) -> Freshness {
        self.freshness_of(&self.index.read().expect("directory lock"))
    }

    /// Requests routed from the last known state while the master was unreachable.
    pub fn stale_answers(&self) -> u64 {
        self.stale_answers.load(Ordering::Relaxed)
    }

    /// Direct master lookups made for hosts the index did not know (for tests and stats).
    pub fn master_lookups(&self) -> u64 {
        self.master_lookups.load(Ordering::Relaxed)
    }
}
