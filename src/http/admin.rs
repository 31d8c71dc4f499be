//! Operator views on the internal listener: `GET /admin/outbox` (what waits for delivery) and
//! `GET /metrics` (the Prometheus exposition).

use actix_web::{HttpResponse, web};

use super::error::ApiError;
use crate::http::state::AppState;

/// `GET /admin/outbox` (internal listener only): depth, the oldest record's age, the most attempts of one
/// record and the latest delivery error — what `digit-user admin outbox` prints for a stopped service.
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

/// `GET /metrics` (internal listener only): the Prometheus text exposition.
pub async fn metrics() -> HttpResponse {
    match crate::observability::prometheus() {
        Some(handle) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(handle.render()),
        None => HttpResponse::ServiceUnavailable()
            .body("another metrics recorder is installed in this process"),
    }
}
