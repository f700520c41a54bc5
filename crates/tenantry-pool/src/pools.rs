use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use moka::future::Cache;
use moka::policy::EvictionPolicy;
use tenantry_core::TenantId;
use tokio::runtime::Handle;

use crate::conn::Slot;
use crate::lease::{Lease, TenantConnection};
use crate::state::{Homed as _, Plan, State, Wake};
use crate::stats::{Counters, PoolStats, ServerStats, TenantPoolStats};
use crate::target::{ServerKey, TargetResolver, TenantTarget};
use crate::{PoolConfig, PoolError};

mod guards;

use guards::{PendingOpen, Waiting};

/// Shared by the handle, the cache's eviction listener and outstanding leases.
pub(crate) struct Inner {
    config: PoolConfig,
    state: Mutex<State<Slot>>,
    counters: Counters,
    runtime: Handle,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State<Slot>> {
        // A panic under this lock would be a bug in state.rs; the bookkeeping stays usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Closes slots in the background; each permit is released only once its close is done,
    /// so the server never sees more connections than the budget.
    fn close_later(self: &Arc<Self>, slots: Vec<(ServerKey, Slot)>) {
        for (server, slot) in slots {
            let inner = self.clone();
            self.runtime.spawn(async move {
                slot.close().await;
                inner.state().closed(server);
            });
        }
    }

    /// A lease ended: the slot goes to the tenant's next in line, or idle, or is closed if the
    /// tenant was retired meanwhile. A slot left in an unknown state (an interrupted query, a
    /// transaction dropped open, an I/O error) is settled first, in the background, and closed
    /// if that fails; it stays counted as leased until then.
    pub(crate) fn give_back(self: &Arc<Self>, tenant: TenantId, generation: u64, mut slot: Slot) {
        if slot.is_settled() {
            let to_close = self.state().release(tenant, generation, slot);
            self.close_later(to_close.into_iter().collect());
            return;
        }
        let inner = self.clone();
        // An abandoned query is waited for at most this long (its remaining rows are read and
        // dropped); past it, the slot's permit is worth more than its connection.
        let patience = self.config.connect_timeout;
        self.runtime.spawn(async move {
            let settled = tokio::time::timeout(patience, slot.settle()).await;
            if settled == Ok(true) {
                let to_close = inner.state().release(tenant, generation, slot);
                inner.close_later(to_close.into_iter().collect());
                return;
            }
            tracing::warn!(%tenant, "tenant connection left in an unknown state; dropping it");
            slot.abandon();
            let server = inner.state().discard(tenant, generation, slot.home());
            slot.close().await;
            if let Some(server) = server {
                inner.state().closed(server);
            }
        });
    }

    fn retire(self: &Arc<Self>, tenant: TenantId) {
        let idle = self.state().retire(tenant);
        self.close_later(idle);
    }
}

/// The per-tenant connection cache. Cheap to clone; pass it explicitly (no global).
#[derive(Clone)]
pub struct TenantPools {
    inner: Arc<Inner>,
    targets: Cache<TenantId, Arc<TenantTarget>>,
    failures: Cache<TenantId, PoolError>,
    resolver: Arc<dyn TargetResolver>,
}

impl TenantPools {
    /// Must be called within a Tokio runtime (closing connections is spawned on it).
    pub fn new(config: PoolConfig, resolver: Arc<dyn TargetResolver>) -> Self {
        let inner = Arc::new(Inner {
            state: Mutex::new(State::new(
                config.last_slot_kept_for,
                config.depth_after_queueing,
            )),
            counters: Counters::default(),
            runtime: Handle::current(),
            config,
        });
        let listener = inner.clone();
        let targets = Cache::builder()
            .max_capacity(inner.config.max_cached_tenants)
            .time_to_idle(inner.config.idle_ttl)
            // LRU, not TinyLFU: a brand-new tenant must always be admitted.
            .eviction_policy(EvictionPolicy::lru())
            .eviction_listener(move |tenant: Arc<TenantId>, _, _cause| {
                Counters::bump(&listener.counters.evictions);
                listener.retire(*tenant);
            })
            .build();
        let failures = Cache::builder()
            .max_capacity(100_000)
            .time_to_live(inner.config.negative_ttl)
            .build();
        Self {
            inner,
            targets,
            failures,
            resolver,
        }
    }

