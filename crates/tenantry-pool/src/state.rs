//! The slot bookkeeping: which tenant holds which connections, and how many permits each server
//! has given out. Pure and synchronous; always used under one `std::sync::Mutex` that is never
//! held across an `.await`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::DatabaseConnection;
use tenantry_core::TenantId;
use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;

use crate::target::{ServerKey, TenantTarget};

/// One physical connection.
pub(crate) struct Slot {
    pub conn: DatabaseConnection,
}

struct IdleSlot {
    slot: Slot,
    since: Instant,
}

struct TenantSlots {
    server: ServerKey,
    max: usize,
    /// Bumped when the tenant is evicted or invalidated: leases of an older generation are
    /// closed when they come back instead of being reused.
    generation: u64,
    /// Most recently used last.
    idle: Vec<IdleSlot>,
    leased: usize,
    connecting: usize,
}

struct ServerSlots {
    budget: usize,
    /// Permits given out: idle + leased + connecting + closing slots.
    permits: usize,
    notify: Arc<Notify>,
}

/// What an acquire should do next.
pub(crate) enum Plan {
    /// Reuse this idle slot (a hit).
    Take(Slot, u64),
    /// A permit is reserved: open a new slot.
    Open(u64),
    /// A permit is transferred from this victim: close it, then open a new slot.
    Steal(Slot, u64),
    /// Wait for a release (the future was created under the lock, so no wake-up is lost).
    Wait(OwnedNotified),
}

#[derive(Default)]
pub(crate) struct State {
    tenants: HashMap<TenantId, TenantSlots>,
    servers: HashMap<ServerKey, ServerSlots>,
}

impl State {
    fn server(&mut self, key: ServerKey, budget: usize) -> &mut ServerSlots {
        self.servers.entry(key).or_insert_with(|| ServerSlots {
            budget,
            permits: 0,
            notify: Arc::new(Notify::new()),
        })
    }

    pub(crate) fn plan(&mut self, tenant: TenantId, target: &TenantTarget, budget: usize) -> Plan {
        let server = self.server(target.server, budget);
        let (free_permit, notify) = (server.permits < server.budget, server.notify.clone());
        let slots = self.tenants.entry(tenant).or_insert_with(|| TenantSlots {
            server: target.server,
            max: target.max_connections.max(1),
            generation: 0,
            idle: Vec::new(),
            leased: 0,
            connecting: 0,
        });
        slots.max = target.max_connections.max(1);
        if slots.leased + slots.connecting + slots.idle.len() == 0 {
            slots.server = target.server; // the tenant may have moved since its last lease
        }
        let generation = slots.generation;
        if let Some(idle) = slots.idle.pop() {
            slots.leased += 1;
            return Plan::Take(idle.slot, generation);
        }
        if slots.leased + slots.connecting >= slots.max {
            return Plan::Wait(notify.notified_owned());
        }
        if free_permit {
            slots.connecting += 1;
            self.server(target.server, budget).permits += 1;
            return Plan::Open(generation);
        }
        match self.take_lru_idle(target.server, tenant) {
            Some(victim) => {
                let slots = self.tenants.get_mut(&tenant).expect("inserted above");
                slots.connecting += 1;
                Plan::Steal(victim, generation)
            }
            None => Plan::Wait(notify.notified_owned()),
        }
    }

    /// Removes the server's least recently used idle slot of a tenant other than `except`.
    fn take_lru_idle(&mut self, server: ServerKey, except: TenantId) -> Option<Slot> {
        let (victim, _) = self
            .tenants
            .iter()
            .filter(|(id, s)| **id != except && s.server == server && !s.idle.is_empty())
            .map(|(id, s)| (*id, s.idle[0].since))
            .min_by_key(|(_, since)| *since)?;
        let slots = self.tenants.get_mut(&victim)?;
        let slot = slots.idle.remove(0).slot;
        Some(slot)
    }

    /// A new slot for `tenant` connected: it is leased to the caller.
    pub(crate) fn opened(&mut self, tenant: TenantId) {
        if let Some(s) = self.tenants.get_mut(&tenant) {
            s.connecting -= 1;
            s.leased += 1;
        }
    }

    /// A new slot for `tenant` failed to connect: its permit goes back.
    pub(crate) fn open_failed(&mut self, tenant: TenantId, server: ServerKey) {
        if let Some(s) = self.tenants.get_mut(&tenant) {
            s.connecting -= 1;
        }
        self.closed(server);
    }

    /// A lease ends. Returns the slot if it must be closed (its tenant was retired meanwhile).
    pub(crate) fn release(
        &mut self,
        tenant: TenantId,
        generation: u64,
        slot: Slot,
    ) -> Option<(ServerKey, Slot)> {
        let s = self.tenants.get_mut(&tenant)?;
        s.leased -= 1;
        let server = s.server;
        let to_close = if s.generation == generation {
            s.idle.push(IdleSlot {
                slot,
                since: Instant::now(),
            });
            None
        } else {
            Some((server, slot))
        };
        self.wake(server);
        to_close
    }

    /// Retires a tenant (evicted or invalidated): returns its idle slots to close now; leased
    /// ones are closed as they come back.
    pub(crate) fn retire(&mut self, tenant: TenantId) -> Vec<(ServerKey, Slot)> {
        let Some(s) = self.tenants.get_mut(&tenant) else {
            return Vec::new();
        };
        s.generation += 1;
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

    fn wake(&self, server: ServerKey) {
        if let Some(srv) = self.servers.get(&server) {
            srv.notify.notify_waiters();
        }
    }

    /// Idle slots beyond each tenant's most recent one, idle for longer than `after`.
    pub(crate) fn reap(&mut self, after: Duration) -> Vec<(ServerKey, Slot)> {
        let now = Instant::now();
        let mut out = Vec::new();
        for s in self.tenants.values_mut() {
            while s.idle.len() > 1 && now.duration_since(s.idle[0].since) >= after {
                out.push((s.server, s.idle.remove(0).slot));
            }
        }
        out
    }

    /// (server, permits, idle, leased, connecting) per server.
    pub(crate) fn census(&self) -> Vec<(ServerKey, usize, usize, usize, usize)> {
        self.servers
            .iter()
            .map(|(key, srv)| {
                let (mut idle, mut leased, mut connecting) = (0, 0, 0);
                for s in self.tenants.values().filter(|s| s.server == *key) {
                    idle += s.idle.len();
                    leased += s.leased;
                    connecting += s.connecting;
                }
                (*key, srv.permits, idle, leased, connecting)
            })
            .collect()
    }
}
