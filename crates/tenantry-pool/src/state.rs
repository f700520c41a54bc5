//! The slot bookkeeping: which tenant holds which connections, and how many permits each server
//! has given out. Pure and synchronous; always used under one `std::sync::Mutex` that is never
//! held across an `.await`.

mod census;
mod line;
mod victim;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tenantry_core::TenantId;
use tokio::sync::oneshot;

use crate::target::{ServerKey, TenantTarget};
use line::{Handed, Homes, Line};
pub(crate) use line::{Home, Homed};
use victim::Heat;

/// How long the oldest waiter of a tenant lets waiters on a released slot's home thread go
/// first (see `line`): a few hand-offs' worth under load, far below any acquire timeout.
const HANDOFF_PATIENCE: Duration = Duration::from_millis(5);

/// `S` is a slot: one physical connection (opaque here but for its home).
struct IdleSlot<S> {
    slot: S,
    home: Home,
    since: Instant,
}

struct TenantSlots<S> {
    server: ServerKey,
    max: usize,
    /// Bumped when the tenant is evicted or invalidated: leases of an older generation are
    /// closed when they come back instead of being reused.
    generation: u64,
    /// Most recently used last.
    idle: Vec<IdleSlot<S>>,
    leased: usize,
    connecting: usize,
    /// Acquires waiting at the tenant's maximum, oldest first: a released slot is handed to the
    /// oldest on its home thread, or to the oldest of all once it has waited a moment, so no
    /// waiter starves behind requests that arrive later.
    waiters: Line<S>,
    /// `(cap, until)`: an open was refused while the tenant held slots (its database answers but
    /// takes no more sessions of its role, e.g. its `CONNECTION LIMIT` is reached by sessions
    /// outside this pool). Until then it is served with the slots it has.
    capped: Option<(usize, Instant)>,
    /// Which threads opened its idle and leased slots.
    homes: Homes,
    /// Its leases lately: the coldest tenant gives up a slot first.
    heat: Heat,
}

impl<S> TenantSlots<S> {
    fn max_now(&self) -> usize {
        match self.capped {
            Some((cap, until)) if Instant::now() < until => self.max.min(cap.max(1)),
            _ => self.max,
        }
    }
}

struct ServerSlots<S> {
    budget: usize,
    /// Permits given out: idle + leased + connecting + closing slots.
    permits: usize,
    /// Acquires waiting for a permit of this server (its budget is spent and nothing is idle),
    /// oldest first; woken one at a time when a permit frees or a slot goes idle.
    waiters: Line<S>,
}

/// What a waiting acquire is woken with.
pub(crate) enum Wake<S> {
    /// A slot of its tenant, handed over by a release (still counted as leased).
    Slot(S, u64),
    /// Something it waited for changed (a permit freed, a slot went idle): plan again.
    Retry,
}

/// What an acquire should do next.
pub(crate) enum Plan<S> {
    /// Reuse this idle slot (a hit).
    Take(S, u64),
    /// A permit is reserved: open a new slot.
    Open(u64),
    /// A permit is transferred from this victim: close it, then open a new slot.
    Steal(S, u64),
    /// Wait in line (the waiter was queued under the lock, so no wake-up is lost).
    Wait(oneshot::Receiver<Wake<S>>),
}

pub(crate) struct State<S> {
    tenants: HashMap<TenantId, TenantSlots<S>>,
    servers: HashMap<ServerKey, ServerSlots<S>>,
    /// An idle slot is kept from busy tenants, and preferred less as a victim, until it has been
    /// idle this long.
    last_kept_for: Duration,
    /// A tenant takes another's (quiet) slot for more depth only after requests have queued
    /// for its own this long.
    depth_after: Duration,
    /// See [`HANDOFF_PATIENCE`].
    patience: Duration,
}

impl<S: Homed> State<S> {
    pub(crate) fn new(last_kept_for: Duration, depth_after: Duration) -> Self {
        Self {
            tenants: HashMap::new(),
            servers: HashMap::new(),
            last_kept_for,
            depth_after,
            patience: HANDOFF_PATIENCE,
        }
    }

    fn server(&mut self, key: ServerKey, budget: usize) -> &mut ServerSlots<S> {
        self.servers.entry(key).or_insert_with(|| ServerSlots {
            budget,
            permits: 0,
            waiters: Line::new(),
        })
    }

