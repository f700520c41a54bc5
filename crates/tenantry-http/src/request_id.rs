//! Outermost behaviour every response shares: an `x-request-id` header (the id of the request's
//! tracing span), and a JSON error body even for answers the framework builds itself (unknown
//! route, 405, extractor errors).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use tracing_actix_web::RequestId;

use crate::error::{ApiError, REQUEST_ID};

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = req
        .extensions()
        .get::<RequestId>()
        .map(ToString::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let header = HeaderValue::from_str(&id).ok();
    let with_id = move |mut res: HttpResponse| {
        if let Some(value) = header.clone() {
            res.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        res
    };
    // Error bodies name the request id (read from this task-local), so they are rendered here.
    REQUEST_ID
        .scope(id.clone(), async move {
            match next.call(req).await {
                Ok(res) => {
                    let (req, res) = res.map_into_boxed_body().into_parts();
                    Ok(ServiceResponse::new(req, with_id(as_json_error(res))))
                }
                Err(e) => {
                    let res = with_id(as_json_error(e.error_response()));
                    Err(InternalError::from_response(e.to_string(), res).into())
                }
            }
        })
        .await
}

/// An error answer that is not JSON yet becomes the JSON error of its status.
fn as_json_error(res: HttpResponse) -> HttpResponse {
    let status = res.status();
    let is_json = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let error = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge {
            limit: crate::JSON_LIMIT,
        },
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        s if s.is_client_error() => ApiError::BadRequest(
            s.canonical_reason()
                .unwrap_or("bad request")
                .to_ascii_lowercase(),
        ),
        _ => ApiError::Internal("the server failed to answer".into()),
    };
    let mut body = error.error_response();
    // Keep the framework's status (e.g. 408, 431) even when our variant is generic, and the
    // methods a 405 names (RFC 9110: a 405 must say which methods the resource has).
    *body.status_mut() = status;
    if let Some(allow) = res.headers().get(actix_web::http::header::ALLOW) {
        body.headers_mut()
            .insert(actix_web::http::header::ALLOW, allow.clone());
    }
    body
}
