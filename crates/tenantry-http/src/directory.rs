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

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use moka::future::Cache;
use tenantry_core::{PlanId, Subdomain, TenantId};
use tenantry_registry::{
    DirectoryEntry, Registry, RegistryError, StorageLevel, Tenant, TenantStatus,
};

use crate::error::ApiError;
use crate::rate_limit::{PlanLimits, RequestLimiter};

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

/// What the master says about one live tenant: its directory entry, plan and request limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Loaded {
    pub(crate) entry: DirectoryEntry,
    pub(crate) plan: PlanId,
    pub(crate) requests_per_minute: u32,
}

/// A tenant in the index: as loaded, with its request bucket.
struct Listed {
    loaded: Loaded,
    limiter: Arc<RequestLimiter>,
}

impl Listed {
    /// Keeps `old`'s bucket if the limit is unchanged: refreshing an entry (a status or domain
    /// change, a reload) must not hand out a fresh quota.
    fn new(loaded: Loaded, old: Option<&Listed>) -> Self {
        let limiter = match old {
            Some(old) if old.limiter.per_minute() == loaded.requests_per_minute => {
                old.limiter.clone()
            }
            _ => Arc::new(RequestLimiter::new(loaded.requests_per_minute)),
        };
        Self { loaded, limiter }
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

#[derive(Default)]
struct Index {
    tenants: HashMap<TenantId, Listed>,
    subdomains: HashMap<String, TenantId>,
    domains: HashMap<String, TenantId>,
    loaded: bool,
    synced_at: Option<Instant>,
}

impl Index {
    fn insert(&mut self, listed: Listed) {
        let entry = &listed.loaded.entry;
        let id = entry.id;
        self.remove(id);
        self.subdomains.insert(entry.subdomain.clone(), id);
        for domain in &entry.domains {
            self.domains.insert(domain.clone(), id);
        }
        self.tenants.insert(id, listed);
    }

    fn remove(&mut self, id: TenantId) -> Option<Listed> {
        let listed = self.tenants.remove(&id)?;
        let old = &listed.loaded.entry;
        // Only drop keys that still point at this tenant (a successor may hold the name).
        if self.subdomains.get(&old.subdomain) == Some(&id) {
            self.subdomains.remove(&old.subdomain);
        }
        for domain in &old.domains {
            if self.domains.get(domain) == Some(&id) {
                self.domains.remove(domain);
            }
        }
        Some(listed)
    }

    fn get(&self, key: &Key) -> Option<&Listed> {
        let id = match key {
            Key::Subdomain(s) => self.subdomains.get(s.as_str())?,
            Key::Domain(d) => self.domains.get(d)?,
            Key::Id(id) => id,
        };
        self.tenants.get(id)
    }
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

    /// A direct master lookup, at most [`MISS_LOOKUPS_PER_SEC`]; over that budget the index's
    /// answer (`known`) stands.
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

    /// Replaces the whole index (at start, or after the feed lost track). Returns the tenants
    /// whose entry changed or disappeared, so their pools and users can be forgotten.
    pub(crate) fn replace(&self, entries: Vec<Loaded>) -> Vec<TenantId> {
        let mut index = self.index.write().expect("directory lock");
        let mut fresh = Index::default();
        for loaded in entries {
            let old = index.tenants.get(&loaded.entry.id);
            fresh.insert(Listed::new(loaded, old));
        }
        let changed = index
            .tenants
            .iter()
            .filter(|(id, old)| fresh.tenants.get(id).map(|l| &l.loaded) != Some(&old.loaded))
            .map(|(id, _)| *id)
            .collect();
        fresh.loaded = true;
        fresh.synced_at = Some(Instant::now());
        *index = fresh;
        drop(index);
        self.forget_misses();
        changed
    }

    /// Applies what the registry now says about one tenant (`None`: deleted or gone).
    pub(crate) fn apply(&self, id: TenantId, entry: Option<Loaded>) {
        let mut index = self.index.write().expect("directory lock");
        match entry {
            Some(loaded) => {
                let listed = Listed::new(loaded, index.tenants.get(&id));
                index.insert(listed);
            }
            None => {
                index.remove(id);
            }
        }
    }

    /// The plans' request limits, as entries are loaded with them ([`crate::feed::load`]).
    pub(crate) fn plans(&self) -> &PlanLimits {
        &self.plans
    }

    /// A new tenant or domain may answer a name remembered as unknown.
    pub(crate) fn forget_misses(&self) {
        self.miss_generation.fetch_add(1, Ordering::AcqRel);
        self.misses.invalidate_all();
    }

    /// The feed reached the master and applied everything up to now.
    pub(crate) fn synced(&self) {
        self.index.write().expect("directory lock").synced_at = Some(Instant::now());
    }

    /// Re-reads one tenant from the master now (after a change made by this process).
    pub async fn refresh(&self, id: TenantId) -> Result<(), RegistryError> {
        let entry = crate::feed::load(&self.registry, &self.plans, id).await?;
        self.apply(id, entry);
        self.forget_misses();
        Ok(())
    }
}
