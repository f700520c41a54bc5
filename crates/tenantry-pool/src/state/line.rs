//! A line of waiting acquires, and which thread each waits on.
//!
//! An HTTP worker is one thread running its own single-threaded runtime, and a connection's
//! socket is registered with the reactor of the thread that opened it (its [`Home`]). Used from
//! another worker, every reply is first seen by the home thread, which then wakes the user's
//! thread: two threads and a cross-thread wake per round trip. So a released slot goes to the
//! oldest waiter on its home thread, unless the line's oldest waiter has waited `patience`
//! already: then to that oldest one, whatever its thread (no waiter starves behind another
//! thread's). Which thread opens a tenant's connections is chance (whichever requests came first),
//! so when a slot would go to another thread's waiter while its own thread holds two or more
//! connections of the tenant more than the waiter's, it is closed instead and the waiter opens one
//! on its own thread: the tenant's connections even out over the threads that use them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::Wake;

/// The thread a connection was opened on, or an acquire waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Home(u32);

impl Home {
    /// On a multi-threaded runtime tasks move between threads, which share one reactor: no
    /// thread is a connection's home, and nothing is preferred or moved.
    pub(super) const ANYWHERE: Self = Self(u32::MAX);

    /// The calling thread's.
    pub(crate) fn current() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        thread_local! {
            static HOME: u32 = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        let flavor = tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor());
        if matches!(flavor, Ok(tokio::runtime::RuntimeFlavor::MultiThread)) {
            return Self::ANYWHERE;
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
    /// once it has waited `patience`. A waiter on another thread for which `rehome` says so is
    /// told to open its own instead (`Retry`), and the slot comes back to be closed.
    pub(super) fn hand(
        &mut self,
        mut slot: S,
        generation: u64,
        home: Home,
        patience: Duration,
        rehome: impl Fn(Home) -> bool,
    ) -> Handed<S> {
        let now = Instant::now();
        while let Some(index) = self.pick(home, now, patience) {
            let waiter = self.waiters.remove(index).expect("picked from the line");
            let threads = home != Home::ANYWHERE && waiter.home != Home::ANYWHERE;
            if threads && waiter.home != home && rehome(waiter.home) {
                if waiter.woken.send(Wake::Retry).is_ok() {
                    return Handed::Rehomed(slot);
                }
                continue;
            }
            match waiter.woken.send(Wake::Slot(slot, generation)) {
                Ok(()) => return Handed::Given,
                // That waiter gave up: the slot comes back, try the next.
                Err(Wake::Slot(back, _)) => slot = back,
                Err(Wake::Retry) => unreachable!("a slot was sent"),
            }
        }
        Handed::Nobody(slot)
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

/// What became of a released slot offered to the line.
pub(super) enum Handed<S> {
    /// A waiter has it.
    Given,
    /// A waiter on another thread opens its own instead: close this one.
    Rehomed(S),
    /// Nobody waits for it.
    Nobody(S),
}

/// How many of a tenant's connections (of its current generation) each thread opened.
#[derive(Default)]
pub(super) struct Homes(Vec<(Home, usize)>);

impl Homes {
    pub(super) fn add(&mut self, home: Home) {
        match self.0.iter_mut().find(|(h, _)| *h == home) {
            Some((_, n)) => *n += 1,
            None => self.0.push((home, 1)),
        }
    }

    pub(super) fn remove(&mut self, home: Home) {
        if let Some(at) = self.0.iter().position(|(h, _)| *h == home) {
            self.0[at].1 -= 1;
            if self.0[at].1 == 0 {
                self.0.swap_remove(at);
            }
        }
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }

    fn count(&self, home: Home) -> usize {
        self.0
            .iter()
            .find(|(h, _)| *h == home)
            .map_or(0, |(_, n)| *n)
    }

    /// Whether `from` holds two or more more than `to`: moving one evens them out.
    pub(super) fn lopsided(&self, from: Home, to: Home) -> bool {
        self.count(from) >= self.count(to) + 2
    }
}
