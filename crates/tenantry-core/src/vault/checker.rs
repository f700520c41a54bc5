//! [`PasswordChecker`]: argon2id checks on a fixed set of threads behind a bounded queue.
//!
//! argon2id at its default cost works in ~19 MiB per check. Run on an unbounded pool of
//! blocking threads, every concurrent login got its own thread, and glibc kept each thread's
//! freed 19 MiB in that thread's arena for good: 48 concurrent wrong logins grew the server by
//! ~750 MB. Here a fixed set of `workers` threads bounds the CPU spent on passwords, and a
//! bounded queue in front of them turns overload into an immediate [`CheckerError::Busy`]
//! instead of a pile of waiting requests.
//!
//! Each worker also allocates argon2's working memory once and reuses it for every check
//! (`scratch.rs`), so the memory is `workers` × 19 MiB, flat. Letting argon2 allocate per check
//! is not enough even on a few threads: its 64-byte-aligned 19 MiB blocks fragment glibc's
//! per-thread heaps, which were measured keeping ~200 MB resident after 200 checks on 2 threads.
//!
//! A queued check whose caller has gone away (client disconnected) is skipped, not computed.
//! The cost is never lowered here: hashes use argon2's defaults, checks use the cost recorded
//! in the stored hash.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use secrecy::SecretString;
use tokio::sync::oneshot;

use super::password::PasswordError;
use scratch::{Scratch, decoy_hash};

mod scratch;

/// Why a password could not be checked or hashed.
#[derive(Debug, thiserror::Error)]
pub enum CheckerError {
    /// Every worker is busy and the queue is full; nothing was done. Retry shortly.
    #[error("password checks are saturated; retry shortly")]
    Busy,
    /// The stored hash is unreadable, or hashing failed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The checker is shutting down.
    #[error("the password checker has stopped")]
    Stopped,
}

/// A snapshot of the checker's load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckerStats {
    pub workers: usize,
    pub queue: usize,
    /// Checks being computed now.
    pub busy: usize,
    /// Checks accepted and waiting for a worker.
    pub queued: usize,
    /// The most checks ever computed at once (never above `workers`).
    pub peak_busy: usize,
    /// Checks refused with [`CheckerError::Busy`] so far.
    pub rejected: u64,
}

enum Job {
    Verify {
        password: SecretString,
        phc: String,
        reply: oneshot::Sender<Result<bool, PasswordError>>,
    },
    Hash {
        password: SecretString,
        reply: oneshot::Sender<Result<String, PasswordError>>,
    },
}

impl Job {
    fn abandoned(&self) -> bool {
        match self {
            Job::Verify { reply, .. } => reply.is_closed(),
            Job::Hash { reply, .. } => reply.is_closed(),
        }
    }

    fn run(self, scratch: &mut Scratch) {
        // A send fails only if the caller left meanwhile; the answer is then of no use.
        match self {
            Job::Verify {
                password,
                phc,
                reply,
            } => drop(reply.send(scratch.verify(&password, &phc))),
            Job::Hash { password, reply } => drop(reply.send(scratch.hash(&password))),
        }
    }
}

#[derive(Default)]
struct Gauges {
    busy: AtomicUsize,
    queued: AtomicUsize,
    peak_busy: AtomicUsize,
    rejected: AtomicU64,
    stopping: AtomicBool,
}

/// Password hashing and checking on `workers` dedicated threads. Dropping it stops the threads
/// (it waits for the checks in progress, skips the queued ones).
pub struct PasswordChecker {
    queue: Option<SyncSender<Job>>,
    threads: Vec<JoinHandle<()>>,
    gauges: Arc<Gauges>,
    queue_len: usize,
    decoy: String,
}

impl PasswordChecker {
    /// Starts `workers` threads (at least one) behind a queue of `queue` waiting checks. With
    /// `queue = 0` a check is accepted only while a worker is idle.
    pub fn new(workers: usize, queue: usize) -> std::io::Result<Self> {
        let (sender, receiver) = sync_channel(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        let gauges = Arc::new(Gauges::default());
        let mut checker = Self {
            queue: Some(sender),
            threads: Vec::new(),
            gauges: gauges.clone(),
            queue_len: queue,
            decoy: decoy_hash(),
        };
        for _ in 0..workers.max(1) {
            let (receiver, gauges) = (receiver.clone(), gauges.clone());
            // On failure, `checker` is dropped here and stops the threads already started.
            let thread = std::thread::Builder::new()
                .name("password-check".into())
                .spawn(move || work(&receiver, &gauges))?;
            checker.threads.push(thread);
        }
        Ok(checker)
    }

    /// Whether `password` matches `phc_hash` (a PHC string from [`hash_password`]).
    pub async fn verify(
        &self,
        password: SecretString,
        phc_hash: String,
    ) -> Result<bool, CheckerError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Verify {
            password,
            phc: phc_hash,
            reply,
        })?;
        Ok(answer.await.map_err(|_| CheckerError::Stopped)??)
    }

    /// An argon2id PHC string for `password`, at argon2's default cost.
    pub async fn hash(&self, password: SecretString) -> Result<String, CheckerError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash { password, reply })?;
        Ok(answer.await.map_err(|_| CheckerError::Stopped)??)
    }

    /// A hash no password matches, with the same cost as a fresh [`hash_password`]: checking
    /// an unknown user's password against it takes as long as checking a real user's.
    pub fn decoy_hash(&self) -> &str {
        &self.decoy
    }

    pub fn stats(&self) -> CheckerStats {
        CheckerStats {
            workers: self.threads.len(),
            queue: self.queue_len,
            busy: self.gauges.busy.load(Ordering::Relaxed),
            queued: self.gauges.queued.load(Ordering::Relaxed),
            peak_busy: self.gauges.peak_busy.load(Ordering::Relaxed),
            rejected: self.gauges.rejected.load(Ordering::Relaxed),
        }
    }

    fn submit(&self, job: Job) -> Result<(), CheckerError> {
        let queue = self.queue.as_ref().ok_or(CheckerError::Stopped)?;
        // Counted before the send, so a worker never takes a job the gauge has not seen.
        self.gauges.queued.fetch_add(1, Ordering::Relaxed);
        match queue.try_send(job) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.gauges.queued.fetch_sub(1, Ordering::Relaxed);
                match e {
                    TrySendError::Full(_) => {
                        self.gauges.rejected.fetch_add(1, Ordering::Relaxed);
                        Err(CheckerError::Busy)
                    }
                    TrySendError::Disconnected(_) => Err(CheckerError::Stopped),
                }
            }
        }
    }
}