    pub(crate) fn plan(
        &mut self,
        tenant: TenantId,
        target: &TenantTarget,
        budget: usize,
    ) -> Plan<S> {
        let server = self.server(target.server, budget);
        let free_permit = server.permits < server.budget;
        let slots = self.tenants.entry(tenant).or_insert_with(|| TenantSlots {
            server: target.server,
            max: target.max_connections.max(1),
            generation: 0,
            idle: Vec::new(),
            leased: 0,
            connecting: 0,
            waiters: Line::new(),
            capped: None,
            homes: Homes::default(),
            heat: Heat::new(Instant::now()),
        });
        slots.max = target.max_connections.max(1);
        if slots.leased + slots.connecting + slots.idle.len() == 0 {
            slots.server = target.server; // the tenant may have moved since its last lease
        }
        let generation = slots.generation;
        if !slots.idle.is_empty() {
            // The most recently used one opened on this thread, else the most recently used.
            let here = Home::current();
            let at =
                (slots.idle.iter().rposition(|i| i.home == here)).unwrap_or(slots.idle.len() - 1);
            slots.leased += 1;
            return Plan::Take(slots.idle.remove(at).slot, generation);
        }
        if slots.leased + slots.connecting >= slots.max_now() {
            return Plan::Wait(slots.waiters.push());
        }
        if free_permit {
            slots.connecting += 1;
            self.server(target.server, budget).permits += 1;
            return Plan::Open(generation);
        }
        // A tenant that already holds connections goes deeper only when its requests have
        // queued for `depth_after` (a burst passes; sustained load does not), and then only by
        // a slot that has served nobody for `last_kept_for` (its tenant has gone quiet: a
        // connect on its next request costs less than queueing this one's on too few
        // connections); never one used moments ago. Without one, it waits for one of its own.
        // While one of its opens is under way its line is waiting for that connect, not for
        // depth: another steal then would be a second connect (and, under load, a third...)
        // for requests the first one is about to serve.
        let holds = slots.leased + slots.connecting > 0;
        let may_steal = !holds
            || (slots.connecting == 0
                && slots.waiters.queued_for(Instant::now()) >= self.depth_after);
        let victim = if may_steal {
            self.take_idle_victim(target.server, tenant, holds)
        } else {
            None
        };
        match victim {
            Some(victim) => {
                let slots = self.tenants.get_mut(&tenant).expect("inserted above");
                slots.connecting += 1;
                Plan::Steal(victim, generation)
            }
            None if holds => {
                let slots = self.tenants.get_mut(&tenant).expect("inserted above");
                Plan::Wait(slots.waiters.push())
            }
            None => Plan::Wait(self.server(target.server, budget).waiters.push()),
        }
    }

    /// A new slot for `tenant` connected: it is leased to the caller.
    /// Called on the thread that opened it.
    pub(crate) fn opened(&mut self, tenant: TenantId) {
        if let Some(s) = self.tenants.get_mut(&tenant) {
            s.connecting -= 1;
            s.leased += 1;
            s.homes.add(Home::current());
        }
    }

    /// A new slot for `tenant` was refused by its database. If the tenant holds slots, its
    /// database is up: it is capped at what it holds for `cap_for` and `true` is returned (wait
    /// for one of them); else `false` (the tenant is unavailable). The permit goes back.
    pub(crate) fn open_refused(
        &mut self,
        tenant: TenantId,
        server: ServerKey,
        cap_for: Duration,
    ) -> bool {
        let held = self
            .tenants
            .get_mut(&tenant)
            .map(|s| s.leased + s.idle.len())
            .unwrap_or(0);
        if held > 0
            && let Some(s) = self.tenants.get_mut(&tenant)
        {
            s.capped = Some((held, Instant::now() + cap_for));
        }
        self.open_failed(tenant, server);
        held > 0
    }

    /// A new slot for `tenant` was not opened (refused, or the open abandoned): its permit goes
    /// back.
    pub(crate) fn open_failed(&mut self, tenant: TenantId, server: ServerKey) {
        if let Some(s) = self.tenants.get_mut(&tenant) {
            s.connecting -= 1;
            s.waiters.retry_one(); // below its maximum again: one waiter may open
        }
        self.closed(server);
    }

