use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::target::ServerKey;

#[derive(Default)]
pub(crate) struct Counters {
    pub hits: AtomicU64,
    pub opens: AtomicU64,
    pub steals: AtomicU64,
    pub open_failures: AtomicU64,
    pub fast_failures: AtomicU64,
    pub waits: AtomicU64,
    pub timeouts: AtomicU64,
    pub evictions: AtomicU64,
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A snapshot for the admin API and metrics.
#[derive(Debug, Clone, Serialize)]
pub struct PoolStats {
    pub cached_tenants: u64,
    pub capacity: u64,
    /// Leases served by an idle connection.
    pub hits: u64,
    /// Leases that opened a connection (misses).
    pub opens: u64,
    /// Opens that took the budget of another tenant's idle connection.
    pub steals: u64,
    pub open_failures: u64,
    /// Requests refused at once because their tenant failed moments ago.
    pub fast_failures: u64,
    pub waits: u64,
    pub timeouts: u64,
    pub evictions: u64,
    pub servers: Vec<ServerStats>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerStats {
    /// `None` = the local SQLite directory.
    pub server: ServerKey,
    pub budget: usize,
    /// Connections counted against the budget (idle + busy + connecting + closing).
    pub open: usize,
    pub idle: usize,
    pub busy: usize,
    pub connecting: usize,
}

/// One tenant's connections in this process (`GET /admin/v1/tenants/{id}/health`).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct TenantPoolStats {
    /// Whether this process holds connections (or waiters) for the tenant at all.
    pub cached: bool,
    /// The most it may hold now (its plan's connections, or fewer while its server refuses).
    pub max: usize,
    pub idle: usize,
    pub busy: usize,
    pub connecting: usize,
    pub waiting: usize,
}

impl Counters {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
