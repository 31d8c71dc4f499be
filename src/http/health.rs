//! `/health/live` (the process answers) and `/health/ready` (started, not shutting down, store writable).

use actix_web::{HttpResponse, web};

use super::state::AppState;

/// `GET /health/live`
#[utoipa::path(
    get,
    path = "/health/live",
    tag = "health",
    summary = "The process runs",
    responses(
        (status = 200, description = "Alive", body = crate::http::openapi::admin::Status),
    )
)]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "UP"}))
}

/// `GET /health/ready`
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "health",
    summary = "The pod takes requests: started, its store writable, not shutting down",
    responses(
        (status = 200, description = "Ready", body = crate::http::openapi::admin::Status),
        (status = 503, description = "Not ready (starting, shutting down, store not writable)", body = crate::http::openapi::admin::NotReady),
    )
)]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let store_ok = state.registry.store().is_healthy();
    if state.readiness.get() && store_ok {
        HttpResponse::Ok().json(serde_json::json!({"status": "UP"}))
    } else {
        HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "status": "DOWN",
            "accepting": state.readiness.get(),
            "storeWritable": store_ok,
        }))
    }
}
