//! A line of waiting acquires, and which thread each waits on.
//!
//! An HTTP worker is one thread running its own single-threaded runtime, and a connection's
//! socket is registered with the reactor of the thread that opened it (its [`Home`]). Used from
//! another worker, every reply is first seen by the home thread, which then wakes the user's
//! thread: two threads and a cross-thread wake per round trip. So a released slot goes to the
//! oldest waiter on its home thread, unless the line's oldest waiter has waited `patience`
//! already: then to that oldest one, whatever its thread (no waiter starves behind another
//! thread's).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::Wake;

/// The thread a connection was opened on, or an acquire waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Home(u32);

impl Home {
    /// The calling thread's.
    pub(crate) fn current() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        thread_local! {
            static HOME: u32 = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        Self(HOME.with(|home| *home))
    }
}

/// A slot knows its home.
pub(crate) trait Homed {
    fn home(&self) -> Home;
}

struct Waiter<S> {
    woken: oneshot::Sender<Wake<S>>,
    home: Home,
    since: Instant,
}

/// Waiting acquires, oldest first.
pub(super) struct Line<S> {
    waiters: VecDeque<Waiter<S>>,
    /// Since when the line has not been empty (set by a push onto an empty line).
    queued_since: Option<Instant>,
}

impl<S> Line<S> {
    pub(super) fn new() -> Self {
        Self {
            waiters: VecDeque::new(),
            queued_since: None,
        }
    }

    /// Queues the calling thread's acquire at the end of the line.
    pub(super) fn push(&mut self) -> oneshot::Receiver<Wake<S>> {
        let now = Instant::now();
        if self.waiters.is_empty() {
            self.queued_since = Some(now);
        }
        let (woken, receiver) = oneshot::channel();
        self.waiters.push_back(Waiter {
            woken,
            home: Home::current(),
            since: now,
        });
        receiver
    }

    pub(super) fn len(&self) -> usize {
        self.waiters.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// How long the line has not been empty (waiters come and go; the line stays).
    pub(super) fn queued_for(&self, now: Instant) -> Duration {
        match self.queued_since {
            Some(since) if !self.waiters.is_empty() => now.saturating_duration_since(since),
            _ => Duration::ZERO,
        }
    }

    /// Wakes the oldest waiter still waiting with `Retry` (one that gave up is skipped).
    /// Returns whether one was woken.
    pub(super) fn retry_one(&mut self) -> bool {
        while let Some(waiter) = self.waiters.pop_front() {
            if waiter.woken.send(Wake::Retry).is_ok() {
                return true;
            }
        }
        false
    }

    /// Hands `slot` (opened on `home`) to a waiter: the oldest on `home`, or the oldest of all
    /// once it has waited `patience`. Gives the slot back if nobody is waiting any more.
    pub(super) fn hand(
        &mut self,
        mut slot: S,
        generation: u64,
        home: Home,
        patience: Duration,
    ) -> Result<(), S> {
        let now = Instant::now();
        while let Some(index) = self.pick(home, now, patience) {
            let waiter = self.waiters.remove(index).expect("picked from the line");
            match waiter.woken.send(Wake::Slot(slot, generation)) {
                Ok(()) => return Ok(()),
                // That waiter gave up: the slot comes back, try the next.
                Err(Wake::Slot(back, _)) => slot = back,
                Err(Wake::Retry) => unreachable!("a slot was sent"),
            }
        }
        Err(slot)
    }

    fn pick(&self, home: Home, now: Instant, patience: Duration) -> Option<usize> {
        let oldest = self.waiters.front()?;
        if oldest.home == home || now.saturating_duration_since(oldest.since) >= patience {
            return Some(0);
        }
        Some(
            self.waiters
                .iter()
                .position(|w| w.home == home)
                .unwrap_or(0),
        )
    }
}
