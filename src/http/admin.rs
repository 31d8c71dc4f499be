//! Operator views on the internal listener: `GET /admin/outbox` (what waits for delivery),
//! `POST /admin/backup` (a backup of the running store) and `GET /metrics` (the Prometheus exposition).

use std::io::{self, Write};

use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use tokio::sync::mpsc;

use super::error::ApiError;
use crate::http::state::AppState;

/// `GET /admin/outbox` (internal listener only): depth, the oldest record's age, the most attempts of one
/// record and the latest delivery error — what `digit-user admin outbox` prints for a stopped service.
#[utoipa::path(
    get,
    path = "/admin/outbox",
    tag = "admin",
    summary = "The notification outbox: depth, oldest age, last error (internal listener)",
    responses(
        (status = 200, description = "The outbox", body = crate::http::openapi::admin::Outbox),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn outbox(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = state.login.sessions().now_ms();
    let summary = state
        .registry
        .store()
        .outbox()
        .summary(now)
        .map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "sink": state.settings.sink(),
        "depth": summary.depth,
        "oldestAgeMs": summary.oldest_age_ms,
        "maxAttempts": summary.max_attempts,
        "lastError": summary.last_error,
    })))
}

/// `POST /admin/backup` (internal listener only): a backup of the state while the service keeps serving
/// (`actors::store::Store::backup`), streamed as it is written; what `digit-user admin backup` saves. A
/// backup that fails midway ends the stream without its trailer, which the reader refuses. One at a time: a
/// second while one runs gets 409.
#[utoipa::path(
    post,
    path = "/admin/backup",
    tag = "admin",
    summary = "A backup of this pod's state, streamed (internal listener)",
    responses(
        (status = 200, description = "The backup file", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 409, description = "A backup is running already", body = String, content_type = "text/plain"),
    )
)]
pub async fn backup(state: web::Data<AppState>) -> HttpResponse {
    let store = state.registry.store().clone();
    let slot = match store.reserve_backup() {
        Ok(slot) => slot,
        Err(e) => return HttpResponse::Conflict().body(e.to_string()),
    };
    let now = state.login.sessions().now_ms();
    let max_changes = state.settings.storage.backup_max_changes;
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, io::Error>>(16);
    actix_web::rt::task::spawn_blocking(move || {
        let out = io::BufWriter::with_capacity(64 << 10, ChannelWriter(tx.clone()));
        match store.backup(&slot, out, now, max_changes, |_, _| {}) {
            Ok((_, summary)) => tracing::info!(
                entries = summary.entries,
                during = summary.during,
                "backup streamed"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "backup failed");
                let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
            }
        }
    });
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .streaming(body)
}

/// Hands what a backup writes to the response stream; a client that went away ends the backup.
struct ChannelWriter(mpsc::Sender<Result<Bytes, io::Error>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `GET /metrics` (internal listener only): the Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "admin",
    summary = "Prometheus metrics (internal listener)",
    responses(
        (status = 200, description = "The text exposition format", body = String, content_type = "text/plain"),
        (status = 503, description = "Another metrics recorder is installed", body = String, content_type = "text/plain"),
    )
)]
pub async fn metrics() -> HttpResponse {
    match crate::observability::prometheus() {
        Some(handle) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(handle.render()),
        None => HttpResponse::ServiceUnavailable()
            .body("another metrics recorder is installed in this process"),
    }
}
