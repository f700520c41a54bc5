//! The registry change feed, as one `serve` follows it: every registry change names a tenant
//! (or one of its users); this task reads new changes every `registry.poll_interval_ms` — at
//! once on a PostgreSQL NOTIFY — and forgets what this process cached about that tenant: its
//! Host directory entry (with its plan's request limit: a plan change swaps the tenant's request
//! bucket), its pools (a suspended or deleted tenant's connections close, a new plan's connection
//! maximum applies), its users' status.
//!
//! When the master cannot be reached, nothing is forgotten and known tenants go on being served
//! ([`crate::directory`]); when it answers again, the feed catches up before the directory counts
//! as current again. A feed that lost track (changes pruned while this process was cut off)
//! reloads the whole directory and forgets every user and every tenant whose entry changed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use tenantry_core::{PlanId, TenantId};
use tenantry_registry::{Change, ChangeKind, ChangeListener, Registry, RegistryError};

use crate::AppState;
use crate::directory::Loaded;
use crate::rate_limit::PlanLimits;

/// Changes read per round trip.
const BATCH: u64 = 200;
/// One sync may take this long before the master counts as unreachable. Progress made within
/// it is kept (each change advances the feed as it is applied), so a large batch of changes is
/// worked through over several rounds instead of being retried whole forever.
const SYNC_TIMEOUT: Duration = Duration::from_secs(2);
/// Side work (the NOTIFY listener, pruning) gets its own deadline, outside the sync's.
const SIDE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often this process prunes old changes (any process may; it is idempotent).
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// Changes older than this are pruned. A process cut off for longer reloads everything.
const KEEP_CHANGES: Duration = Duration::from_secs(3600);
/// At most one "master unreachable" warning per this interval.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Follows the feed until the returned task is aborted. A panic in the follower restarts it
/// (from a full reload) after a second: without the feed, every tenant would end up refused.
pub(crate) fn spawn(state: Arc<AppState>, poll_every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let follower = tokio::spawn(follow(state.clone(), poll_every));
            match follower.await {
                Err(e) if e.is_panic() => {
                    tracing::error!("the registry change feed panicked; restarting it");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                _ => return,
            }
        }
    })
}

async fn follow(state: Arc<AppState>, poll_every: Duration) {
    let mut feed = Feed {
        state,
        last: None,
        listener: None,
        pruned_at: None,
        warned_at: None,
    };
    loop {
        match tokio::time::timeout(SYNC_TIMEOUT, feed.sync()).await {
            Ok(Ok(())) => {
                feed.state.directory.synced();
                feed.warned_at = None;
                feed.side_work().await;
            }
            Ok(Err(e)) => feed.unreachable(&e.to_string()),
            Err(_) => feed.unreachable("the master did not answer in time"),
        }
        feed.wait(poll_every).await;
    }
}

struct Feed {
    state: Arc<AppState>,
    /// The last change applied; `None` until the directory has been loaded whole.
    last: Option<i64>,
    listener: Option<ChangeListener>,
    pruned_at: Option<Instant>,
    warned_at: Option<Instant>,
}

impl Feed {
    /// Brings this process up to date with the master.
    async fn sync(&mut self) -> Result<(), RegistryError> {
        let Some(mut after) = self.last else {
            return self.reload().await;
        };
        loop {
            let batch = self.state.registry.changes_since(after, BATCH).await?;
            if batch.gap {
                tracing::warn!(
                    "registry changes were pruned before this process read them: reloading"
                );
                return self.reload().await;
            }
            let Some(newest) = batch.changes.last().map(|c| c.id) else {
                break;
            };
            let full = batch.changes.len() as u64 == BATCH;
            self.apply(batch.changes).await?;
            after = newest;
            if !full {
                break;
            }
        }
        Ok(())
    }

