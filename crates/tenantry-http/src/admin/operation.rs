//! Answers for long actions: `202 Accepted` with the operation to poll, or — with `Prefer:
//! wait=N` (RFC 7240, N ≤ 60) — `200` with its final state if it ends within N seconds.

use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};
use tenantry_ops::{OperationView, OpsError, Submitted};
use uuid::Uuid;

use super::idempotency::Answer;
use crate::AppState;
use crate::error::ApiError;

/// Longest `Prefer: wait`.
pub const MAX_WAIT_SECS: u64 = 60;
/// How soon a wait on an operation run elsewhere first re-reads it; each later read waits half
/// as long again, up to [`POLL_AT_MOST`].
const POLL_FIRST: Duration = Duration::from_millis(100);
const POLL_AT_MOST: Duration = Duration::from_secs(1);
/// Requests waiting on operations at once, per process. Beyond that a wait is not granted (RFC
/// 7240 lets a server ignore a preference): the operation is answered as it stands, at once, so
/// waiting clients cannot multiply the reads on the master.
const MAX_WAITERS: usize = 64;

/// The waits on operations a process grants at once (see [`MAX_WAITERS`]).
#[derive(Clone)]
pub struct Waits(Arc<tokio::sync::Semaphore>);

impl Default for Waits {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::Semaphore::new(MAX_WAITERS)))
    }
}

/// `Prefer: wait=N`, capped at [`MAX_WAIT_SECS`]; zero without the header.
pub fn preferred_wait(req: &HttpRequest) -> Duration {
    let secs = req
        .headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .filter_map(|p| p.trim().strip_prefix("wait="))
        .find_map(|n| n.trim().parse::<u64>().ok())
        .unwrap_or(0);
    Duration::from_secs(secs.min(MAX_WAIT_SECS))
}

pub async fn operation(state: &AppState, id: Uuid) -> Result<OperationView, ApiError> {
    Ok(state.ops.operation(id).await?)
}

/// Waits up to `wait` for operation `id` to finish (polling the master, less and less often: it
/// may run in another process), and returns it as it then stands. With [`MAX_WAITERS`] waits
/// already running, answers at once.
pub async fn wait_for(
    state: &AppState,
    id: Uuid,
    wait: Duration,
) -> Result<OperationView, ApiError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut op = operation(state, id).await?;
    let Ok(_waiting) = state.waits.0.try_acquire() else {
        return Ok(op);
    };
    let mut pause = POLL_FIRST;
    while !op.is_finished() {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            break;
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 3 / 2).min(POLL_AT_MOST);
        op = operation(state, id).await?;
    }
    Ok(op)
}

/// The body of an operation answer: the operation, its result once it has one, and `extra`
/// (fields the caller sees once, such as a generated password).
fn body(op: &OperationView, result: Option<Value>, extra: &Value) -> Result<Value, ApiError> {
    let mut body = serde_json::to_value(op).map_err(ApiError::internal)?;
    body["result"] = result.unwrap_or(Value::Null);
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    Ok(body)
}

/// Renders a submitted long action: 202 with the operation while it runs; 200 with the final
/// operation (and the action's result) when it ended within the preferred wait; the action's
/// error, or 200 with its result, when it ended before recording an operation.
pub async fn answer<T: Serialize>(
    state: &AppState,
    submitted: Submitted<T>,
    wait: Duration,
    extra: Value,
) -> Result<Answer, ApiError> {
    match submitted {
        Submitted::Finished(Ok(result)) => {
            let mut body = json!({ "result": result });
            if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
                body.extend(extra.clone());
            }
            Answer::new(StatusCode::OK, body)
        }
        Submitted::Finished(Err(e)) => Err(e.into()),
        Submitted::Started { operation, done } => {
            let result = if wait.is_zero() {
                None
            } else {
                done.wait(wait).await
            };
            let op = self::operation(state, operation).await?;
            let (status, result) = match result {
                Some(Ok(result)) => (
                    StatusCode::OK,
                    Some(serde_json::to_value(result).map_err(ApiError::internal)?),
                ),
                // The operation row says how it failed.
                Some(Err(OpsError::Failed(_)) | Err(_)) => (StatusCode::OK, None),
                None => (StatusCode::ACCEPTED, None),
            };
            let status = if op.is_finished() {
                status
            } else {
                StatusCode::ACCEPTED
            };
            Answer::new(status, body(&op, result, &extra)?)
        }
    }
}
