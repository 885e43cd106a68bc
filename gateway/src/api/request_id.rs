//! Request ids: every request gets one — the client's `X-Request-Id` when it sends a sane one,
//! otherwise a fresh UUID — echoed in the answer, attached to every log line of the request
//! (a tracing span), written to the audit rows it causes, and logged once with the outcome.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being handled on this task, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Accept a client's id only when it is short and plain (it goes into logs and the audit trail).
fn from_client(value: Option<&HeaderValue>) -> Option<String> {
    let v = value?.to_str().ok()?;
    let plain = v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    (plain && (1..=64).contains(&v.len())).then(|| v.to_owned())
}

pub async fn layer(request: Request, next: Next) -> Response {
    let id = from_client(request.headers().get(HEADER))
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let started = Instant::now();
    let mut response = CURRENT
        .scope(id.clone(), next.run(request).instrument(span.clone()))
        .await;
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            status,
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "request"
        )
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, v);
    }
    response
}
