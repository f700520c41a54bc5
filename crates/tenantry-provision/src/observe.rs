//! Telling whoever started an action which operation it recorded, as soon as the row exists.
//!
//! The admin API answers a long action (create, delete, migrate) with `202` and the operation's
//! id to poll, while the action runs on. The action may also be refused before recording
//! anything (busy tenant, wrong status), and then the caller wants that error instead. So the
//! caller runs the action inside [`reporting_operation`], and every place that records an
//! operation calls [`operation_started`]: the first one reached is reported. Outside such a scope
//! (the CLI, tests), reporting does nothing.

use std::future::Future;
use std::sync::Mutex;

use tokio::sync::oneshot;
use uuid::Uuid;

tokio::task_local! {
    static REPORT_TO: Mutex<Option<oneshot::Sender<Uuid>>>;
}

/// Runs `action`, sending the id of the first operation it records to `started`. Dropping
/// `started` unsent (the action recorded none) closes the channel.
pub async fn reporting_operation<F: Future>(
    started: oneshot::Sender<Uuid>,
    action: F,
) -> F::Output {
    REPORT_TO.scope(Mutex::new(Some(started)), action).await
}

/// Reports that the running action recorded `operation` (only the first report counts).
pub fn operation_started(operation: Uuid) {
    let _ = REPORT_TO.try_with(|slot| {
        if let Some(tx) = slot.lock().map(|mut s| s.take()).ok().flatten() {
            let _ = tx.send(operation);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_operation_is_reported_and_none_outside_a_scope() {
        operation_started(Uuid::nil());
        let (tx, rx) = oneshot::channel();
        let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
        reporting_operation(tx, async {
            operation_started(first);
            operation_started(second);
        })
        .await;
        assert_eq!(rx.await.unwrap(), first);
        let (tx, rx) = oneshot::channel();
        reporting_operation(tx, async {}).await;
        assert!(rx.await.is_err());
    }
}