    /// Leases a connection to `tenant`'s database, as its own role. Drop it to give it back.
    ///
    /// Answers within `acquire_timeout`, whatever it waits on (a permit, a victim's close, a
    /// slow connect): past it the caller gets [`PoolError::Exhausted`], never later. Every step
    /// gives back what it reserved if it is cut off.
    pub async fn acquire(&self, tenant: TenantId) -> Result<TenantConnection, PoolError> {
        let config = &self.inner.config;
        let deadline = Instant::now() + config.acquire_timeout;
        match tokio::time::timeout_at(deadline.into(), self.acquire_by(tenant, deadline)).await {
            Ok(leased) => leased,
            Err(_) => {
                Counters::bump(&self.inner.counters.timeouts);
                Err(PoolError::Exhausted {
                    tenant,
                    waited: config.acquire_timeout,
                })
            }
        }
    }

    async fn acquire_by(
        &self,
        tenant: TenantId,
        deadline: Instant,
    ) -> Result<TenantConnection, PoolError> {
        // A cached target is never one that failed (a failure invalidates it): one lookup on
        // the hot path.
        let target = match self.targets.get(&tenant).await {
            Some(target) => target,
            None => self.resolve(tenant).await?,
        };

        let config = &self.inner.config;
        let mut waited = false;
        loop {
            let plan = self
                .inner
                .state()
                .plan(tenant, &target, config.server_budget);
            let (generation, victim) = match plan {
                Plan::Take(slot, generation) => {
                    Counters::bump(&self.inner.counters.hits);
                    return Ok(self.lease(tenant, generation, slot));
                }
                Plan::Open(generation) => (generation, None),
                Plan::Steal(victim, generation) => {
                    Counters::bump(&self.inner.counters.steals);
                    (generation, Some(victim))
                }
                Plan::Wait(woken) => {
                    if !waited {
                        waited = true;
                        Counters::bump(&self.inner.counters.waits);
                    }
                    let mut waiting = Waiting {
                        woken: Some(woken),
                        inner: self.inner.clone(),
                        tenant,
                        server: target.server,
                    };
                    let woke = tokio::time::timeout_at(deadline.into(), waiting.recv()).await;
                    let handed = match woke {
                        Ok(Some(Wake::Slot(slot, generation))) => Some((slot, generation)),
                        // Plan again: something changed, or the line was dropped (retired).
                        Ok(Some(Wake::Retry) | None) => continue,
                        // A slot may have been handed over just as the time ran out.
                        Err(_) => waiting.give_up(),
                    };
                    let Some((slot, generation)) = handed else {
                        Counters::bump(&self.inner.counters.timeouts);
                        return Err(PoolError::Exhausted {
                            tenant,
                            waited: config.acquire_timeout,
                        });
                    };
                    Counters::bump(&self.inner.counters.hits);
                    return Ok(self.lease(tenant, generation, slot));
                }
            };
            match self.open(tenant, &target, generation, victim).await {
                Ok(conn) => return Ok(conn),
                // Refused, but the tenant holds connections: wait in line for one of them.
                Err(OpenError::TenantHoldsSlots) => continue,
                Err(OpenError::Unavailable(e)) => return Err(e),
            }
        }
    }

    /// A tenant not in the cache: refused at once if it failed a moment ago, else resolved
    /// (single-flight) and cached.
    async fn resolve(&self, tenant: TenantId) -> Result<Arc<TenantTarget>, PoolError> {
        if let Some(err) = self.failures.get(&tenant).await {
            Counters::bump(&self.inner.counters.fast_failures);
            return Err(err);
        }
        let resolver = self.resolver.clone();
        self.targets
            .try_get_with(tenant, async move {
                resolver.resolve(tenant).await.map(Arc::new)
            })
            .await
            .map_err(|e| (*e).clone())
    }

