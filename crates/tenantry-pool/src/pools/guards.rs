//! Guards that give back what an acquire holds when its future is dropped part-way: a place in
//! line (and a slot handed to it meanwhile), and a permit reserved for an open.

use std::sync::Arc;

use tenantry_core::TenantId;

use super::Inner;
use crate::conn::Slot;
use crate::state::Wake;
use crate::target::ServerKey;

/// An acquire waiting in line. If it is dropped (cancelled, or its time ran out) after a slot
/// was handed to it, the slot is released again — to the next in line — instead of being lost
/// with its permit; a `Retry` it can no longer use is passed on.
pub(super) struct Waiting {
    pub(super) woken: Option<tokio::sync::oneshot::Receiver<Wake<Slot>>>,
    pub(super) inner: Arc<Inner>,
    pub(super) tenant: TenantId,
    pub(super) server: ServerKey,
}

impl Waiting {
    /// The wake-up; `None` if the line was dropped. Cancellation-safe.
    pub(super) async fn recv(&mut self) -> Option<Wake<Slot>> {
        let woken = self.woken.as_mut()?.await.ok();
        self.woken = None;
        woken
    }

    /// Stops waiting: a slot handed over meanwhile is returned to the caller.
    pub(super) fn give_up(&mut self) -> Option<(Slot, u64)> {
        let mut woken = self.woken.take()?;
        woken.close();
        match woken.try_recv() {
            Ok(Wake::Slot(slot, generation)) => Some((slot, generation)),
            Ok(Wake::Retry) => {
                self.inner.state().pass_on_retry(self.tenant, self.server);
                None
            }
            Err(_) => None,
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some((slot, generation)) = self.give_up() {
            self.inner.give_back(self.tenant, generation, slot);
        }
    }
}

/// Returns a reserved permit if an open is abandoned (its future dropped) before it finished.
pub(super) struct PendingOpen {
    pub(super) inner: Arc<Inner>,
    pub(super) tenant: TenantId,
    pub(super) server: ServerKey,
    pub(super) victim_closed: Option<tokio::task::JoinHandle<()>>,
    pub(super) done: bool,
}

impl Drop for PendingOpen {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (inner, tenant, server) = (self.inner.clone(), self.tenant, self.server);
        match self.victim_closed.take() {
            Some(closing) => {
                self.inner.runtime.spawn(async move {
                    closing.await.ok();
                    inner.state().open_failed(tenant, server);
                });
            }
            None => inner.state().open_failed(tenant, server),
        }
    }
}
