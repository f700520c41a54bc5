//! Long operations started over HTTP run here, on a bounded worker set: at most `workers` run at
//! once and at most `queue` more wait for a worker; beyond that a new one is refused as `Busy`
//! before anything is written. Nothing is ever spawned without a slot.
//!
//! A job answers as soon as it has *started* — its operation row is written, so it has an id to
//! poll — or as soon as it ends, whichever comes first: a request refused by the provisioner
//! (busy tenant, wrong status, unknown plan) is answered with its error, not with an operation.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, oneshot};
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::OpsError;

/// How a submitted job stands when its submitter gets an answer.
#[derive(Debug)]
pub enum Submitted<T> {
    /// The job recorded its operation (the id) and runs on; `done` resolves when it ends.
    Started { operation: Uuid, done: Done<T> },
    /// The job ended before recording an operation (refused, or nothing to do).
    Finished(Result<T, OpsError>),
}

/// The end of a started job, for a submitter willing to wait (`Prefer: wait=N`).
#[derive(Debug)]
pub struct Done<T>(oneshot::Receiver<Result<T, OpsError>>);

impl<T> Done<T> {
    /// The job's result if it ends within `timeout`; `None` if it is still running (or its
    /// process is stopping and it will be finished by `reconcile`).
    pub async fn wait(self, timeout: Duration) -> Option<Result<T, OpsError>> {
        tokio::time::timeout(timeout, self.0).await.ok()?.ok()
    }
}

/// The bounded worker set.
#[derive(Clone)]
pub struct Jobs {
    /// Jobs admitted: running or waiting for a worker.
    admitted: Arc<Semaphore>,
    /// Jobs running.
    running: Arc<Semaphore>,
    tracker: TaskTracker,
}

impl Jobs {
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        Self {
            admitted: Arc::new(Semaphore::new(workers + queue)),
            running: Arc::new(Semaphore::new(workers)),
            tracker: TaskTracker::new(),
        }
    }

    /// Runs `job` on a worker. The answer comes once `job` records its operation (the
    /// provisioner reports it through [`tenantry_provision::reporting_operation`]), or when `job`
    /// ends. Refused with `Busy` when every worker and queue place is taken.
    pub async fn submit<T, Fut>(&self, job: Fut) -> Result<Submitted<T>, OpsError>
    where
        T: Send + 'static,
        Fut: Future<Output = Result<T, OpsError>> + Send + 'static,
    {
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| OpsError::Busy {
                what: "the operation queue".into(),
            })?;
        let running = self.running.clone();
        let (started_tx, started_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        self.tracker.spawn(async move {
            let _admitted = admitted;
            let Ok(_running) = running.acquire_owned().await else {
                return;
            };
            let result = tenantry_provision::reporting_operation(started_tx, job).await;
            let _ = done_tx.send(result);
        });
        Ok(match started_rx.await {
            Ok(operation) => Submitted::Started {
                operation,
                done: Done(done_rx),
            },
            // The job ended without starting an operation: its result is the answer.
            Err(_) => match done_rx.await {
                Ok(result) => Submitted::Finished(result),
                Err(_) => Submitted::Finished(Err(OpsError::Stopping)),
            },
        })
    }

    /// Stops admitting jobs and waits up to `grace` for running ones; what is still running
    /// after that is left to `reconcile` (its heartbeat stops with the process).
    pub async fn shut_down(&self, grace: Duration) {
        self.admitted.close();
        self.tracker.close();
        let _ = tokio::time::timeout(grace, self.tracker.wait()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_answers_when_it_starts_and_again_when_it_ends() {
        let jobs = Jobs::new(1, 0);
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let id = Uuid::now_v7();
        let submitted = jobs
            .submit(async move {
                tenantry_provision::operation_started(id);
                go_rx.await.ok();
                Ok(7)
            })
            .await
            .unwrap();
        let Submitted::Started { operation, done } = submitted else {
            panic!("expected a started job");
        };
        assert_eq!(operation, id);
        go_tx.send(()).unwrap();
        assert_eq!(done.wait(Duration::from_secs(5)).await.unwrap().unwrap(), 7);
    }

    #[tokio::test]
    async fn a_refused_job_answers_with_its_error() {
        let jobs = Jobs::new(1, 0);
        let submitted = jobs
            .submit(async {
                Err::<(), _>(OpsError::Invalid {
                    field: "x".into(),
                    message: "no".into(),
                })
            })
            .await
            .unwrap();
        assert!(matches!(
            submitted,
            Submitted::Finished(Err(OpsError::Invalid { .. }))
        ));
    }

    #[tokio::test]
    async fn beyond_workers_and_queue_a_job_is_refused_at_once() {
        let jobs = Jobs::new(1, 1);
        let (hold_tx, hold_rx) = tokio::sync::watch::channel(false);
        let held = |mut hold: tokio::sync::watch::Receiver<bool>| async move {
            tenantry_provision::operation_started(Uuid::now_v7());
            hold.wait_for(|go| *go).await.ok();
            Ok(())
        };
        // One running, one queued behind it (its submitter waits until it starts).
        let first = jobs.submit(held(hold_rx.clone())).await.unwrap();
        assert!(matches!(first, Submitted::Started { .. }));
        let queued = tokio::spawn({
            let jobs = jobs.clone();
            let hold = hold_rx.clone();
            async move { jobs.submit(held(hold)).await.map(|_| ()) }
        });
        while jobs.admitted.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let third = tokio::time::timeout(Duration::from_millis(200), jobs.submit(async { Ok(()) }))
            .await
            .expect("a refusal is immediate");
        assert!(matches!(third, Err(OpsError::Busy { .. })));
        hold_tx.send(true).unwrap();
        queued.await.unwrap().unwrap();
        jobs.shut_down(Duration::from_secs(5)).await;
    }
}