    /// Opens a slot on a permit already counted for `tenant` (fresh, or taken from `victim`,
    /// which is closed first so the budget holds even for a moment). Cancellation-safe: if the
    /// caller goes away mid-way, the guard gives the permit back once the victim is closed.
    async fn open(
        &self,
        tenant: TenantId,
        target: &TenantTarget,
        generation: u64,
        victim: Option<Slot>,
    ) -> Result<TenantConnection, OpenError> {
        let mut pending = PendingOpen {
            inner: self.inner.clone(),
            tenant,
            server: target.server,
            victim_closed: victim.map(|v| {
                self.inner.runtime.spawn(async move {
                    v.close().await;
                })
            }),
            done: false,
        };
        if let Some(closing) = pending.victim_closed.take() {
            closing.await.ok();
        }
        Counters::bump(&self.inner.counters.opens);
        let config = &self.inner.config;
        let opened = Slot::open(&target.url, config.connect_timeout, config.query_timeout).await;
        pending.done = true;
        match opened {
            Ok(slot) => {
                self.inner.state().opened(tenant);
                Ok(self.lease(tenant, generation, slot))
            }
            Err(message) => {
                Counters::bump(&self.inner.counters.open_failures);
                // Invalidated while opening (its status or credentials changed): the failure
                // may belong to the old state, so it must not outlive the invalidation.
                let current = self.inner.state().is_current(tenant, generation);
                let holds = self.inner.state().open_refused(
                    tenant,
                    target.server,
                    self.inner.config.negative_ttl,
                );
                if holds {
                    // Its database answers on the connections it has; do not fail the tenant.
                    tracing::warn!(%tenant, error = %message, "tenant database refused another connection; serving the tenant with those it has");
                    return Err(OpenError::TenantHoldsSlots);
                }
                tracing::warn!(%tenant, error = %message, "tenant database unavailable");
                let err = PoolError::Unavailable { tenant, message };
                if current {
                    self.failures.insert(tenant, err.clone()).await;
                }
                // Its target may be stale (moved, credentials rotated): resolve afresh next time.
                self.targets.invalidate(&tenant).await;
                Err(OpenError::Unavailable(err))
            }
        }
    }

    fn lease(&self, tenant: TenantId, generation: u64, slot: Slot) -> TenantConnection {
        TenantConnection::new(Lease {
            inner: self.inner.clone(),
            tenant,
            generation,
            slot: Some(slot),
        })
    }

    /// Forgets the tenant: idle connections close now, leased ones when released; the next
    /// request resolves it afresh (or is refused by its status). For suspend, delete, credential
    /// rotation and move.
    pub async fn invalidate(&self, tenant: TenantId) {
        self.targets.invalidate(&tenant).await;
        self.failures.invalidate(&tenant).await;
        // The listener retires it too; retiring twice is harmless and covers an uncached tenant.
        self.inner.retire(tenant);
    }

    /// One round of housekeeping: moka's pending evictions, and idle connections beyond each
    /// tenant's warm one closed once idle for `reap_after`.
    pub async fn run_housekeeping(&self) {
        self.targets.run_pending_tasks().await;
        self.failures.run_pending_tasks().await;
        let reaped = self.inner.state().reap(self.inner.config.reap_after);
        self.inner.close_later(reaped);
    }

    /// Runs housekeeping every `housekeeping_every` until the returned handle is aborted (the
    /// task holds a handle on the pools).
    pub fn spawn_housekeeping(&self) -> tokio::task::JoinHandle<()> {
        let pools = self.clone();
        let every = self.inner.config.housekeeping_every;
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                pools.run_housekeeping().await;
            }
        })
    }

    pub fn tenant_stats(&self, tenant: TenantId) -> TenantPoolStats {
        self.inner
            .state()
            .tenant_census(&tenant)
            .map(|(max, idle, busy, connecting, waiting)| TenantPoolStats {
                cached: true,
                max,
                idle,
                busy,
                connecting,
                waiting,
            })
            .unwrap_or_default()
    }

    pub fn stats(&self) -> PoolStats {
        let c = &self.inner.counters;
        let servers = self
            .inner
            .state()
            .census()
            .into_iter()
            .map(|(server, open, idle, busy, connecting)| ServerStats {
                server,
                budget: self.inner.config.server_budget,
                open,
                idle,
                busy,
                connecting,
            })
            .collect();
        PoolStats {
            cached_tenants: self.targets.entry_count(),
            capacity: self.inner.config.max_cached_tenants,
            hits: Counters::get(&c.hits),
            opens: Counters::get(&c.opens),
            steals: Counters::get(&c.steals),
            open_failures: Counters::get(&c.open_failures),
            fast_failures: Counters::get(&c.fast_failures),
            waits: Counters::get(&c.waits),
            timeouts: Counters::get(&c.timeouts),
            evictions: Counters::get(&c.evictions),
            servers,
        }
    }
}

/// Why [`TenantPools::open`] gave no connection.
enum OpenError {
    /// Refused while the tenant holds other slots: it is capped at those for a while.
    TenantHoldsSlots,
    Unavailable(PoolError),
}