impl Drop for PasswordChecker {
    fn drop(&mut self) {
        self.gauges.stopping.store(true, Ordering::Relaxed);
        // Closing the queue ends each worker's `recv` once the queue is drained.
        self.queue = None;
        for thread in self.threads.drain(..) {
            // A worker never panics out of its loop (jobs run under `catch_unwind`).
            let _ = thread.join();
        }
    }
}

fn work(receiver: &Mutex<Receiver<Job>>, gauges: &Gauges) {
    let mut scratch = Scratch::default();
    loop {
        // The lock is held only while waiting for a job, never while computing one.
        let job = receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        let Ok(job) = job else { return };
        gauges.queued.fetch_sub(1, Ordering::Relaxed);
        if gauges.stopping.load(Ordering::Relaxed) || job.abandoned() {
            continue;
        }
        let busy = gauges.busy.fetch_add(1, Ordering::Relaxed) + 1;
        gauges.peak_busy.fetch_max(busy, Ordering::Relaxed);
        // A panic would otherwise kill the thread and shrink the pool for good; the caller sees
        // `Stopped` (its reply sender is dropped).
        let _ = catch_unwind(AssertUnwindSafe(|| job.run(&mut scratch)));
        gauges.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version};

    use super::*;
    use crate::vault::hash_password;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s)
    }

    /// ~16× longer to check than a default hash (the most a stored hash may ask for: 4× the
    /// memory and 4× the passes), so a test can keep a worker busy for a while.
    fn slow_hash(password: &str) -> String {
        let params = Params::new(
            4 * Params::DEFAULT_M_COST,
            4 * Params::DEFAULT_T_COST,
            1,
            None,
        )
        .unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(password.as_bytes())
            .unwrap()
            .to_string()
    }

    async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let checker = Arc::new(PasswordChecker::new(1, 1).unwrap());
        let slow = slow_hash("pw");
        let running = tokio::spawn({
            let (checker, slow) = (checker.clone(), slow.clone());
            async move { checker.verify(secret("pw"), slow).await }
        });
        wait_for("the worker to start", || checker.stats().busy == 1).await;
        let queued = tokio::spawn({
            let (checker, slow) = (checker.clone(), slow.clone());
            async move { checker.verify(secret("pw"), slow).await }
        });
        wait_for("a queued check", || checker.stats().queued == 1).await;

        let started = Instant::now();
        let refused = checker.verify(secret("pw"), slow).await;
        let waited = started.elapsed();
        assert!(matches!(refused, Err(CheckerError::Busy)), "{refused:?}");
        assert!(!running.is_finished(), "Busy must not wait for the worker");
        assert!(
            waited < Duration::from_millis(50),
            "refusal took {waited:?}"
        );
        assert_eq!(checker.stats().rejected, 1);
        // The accepted checks still complete, right.
        assert!(running.await.unwrap().unwrap());
        assert!(queued.await.unwrap().unwrap());
    }

    #[tokio::test]
    async fn never_more_checks_at_once_than_workers() {
        let checker = Arc::new(PasswordChecker::new(2, 16).unwrap());
        let hash = hash_password(&secret("pw")).unwrap();
        let mut peak_seen = 0;
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let (checker, hash) = (checker.clone(), hash.clone());
                let guess = if i % 2 == 0 { "pw" } else { "wrong" };
                tokio::spawn(async move { (i % 2 == 0, checker.verify(secret(guess), hash).await) })
            })
            .collect();
        while !tasks.iter().all(|t| t.is_finished()) {
            peak_seen = peak_seen.max(checker.stats().busy);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for task in tasks {
            let (right, verified) = task.await.unwrap();
            assert_eq!(verified.unwrap(), right);
        }
        // A worker lowers `busy` just after it has sent its answer: let the last one get there.
        wait_for("the workers to go idle", || checker.stats().busy == 0).await;
        let stats = checker.stats();
        // Never a third check at once. (Whether both workers overlapped depends on the OS
        // scheduler: on a loaded machine one may finish before the other starts.)
        assert!((1..=2).contains(&stats.peak_busy), "{stats:?}");
        assert!(peak_seen <= 2, "sampled {peak_seen} checks at once");
        assert_eq!((stats.busy, stats.queued, stats.rejected), (0, 0, 0));
    }

    #[tokio::test]
    async fn dropping_the_checker_stops_its_threads() {
        let checker = PasswordChecker::new(3, 4).unwrap();
        assert_eq!(checker.stats().workers, 3);
        let hash = checker.hash(secret("pw")).await.unwrap();
        assert!(checker.verify(secret("pw"), hash).await.unwrap());
        let gauges = Arc::downgrade(&checker.gauges);
        drop(checker);
        // Every thread held the gauges until it returned; `drop` joined them all.
        assert!(
            gauges.upgrade().is_none(),
            "a worker thread outlived the checker"
        );
    }
}
