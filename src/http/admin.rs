//! Operator views on the internal listener: `GET /admin/outbox` (what waits for delivery).

use actix_web::{HttpRequest, HttpResponse, web};

use super::error::ApiError;
use super::otp::on_internal_listener;
use crate::startup::AppState;

/// `GET /admin/outbox` (internal listener only): depth, the oldest record's age, the most attempts of one
/// record and the latest delivery error — what `digit-user admin outbox` prints for a stopped service.
pub async fn outbox(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !on_internal_listener(&req, &state) {
        return Ok(HttpResponse::NotFound().finish());
    }
    let now = state.login.sessions().now_ms();
    let summary = state
        .registry
        .store()
        .otp()
        .outbox_summary(now)
        .map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "sink": state.settings.sink(),
        "depth": summary.depth,
        "oldestAgeMs": summary.oldest_age_ms,
        "maxAttempts": summary.max_attempts,
        "lastError": summary.last_error,
    })))
}
