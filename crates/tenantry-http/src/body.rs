//! Reading a request body whole, within a deadline, before anything of the tenant is touched.
//!
//! actix-web bounds the time to read a request's head (`client_request_timeout`) but not its
//! body: a client announcing `Content-Length: 1000` and sending ten bytes would otherwise keep a
//! handler — and the tenant connection it leased — waiting for as long as the socket stays open.

use std::time::Duration;

use actix_web::HttpMessage as _;
use actix_web::dev::{Payload, ServiceRequest};
use actix_web::web::{Bytes, BytesMut};
use futures::StreamExt as _;

use crate::JSON_LIMIT;

/// At most this much is allocated before the body's bytes arrive.
const PREALLOCATE: usize = 4096;
use crate::error::ApiError;

/// Reads the body into memory (at most [`JSON_LIMIT`] bytes) within `deadline`, and puts it back
/// as the request's payload, so extractors find it complete. Too slow → 408; too large → 413.
pub(crate) async fn read_whole(
    req: &mut ServiceRequest,
    deadline: Duration,
) -> Result<(), ApiError> {
    let announced = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|n| n > JSON_LIMIT) {
        return Err(ApiError::PayloadTooLarge { limit: JSON_LIMIT });
    }
    let mut payload = req.take_payload();
    if matches!(payload, Payload::None) {
        // No body at all (a GET without Content-Length): nothing to wait for.
        return Ok(());
    }
    // Grown as bytes arrive: an announced length costs nothing until it is sent.
    let mut body = BytesMut::with_capacity(announced.unwrap_or(0).min(PREALLOCATE));
    let read = async {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|e| ApiError::BadRequest(format!("cannot read the request body: {e}")))?;
            if body.len() + chunk.len() > JSON_LIMIT {
                return Err(ApiError::PayloadTooLarge { limit: JSON_LIMIT });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    };
    tokio::time::timeout(deadline, read)
        .await
        .map_err(|_| ApiError::RequestTimeout)??;
    req.set_payload(Payload::from(Bytes::from(body)));
    Ok(())
}