    /// The NOTIFY listener (a notification only hurries the next poll: losing one costs at most
    /// an interval) and pruning, each bounded on its own so neither can starve the sync.
    async fn side_work(&mut self) {
        if self.listener.is_none() {
            let listener = self.state.registry.change_listener();
            if let Ok(Ok(listener)) = tokio::time::timeout(SIDE_TIMEOUT, listener).await {
                self.listener = listener;
            }
        }
        if self.pruned_at.is_some_and(|at| at.elapsed() < PRUNE_EVERY) {
            return;
        }
        self.pruned_at = Some(Instant::now());
        let prune = self.state.registry.prune_changes(KEEP_CHANGES);
        match tokio::time::timeout(SIDE_TIMEOUT, prune).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "could not prune old registry changes"),
            Err(_) => tracing::warn!("pruning old registry changes timed out"),
        }
    }

    /// Loads the whole directory; changes made meanwhile are read (again) next time.
    async fn reload(&mut self) -> Result<(), RegistryError> {
        let latest = self.state.registry.latest_change_id().await?;
        let entries = load_all(&self.state.registry, self.state.directory.plans()).await?;
        for id in self.state.directory.replace(entries) {
            self.state.pools.invalidate(id).await;
        }
        self.state.users.forget_all();
        self.last = Some(latest);
        Ok(())
    }

    /// Applies a batch in order, advancing the feed change by change, so work done before a
    /// deadline is never redone. A tenant is read from the master once per batch.
    async fn apply(&mut self, changes: Vec<Change>) -> Result<(), RegistryError> {
        let state = self.state.clone();
        let mut refreshed: BTreeSet<TenantId> = BTreeSet::new();
        for change in changes {
            let id = change.tenant;
            if change.kind != ChangeKind::UserCredentials && refreshed.insert(id) {
                let entry = load(&state.registry, state.directory.plans(), id).await?;
                state.directory.apply(id, entry);
                // A name remembered from a direct lookup may now mean something else.
                state.directory.forget_misses();
            }
            match (change.kind, change.user) {
                (ChangeKind::UserCredentials, Some(user)) => state.users.forget(id, user).await,
                (ChangeKind::UserCredentials, None) => state.users.forget_tenant(id),
                (
                    ChangeKind::Status
                    | ChangeKind::Deleted
                    | ChangeKind::Plan
                    | ChangeKind::Database,
                    _,
                ) => {
                    state.pools.invalidate(id).await;
                    state.users.forget_tenant(id);
                }
                (ChangeKind::Created | ChangeKind::Domains | ChangeKind::Storage, _) => {}
            }
            self.last = Some(change.id);
        }
        Ok(())
    }

    fn unreachable(&mut self, error: &str) {
        self.listener = None;
        if self.warned_at.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            self.warned_at = Some(Instant::now());
            tracing::warn!(
                error,
                freshness = ?self.state.directory.freshness(),
                "master registry unreachable: serving known tenants from their last known state"
            );
        }
    }

    /// Until the next poll, or a notification, whichever comes first.
    async fn wait(&mut self, poll_every: Duration) {
        let Some(listener) = self.listener.as_mut() else {
            tokio::time::sleep(poll_every).await;
            return;
        };
        tokio::select! {
            _ = tokio::time::sleep(poll_every) => {}
            received = listener.recv() => {
                if received.is_err() {
                    self.listener = None;
                }
            }
        }
    }
}

/// What the master says about one tenant now, with its plan's request limit; `None`: deleted or
/// gone. One query more than the entry alone (the tenant's plan); the plan's limit is cached.
pub(crate) async fn load(
    registry: &Registry,
    plans: &PlanLimits,
    id: TenantId,
) -> Result<Option<Loaded>, RegistryError> {
    let Some(entry) = registry.directory_entry(id).await? else {
        return Ok(None);
    };
    let Some(tenant) = registry.tenant(id).await? else {
        return Ok(None);
    };
    let requests_per_minute = plans.requests_per_minute(registry, &tenant.plan).await?;
    Ok(Some(Loaded {
        entry,
        plan: tenant.plan,
        requests_per_minute,
    }))
}

/// Every live tenant, for a full reload: four queries, whatever the number of tenants.
pub(crate) async fn load_all(
    registry: &Registry,
    plans: &PlanLimits,
) -> Result<Vec<Loaded>, RegistryError> {
    let entries = registry.directory_entries().await?;
    // Not cached: a reload is rare, and a plan edited right after it must not wait for a TTL.
    let limits: HashMap<PlanId, u32> = registry
        .plans()
        .await?
        .into_iter()
        .map(|p| (p.id, p.requests_per_minute))
        .collect();
    // Read after the entries: a tenant missing here was deleted meanwhile (its change is
    // applied next), one created meanwhile has no entry yet (likewise).
    let mut tenant_plans: HashMap<TenantId, PlanId> = registry
        .list_tenants(None)
        .await?
        .into_iter()
        .map(|t| (t.id, t.plan))
        .collect();
    let mut loaded = Vec::with_capacity(entries.len());
    for entry in entries {
        let Some(plan) = tenant_plans.remove(&entry.id) else {
            continue;
        };
        let requests_per_minute = match limits.get(&plan) {
            Some(limit) => *limit,
            // A plan created after the plans were read.
            None => plans.requests_per_minute(registry, &plan).await?,
        };
        loaded.push(Loaded {
            entry,
            plan,
            requests_per_minute,
        });
    }
    Ok(loaded)
}