    /// A lease ends: the slot goes to the tenant's oldest waiter, else idle (and one waiter of
    /// the server is told, since it may take it over). Returns the slot if it must be closed
    /// instead (its tenant was retired meanwhile).
    pub(crate) fn release(
        &mut self,
        tenant: TenantId,
        generation: u64,
        slot: S,
    ) -> Option<(ServerKey, S)> {
        let s = self.tenants.get_mut(&tenant)?;
        s.leased -= 1;
        s.heat.bump(Instant::now());
        let server = s.server;
        if s.generation != generation {
            s.waiters.retry_one(); // below its maximum again
            return Some((server, slot));
        }
        let home = slot.home();
        // Closing this slot so that a waiter opens one on its own thread needs a free permit
        // for that open (this slot keeps its own until it is closed).
        let permit_free = self
            .servers
            .get(&server)
            .is_some_and(|srv| srv.permits < srv.budget);
        let homes = &s.homes;
        let rehome = |there: Home| permit_free && homes.lopsided(home, there);
        let slot = match s
            .waiters
            .hand(slot, generation, home, self.patience, rehome)
        {
            Handed::Given => {
                s.leased += 1;
                return None;
            }
            Handed::Rehomed(slot) => {
                s.homes.remove(home);
                return Some((server, slot));
            }
            Handed::Nobody(slot) => slot,
        };
        s.idle.push(IdleSlot {
            slot,
            home,
            since: Instant::now(),
        });
        self.wake(server);
        None
    }

    /// Passes on a `Retry` that reached a waiter after it gave up, so the wake-up is not lost.
    pub(crate) fn pass_on_retry(&mut self, tenant: TenantId, server: ServerKey) {
        if let Some(s) = self.tenants.get_mut(&tenant) {
            s.waiters.retry_one();
        }
        self.wake(server);
    }

    /// A leased slot is lost (it could not be brought back to a known state): the tenant is
    /// below its maximum again. The caller closes it, then frees its permit with
    /// [`Self::closed`].
    pub(crate) fn discard(
        &mut self,
        tenant: TenantId,
        generation: u64,
        home: Home,
    ) -> Option<ServerKey> {
        let s = self.tenants.get_mut(&tenant)?;
        s.leased -= 1;
        if s.generation == generation {
            s.homes.remove(home);
        }
        s.waiters.retry_one();
        Some(s.server)
    }

    /// Whether `generation` is still the tenant's (it was not retired since).
    pub(crate) fn is_current(&self, tenant: TenantId, generation: u64) -> bool {
        self.tenants
            .get(&tenant)
            .is_some_and(|s| s.generation == generation)
    }

    /// Retires a tenant (evicted or invalidated): returns its idle slots to close now; leased
    /// ones are closed as they come back.
    pub(crate) fn retire(&mut self, tenant: TenantId) -> Vec<(ServerKey, S)> {
        let Some(s) = self.tenants.get_mut(&tenant) else {
            return Vec::new();
        };
        s.generation += 1;
        s.homes.clear();
        let server = s.server;
        let idle: Vec<_> = s.idle.drain(..).map(|i| (server, i.slot)).collect();
        if s.leased == 0 && s.connecting == 0 {
            self.tenants.remove(&tenant);
        }
        idle
    }

    /// A slot finished closing: its permit is free again.
    pub(crate) fn closed(&mut self, server: ServerKey) {
        if let Some(srv) = self.servers.get_mut(&server) {
            srv.permits -= 1;
        }
        self.wake(server);
    }

    /// Wakes the server's oldest waiter (one: the others stay in line).
    ///
    /// With nobody in the server's line, a tenant of the server waiting for one of its own slots
    /// while below its maximum (it held slots, so it took no one's last one) is woken instead: a
    /// freed permit lets it open one.
    fn wake(&mut self, server: ServerKey) {
        if let Some(srv) = self.servers.get_mut(&server)
            && srv.waiters.retry_one()
        {
            return;
        }
        if let Some(s) = self.tenants.values_mut().find(|s| {
            s.server == server && !s.waiters.is_empty() && s.leased + s.connecting < s.max_now()
        }) {
            s.waiters.retry_one();
        }
    }
}

#[cfg(test)]
mod tests;
